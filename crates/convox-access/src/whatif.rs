//! Who gets into the cluster's Kubernetes API, now and under each what-if, from the mode,
//! `aws-auth` and the access entries, by EKS's rules: an entry (in a mode with the API) wins
//! over a mapping; `aws-auth` counts only in a mode with the ConfigMap; a mapping matches the
//! canonical ARN (a role's path never matches); `mapAccounts` maps every principal of the
//! account. Principals are compared by canonical ARN, case-insensitively: IAM role and user
//! names are unique in an account whatever their path, so that is "the same principal".

use convox_planner::{AuthMode, ObservedEntry, Scope, CLUSTER_ADMIN_POLICY, RACK_TAG, ROLE_TAG};
use serde::Serialize;

use crate::aws_auth::{AwsAuth, Mapping, MappingKind};
use crate::migrate::{Directory, Principal};

/// What is known of `aws-auth`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AwsAuthFact {
    Present(AwsAuth),
    Absent,
    /// It could not be read (the Kubernetes API unreachable or refusing us): why.
    Unknown(String),
}

/// `arn:P:iam::A:role/path/Name` (or an assumed-role session) → `arn:p:iam::a:role/name`.
pub fn canonical(arn: &str) -> String {
    let p: Vec<&str> = arn.splitn(6, ':').collect();
    if p.len() != 6 {
        return arn.to_ascii_lowercase();
    }
    let res = p[5];
    let (kind, rest) = res.split_once('/').unwrap_or((res, ""));
    let name = match kind {
        "assumed-role" => rest.split('/').next().unwrap_or(rest),
        _ => rest.rsplit('/').next().unwrap_or(rest),
    };
    let kind = if kind == "assumed-role" { "role" } else { kind };
    format!("arn:{}:iam::{}:{kind}/{name}", p[1], p[4]).to_ascii_lowercase()
}

fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or("")
}

/// How an identity gets in, or why it does not, or that it cannot be told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "access", rename_all = "snake_case")]
pub enum Access {
    /// Through its access entry (of this type).
    Entry {
        entry_type: String,
    },
    /// Through aws-auth, as this username.
    AwsAuth {
        username: String,
    },
    No,
    Unknown {
        reason: String,
    },
}

impl Access {
    pub fn has(&self) -> bool {
        matches!(self, Access::Entry { .. } | Access::AwsAuth { .. })
    }
}

/// The cluster as a what-if sees it.
#[derive(Debug, Clone)]
pub struct World<'a> {
    pub mode: AuthMode,
    pub aws_auth: &'a AwsAuthFact,
    pub entries: Vec<&'a ObservedEntry>,
    /// The caller's account's IAM principals, when listed: a principal IAM does not have
    /// gets in nowhere, and an entry left from a deleted principal of that name admits nobody.
    pub dir: Option<&'a Directory>,
}

/// IAM's principal for `arn` when `dir` can tell (`Err(())`: IAM has none).
fn in_iam<'d>(dir: Option<&'d Directory>, arn: &str) -> Option<Result<&'d Principal, ()>> {
    let d = dir?;
    let c = canonical(arn);
    let f: Vec<&str> = c.splitn(6, ':').collect();
    if f.get(1) != Some(&d.partition.as_str()) || f.get(4) != Some(&d.account.as_str()) {
        return None;
    }
    let kind = match f.get(5) {
        Some(r) if r.starts_with("role/") => MappingKind::Role,
        Some(r) if r.starts_with("user/") => MappingKind::User,
        _ => return None,
    };
    Some(d.resolve(kind, &c).ok_or(()))
}

/// The access of one principal (any spelling of its ARN).
pub fn access(world: &World<'_>, arn: &str) -> Access {
    let id = canonical(arn);
    let principal = match in_iam(world.dir, arn) {
        Some(Err(())) => return Access::No,
        Some(Ok(p)) => Some(p),
        None => None,
    };
    if world.mode.includes_api() {
        if let Some(e) = world.entries.iter().find(|e| {
            canonical(&e.principal_arn) == id
                && principal.is_none_or(|p| crate::migrate::stale_entry(e, p).is_none())
        }) {
            return Access::Entry {
                entry_type: e.entry_type.clone(),
            };
        }
    }
    if world.mode == AuthMode::Api {
        return Access::No;
    }
    match world.aws_auth {
        AwsAuthFact::Absent => Access::No,
        AwsAuthFact::Unknown(reason) => Access::Unknown {
            reason: reason.clone(),
        },
        AwsAuthFact::Present(a) => {
            if let Some(m) = a.mappings.iter().find(|m| m.arn.eq_ignore_ascii_case(&id)) {
                Access::AwsAuth {
                    username: m.username.clone(),
                }
            } else if a.accounts.iter().any(|x| x == account_of(arn)) {
                Access::AwsAuth {
                    username: id.clone(),
                }
            } else {
                Access::No
            }
        }
    }
}

