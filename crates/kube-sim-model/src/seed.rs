//! What every cluster's Kubernetes API starts with: the four namespaces and Kubernetes's
//! default RBAC roles and bindings. Seeded at the cluster's first request, once.

use crate::objects::{self, Key};
use crate::rbac;
use crate::resources::RBAC_GROUP;
use crate::status::KubeResult;
use rusqlite::Connection;
use serde_json::json;

pub const NAMESPACES: &[&str] = &["default", "kube-node-lease", "kube-public", "kube-system"];

/// Whether `cluster` was seeded already.
pub fn seeded(conn: &Connection, cluster: &str) -> KubeResult<bool> {
    Ok(objects::current_rv(conn, cluster)? > 0)
}

/// Seeds `cluster` if it was not (run in a write transaction).
pub fn ensure(conn: &Connection, cluster: &str, now: i64) -> KubeResult<()> {
    if seeded(conn, cluster)? {
        return Ok(());
    }
    let ns_key = Key {
        cluster,
        resource: "namespaces",
        namespace: "",
    };
    for ns in NAMESPACES {
        let body = json!({
            "kind": "Namespace",
            "apiVersion": "v1",
            "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        });
        objects::create(conn, ns_key, body, now)?;
    }
    let cr = format!("clusterroles.{RBAC_GROUP}");
    let crb = format!("clusterrolebindings.{RBAC_GROUP}");
    for (name, rules) in rbac::default_cluster_roles() {
        let k = Key {
            cluster,
            resource: &cr,
            namespace: "",
        };
        objects::create(conn, k, rbac::cluster_role_object(name, &rules), now)?;
    }
    for (name, role, groups) in rbac::default_cluster_role_bindings() {
        let k = Key {
            cluster,
            resource: &crb,
            namespace: "",
        };
        objects::create(
            conn,
            k,
            rbac::cluster_role_binding_object(name, role, groups),
            now,
        )?;
    }
    Ok(())
}
