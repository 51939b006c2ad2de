//! The request pipeline of a cluster's API, in the API server's order: request info from
//! the path, faults, authentication, authorization, then the handler; each step's refusal
//! is Kubernetes's `Status`, and every request lands in the audit trail.

use super::super::Shared;
use super::{
    audit, auth, discovery, handlers, json_response, openapi, reviews, status_response, watch,
    KBody,
};
use bytes::Bytes;
use eks_sim_model::eks::kube_view::KubeCluster;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use kube_sim_model::rbac::{self, Attributes, ResourceAttrs};
use kube_sim_model::whois::Resolved;
use kube_sim_model::{authz, nodes, seed, KubeError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What a path names (Kubernetes's `RequestInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Info {
    pub resource: Option<ResourceAttrs>,
    pub version: String,
    pub path: String,
    pub verb: String,
}

/// Parses `path` (after the cluster prefix) as the API server does.
pub(crate) fn request_info(method: &http::Method, path: &str, query: &[(String, String)]) -> Info {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let non_resource = |verb: String| Info {
        resource: None,
        version: String::new(),
        path: path.to_string(),
        verb,
    };
    let nr_verb = method.as_str().to_ascii_lowercase();
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return non_resource(nr_verb),
    };
    let mut r = ResourceAttrs {
        group: group.to_string(),
        ..ResourceAttrs::default()
    };
    let mut rest: &[&str] = rest;
    if rest[0] == "namespaces" && rest.len() > 1 {
        r.namespace = rest[1].to_string();
        if rest.len() > 2 && !["status", "finalize"].contains(&rest[2]) {
            rest = &rest[2..];
        } else {
            // The namespace object itself.
            r.namespace.clear();
            r.resource = "namespaces".into();
            r.name = rest[1].to_string();
            r.subresource = rest.get(2).map(|s| s.to_string()).unwrap_or_default();
            rest = &[];
        }
    }
    if !rest.is_empty() {
        r.resource = rest[0].to_string();
        r.name = rest.get(1).map(|s| s.to_string()).unwrap_or_default();
        r.subresource = rest.get(2..).map(|s| s.join("/")).unwrap_or_default();
    }
    let watching = query
        .iter()
        .any(|(k, v)| k == "watch" && (v.eq_ignore_ascii_case("true") || v == "1"));
    let verb = match (method.as_str(), r.name.is_empty()) {
        ("GET" | "HEAD", true) if watching => "watch",
        ("GET" | "HEAD", true) => "list",
        ("GET" | "HEAD", false) => "get",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "deletecollection",
        ("DELETE", false) => "delete",
        (m, _) => return non_resource(m.to_ascii_lowercase()),
    };
    Info {
        resource: Some(r),
        version: version.to_string(),
        path: path.to_string(),
        verb: verb.to_string(),
    }
}

/// A request after authentication and authorization, as the handlers see it.
pub(crate) struct Req<'a> {
    pub shared: &'a Arc<Shared>,
    pub cluster: &'a KubeCluster,
    pub who: &'a Resolved,
    pub info: &'a Info,
    pub method: http::Method,
    pub query: Vec<(String, String)>,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    pub now: i64,
}

impl Req<'_> {
    pub fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

/// What the audit trail needs to know about the request being served.
struct Trail<'a> {
    shared: &'a Shared,
    cluster: &'a KubeCluster,
    now: i64,
    info: &'a Info,
}

impl Trail<'_> {
    fn record(&self, who: Option<&Resolved>, code: u16, allowed: bool, reason: &str) {
        let Some(kube) = self.shared.kube.as_ref() else {
            return;
        };
        let empty = Vec::new();
        let (username, groups) = match who {
            Some(w) => (w.user.username.as_str(), &w.user.groups),
            None => ("", &empty),
        };
        let info = self.info;
        let (resource, namespace, name) = match &info.resource {
            Some(r) => (r.resource.as_str(), r.namespace.as_str(), r.name.as_str()),
            None => (info.path.as_str(), "", ""),
        };
        kube.audit.add(audit::Record {
            cluster: &self.cluster.name,
            now_ms: self.now,
            username,
            groups,
            verb: &info.verb,
            resource,
            namespace,
            name,
            code,
            allowed,
            reason,
        });
    }
}

