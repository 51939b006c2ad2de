//! What EKS and the kubelets of managed node groups do on the Kubernetes side:
//! - a node group created in a mode that includes `CONFIG_MAP` gets its role added to
//!   `aws-auth` (`system:node:{{EC2PrivateDNSName}}`, `system:bootstrappers`,
//!   `system:nodes`), the ConfigMap created if needed (setting `auto_node_aws_auth`);
//! - each ACTIVE group runs `desiredSize` instances; each instance's kubelet authenticates as
//!   the node role with the instance id as session name, exactly as a user would (access
//!   entry, aws-auth, by mode); if that maps to `system:nodes` it registers its `Node`,
//!   otherwise it keeps retrying and the group reports EKS's `NodeCreationFailure`. A node
//!   that joined keeps working (its kubelet certificate), whatever happens to aws-auth later.
//!
//! Applied at the cluster's next request (Kubernetes or node-group read), in one
//! transaction, so every process sharing the state sees the same nodes.

use crate::awsauth;
use crate::identity::StsCaller;
use crate::objects::{self, rfc3339, Key};
use crate::status::KubeResult;
use crate::whois;
use eks_sim_model::eks::kube_view::{self, KubeCluster, NodegroupView};
use eks_sim_model::SimError;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS kube_nodegroups_seen (
    cluster TEXT NOT NULL,
    nodegroup_arn TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (cluster, nodegroup_arn, created_ms)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kube_instances (
    cluster TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    nodegroup TEXT NOT NULL,
    idx INTEGER NOT NULL,
    node TEXT NOT NULL,
    PRIMARY KEY (cluster, instance_id)
) WITHOUT ROWID;
"#;

pub const FAILURE_CODE: &str = "NodeCreationFailure";
pub const FAILURE_MESSAGE: &str = "Instances failed to join the kubernetes cluster";

fn sql<T>(r: rusqlite::Result<T>) -> KubeResult<T> {
    r.map_err(|e| SimError::from(e).into())
}

/// The instance id of the `idx`-th instance of a node group incarnation (stable).
pub fn instance_id(ng: &NodegroupView, idx: i64) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{}#{}#{idx}", ng.arn, ng.created_ms).bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    format!("i-0{:016x}", h)[..19].to_string()
}

fn seen(conn: &Connection, c: &KubeCluster, ng: &NodegroupView) -> KubeResult<bool> {
    Ok(sql(sql(conn.prepare_cached(
        "SELECT 1 FROM kube_nodegroups_seen WHERE cluster = ?1 AND nodegroup_arn = ?2 AND created_ms = ?3",
    ))?
    .query_row(params![c.endpoint_id, ng.arn, ng.created_ms], |_| Ok(()))
    .optional())?
    .is_some())
}

fn joined(conn: &Connection, c: &KubeCluster, iid: &str) -> KubeResult<bool> {
    Ok(sql(sql(
        conn.prepare_cached("SELECT 1 FROM kube_instances WHERE cluster = ?1 AND instance_id = ?2")
    )?
    .query_row(params![c.endpoint_id, iid], |_| Ok(()))
    .optional())?
    .is_some())
}

/// The node name the kubelet of `iid` gets, or `None` when its identity does not map to a
/// node (`system:node:NAME` in `system:nodes`).
fn kubelet_identity(
    conn: &Connection,
    c: &KubeCluster,
    role: &str,
    iid: &str,
) -> KubeResult<Option<String>> {
    // The instance profile's role is IAM's, whatever path the node group's ARN spelled.
    let Some((principal, role_id)) = kube_view::node_role_principal(conn, role)? else {
        return Ok(None);
    };
    let role = principal.as_str();
    let name = role.rsplit('/').next().unwrap_or_default();
    let caller = StsCaller {
        account: c.account.clone(),
        arn: format!(
            "arn:{}:sts::{}:assumed-role/{name}/{iid}",
            c.partition(),
            c.account
        ),
        user_id: format!("{role_id}:{iid}"),
        access_key_id: format!("ASIAKUBELET{}", &iid[2..11].to_ascii_uppercase()),
        principal_arn: role.to_string(),
    };
    let entry = if c.includes_api() {
        kube_view::entry_for(conn, c.id, role, &role_id)?
    } else {
        None
    };
    let auth = if c.includes_config_map() {
        awsauth::load(conn, &c.endpoint_id)?
    } else {
        None
    };
    let inputs = whois::Inputs {
        cluster: c,
        entry: entry.as_ref(),
        aws_auth: auth.as_ref(),
        creator_admin: false,
    };
    Ok(whois::resolve(&caller, &inputs).and_then(|r| {
        let node = r.user.username.strip_prefix("system:node:")?.to_string();
        r.user.in_group("system:nodes").then_some(node)
    }))
}

