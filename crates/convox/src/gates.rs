//! Decisions taken before a run changes anything, so that a refused command changes
//! nothing and `--dry-run` refuses exactly as the real run: the seed's downgrade table
//! (judged by the mode the cluster is in or about to be in), the facts the parameters need
//! (a Karpenter nodes role for `karpenter_auth_mode`), and the node roles every planned entry
//! names, proven to exist in IAM as IAM spells them.

use convox_access::AwsAuthFact;
use convox_aws::Aws;
use convox_params::{Params, Version};
use convox_planner::{DowngradeSafety, EntryRole, Step};
use convox_store::{NewRack, Rack};
use serde_json::json;

use crate::cli::Output;
use crate::commands::{print, print_json, rack_aws};
use crate::progress::Progress;
use crate::reconcile::{self, Snapshot};
use crate::Fail;

/// A parameter value as a plan may show it: sensitive values masked (a plan is often pasted
/// into tickets and CI logs).
fn shown(key: &str, value: &str) -> String {
    match convox_params::lookup(key) {
        Some(d) if d.sensitive && !value.is_empty() => convox_params::MASK.to_string(),
        _ => value.to_string(),
    }
}

/// `params set --dry-run`: the plan of a fresh observation, refused exactly as the real run
/// would refuse it (see [`preflight`]); changes nothing.
pub(crate) async fn dry_run_plan(
    aws: &Aws,
    r: &Rack,
    changes: &convox_params::ChangeSet,
    next: &Params,
    output: Output,
) -> Result<(), Fail> {
    let snap = reconcile::snapshot(aws, &rack_aws(r), next, None).await?;
    preflight(aws, &r.name, &snap).await?;
    let pending = snap.observed.pending_auth_mode();
    match output {
        Output::Json => print_json(&with_pending(
            json!({
                "rack": r.name,
                "cluster": r.cluster,
                "dry_run": true,
                "changes": changes.changed().map(|c| json!({
                    "key": c.key,
                    "old": c.old.as_deref().map(|v| shown(&c.key, v)),
                    "new": shown(&c.key, &c.new),
                })).collect::<Vec<_>>(),
                "auth_mode": snap.observed.auth_mode.as_str(),
                "steps": snap.plan.steps,
                "conflicts": snap.plan.conflicts,
                "drift": snap.plan.drift,
            }),
            &snap.observed,
        )),
        Output::Text => {
            let mut s = format!("Plan for rack {} (cluster {}):\n", r.name, r.cluster);
            for c in changes.changed() {
                s.push_str(&format!(
                    "  set {} {} -> {}\n",
                    c.key,
                    c.old
                        .as_deref()
                        .map(|v| shown(&c.key, v))
                        .unwrap_or_else(|| "(unset)".into()),
                    shown(&c.key, &c.new)
                ));
            }
            if let (Some(to), Some(u)) = (pending, &snap.observed.pending_update) {
                s.push_str(&format!(
                    "  (update {} is changing the authentication mode to {}; the plan waits for it)\n",
                    u.id,
                    to.as_str()
                ));
            }
            if snap.plan.steps.is_empty() {
                s.push_str("  no AWS changes: the cluster already matches\n");
            }
            for (i, st) in snap.plan.steps.iter().enumerate() {
                s.push_str(&format!("  {}. {st}\n", i + 1));
            }
            for c in &snap.plan.conflicts {
                s.push_str(&format!("  CONFLICT: {}\n", c.message));
            }
            if snap
                .plan
                .steps
                .iter()
                .any(|st| matches!(st, convox_planner::Step::SwitchAuthMode { .. }))
            {
                s.push_str("  (EKS may create some of these entries itself when the mode changes; convox accepts them as they are)\n");
            }
            s.push_str("(dry run: nothing changed)\n");
            print(&s);
            Ok(())
        }
    }
}

