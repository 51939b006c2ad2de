//! Who a caller is on a cluster, by authentication mode (EKS User Guide, "Grant IAM users
//! access to Kubernetes"):
//! - `CONFIG_MAP`: the cluster creator's invisible `system:masters` (while
//!   `bootstrapClusterCreatorAdminPermissions` was true), else `aws-auth`;
//! - `API_AND_CONFIG_MAP`: the principal's access entry if it has one (the whole identity
//!   comes from it), else `aws-auth`;
//! - `API`: access entries only.
//!
//! `None` is "not mapped": the API server answers 401 as for a bad token.

use crate::awsauth::AwsAuth;
use crate::identity::{render, StsCaller, UserInfo, MASTERS};
use eks_sim_model::eks::kube_view::{EntryView, KubeCluster, PolicyGrant};

/// Where an identity came from (for the audit trail and `whoami`'s extra).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// No token at all.
    Anonymous,
    AccessEntry,
    CreatorAdmin,
    AwsAuth(&'static str),
}

impl Source {
    pub fn as_str(&self) -> &'static str {
        match self {
            Source::Anonymous => "anonymous",
            Source::AccessEntry => "access entry",
            Source::CreatorAdmin => "cluster creator",
            Source::AwsAuth(k) => k,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub user: UserInfo,
    /// Access policies of the entry (empty for aws-auth identities).
    pub policies: Vec<PolicyGrant>,
    pub source: Source,
}

/// What the resolver needs besides the caller.
pub struct Inputs<'a> {
    pub cluster: &'a KubeCluster,
    /// The caller's access entry, already checked to belong to the caller's principal.
    pub entry: Option<&'a EntryView>,
    /// `aws-auth` as stored now (`None` when there is no ConfigMap).
    pub aws_auth: Option<&'a AwsAuth>,
    /// The creator still holds its bootstrap grant (the cluster's flag and the simulator's
    /// `bootstrap_creator_admin` setting).
    pub creator_admin: bool,
}

/// The identity of an entry: STANDARD takes the entry's username and groups; node types the
/// names EKS gives them.
fn from_entry(e: &EntryView, caller: &StsCaller, region: &str) -> Option<Resolved> {
    let (template, mut groups) = match e.kind.as_str() {
        "STANDARD" => (e.username.clone(), e.groups.clone()),
        "EC2_LINUX" | "EC2_WINDOWS" => (
            "system:node:{{EC2PrivateDNSName}}".to_string(),
            vec!["system:nodes".to_string()],
        ),
        "FARGATE_LINUX" => (
            "system:node:{{SessionName}}".to_string(),
            vec!["system:nodes".into(), "system:node-proxier".into()],
        ),
        "HYBRID_LINUX" | "HYPERPOD_LINUX" => (
            "system:node:{{SessionName}}".to_string(),
            vec!["system:nodes".to_string()],
        ),
        _ => return None,
    };
    if e.kind != "STANDARD" {
        for g in &e.groups {
            if !groups.contains(g) {
                groups.push(g.clone());
            }
        }
    }
    let username = render(&template, caller, region)?;
    Some(Resolved {
        user: UserInfo::mapped(caller, username, groups),
        policies: if e.kind == "STANDARD" {
            e.policies.clone()
        } else {
            Vec::new()
        },
        source: Source::AccessEntry,
    })
}

