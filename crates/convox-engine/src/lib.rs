//! # convox-engine
//!
//! What convox decides and does to a rack, without a command line: the binary (clap, wiring,
//! rendering) and a fleet runner call the same [`Engine`], per rack, concurrently if they
//! like (every future is `Send`; one [`Events`] sink may serve them all).
//!
//! - [`checks`]: input refused offline (cluster names, regions, node role ARNs) before any
//!   AWS call.
//! - [`gates`]: refusals before anything changes — the seed's downgrade table, the parameters'
//!   needs, node roles proven in IAM (`iam:GetRole`) — shared by real runs and dry runs.
//! - [`reconcile`]: the loop in kube-runtime's shape — a [`reconcile::Reconciler`] observes
//!   and plans (convox-planner decides, convox-aws observes and applies), answers a typed
//!   [`reconcile::Action`] per round, and stops on the first error (AWS's transient answers are
//!   retried below, on convox-aws's one schedule).
//! - [`locked`]: the locked-run protocol around it — take the rack's lock, re-validate, gate,
//!   record the change right before the first step that may change AWS, converge, record the
//!   result; every store write fenced by the lock; SIGINT/SIGTERM recorded.
//! - [`EngineError`]: one typed error per refusal or failure, with the line the binary prints
//!   as its `Display`, and an [`ErrorKind`] to branch on.

pub mod checks;
mod error;
mod events;
pub mod gates;
pub mod kube;
pub mod locked;
pub mod reconcile;

pub use error::{EngineError, ErrorKind, InputError};
pub use events::{Events, Silent};
pub use locked::{interruptible, still_held, take_lock, Interrupt};
pub use reconcile::{Action, RackAws, Reconciler, Snapshot};

use std::time::Duration;

use convox_aws::Aws;
use convox_params::{ChangeSet, Params, Version};
use convox_store::{NewRack, Provider, Rack, RackStatus, Store};

use crate::locked::{Begin, Run};

/// A message as one printable line: line breaks folded, anything a terminal would act on
/// escaped (a key typed with an escape sequence, a server's message). What the binary prints
/// after `ERROR: ` and what history records are the same line.
pub fn one_line(msg: &str) -> String {
    convox_params::printable(&msg.replace(['\n', '\r'], " ")).into_owned()
}

/// The bounds of a locked run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Longest wait for another run holding the rack's lock.
    pub lock_wait: Duration,
    /// How long the lock stays held without renewal (a stopped run loses it after that).
    pub lock_lease: Duration,
    /// Longest a reconcile may take in total.
    pub converge_deadline: Duration,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            lock_wait: locked::LOCK_WAIT,
            lock_lease: locked::LOCK_LEASE,
            converge_deadline: locked::CONVERGE_DEADLINE,
        }
    }
}

impl RunOptions {
    /// The defaults, with `CONVOX_LOCK_LEASE_MS` (a test knob) for the lease.
    pub fn from_env() -> RunOptions {
        let mut o = RunOptions::default();
        if let Some(ms) = std::env::var("CONVOX_LOCK_LEASE_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            o.lock_lease = Duration::from_millis(ms);
        }
        o
    }
}

/// A `params set` checked offline against what is stored: the changes and what they lead to.
#[derive(Debug, Clone)]
pub struct ParamsChange {
    pub current: Params,
    pub changes: ChangeSet,
}

impl ParamsChange {
    /// What would be stored.
    pub fn next(&self) -> Params {
        self.changes.apply_to(&self.current)
    }

    /// What a reconcile at `version` acts on.
    pub fn acting(&self, version: &Version) -> Params {
        convox_params::effective_at(&self.next(), version)
    }

    /// Whether the change (not a no-op) leaves `eks_access_entries` on.
    pub fn turns_on_access_entries(&self, version: &Version) -> bool {
        !self.changes.is_noop() && self.acting(version).flag(convox_params::EKS_ACCESS_ENTRIES)
    }
}

/// Validates `params set ARGS` on `rack` offline (no AWS call): the catalog's rules, the
/// facts the parameters need, and — unless `force` or `dry_run` — that a failed rack is
/// only given a rerun of what failed, not new changes.
pub fn check_params_set(
    store: &Store,
    rack: &Rack,
    args: &[String],
    force: bool,
    dry_run: bool,
) -> Result<ParamsChange, EngineError> {
    let current = store.params(&rack.name)?;
    let changes = convox_params::validate_set(&current, &rack.version, args)?;
    gates::check_needs(rack, &changes.apply_to(&current), &rack.version)?;
    if rack.status == RackStatus::Failed && !changes.is_noop() && !force && !dry_run {
        return Err(EngineError::RackFailed {
            rack: rack.name.clone(),
            last_error: rack
                .last_error
                .clone()
                .unwrap_or_else(|| "see `convox rack`".into()),
        });
    }
    Ok(ParamsChange { current, changes })
}

/// Validates `rack update [VERSION]` offline; checked again under the lock. `rack update` is
/// the repair path: it runs on failed racks as they are.
pub fn check_update(store: &Store, rack: &Rack, to: &Version) -> Result<(), EngineError> {
    let params = store.params(&rack.name)?;
    convox_params::validate_update(&params, &rack.version, to)?;
    Ok(())
}

