//! botocore's `service-2.json`, read into typed shapes with the members in the model's
//! order (the order AWS writes XML in; a `serde_json::Map` would sort them).

use crate::Error;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;

/// JSON with objects kept in document order.
#[derive(Debug, Clone)]
pub enum J {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    pub fn get(&self, k: &str) -> Option<&J> {
        match self {
            J::Obj(m) => m.iter().find(|(mk, _)| mk == k).map(|(_, v)| v),
            _ => None,
        }
    }
    fn str_at(&self, k: &str) -> Option<&str> {
        match self.get(k) {
            Some(J::Str(s)) => Some(s),
            _ => None,
        }
    }
    fn num_at(&self, k: &str) -> Option<i64> {
        match self.get(k) {
            // Bounds in the models are integral; anything else is not a bound we check.
            Some(J::Num(n)) if n.fract() == 0.0 => Some(*n as i64),
            _ => None,
        }
    }
    fn bool_at(&self, k: &str) -> bool {
        matches!(self.get(k), Some(J::Bool(true)))
    }
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = J;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<J, E> {
        Ok(J::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<J, E> {
        Ok(J::Num(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<J, E> {
        Ok(J::Num(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<J, E> {
        Ok(J::Num(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<J, E> {
        Ok(J::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<J, E> {
        Ok(J::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element()? {
            v.push(x);
        }
        Ok(J::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
        let mut v = Vec::new();
        while let Some((k, x)) = a.next_entry::<String, J>()? {
            v.push((k, x));
        }
        Ok(J::Obj(v))
    }
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

#[derive(Debug, Clone)]
pub struct Member {
    pub name: String,
    pub shape: String,
    /// `uri`, `querystring`, `header`, … (absent: the body).
    pub location: Option<String>,
    pub location_name: Option<String>,
    pub required: bool,
}

impl Member {
    /// The name on the wire: `locationName` where the model gives one.
    pub fn wire(&self) -> &str {
        self.location_name.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: String,
    pub status: u16,
    pub sender_fault: bool,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Structure {
        members: Vec<Member>,
        error: Option<ErrorInfo>,
    },
    List {
        member: String,
        flattened: bool,
    },
    Map {
        key: String,
        value: String,
    },
    String {
        values: Option<Vec<String>>,
    },
    Integer,
    Long,
    Boolean,
    Timestamp,
    Double,
    /// A type the generator does not handle (blob, document, …): an error if reached.
    Unsupported(String),
}

#[derive(Debug, Clone)]
pub struct Shape {
    pub name: String,
    pub kind: Kind,
    pub min: Option<i64>,
    pub max: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Operation {
    pub name: String,
    pub method: String,
    pub uri: String,
    pub input: Option<String>,
    pub output: Option<String>,
    pub result_wrapper: Option<String>,
    pub errors: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub protocol: String,
    pub api_version: String,
    pub xml_namespace: Option<String>,
    pub operations: BTreeMap<String, Operation>,
    pub shapes: BTreeMap<String, Shape>,
}

fn bad(what: impl Into<String>) -> Error {
    Error::Model(what.into())
}

impl Model {
    pub fn parse(bytes: &[u8]) -> Result<Model, Error> {
        let j: J = serde_json::from_slice(bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
        let meta = j.get("metadata").ok_or_else(|| bad("no metadata"))?;
        let mut operations = BTreeMap::new();
        if let Some(J::Obj(ops)) = j.get("operations") {
            for (name, o) in ops {
                operations.insert(name.clone(), parse_op(name, o)?);
            }
        }
        let mut shapes = BTreeMap::new();
        if let Some(J::Obj(all)) = j.get("shapes") {
            for (name, s) in all {
                shapes.insert(name.clone(), parse_shape(name, s)?);
            }
        }
        Ok(Model {
            protocol: meta.str_at("protocol").unwrap_or_default().to_string(),
            api_version: meta.str_at("apiVersion").unwrap_or_default().to_string(),
            xml_namespace: meta.str_at("xmlNamespace").map(str::to_string),
            operations,
            shapes,
        })
    }

    pub fn shape(&self, name: &str) -> Result<&Shape, Error> {
        self.shapes
            .get(name)
            .ok_or_else(|| bad(format!("unknown shape {name}")))
    }

    pub fn operation(&self, name: &str) -> Result<&Operation, Error> {
        self.operations
            .get(name)
            .ok_or_else(|| bad(format!("the model has no operation {name}")))
    }
}

fn shape_ref(j: Option<&J>) -> Option<String> {
    j.and_then(|r| r.str_at("shape")).map(str::to_string)
}

fn parse_op(name: &str, o: &J) -> Result<Operation, Error> {
    let http = o
        .get("http")
        .ok_or_else(|| bad(format!("{name}: no http")))?;
    let errors = match o.get("errors") {
        Some(J::Arr(a)) => a.iter().filter_map(|e| shape_ref(Some(e))).collect(),
        _ => vec![],
    };
    Ok(Operation {
        name: name.to_string(),
        method: http.str_at("method").unwrap_or("POST").to_string(),
        uri: http.str_at("requestUri").unwrap_or("/").to_string(),
        input: shape_ref(o.get("input")),
        output: shape_ref(o.get("output")),
        result_wrapper: o
            .get("output")
            .and_then(|r| r.str_at("resultWrapper"))
            .map(str::to_string),
        errors,
    })
}

fn parse_shape(name: &str, s: &J) -> Result<Shape, Error> {
    let ty = s
        .str_at("type")
        .ok_or_else(|| bad(format!("{name}: no type")))?;
    let kind = match ty {
        "structure" => {
            let required: Vec<&str> = match s.get("required") {
                Some(J::Arr(a)) => a
                    .iter()
                    .filter_map(|x| match x {
                        J::Str(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect(),
                _ => vec![],
            };
            let mut members = Vec::new();
            if let Some(J::Obj(ms)) = s.get("members") {
                for (mname, m) in ms {
                    members.push(Member {
                        name: mname.clone(),
                        shape: shape_ref(Some(m))
                            .ok_or_else(|| bad(format!("{name}.{mname}: no shape")))?,
                        location: m.str_at("location").map(str::to_string),
                        location_name: m.str_at("locationName").map(str::to_string),
                        required: required.contains(&mname.as_str()),
                    });
                }
            }
            let error = s.get("error").map(|e| {
                let status = e.num_at("httpStatusCode").unwrap_or(400) as u16;
                ErrorInfo {
                    code: e.str_at("code").unwrap_or(name).to_string(),
                    status,
                    // Query models say `senderFault`; rest-json ones mark server faults.
                    sender_fault: e.bool_at("senderFault") || (!s.bool_at("fault") && status < 500),
                }
            });
            Kind::Structure { members, error }
        }
        "list" => Kind::List {
            member: shape_ref(s.get("member")).ok_or_else(|| bad(format!("{name}: no member")))?,
            flattened: s.bool_at("flattened"),
        },
        "map" => Kind::Map {
            key: shape_ref(s.get("key")).ok_or_else(|| bad(format!("{name}: no key")))?,
            value: shape_ref(s.get("value")).ok_or_else(|| bad(format!("{name}: no value")))?,
        },
        "string" => Kind::String {
            values: match s.get("enum") {
                Some(J::Arr(a)) => Some(
                    a.iter()
                        .filter_map(|x| match x {
                            J::Str(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect(),
                ),
                _ => None,
            },
        },
        "integer" => Kind::Integer,
        "long" => Kind::Long,
        "boolean" => Kind::Boolean,
        "timestamp" => Kind::Timestamp,
        "double" | "float" => Kind::Double,
        other => Kind::Unsupported(other.to_string()),
    };
    Ok(Shape {
        name: name.to_string(),
        kind,
        min: s.num_at("min"),
        max: s.num_at("max"),
    })
}
