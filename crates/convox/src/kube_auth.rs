//! The Kubernetes side of `convox rack auth`: aws-auth as the cluster has it (read by
//! convox-engine with the caller's own EKS token), each mapping with whether an access entry
//! covers it, and who keeps access in each what-if (convox-access decides; this module
//! shapes and prints).

use convox_access::{AwsAuthFact, Coverage, Identity, Mapping, Outcome};
use convox_planner::{AuthMode, ObservedEntry};
use convox_store::Rack;
use serde::Serialize;

use crate::commands::Conn;

#[derive(Debug, Serialize)]
pub(crate) struct MappingView {
    #[serde(flatten)]
    mapping: Mapping,
    entry: Coverage,
}

#[derive(Debug, Serialize)]
pub(crate) struct AccessView {
    arn: String,
    #[serde(flatten)]
    access: convox_access::Access,
}

#[derive(Debug, Serialize)]
pub(crate) struct ScenarioView {
    scenario: convox_access::Scenario,
    description: &'static str,
    verdict: String,
    lose: Vec<String>,
    unknown: Vec<String>,
    access: Vec<AccessView>,
}

/// `kubernetes` in `rack auth --output json` (stable keys).
#[derive(Debug, Serialize)]
pub(crate) struct KubeView {
    /// `present`, `absent` or `unknown`.
    aws_auth: &'static str,
    unknown_reason: Option<String>,
    warnings: Vec<String>,
    mappings: Vec<MappingView>,
    map_accounts: Vec<String>,
    identities: Vec<Identity>,
    scenarios: Vec<ScenarioView>,
}

/// Everything the section shows. `caller` is the caller's principal (or its STS ARN).
pub(crate) fn view(
    r: &Rack,
    mode: AuthMode,
    caller: &str,
    fact: &AwsAuthFact,
    entries: &[ObservedEntry],
    karpenter: bool,
    dir: Option<&convox_access::Directory>,
) -> KubeView {
    let mut given = vec![
        (caller.to_string(), "caller"),
        (r.nodes_role_arn.clone(), "nodes"),
    ];
    if let Some(k) = r
        .karpenter_nodes_role_arn
        .as_ref()
        .filter(|k| karpenter && !k.is_empty())
    {
        given.push((k.clone(), "karpenter-nodes"));
    }
    let ids = convox_access::identities(&given, fact, entries);
    let outcomes: Vec<Outcome> = convox_access::what_if_in(&r.name, mode, fact, entries, &ids, dir);
    let (state, reason, auth) = match fact {
        AwsAuthFact::Present(a) => ("present", None, Some(a)),
        AwsAuthFact::Absent => ("absent", None, None),
        AwsAuthFact::Unknown(why) => ("unknown", Some(why.clone()), None),
    };
    KubeView {
        aws_auth: state,
        unknown_reason: reason,
        warnings: auth.map(|a| a.warnings.clone()).unwrap_or_default(),
        mappings: auth
            .map(|a| {
                a.mappings
                    .iter()
                    .map(|m| MappingView {
                        mapping: m.clone(),
                        entry: convox_access::coverage_in(m, entries, dir),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        map_accounts: auth.map(|a| a.accounts.clone()).unwrap_or_default(),
        scenarios: outcomes
            .into_iter()
            .map(|o| ScenarioView {
                scenario: o.scenario,
                description: o.description,
                verdict: o.verdict,
                lose: o.lose,
                unknown: o.unknown,
                access: ids
                    .iter()
                    .zip(o.access)
                    .map(|(i, a)| AccessView {
                        arn: i.arn.clone(),
                        access: a,
                    })
                    .collect(),
            })
            .collect(),
        identities: ids,
    }
}

fn coverage_text(c: &Coverage) -> String {
    match c {
        Coverage::Covered => "covered".into(),
        Coverage::NoEntry => "no entry".into(),
        Coverage::Weaker { lacks } => format!("weaker: lacks {lacks}"),
        Coverage::NeverMatches => "never matches (a rolearn with a path)".into(),
        Coverage::NoPrincipal => "IAM has no such principal (deleted?)".into(),
        Coverage::OtherPartition { partition } => {
            format!("never matches (an ARN of partition {partition}, not the cluster's)")
        }
        Coverage::Stale { why } => format!("no longer matches: {why}"),
    }
}

fn access_text(a: &convox_access::Access) -> &'static str {
    match a {
        convox_access::Access::Entry { .. } => "entry",
        convox_access::Access::AwsAuth { .. } => "aws-auth",
        convox_access::Access::No => "NO",
        convox_access::Access::Unknown { .. } => "unknown",
    }
}

impl KubeView {
    /// The text section, rows aligned by `table`.
    pub(crate) fn text(&self, mode: AuthMode, table: impl Fn(&[[String; 4]]) -> String) -> String {
        let mut s = String::from("Kubernetes side:\n");
        match (self.aws_auth, &self.unknown_reason) {
            ("unknown", Some(why)) => s.push_str(&format!(
                "  aws-auth: unknown ({why}); every fact that depends on it is unknown\n"
            )),
            (state, _) => s.push_str(&format!(
                "  aws-auth: {state}{}\n",
                if state == "present" {
                    format!(" ({} mappings)", self.mappings.len())
                } else {
                    String::new()
                }
            )),
        }
        for w in &self.warnings {
            s.push_str(&format!("  WARNING: {w}\n"));
        }
        if !self.mappings.is_empty() {
            let mut rows = vec![[
                "  MAPPING".to_string(),
                "USERNAME".into(),
                "GROUPS".into(),
                "ACCESS ENTRY".into(),
            ]];
            for m in &self.mappings {
                rows.push([
                    format!("  {}", m.mapping.arn),
                    m.mapping.username.clone(),
                    m.mapping.groups.join(","),
                    coverage_text(&m.entry),
                ]);
            }
            s.push_str(&table(&rows));
        }
        s.push_str("  Who gets in (now / aws-auth deleted / mode API / downgraded, rack entries removed):\n");
        for (i, id) in self.identities.iter().enumerate() {
            let cols: Vec<&str> = self
                .scenarios
                .iter()
                .map(|sc| access_text(&sc.access[i].access))
                .collect();
            s.push_str(&format!(
                "    {} [{}]: {}\n",
                id.arn,
                id.parts.join(", "),
                cols.join(" / ")
            ));
        }
        for sc in &self.scenarios {
            s.push_str(&format!("  {}: {}\n", sc.description, sc.verdict));
        }
        if mode == AuthMode::ConfigMap {
            s.push_str("  (in CONFIG_MAP mode the cluster creator's own admin grant is invisible to every API and not counted here)\n");
        }
        s
    }
}

/// The caller's account's IAM principals, for coverage by IAM's ARNs; `None` (coverage by
/// name only) with a warning when IAM cannot be listed: `rack auth` only reads.
pub(crate) async fn directory(
    conn: &Conn,
    partition: &str,
    account: &str,
) -> Option<convox_access::Directory> {
    match conn.aws.iam_principals().await {
        Ok((roles, users)) => Some(convox_access::Directory::new(
            partition,
            account,
            crate::kube_migrate::principals(roles),
            crate::kube_migrate::principals(users),
        )),
        Err(e) => {
            tracing::warn!("cannot list IAM principals ({e}); coverage compares ARNs by name only");
            None
        }
    }
}
