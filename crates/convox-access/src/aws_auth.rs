//! The `aws-auth` ConfigMap as aws-iam-authenticator reads it: `mapRoles`, `mapUsers`,
//! `mapAccounts`, each a YAML string; keys inside an entry case-insensitive; an invalid entry
//! dropped (with a warning naming it) and the others kept; a key whose YAML does not parse
//! maps nobody.

use std::collections::BTreeMap;

use serde::Serialize;

/// A role or a user mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MappingKind {
    Role,
    User,
}

/// One mapping that the authenticator would use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapping {
    pub kind: MappingKind,
    /// `rolearn` / `userarn` as written.
    pub arn: String,
    pub username: String,
    pub groups: Vec<String>,
}

impl Mapping {
    /// The node mapping EKS writes for node groups (`system:node:{{EC2PrivateDNSName}}`).
    pub fn is_node(&self) -> bool {
        self.username == "system:node:{{EC2PrivateDNSName}}"
    }
    pub fn is_windows_node(&self) -> bool {
        self.is_node() && self.groups.iter().any(|g| g == "eks:kube-proxy-windows")
    }
    /// `system:masters`: cluster admin whatever RBAC says.
    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == "system:masters")
    }
    /// A role ARN with a path never matches (the authenticator compares canonical ARNs).
    pub fn has_path(&self) -> bool {
        self.kind == MappingKind::Role && arn_resource(&self.arn).matches('/').count() > 1
    }
}

/// What `aws-auth` holds, as the authenticator would use it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AwsAuth {
    /// Role mappings, then user mappings (the authenticator's order of matching).
    pub mappings: Vec<Mapping>,
    pub accounts: Vec<String>,
    /// One line per entry dropped or key ignored, naming it.
    pub warnings: Vec<String>,
}

impl AwsAuth {
    /// The mapping the authenticator would use for a canonical principal ARN (roles first,
    /// first match wins, ARNs compared case-insensitively).
    pub fn mapping_for(&self, canonical_arn: &str) -> Option<&Mapping> {
        self.mappings
            .iter()
            .find(|m| m.arn.eq_ignore_ascii_case(canonical_arn))
    }
}

/// `arn:PART:iam::ACCT:RESOURCE` → RESOURCE (e.g. `role/path/Name`).
pub(crate) fn arn_resource(arn: &str) -> &str {
    arn.splitn(6, ':').nth(5).unwrap_or("")
}

/// `arn:PART:iam::ACCOUNT:role/…` or `…:user/…`, else why not.
fn check_arn(arn: &str, kind: MappingKind) -> Result<(), String> {
    let p: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = p.len() == 6
        && p[0] == "arn"
        && !p[1].is_empty()
        && (p[2] == "iam" || p[2] == "sts")
        && p[3].is_empty()
        && p[4].len() == 12
        && p[4].bytes().all(|b| b.is_ascii_digit());
    if !ok {
        return Err(format!("`{arn}` is not an IAM ARN"));
    }
    let want = match kind {
        MappingKind::Role => ["role/", "assumed-role/"],
        MappingKind::User => ["user/", "user/"],
    };
    if !want.iter().any(|w| p[5].starts_with(w)) || p[5].ends_with('/') {
        return Err(format!("`{arn}` is not the ARN of an IAM {kind:?}").to_lowercase());
    }
    Ok(())
}