/// The seed's downgrade table, decided from what the cluster shows: a downgrade that leaves
/// parameters behind goes ahead with a note while `aws-auth` is there and still maps the
/// nodes role (the "Yes" row); is refused when aws-auth is absent, does not map the nodes, or
/// cannot be read (the "Risky" row), and in API mode, unless forced. Nothing has been
/// changed when it refuses. Returns whether `force` overrode a refusal and the row applied.
/// The cluster is judged by the mode it is in or about to be in: an update in flight (to
/// API, say) counts as done, so a cluster in mid-update is never taken for the safe row.
pub(crate) fn downgrade_gate(
    r: &Rack,
    to: &Version,
    left: &[convox_params::LeftBehind],
    observed: &convox_planner::Observed,
    aws_auth: Option<&AwsAuthFact>,
    force: bool,
    progress: &Progress,
) -> Result<(bool, Option<&'static str>), Fail> {
    // The version from which every parameter left behind is managed again.
    let Some(since) = left.iter().map(|l| l.since).max() else {
        return Ok((false, None));
    };
    let keys = left
        .iter()
        .map(|l| format!("{}={}", l.key, l.value))
        .collect::<Vec<_>>()
        .join(", ");
    match convox_planner::downgrade_safety_of(observed) {
        DowngradeSafety::Safe => Ok((false, Some("config_map"))),
        DowngradeSafety::SafeWhileAwsAuthKept => {
            let risk = aws_auth_risk(r, aws_auth);
            match risk {
                None => {
                    warn(&format!(
                        "{to} does not manage {keys}: the access entries stay in AWS, but nothing restores one that is removed. aws-auth is there and maps the nodes role, so it is the fallback: keep it, and keep cluster {} in API_AND_CONFIG_MAP mode. Moving back to {since} or later manages them again.",
                        r.cluster
                    ), progress);
                    Ok((false, Some("safe_aws_auth_kept")))
                }
                Some(why) if force => {
                    warn(&format!(
                        "downgrading with --force although {why}: {to} does not manage {keys}, and an access entry lost now has no fallback. Move back to {since} or later to manage them again."
                    ), progress);
                    Ok((true, Some("risky_no_fallback")))
                }
                Some(why) => Err(Fail::msg(format!(
                    "not downgrading rack {} to {to}: {why}, so once {to} stops managing {keys} an access entry lost would have no fallback; restore aws-auth with the nodes role mapped, stay on {since} or later, or pass --force to accept that risk",
                    r.name
                ))),
            }
        }
        DowngradeSafety::NotSafe if force => {
            warn(&format!(
                "downgrading with --force although cluster {} is in API mode{}: aws-auth is ignored, {to} does not manage {keys}, and losing an access entry now means losing access to the cluster. Move back to {since} or later to manage them again.",
                r.cluster, mid_update(observed)
            ), progress);
            Ok((true, Some("api_mode")))
        }
        DowngradeSafety::NotSafe => Err(Fail::msg(format!(
            "not downgrading rack {} to {to}: cluster {} is in API mode{}, where aws-auth is ignored, and {to} does not manage {keys}; an access entry lost after that would lock everyone out with nothing to restore it. Stay on {since} or later, or pass --force to accept that risk",
            r.name, r.cluster, mid_update(observed)
        ))),
    }
}

/// Why aws-auth is no fallback for the nodes, or `None` when it is (present, mapping the
/// nodes role by its ARN without a path, as the authenticator matches it).
fn aws_auth_risk(r: &Rack, aws_auth: Option<&AwsAuthFact>) -> Option<String> {
    let nodes = convox_access::canonical(&r.nodes_role_arn);
    match aws_auth {
        None => Some("aws-auth was not read".into()),
        Some(AwsAuthFact::Unknown(why)) => Some(format!(
            "aws-auth of cluster {} could not be read ({why}), so convox cannot tell that it is a fallback",
            r.cluster
        )),
        Some(AwsAuthFact::Absent) => Some(format!(
            "cluster {} has no aws-auth ConfigMap: the nodes role {} and everyone with an access entry would have no fallback",
            r.cluster, r.nodes_role_arn
        )),
        Some(AwsAuthFact::Present(a)) => match a.mapping_for(&nodes) {
            Some(m) if m.is_node() => None,
            _ => Some(format!(
                "aws-auth of cluster {} does not map the nodes role {} as a node, so the nodes would have no fallback",
                r.cluster, r.nodes_role_arn
            )),
        },
    }
}

