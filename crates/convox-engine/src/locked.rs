//! The locked-run protocol of `params set`, `rack update` and `rack install`:
//!
//! lock → re-validate against what is stored now → observe → refuse what the first plan
//! refuses (conflicts, an unsafe downgrade, a node role IAM does not have, an unmet
//! parameter: see [`crate::gates`]) → record the change right before the first step
//! that may change AWS → converge → record the result.
//!
//! - Every store write goes through [`convox_store::Fenced`]: the write transaction itself
//!   checks that the lock is still this run's, so a run that lost it writes nothing.
//! - A run that fails before changing AWS leaves the store as it was: nothing was recorded
//!   yet. One that fails after keeps the requested values and marks the rack failed, so a
//!   rerun finishes the job.
//! - SIGINT/SIGTERM after the lock is taken end the run with one line saying what was
//!   interrupted, the change (if recorded) finished as interrupted
//!   ([`EngineError::Interrupted`]; the binary exits 128+N).

use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use convox_aws::{Aws, Backoff, Timing};
use convox_params::{Params, Version};
use convox_store::{ChangeId, Fenced, LockOptions, NewRack, RackLock, Store, StoreError};

use crate::error::EngineError;
use crate::events::Events;
use crate::gates::{self, DowngradeRow};
use crate::reconcile::{self, Hooks, RackAws, Snapshot};
use crate::RunOptions;

/// Whether this run still holds the rack's lock, checked before every AWS step.
pub fn still_held(store: &Store, lock: &RackLock) -> Result<(), EngineError> {
    match lock.check(store) {
        Ok(()) => Ok(()),
        Err(StoreError::LockLost(rack)) => Err(EngineError::LockLost { rack }),
        // Could not read the lock (e.g. the store busy beyond its timeout): that says nothing
        // about another run; carry on rather than abandon a run midway (every store write
        // is fenced anyway).
        Err(e) => {
            tracing::warn!("cannot check the rack lock: {e}");
            Ok(())
        }
    }
}

/// Takes the rack's lock, waiting for another run holding it (with progress) on the run's
/// one schedule, asynchronously: each attempt is one store transaction (off the async
/// threads), and a fleet of runs waiting for their racks holds no thread while it waits.
pub async fn take_lock(
    store: &Store,
    rack: &str,
    purpose: &str,
    opts: &RunOptions,
    events: &dyn Events,
) -> Result<RackLock, EngineError> {
    if let Ok(Some(h)) = store.lock_holder(rack) {
        if h.pid != std::process::id() {
            events.say(&format!(
                "waiting for rack {rack}'s lock (held by process {} since {}, {})",
                h.pid, h.since, h.purpose
            ));
        }
    }
    // One attempt each: the waiting is ours.
    let once = LockOptions {
        wait: Duration::ZERO,
        lease: opts.lock_lease,
        purpose: purpose.to_string(),
    };
    let mut backoff: Option<Backoff> = None;
    loop {
        let e = match tokio::task::block_in_place(|| store.lock_rack(rack, &once)) {
            Ok(lock) => return Ok(lock),
            Err(e @ StoreError::Locked { .. }) => e,
            Err(e) => return Err(e.into()),
        };
        let b = backoff.get_or_insert_with(|| Backoff::until(&Timing::default(), opts.lock_wait));
        if !b.wait().await {
            return Err(e.into());
        }
    }
}

/// A signal that ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interrupt {
    /// `SIGINT`, `SIGTERM` (`Ctrl-C` off Unix).
    pub name: &'static str,
    pub number: u8,
}

/// Runs `f` unless SIGINT or SIGTERM comes first (then `f` is dropped, its calls cancelled).
pub async fn interruptible<F: Future>(f: F) -> Result<F::Output, Interrupt> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!(
                "cannot watch for SIGINT/SIGTERM: an interrupted run will not be recorded as such"
            );
            return Ok(f.await);
        };
        tokio::select! {
            out = f => Ok(out),
            _ = int.recv() => Err(Interrupt { name: "SIGINT", number: 2 }),
            _ = term.recv() => Err(Interrupt { name: "SIGTERM", number: 15 }),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::select! {
            out = f => Ok(out),
            _ = tokio::signal::ctrl_c() => Err(Interrupt { name: "Ctrl-C", number: 2 }),
        }
    }
}

/// How a run's change is opened once the first plan allows it.
enum Opening<'a> {
    ParamsSet(&'a [String]),
    Update {
        to: Version,
        forced: bool,
        row: Option<DowngradeRow>,
    },
}