/// Resolves `caller` on `inputs.cluster`.
pub fn resolve(caller: &StsCaller, inputs: &Inputs<'_>) -> Option<Resolved> {
    let c = inputs.cluster;
    if c.includes_api() {
        if let Some(e) = inputs.entry {
            return from_entry(e, caller, &c.region);
        }
    }
    if !c.includes_config_map() {
        return None;
    }
    if c.auth_mode == eks_sim_model::eks::CONFIG_MAP
        && inputs.creator_admin
        && caller.principal_arn.eq_ignore_ascii_case(&c.creator_arn)
    {
        let username = if caller.session_name().is_some() {
            caller.arn.clone()
        } else {
            caller.canonical_arn()
        };
        return Some(Resolved {
            user: UserInfo::mapped(caller, username, vec![MASTERS.into()]),
            policies: Vec::new(),
            source: Source::CreatorAdmin,
        });
    }
    let m = inputs.aws_auth?.matching(caller)?;
    let username = render(&m.username, caller, &c.region)?;
    Some(Resolved {
        user: UserInfo::mapped(caller, username, m.groups),
        policies: Vec::new(),
        source: Source::AwsAuth(m.from),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cluster(mode: &str) -> KubeCluster {
        KubeCluster {
            id: 1,
            endpoint_id: "X".into(),
            name: "c".into(),
            account: "123456789012".into(),
            region: "us-west-2".into(),
            status: "ACTIVE".into(),
            auth_mode: mode.into(),
            bootstrap_admin: true,
            creator_arn: "arn:aws:iam::123456789012:role/ops/Creator".into(),
            version: "1.33".into(),
            created_ms: 0,
        }
    }

    fn caller(role: &str, session: &str, path: &str) -> StsCaller {
        StsCaller {
            account: "123456789012".into(),
            arn: format!("arn:aws:sts::123456789012:assumed-role/{role}/{session}"),
            user_id: format!("AROA{role}:{session}"),
            access_key_id: "ASIA1".into(),
            principal_arn: format!("arn:aws:iam::123456789012:role{path}{role}"),
        }
    }

    fn entry(kind: &str, username: &str, groups: &[&str]) -> EntryView {
        EntryView {
            principal_arn: String::new(),
            kind: kind.into(),
            username: username.into(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
            policies: vec![],
        }
    }

    /// (mode, caller, entry, creator admin, expected username prefix and groups).
    type Case = (
        &'static str,
        &'static str,
        &'static str,
        bool,
        Option<(&'static str, &'static [&'static str])>,
    );

    #[rustfmt::skip]
    const CASES: &[Case] = &[
        ("CONFIG_MAP", "dev", "", true, Some(("dev-a-b", &["devs"]))),
        ("CONFIG_MAP", "dev", "std", true, Some(("dev-a-b", &["devs"]))),
        ("CONFIG_MAP", "creator", "", true, Some(("arn:aws:sts::123456789012:assumed-role/Creator/me", &["system:masters"]))),
        ("CONFIG_MAP", "creator", "", false, None),
        ("CONFIG_MAP", "dev", "", false, Some(("dev-a-b", &["devs"]))),
        ("API_AND_CONFIG_MAP", "dev", "", true, Some(("dev-a-b", &["devs"]))),
        ("API_AND_CONFIG_MAP", "dev", "std", true, Some(("arn:aws:sts::123456789012:assumed-role/Dev/a-b", &["team"]))),
        ("API_AND_CONFIG_MAP", "creator", "", true, None),
        ("API", "dev", "", true, None),
        ("API", "dev", "std", true, Some(("arn:aws:sts::123456789012:assumed-role/Dev/a-b", &["team"]))),
        ("API", "node", "node", true, Some(("system:node:ip-10-", &["system:nodes"]))),
        ("API_AND_CONFIG_MAP", "node", "", true, Some(("system:node:ip-10-", &["system:bootstrappers", "system:nodes"]))),
        ("API", "dev", "node", true, None),
    ];

    fn aws_auth() -> crate::awsauth::AwsAuth {
        let mut d = BTreeMap::new();
        d.insert(
            "mapRoles".to_string(),
            "- rolearn: arn:aws:iam::123456789012:role/Dev\n  username: dev-{{SessionName}}\n  groups: [devs]\n\
             - rolearn: arn:aws:iam::123456789012:role/Node\n  username: system:node:{{EC2PrivateDNSName}}\n  groups: [system:bootstrappers, system:nodes]\n"
                .to_string(),
        );
        crate::awsauth::parse(&d)
    }

    #[test]
    fn by_mode() {
        let auth = aws_auth();
        let std_entry = entry(
            "STANDARD",
            "arn:aws:sts::123456789012:assumed-role/Dev/{{SessionName}}",
            &["team"],
        );
        let node_entry = entry(
            "EC2_LINUX",
            "system:node:{{EC2PrivateDNSName}}",
            &["system:nodes"],
        );
        for (i, (mode, who, e, admin, want)) in CASES.iter().enumerate() {
            let who = match *who {
                "dev" => caller("Dev", "a@b", "/"),
                "node" => caller("Node", "i-0123456789abcdef0", "/"),
                _ => caller("Creator", "me", "/ops/"),
            };
            let e = match *e {
                "std" => Some(&std_entry),
                "node" => Some(&node_entry),
                _ => None,
            };
            let c = cluster(mode);
            let inputs = Inputs {
                cluster: &c,
                entry: e,
                aws_auth: Some(&auth),
                creator_admin: *admin,
            };
            match (resolve(&who, &inputs), want) {
                (None, None) => {}
                (Some(r), Some((u, g))) => {
                    assert!(
                        r.user.username.starts_with(u),
                        "case {i}: {}",
                        r.user.username
                    );
                    let mut want_g: Vec<String> = g.iter().map(|s| s.to_string()).collect();
                    want_g.push("system:authenticated".into());
                    assert_eq!(r.user.groups, want_g, "case {i}");
                }
                (got, want) => panic!("case {i} {mode}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn no_config_map_maps_nobody() {
        let c = cluster("CONFIG_MAP");
        let dev = caller("Dev", "a@b", "/");
        let inputs = Inputs {
            cluster: &c,
            entry: None,
            aws_auth: None,
            creator_admin: true,
        };
        assert!(resolve(&dev, &inputs).is_none());
    }
}
