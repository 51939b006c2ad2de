//! Object handlers: get, list, create, update (PUT), patch, delete, deletecollection, with
//! Kubernetes's preconditions (optimistic concurrency on `resourceVersion`, names matching
//! the URL, namespaces existing) and answers. Every change is one SQLite transaction, so a
//! refused request changes nothing.

use super::api::Req;
use kube_sim_model::objects::{self, Key};
use kube_sim_model::rbac::ResourceAttrs;
use kube_sim_model::resources::Kind;
use kube_sim_model::{patch, status, validate, KubeError, KubeResult};
use rusqlite::Connection;
use serde_json::{json, Value};

type Out = KubeResult<(u16, Value)>;

/// Runs `f` in a write transaction, rolled back when it refuses.
pub(crate) fn write<T>(r: &Req<'_>, f: impl FnOnce(&Connection) -> KubeResult<T>) -> KubeResult<T> {
    let mut refusal = None;
    let out = r.shared.sim.store.write(|tx| match f(tx) {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            refusal = Some(e);
            Err(eks_sim_model::SimError::internal("refused"))
        }
    });
    match (out, refusal) {
        (_, Some(e)) => Err(e),
        (Ok(Some(v)), None) => Ok(v),
        (Ok(None), None) => Err(KubeError::internal("no result")),
        (Err(e), None) => Err(e.into()),
    }
}

fn read<T>(r: &Req<'_>, f: impl FnOnce(&Connection) -> KubeResult<T>) -> KubeResult<T> {
    r.shared.sim.store.read(|c| Ok(f(c)))?
}

fn dry_run(r: &Req<'_>) -> bool {
    r.q("dryRun").is_some_and(|v| v == "All")
}

