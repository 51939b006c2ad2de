//! The self-review kinds: `selfsubjectreviews` (`kubectl auth whoami`),
//! `selfsubjectaccessreviews` (`kubectl auth can-i`) and `selfsubjectrulesreviews`
//! (`kubectl auth can-i --list`). Created, never stored.

use super::api::Req;
use kube_sim_model::rbac::{Attributes, ResourceAttrs, Rule};
use kube_sim_model::resources::Kind;
use kube_sim_model::{authz, KubeError, KubeResult};
use serde_json::{json, Value};

pub(crate) fn handle(r: &Req<'_>, kind: &Kind) -> KubeResult<(u16, Value)> {
    if r.info.verb != "create" {
        return Err(KubeError::method_not_allowed(&r.info.verb, kind.resource));
    }
    let body: Value = if r.body.is_empty() {
        json!({})
    } else {
        super::handlers::decode_body(r)?
    };
    let out = match kind.resource {
        "selfsubjectreviews" => whoami(r),
        "selfsubjectaccessreviews" => access_review(r, &body)?,
        _ => rules_review(r, &body)?,
    };
    let mut out = out;
    out["kind"] = json!(kind.kind);
    out["apiVersion"] = json!(kind.api_version());
    out["metadata"] = json!({"creationTimestamp": null});
    Ok((201, out))
}

fn whoami(r: &Req<'_>) -> Value {
    let u = &r.who.user;
    let mut info = json!({"username": u.username, "groups": u.groups});
    if !u.uid.is_empty() {
        info["uid"] = json!(u.uid);
    }
    if !u.extra.is_empty() {
        info["extra"] = json!(u.extra);
    }
    json!({"status": {"userInfo": info}})
}

fn access_review(r: &Req<'_>, body: &Value) -> KubeResult<Value> {
    let spec = &body["spec"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let attrs = if let Some(ra) = spec["resourceAttributes"].as_object() {
        let ra = Value::Object(ra.clone());
        Attributes {
            verb: s(&ra["verb"]),
            resource: Some(ResourceAttrs {
                group: s(&ra["group"]),
                resource: s(&ra["resource"]),
                subresource: s(&ra["subresource"]),
                namespace: s(&ra["namespace"]),
                name: s(&ra["name"]),
            }),
            path: String::new(),
        }
    } else if let Some(nr) = spec["nonResourceAttributes"].as_object() {
        let nr = Value::Object(nr.clone());
        Attributes {
            verb: s(&nr["verb"]),
            resource: None,
            path: s(&nr["path"]),
        }
    } else {
        return Err(KubeError::invalid(
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            "authorization.k8s.io",
            "",
            "spec.resourceAttributes: Invalid value: exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    };
    let d = r.shared.sim.store.read(|c| {
        Ok(authz::authorize(
            c,
            &r.cluster.endpoint_id,
            &r.who.user,
            &r.who.policies,
            &attrs,
        ))
    })??;
    let mut status = json!({"allowed": d.allowed});
    if d.allowed {
        status["reason"] = json!(d.reason);
    }
    Ok(json!({"spec": spec, "status": status}))
}

fn rules_review(r: &Req<'_>, body: &Value) -> KubeResult<Value> {
    let ns = body["spec"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let found = r.shared.sim.store.read(|c| {
        Ok(authz::rbac_rules_for(
            c,
            &r.cluster.endpoint_id,
            &r.who.user,
            &ns,
        ))
    })??;
    let mut rules: Vec<Rule> = found.into_iter().flat_map(|(_, rs)| rs).collect();
    if r.who.user.in_group(kube_sim_model::identity::MASTERS) {
        rules.push(Rule::new(&["*"], &["*"], &["*"]));
        rules.push(Rule::urls(&["*"], &["*"]));
    }
    let (res, non): (Vec<Rule>, Vec<Rule>) = rules
        .into_iter()
        .partition(|r| r.non_resource_urls.is_empty());
    let res: Vec<Value> = res
        .iter()
        .map(|r| json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources, "resourceNames": r.resource_names}))
        .collect();
    let non: Vec<Value> = non
        .iter()
        .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
        .collect();
    Ok(json!({
        "spec": {"namespace": ns},
        "status": {"resourceRules": res, "nonResourceRules": non, "incomplete": false},
    }))
}
