//! `convox rack auth migrate`'s plan: each `aws-auth` mapping → the access entry that gives
//! its principal the same access, or the one-line reason it is left alone. Pure: the IAM
//! principals (one listing per kind, paths and creation dates included) and the entries are
//! read by the caller.
//!
//! The rules are eksctl's `migrate-to-access-entry` with its gaps closed: a mapping is
//! migrated only when the entry is certain to give what the mapping gave — never more (a
//! `rolearn` with a path never matched, so it gave nothing), never something EKS would
//! refuse (usernames with a reserved prefix, `system:` groups) — and nothing it cannot see
//! (another account's IAM) is guessed.

use std::collections::BTreeMap;

use convox_planner::{ObservedEntry, Scope, CLUSTER_ADMIN_POLICY, ROLE_TAG};
use serde::Serialize;

use crate::aws_auth::{arn_resource, AwsAuth, Mapping, MappingKind};
use crate::whatif::canonical;

/// One IAM principal as IAM lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// IAM's ARN, path included (what an access entry must name).
    pub arn: String,
    /// When IAM created it (ms since the epoch), if known: an entry older than its
    /// principal was made for a previous principal of that name and no longer matches.
    pub created_ms: Option<i64>,
}

/// The IAM principals of the cluster's account, by lower-case name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Directory {
    pub partition: String,
    pub account: String,
    roles: BTreeMap<String, Principal>,
    users: BTreeMap<String, Principal>,
}

fn name_of(arn: &str) -> String {
    arn_resource(arn)
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

impl Directory {
    pub fn new(
        partition: &str,
        account: &str,
        roles: impl IntoIterator<Item = Principal>,
        users: impl IntoIterator<Item = Principal>,
    ) -> Directory {
        let by_name = |ps: &mut dyn Iterator<Item = Principal>| {
            ps.map(|p| (name_of(&p.arn), p)).collect::<BTreeMap<_, _>>()
        };
        Directory {
            partition: partition.to_string(),
            account: account.to_string(),
            roles: by_name(&mut roles.into_iter()),
            users: by_name(&mut users.into_iter()),
        }
    }

    /// The principal a mapping's ARN names (an `assumed-role` session names its role), by
    /// name: IAM names are unique in an account whatever the path, case aside.
    pub fn resolve(&self, kind: MappingKind, arn: &str) -> Option<&Principal> {
        let name = name_of(&canonical(arn));
        match kind {
            MappingKind::Role => self.roles.get(&name),
            MappingKind::User => self.users.get(&name),
        }
    }
}

/// An access entry the migration creates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedEntry {
    /// The mapping's ARN as aws-auth has it.
    pub mapping_arn: String,
    /// IAM's ARN of the principal (its path resolved).
    pub principal_arn: String,
    #[serde(rename = "type")]
    pub entry_type: String,
    /// The mapping's username (`None` for node entries: EKS sets theirs).
    pub username: Option<String>,
    pub kubernetes_groups: Vec<String>,
    /// `AmazonEKSClusterAdminPolicy` at cluster scope (for `system:masters`).
    pub cluster_admin: bool,
    /// The entry is there already (made by an earlier migration that stopped before its
    /// policy): only the policy is associated.
    pub exists: bool,
}

/// A mapping (or `mapAccounts` entry) left alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The mapping's ARN, or `mapAccounts:ACCOUNT`.
    pub arn: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MigrationPlan {
    pub create: Vec<PlannedEntry>,
    pub skip: Vec<Skipped>,
}

const RESERVED_PREFIXES: [&str; 5] = ["system:", "eks:", "aws:", "amazon:", "iam:"];
const NODE_GROUPS: [&str; 3] = [
    "system:bootstrappers",
    "system:nodes",
    "eks:kube-proxy-windows",
];

/// Why EKS would refuse (or read differently) `username` in an access entry, if it would.
pub fn username_problem(username: &str) -> Option<String> {
    if let Some(p) = RESERVED_PREFIXES.iter().find(|p| username.starts_with(**p)) {
        return Some(format!(
            "username `{username}` is refused by EKS (no access-entry username may begin with {p})"
        ));
    }
    let mut rest = username;
    while let Some(i) = rest.find("{{") {
        let end = rest[i..]
            .find("}}")
            .map(|e| i + e + 2)
            .unwrap_or(rest.len());
        let template = &rest[i..end];
        match template {
            "{{SessionName}}" | "{{SessionNameRaw}}" => {
                let before = &username[..username.len() - rest.len() + i];
                if !before.contains(':') {
                    return Some(format!(
                        "username `{username}` is refused by EKS (a colon must come before {template})"
                    ));
                }
            }
            other => {
                return Some(format!(
                    "username `{username}` uses {other}, which aws-auth expands and access entries do not"
                ))
            }
        }
        rest = &rest[end..];
    }
    None
}

fn skip(m: &Mapping, reason: impl Into<String>) -> Result<PlannedEntry, Skipped> {
    Err(Skipped {
        arn: m.arn.clone(),
        reason: reason.into(),
    })
}

