//! Request bodies in Kubernetes's protobuf encoding (`application/vnd.kubernetes.protobuf`),
//! which kubectl's typed clients send (`auth can-i`, `auth whoami`, `create configmap`):
//! the `k8s\0` magic, a `runtime.Unknown` envelope, the object. Decoded into the JSON the
//! rest of the simulator uses, for the kinds those clients send; answers are JSON, which
//! every client's `Accept` allows.

use serde_json::{json, Map, Value};

pub const MAGIC: &[u8] = b"k8s\0";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtoError(pub String);

/// One field of a message: number and payload (only varint and length-delimited are used by
/// the kinds decoded here; fixed-width ones are skipped).
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Skip,
}

fn varint(b: &[u8], i: &mut usize) -> Result<u64, ProtoError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b
            .get(*i)
            .ok_or_else(|| ProtoError("truncated varint".into()))?;
        *i += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(ProtoError("varint too long".into()))
}

fn fields(b: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, ProtoError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let tag = varint(b, &mut i)?;
        let (num, wt) = (tag >> 3, tag & 7);
        let w = match wt {
            0 => Wire::Varint(varint(b, &mut i)?),
            1 | 5 => {
                i += if wt == 1 { 8 } else { 4 };
                Wire::Skip
            }
            2 => {
                let n =
                    usize::try_from(varint(b, &mut i)?).map_err(|_| ProtoError("length".into()))?;
                let end = i
                    .checked_add(n)
                    .filter(|e| *e <= b.len())
                    .ok_or_else(|| ProtoError("truncated field".into()))?;
                let s = &b[i..end];
                i = end;
                Wire::Bytes(s)
            }
            _ => return Err(ProtoError(format!("unsupported wire type {wt}"))),
        };
        if i > b.len() {
            return Err(ProtoError("truncated field".into()));
        }
        out.push((num, w));
    }
    Ok(out)
}

fn text(b: &[u8]) -> Result<String, ProtoError> {
    String::from_utf8(b.to_vec()).map_err(|_| ProtoError("string is not UTF-8".into()))
}

