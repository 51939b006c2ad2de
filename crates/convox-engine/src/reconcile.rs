//! The reconcile loop, in kube-runtime's shape: a [`Reconciler`] observes and plans
//! ([`snapshot`]), applies one round of the plan and answers a typed [`Action`] — converged,
//! observe again now (the world moved and the round made progress), or observe again after
//! the run's backoff (work found, no progress: e.g. an entry whose create races a read lag).
//! The error policy is to stop: AWS's transient answers are retried below, on convox-aws's one
//! schedule, and conflicts stop the loop because fixing them would alter what the rack does
//! not own.

use std::time::{Duration, Instant};

use convox_aws::{AfterStep, Aws, Backoff, CallerIdentity, Interest};
use convox_params::Params;
use convox_planner::{ConflictKind, Desired, Observed, Plan, RackIdentity, Step};
use convox_store::{NewRack, Rack};

use crate::error::EngineError;

/// The rack's identity in AWS, as stored.
#[derive(Debug, Clone)]
pub struct RackAws {
    pub rack: String,
    pub cluster: String,
    pub region: String,
    pub nodes_role_arn: String,
    pub karpenter_nodes_role_arn: Option<String>,
}

impl From<&Rack> for RackAws {
    fn from(r: &Rack) -> RackAws {
        RackAws {
            rack: r.name.clone(),
            cluster: r.cluster.clone(),
            region: r.region.clone(),
            nodes_role_arn: r.nodes_role_arn.clone(),
            karpenter_nodes_role_arn: r.karpenter_nodes_role_arn.clone(),
        }
    }
}

impl From<&NewRack> for RackAws {
    fn from(r: &NewRack) -> RackAws {
        RackAws {
            rack: r.name.clone(),
            cluster: r.cluster.clone(),
            region: r.region.clone(),
            nodes_role_arn: r.nodes_role_arn.clone(),
            karpenter_nodes_role_arn: r.karpenter_nodes_role_arn.clone(),
        }
    }
}

impl RackAws {
    fn interests(&self) -> Vec<Interest> {
        let mut v = vec![Interest {
            principal_arn: self.nodes_role_arn.clone(),
            with_policies: false,
        }];
        if let Some(k) = self
            .karpenter_nodes_role_arn
            .as_ref()
            .filter(|k| !k.is_empty())
        {
            if *k != self.nodes_role_arn {
                v.push(Interest {
                    principal_arn: k.clone(),
                    with_policies: false,
                });
            }
        }
        v
    }

    pub fn identity(&self, caller: &CallerIdentity) -> RackIdentity {
        RackIdentity {
            rack: self.rack.clone(),
            partition: convox_planner::partition_for_region(&self.region).to_string(),
            caller_principal_arn: caller.principal_arn.clone(),
            nodes_role_arn: self.nodes_role_arn.clone(),
            karpenter_nodes_role_arn: self.karpenter_nodes_role_arn.clone(),
        }
    }
}

/// One observation and its plan.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub caller: CallerIdentity,
    pub desired: Desired,
    pub observed: Observed,
    pub plan: Plan,
}

fn planned(
    rack: &RackAws,
    params: &Params,
    caller: CallerIdentity,
    observed: Observed,
) -> Snapshot {
    let desired = convox_planner::desired(params, &rack.identity(&caller));
    let plan = convox_planner::plan(&desired, &observed);
    Snapshot {
        caller,
        desired,
        observed,
        plan,
    }
}

/// Observes and plans once (also what `--dry-run` and `rack auth` show).
pub async fn snapshot(
    aws: &Aws,
    rack: &RackAws,
    params: &Params,
    caller: Option<&CallerIdentity>,
) -> Result<Snapshot, EngineError> {
    let (caller, observed) = aws
        .observe(&rack.cluster, &rack.interests(), caller)
        .await?;
    Ok(planned(rack, params, caller, observed))
}

/// [`snapshot`] for reading only (`rack auth`): an identity that cannot be an access entry
/// principal (the root user, a federated user) still sees the cluster's state. Its
/// snapshot plans without a caller entry; the second value says why it cannot have one.
pub async fn snapshot_for_reading(
    aws: &Aws,
    rack: &RackAws,
    params: &Params,
) -> Result<(Snapshot, Option<String>), EngineError> {
    let arn = match aws.observe(&rack.cluster, &rack.interests(), None).await {
        Ok((caller, observed)) => return Ok((planned(rack, params, caller, observed), None)),
        Err(convox_aws::AwsError::UnsupportedPrincipal { arn }) => arn,
        Err(e) => return Err(e.into()),
    };
    let observed = aws
        .observe_without_caller(&rack.cluster, &rack.interests())
        .await?;
    let parsed = convox_planner::Arn::parse(&arn);
    let caller = CallerIdentity {
        account: parsed.map(|a| a.account).unwrap_or_default().to_string(),
        partition: parsed.map(|a| a.partition).unwrap_or_default().to_string(),
        principal_arn: arn.clone(),
        arn: arn.clone(),
    };
    let mut desired = convox_planner::desired(params, &rack.identity(&caller));
    desired
        .entries
        .retain(|e| e.role != convox_planner::EntryRole::Caller);
    let plan = convox_planner::plan(&desired, &observed);
    let why = convox_aws::why_not_a_principal(&arn);
    let snap = Snapshot {
        caller,
        desired,
        observed,
        plan,
    };
    Ok((snap, Some(why)))
}