/// Latency, throttling and random errors, with Kubernetes's answers.
async fn faults(shared: &Shared, c: &KubeCluster, info: &Info) -> Result<(), KubeError> {
    let s = shared.settings()?;
    if s.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(s.latency_ms)).await;
    }
    let op = if matches!(info.verb.as_str(), "get" | "list" | "watch") {
        "GetKubernetesObject"
    } else {
        "UpdateKubernetesObject"
    };
    match shared
        .faults
        .check(&s, &c.account, "kubernetes", op, Instant::now())
    {
        Some(super::super::faults::Fault::Throttle) => Err(KubeError::too_many_requests(1)),
        Some(super::super::faults::Fault::ServerError) => Err(KubeError::internal(
            "Internal error occurred: the simulator injected a server error (error_rate)",
        )),
        None => Ok(()),
    }
}

/// Seeds the cluster at its first request, and applies what EKS and the node groups'
/// kubelets did since the last one (`kube_sim_model::nodes`).
pub(crate) fn ensure_seeded(shared: &Shared, c: &KubeCluster, now: i64) -> Result<(), KubeError> {
    let add = shared
        .settings()
        .map(|s| s.auto_node_aws_auth)
        .unwrap_or(true);
    let (done, nodes_due) = shared.sim.store.read(|conn| {
        Ok(seed::seeded(conn, &c.endpoint_id)
            .and_then(|d| Ok((d, nodes::sync(conn, c, add, false, now)?))))
    })??;
    if !done || nodes_due {
        shared.sim.store.write(|tx| {
            Ok(seed::ensure(tx, &c.endpoint_id, now)
                .and_then(|()| nodes::sync(tx, c, add, true, now).map(|_| ())))
        })??;
    }
    Ok(())
}

/// A body beyond this is not even drained: the connection is dropped.
const DRAIN_MAX: usize = 64 * 1024 * 1024;

/// Reads the body (up to [`super::MAX_BODY`]). A larger one is read to its end and thrown
/// away before the 413, so that a client still sending it gets the answer instead of a
/// connection reset.
async fn read_body(shared: &Shared, mut body: Incoming) -> Result<Bytes, KubeError> {
    let read = async {
        let mut buf = Vec::new();
        let mut seen = 0usize;
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|_| KubeError::bad_request("the request body could not be read"))?;
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen <= super::MAX_BODY {
                    buf.extend_from_slice(&data);
                } else if seen > DRAIN_MAX {
                    break;
                }
            }
        }
        if seen > super::MAX_BODY {
            return Err(KubeError::too_large(super::MAX_BODY as u64));
        }
        Ok(Bytes::from(buf))
    };
    match tokio::time::timeout(shared.timeouts.body_read, read).await {
        Err(_) => Err(KubeError::new(
            408,
            "Timeout",
            "the request body did not arrive in time",
        )),
        Ok(r) => r,
    }
}

/// The authorizer's decision; `Err((status, why))` when the request is refused.
fn authorize(
    shared: &Shared,
    cluster: &KubeCluster,
    who: &Resolved,
    info: &Info,
) -> Result<authz::Decision, (KubeError, String)> {
    let attrs = Attributes {
        verb: info.verb.clone(),
        resource: info.resource.clone(),
        path: info.path.clone(),
    };
    let d = shared
        .sim
        .store
        .read(|conn| {
            Ok(authz::authorize(
                conn,
                &cluster.endpoint_id,
                &who.user,
                &who.policies,
                &attrs,
            ))
        })
        .map_err(KubeError::from)
        .and_then(|r| r)
        .map_err(|e| (e.clone(), e.message.clone()))?;
    if d.allowed {
        return Ok(d);
    }
    let mut e = KubeError::new(403, "Forbidden", rbac::forbidden_message(&who.user, &attrs));
    if let Some(r) = &info.resource {
        e.kind = Some(r.resource.clone());
        e.name = (!r.name.is_empty()).then(|| r.name.clone());
        e.group = (!r.group.is_empty()).then(|| r.group.clone());
    }
    Err((e, d.reason))
}

