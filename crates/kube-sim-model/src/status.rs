//! Kubernetes's `Status` answers (API conventions: `kind: Status`, `status: Failure`, a
//! `reason`, a `code` equal to the HTTP status, `details` naming the object).

use serde_json::{json, Value};

/// A refusal or failure, rendered as a `Status` object (boxed: results stay small).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} {}: {}", .0.code, .0.reason, .0.message)]
pub struct KubeError(Box<Failure>);

impl std::ops::Deref for KubeError {
    type Target = Failure;
    fn deref(&self) -> &Failure {
        &self.0
    }
}

impl std::ops::DerefMut for KubeError {
    fn deref_mut(&mut self) -> &mut Failure {
        &mut self.0
    }
}

/// What a [`KubeError`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `details.name`, `details.group`, `details.kind` (the resource, plural).
    pub name: Option<String>,
    pub group: Option<String>,
    pub kind: Option<String>,
    /// Seconds, for 429 (`details.retryAfterSeconds` and the `Retry-After` header).
    pub retry_after: Option<u64>,
}

impl KubeError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> KubeError {
        KubeError(Box::new(Failure {
            code,
            reason,
            message: message.into(),
            name: None,
            group: None,
            kind: None,
            retry_after: None,
        }))
    }

    fn about(mut self, resource: &str, group: &str, name: &str) -> KubeError {
        self.kind = Some(resource.to_string());
        if !group.is_empty() {
            self.group = Some(group.to_string());
        }
        if !name.is_empty() {
            self.name = Some(name.to_string());
        }
        self
    }

    /// 401, with the body the API server gives any refused token.
    pub fn unauthorized() -> KubeError {
        KubeError::new(401, "Unauthorized", "Unauthorized")
    }

    /// `resource "name"` or `resource` (no name), with the group when there is one.
    fn subject(resource: &str, group: &str, name: &str) -> String {
        let r = if group.is_empty() {
            resource.to_string()
        } else {
            format!("{resource}.{group}")
        };
        if name.is_empty() {
            r
        } else {
            format!("{r} \"{name}\"")
        }
    }

    pub fn not_found(resource: &str, group: &str, name: &str) -> KubeError {
        KubeError::new(
            404,
            "NotFound",
            format!("{} not found", Self::subject(resource, group, name)),
        )
        .about(resource, group, name)
    }

    /// No route: what the API server says for a path it does not serve.
    pub fn no_route() -> KubeError {
        KubeError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }

    pub fn already_exists(resource: &str, group: &str, name: &str) -> KubeError {
        KubeError::new(
            409,
            "AlreadyExists",
            format!("{} already exists", Self::subject(resource, group, name)),
        )
        .about(resource, group, name)
    }

    /// A stale `resourceVersion` (optimistic concurrency).
    pub fn conflict(resource: &str, group: &str, name: &str) -> KubeError {
        KubeError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {}: the object has been modified; please apply your changes to the latest version and try again",
                Self::subject(resource, group, name)
            ),
        )
        .about(resource, group, name)
    }

    /// 422: `Kind "name" is invalid: field: why`.
    pub fn invalid(kind: &str, resource: &str, group: &str, name: &str, why: &str) -> KubeError {
        KubeError::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {why}"),
        )
        .about(resource, group, name)
    }

    pub fn bad_request(message: impl Into<String>) -> KubeError {
        KubeError::new(400, "BadRequest", message)
    }

    pub fn method_not_allowed(verb: &str, resource: &str) -> KubeError {
        KubeError::new(
            405,
            "MethodNotAllowed",
            format!("the server does not allow this method on the requested resource ({verb} {resource})"),
        )
    }

    pub fn unsupported_media(content_type: &str) -> KubeError {
        KubeError::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type:?})"),
        )
    }

    pub fn too_large(limit: u64) -> KubeError {
        KubeError::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }

    pub fn too_many_requests(retry_after: u64) -> KubeError {
        let mut e = KubeError::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub fn internal(message: impl Into<String>) -> KubeError {
        KubeError::new(500, "InternalError", message)
    }

    pub fn unavailable(message: impl Into<String>) -> KubeError {
        KubeError::new(503, "ServiceUnavailable", message)
    }

    /// The `Status` object.
    pub fn status(&self) -> Value {
        let mut details = serde_json::Map::new();
        if let Some(n) = &self.name {
            details.insert("name".into(), json!(n));
        }
        if let Some(g) = &self.group {
            details.insert("group".into(), json!(g));
        }
        if let Some(k) = &self.kind {
            details.insert("kind".into(), json!(k));
        }
        if let Some(r) = self.retry_after {
            details.insert("retryAfterSeconds".into(), json!(r));
        }
        let mut s = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !details.is_empty() {
            s["details"] = Value::Object(details);
        }
        s
    }
}

impl From<eks_sim_model::SimError> for KubeError {
    fn from(e: eks_sim_model::SimError) -> KubeError {
        KubeError::internal(format!("simulator state: {}", e.message))
    }
}

pub type KubeResult<T> = Result<T, KubeError>;

/// `Status` `Success` (a delete's answer for kinds that return it).
pub fn success(resource: &str, group: &str, name: &str, uid: &str) -> Value {
    let mut details = json!({"name": name, "kind": resource, "uid": uid});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": details,
    })
}
