//! Decisions taken before a run changes anything, so that a refused command changes
//! nothing and `--dry-run` refuses exactly as the real run: the seed's downgrade table
//! (judged by the mode the cluster is in or about to be in), the facts the parameters need
//! (a Karpenter nodes role for `karpenter_auth_mode`), and the node roles every planned entry
//! names, proven to exist in IAM as IAM spells them (one concurrent round of iam:GetRole).

use convox_access::AwsAuthFact;
use convox_aws::Aws;
use convox_params::{LeftBehind, Params, Version};
use convox_planner::{DowngradeSafety, EntryRole, Observed, Step};
use convox_store::{NewRack, Rack};

use crate::error::EngineError;
use crate::events::Events;
use crate::reconcile::Snapshot;

/// The row of the seed's downgrade table a downgrade was decided in (recorded in history).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DowngradeRow {
    /// CONFIG_MAP mode: the entries were never the only way in.
    ConfigMap,
    /// API_AND_CONFIG_MAP with aws-auth present and mapping the nodes role.
    SafeAwsAuthKept,
    /// API_AND_CONFIG_MAP without that fallback, forced.
    RiskyNoFallback,
    /// API mode, forced.
    ApiMode,
}

impl DowngradeRow {
    pub fn as_str(self) -> &'static str {
        match self {
            DowngradeRow::ConfigMap => "config_map",
            DowngradeRow::SafeAwsAuthKept => "safe_aws_auth_kept",
            DowngradeRow::RiskyNoFallback => "risky_no_fallback",
            DowngradeRow::ApiMode => "api_mode",
        }
    }
}

/// A downgrade the gate lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DowngradeVerdict {
    /// `--force` overrode a refusal.
    pub forced: bool,
    /// The table row, when parameters are left behind (none: not a downgrade that matters).
    pub row: Option<DowngradeRow>,
}

