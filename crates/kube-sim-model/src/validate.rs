//! Validation of objects written through the API, with Kubernetes's field paths and
//! messages (`metadata.name: Invalid value: "X": a lowercase RFC 1123 subdomain must …`).

use serde_json::Value;

/// Kubernetes's DNS-1123 subdomain (`metadata.name` of most kinds).
pub fn is_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
        })
}

/// A DNS-1123 label (namespace names).
pub fn is_label(s: &str) -> bool {
    s.len() <= 63 && !s.contains('.') && is_subdomain(s)
}

/// RBAC object names may hold `:` (`system:discovery`); path segments may not.
fn valid_rbac_name(s: &str) -> bool {
    !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('%')
}

const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// Checks an object of `kind` before it is stored; `Err(field: why)` for a 422.
pub fn check(kind: &str, obj: &Value) -> Result<(), String> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let name_ok = match kind {
        "Namespace" => is_label(name),
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding" => valid_rbac_name(name),
        _ => is_subdomain(name),
    };
    if name.is_empty() {
        return Err("metadata.name: Required value: name or generateName is required".into());
    }
    if !name_ok {
        return Err(format!(
            "metadata.name: Invalid value: {name:?}: {SUBDOMAIN_MSG}"
        ));
    }
    for m in ["labels", "annotations"] {
        let v = &obj["metadata"][m];
        if !v.is_null()
            && !v
                .as_object()
                .is_some_and(|o| o.values().all(Value::is_string))
        {
            return Err(format!(
                "metadata.{m}: Invalid value: must be a map of strings"
            ));
        }
    }
    match kind {
        "ConfigMap" => check_configmap(obj),
        "RoleBinding" | "ClusterRoleBinding" => {
            let r = &obj["roleRef"];
            if r["name"].as_str().unwrap_or_default().is_empty() {
                return Err("roleRef.name: Required value".into());
            }
            match r["kind"].as_str() {
                Some("ClusterRole") => Ok(()),
                Some("Role") if kind == "RoleBinding" => Ok(()),
                _ => Err("roleRef.kind: Unsupported value: must be Role or ClusterRole".into()),
            }
        }
        "Role" | "ClusterRole" => match &obj["rules"] {
            Value::Null | Value::Array(_) => Ok(()),
            _ => Err("rules: Invalid value: must be a list".into()),
        },
        _ => Ok(()),
    }
}

fn check_configmap(obj: &Value) -> Result<(), String> {
    let mut keys = Vec::new();
    for field in ["data", "binaryData"] {
        match &obj[field] {
            Value::Null => {}
            Value::Object(m) => {
                for (k, v) in m {
                    let key_ok = !k.is_empty()
                        && k.len() <= 253
                        && k.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b));
                    if !key_ok {
                        return Err(format!("{field}[{k}]: Invalid value: {k:?}: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"));
                    }
                    if !v.is_string() {
                        return Err(format!("{field}[{k}]: Invalid value: must be a string"));
                    }
                    if keys.contains(k) {
                        return Err(format!(
                            "{field}[{k}]: Invalid value: {k:?}: duplicate of key {k:?}"
                        ));
                    }
                    keys.push(k.clone());
                }
            }
            _ => return Err(format!("{field}: Invalid value: must be a map of strings")),
        }
    }
    Ok(())
}
