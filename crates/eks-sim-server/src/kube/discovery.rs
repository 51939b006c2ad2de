//! Discovery documents: `/version`, `/api`, `/api/v1`, `/apis`, `/apis/G`, `/apis/G/V` in
//! their plain (non-aggregated) forms, which every client accepts.

use eks_sim_model::eks::kube_view::KubeCluster;
use kube_sim_model::resources::{self, KINDS};
use serde_json::{json, Value};

pub(crate) fn version(c: &KubeCluster) -> Value {
    let minor = c.version.split('.').nth(1).unwrap_or("33");
    json!({
        "major": "1",
        "minor": format!("{minor}+"),
        "gitVersion": format!("v{}.0-eks-sim", c.version),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub(crate) fn api_versions(server: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server}],
    })
}

fn group_doc(g: &str) -> Value {
    let gv = format!("{g}/v1");
    json!({
        "name": g,
        "versions": [{"groupVersion": gv, "version": "v1"}],
        "preferredVersion": {"groupVersion": gv, "version": "v1"},
    })
}

pub(crate) fn group_list() -> Value {
    let groups: Vec<Value> = resources::groups().into_iter().map(group_doc).collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

pub(crate) fn group(g: &str) -> Option<Value> {
    resources::groups().contains(&g).then(|| {
        let mut d = group_doc(g);
        d["kind"] = json!("APIGroup");
        d["apiVersion"] = json!("v1");
        d
    })
}

pub(crate) fn resource_list(group: &str, version: &str) -> Option<Value> {
    let kinds: Vec<Value> = KINDS
        .iter()
        .filter(|k| k.group == group && k.version == version)
        .map(|k| {
            let mut r = json!({
                "name": k.resource,
                "singularName": k.singular,
                "namespaced": k.namespaced,
                "kind": k.kind,
                "verbs": k.verbs,
            });
            if !k.short_names.is_empty() {
                r["shortNames"] = json!(k.short_names);
            }
            r
        })
        .collect();
    if kinds.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": kinds,
    }))
}
