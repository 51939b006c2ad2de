//! The reconcile loop: observe → plan → apply → (re-observe when the world moved) → until the
//! plan is empty. Conflicts stop it: fixing them would alter what the rack does not own.

use std::time::{Duration, Instant};

use convox_aws::{Aws, Backoff, CallerIdentity, Interest, Outcome};
use convox_params::Params;
use convox_planner::{ConflictKind, Desired, Observed, Plan, RackIdentity, Step};

use crate::Fail;

/// The rack's identity in AWS, as stored.
#[derive(Debug, Clone)]
pub struct RackAws {
    pub rack: String,
    pub cluster: String,
    pub region: String,
    pub nodes_role_arn: String,
    pub karpenter_nodes_role_arn: Option<String>,
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

/// Observes and plans once (also what `--dry-run` and `rack auth` show).
pub async fn snapshot(
    aws: &Aws,
    rack: &RackAws,
    params: &Params,
    caller: Option<&CallerIdentity>,
) -> Result<Snapshot, Fail> {
    let (caller, observed) = aws
        .observe(&rack.cluster, &rack.interests(), caller)
        .await
        .map_err(Fail::aws)?;
    let desired = convox_planner::desired(params, &rack.identity(&caller));
    let plan = convox_planner::plan(&desired, &observed);
    Ok(Snapshot {
        caller,
        desired,
        observed,
        plan,
    })
}

/// [`snapshot`] for reading only (`rack auth`): an identity that cannot be an access entry
/// principal (the root user, a federated user) still sees the cluster's state. Its
/// snapshot plans without a caller entry; the second value says why it cannot have one.
pub async fn snapshot_for_reading(
    aws: &Aws,
    rack: &RackAws,
    params: &Params,
) -> Result<(Snapshot, Option<String>), Fail> {
    let arn = match aws.observe(&rack.cluster, &rack.interests(), None).await {
        Ok((caller, observed)) => {
            let desired = convox_planner::desired(params, &rack.identity(&caller));
            let plan = convox_planner::plan(&desired, &observed);
            let snap = Snapshot {
                caller,
                desired,
                observed,
                plan,
            };
            return Ok((snap, None));
        }
        Err(convox_aws::AwsError::UnsupportedPrincipal { arn }) => arn,
        Err(e) => return Err(Fail::aws(e)),
    };
    let observed = aws
        .observe_without_caller(&rack.cluster, &rack.interests())
        .await
        .map_err(Fail::aws)?;
    let field = |i: usize| arn.split(':').nth(i).unwrap_or_default().to_string();
    let caller = CallerIdentity {
        account: field(4),
        partition: field(1),
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
pub fn conflicts_error(rack: &RackAws, plan: &Plan) -> Fail {
    let of = |kind: ConflictKind| {
        plan.conflicts
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.message.as_str())
            .collect::<Vec<_>>()
    };
    let mut parts = Vec::new();
    let principals = of(ConflictKind::Principals);
    if !principals.is_empty() {
        parts.push(format!(
            "rack {} cannot give each of its principals an access entry: {}",
            rack.rack,
            principals.join("; ")
        ));
    }
    let entries = of(ConflictKind::Entry);
    if !entries.is_empty() {
        parts.push(format!(
            "cluster {} has access entries the rack will not change: {}",
            rack.cluster,
            entries.join("; ")
        ));
    }
    Fail::msg(format!("{}, then rerun", parts.join("; ")))
}

/// What a run does around the steps of a converge.
pub trait Hooks: Sync {
    /// Before every step; an error stops the run. A run that has lost the rack's lock
    /// (stopped for longer than the lease, e.g. Ctrl-Z, while another run took the rack
    /// over) must stop acting instead of interleaving with the run that now holds it.
    fn fence(&self) -> Result<(), Fail>;
    /// Before every step that may change AWS (all but a wait), after [`Hooks::fence`]: a
    /// locked run records its change the first time, so that a run that fails before
    /// changing anything leaves the store as it was.
    fn before_change(&self) -> Result<(), Fail>;
}

/// Converges the cluster to what `params` require, starting from a fresh observation
/// `first`; returns how many steps were applied. Conflicts stop it before any step; `hooks`
/// run around every step.
pub async fn converge_from(
    aws: &Aws,
    rack: &RackAws,
    params: &Params,
    first: Snapshot,
    deadline: Duration,
    hooks: &dyn Hooks,
) -> Result<usize, Fail> {
    let started = Instant::now();
    let caller: CallerIdentity = first.caller.clone();
    let mut next = Some(first);
    let mut applied = 0usize;
    // Consecutive re-observations that found work but made no progress (e.g. an entry whose
    // create races a read lag): back off between them, on the run's one schedule, instead of
    // spinning.
    let mut idle: Option<Backoff> = None;
    loop {
        let snap = match next.take() {
            Some(s) => s,
            None => snapshot(aws, rack, params, Some(&caller)).await?,
        };
        if !snap.plan.conflicts.is_empty() {
            return Err(conflicts_error(rack, &snap.plan));
        }
        if snap.plan.is_empty() {
            return Ok(applied);
        }
        if started.elapsed() > deadline {
            return Err(Fail::msg(format!(
                "cluster {} did not converge within {}s; rerun the command to continue",
                rack.cluster,
                deadline.as_secs()
            )));
        }
        let mut replan = false;
        let mut progressed = false;
        for step in &snap.plan.steps {
            hooks.fence()?;
            if !matches!(step, Step::WaitClusterActive) {
                hooks.before_change()?;
            }
            tracing::info!("{step}");
            let outcome = aws
                .apply(&rack.cluster, &rack.rack, step)
                .await
                .map_err(Fail::aws)?;
            applied += 1;
            match outcome {
                Outcome::Done => progressed = true,
                Outcome::ReObserve => {
                    // A completed switch/wait is progress too; an entry found existing is not.
                    progressed |= !matches!(step, Step::CreateEntry { .. });
                    replan = true;
                    break;
                }
            }
        }
        if !replan {
            // Every step succeeded: the cluster is what the plan aimed for.
            return Ok(applied);
        }
        if progressed {
            idle = None;
        } else {
            let b = idle.get_or_insert_with(|| Backoff::new(aws.timing()));
            if !b.wait().await {
                return Err(Fail::msg(format!(
                    "cluster {} made no progress within {}s; rerun the command to continue",
                    rack.cluster,
                    aws.timing().deadline.as_secs()
                )));
            }
        }
    }
}