/// The refusal of a plan with conflicts: what is wrong with the cluster's entries and with
/// the rack's own principals, told apart (the latter may involve no entry at all).
pub fn conflicts_error(rack: &RackAws, plan: &Plan) -> EngineError {
    let of = |kind: ConflictKind| {
        plan.conflicts
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.message.clone())
            .collect::<Vec<_>>()
    };
    EngineError::Conflicts {
        rack: rack.rack.clone(),
        cluster: rack.cluster.clone(),
        principals: of(ConflictKind::Principals),
        entries: of(ConflictKind::Entry),
    }
}

/// What a run does around the steps of a converge.
pub trait Hooks: Sync {
    /// Before every step; an error stops the run. A run that has lost the rack's lock
    /// (stopped for longer than the lease, e.g. Ctrl-Z, while another run took the rack
    /// over) must stop acting instead of interleaving with the run that now holds it.
    fn fence(&self) -> Result<(), EngineError>;
    /// Before every step that may change AWS (all but a wait), after [`Hooks::fence`]: a
    /// locked run records its change the first time, so that a run that fails before
    /// changing anything leaves the store as it was.
    fn before_change(&self) -> Result<(), EngineError>;
}

/// No hooks: a converge outside a locked run (tests, tools).
pub struct Unlocked;

impl Hooks for Unlocked {
    fn fence(&self) -> Result<(), EngineError> {
        Ok(())
    }
    fn before_change(&self) -> Result<(), EngineError> {
        Ok(())
    }
}

/// What the loop does after a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The plan is done (or was empty): the cluster is what the parameters ask for.
    Done,
    /// A step found the world moved and the round made progress: observe again now.
    Requeue,
    /// Work was found but no progress made: observe again after the run's backoff.
    RequeueAfterBackoff,
}

/// One rack's reconcile: the clients, the rack, what it acts on, and the run's hooks.
pub struct Reconciler<'a> {
    pub aws: &'a Aws,
    pub rack: &'a RackAws,
    pub params: &'a Params,
    pub hooks: &'a dyn Hooks,
    /// Steps applied so far.
    pub applied: usize,
}

impl<'a> Reconciler<'a> {
    pub fn new(
        aws: &'a Aws,
        rack: &'a RackAws,
        params: &'a Params,
        hooks: &'a dyn Hooks,
    ) -> Reconciler<'a> {
        Reconciler {
            aws,
            rack,
            params,
            hooks,
            applied: 0,
        }
    }

    /// One round: refuses conflicts, then applies the plan's steps in order until one asks
    /// for a new observation.
    pub async fn reconcile(&mut self, snap: &Snapshot) -> Result<Action, EngineError> {
        if !snap.plan.conflicts.is_empty() {
            return Err(conflicts_error(self.rack, &snap.plan));
        }
        let mut progressed = false;
        for step in &snap.plan.steps {
            self.hooks.fence()?;
            if !matches!(step, Step::WaitClusterActive) {
                self.hooks.before_change()?;
            }
            tracing::info!("{step}");
            let after = self
                .aws
                .apply(&self.rack.cluster, &self.rack.rack, step)
                .await?;
            self.applied += 1;
            match after {
                AfterStep::Done => progressed = true,
                AfterStep::ReObserve => {
                    // A completed switch/wait is progress too; an entry found existing is not.
                    progressed |= !matches!(step, Step::CreateEntry { .. });
                    return Ok(if progressed {
                        Action::Requeue
                    } else {
                        Action::RequeueAfterBackoff
                    });
                }
            }
        }
        // Every step succeeded: the cluster is what the plan aimed for.
        Ok(Action::Done)
    }

    /// Converges from a fresh observation `first`; returns how many steps were applied.
    /// Conflicts stop it before any step; the hooks run around every step.
    pub async fn run(mut self, first: Snapshot, deadline: Duration) -> Result<usize, EngineError> {
        let started = Instant::now();
        let caller: CallerIdentity = first.caller.clone();
        let mut next = Some(first);
        // Consecutive rounds without progress back off on the run's one schedule.
        let mut idle: Option<Backoff> = None;
        loop {
            let snap = match next.take() {
                Some(s) => s,
                None => snapshot(self.aws, self.rack, self.params, Some(&caller)).await?,
            };
            if snap.plan.conflicts.is_empty() && snap.plan.is_empty() {
                return Ok(self.applied);
            }
            if snap.plan.conflicts.is_empty() && started.elapsed() > deadline {
                return Err(EngineError::NotConverged {
                    cluster: self.rack.cluster.clone(),
                    secs: deadline.as_secs(),
                });
            }
            match self.reconcile(&snap).await? {
                Action::Done => return Ok(self.applied),
                Action::Requeue => idle = None,
                Action::RequeueAfterBackoff => {
                    let b = idle.get_or_insert_with(|| Backoff::new(self.aws.timing()));
                    if !b.wait().await {
                        return Err(EngineError::NoProgress {
                            cluster: self.rack.cluster.clone(),
                            secs: self.aws.timing().deadline.as_secs(),
                        });
                    }
                }
            }
        }
    }
}

/// Converges the cluster to what `params` require, starting from a fresh observation
/// `first`; returns how many steps were applied (see [`Reconciler::run`]).
pub async fn converge_from(
    aws: &Aws,
    rack: &RackAws,
    params: &Params,
    first: Snapshot,
    deadline: Duration,
    hooks: &dyn Hooks,
) -> Result<usize, EngineError> {
    Reconciler::new(aws, rack, params, hooks)
        .run(first, deadline)
        .await
}