/// The parameters a new rack starts with: `params` validated over the defaults.
pub fn install_params(version: &Version, params: &[String]) -> Result<Params, EngineError> {
    if params.is_empty() {
        return Ok(Params::default());
    }
    Ok(
        convox_params::validate_set(&Params::default(), version, params)?
            .apply_to(&Params::default()),
    )
}

/// What a locked run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub rack: String,
    /// AWS steps applied (0: the cluster already matched).
    pub steps: usize,
    /// The cluster's mode when the run first observed it, and once converged.
    pub before: convox_planner::AuthMode,
    pub after: convox_planner::AuthMode,
}

impl Report {
    fn of(rack: &Rack, ran: locked::Ran) -> Report {
        Report {
            rack: rack.name.clone(),
            steps: ran.steps,
            before: ran.before,
            after: ran.after,
        }
    }
}

/// One rack's engine: its store, its AWS clients, where progress goes, the run's bounds.
pub struct Engine<'a> {
    store: &'a Store,
    aws: &'a Aws,
    events: &'a dyn Events,
    opts: RunOptions,
}

impl<'a> Engine<'a> {
    pub fn new(store: &'a Store, aws: &'a Aws, events: &'a dyn Events) -> Engine<'a> {
        Engine {
            store,
            aws,
            events,
            opts: RunOptions::default(),
        }
    }

    pub fn with_options(mut self, opts: RunOptions) -> Engine<'a> {
        self.opts = opts;
        self
    }

    pub fn aws(&self) -> &'a Aws {
        self.aws
    }

    fn run(&self) -> Run<'_> {
        Run {
            store: self.store,
            aws: self.aws,
            events: self.events,
            opts: &self.opts,
        }
    }

    /// `params set ARGS` under the rack's lock (see [`locked`]): checked offline first
    /// ([`check_params_set`]), then re-validated against what is stored once the lock is
    /// held, gated, recorded and converged.
    pub async fn params_set(
        &self,
        rack: &Rack,
        args: &[String],
        force: bool,
    ) -> Result<Report, EngineError> {
        check_params_set(self.store, rack, args, force, false)?;
        let ran = self
            .run()
            .locked(&rack.name, Begin::ParamsSet(args))
            .await?;
        Ok(Report::of(rack, ran))
    }

    /// `rack update [VERSION]` under the rack's lock (the downgrade gate decides first).
    pub async fn update(
        &self,
        rack: &Rack,
        to: Version,
        force: bool,
    ) -> Result<Report, EngineError> {
        check_update(self.store, rack, &to)?;
        let ran = self
            .run()
            .locked(&rack.name, Begin::Update { to, force })
            .await?;
        Ok(Report::of(rack, ran))
    }

    /// The plan of a fresh observation for `acting` (a dry run), refused exactly as the real
    /// run would refuse it ([`gates::preflight`]); changes nothing.
    pub async fn dry_run(&self, rack: &Rack, acting: &Params) -> Result<Snapshot, EngineError> {
        let snap = reconcile::snapshot(self.aws, &RackAws::from(rack), acting, None).await?;
        gates::preflight(self.aws, &rack.name, &snap).await?;
        Ok(snap)
    }

    /// `rack install`, once the offline checks passed and the rack is known not to exist: the
    /// node roles proven (aws racks) or the simulated cluster made (local racks), the cluster
    /// and identity observed, then the rack recorded and converged under its lock. Returns
    /// whether parameters were set.
    pub async fn install(
        &self,
        mut new: NewRack,
        params: &[String],
        planned: &Params,
    ) -> Result<bool, EngineError> {
        let name = new.name.clone();
        let caller = self.aws.identity().await?;
        if new.provider == Provider::Aws {
            checks::check_node_role_account(&new, &caller.account)?;
            gates::check_install_roles(self.aws, &new).await?;
        }
        if new.provider == Provider::Local {
            let spec = convox_aws::InstallSpec {
                rack: name.clone(),
                cluster: new.cluster.clone(),
                version: None,
                role_path: "/convox/".to_string(),
                cluster_role_name: format!("{name}-cluster"),
                nodes_role_name: format!("{name}-nodes"),
                karpenter_nodes_role_name: format!("{name}-karpenter-nodes"),
                nodegroup: format!("{name}-nodes"),
            };
            let roles = self.aws.install_cluster(&spec).await?;
            new.nodes_role_arn = roles.nodes_role_arn;
            new.karpenter_nodes_role_arn = Some(roles.karpenter_nodes_role_arn);
        }
        // Check the cluster and the identity before recording anything: a rack that cannot be
        // observed is not installed.
        let ra = RackAws::from(&new);
        let first = reconcile::snapshot(self.aws, &ra, planned, Some(&caller)).await?;
        self.run().install(&new, params, planned, &ra, first).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// A fleet runner drives many racks' runs on one runtime: every public future is `Send`.
    #[allow(dead_code)]
    fn futures_are_send(e: &Engine<'_>, r: &Rack, args: &[String], p: &Params, n: NewRack) {
        assert_send(&e.params_set(r, args, false));
        assert_send(&e.update(r, convox_params::latest_version(), false));
        assert_send(&e.dry_run(r, p));
        assert_send(&e.install(n, args, p));
    }

    #[test]
    fn one_line_folds_breaks_and_escapes_controls() {
        assert_eq!(one_line("a\nb\rc"), "a b c");
        assert!(!one_line("x\u{1b}[31my").contains('\u{1b}'));
    }
}