/// A warning for a person: on stderr, never swallowed by a spinner or by quiet progress.
pub(crate) fn warn(msg: &str, progress: &Progress) {
    progress.suspend(|| eprintln!("WARNING: {}", convox_params::printable(msg)));
}

/// Adds `pending_auth_mode` (the mode an update in progress sets) and `pending_update` to a
/// JSON answer, only while such an update runs: the keys of a settled cluster's answer stay
/// as they were.
pub(crate) fn with_pending(
    mut v: serde_json::Value,
    observed: &convox_planner::Observed,
) -> serde_json::Value {
    if let (Some(to), Some(u), Some(o)) = (
        observed.pending_auth_mode(),
        &observed.pending_update,
        v.as_object_mut(),
    ) {
        o.insert("pending_auth_mode".into(), json!(to.as_str()));
        o.insert("pending_update".into(), json!(u));
    }
    v
}

/// The mode as `rack auth` shows it: with where an update in progress is taking it.
pub(crate) fn mode_text(observed: &convox_planner::Observed) -> String {
    match (observed.pending_auth_mode(), &observed.pending_update) {
        (Some(to), Some(u)) => format!(
            "{} (changing to {}: update {} in progress)",
            observed.auth_mode.as_str(),
            to.as_str(),
            u.id
        ),
        _ => observed.auth_mode.as_str().to_string(),
    }
}

/// " (switching to it now: update ID in progress, …)" when the mode judged is an update's target.
fn mid_update(observed: &convox_planner::Observed) -> String {
    match (observed.pending_auth_mode(), &observed.pending_update) {
        (Some(_), Some(u)) => format!(
            " (switching to it now: update {} is in progress, the mode still reads {})",
            u.id,
            observed.auth_mode.as_str()
        ),
        _ => String::new(),
    }
}

/// The offline part: parameters that need a fact the rack does not have are refused before
/// any AWS call. `next` is what would be stored, `version` the rack's.
pub(crate) fn check_needs(r: &Rack, next: &Params, version: &Version) -> Result<(), Fail> {
    let acting = convox_params::effective_at(next, version);
    if acting.flag(convox_params::KARPENTER_AUTH_MODE) && !has_karpenter_role(r) {
        return Err(Fail::msg(format!(
            "{}; nothing was changed",
            convox_planner::no_karpenter_role(&r.name)
        )));
    }
    Ok(())
}

fn has_karpenter_role(r: &Rack) -> bool {
    r.karpenter_nodes_role_arn
        .as_ref()
        .is_some_and(|k| !k.is_empty())
}

/// `rack install aws … karpenter_auth_mode=true` without the role it needs.
pub(crate) fn check_install_needs(new: &NewRack, planned: &Params) -> Result<(), Fail> {
    let has = new
        .karpenter_nodes_role_arn
        .as_ref()
        .is_some_and(|k| !k.is_empty());
    if planned.flag(convox_params::KARPENTER_AUTH_MODE) && !has {
        return Err(Fail::msg(
            "karpenter_auth_mode=true needs an access entry for the Karpenter nodes role: pass --karpenter-nodes-role-arn ARN (the IAM role of the nodes Karpenter launches), or install without karpenter_auth_mode",
        ));
    }
    Ok(())
}

/// What a node role check found wrong, or nothing.
enum RoleProblem {
    Missing,
    /// IAM has the role under this ARN (another case or path).
    SpelledAs(String),
}

async fn role_problem(aws: &Aws, arn: &str) -> Result<Option<RoleProblem>, Fail> {
    Ok(match aws.iam_role_arn(arn).await.map_err(Fail::aws)? {
        None => Some(RoleProblem::Missing),
        Some(real) if real == arn => None,
        Some(real) => Some(RoleProblem::SpelledAs(real)),
    })
}