pub(crate) fn handle(r: &Req<'_>, kind: &'static Kind, res: &ResourceAttrs) -> Out {
    if !res.subresource.is_empty() {
        return Err(KubeError::not_found(
            &format!("{}/{}", kind.resource, res.subresource),
            kind.group,
            &res.name,
        ));
    }
    if kind.namespaced && res.namespace.is_empty() && res.name.is_empty() && r.info.verb == "list" {
        return list(r, kind, None);
    }
    if kind.namespaced && res.namespace.is_empty() {
        return Err(KubeError::no_route());
    }
    let store_key = kind.store_key();
    let k = Key {
        cluster: &r.cluster.endpoint_id,
        resource: &store_key,
        namespace: &res.namespace,
    };
    match r.info.verb.as_str() {
        "get" => {
            let o = read(r, |c| objects::get(c, k, &res.name))?
                .ok_or_else(|| KubeError::not_found(kind.resource, kind.group, &res.name))?;
            if super::table::wanted(&r.headers) {
                let rv = o["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or("")
                    .to_string();
                return Ok((200, super::table::render(kind.kind, &[o], &rv, r.now)));
            }
            Ok((200, o))
        }
        "list" => list(r, kind, Some(&res.namespace)),
        "create" => create(r, kind, k),
        "update" => update(r, kind, k, &res.name),
        "patch" => patch_obj(r, kind, k, &res.name),
        "delete" => delete(r, kind, k, &res.name),
        "deletecollection" => delete_collection(r, kind, k),
        v => Err(KubeError::method_not_allowed(v, kind.resource)),
    }
}

/// `labelSelector` (`k=v`, `k==v`, `k!=v`, `k`, `!k`, comma-separated) and `fieldSelector`
/// (`metadata.name`, `metadata.namespace`).
fn selected(r: &Req<'_>, obj: &Value) -> KubeResult<bool> {
    selected_by(&r.query, obj)
}

pub(crate) fn selected_by(query: &[(String, String)], obj: &Value) -> KubeResult<bool> {
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    for (param, root) in [("labelSelector", "labels"), ("fieldSelector", "")] {
        let Some(sel) = q(param).filter(|s| !s.is_empty()) else {
            continue;
        };
        for term in sel.split(',') {
            let (key, op, val) = if let Some((k, v)) = term.split_once("!=") {
                (k, "!=", v)
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (k, "=", v)
            } else if let Some(k) = term.strip_prefix('!') {
                (k, "!", "")
            } else {
                (term, "exists", "")
            };
            let actual = if root.is_empty() {
                // Any dotted field (`metadata.name`, `involvedObject.uid`); a cluster-scoped
                // object's namespace is "".
                let mut v = obj;
                for part in key.trim().split('.') {
                    v = &v[part];
                }
                v.as_str()
                    .or((key.trim() == "metadata.namespace").then_some(""))
            } else {
                obj["metadata"]["labels"][key.trim()].as_str()
            };
            let ok = match op {
                "=" => actual == Some(val.trim()),
                "!=" => actual != Some(val.trim()),
                "!" => actual.is_none(),
                _ => actual.is_some(),
            };
            if !ok {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

fn list(r: &Req<'_>, kind: &Kind, ns: Option<&str>) -> Out {
    let (items, rv) = read(r, |c| {
        objects::list(c, &r.cluster.endpoint_id, &kind.store_key(), ns)
    })?;
    let mut out = Vec::new();
    for mut o in items {
        if selected(r, &o)? {
            if super::table::wanted(&r.headers) {
                out.push(o);
                continue;
            }
            if let Some(m) = o.as_object_mut() {
                m.remove("kind");
                m.remove("apiVersion");
            }
            out.push(o);
        }
    }
    if super::table::wanted(&r.headers) {
        return Ok((
            200,
            super::table::render(kind.kind, &out, &rv.to_string(), r.now),
        ));
    }
    Ok((
        200,
        json!({
            "kind": format!("{}List", kind.kind),
            "apiVersion": kind.api_version(),
            "metadata": {"resourceVersion": rv.to_string()},
            "items": out,
        }),
    ))
}

/// The body as an object of `kind`, or the API server's refusal.
fn body_object(r: &Req<'_>, kind: &Kind) -> KubeResult<Value> {
    check_type(decode_body(r)?, kind)
}

/// The request body as JSON, from JSON, YAML or Kubernetes protobuf.
pub(crate) fn decode_body(r: &Req<'_>) -> KubeResult<Value> {
    let ct = r
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    if ct.starts_with("application/json") || ct.is_empty() {
        serde_json::from_slice(&r.body).map_err(|e| {
            KubeError::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        })
    } else if ct.starts_with("application/yaml") {
        serde_yaml::from_slice(&r.body).map_err(|e| {
            KubeError::bad_request(format!(
                "the body of the request could not be decoded as YAML: {e}"
            ))
        })
    } else if ct.starts_with("application/vnd.kubernetes.protobuf") {
        kube_sim_model::proto::to_json(&r.body)
            .map_err(|e| KubeError::unsupported_media(&format!("{ct}: {}", e.0)))
    } else {
        Err(KubeError::unsupported_media(ct))
    }
}

fn check_type(mut v: Value, kind: &Kind) -> KubeResult<Value> {
    if !v.is_object() {
        return Err(KubeError::bad_request(
            "the body of the request is not a JSON object",
        ));
    }
    let want_av = kind.api_version();
    match (v["kind"].as_str(), v["apiVersion"].as_str()) {
        (Some(k), Some(av)) if k == kind.kind && av == want_av => {}
        (None, None) => {}
        (k, av) => {
            return Err(KubeError::bad_request(format!(
                "the API version in the data ({}) does not match the expected API version ({want_av}) or the kind ({}) is not {}",
                av.unwrap_or(""), k.unwrap_or(""), kind.kind
            )))
        }
    }
    v["kind"] = json!(kind.kind);
    v["apiVersion"] = json!(want_av);
    if !v["metadata"].is_object() {
        v["metadata"] = json!({});
    }
    Ok(v)
}

fn invalid(kind: &Kind, name: &str, why: &str) -> KubeError {
    KubeError::invalid(kind.kind, kind.resource, kind.group, name, why)
}

fn check_namespace(c: &Connection, r: &Req<'_>, kind: &Kind, ns: &str) -> KubeResult<()> {
    if !kind.namespaced {
        return Ok(());
    }
    let nk = Key {
        cluster: &r.cluster.endpoint_id,
        resource: "namespaces",
        namespace: "",
    };
    if objects::get(c, nk, ns)?.is_none() {
        return Err(KubeError::not_found("namespaces", "", ns));
    }
    Ok(())
}

fn create(r: &Req<'_>, kind: &Kind, k: Key<'_>) -> Out {
    let mut v = body_object(r, kind)?;
    let meta = &mut v["metadata"];
    if let Some(ns) = meta["namespace"].as_str().filter(|n| !n.is_empty()) {
        if kind.namespaced && ns != k.namespace {
            return Err(KubeError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
        }
    }
    if meta["name"].as_str().unwrap_or_default().is_empty() {
        if let Some(g) = meta["generateName"].as_str().filter(|g| !g.is_empty()) {
            const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
            let suffix: String = (0..5)
                .map(|_| ALPHABET[rand::random::<usize>() % ALPHABET.len()] as char)
                .collect();
            meta["name"] = json!(format!("{g}{suffix}"));
        }
    }
    if meta["resourceVersion"]
        .as_str()
        .is_some_and(|s| !s.is_empty())
    {
        return Err(KubeError::bad_request(
            "resourceVersion should not be set on objects to be created",
        ));
    }
    let name = v["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    validate::check(kind.kind, &v).map_err(|why| invalid(kind, &name, &why))?;
    let dry = dry_run(r);
    let now = r.now;
    write(r, |c| {
        check_namespace(c, r, kind, k.namespace)?;
        if dry {
            return match objects::get(c, k, &name)? {
                Some(_) => Err(KubeError::already_exists(kind.resource, kind.group, &name)),
                None => Ok((201, v)),
            };
        }
        match objects::create(c, k, v, now)? {
            Some(o) => Ok((201, o)),
            None => Err(KubeError::already_exists(kind.resource, kind.group, &name)),
        }
    })
}

/// Stores `new` over the current object after the checks an update makes.
fn store_update(
    c: &Connection,
    r: &Req<'_>,
    kind: &Kind,
    k: Key<'_>,
    old: &Value,
    new: Value,
) -> Out {
    let name = old["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let given_rv = new["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default();
    if !given_rv.is_empty() && Some(given_rv) != old["metadata"]["resourceVersion"].as_str() {
        return Err(KubeError::conflict(kind.resource, kind.group, &name));
    }
    if let Some(uid) = new["metadata"]["uid"].as_str().filter(|u| !u.is_empty()) {
        if Some(uid) != old["metadata"]["uid"].as_str() {
            return Err(KubeError::conflict(kind.resource, kind.group, &name));
        }
    }
    let new = check_type(new, kind)?;
    validate::check(kind.kind, &new).map_err(|why| invalid(kind, &name, &why))?;
    if matches!(kind.kind, "RoleBinding" | "ClusterRoleBinding") && new["roleRef"] != old["roleRef"]
    {
        return Err(invalid(
            kind,
            &name,
            "roleRef: Invalid value: cannot change roleRef",
        ));
    }
    if dry_run(r) {
        return Ok((200, new));
    }
    Ok((200, objects::replace(c, k, old, new)?))
}

fn update(r: &Req<'_>, kind: &Kind, k: Key<'_>, name: &str) -> Out {
    let v = body_object(r, kind)?;
    let body_name = v["metadata"]["name"].as_str().unwrap_or_default();
    if body_name != name {
        return Err(KubeError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    write(r, |c| {
        let old = objects::get(c, k, name)?
            .ok_or_else(|| KubeError::not_found(kind.resource, kind.group, name))?;
        store_update(c, r, kind, k, &old, v)
    })
}

fn patch_obj(r: &Req<'_>, kind: &Kind, k: Key<'_>, name: &str) -> Out {
    let ct = r
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let ct = ct.split(';').next().unwrap_or("").trim().to_string();
    if !matches!(
        ct.as_str(),
        "application/merge-patch+json"
            | "application/strategic-merge-patch+json"
            | "application/json-patch+json"
    ) {
        return Err(KubeError::unsupported_media(&ct));
    }
    let p: Value = serde_json::from_slice(&r.body)
        .map_err(|e| KubeError::bad_request(format!("error decoding patch: {e}")))?;
    write(r, |c| {
        let old = objects::get(c, k, name)?
            .ok_or_else(|| KubeError::not_found(kind.resource, kind.group, name))?;
        let mut new = old.clone();
        // A patch does not carry the current version unless it names one.
        new["metadata"]["resourceVersion"] = json!("");
        let applied = match ct.as_str() {
            "application/json-patch+json" => patch::json_patch(&mut new, &p),
            "application/strategic-merge-patch+json" => {
                if !p.is_object() {
                    return Err(KubeError::bad_request(
                        "the strategic merge patch is not a JSON object",
                    ));
                }
                patch::strategic(&mut new, &p);
                Ok(())
            }
            _ => {
                patch::merge(&mut new, &p);
                Ok(())
            }
        };
        match applied {
            Ok(()) => {}
            Err(patch::PatchError::Malformed(m)) => return Err(KubeError::bad_request(m)),
            Err(patch::PatchError::Failed(m)) => return Err(KubeError::new(422, "Invalid", m)),
        }
        if new["metadata"]["name"].as_str() != Some(name) {
            return Err(invalid(
                kind,
                name,
                "metadata.name: Invalid value: field is immutable",
            ));
        }
        store_update(c, r, kind, k, &old, new)
    })
}

/// DeleteOptions' preconditions.
fn preconditions_hold(r: &Req<'_>, old: &Value) -> bool {
    let Ok(opts) = serde_json::from_slice::<Value>(&r.body) else {
        return true;
    };
    let pre = &opts["preconditions"];
    ["resourceVersion", "uid"]
        .iter()
        .all(|f| match pre[f].as_str() {
            Some(want) => old["metadata"][f].as_str() == Some(want),
            None => true,
        })
}

fn delete(r: &Req<'_>, kind: &Kind, k: Key<'_>, name: &str) -> Out {
    if kind.resource == "namespaces" && ["default", "kube-system", "kube-public"].contains(&name) {
        let mut e = KubeError::new(
            403,
            "Forbidden",
            format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
        );
        e.kind = Some("namespaces".into());
        e.name = Some(name.into());
        return Err(e);
    }
    let dry = dry_run(r);
    write(r, |c| {
        let old = objects::get(c, k, name)?
            .ok_or_else(|| KubeError::not_found(kind.resource, kind.group, name))?;
        if !preconditions_hold(r, &old) {
            return Err(KubeError::conflict(kind.resource, kind.group, name));
        }
        if dry {
            return Ok((200, old));
        }
        let gone = objects::delete(c, k, name)?.unwrap_or(old);
        if kind.resource == "namespaces" {
            delete_namespace_contents(c, r, name)?;
            return Ok((200, gone));
        }
        let uid = gone["metadata"]["uid"].as_str().unwrap_or_default();
        Ok((200, status::success(kind.resource, kind.group, name, uid)))
    })
}

fn delete_namespace_contents(c: &Connection, r: &Req<'_>, ns: &str) -> KubeResult<()> {
    for kind in kube_sim_model::resources::KINDS
        .iter()
        .filter(|k| k.namespaced && !k.is_virtual())
    {
        let sk = kind.store_key();
        let (items, _) = objects::list(c, &r.cluster.endpoint_id, &sk, Some(ns))?;
        let k = Key {
            cluster: &r.cluster.endpoint_id,
            resource: &sk,
            namespace: ns,
        };
        for o in items {
            objects::delete(c, k, o["metadata"]["name"].as_str().unwrap_or_default())?;
        }
    }
    Ok(())
}

fn delete_collection(r: &Req<'_>, kind: &Kind, k: Key<'_>) -> Out {
    if kind.resource == "namespaces" {
        return Err(KubeError::method_not_allowed(
            "deletecollection",
            kind.resource,
        ));
    }
    let dry = dry_run(r);
    write(r, |c| {
        let (items, _) = objects::list(c, k.cluster, k.resource, Some(k.namespace))?;
        let mut gone = Vec::new();
        for o in items {
            if !selected(r, &o)? {
                continue;
            }
            let name = o["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !dry {
                objects::delete(c, k, &name)?;
            }
            gone.push(o);
        }
        let rv = objects::current_rv(c, k.cluster)?;
        Ok((
            200,
            json!({"kind": format!("{}List", kind.kind), "apiVersion": kind.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": gone}),
        ))
    })
}