/// The seed's downgrade table, decided from what the cluster shows: a downgrade that leaves
/// parameters behind goes ahead with a warning while `aws-auth` is there and still maps the
/// nodes role (the "Yes" row); is refused when aws-auth is absent, does not map the nodes, or
/// cannot be read (the "Risky" row), and in API mode, unless forced. Nothing has been
/// changed when it refuses. The cluster is judged by the mode it is in or about to be in: an
/// update in flight (to API, say) counts as done, so a cluster in mid-update is never taken
/// for the safe row.
pub fn downgrade_gate(
    r: &Rack,
    to: &Version,
    left: &[LeftBehind],
    observed: &Observed,
    aws_auth: Option<&AwsAuthFact>,
    force: bool,
    events: &dyn Events,
) -> Result<DowngradeVerdict, EngineError> {
    // The version from which every parameter left behind is managed again.
    let Some(since) = left.iter().map(|l| l.since).max() else {
        return Ok(DowngradeVerdict::default());
    };
    let keys = left
        .iter()
        .map(|l| format!("{}={}", l.key, l.value))
        .collect::<Vec<_>>()
        .join(", ");
    let verdict = |forced, row| {
        Ok(DowngradeVerdict {
            forced,
            row: Some(row),
        })
    };
    match convox_planner::downgrade_safety_of(observed) {
        DowngradeSafety::Safe => verdict(false, DowngradeRow::ConfigMap),
        DowngradeSafety::SafeWhileAwsAuthKept => match aws_auth_risk(r, aws_auth) {
            None => {
                events.warn(&format!(
                    "{to} does not manage {keys}: the access entries stay in AWS, but nothing restores one that is removed. aws-auth is there and maps the nodes role, so it is the fallback: keep it, and keep cluster {} in API_AND_CONFIG_MAP mode. Moving back to {since} or later manages them again.",
                    r.cluster
                ));
                verdict(false, DowngradeRow::SafeAwsAuthKept)
            }
            Some(why) if force => {
                events.warn(&format!(
                    "downgrading with --force although {why}: {to} does not manage {keys}, and an access entry lost now has no fallback. Move back to {since} or later to manage them again."
                ));
                verdict(true, DowngradeRow::RiskyNoFallback)
            }
            Some(why) => Err(EngineError::DowngradeWithoutFallback {
                rack: r.name.clone(),
                to: *to,
                why,
                keys,
                since,
            }),
        },
        DowngradeSafety::NotSafe if force => {
            events.warn(&format!(
                "downgrading with --force although cluster {} is in API mode{}: aws-auth is ignored, {to} does not manage {keys}, and losing an access entry now means losing access to the cluster. Move back to {since} or later to manage them again.",
                r.cluster, mid_update(observed)
            ));
            verdict(true, DowngradeRow::ApiMode)
        }
        DowngradeSafety::NotSafe => Err(EngineError::DowngradeInApiMode {
            rack: r.name.clone(),
            cluster: r.cluster.clone(),
            to: *to,
            mid_update: mid_update(observed),
            keys,
            since,
        }),
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

/// " (switching to it now: update ID in progress, …)" when the mode judged is an update's target.
fn mid_update(observed: &Observed) -> String {
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
pub fn check_needs(r: &Rack, next: &Params, version: &Version) -> Result<(), EngineError> {
    let acting = convox_params::effective_at(next, version);
    let has_karpenter_role = r
        .karpenter_nodes_role_arn
        .as_ref()
        .is_some_and(|k| !k.is_empty());
    if acting.flag(convox_params::KARPENTER_AUTH_MODE) && !has_karpenter_role {
        return Err(EngineError::Unmet {
            message: convox_planner::no_karpenter_role(&r.name),
        });
    }
    Ok(())
}

/// `rack install aws … karpenter_auth_mode=true` without the role it needs.
pub fn check_install_needs(new: &NewRack, planned: &Params) -> Result<(), EngineError> {
    let has = new
        .karpenter_nodes_role_arn
        .as_ref()
        .is_some_and(|k| !k.is_empty());
    if planned.flag(convox_params::KARPENTER_AUTH_MODE) && !has {
        return Err(EngineError::InstallNeedsKarpenterRole);
    }
    Ok(())
}

/// What a node role check found wrong, or nothing.
enum RoleProblem {
    Missing,
    /// IAM has the role under this ARN (another case or path).
    SpelledAs(String),
}

async fn role_problem(aws: &Aws, arn: &str) -> Result<Option<RoleProblem>, EngineError> {
    Ok(match aws.iam_role_arn(arn).await? {
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

fn role_name(arn: &str) -> String {
    arn.rsplit('/').next().unwrap_or(arn).to_string()
}

/// Checks the roles concurrently (one round trip), answers in order.
async fn check_roles(
    aws: &Aws,
    roles: &[(EntryRole, String)],
) -> Result<Vec<Option<RoleProblem>>, EngineError> {
    futures::future::join_all(roles.iter().map(|(_, arn)| role_problem(aws, arn)))
        .await
        .into_iter()
        .collect()
}

/// `rack install aws`: every node role given is proven to exist, as given, before anything
/// is recorded or changed.
pub async fn check_install_roles(aws: &Aws, new: &NewRack) -> Result<(), EngineError> {
    let mut roles = vec![(EntryRole::Nodes, new.nodes_role_arn.clone())];
    if let Some(k) = new
        .karpenter_nodes_role_arn
        .as_ref()
        .filter(|k| !k.is_empty())
    {
        roles.push((EntryRole::KarpenterNodes, k.clone()));
    }
    let found = check_roles(aws, &roles).await?;
    for ((role, arn), problem) in roles.into_iter().zip(found) {
        let flag = flag_of(role);
        match problem {
            None => {}
            Some(RoleProblem::Missing) => {
                let name = role_name(&arn);
                return Err(EngineError::InstallRoleMissing { flag, arn, name });
            }
            Some(RoleProblem::SpelledAs(real)) => {
                return Err(EngineError::InstallRoleSpelledAs { flag, arn, real })
            }
        }
    }
    Ok(())
}

/// Before the first change of a run (and in its dry run): the parameters' unmet needs, and
/// every node role a planned entry names, proven to exist in IAM exactly as recorded. The
/// caller's own role was resolved through IAM already. Refused with what to do; nothing has
/// been changed or recorded.
pub async fn preflight(aws: &Aws, rack: &str, snap: &Snapshot) -> Result<(), EngineError> {
    if let Some(u) = snap.desired.unmet.first() {
        return Err(EngineError::Unmet {
            message: u.message.clone(),
        });
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
    for ((role, arn), problem) in roles.into_iter().zip(found) {
        let (flag, what, rack) = (flag_of(role), role.describe(), rack.to_string());
        match problem {
            None => {}
            Some(RoleProblem::Missing) => {
                let name = role_name(&arn);
                return Err(EngineError::NodeRoleMissing {
                    rack,
                    what,
                    flag,
                    arn,
                    name,
                });
            }
            Some(RoleProblem::SpelledAs(real)) => {
                return Err(EngineError::NodeRoleSpelledAs {
                    rack,
                    what,
                    flag,
                    arn,
                    real,
                })
            }
        }
    }
    Ok(())
}