/// The entry for one mapping whose principal IAM has, or why none.
fn entry_for(m: &Mapping, p: &Principal) -> Result<PlannedEntry, Skipped> {
    let planned = |entry_type: &str, username: Option<String>, groups, admin| PlannedEntry {
        mapping_arn: m.arn.clone(),
        principal_arn: p.arn.clone(),
        entry_type: entry_type.to_string(),
        username,
        kubernetes_groups: groups,
        cluster_admin: admin,
        exists: false,
    };
    if m.is_node() {
        if m.kind == MappingKind::User {
            return skip(
                m,
                "a node mapping of an IAM user: node entries are for roles",
            );
        }
        if let Some(g) = m.groups.iter().find(|g| !NODE_GROUPS.contains(&g.as_str())) {
            return skip(
                m,
                format!("a node mapping that also gives group {g}, which a node entry cannot"),
            );
        }
        let ty = if m.is_windows_node() {
            "EC2_WINDOWS"
        } else {
            "EC2_LINUX"
        };
        return Ok(planned(ty, None, Vec::new(), false));
    }
    if m.username == "system:node:{{SessionName}}" {
        return skip(m, "a Fargate pod execution role mapping: EKS makes the FARGATE_LINUX entry of a Fargate profile itself");
    }
    let admin = m.is_admin();
    if !admin {
        if let Some(g) = m.groups.iter().find(|g| g.starts_with("system:")) {
            return skip(m, format!("group {g} cannot be given by an access entry (EKS refuses kubernetesGroups beginning with system:)"));
        }
    }
    if let Some(why) = username_problem(&m.username) {
        return skip(m, why);
    }
    // With system:masters the admin policy gives every other system: group's rights.
    let groups = m
        .groups
        .iter()
        .filter(|g| !g.starts_with("system:"))
        .cloned()
        .collect();
    Ok(planned("STANDARD", Some(m.username.clone()), groups, admin))
}

/// Why an entry no longer matches its principal, if it does not: made for a principal of
/// the same name that IAM has since replaced (EKS binds an entry to the principal's id).
pub fn stale_entry(e: &ObservedEntry, p: &Principal) -> Option<String> {
    if !canonical(&e.principal_arn).eq(&canonical(&p.arn)) {
        return None;
    }
    if !e.principal_arn.eq_ignore_ascii_case(&p.arn) {
        return Some(format!(
            "its access entry names {}, but IAM's principal of that name is {}: the entry was made for a principal since deleted",
            e.principal_arn, p.arn
        ));
    }
    match (e.created_ms, p.created_ms) {
        (Some(made), Some(born)) if born > made => Some(format!(
            "its access entry predates IAM's {} (re-created since): EKS no longer matches it",
            p.arn
        )),
        _ => None,
    }
}

/// An entry an earlier migration made for an admin mapping but whose policy it did not
/// associate (it stopped in between): the rest of that work.
fn unfinished(m: &Mapping, e: &ObservedEntry, p: &Principal) -> Option<PlannedEntry> {
    let ours = e.tags.get(ROLE_TAG).is_some_and(|t| t == crate::MIGRATED);
    let admin = e.policies.iter().flatten().any(|a| {
        a.policy_arn.ends_with(&format!("/{CLUSTER_ADMIN_POLICY}")) && a.scope == Scope::Cluster
    });
    if !ours || !m.is_admin() || admin || e.policies.is_none() || stale_entry(e, p).is_some() {
        return None;
    }
    let mut resumed = entry_for(m, p).ok()?;
    resumed.exists = true;
    Some(resumed)
}

/// One mapping: the entry to create, or why none.
fn decide(
    m: &Mapping,
    entries: &[ObservedEntry],
    dir: &Directory,
    planned: &[PlannedEntry],
) -> Result<PlannedEntry, Skipped> {
    let f: Vec<&str> = m.arn.splitn(6, ':').collect();
    let field = |i: usize| f.get(i).copied().unwrap_or_default();
    let (partition, account) = (field(1), field(4));
    if partition != dir.partition {
        return skip(
            m,
            format!(
                "an ARN of partition {partition}; the cluster is in {}, where it names nobody",
                dir.partition
            ),
        );
    }
    if account != dir.account {
        return skip(m, format!("a principal of account {account}, not the cluster's ({}): convox reads only its own account's IAM; create this entry by hand if it is still wanted", dir.account));
    }
    if m.has_path() {
        return skip(m, "a rolearn with a path (or a session) never matched anyone: the mapping gives nothing to migrate (aws-auth must name the role as role/NAME)");
    }
    let kind = if m.kind == MappingKind::Role {
        "role"
    } else {
        "user"
    };
    let Some(p) = dir.resolve(m.kind, &m.arn) else {
        return skip(
            m,
            format!("IAM has no such {kind} (deleted?): the mapping maps nobody"),
        );
    };
    if p.arn.contains(":role/aws-service-role/") {
        return skip(
            m,
            format!(
                "{} is a service-linked role: EKS takes no access entry for it",
                p.arn
            ),
        );
    }
    if let Some(e) = entries
        .iter()
        .find(|e| canonical(&e.principal_arn) == canonical(&p.arn))
    {
        if let Some(resumed) = unfinished(m, e, p) {
            return Ok(resumed);
        }
        let why = match stale_entry(e, p) {
            Some(stale) => format!("{stale}; delete that entry and run this again"),
            None => format!("{} already has an access entry ({})", p.arn, e.entry_type),
        };
        return skip(m, why);
    }
    if let Some(first) = planned
        .iter()
        .find(|x| x.principal_arn.eq_ignore_ascii_case(&p.arn))
    {
        return skip(
            m,
            format!(
                "names the same principal as the mapping of {}, which applies first",
                first.mapping_arn
            ),
        );
    }
    entry_for(m, p)
}

/// The migration of `aws_auth` given the cluster's entries and its account's principals.
pub fn plan(aws_auth: &AwsAuth, entries: &[ObservedEntry], dir: &Directory) -> MigrationPlan {
    let mut out = MigrationPlan::default();
    for m in &aws_auth.mappings {
        match decide(m, entries, dir, &out.create) {
            Ok(e) => out.create.push(e),
            Err(s) => out.skip.push(s),
        }
    }
    for a in &aws_auth.accounts {
        out.skip.push(Skipped {
            arn: format!("mapAccounts:{a}"),
            reason: "mapAccounts lets in every principal of an account; access entries have no such thing: give each principal that needs access its own entry".into(),
        });
    }
    out
}