/// Whether an access entry gives a mapping's principal at least the mapping's power.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "coverage", rename_all = "snake_case")]
pub enum Coverage {
    Covered,
    NoEntry,
    /// An entry exists but gives less: what it lacks.
    Weaker {
        lacks: String,
    },
    /// A `rolearn` with a path: the mapping itself never matches anyone.
    NeverMatches,
    /// An ARN of another partition than the cluster's: it names nobody there.
    OtherPartition {
        partition: String,
    },
    /// IAM has no principal of that name (deleted): the mapping maps nobody.
    NoPrincipal,
    /// An entry of that name exists but no longer matches IAM's principal: why.
    Stale {
        why: String,
    },
}

fn is_cluster_admin(e: &ObservedEntry) -> bool {
    e.policies.iter().flatten().any(|p| {
        p.policy_arn.ends_with(&format!("/{CLUSTER_ADMIN_POLICY}")) && p.scope == Scope::Cluster
    })
}

pub fn coverage(m: &Mapping, entries: &[ObservedEntry]) -> Coverage {
    coverage_in(m, entries, None)
}

/// [`coverage`], the principal resolved through IAM (`dir`, the cluster's account): the
/// entry must name IAM's principal — path and incarnation — not just one of its name.
pub fn coverage_in(m: &Mapping, entries: &[ObservedEntry], dir: Option<&Directory>) -> Coverage {
    if m.has_path() {
        return Coverage::NeverMatches;
    }
    let id = canonical(&m.arn);
    let f: Vec<&str> = m.arn.splitn(6, ':').collect();
    let (partition, account) = (f.get(1).copied(), f.get(4).copied());
    if dir.is_some_and(|d| partition != Some(d.partition.as_str())) {
        return Coverage::OtherPartition {
            partition: partition.unwrap_or_default().to_string(),
        };
    }
    let in_dir = dir.filter(|d| account == Some(d.account.as_str()));
    let principal = match in_dir {
        Some(d) => match d.resolve(m.kind, &m.arn) {
            Some(p) => Some(p),
            None => return Coverage::NoPrincipal,
        },
        None => None,
    };
    let Some(e) = entries.iter().find(|e| canonical(&e.principal_arn) == id) else {
        return Coverage::NoEntry;
    };
    if let Some(why) = principal.and_then(|p| crate::migrate::stale_entry(e, p)) {
        return Coverage::Stale { why };
    }
    let lacks = if m.is_node() {
        let want = if m.is_windows_node() {
            "EC2_WINDOWS"
        } else {
            "EC2_LINUX"
        };
        (e.entry_type != want).then(|| format!("a {want} entry (it is {})", e.entry_type))
    } else if m.is_admin() {
        (!is_cluster_admin(e)).then(|| format!("{CLUSTER_ADMIN_POLICY} at cluster scope"))
    } else if is_cluster_admin(e) {
        None
    } else {
        let missing: Vec<&str> = m
            .groups
            .iter()
            .filter(|g| !e.kubernetes_groups.contains(g))
            .map(String::as_str)
            .collect();
        (e.entry_type != "STANDARD" || !missing.is_empty()).then(|| {
            if e.entry_type != "STANDARD" {
                format!("a STANDARD entry (it is {})", e.entry_type)
            } else {
                format!("kubernetesGroups {}", missing.join(", "))
            }
        })
    };
    match lacks {
        None => Coverage::Covered,
        Some(lacks) => Coverage::Weaker { lacks },
    }
}

/// The scenarios of `rack auth`, in the order shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    Now,
    AwsAuthDeleted,
    ModeApi,
    DowngradedEntriesRemoved,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::Now,
        Scenario::AwsAuthDeleted,
        Scenario::ModeApi,
        Scenario::DowngradedEntriesRemoved,
    ];
    pub fn describe(self) -> &'static str {
        match self {
            Scenario::Now => "now",
            Scenario::AwsAuthDeleted => "if aws-auth is deleted",
            Scenario::ModeApi => "if the mode is switched to API",
            Scenario::DowngradedEntriesRemoved => {
                "if the rack is downgraded below 3.24.7 and its entries are removed"
            }
        }
    }
}

/// An identity whose access is judged, and the parts it plays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub arn: String,
    /// `caller`, `nodes`, `karpenter-nodes`, `aws-auth`, `entry`.
    pub parts: Vec<String>,
}

/// The identities to judge: those given (caller, node roles) first, then every principal of
/// aws-auth, then every entry's, each once (by canonical ARN).
pub fn identities(
    given: &[(String, &str)],
    aws_auth: &AwsAuthFact,
    entries: &[ObservedEntry],
) -> Vec<Identity> {
    let mut out: Vec<Identity> = Vec::new();
    let mut add = |arn: &str, part: &str| {
        let id = canonical(arn);
        match out.iter_mut().find(|i| canonical(&i.arn) == id) {
            Some(i) => {
                if !i.parts.iter().any(|p| p == part) {
                    i.parts.push(part.to_string());
                }
            }
            None => out.push(Identity {
                arn: arn.to_string(),
                parts: vec![part.to_string()],
            }),
        }
    };
    for (arn, part) in given {
        add(arn, part);
    }
    if let AwsAuthFact::Present(a) = aws_auth {
        for m in &a.mappings {
            add(&m.arn, "aws-auth");
        }
    }
    for e in entries {
        add(&e.principal_arn, "entry");
    }
    out
}

