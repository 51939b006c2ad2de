//! JSON bodies (rest-json): reading members with their paths, writing outputs.

use super::Violation;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

type R<T> = Result<T, Violation>;

/// The name botocore gives a JSON value's type in its messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "structure",
    }
}

fn wrong(path: &str, expected: &'static str, v: &Value) -> Violation {
    Violation::WrongType {
        member: path.to_string(),
        expected,
        got: type_name(v),
    }
}

/// The request body as a JSON object; an empty body is an empty object.
pub fn body(bytes: &[u8]) -> R<Map<String, Value>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(Violation::Body(format!(
            "The request body must be a JSON object, got {}",
            type_name(&other)
        ))),
        Err(e) => Err(Violation::Body(format!(
            "The request body is not valid JSON: {e}"
        ))),
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// An optional member (`null` is absent).
pub fn opt<T>(
    m: &Map<String, Value>,
    key: &str,
    path: &str,
    f: impl Fn(&Value, &str) -> R<T>,
) -> R<Option<T>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => f(v, &child(path, key)).map(Some),
    }
}

/// A required member.
pub fn req<T>(
    m: &Map<String, Value>,
    key: &str,
    path: &str,
    f: impl Fn(&Value, &str) -> R<T>,
) -> R<T> {
    opt(m, key, path, f)?.ok_or_else(|| Violation::Missing {
        member: child(path, key),
    })
}

pub fn object<'a>(v: &'a Value, path: &str) -> R<&'a Map<String, Value>> {
    match v {
        Value::Object(m) => Ok(m),
        v => Err(wrong(path, "structure", v)),
    }
}

pub fn string(v: &Value, path: &str) -> R<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        v => Err(wrong(path, "string", v)),
    }
}

pub fn int(v: &Value, path: &str) -> R<i64> {
    match v {
        Value::Number(n) if n.is_i64() => Ok(n.as_i64().unwrap_or_default()),
        v => Err(wrong(path, "integer", v)),
    }
}

pub fn boolean(v: &Value, path: &str) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        v => Err(wrong(path, "boolean", v)),
    }
}

pub fn double(v: &Value, path: &str) -> R<f64> {
    match v {
        Value::Number(n) => Ok(n.as_f64().unwrap_or_default()),
        v => Err(wrong(path, "double", v)),
    }
}

/// Epoch seconds, as rest-json writes timestamps.
pub fn timestamp(v: &Value, path: &str) -> R<super::Timestamp> {
    match v {
        Value::Number(n) => Ok(super::Timestamp(
            (n.as_f64().unwrap_or_default() * 1000.0) as i64,
        )),
        v => Err(wrong(path, "timestamp", v)),
    }
}

/// A list; item `i` is named `path[i]`.
pub fn list<T>(v: &Value, path: &str, f: impl Fn(&Value, &str) -> R<T>) -> R<Vec<T>> {
    match v {
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, x)| f(x, &format!("{path}[{i}]")))
            .collect(),
        v => Err(wrong(path, "list", v)),
    }
}

/// A map; the value of key `k` is named `path.k`.
pub fn map<T>(
    v: &Value,
    path: &str,
    key: impl Fn(&str, &str) -> R<String>,
    f: impl Fn(&Value, &str) -> R<T>,
) -> R<BTreeMap<String, T>> {
    match v {
        Value::Object(m) => {
            let mut out = BTreeMap::new();
            for (k, x) in m {
                let p = format!("{path}.{k}");
                out.insert(key(k, &p)?, f(x, &p)?);
            }
            Ok(out)
        }
        v => Err(wrong(path, "map", v)),
    }
}

/// An output as its JSON body.
pub fn encode<T: serde::Serialize, E>(v: &T) -> Result<Vec<u8>, super::Failure<E>> {
    serde_json::to_vec(v).map_err(|e| super::Failure::Encode(e.to_string()))
}

/// `{"message": …}`: the body of an error the model does not declare.
#[derive(serde::Serialize)]
pub struct MessageOnly<'a> {
    pub message: &'a str,
}
