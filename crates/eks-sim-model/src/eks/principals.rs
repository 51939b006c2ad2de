//! IAM principal ARNs as access entries take them: parsing, the username EKS derives, and
//! the checks against IAM.

use super::errors::{invalid_param, invalid_principal};
use crate::error::SimResult;
use crate::iam::{self, PrincipalKind};
use rusqlite::Connection;

/// A parsed IAM principal ARN: `arn:PART:iam::ACCOUNT:(role|user)/[PATH/]NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalArn {
    pub partition: String,
    pub account: String,
    pub is_role: bool,
    /// Path between the resource type and the name, e.g. `/ops/` (`/` when none).
    pub path: String,
    pub name: String,
}

pub fn parse_principal_arn(arn: &str) -> Option<PrincipalArn> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(part), Some("iam"), Some(""), Some(acct), Some(res)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    if !crate::arn::is_partition(part)
        || acct.len() != 12
        || !acct.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let (is_role, rest) = if let Some(r) = res.strip_prefix("role/") {
        (true, r)
    } else if let Some(r) = res.strip_prefix("user/") {
        (false, r)
    } else {
        return None;
    };
    let (path, name) = match rest.rfind('/') {
        Some(i) => (format!("/{}/", &rest[..i]), &rest[i + 1..]),
        None => ("/".to_string(), rest),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    let path_ok = !path.contains("//") && path.len() <= 512;
    if !name_ok || !path_ok {
        return None;
    }
    Some(PrincipalArn {
        partition: part.to_string(),
        account: acct.to_string(),
        is_role,
        path,
        name: name.to_string(),
    })
}

/// The username EKS derives for an entry (EKS User Guide, "Create access entries").
pub fn default_username(kind: &str, p: &PrincipalArn, original_arn: &str) -> String {
    match kind {
        "EC2_LINUX" | "EC2_WINDOWS" | "EC2" => "system:node:{{EC2PrivateDNSName}}".to_string(),
        "FARGATE_LINUX" | "HYBRID_LINUX" | "HYPERPOD_LINUX" => {
            "system:node:{{SessionName}}".to_string()
        }
        _ if p.is_role => format!(
            "arn:{}:sts::{}:assumed-role/{}/{{{{SessionName}}}}",
            p.partition, p.account, p.name
        ),
        _ => original_arn.to_string(),
    }
}

/// Whether `arn` names an existing IAM role in `partition`.
pub(super) fn is_role_in(conn: &Connection, arn: &str, partition: &str) -> SimResult<bool> {
    let in_partition =
        parse_principal_arn(arn).is_some_and(|p| p.is_role && p.partition == partition);
    Ok(in_partition
        && matches!(
            iam::lookup_principal(conn, arn)?,
            Some(p) if matches!(p.kind, PrincipalKind::Role)
        ))
}

/// Checks `arn` as an access-entry principal: well-formed IAM role/user ARN, not a
/// service-linked role, existing in IAM. Returns the parsed ARN.
pub(super) fn check_principal(
    conn: &Connection,
    arn: &str,
    partition: &str,
) -> SimResult<PrincipalArn> {
    let p = parse_principal_arn(arn).ok_or_else(invalid_principal)?;
    // IAM principals live in the cluster's partition; an `aws` ARN names nothing in China.
    if p.partition != partition {
        return Err(invalid_principal());
    }
    if p.is_role && p.path.starts_with("/aws-service-role/") {
        return Err(invalid_param(
            "The specified principalArn is invalid: access entries do not support service-linked roles.",
        ));
    }
    let found = iam::lookup_principal(conn, arn)?;
    match found {
        Some(pr) if matches!(pr.kind, PrincipalKind::Role) == p.is_role => Ok(p),
        _ => Err(invalid_principal()),
    }
}