fn flag_of(role: EntryRole) -> &'static str {
    match role {
        EntryRole::KarpenterNodes => "--karpenter-nodes-role-arn",
        _ => "--nodes-role-arn",
    }
}

fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// `rack install aws`: every node role given is proven to exist, as given, before anything
/// is recorded or changed.
pub(crate) async fn check_install_roles(aws: &Aws, new: &NewRack) -> Result<(), Fail> {
    let mut roles = vec![(EntryRole::Nodes, new.nodes_role_arn.clone())];
    if let Some(k) = new
        .karpenter_nodes_role_arn
        .as_ref()
        .filter(|k| !k.is_empty())
    {
        roles.push((EntryRole::KarpenterNodes, k.clone()));
    }
    let found = check_roles(aws, &roles).await?;
    for ((role, arn), problem) in roles.iter().zip(found) {
        let flag = flag_of(*role);
        match problem {
            None => {}
            Some(RoleProblem::Missing) => {
                return Err(Fail::msg(format!(
                    "{flag} {arn}: IAM has no role named {} in this account (iam:GetRole); check the role's name and path (`aws iam get-role --role-name {}` shows its ARN) and retry",
                    role_name(arn),
                    role_name(arn)
                )))
            }
            Some(RoleProblem::SpelledAs(real)) => {
                return Err(Fail::msg(format!(
                    "{flag} {arn}: IAM has this role as {real} (access entries must name a role exactly as IAM does); use {flag} {real}"
                )))
            }
        }
    }
    Ok(())
}

/// Checks the roles concurrently (one round trip), answers in order.
async fn check_roles(
    aws: &Aws,
    roles: &[(EntryRole, String)],
) -> Result<Vec<Option<RoleProblem>>, Fail> {
    futures::future::join_all(roles.iter().map(|(_, arn)| role_problem(aws, arn)))
        .await
        .into_iter()
        .collect()
}

/// Before the first change of a run (and in its dry run): the parameters' unmet needs, and
/// every node role a planned entry names, proven to exist in IAM exactly as recorded. The
/// caller's own role was resolved through IAM already. Refused with what to do; nothing has
/// been changed or recorded.
pub(crate) async fn preflight(aws: &Aws, rack: &str, snap: &Snapshot) -> Result<(), Fail> {
    if let Some(u) = snap.desired.unmet.first() {
        return Err(Fail::msg(format!("{}; nothing was changed", u.message)));
    }
    let mut roles: Vec<(EntryRole, String)> = Vec::new();
    for st in &snap.plan.steps {
        if let Step::CreateEntry { entry } = st {
            if matches!(entry.role, EntryRole::Nodes | EntryRole::KarpenterNodes)
                && !roles.iter().any(|(_, a)| *a == entry.principal_arn)
            {
                roles.push((entry.role, entry.principal_arn.clone()));
            }
        }
    }
    let found = check_roles(aws, &roles).await?;
    for ((role, arn), problem) in roles.iter().zip(found) {
        let flag = flag_of(*role);
        let what = role.describe();
        let fix = format!(
            "a rack's node roles are set at install only, so to use another role `convox rack uninstall {rack}` (an aws rack's cluster and access entries are left as they are) and install it again with {flag}"
        );
        match problem {
            None => {}
            Some(RoleProblem::Missing) => {
                return Err(Fail::msg(format!(
                    "the rack's {what} {arn} does not exist in IAM (iam:GetRole found no role named {}), so EKS would refuse its access entry after the mode switch; nothing was changed: create the role and rerun, or {fix} ARN",
                    role_name(arn)
                )))
            }
            Some(RoleProblem::SpelledAs(real)) => {
                return Err(Fail::msg(format!(
                    "the rack's {what} is recorded as {arn} but IAM has it as {real}, and an access entry must name it as IAM does; nothing was changed: {fix} {real}"
                )))
            }
        }
    }
    Ok(())
}