pub(crate) async fn serve(
    shared: Arc<Shared>,
    cluster: KubeCluster,
    tail: String,
    req: http::Request<Incoming>,
    now: i64,
) -> http::Response<KBody> {
    let (head, body) = req.into_parts();
    let query: Vec<(String, String)> =
        form_urlencoded::parse(head.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let info = request_info(&head.method, &tail, &query);
    tracing::debug!(
        cluster = %cluster.name,
        method = %head.method,
        path = %tail,
        content_type = ?head.headers.get(http::header::CONTENT_TYPE),
        accept = ?head.headers.get(http::header::ACCEPT),
        "kubernetes request"
    );
    let trail = Trail {
        shared: &shared,
        cluster: &cluster,
        now,
        info: &info,
    };
    let fail = |who: Option<&Resolved>, e: KubeError, why: &str| {
        trail.record(who, e.code, false, why);
        status_response(&e)
    };
    if let Err(e) = faults(&shared, &cluster, &info).await {
        return fail(None, e.clone(), &e.message);
    }
    if let Err(e) = ensure_seeded(&shared, &cluster, now) {
        return fail(None, e.clone(), &e.message);
    }
    let creator_admin = cluster.bootstrap_admin
        && shared
            .settings()
            .map(|s| s.bootstrap_creator_admin)
            .unwrap_or(true);
    let who = match auth::authenticate(&shared, &head.headers, &cluster, creator_admin, now) {
        Ok(w) => w,
        Err(auth::Refusal::State(e)) => return fail(None, e.clone(), &e.message),
        Err(r) => {
            tracing::debug!(cluster = %cluster.name, "unauthorized: {r}");
            return fail(None, KubeError::unauthorized(), &r.to_string());
        }
    };
    let decision = match authorize(&shared, &cluster, &who, &info) {
        Ok(d) => d,
        Err((e, why)) => return fail(Some(&who), e, &why),
    };
    let body = match read_body(&shared, body).await {
        Ok(b) => b,
        Err(e) => return fail(Some(&who), e.clone(), &e.message),
    };
    let r = Req {
        shared: &shared,
        cluster: &cluster,
        who: &who,
        info: &info,
        method: head.method.clone(),
        query,
        headers: head.headers,
        body,
        now,
    };
    if info.verb == "watch" {
        trail.record(Some(&who), 200, true, &decision.reason);
        return watch::serve(&r);
    }
    let out = route(&r).unwrap_or_else(|e| (e.code, e.status()));
    trail.record(Some(&who), out.0, true, &decision.reason);
    json_response(out.0, &out.1)
}

/// Dispatch of an authorized request: discovery, reviews, objects.
fn route(r: &Req<'_>) -> Result<(u16, serde_json::Value), KubeError> {
    let ok = |v| Ok((200, v));
    let Some(res) = &r.info.resource else {
        let server = r
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1");
        let parts: Vec<&str> = r.info.path.trim_matches('/').split('/').collect();
        if r.method != http::Method::GET {
            return Err(KubeError::method_not_allowed(&r.info.verb, &r.info.path));
        }
        return match parts.as_slice() {
            ["version"] => ok(discovery::version(r.cluster)),
            ["api"] => ok(discovery::api_versions(server)),
            ["api", v] => {
                discovery::resource_list("", v).map_or_else(|| Err(KubeError::no_route()), ok)
            }
            ["apis"] => ok(discovery::group_list()),
            ["apis", g] => discovery::group(g).map_or_else(|| Err(KubeError::no_route()), ok),
            ["apis", g, v] => {
                discovery::resource_list(g, v).map_or_else(|| Err(KubeError::no_route()), ok)
            }
            [h] if ["healthz", "livez", "readyz"].contains(h) => Ok((200, serde_json::json!("ok"))),
            ["openapi", "v3"] => ok(openapi::index()),
            ["openapi", "v3", gv @ ..] => {
                openapi::document(&gv.join("/")).map_or_else(|| Err(KubeError::no_route()), ok)
            }
            _ => Err(KubeError::no_route()),
        };
    };
    let Some(kind) = kube_sim_model::resources::find(&res.group, &r.info.version, &res.resource)
    else {
        return Err(KubeError::no_route());
    };
    if kind.is_virtual() {
        return reviews::handle(r, kind);
    }
    handlers::handle(r, kind, res)
}
