//! PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge
//! patch. The strategic form is applied as a merge patch (plus the `$patch: delete|replace`
//! directives on maps and `$retainKeys` ignored): for the kinds the simulator serves —
//! ConfigMap, Namespace, Node, the RBAC kinds — no list has a merge key a client patches, so
//! the result is the same.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchError {
    /// The body is not JSON of the expected shape.
    Malformed(String),
    /// A JSON patch operation that cannot apply (missing path, failed test).
    Failed(String),
}

/// RFC 7386.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Strategic merge patch, as described above.
pub fn strategic(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    match p.get("$patch").and_then(Value::as_str) {
        Some("delete") => {
            *target = Value::Null;
            return;
        }
        Some("replace") => {
            let mut p = p.clone();
            p.remove("$patch");
            *target = Value::Object(p);
            return;
        }
        _ => {}
    }
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
        } else {
            let slot = t.entry(k.clone()).or_insert(Value::Null);
            strategic(slot, v);
            if slot.is_null() {
                t.remove(k);
            }
        }
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn pointer_parent<'a>(
    doc: &'a mut Value,
    path: &str,
) -> Result<(&'a mut Value, String), PatchError> {
    let fail = || PatchError::Failed(format!("path {path:?} does not exist"));
    if !path.starts_with('/') {
        return Err(PatchError::Malformed(format!(
            "path {path:?} must start with /"
        )));
    }
    let (parent, last) = path.rsplit_once('/').ok_or_else(fail)?;
    let p = doc.pointer_mut(parent).ok_or_else(fail)?;
    Ok((p, unescape(last)))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), PatchError> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, key) = pointer_parent(doc, path)?;
    match parent {
        Value::Object(m) => {
            m.insert(key, value);
            Ok(())
        }
        Value::Array(a) => {
            let i = if key == "-" {
                a.len()
            } else {
                key.parse::<usize>()
                    .ok()
                    .filter(|i| *i <= a.len())
                    .ok_or_else(|| PatchError::Failed(format!("bad array index in {path:?}")))?
            };
            a.insert(i, value);
            Ok(())
        }
        _ => Err(PatchError::Failed(format!(
            "path {path:?} has no container"
        ))),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, PatchError> {
    let (parent, key) = pointer_parent(doc, path)?;
    let missing = || PatchError::Failed(format!("path {path:?} does not exist"));
    match parent {
        Value::Object(m) => m.remove(&key).ok_or_else(missing),
        Value::Array(a) => {
            let i = key
                .parse::<usize>()
                .ok()
                .filter(|i| *i < a.len())
                .ok_or_else(missing)?;
            Ok(a.remove(i))
        }
        _ => Err(missing()),
    }
}

/// RFC 6902.
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), PatchError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| PatchError::Malformed("a JSON patch must be a list of operations".into()))?;
    for op in ops {
        let name = op["op"].as_str().unwrap_or_default();
        let path = op["path"]
            .as_str()
            .ok_or_else(|| PatchError::Malformed("operation without a path".into()))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| PatchError::Malformed(format!("{name} without a value")))
        };
        let from = || {
            op["from"]
                .as_str()
                .ok_or_else(|| PatchError::Malformed(format!("{name} without from")))
        };
        match name {
            "add" => add(doc, path, value()?)?,
            "remove" => {
                remove(doc, path)?;
            }
            "replace" => {
                remove(doc, path)?;
                add(doc, path, value()?)?;
            }
            "move" => {
                let v = remove(doc, from()?)?;
                add(doc, path, v)?;
            }
            "copy" => {
                let v = doc
                    .pointer(from()?)
                    .cloned()
                    .ok_or_else(|| PatchError::Failed("copy from a missing path".into()))?;
                add(doc, path, v)?;
            }
            "test" => {
                if doc.pointer(path) != Some(&value()?) {
                    return Err(PatchError::Failed(format!("test failed at {path:?}")));
                }
            }
            other => {
                return Err(PatchError::Malformed(format!(
                    "unknown operation {other:?}"
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patches() {
        let base = json!({"metadata": {"name": "a", "labels": {"x": "1"}}, "data": {"k": "v", "old": "o"}});
        let mut m = base.clone();
        merge(
            &mut m,
            &json!({"data": {"old": null, "new": "n"}, "metadata": {"labels": {"y": "2"}}}),
        );
        assert_eq!(m["data"], json!({"k": "v", "new": "n"}));
        assert_eq!(m["metadata"]["labels"], json!({"x": "1", "y": "2"}));
        let mut s = base.clone();
        strategic(&mut s, &json!({"data": {"$patch": "replace", "only": "1"}}));
        assert_eq!(s["data"], json!({"only": "1"}));
        let mut j = base.clone();
        json_patch(
            &mut j,
            &json!([
                {"op": "add", "path": "/data/a~1b", "value": "1"},
                {"op": "remove", "path": "/data/old"},
                {"op": "replace", "path": "/data/k", "value": "w"},
                {"op": "test", "path": "/data/k", "value": "w"},
            ]),
        )
        .unwrap();
        assert_eq!(j["data"], json!({"k": "w", "a/b": "1"}));
        let mut bad = base.clone();
        assert!(matches!(
            json_patch(&mut bad, &json!([{"op": "remove", "path": "/nope"}])),
            Err(PatchError::Failed(_))
        ));
        assert!(matches!(
            json_patch(&mut bad, &json!({"op": "add"})),
            Err(PatchError::Malformed(_))
        ));
        assert!(matches!(
            json_patch(
                &mut bad,
                &json!([{"op": "test", "path": "/data/k", "value": "zzz"}])
            ),
            Err(PatchError::Failed(_))
        ));
    }
}