fn text(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// One item of `mapRoles`/`mapUsers`, or why it is dropped.
fn entry(item: &serde_yaml::Value, kind: MappingKind) -> Result<(Mapping, Vec<String>), String> {
    let serde_yaml::Value::Mapping(m) = item else {
        return Err("not a mapping of keys to values".into());
    };
    let arn_key = match kind {
        MappingKind::Role => "rolearn",
        MappingKind::User => "userarn",
    };
    let (mut arn, mut username, mut groups, mut unknown) = (None, None, Vec::new(), Vec::new());
    for (k, v) in m {
        let key = text(k).unwrap_or_default();
        match key.to_ascii_lowercase().as_str() {
            k if k == arn_key => arn = text(v),
            "username" => username = text(v),
            "groups" => match v {
                serde_yaml::Value::Sequence(s) => {
                    groups = s
                        .iter()
                        .map(|g| text(g).ok_or_else(|| "a group that is not a string".to_string()))
                        .collect::<Result<_, _>>()?
                }
                serde_yaml::Value::Null => {}
                _ => return Err("`groups` is not a list".into()),
            },
            "sso" if kind == MappingKind::Role => {
                return Err("an `sso` matcher (convox does not evaluate these)".into())
            }
            _ => unknown.push(key),
        }
    }
    let arn = arn
        .filter(|a| !a.is_empty())
        .ok_or_else(|| format!("no `{arn_key}`"))?;
    check_arn(&arn, kind)?;
    let username = username
        .filter(|u| !u.is_empty())
        .ok_or_else(|| format!("`{arn}` has no username"))?;
    let notes = unknown
        .into_iter()
        .map(|k| format!("aws-auth: unknown key `{k}` in the mapping of {arn} ignored"))
        .collect();
    Ok((
        Mapping {
            kind,
            arn,
            username,
            groups,
        },
        notes,
    ))
}

fn parse_list(data: &BTreeMap<String, String>, key: &str, kind: MappingKind, out: &mut AwsAuth) {
    let Some(raw) = data.get(key) else { return };
    let items: serde_yaml::Value = match serde_yaml::from_str(raw) {
        Ok(v) => v,
        Err(e) => {
            out.warnings.push(format!(
                "aws-auth: {key} is not valid YAML ({e}): it maps nobody"
            ));
            return;
        }
    };
    let items = match items {
        serde_yaml::Value::Sequence(s) => s,
        serde_yaml::Value::Null => return,
        _ => {
            out.warnings
                .push(format!("aws-auth: {key} is not a list: it maps nobody"));
            return;
        }
    };
    for (i, item) in items.iter().enumerate() {
        match entry(item, kind) {
            Ok((m, notes)) => {
                out.warnings.extend(notes);
                if out
                    .mappings
                    .iter()
                    .any(|o| o.arn.eq_ignore_ascii_case(&m.arn))
                {
                    out.warnings.push(format!(
                        "aws-auth: {key}[{i}] maps {} again: the first mapping applies, this one is ignored",
                        m.arn
                    ));
                    continue;
                }
                out.mappings.push(m);
            }
            Err(why) => out
                .warnings
                .push(format!("aws-auth: {key}[{i}] dropped: {why}")),
        }
    }
}

/// Parses the ConfigMap's `data`.
pub fn parse(data: &BTreeMap<String, String>) -> AwsAuth {
    let mut out = AwsAuth::default();
    parse_list(data, "mapRoles", MappingKind::Role, &mut out);
    parse_list(data, "mapUsers", MappingKind::User, &mut out);
    if let Some(raw) = data.get("mapAccounts") {
        match serde_yaml::from_str::<serde_yaml::Value>(raw) {
            Ok(serde_yaml::Value::Sequence(s)) => {
                for a in s {
                    match text(&a) {
                        Some(a) if a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()) => {
                            out.accounts.push(a)
                        }
                        _ => out.warnings.push(format!(
                            "aws-auth: mapAccounts entry {a:?} dropped: not an account ID"
                        )),
                    }
                }
            }
            Ok(serde_yaml::Value::Null) => {}
            _ => out
                .warnings
                .push("aws-auth: mapAccounts is not a list of account IDs: it maps nobody".into()),
        }
    }
    for k in data.keys() {
        if !matches!(k.as_str(), "mapRoles" | "mapUsers" | "mapAccounts") {
            out.warnings
                .push(format!("aws-auth: data key `{k}` is not read by EKS"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn valid_mappings_in_the_authenticators_order() {
        let a = parse(&data(&[
            ("mapUsers", "- userarn: arn:aws:iam::111122223333:user/alice\n  username: alice\n  groups: [dev]\n"),
            ("mapRoles", "- rolearn: arn:aws:iam::111122223333:role/nodes\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n  - system:bootstrappers\n  - system:nodes\n- RoleArn: arn:aws:iam::111122223333:role/admin\n  UserName: admin\n  Groups: [system:masters]\n"),
            ("mapAccounts", "- \"444455556666\"\n"),
        ]));
        assert!(a.warnings.is_empty(), "{:?}", a.warnings);
        let arns: Vec<_> = a.mappings.iter().map(|m| m.arn.as_str()).collect();
        assert_eq!(
            arns,
            [
                "arn:aws:iam::111122223333:role/nodes",
                "arn:aws:iam::111122223333:role/admin",
                "arn:aws:iam::111122223333:user/alice"
            ]
        );
        assert!(a.mappings[0].is_node());
        assert!(a.mappings[1].is_admin());
        assert_eq!(a.accounts, ["444455556666"]);
        assert!(a
            .mapping_for("ARN:AWS:IAM::111122223333:ROLE/ADMIN")
            .is_some());
    }

    #[test]
    fn invalid_entries_dropped_by_name_the_others_kept() {
        let cases: &[(&str, &str, &str)] = &[
            ("mapRoles", "- username: x\n", "mapRoles[0] dropped: no `rolearn`"),
            ("mapRoles", "- rolearn: not-an-arn\n  username: x\n", "`not-an-arn` is not an IAM ARN"),
            ("mapRoles", "- rolearn: arn:aws:iam::111122223333:role/r\n", "has no username"),
            ("mapRoles", "- rolearn: arn:aws:iam::111122223333:role/r\n  username: r\n  groups: admins\n", "`groups` is not a list"),
            ("mapUsers", "- userarn: arn:aws:iam::111122223333:role/r\n  username: r\n", "not the arn of an iam user"),
            ("mapRoles", "[unclosed", "mapRoles is not valid YAML"),
            ("mapRoles", "- rolearn: arn:aws:iam::111122223333:role/r\n  username: r\n  colour: blue\n", "unknown key `colour`"),
            ("mapRoles", "- rolearn: arn:aws:iam::111122223333:role/r\n  username: a\n- rolearn: arn:aws:iam::111122223333:role/R\n  username: b\n", "maps arn:aws:iam::111122223333:role/R again"),
            ("mapAccounts", "- 12\n", "mapAccounts entry"),
            ("other", "x", "data key `other` is not read by EKS"),
        ];
        for (key, yaml, warning) in cases {
            let mut d = data(&[(key, yaml)]);
            if *key != "mapUsers" {
                d.insert(
                    "mapUsers".into(),
                    "- userarn: arn:aws:iam::111122223333:user/kept\n  username: kept\n".into(),
                );
            }
            let a = parse(&d);
            assert!(
                a.warnings.iter().any(|w| w.contains(warning)),
                "{key}: {yaml:?}: {:?}",
                a.warnings
            );
            assert!(
                a.mapping_for("arn:aws:iam::111122223333:user/kept")
                    .is_some()
                    || *key == "mapUsers",
                "{key}: the valid mapping must be kept"
            );
        }
    }

    #[test]
    fn paths_are_seen() {
        let a = parse(&data(&[(
            "mapRoles",
            "- rolearn: arn:aws:iam::111122223333:role/convox/nodes\n  username: n\n",
        )]));
        assert!(a.mappings[0].has_path());
    }
}