/// The `Node` a kubelet registers.
fn node_object(c: &KubeCluster, ng: &NodegroupView, iid: &str, name: &str, now: i64) -> Value {
    let t = rfc3339(now);
    let ip = name
        .strip_prefix("ip-")
        .and_then(|r| r.split('.').next())
        .unwrap_or("10-0-0-1")
        .replace('-', ".");
    json!({
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "eks.amazonaws.com/nodegroup": ng.name,
                "topology.kubernetes.io/region": c.region,
            },
        },
        "spec": {"providerID": format!("aws:///{}a/{iid}", c.region)},
        "status": {
            "conditions": [{
                "type": "Ready", "status": "True", "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
                "lastHeartbeatTime": t, "lastTransitionTime": t,
            }],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
            "nodeInfo": {
                "architecture": "amd64", "bootID": "", "containerRuntimeVersion": "containerd://1.7.27",
                "kernelVersion": "6.1.0", "kubeProxyVersion": "", "kubeletVersion": format!("v{}.0-eks-sim", c.version),
                "machineID": "", "operatingSystem": "linux", "osImage": "Amazon Linux 2023", "systemUUID": "",
            },
        },
    })
}

/// What one sync would change (`apply = false`) or changes (`apply = true`).
pub fn sync(
    conn: &Connection,
    c: &KubeCluster,
    add_to_aws_auth: bool,
    apply: bool,
    now: i64,
) -> KubeResult<bool> {
    let groups = kube_view::nodegroups(conn, c.id)?;
    let mut changed = remove_orphans(conn, c, &groups, apply)?;
    if changed && !apply {
        return Ok(true);
    }
    for ng in groups {
        if !seen(conn, c, &ng)? {
            if !apply {
                return Ok(true);
            }
            sql(sql(conn.prepare_cached(
                "INSERT INTO kube_nodegroups_seen (cluster, nodegroup_arn, created_ms) VALUES (?1, ?2, ?3)",
            ))?
            .execute(params![c.endpoint_id, ng.arn, ng.created_ms]))?;
            if add_to_aws_auth && c.includes_config_map() {
                add_node_role(conn, c, &ng.node_role, now)?;
            }
            changed = true;
        }
        if ng.status != "ACTIVE" {
            continue;
        }
        changed |= sync_group(conn, c, &ng, apply, now)?;
        if changed && !apply {
            return Ok(true);
        }
    }
    Ok(changed)
}

fn sync_group(
    conn: &Connection,
    c: &KubeCluster,
    ng: &NodegroupView,
    apply: bool,
    now: i64,
) -> KubeResult<bool> {
    let mut changed = false;
    let mut failed = Vec::new();
    for idx in 0..ng.desired_size.max(0) {
        let iid = instance_id(ng, idx);
        if joined(conn, c, &iid)? {
            continue;
        }
        let Some(name) = kubelet_identity(conn, c, &ng.node_role, &iid)? else {
            failed.push(iid);
            continue;
        };
        changed = true;
        if !apply {
            return Ok(true);
        }
        let k = Key {
            cluster: &c.endpoint_id,
            resource: "nodes",
            namespace: "",
        };
        if objects::get(conn, k, &name)?.is_none() {
            objects::create(conn, k, node_object(c, ng, &iid, &name, now), now)?;
        }
        sql(sql(conn.prepare_cached(
            "INSERT INTO kube_instances (cluster, instance_id, nodegroup, idx, node) VALUES (?1, ?2, ?3, ?4, ?5)",
        ))?
        .execute(params![c.endpoint_id, iid, ng.arn, idx, name]))?;
    }
    changed |= scale_down(conn, c, ng, apply)?;
    let health = if failed.is_empty() {
        json!({"issues": []})
    } else {
        json!({"issues": [{"code": FAILURE_CODE, "message": FAILURE_MESSAGE, "resourceIds": failed}]})
    };
    if apply {
        kube_view::set_nodegroup_health(conn, c.id, &ng.name, &health)?;
    }
    Ok(changed || health != current_health(conn, c, ng)?)
}

fn current_health(conn: &Connection, c: &KubeCluster, ng: &NodegroupView) -> KubeResult<Value> {
    let doc: Option<String> = sql(sql(conn.prepare_cached(
        "SELECT doc_json FROM eks_nodegroups WHERE cluster_id = ?1 AND name = ?2",
    ))?
    .query_row(params![c.id, ng.name], |r| r.get(0))
    .optional())?;
    let doc: Value = doc
        .and_then(|d| serde_json::from_str(&d).ok())
        .unwrap_or_default();
    Ok(doc.get("health").cloned().unwrap_or(json!({"issues": []})))
}