/// Field shapes of the messages decoded.
#[derive(Clone, Copy)]
enum Shape {
    Str(&'static str),
    Bool(&'static str),
    /// `map<string,string>` (repeated entries key=1 value=2).
    Map(&'static str),
    Repeated(&'static str),
    Msg(&'static str, &'static [(u64, Shape)]),
    RepeatedMsg(&'static str, &'static [(u64, Shape)]),
}

const OBJECT_META: &[(u64, Shape)] = &[
    (1, Shape::Str("name")),
    (2, Shape::Str("generateName")),
    (3, Shape::Str("namespace")),
    (5, Shape::Str("uid")),
    (6, Shape::Str("resourceVersion")),
    (11, Shape::Map("labels")),
    (12, Shape::Map("annotations")),
    (14, Shape::Repeated("finalizers")),
];
const RESOURCE_ATTRS: &[(u64, Shape)] = &[
    (1, Shape::Str("namespace")),
    (2, Shape::Str("verb")),
    (3, Shape::Str("group")),
    (4, Shape::Str("version")),
    (5, Shape::Str("resource")),
    (6, Shape::Str("subresource")),
    (7, Shape::Str("name")),
];
const NON_RESOURCE_ATTRS: &[(u64, Shape)] = &[(1, Shape::Str("path")), (2, Shape::Str("verb"))];
const SSAR_SPEC: &[(u64, Shape)] = &[
    (1, Shape::Msg("resourceAttributes", RESOURCE_ATTRS)),
    (2, Shape::Msg("nonResourceAttributes", NON_RESOURCE_ATTRS)),
];
const POLICY_RULE: &[(u64, Shape)] = &[
    (1, Shape::Repeated("verbs")),
    (2, Shape::Repeated("apiGroups")),
    (3, Shape::Repeated("resources")),
    (4, Shape::Repeated("resourceNames")),
    (5, Shape::Repeated("nonResourceURLs")),
];
const SUBJECT: &[(u64, Shape)] = &[
    (1, Shape::Str("kind")),
    (2, Shape::Str("apiGroup")),
    (3, Shape::Str("name")),
    (4, Shape::Str("namespace")),
];
const ROLE_REF: &[(u64, Shape)] = &[
    (1, Shape::Str("apiGroup")),
    (2, Shape::Str("kind")),
    (3, Shape::Str("name")),
];
const SSRR_SPEC: &[(u64, Shape)] = &[(1, Shape::Str("namespace"))];

fn schema(kind: &str) -> Option<&'static [(u64, Shape)]> {
    const META: (u64, Shape) = (1, Shape::Msg("metadata", OBJECT_META));
    Some(match kind {
        "SelfSubjectReview" => &[META],
        "SelfSubjectAccessReview" => &[META, (2, Shape::Msg("spec", SSAR_SPEC))],
        "SelfSubjectRulesReview" => &[META, (2, Shape::Msg("spec", SSRR_SPEC))],
        "ConfigMap" => &[META, (2, Shape::Map("data")), (4, Shape::Bool("immutable"))],
        "Namespace" => &[META],
        "Role" | "ClusterRole" => &[META, (2, Shape::RepeatedMsg("rules", POLICY_RULE))],
        "RoleBinding" | "ClusterRoleBinding" => &[
            META,
            (2, Shape::RepeatedMsg("subjects", SUBJECT)),
            (3, Shape::Msg("roleRef", ROLE_REF)),
        ],
        _ => return None,
    })
}

fn decode(b: &[u8], shape: &[(u64, Shape)]) -> Result<Value, ProtoError> {
    let mut out = Map::new();
    for (num, w) in fields(b)? {
        let Some((_, s)) = shape.iter().find(|(n, _)| *n == num) else {
            continue;
        };
        match (s, w) {
            // An empty string is an unset field (Go's omitempty on the JSON side).
            (Shape::Str(_), Wire::Bytes([])) => {}
            (Shape::Str(k), Wire::Bytes(v)) => {
                out.insert(k.to_string(), json!(text(v)?));
            }
            (Shape::Bool(k), Wire::Varint(v)) => {
                out.insert(k.to_string(), json!(v != 0));
            }
            (Shape::Repeated(k), Wire::Bytes(v)) => {
                let e = out.entry(k.to_string()).or_insert_with(|| json!([]));
                if let Some(a) = e.as_array_mut() {
                    a.push(json!(text(v)?));
                }
            }
            (Shape::Map(k), Wire::Bytes(v)) => {
                let entry = decode(v, &[(1, Shape::Str("k")), (2, Shape::Str("v"))])?;
                let e = out.entry(k.to_string()).or_insert_with(|| json!({}));
                if let Some(m) = e.as_object_mut() {
                    let key = entry["k"].as_str().unwrap_or_default().to_string();
                    m.insert(key, json!(entry["v"].as_str().unwrap_or_default()));
                }
            }
            (Shape::Msg(k, inner), Wire::Bytes(v)) => {
                out.insert(k.to_string(), decode(v, inner)?);
            }
            (Shape::RepeatedMsg(k, inner), Wire::Bytes(v)) => {
                let item = decode(v, inner)?;
                let e = out.entry(k.to_string()).or_insert_with(|| json!([]));
                if let Some(a) = e.as_array_mut() {
                    a.push(item);
                }
            }
            _ => {
                return Err(ProtoError(format!(
                    "field {num} has an unexpected wire type"
                )))
            }
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a protobuf body into the object's JSON (with `kind` and `apiVersion` from the
/// envelope). `Err` for a malformed body or a kind this decoder does not know.
pub fn to_json(body: &[u8]) -> Result<Value, ProtoError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| ProtoError("missing the k8s protobuf prefix".into()))?;
    let mut type_meta = json!({});
    let mut raw: &[u8] = &[];
    for (num, w) in fields(rest)? {
        match (num, w) {
            (1, Wire::Bytes(t)) => {
                type_meta = decode(t, &[(1, Shape::Str("apiVersion")), (2, Shape::Str("kind"))])?;
            }
            (2, Wire::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    let kind = type_meta["kind"].as_str().unwrap_or_default().to_string();
    let shape = schema(&kind).ok_or_else(|| {
        ProtoError(format!(
            "protobuf bodies of kind {kind:?} are not supported; send JSON"
        ))
    })?;
    let mut obj = decode(raw, shape)?;
    obj["kind"] = json!(kind);
    obj["apiVersion"] = type_meta["apiVersion"].clone();
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld(num: u64, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![((num << 3) | 2) as u8, payload.len() as u8];
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn access_review() {
        let attrs = [
            ld(1, b"kube-system"),
            ld(2, b"get"),
            ld(5, b"configmaps"),
            ld(7, b"aws-auth"),
        ]
        .concat();
        let spec = ld(1, &attrs);
        let obj = [ld(1, &[]), ld(2, &spec)].concat();
        let tm = [
            ld(1, b"authorization.k8s.io/v1"),
            ld(2, b"SelfSubjectAccessReview"),
        ]
        .concat();
        let body = [MAGIC.to_vec(), ld(1, &tm), ld(2, &obj)].concat();
        let v = to_json(&body).unwrap();
        assert_eq!(v["spec"]["resourceAttributes"]["name"], "aws-auth");
        assert_eq!(v["spec"]["resourceAttributes"]["verb"], "get");
        assert_eq!(v["kind"], "SelfSubjectAccessReview");
        assert!(to_json(b"k8s\0\x0a\xff").is_err());
        assert!(to_json(b"{}").is_err());
    }
}
