//! Who a verified token names, as aws-iam-authenticator reports it: the STS caller, its
//! canonical ARN (an assumed-role session becomes its role, without a path: STS does not
//! carry it), and the username templates aws-auth and access entries may use.

use std::collections::BTreeMap;

/// The STS caller behind a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsCaller {
    pub account: String,
    /// As GetCallerIdentity answers (`arn:P:sts::A:assumed-role/NAME/SESSION`, a user ARN…).
    pub arn: String,
    /// GetCallerIdentity's UserId (`AROA…:SESSION`, `AIDA…`).
    pub user_id: String,
    pub access_key_id: String,
    /// The IAM principal with its path (the simulator knows it; EKS finds it by id).
    pub principal_arn: String,
}

impl StsCaller {
    /// The authenticator's canonical ARN.
    pub fn canonical_arn(&self) -> String {
        canonicalize(&self.arn).unwrap_or_else(|| self.arn.clone())
    }

    /// The session name of an assumed-role (or federated) identity.
    pub fn session_name(&self) -> Option<&str> {
        let res = self.arn.splitn(6, ':').nth(5)?;
        let rest = res.strip_prefix("assumed-role/")?;
        rest.split_once('/').map(|(_, s)| s)
    }

    /// The role or user id: `UserId` before its `:SESSION`.
    pub fn principal_id(&self) -> &str {
        self.user_id.split(':').next().unwrap_or_default()
    }
}

/// `arn:P:sts::A:assumed-role/NAME/SESSION` → `arn:P:iam::A:role/NAME`; IAM user and role
/// ARNs, roots and federated users unchanged. `None` for what is not an identity ARN.
pub fn canonicalize(arn: &str) -> Option<String> {
    let f: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, part, service, "", account, res] = f.as_slice() else {
        return None;
    };
    if *prefix != "arn" || account.len() != 12 {
        return None;
    }
    match *service {
        "sts" => {
            if let Some(rest) = res.strip_prefix("assumed-role/") {
                let (role, session) = rest.split_once('/')?;
                if role.is_empty() || session.is_empty() {
                    return None;
                }
                return Some(format!("arn:{part}:iam::{account}:role/{role}"));
            }
            res.starts_with("federated-user/").then(|| arn.to_string())
        }
        "iam" if *res == "root" || res.starts_with("user/") || res.starts_with("role/") => {
            Some(arn.to_string())
        }
        _ => None,
    }
}

