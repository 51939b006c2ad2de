//! The AWS-managed access policies (ListAccessPolicies), as the EKS User Guide lists them.
//! Their ARNs are global to a partition: `arn:PARTITION:eks::aws:cluster-access-policy/NAME`.
//!
//! AssociateAccessPolicy / DisassociateAccessPolicy / ListAssociatedAccessPolicies /
//! ListAccessPolicies.

use super::access_entries::{as_seen, find_entry, require_api};
use super::errors::{entry_not_found, invalid_param, not_found, standard_only};
use super::paging::{check_max_results, decode_token, page_of};
use super::parse_json;
use super::settle::{with_cluster_read, with_cluster_write};
use super::types::{AccessPolicy, AccessScope, AssociatedAccessPolicy, Page};
use crate::error::SimResult;
use crate::{Ctx, Sim};
use rusqlite::params;

/// Names, in the (alphabetical) order ListAccessPolicies returns them.
pub const ACCESS_POLICY_NAMES: &[&str] = &[
    "AmazonAIOpsAssistantPolicy",
    "AmazonARCRegionSwitchScalingPolicy",
    "AmazonEKSAdminPolicy",
    "AmazonEKSAdminViewPolicy",
    "AmazonEKSAutoNodePolicy",
    "AmazonEKSBlockStorageClusterPolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSClusterAdminPolicy",
    "AmazonEKSClusterInsightsPolicy",
    "AmazonEKSComputeClusterPolicy",
    "AmazonEKSComputePolicy",
    "AmazonEKSEditPolicy",
    "AmazonEKSHybridPolicy",
    "AmazonEKSLoadBalancingClusterPolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingClusterPolicy",
    "AmazonEKSNetworkingPolicy",
    "AmazonEKSSecretReaderPolicy",
    "AmazonEKSViewPolicy",
];

/// The admin policy EKS gives a cluster's creator.
pub const CLUSTER_ADMIN_POLICY: &str = "AmazonEKSClusterAdminPolicy";
/// The only policy an `EC2` (Auto Mode node) entry can take.
pub const AUTO_NODE_POLICY: &str = "AmazonEKSAutoNodePolicy";

pub fn policy_arn(partition: &str, name: &str) -> String {
    format!("arn:{partition}:eks::aws:cluster-access-policy/{name}")
}

/// The policy name of `arn` if it is a known policy ARN in `partition`.
pub fn policy_name<'a>(partition: &str, arn: &'a str) -> Option<&'a str> {
    let rest = arn.strip_prefix("arn:")?;
    let rest = rest.strip_prefix(partition)?;
    let name = rest.strip_prefix(":eks::aws:cluster-access-policy/")?;
    ACCESS_POLICY_NAMES.contains(&name).then_some(name)
}

