//! OpenAPI v3 documents, enough for kubectl: `/openapi/v3` lists one document per served
//! group-version; each document has the paths of its kinds, the item paths' `patch` naming
//! its kind (`x-kubernetes-group-version-kind`) and the `fieldValidation` parameter. kubectl
//! reads that as "the server validates fields" and sends `fieldValidation=Strict` instead of
//! validating against schemas itself, so no schemas are needed. `/openapi/v2` is not served
//! (kubectl uses it only when v3 is missing).

use kube_sim_model::resources::{Kind, KINDS};
use serde_json::{json, Map, Value};

/// The group-version path of a kind as the v3 index names it (`api/v1`, `apis/G/V`).
fn gv_path(k: &Kind) -> String {
    if k.group.is_empty() {
        format!("api/{}", k.version)
    } else {
        format!("apis/{}/{}", k.group, k.version)
    }
}

fn served_gvs() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for k in KINDS {
        let p = gv_path(k);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

pub(crate) fn index() -> Value {
    let mut paths = Map::new();
    for gv in served_gvs() {
        let url = format!("/openapi/v3/{gv}?hash=0000000000000000");
        paths.insert(gv, json!({ "serverRelativeURL": url }));
    }
    json!({ "paths": paths })
}

fn op(k: &Kind, action: &str) -> Value {
    let params = json!([
        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
    ]);
    json!({
        "operationId": format!("{action}{}", k.kind),
        "parameters": params,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": k.group, "version": k.version, "kind": k.kind},
    })
}

pub(crate) fn document(gv: &str) -> Option<Value> {
    let kinds: Vec<&Kind> = KINDS.iter().filter(|k| gv_path(k) == gv).collect();
    if kinds.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    for k in kinds {
        let base = if k.namespaced {
            format!("/{gv}/namespaces/{{namespace}}/{}", k.resource)
        } else {
            format!("/{gv}/{}", k.resource)
        };
        if k.is_virtual() {
            paths.insert(base, json!({"post": op(k, "post")}));
            continue;
        }
        paths.insert(
            base.clone(),
            json!({"get": op(k, "list"), "post": op(k, "post")}),
        );
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"get": op(k, "get"), "put": op(k, "put"), "patch": op(k, "patch"), "delete": op(k, "delete")}),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.33.0"},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}
