//! The `aws-auth` ConfigMap (`kube-system`), read as aws-iam-authenticator reads it: the
//! data keys `mapRoles`, `mapUsers` and `mapAccounts` are YAML strings; keys inside an entry
//! are case-insensitive; an entry that is not valid is dropped and the others kept; a key
//! whose YAML does not parse maps nobody. Matching compares the caller's canonical ARN
//! case-insensitively with each `rolearn` (so a `rolearn` with a path never matches), role
//! mappings before user mappings, the first match winning; an account in `mapAccounts`
//! gets the canonical ARN as username and no groups.

use crate::identity::StsCaller;
use serde_yaml::Value;
use std::collections::BTreeMap;

pub const NAME: &str = "aws-auth";
pub const NAMESPACE: &str = "kube-system";

/// One usable mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Lower-case ARN (`rolearn` / `userarn`), or the SSO role prefix for `sso` entries.
    pub arn: String,
    pub sso: bool,
    pub username: String,
    pub groups: Vec<String>,
}

/// What `aws-auth` says, and what it had to drop.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AwsAuth {
    pub roles: Vec<Mapping>,
    pub users: Vec<Mapping>,
    pub accounts: Vec<String>,
    /// One line per dropped entry or unparsable key.
    pub problems: Vec<String>,
}

/// The mapping an identity gets: a username template and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    pub username: String,
    pub groups: Vec<String>,
    /// `mapRoles`, `mapUsers` or `mapAccounts`.
    pub from: &'static str,
}

fn get_ci<'a>(m: &'a serde_yaml::Mapping, key: &str) -> Option<&'a Value> {
    m.iter()
        .find(|(k, _)| k.as_str().is_some_and(|k| k.eq_ignore_ascii_case(key)))
        .map(|(_, v)| v)
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn groups_of(m: &serde_yaml::Mapping) -> Result<Vec<String>, &'static str> {
    match get_ci(m, "groups") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Sequence(s)) => s
            .iter()
            .map(|g| scalar(g).ok_or("groups must be strings"))
            .collect(),
        Some(_) => Err("groups must be a list"),
    }
}

fn arn_shaped(arn: &str, kind: &str) -> bool {
    let f: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(f.as_slice(), ["arn", _, "iam", "", acct, res]
        if acct.len() == 12 && res.starts_with(kind) && res.len() > kind.len())
}

/// One `mapRoles` / `mapUsers` entry, or why it is dropped.
fn entry(v: &Value, arn_key: &str, kind: &str) -> Result<Mapping, String> {
    let m = v.as_mapping().ok_or("entry is not a mapping")?;
    let groups = groups_of(m)?;
    let username = get_ci(m, "username").and_then(scalar).unwrap_or_default();
    let arn = get_ci(m, arn_key).and_then(scalar).unwrap_or_default();
    let sso = if arn_key == "rolearn" {
        get_ci(m, "sso").and_then(Value::as_mapping)
    } else {
        None
    };
    let (arn, is_sso) = match (arn.is_empty(), sso) {
        (false, Some(_)) => return Err(format!("only one of {arn_key} or sso may be given")),
        (true, None) => return Err(format!("{arn_key} is missing")),
        (false, None) => {
            if !arn_shaped(&arn.to_ascii_lowercase(), kind) {
                return Err(format!("{arn_key} {arn:?} is not an IAM {kind} ARN"));
            }
            (arn.to_ascii_lowercase(), false)
        }
        (true, Some(s)) => (sso_prefix(s)?, true),
    };
    if username.is_empty() {
        return Err("username is missing".into());
    }
    Ok(Mapping {
        arn,
        sso: is_sso,
        username,
        groups,
    })
}