pub(super) fn check_scope(scope: &AccessScope) -> SimResult<AccessScope> {
    match scope.kind.as_deref() {
        Some("cluster") => {
            if !scope.namespaces.is_empty() {
                return Err(invalid_param(
                    "namespaces cannot be specified when the accessScope type is cluster.",
                ));
            }
            Ok(AccessScope {
                kind: Some("cluster".into()),
                namespaces: vec![],
            })
        }
        Some("namespace") => {
            if scope.namespaces.is_empty() {
                return Err(invalid_param(
                    "At least one namespace must be specified when the accessScope type is namespace.",
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for ns in &scope.namespaces {
                if !valid_namespace(ns) {
                    return Err(invalid_param(format!(
                        "The namespace '{ns}' is invalid: it must be a valid Kubernetes namespace name (a DNS-1123 label), optionally ending with '*'."
                    )));
                }
                if !seen.insert(ns.as_str()) {
                    return Err(invalid_param(format!("Duplicate namespace '{ns}'.")));
                }
            }
            Ok(AccessScope {
                kind: Some("namespace".into()),
                namespaces: scope.namespaces.clone(),
            })
        }
        Some(other) => Err(invalid_param(format!(
            "The accessScope type '{other}' is invalid. Valid values: cluster, namespace."
        ))),
        None => Err(invalid_param("accessScope.type must be specified.")),
    }
}

pub(super) fn assoc_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AssociatedAccessPolicy> {
    let scope_type: String = r.get(1)?;
    let ns: String = r.get(2)?;
    Ok(AssociatedAccessPolicy {
        policy_arn: r.get(0)?,
        access_scope: AccessScope {
            kind: Some(scope_type),
            namespaces: parse_json(&ns),
        },
        associated_at: r.get(3)?,
        modified_at: r.get(4)?,
    })
}

pub fn associate_access_policy(
    sim: &Sim,
    ctx: &Ctx,
    cluster: &str,
    principal_arn: &str,
    policy_arn: &str,
    scope: &AccessScope,
) -> SimResult<AssociatedAccessPolicy> {
    let now = ctx.now_ms;
    with_cluster_write(sim, ctx, cluster, |tx, _, c| {
        require_api(&c)?;
        let e = find_entry(tx, c.id, principal_arn)?.ok_or_else(entry_not_found)?;
        let name = policy_name(c.partition(), policy_arn).ok_or_else(|| {
            invalid_param(format!(
                "The specified policyArn '{policy_arn}' is invalid."
            ))
        })?;
        let allowed = e.kind == "STANDARD" || (e.kind == "EC2" && name == AUTO_NODE_POLICY);
        if !allowed {
            return Err(standard_only());
        }
        let scope = check_scope(scope)?;
        let ns_json = serde_json::to_string(&scope.namespaces).unwrap_or_else(|_| "[]".into());
        tx.prepare_cached(
            "INSERT INTO eks_policy_assocs (cluster_id, principal_arn, policy_arn, scope_type, \
             namespaces_json, associated_ms, modified_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) \
             ON CONFLICT (cluster_id, principal_arn, policy_arn) DO UPDATE SET \
             scope_type = excluded.scope_type, namespaces_json = excluded.namespaces_json, \
             modified_ms = excluded.modified_ms",
        )?
        .execute(params![
            c.id,
            principal_arn,
            policy_arn,
            scope.kind.as_deref().unwrap_or("cluster"),
            ns_json,
            now
        ])?;
        let out = tx
            .prepare_cached(
                "SELECT policy_arn, scope_type, namespaces_json, associated_ms, modified_ms \
                 FROM eks_policy_assocs WHERE cluster_id = ?1 AND principal_arn = ?2 AND policy_arn = ?3",
            )?
            .query_row(params![c.id, principal_arn, policy_arn], assoc_from_row)?;
        Ok(out)
    })
}

pub fn disassociate_access_policy(
    sim: &Sim,
    ctx: &Ctx,
    cluster: &str,
    principal_arn: &str,
    policy_arn: &str,
) -> SimResult<()> {
    with_cluster_write(sim, ctx, cluster, |tx, _, c| {
        require_api(&c)?;
        let e = find_entry(tx, c.id, principal_arn)?.ok_or_else(entry_not_found)?;
        if e.kind != "STANDARD" && e.kind != "EC2" {
            return Err(standard_only());
        }
        let n = tx
            .prepare_cached(
                "DELETE FROM eks_policy_assocs WHERE cluster_id = ?1 AND principal_arn = ?2 AND policy_arn = ?3",
            )?
            .execute(params![c.id, principal_arn, policy_arn])?;
        if n == 0 {
            return Err(not_found(format!(
                "The specified policyArn '{policy_arn}' is not associated with this access entry."
            )));
        }
        Ok(())
    })
}

pub fn list_associated_access_policies(
    sim: &Sim,
    ctx: &Ctx,
    cluster: &str,
    principal_arn: &str,
    max_results: Option<i32>,
    next_token: Option<&str>,
) -> SimResult<Page<AssociatedAccessPolicy>> {
    let max = check_max_results(max_results)?;
    let after = decode_token(next_token)?;
    with_cluster_read(sim, ctx, cluster, true, |conn, settings, c| {
        require_api(c)?;
        let e = find_entry(conn, c.id, principal_arn)?
            .and_then(|e| as_seen(e, settings, ctx.now_ms))
            .ok_or_else(entry_not_found)?;
        if e.kind != "STANDARD" && e.kind != "EC2" {
            return Err(standard_only());
        }
        let all: Vec<AssociatedAccessPolicy> = {
            let mut st = conn.prepare_cached(
                "SELECT policy_arn, scope_type, namespaces_json, associated_ms, modified_ms \
                 FROM eks_policy_assocs WHERE cluster_id = ?1 AND principal_arn = ?2 ORDER BY policy_arn",
            )?;
            let rows = st.query_map(params![c.id, principal_arn], assoc_from_row)?;
            rows.collect::<Result<_, _>>()?
        };
        Ok(page_of(
            &all,
            |a| a.policy_arn.as_str(),
            after.as_deref(),
            max,
        ))
    })
}

pub fn list_access_policies(
    ctx: &Ctx,
    max_results: Option<i32>,
    next_token: Option<&str>,
) -> SimResult<Page<AccessPolicy>> {
    let max = check_max_results(max_results)?;
    let after = decode_token(next_token)?;
    let all: Vec<AccessPolicy> = ACCESS_POLICY_NAMES
        .iter()
        .map(|n| AccessPolicy {
            name: n.to_string(),
            arn: policy_arn(ctx.partition(), n),
        })
        .collect();
    Ok(page_of(&all, |p| p.name.as_str(), after.as_deref(), max))
}

/// A Kubernetes namespace in an access scope: a DNS-1123 label, optionally ending in `*`
/// (EKS accepts a trailing wildcard).
fn valid_namespace(ns: &str) -> bool {
    let body = ns.strip_suffix('*').unwrap_or(ns);
    if ns.is_empty() || ns.len() > 63 || body.contains('*') {
        return false;
    }
    if body.is_empty() {
        // a lone "*" is not accepted
        return false;
    }
    let b = body.as_bytes();
    let ok_chars = b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    let starts_ok = b[0].is_ascii_alphanumeric();
    let ends_ok = ns.ends_with('*') || b[b.len() - 1].is_ascii_alphanumeric();
    ok_chars && starts_ok && ends_ok
}
