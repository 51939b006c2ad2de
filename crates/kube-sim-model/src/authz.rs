//! The decision for one request: `system:masters` always (Kubernetes's privileged group),
//! then the node rules, EKS access policies and RBAC as stored in the cluster, adding up.

use crate::identity::{UserInfo, MASTERS};
use crate::objects::{self, Key};
use crate::rbac::{self, Attributes, Binding, Rule};
use crate::resources::RBAC_GROUP;
use crate::status::KubeResult;
use eks_sim_model::eks::kube_view::PolicyGrant;
use rusqlite::Connection;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Why (what allowed it, or that nothing did), for the audit trail.
    pub reason: String,
}

fn crb_key() -> String {
    format!("clusterrolebindings.{RBAC_GROUP}")
}

/// The rules a binding grants (its role looked up in the store; a missing role grants
/// nothing, as in Kubernetes).
fn bound_rules(
    conn: &Connection,
    cluster: &str,
    binding_ns: &str,
    b: &Binding,
) -> KubeResult<Vec<Rule>> {
    let (resource, ns) = match b.role_ref.kind.as_str() {
        "ClusterRole" => (format!("clusterroles.{RBAC_GROUP}"), ""),
        "Role" if !binding_ns.is_empty() => (format!("roles.{RBAC_GROUP}"), binding_ns),
        _ => return Ok(Vec::new()),
    };
    let k = Key {
        cluster,
        resource: &resource,
        namespace: ns,
    };
    Ok(objects::get(conn, k, &b.role_ref.name)?
        .map(|r| rbac::rules_of(&r))
        .unwrap_or_default())
}

/// Every (binding name, rules) that applies to `u` in `namespace` (`""`: cluster bindings
/// only).
pub fn rbac_rules_for(
    conn: &Connection,
    cluster: &str,
    u: &UserInfo,
    namespace: &str,
) -> KubeResult<Vec<(String, Vec<Rule>)>> {
    let mut out = Vec::new();
    let mut consider = |conn: &Connection, obj: &Value, ns: &str, what: &str| -> KubeResult<()> {
        let b: Binding = serde_json::from_value(obj.clone()).unwrap_or_default();
        if b.subjects.iter().any(|s| s.matches(u, ns)) {
            let name = obj["metadata"]["name"].as_str().unwrap_or_default();
            out.push((
                format!("{what} {name:?}"),
                bound_rules(conn, cluster, ns, &b)?,
            ));
        }
        Ok(())
    };
    let (crbs, _) = objects::list(conn, cluster, &crb_key(), None)?;
    for obj in &crbs {
        consider(conn, obj, "", "ClusterRoleBinding")?;
    }
    if !namespace.is_empty() {
        let rb = format!("rolebindings.{RBAC_GROUP}");
        let (rbs, _) = objects::list(conn, cluster, &rb, Some(namespace))?;
        for obj in &rbs {
            consider(conn, obj, namespace, "RoleBinding")?;
        }
    }
    Ok(out)
}

pub fn authorize(
    conn: &Connection,
    cluster: &str,
    u: &UserInfo,
    policies: &[PolicyGrant],
    a: &Attributes,
) -> KubeResult<Decision> {
    let allow = |reason: String| {
        Ok(Decision {
            allowed: true,
            reason,
        })
    };
    if u.in_group(MASTERS) {
        return allow("group system:masters".into());
    }
    if rbac::node_allows(u, a) {
        return allow("node authorizer".into());
    }
    if rbac::policies_allow(policies, a) {
        let names: Vec<&str> = policies.iter().map(|p| p.policy.as_str()).collect();
        return allow(format!("access policies {}", names.join(", ")));
    }
    let ns = a
        .resource
        .as_ref()
        .map(|r| r.namespace.as_str())
        .unwrap_or("");
    for (binding, rules) in rbac_rules_for(conn, cluster, u, ns)? {
        if rules.iter().any(|r| r.allows(a)) {
            return allow(format!("RBAC: allowed by {binding}"));
        }
    }
    Ok(Decision {
        allowed: false,
        reason: "no RBAC rule or access policy allows it".into(),
    })
}
