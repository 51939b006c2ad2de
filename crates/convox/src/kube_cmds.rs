//! The Kubernetes side of a rack: `rack kubeconfig`, `rack token`, and the client the other
//! commands use to read `aws-auth` and ask who the caller is (convox-kube).

use convox_kube::{Kube, KubeError};
use convox_store::{Provider, Rack};
use serde_json::json;

use crate::commands::{connect, open_store, selected, Conn};
use crate::progress::Progress;
use crate::render::print;
use crate::Fail;

/// A client for the rack's cluster (convox-engine's: endpoint and CA from DescribeCluster,
/// tokens signed with the connection's own credentials).
pub(crate) async fn kube_for(conn: &Conn, r: &Rack) -> Result<Kube, Fail> {
    Ok(convox_engine::kube::kube_client(&conn.aws, r).await?)
}

/// A local rack's Kubernetes API lives as long as the simulator process that serves it: an
/// in-process one ends with the command, so a kubeconfig needs `convox sim serve`.
fn needs_served_sim(r: &Rack) -> Result<(), Fail> {
    let served = std::env::var("CONVOX_SIM_ENDPOINT").is_ok_and(|v| !v.is_empty());
    if r.provider == Provider::Local && !served {
        return Err(Fail::msg(format!(
            "rack {} is local: its Kubernetes API is served only while a simulator runs, and the embedded one stops with each command; start `convox sim serve` in another shell, `export CONVOX_SIM_ENDPOINT=127.0.0.1:4599`, and run this again",
            r.name
        )));
    }
    Ok(())
}

fn kube_fail(e: KubeError) -> Fail {
    Fail::msg(e.to_string())
}

/// `convox rack kubeconfig`.
pub(crate) async fn kubeconfig(sel: Option<String>) -> Result<(), Fail> {
    let store = open_store()?;
    let r = selected(&store, sel)?;
    needs_served_sim(&r)?;
    let progress = Progress::new(true);
    let conn = connect(&r, &progress).await?;
    let kube = kube_for(&conn, &r).await;
    conn.close().await;
    let kube = kube?;
    let (server, ca) = kube.endpoint().map_err(kube_fail)?;
    // The exec plugin is this very binary, so kubectl needs no AWS CLI and uses the rack's
    // credentials chain (profile, simulator keys) as every other convox command does.
    let command = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_string))
        .unwrap_or_else(|| "convox".to_string());
    let mut env = Vec::new();
    for k in ["CONVOX_HOME", "CONVOX_SIM_ENDPOINT"] {
        if let Some(v) = std::env::var(k).ok().filter(|v| !v.is_empty()) {
            env.push(json!({"name": k, "value": v}));
        }
    }
    let name = format!("convox-{}", r.name);
    let mut doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": command,
            "args": ["rack", "token", "-r", r.name],
            "interactiveMode": "Never",
            "provideClusterInfo": false,
        }}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    });
    if !env.is_empty() {
        doc["users"][0]["user"]["exec"]["env"] = json!(env);
    }
    let yaml = serde_yaml::to_string(&doc).map_err(|e| Fail::msg(format!("kubeconfig: {e}")))?;
    print(&yaml);
    Ok(())
}

/// `convox rack token`: an ExecCredential (the apiVersion kubectl asks for in
/// `KUBERNETES_EXEC_INFO`, else v1beta1), as `aws eks get-token` prints it.
pub(crate) async fn token(sel: Option<String>) -> Result<(), Fail> {
    let store = open_store()?;
    let r = selected(&store, sel)?;
    let progress = Progress::new(true);
    let conn = connect(&r, &progress).await?;
    let t = convox_kube::make_token(
        conn.aws.sdk_config(),
        &r.region,
        &r.cluster,
        std::time::SystemTime::now(),
    )
    .await;
    conn.close().await;
    let t = t.map_err(kube_fail)?;
    let api_version = std::env::var("KUBERNETES_EXEC_INFO")
        .ok()
        .and_then(|v| serde_json::from_str::<serde_json::Value>(&v).ok())
        .and_then(|v| v["apiVersion"].as_str().map(str::to_string))
        .filter(|v| v.starts_with("client.authentication.k8s.io/"))
        .unwrap_or_else(|| "client.authentication.k8s.io/v1beta1".into());
    let cred = json!({
        "kind": "ExecCredential",
        "apiVersion": api_version,
        "spec": {},
        "status": {"expirationTimestamp": t.expiration_timestamp(), "token": t.token},
    });
    // Not through print(): the token must reach kubectl byte for byte.
    println!("{cred}");
    Ok(())
}

