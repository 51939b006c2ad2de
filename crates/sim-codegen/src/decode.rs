//! Input decoders: from text (URI labels, query strings, query-protocol parameters), from a
//! JSON body (rest-json), and the operations' `decode` entry points. Each checks what the
//! model constrains: required members, types, enum values, ranges and lengths.

use crate::model::{Kind, Member, Shape};
use crate::names::{field_name, lit, Plan};
use crate::Error;
use std::fmt::Write as _;

pub fn emit(plan: &Plan, out: &mut String) -> Result<(), Error> {
    out.push_str("// ---------------------------------------------------------------------------\n// Decoding.\n\n");
    for name in &plan.texts {
        text_decoder(plan, plan.model.shape(name)?, out)?;
    }
    if plan.rest {
        for name in &plan.jsons {
            json_decoder(plan, plan.model.shape(name)?, out)?;
        }
    } else {
        for name in &plan.inputs {
            let top = plan.ops.iter().any(|o| o.input.as_ref() == Some(name));
            query_decoder(plan, plan.model.shape(name)?, top, out)?;
        }
    }
    for op in &plan.ops {
        let ty = plan.input_type(op);
        let members = match &op.input {
            Some(s) => match &plan.model.shape(s)?.kind {
                Kind::Structure { members, .. } => members.clone(),
                _ => return Err(Error::Model(format!("{s}: input is not a structure"))),
            },
            None => vec![],
        };
        if plan.rest {
            rest_entry(plan, &ty, &members, out)?;
        } else {
            let body = match &op.input {
                Some(s) => format!("qs_{s}(p, \"\", \"\")"),
                None => format!("Ok({ty} {{}})"),
            };
            let _ = writeln!(out, "impl {ty} {{\n    /// Decodes the operation's parameters, checking them as AWS does.\n    pub fn decode(p: &rt::query::Params) -> Result<Self, Violation> {{\n        {body}\n    }}\n}}\n");
        }
    }
    Ok(())
}

fn opt_lit(n: Option<i64>) -> String {
    match n {
        Some(n) => format!("Some({n})"),
        None => "None".into(),
    }
}

/// `rt::check::…` calls for the shape's bounds on `v` (a `String`, integer or collection).
fn checks(s: &Shape, v: &str) -> String {
    if s.min.is_none() && s.max.is_none() {
        return String::new();
    }
    let (min, max) = (opt_lit(s.min), opt_lit(s.max));
    match &s.kind {
        Kind::String { .. } => format!("    rt::check::length(path, &{v}, {min}, {max})?;\n"),
        Kind::Integer | Kind::Long => {
            format!("    rt::check::range(path, {v} as i64, {min}, {max})?;\n")
        }
        Kind::List { .. } | Kind::Map { .. } => {
            format!("    rt::check::count(path, {v}.len(), {min}, {max})?;\n")
        }
        _ => String::new(),
    }
}

/// The value of a string shape: itself, or its enum.
fn string_result(plan: &Plan, s: &Shape) -> String {
    match &s.kind {
        Kind::String { values: Some(_) } => {
            let t = plan.type_name(s);
            format!("    {t}::parse(&v).ok_or_else(|| Violation::Enum {{ member: path.to_string(), value: v, allowed: {t}::VALUES }})\n")
        }
        _ => "    Ok(v)\n".into(),
    }
}

fn text_decoder(plan: &Plan, s: &Shape, out: &mut String) -> Result<(), Error> {
    let ty = plan.rust_ty(&s.name)?;
    let _ = writeln!(
        out,
        "fn tx_{}(s: &str, path: &str) -> Result<{ty}, Violation> {{",
        s.name
    );
    match &s.kind {
        Kind::String { .. } => {
            out.push_str("    let v = s.to_string();\n");
            out.push_str(&checks(s, "v"));
            out.push_str(&string_result(plan, s));
        }
        Kind::Integer => {
            out.push_str("    let v = rt::text::int(s, path)?;\n");
            out.push_str(&checks(s, "v"));
            out.push_str("    rt::check::int32(path, v)\n");
        }
        Kind::Long => {
            out.push_str("    let v = rt::text::int(s, path)?;\n");
            out.push_str(&checks(s, "v"));
            out.push_str("    Ok(v)\n");
        }
        Kind::Boolean => out.push_str("    rt::text::boolean(s, path)\n"),
        Kind::Double => out.push_str("    rt::text::double(s, path)\n"),
        Kind::Timestamp => out.push_str("    rt::text::timestamp(s, path)\n"),
        _ => return Err(Error::Model(format!("{}: not a scalar", s.name))),
    }
    out.push_str("}\n\n");
    Ok(())
}