/// A locked run's change in the store: opened at most once, right before the first step that
/// may change AWS (or at the end of a run that needed none), closed by [`Recorder::end`] or
/// [`Recorder::interrupted`]; every write fenced by the run's lock.
pub struct Recorder<'a> {
    store: &'a Store,
    lock: &'a RackLock,
    /// What the run is doing, for the interruption message (`setting parameters on`, …).
    doing: &'static str,
    opening: Mutex<Option<(Opening<'a>, String)>>,
    id: Mutex<Option<ChangeId>>,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<'a> Recorder<'a> {
    fn new(store: &'a Store, lock: &'a RackLock, doing: &'static str) -> Recorder<'a> {
        Recorder {
            store,
            lock,
            doing,
            opening: Mutex::new(None),
            id: Mutex::new(None),
        }
    }

    /// For a change already opened (an install, recorded before its reconcile).
    fn begun(store: &'a Store, lock: &'a RackLock, id: ChangeId) -> Recorder<'a> {
        let r = Recorder::new(store, lock, "installing");
        *guard(&r.id) = Some(id);
        r
    }

    fn rack(&self) -> Fenced<'a> {
        self.store.fenced(self.lock)
    }

    fn set_opening(&self, opening: Opening<'a>, actor: String) {
        *guard(&self.opening) = Some((opening, actor));
    }

    /// Opens the change unless it is open already; its id.
    fn open(&self) -> Result<ChangeId, EngineError> {
        let mut id = guard(&self.id);
        if let Some(id) = *id {
            return Ok(id);
        }
        let opening = guard(&self.opening);
        let Some((how, actor)) = opening.as_ref() else {
            return Err(EngineError::Internal(
                "a change was begun before it was planned",
            ));
        };
        let rack = self.rack();
        let opened = match how {
            Opening::ParamsSet(args) => rack.begin_params_set(args, actor).map(|(id, _)| id),
            Opening::Update { to, forced, row } => {
                rack.begin_update_in_row(to, *forced, row.map(DowngradeRow::as_str), actor)
            }
        }
        .map_err(EngineError::fenced)?;
        *id = Some(opened);
        Ok(opened)
    }

    /// Records how the run ended and passes its result on.
    fn end<T>(&self, res: Result<T, EngineError>) -> Result<T, EngineError> {
        let opened = *guard(&self.id);
        let id = match (opened, &res) {
            (Some(id), _) => id,
            // Failed before changing anything: nothing was recorded, nothing is.
            (None, Err(_)) => return res,
            // Needed no AWS step: the change is recorded now.
            (None, Ok(_)) => self.open()?,
        };
        let closed = match &res {
            Ok(_) => self.rack().finish_change(id, Ok(())),
            Err(e) => self
                .rack()
                .finish_change(id, Err(&crate::one_line(&e.to_string()))),
        };
        closed.map_err(EngineError::fenced)?;
        res
    }

    /// Finishes the change (if opened) as interrupted by `sig`; the failure to report.
    fn interrupted(&self, sig: Interrupt) -> EngineError {
        let rack = self.lock.rack().to_string();
        let Some(id) = *guard(&self.id) else {
            return EngineError::Interrupted {
                signal: sig,
                doing: self.doing,
                rack,
                recorded: None,
            };
        };
        let note = format!("interrupted by {} before the change finished", sig.name);
        let recorded = match self.rack().finish_change(id, Err(&note)) {
            Ok(()) => "recorded as interrupted in its history".to_string(),
            Err(e) => format!("could not record it ({})", EngineError::fenced(e)),
        };
        EngineError::Interrupted {
            signal: sig,
            doing: self.doing,
            rack,
            recorded: Some(recorded),
        }
    }
}

impl Hooks for Recorder<'_> {
    fn fence(&self) -> Result<(), EngineError> {
        still_held(self.store, self.lock)
    }
    fn before_change(&self) -> Result<(), EngineError> {
        self.open().map(|_| ())
    }
}

/// What a locked run changes.
#[derive(Debug, Clone, Copy)]
pub enum Begin<'a> {
    ParamsSet(&'a [String]),
    Update { to: Version, force: bool },
}

/// What a locked run found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ran {
    /// AWS steps applied.
    pub steps: usize,
    /// The cluster's mode when the run first observed it (an update in progress counted).
    pub before: convox_planner::AuthMode,
    /// Its mode once converged.
    pub after: convox_planner::AuthMode,
}

/// The parts of a locked run.
pub(crate) struct Run<'a> {
    pub store: &'a Store,
    pub aws: &'a Aws,
    pub events: &'a dyn Events,
    pub opts: &'a RunOptions,
}