/// After `eks_access_entries=true`: asks the Kubernetes API, with the caller's own token,
/// whether the caller is cluster admin and through what. A line for stderr; the command
/// succeeds on the AWS-side facts whatever it says.
pub(crate) async fn admin_check(conn: &Conn, r: &Rack) -> String {
    let kube = match kube_for(conn, r).await {
        Ok(k) => k,
        Err(e) => return cannot_check(&e.to_string()),
    };
    let (who, admin) = futures::join!(kube.whoami(), kube.is_admin());
    match (who, admin) {
        (Ok(w), Ok(true)) if !w.groups.iter().any(|g| g == "system:masters") => format!(
            "Kubernetes: {} is cluster admin through its access entry (checked with its own token: SelfSubjectAccessReview)",
            w.username
        ),
        (Ok(w), Ok(true)) => format!(
            "Kubernetes: {} is cluster admin, but through system:masters (aws-auth or the cluster creator's grant), not through its access entry",
            w.username
        ),
        (Ok(w), Ok(false)) => format!(
            "WARNING: Kubernetes: {} is not cluster admin (SelfSubjectAccessReview with its own token); `convox rack auth -r {}` shows its entry",
            w.username, r.name
        ),
        (Err(e), _) | (_, Err(e)) => cannot_check(&e.reason()),
    }
}

fn cannot_check(why: &str) -> String {
    format!("Kubernetes: could not check that the caller is admin through its access entry ({why}); the AWS side is done")
}

/// `--aws-auth-file`: the data keys it gives, refused whole (one line naming the problem)
/// unless every mapping in it is one EKS's authenticator would use.
pub(crate) fn read_aws_auth_file(
    path: &std::path::Path,
) -> Result<std::collections::BTreeMap<String, String>, Fail> {
    let bad = |why: String| {
        Fail::msg(format!(
            "--aws-auth-file {}: {why}; nothing was installed",
            path.display()
        ))
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let doc: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| bad(format!("not YAML ({e})")))?;
    let top = doc.get("data").unwrap_or(&doc);
    let serde_yaml::Value::Mapping(m) = top else {
        return Err(bad("expected mapRoles, mapUsers or mapAccounts".into()));
    };
    let mut data = std::collections::BTreeMap::new();
    for (k, v) in m {
        let key = k.as_str().unwrap_or_default().to_string();
        if !matches!(key.as_str(), "mapRoles" | "mapUsers" | "mapAccounts") {
            return Err(bad(format!(
                "unknown key `{key}` (EKS reads mapRoles, mapUsers, mapAccounts)"
            )));
        }
        // Either the ConfigMap's YAML string or the list itself.
        let value = match v {
            serde_yaml::Value::String(s) => s.clone(),
            other => serde_yaml::to_string(other).map_err(|e| bad(e.to_string()))?,
        };
        data.insert(key, value);
    }
    let parsed = convox_access::parse_aws_auth(&data);
    if let Some(w) = parsed.warnings.first() {
        return Err(bad(w.clone()));
    }
    Ok(data)
}

/// Adds the file's mappings to the new rack's aws-auth (after the nodes mapping EKS wrote).
pub(crate) async fn seed_aws_auth(
    store: &convox_store::Store,
    conn: &Conn,
    rack: &str,
    data: &std::collections::BTreeMap<String, String>,
) -> Result<(), Fail> {
    let r = store.get_rack(rack)?;
    let kube = kube_for(conn, &r).await?;
    kube.add_to_aws_auth(data).await.map_err(|e| {
        Fail::msg(format!(
            "rack {rack} is installed, but its aws-auth mappings were not added ({e}); add them with kubectl"
        ))
    })?;
    print("Adding aws-auth mappings... OK\n");
    Ok(())
}