/// An `sso: {permissionSetName, accountID, partition}` matcher → the lower-case prefix of
/// the IAM Identity Center role ARNs it matches (`…:role/AWSReservedSSO_NAME_`).
fn sso_prefix(s: &serde_yaml::Mapping) -> Result<String, String> {
    let set = get_ci(s, "permissionSetName")
        .and_then(scalar)
        .unwrap_or_default();
    let acct = get_ci(s, "accountID").and_then(scalar).unwrap_or_default();
    let part = get_ci(s, "partition")
        .and_then(scalar)
        .unwrap_or_else(|| "aws".into());
    if set.is_empty() || acct.len() != 12 || !acct.bytes().all(|b| b.is_ascii_digit()) {
        return Err("sso needs permissionSetName and a 12-digit accountID".into());
    }
    Ok(format!("arn:{part}:iam::{acct}:role/awsreservedsso_{set}_").to_ascii_lowercase())
}

fn list(data: &BTreeMap<String, String>, key: &str, out: &mut AwsAuth) -> Vec<Value> {
    let Some(text) = data.get(key) else {
        return Vec::new();
    };
    match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Sequence(s)) => s,
        Ok(Value::Null) => Vec::new(),
        Ok(_) => {
            out.problems.push(format!("{key}: not a YAML list"));
            Vec::new()
        }
        Err(e) => {
            out.problems
                .push(format!("{key}: YAML does not parse: {e}"));
            Vec::new()
        }
    }
}

/// Reads the ConfigMap's `data`.
pub fn parse(data: &BTreeMap<String, String>) -> AwsAuth {
    let mut out = AwsAuth::default();
    for (i, v) in list(data, "mapRoles", &mut out).iter().enumerate() {
        match entry(v, "rolearn", "role/") {
            Ok(m) => out.roles.push(m),
            Err(e) => out.problems.push(format!("mapRoles[{i}] dropped: {e}")),
        }
    }
    for (i, v) in list(data, "mapUsers", &mut out).iter().enumerate() {
        match entry(v, "userarn", "user/") {
            Ok(m) => out.users.push(m),
            Err(e) => out.problems.push(format!("mapUsers[{i}] dropped: {e}")),
        }
    }
    for (i, v) in list(data, "mapAccounts", &mut out).iter().enumerate() {
        match scalar(v) {
            Some(a) if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) => {
                out.accounts.push(a)
            }
            _ => out.problems.push(format!(
                "mapAccounts[{i}] dropped: not a 12-digit account id"
            )),
        }
    }
    out
}

/// `aws-auth` as stored in `cluster` now (`None` when there is no ConfigMap).
pub fn load(conn: &rusqlite::Connection, cluster: &str) -> crate::KubeResult<Option<AwsAuth>> {
    let key = crate::objects::Key {
        cluster,
        resource: "configmaps",
        namespace: NAMESPACE,
    };
    Ok(crate::objects::get(conn, key, NAME)?.map(|cm| {
        let data = serde_json::from_value(cm["data"].clone()).unwrap_or_default();
        parse(&data)
    }))
}