fn json_decoder(plan: &Plan, s: &Shape, out: &mut String) -> Result<(), Error> {
    let ty = plan.rust_ty(&s.name)?;
    let _ = writeln!(
        out,
        "fn js_{}(j: &serde_json::Value, path: &str) -> Result<{ty}, Violation> {{",
        s.name
    );
    match &s.kind {
        Kind::String { .. } => {
            out.push_str("    let v = rt::json::string(j, path)?;\n");
            out.push_str(&checks(s, "v"));
            out.push_str(&string_result(plan, s));
        }
        Kind::Integer => {
            out.push_str("    let v = rt::json::int(j, path)?;\n");
            out.push_str(&checks(s, "v"));
            out.push_str("    rt::check::int32(path, v)\n");
        }
        Kind::Long => {
            out.push_str("    let v = rt::json::int(j, path)?;\n");
            out.push_str(&checks(s, "v"));
            out.push_str("    Ok(v)\n");
        }
        Kind::Boolean => out.push_str("    rt::json::boolean(j, path)\n"),
        Kind::Double => out.push_str("    rt::json::double(j, path)\n"),
        Kind::Timestamp => out.push_str("    rt::json::timestamp(j, path)\n"),
        Kind::List { member, .. } => {
            let _ = writeln!(out, "    let v = rt::json::list(j, path, js_{member})?;");
            out.push_str(&checks(s, "v"));
            out.push_str("    Ok(v)\n");
        }
        Kind::Map { key, value } => {
            let _ = writeln!(
                out,
                "    let v = rt::json::map(j, path, tx_{key}, js_{value})?;"
            );
            out.push_str(&checks(s, "v"));
            out.push_str("    Ok(v)\n");
        }
        Kind::Structure { members, .. } => {
            out.push_str("    let m = rt::json::object(j, path)?;\n");
            let _ = writeln!(out, "    Ok({} {{", plan.type_name(s));
            for m in members {
                let f = field_name(m);
                let how = if m.required { "req" } else { "opt" };
                let _ = writeln!(
                    out,
                    "        {f}: rt::json::{how}(m, {}, path, js_{})?,",
                    lit(m.wire()),
                    m.shape
                );
            }
            out.push_str("    })\n");
        }
        Kind::Unsupported(t) => {
            return Err(Error::Model(format!("{}: unsupported type {t}", s.name)))
        }
    }
    out.push_str("}\n\n");
    Ok(())
}