/// Whether `s` has the shape of an EC2 instance id (`i-` and 8 or 17 hex digits).
pub fn is_instance_id(s: &str) -> bool {
    s.strip_prefix("i-").is_some_and(|h| {
        (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// The private DNS name the simulator gives an instance: stable per instance id, in the
/// form EC2 uses (`ip-10-X-Y-Z.REGION.compute.internal`; `ec2.internal` in us-east-1).
pub fn private_dns_name(instance_id: &str, region: &str) -> String {
    let h = instance_id.bytes().fold(2166136261u32, |a, b| {
        (a ^ u32::from(b)).wrapping_mul(16777619)
    });
    let [a, b, c, _] = h.to_be_bytes();
    let domain = if region == "us-east-1" {
        "ec2.internal".to_string()
    } else {
        format!("{region}.compute.internal")
    };
    format!("ip-10-{a}-{b}-{}.{domain}", c.max(1))
}

/// Renders a username template; `None` when it names `{{EC2PrivateDNSName}}` and the
/// session is not an instance (the authenticator refuses the identity then).
pub fn render(template: &str, caller: &StsCaller, region: &str) -> Option<String> {
    let mut out = template.to_string();
    if out.contains("{{EC2PrivateDNSName}}") {
        let id = caller.session_name().filter(|s| is_instance_id(s))?;
        out = out.replace("{{EC2PrivateDNSName}}", &private_dns_name(id, region));
    }
    let session = caller.session_name().unwrap_or_default();
    Some(
        out.replace("{{AccountID}}", &caller.account)
            .replace("{{SessionNameRaw}}", session)
            .replace("{{SessionName}}", &session.replace('@', "-"))
            .replace("{{AccessKeyID}}", &caller.access_key_id),
    )
}

/// The authenticated user, as the API server sees it (`UserInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserInfo {
    pub username: String,
    pub uid: String,
    /// The mapped groups, then `system:authenticated` (or `system:unauthenticated`).
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

pub const ANONYMOUS: &str = "system:anonymous";
pub const AUTHENTICATED: &str = "system:authenticated";
pub const MASTERS: &str = "system:masters";

impl UserInfo {
    /// No token at all.
    pub fn anonymous() -> UserInfo {
        UserInfo {
            username: ANONYMOUS.into(),
            uid: String::new(),
            groups: vec!["system:unauthenticated".into()],
            extra: BTreeMap::new(),
        }
    }

    /// A mapped identity: the authenticator's uid and extra fields.
    pub fn mapped(caller: &StsCaller, username: String, mut groups: Vec<String>) -> UserInfo {
        if !groups.iter().any(|g| g == AUTHENTICATED) {
            groups.push(AUTHENTICATED.into());
        }
        let mut extra = BTreeMap::new();
        extra.insert("accessKeyId".into(), vec![caller.access_key_id.clone()]);
        extra.insert("arn".into(), vec![caller.arn.clone()]);
        extra.insert("canonicalArn".into(), vec![caller.canonical_arn()]);
        extra.insert("principalId".into(), vec![caller.user_id.clone()]);
        if let Some(s) = caller.session_name() {
            extra.insert("sessionName".into(), vec![s.to_string()]);
        }
        UserInfo {
            uid: format!(
                "aws-iam-authenticator:{}:{}",
                caller.account, caller.user_id
            ),
            username,
            groups,
            extra,
        }
    }

    pub fn in_group(&self, g: &str) -> bool {
        self.groups.iter().any(|x| x == g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_arns() {
        let cases = [
            (
                "arn:aws:sts::123456789012:assumed-role/Admin/me@x.com",
                Some("arn:aws:iam::123456789012:role/Admin"),
            ),
            (
                "arn:aws-cn:sts::123456789012:assumed-role/R/s",
                Some("arn:aws-cn:iam::123456789012:role/R"),
            ),
            (
                "arn:aws:iam::123456789012:user/ops/alice",
                Some("arn:aws:iam::123456789012:user/ops/alice"),
            ),
            (
                "arn:aws:iam::123456789012:root",
                Some("arn:aws:iam::123456789012:root"),
            ),
            ("arn:aws:sts::123456789012:assumed-role/R", None),
            ("arn:aws:s3:::bucket", None),
            ("nonsense", None),
        ];
        for (arn, want) in cases {
            assert_eq!(canonicalize(arn).as_deref(), want, "{arn}");
        }
    }

    fn caller(arn: &str) -> StsCaller {
        StsCaller {
            account: "123456789012".into(),
            arn: arn.into(),
            user_id: "AROAEXAMPLE:sess".into(),
            access_key_id: "ASIAKEY".into(),
            principal_arn: String::new(),
        }
    }

    #[test]
    fn templates() {
        let c = caller("arn:aws:sts::123456789012:assumed-role/R/me@x.com");
        let cases = [
            ("u-{{SessionName}}", Some("u-me-x.com")),
            ("u-{{SessionNameRaw}}", Some("u-me@x.com")),
            (
                "{{AccountID}}:{{AccessKeyID}}",
                Some("123456789012:ASIAKEY"),
            ),
            ("system:node:{{EC2PrivateDNSName}}", None),
        ];
        for (t, want) in cases {
            assert_eq!(render(t, &c, "eu-west-1").as_deref(), want, "{t}");
        }
        let node = caller("arn:aws:sts::123456789012:assumed-role/Node/i-0123456789abcdef0");
        let name = render("system:node:{{EC2PrivateDNSName}}", &node, "eu-west-1").unwrap();
        assert!(name.starts_with("system:node:ip-10-"), "{name}");
        assert!(name.ends_with(".eu-west-1.compute.internal"), "{name}");
        assert!(is_instance_id("i-0123abcd"));
        assert!(!is_instance_id("i-xyz"));
    }
}