impl Run<'_> {
    /// Runs `begin` on `rack` under its lock (see the module doc).
    pub async fn locked(&self, rack: &str, begin: Begin<'_>) -> Result<Ran, EngineError> {
        let (purpose, doing) = match begin {
            Begin::ParamsSet(_) => ("params set", "setting parameters on"),
            Begin::Update { .. } => ("update", "updating"),
        };
        let lock = take_lock(self.store, rack, purpose, self.opts, self.events).await?;
        let rec = Recorder::new(self.store, &lock, doing);
        match interruptible(self.plan_and_converge(rack, begin, &rec)).await {
            Ok(res) => rec.end(res),
            Err(sig) => Err(rec.interrupted(sig)),
        }
    }

    async fn plan_and_converge<'b>(
        &self,
        rack: &str,
        begin: Begin<'b>,
        rec: &Recorder<'b>,
    ) -> Result<Ran, EngineError> {
        // Another run may have changed the rack while we waited: validate against what is
        // stored.
        let fresh = self.store.get_rack(rack)?;
        let current = self.store.params(rack)?;
        // What acts is what the version (after the run) has: parameters a downgrade left
        // behind stay stored for the way back up, but a reconcile must not act on them.
        let (target, left_behind) = match &begin {
            Begin::ParamsSet(args) => {
                let next =
                    convox_params::validate_set(&current, &fresh.version, args)?.apply_to(&current);
                (
                    convox_params::effective_at(&next, &fresh.version),
                    Vec::new(),
                )
            }
            Begin::Update { to, .. } => {
                let left = convox_params::validate_update(&current, &fresh.version, to)?;
                (convox_params::effective_at(&current, to), left)
            }
        };
        let ra = RackAws::from(&fresh);
        let first = reconcile::snapshot(self.aws, &ra, &target, None).await?;
        let opening = match begin {
            Begin::ParamsSet(args) => Opening::ParamsSet(args),
            Begin::Update { to, force } => {
                // aws-auth decides the API_AND_CONFIG_MAP row: read only when it does.
                let mode = first.observed.auth_mode_to_come();
                let fact = if !left_behind.is_empty()
                    && mode == convox_planner::AuthMode::ApiAndConfigMap
                {
                    Some(crate::kube::read_aws_auth(self.aws, &fresh).await)
                } else {
                    None
                };
                let v = gates::downgrade_gate(
                    &fresh,
                    &to,
                    &left_behind,
                    &first.observed,
                    fact.as_ref(),
                    force,
                    self.events,
                )?;
                // Recorded in history only when --force actually overrode a refusal.
                Opening::Update {
                    to,
                    forced: v.forced,
                    row: v.row,
                }
            }
        };
        // Node roles proven, the parameters' needs met: refused before anything is recorded.
        gates::preflight(self.aws, rack, &first).await?;
        // The history's actor is the caller the observation resolved.
        rec.set_opening(opening, first.caller.arn.clone());
        let before = first.observed.auth_mode_to_come();
        // Converged: the mode includes API when the parameters ask for it (the planner only
        // ever switches CONFIG_MAP to API_AND_CONFIG_MAP), else it is as it was.
        let after = if first.desired.api_mode && !before.includes_api() {
            convox_planner::AuthMode::ApiAndConfigMap
        } else {
            before
        };
        let steps = reconcile::converge_from(
            self.aws,
            &ra,
            &target,
            first,
            self.opts.converge_deadline,
            rec,
        )
        .await?;
        Ok(Ran {
            steps,
            before,
            after,
        })
    }

    /// `rack install`'s part under the lock, once the cluster has been observed: the rack is
    /// recorded (fenced) before its reconcile, the lock held from before the rack exists until
    /// its change is closed (a run on the new rack in between would take the pending install
    /// for an interrupted one, or interleave with its reconcile). A first plan with conflicts
    /// records nothing. Returns whether parameters were set.
    pub async fn install(
        &self,
        new: &NewRack,
        params: &[String],
        planned: &Params,
        ra: &RackAws,
        first: Snapshot,
    ) -> Result<bool, EngineError> {
        if !first.plan.conflicts.is_empty() {
            return Err(reconcile::conflicts_error(ra, &first.plan));
        }
        let lock = take_lock(self.store, &new.name, "install", self.opts, self.events).await?;
        let (id, changes) = self
            .store
            .fenced(&lock)
            .begin_install(new, params, &first.caller.arn)
            .map_err(EngineError::fenced)?;
        let rec = Recorder::begun(self.store, &lock, id);
        let res = if changes.changes.is_empty() {
            Ok(0)
        } else {
            let deadline = self.opts.converge_deadline;
            let converge = reconcile::converge_from(self.aws, ra, planned, first, deadline, &rec);
            match interruptible(converge).await {
                Ok(r) => r,
                Err(sig) => return Err(rec.interrupted(sig)),
            }
        };
        rec.end(res)?;
        Ok(!changes.changes.is_empty())
    }
}

/// Longest wait for another run holding the rack's lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(15 * 60);
/// Longest a reconcile may take in total.
pub const CONVERGE_DEADLINE: Duration = Duration::from_secs(45 * 60);
/// How long a lock stays held without its holder renewing it.
pub const LOCK_LEASE: Duration = Duration::from_secs(30);