/// `decode` of a rest-json operation: labels, query string, then the JSON body.
fn rest_entry(plan: &Plan, ty: &str, members: &[Member], out: &mut String) -> Result<(), Error> {
    let _ = writeln!(out, "impl {ty} {{\n    /// Decodes the request (labels, query string, body), checking it as AWS does.\n    pub fn decode<Op>(req: &rt::rest::Request<'_, Op>) -> Result<Self, Violation> {{");
    if members.iter().any(|m| m.location.is_none()) {
        out.push_str("        let body = rt::json::body(req.body)?;\n");
    }
    let _ = writeln!(out, "        Ok({ty} {{");
    for m in members {
        let f = field_name(m);
        let wire = lit(m.wire());
        let shape = plan.model.shape(&m.shape)?;
        let expr = match (m.location.as_deref(), &shape.kind) {
            (None, _) => {
                let how = if m.required { "req" } else { "opt" };
                format!("rt::json::{how}(&body, {wire}, \"\", js_{})?", m.shape)
            }
            (Some("uri"), _) => format!("tx_{}(req.label({wire}), {wire})?", m.shape),
            (Some("querystring"), Kind::List { member, .. }) => {
                let how = if m.required {
                    "query_list_req"
                } else {
                    "query_list_opt"
                };
                let get = format!("req.{how}({wire}, tx_{member})?");
                if shape.min.is_none() && shape.max.is_none() {
                    get
                } else {
                    let count = format!(
                        "rt::check::count({wire}, v.len(), {}, {})?;",
                        opt_lit(shape.min),
                        opt_lit(shape.max)
                    );
                    let check = if m.required {
                        count
                    } else {
                        format!("if let Some(v) = &v {{ {count} }}")
                    };
                    format!("{{\n                let v = {get};\n                {check}\n                v\n            }}")
                }
            }
            (Some("querystring"), _) => {
                let how = if m.required { "query_req" } else { "query_opt" };
                format!("req.{how}({wire}, tx_{})?", m.shape)
            }
            (Some("header"), _) => {
                let how = if m.required {
                    "header_req"
                } else {
                    "header_opt"
                };
                format!("req.{how}({wire}, tx_{})?", m.shape)
            }
            (Some(l), _) => return Err(Error::Model(format!("{ty}.{}: location {l}", m.name))),
        };
        let _ = writeln!(out, "            {f}: {expr},");
    }
    out.push_str("        })\n    }\n}\n\n");
    Ok(())
}

/// Query protocol: `qs_X` reads a structure known to be there, `qd_X` any shape when its
/// parameters are there (`Key`, `Key.member.N…`, `Key.Member…`).
fn query_decoder(plan: &Plan, s: &Shape, top: bool, out: &mut String) -> Result<(), Error> {
    let ty = plan.rust_ty(&s.name)?;
    let n = &s.name;
    match &s.kind {
        Kind::Structure { members, .. } => {
            let _ = writeln!(out, "fn qs_{n}(p: &rt::query::Params, key: &str, path: &str) -> Result<{ty}, Violation> {{\n    Ok({ty} {{");
            for m in members {
                let f = field_name(m);
                let lower = lower_camel(&m.name);
                let get = format!(
                    "qd_{}(p, &rt::query::child(key, {}), &rt::query::child(path, {}))?",
                    m.shape,
                    lit(m.wire()),
                    lit(&lower)
                );
                if m.required {
                    let _ = writeln!(
                        out,
                        "        {f}: rt::query::required({get}, path, {})?,",
                        lit(&lower)
                    );
                } else {
                    let _ = writeln!(out, "        {f}: {get},");
                }
            }
            out.push_str("    })\n}\n\n");
            if top {
                return Ok(());
            }
            let _ = writeln!(out, "fn qd_{n}(p: &rt::query::Params, key: &str, path: &str) -> Result<Option<{ty}>, Violation> {{\n    if !p.has_prefix(key) {{\n        return Ok(None);\n    }}\n    qs_{n}(p, key, path).map(Some)\n}}\n");
        }
        Kind::List { member, flattened } => {
            if *flattened {
                return Err(Error::Model(format!("{n}: flattened lists in query input")));
            }
            let _ = writeln!(out, "fn qd_{n}(p: &rt::query::Params, key: &str, path: &str) -> Result<Option<{ty}>, Violation> {{\n    let Some(v) = rt::query::list(p, key, path, qd_{member})? else {{\n        return Ok(None);\n    }};");
            out.push_str(&checks(s, "v"));
            out.push_str("    Ok(Some(v))\n}\n\n");
        }
        Kind::Map { .. } => return Err(Error::Model(format!("{n}: maps in query input"))),
        _ => {
            let _ = writeln!(out, "fn qd_{n}(p: &rt::query::Params, key: &str, path: &str) -> Result<Option<{ty}>, Violation> {{\n    p.get(key).map(|s| tx_{n}(s, path)).transpose()\n}}\n");
        }
    }
    Ok(())
}

/// AWS's query services name members in lower camel case in their messages (`roleName`).
fn lower_camel(s: &str) -> String {
    let mut cs = s.chars();
    match cs.next() {
        Some(f) => f.to_ascii_lowercase().to_string() + cs.as_str(),
        None => String::new(),
    }
}