impl AwsAuth {
    /// The mapping of `caller`, if any.
    pub fn matching(&self, caller: &StsCaller) -> Option<Matched> {
        let canonical = caller.canonical_arn();
        let lower = canonical.to_ascii_lowercase();
        let hit = |m: &&Mapping| {
            if m.sso {
                lower
                    .strip_prefix(&m.arn)
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
            } else {
                m.arn == lower
            }
        };
        if let Some(m) = self.roles.iter().find(hit) {
            return Some(Matched {
                username: m.username.clone(),
                groups: m.groups.clone(),
                from: "mapRoles",
            });
        }
        if let Some(m) = self.users.iter().find(hit) {
            return Some(Matched {
                username: m.username.clone(),
                groups: m.groups.clone(),
                from: "mapUsers",
            });
        }
        self.accounts.contains(&caller.account).then(|| Matched {
            username: canonical,
            groups: Vec::new(),
            from: "mapAccounts",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caller(arn: &str) -> StsCaller {
        StsCaller {
            account: "123456789012".into(),
            arn: arn.into(),
            user_id: "AROAX:s".into(),
            access_key_id: "ASIA".into(),
            principal_arn: String::new(),
        }
    }

    fn data(roles: &str, users: &str, accounts: &str) -> BTreeMap<String, String> {
        let mut d = BTreeMap::new();
        for (k, v) in [
            ("mapRoles", roles),
            ("mapUsers", users),
            ("mapAccounts", accounts),
        ] {
            if !v.is_empty() {
                d.insert(k.to_string(), v.to_string());
            }
        }
        d
    }

    #[test]
    fn matching_table() {
        let roles = "- rolearn: arn:aws:iam::123456789012:role/Admin\n  username: admin\n  groups: [system:masters]\n\
                     - rolearn: arn:aws:iam::123456789012:role/ops/Pathed\n  username: pathed\n\
                     - RoleARN: ARN:AWS:IAM::123456789012:ROLE/Shouty\n  UserName: shouty\n\
                     - username: no-arn\n\
                     - rolearn: arn:aws:iam::123456789012:role/Bad\n  username: bad\n  groups: system:masters\n\
                     - sso: {permissionSetName: Dev, accountID: \"123456789012\"}\n  username: sso-{{SessionName}}\n\
                     - rolearn: arn:aws:iam::123456789012:role/Admin\n  username: second\n";
        let users = "- userarn: arn:aws:iam::123456789012:user/alice\n  username: alice\n  groups: [devs]\n";
        let a = parse(&data(roles, users, "- \"210987654321\"\n- 12\n"));
        assert_eq!(a.roles.len(), 5, "{:?}", a.problems);
        assert_eq!(a.problems.len(), 3, "{:?}", a.problems);
        type Case<'a> = (&'a str, &'a str, Option<(&'a str, &'a [&'a str])>);
        let cases: &[Case] = &[
            (
                "123456789012",
                "arn:aws:sts::123456789012:assumed-role/Admin/s",
                Some(("admin", &["system:masters"])),
            ),
            (
                "123456789012",
                "arn:aws:sts::123456789012:assumed-role/admin/s",
                Some(("admin", &["system:masters"])),
            ),
            (
                "123456789012",
                "arn:aws:sts::123456789012:assumed-role/Pathed/s",
                None,
            ),
            (
                "123456789012",
                "arn:aws:sts::123456789012:assumed-role/shouty/s",
                Some(("shouty", &[])),
            ),
            (
                "123456789012",
                "arn:aws:sts::123456789012:assumed-role/Bad/s",
                None,
            ),
            (
                "123456789012",
                "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Dev_0123abcd/me",
                Some(("sso-{{SessionName}}", &[])),
            ),
            (
                "123456789012",
                "arn:aws:iam::123456789012:user/alice",
                Some(("alice", &["devs"])),
            ),
            ("123456789012", "arn:aws:iam::123456789012:user/bob", None),
            (
                "210987654321",
                "arn:aws:iam::210987654321:user/carol",
                Some(("arn:aws:iam::210987654321:user/carol", &[])),
            ),
        ];
        for (acct, arn, want) in cases {
            let mut c = caller(arn);
            c.account = acct.to_string();
            let got = a.matching(&c).map(|m| (m.username, m.groups));
            let want = want.map(|(u, g)| {
                (
                    u.to_string(),
                    g.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                )
            });
            assert_eq!(got, want, "{arn}");
        }
    }

    #[test]
    fn unparsable_keys_map_nobody_but_others_still_do() {
        let a = parse(&data(
            "- rolearn: [unclosed",
            "- userarn: arn:aws:iam::123456789012:user/alice\n  username: alice\n",
            "",
        ));
        assert!(a.roles.is_empty());
        assert_eq!(a.users.len(), 1);
        assert_eq!(a.problems.len(), 1);
        assert_eq!(parse(&BTreeMap::new()), AwsAuth::default());
    }
}