/// Instances beyond `desiredSize` are terminated: their nodes go away.
fn scale_down(
    conn: &Connection,
    c: &KubeCluster,
    ng: &NodegroupView,
    apply: bool,
) -> KubeResult<bool> {
    let extra: Vec<(String, String)> = {
        let mut st = sql(conn.prepare_cached(
            "SELECT instance_id, node FROM kube_instances WHERE cluster = ?1 AND nodegroup = ?2 AND idx >= ?3",
        ))?;
        let rows = sql(
            st.query_map(params![c.endpoint_id, ng.arn, ng.desired_size], |r| {
                Ok((r.get(0)?, r.get(1)?))
            }),
        )?;
        sql(rows.collect())?
    };
    if extra.is_empty() || !apply {
        return Ok(!extra.is_empty());
    }
    let k = Key {
        cluster: &c.endpoint_id,
        resource: "nodes",
        namespace: "",
    };
    for (iid, node) in extra {
        objects::delete(conn, k, &node)?;
        sql(conn.execute(
            "DELETE FROM kube_instances WHERE cluster = ?1 AND instance_id = ?2",
            params![c.endpoint_id, iid],
        ))?;
    }
    Ok(true)
}

/// Adds a node role to `aws-auth` as EKS does for managed node groups: the ARN the node
/// group was given, path and all (a path never matches, which is why Convox gives its node
/// role without one), creating the ConfigMap if there is none. A `mapRoles` that does not
/// parse is left alone.
pub fn add_node_role(conn: &Connection, c: &KubeCluster, role: &str, now: i64) -> KubeResult<()> {
    let arn = role.to_string();
    let mapping = json!({
        "rolearn": arn,
        "username": "system:node:{{EC2PrivateDNSName}}",
        "groups": ["system:bootstrappers", "system:nodes"],
    });
    let k = Key {
        cluster: &c.endpoint_id,
        resource: "configmaps",
        namespace: awsauth::NAMESPACE,
    };
    let Some(cm) = objects::get(conn, k, awsauth::NAME)? else {
        let text = serde_yaml::to_string(&vec![mapping]).unwrap_or_default();
        let body = json!({
            "kind": "ConfigMap", "apiVersion": "v1",
            "metadata": {"name": awsauth::NAME, "namespace": awsauth::NAMESPACE},
            "data": {"mapRoles": text},
        });
        objects::create(conn, k, body, now)?;
        return Ok(());
    };
    let current = cm["data"]["mapRoles"].as_str().unwrap_or("");
    let mut list: Vec<Value> = match serde_yaml::from_str::<Option<Vec<Value>>>(current) {
        Ok(l) => l.unwrap_or_default(),
        Err(_) => return Ok(()),
    };
    let present = list.iter().any(|m| {
        m["rolearn"]
            .as_str()
            .is_some_and(|r| r.eq_ignore_ascii_case(&arn))
    });
    if present {
        return Ok(());
    }
    list.push(mapping);
    let mut new = cm.clone();
    new["data"]["mapRoles"] = json!(serde_yaml::to_string(&list).unwrap_or_default());
    objects::replace(conn, k, &cm, new)?;
    Ok(())
}

/// Nodes of node groups that were deleted go with them.
fn remove_orphans(
    conn: &Connection,
    c: &KubeCluster,
    groups: &[NodegroupView],
    apply: bool,
) -> KubeResult<bool> {
    let all: Vec<(String, String, String)> = {
        let mut st = sql(conn.prepare_cached(
            "SELECT instance_id, nodegroup, node FROM kube_instances WHERE cluster = ?1",
        ))?;
        let rows = sql(st.query_map(params![c.endpoint_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        }))?;
        sql(rows.collect())?
    };
    let orphans: Vec<&(String, String, String)> = all
        .iter()
        .filter(|(_, ng, _)| !groups.iter().any(|g| g.arn == *ng))
        .collect();
    if orphans.is_empty() || !apply {
        return Ok(!orphans.is_empty());
    }
    let k = Key {
        cluster: &c.endpoint_id,
        resource: "nodes",
        namespace: "",
    };
    for (iid, _, node) in orphans {
        objects::delete(conn, k, node)?;
        sql(conn.execute(
            "DELETE FROM kube_instances WHERE cluster = ?1 AND instance_id = ?2",
            params![c.endpoint_id, iid],
        ))?;
    }
    Ok(true)
}