/// One scenario's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub scenario: Scenario,
    pub description: &'static str,
    /// In the order of the identities.
    pub access: Vec<Access>,
    /// Who has access now and would not (for `now`: who has none now).
    pub lose: Vec<String>,
    /// Who might lose it: their access cannot be told.
    pub unknown: Vec<String>,
    pub verdict: String,
}

fn world_of<'a>(
    s: Scenario,
    rack: &str,
    mode: AuthMode,
    aws_auth: &'a AwsAuthFact,
    entries: &'a [ObservedEntry],
    dir: Option<&'a Directory>,
) -> World<'a> {
    static ABSENT: AwsAuthFact = AwsAuthFact::Absent;
    let all = entries.iter().collect();
    match s {
        Scenario::Now => World {
            mode,
            aws_auth,
            entries: all,
            dir,
        },
        Scenario::AwsAuthDeleted => World {
            mode,
            aws_auth: &ABSENT,
            entries: all,
            dir,
        },
        Scenario::ModeApi => World {
            mode: AuthMode::Api,
            aws_auth,
            entries: all,
            dir,
        },
        Scenario::DowngradedEntriesRemoved => World {
            mode,
            aws_auth,
            // The rack's own entries (caller, nodes) go; those `auth migrate` made for
            // aws-auth's principals are not the parameters' and stay.
            entries: entries
                .iter()
                .filter(|e| {
                    e.tags.get(RACK_TAG).map(String::as_str) != Some(rack)
                        || e.tags.get(ROLE_TAG).map(String::as_str) == Some(crate::MIGRATED)
                })
                .collect(),
            dir,
        },
    }
}

fn verdict(s: Scenario, lose: &[String], unknown: &[String]) -> String {
    let mut v = match (s, lose.len()) {
        (_, 0) => "safe".to_string(),
        (Scenario::Now, n) => format!("{n} principals have no access now: {}", lose.join(", ")),
        (_, n) => format!("{n} principals would lose access: {}", lose.join(", ")),
    };
    if !unknown.is_empty() {
        v = format!(
            "{}unknown for {} principals (aws-auth could not be read): {}",
            if lose.is_empty() {
                String::new()
            } else {
                format!("{v}; ")
            },
            unknown.len(),
            unknown.join(", ")
        );
    }
    v
}

/// A verdict while aws-auth cannot be read: whoever only it maps is not among the
/// identities judged, so nothing is called safe.
fn unseen_mappings(aws_auth: &AwsAuthFact, v: String) -> String {
    match aws_auth {
        AwsAuthFact::Unknown(_) if v == "safe" => {
            "unknown: aws-auth could not be read, so who it maps is not known".into()
        }
        AwsAuthFact::Unknown(_) => {
            format!("{v}; and unknown for whoever aws-auth maps (it could not be read)")
        }
        _ => v,
    }
}

/// Every scenario for these identities. `rack` names the rack whose entries a downgrade
/// leaves unmanaged (tag `convox:rack`).
pub fn what_if(
    rack: &str,
    mode: AuthMode,
    aws_auth: &AwsAuthFact,
    entries: &[ObservedEntry],
    ids: &[Identity],
) -> Vec<Outcome> {
    what_if_in(rack, mode, aws_auth, entries, ids, None)
}

/// [`what_if`] with the principals resolved through IAM ([`World::dir`]).
pub fn what_if_in(
    rack: &str,
    mode: AuthMode,
    aws_auth: &AwsAuthFact,
    entries: &[ObservedEntry],
    ids: &[Identity],
    dir: Option<&Directory>,
) -> Vec<Outcome> {
    let now = world_of(Scenario::Now, rack, mode, aws_auth, entries, dir);
    let before: Vec<Access> = ids.iter().map(|i| access(&now, &i.arn)).collect();
    Scenario::ALL
        .iter()
        .map(|&s| {
            let w = world_of(s, rack, mode, aws_auth, entries, dir);
            let after: Vec<Access> = ids.iter().map(|i| access(&w, &i.arn)).collect();
            let (mut lose, mut unknown) = (Vec::new(), Vec::new());
            for ((id, b), a) in ids.iter().zip(&before).zip(&after) {
                let lost = match s {
                    Scenario::Now => *a == Access::No,
                    _ => b.has() && *a == Access::No,
                };
                if lost {
                    lose.push(id.arn.clone());
                } else if matches!(a, Access::Unknown { .. })
                    || (s != Scenario::Now && matches!(b, Access::Unknown { .. }) && !a.has())
                {
                    unknown.push(id.arn.clone());
                }
            }
            Outcome {
                scenario: s,
                description: s.describe(),
                verdict: unseen_mappings(aws_auth, verdict(s, &lose, &unknown)),
                access: after,
                lose,
                unknown,
            }
        })
        .collect()
}
