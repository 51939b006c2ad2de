//! The reconcile loop: observe → plan → apply → (re-observe when the world moved) → until the
//! plan is empty. Conflicts stop it: fixing them would alter what the rack does not own.

use std::time::{Duration, Instant};

use convox_aws::{Aws, CallerIdentity, Interest, Outcome};
use convox_params::Params;
use convox_planner::{Desired, Observed, Plan, RackIdentity};

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

fn conflicts_error(rack: &RackAws, plan: &Plan) -> Fail {
    let list: Vec<String> = plan.conflicts.iter().map(|c| c.message.clone()).collect();
    Fail::msg(format!(
        "cluster {} has conflicting access entries the rack will not change: {}; fix or remove them, then rerun",
        rack.cluster,
        list.join("; ")
    ))
}

/// Converges the cluster to what `params` require, starting from a fresh observation
/// `first`; returns how many steps were applied. Calls `fence` before every step: a run
/// that has lost the rack's lock (stopped for longer than the lease, e.g. Ctrl-Z, while
/// another run took the rack over) must stop acting instead of interleaving with the run
/// that now holds it.
pub async fn converge_from(
    aws: &Aws,
    rack: &RackAws,
    params: &Params,
    first: Snapshot,
    deadline: Duration,
    fence: &(dyn Fn() -> Result<(), Fail> + Sync),
) -> Result<usize, Fail> {
    let started = Instant::now();
    let caller: CallerIdentity = first.caller.clone();
    let mut next = Some(first);
    let mut applied = 0usize;
    // Consecutive re-observations that found work but made no progress (e.g. an entry whose
    // create races a read lag): back off between them instead of spinning.
    let mut idle_rounds = 0u32;
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
            fence()?;
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
                    progressed |= !matches!(step, convox_planner::Step::CreateEntry { .. });
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
            idle_rounds = 0;
        } else {
            idle_rounds += 1;
            let wait = Duration::from_millis(50u64 << idle_rounds.min(5));
            tokio::time::sleep(wait).await;
        }
    }
}
