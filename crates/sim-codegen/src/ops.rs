//! Operations: the enum, the router (rest-json), the modelled errors, the service trait and
//! the dispatcher from a routed request to the trait.

use crate::model::{Kind, Operation};
use crate::names::{field_name, lit, snake, Plan};
use crate::Error;
use std::fmt::Write as _;

pub fn emit(plan: &Plan, out: &mut String) -> Result<(), Error> {
    let p = plan.svc.prefix;
    if let Some(ns) = &plan.model.xml_namespace {
        let _ = writeln!(out, "/// The XML namespace of the service's responses.\npub const XML_NAMESPACE: &str = {};\n", lit(ns));
    }
    let _ = writeln!(
        out,
        "/// The model's API version.\npub const API_VERSION: &str = {};\n",
        lit(&plan.model.api_version)
    );
    op_enum(plan, out);
    if plan.rest {
        router(plan, out)?;
    }
    errors(plan, out)?;
    let _ = writeln!(out, "/// The service, as the simulator's model implements it.\npub trait {p} {{\n    /// Who calls, where and when (the implementation's own context).\n    type Ctx: ?Sized;\n");
    for op in &plan.ops {
        let _ = writeln!(
            out,
            "    fn {}(&self, ctx: &Self::Ctx, input: {}) -> Result<{}, {p}Error>;",
            snake(&op.name),
            plan.input_type(op),
            plan.output_type(op)
        );
    }
    out.push_str("}\n\n");
    dispatcher(plan, out);
    Ok(())
}

fn op_enum(plan: &Plan, out: &mut String) {
    let p = plan.svc.prefix;
    let _ = writeln!(out, "/// The operations served.\n#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\npub enum {p}Operation {{");
    for op in &plan.ops {
        let _ = writeln!(out, "    {},", op.name);
    }
    let _ = writeln!(out, "}}\n\n/// The operations served, by botocore name.\npub const OPERATION_NAMES: &[&str] = &[");
    for op in &plan.ops {
        let _ = writeln!(out, "    {},", lit(&op.name));
    }
    let _ = writeln!(
        out,
        "];\n\nimpl {p}Operation {{\n    pub const ALL: &'static [{p}Operation] = &["
    );
    for op in &plan.ops {
        let _ = writeln!(out, "        Self::{},", op.name);
    }
    out.push_str("    ];\n\n    /// botocore's name (the query protocol's `Action`).\n    pub fn name(&self) -> &'static str {\n        match self {\n");
    for op in &plan.ops {
        let _ = writeln!(out, "            Self::{0} => \"{0}\",", op.name);
    }
    out.push_str("        }\n    }\n\n    pub fn from_name(name: &str) -> Option<Self> {\n        match name {\n");
    for op in &plan.ops {
        let _ = writeln!(out, "            \"{0}\" => Some(Self::{0}),", op.name);
    }
    out.push_str("            _ => None,\n        }\n    }\n\n");
    if plan.rest {
        labels_fn(plan, out);
    }
    out.push_str("    /// The error codes the model declares for the operation.\n    pub fn errors(&self) -> &'static [&'static str] {\n        match self {\n");
    for op in &plan.ops {
        let codes: Vec<String> = op
            .errors
            .iter()
            .map(|e| match plan.model.shape(e).map(|s| &s.kind) {
                Ok(Kind::Structure { error: Some(i), .. }) => lit(&i.code),
                _ => lit(e),
            })
            .collect();
        let _ = writeln!(
            out,
            "            Self::{} => &[{}],",
            op.name,
            codes.join(", ")
        );
    }
    out.push_str("        }\n    }\n}\n\n");
}

fn labels_fn(plan: &Plan, out: &mut String) {
    out.push_str("    /// The URI labels of the operation's template, in order.\n    pub fn labels(&self) -> &'static [&'static str] {\n        match self {\n");
    for op in &plan.ops {
        let labels: Vec<String> = op
            .uri
            .split('?')
            .next()
            .unwrap_or_default()
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|l| lit(l.trim_end_matches('+')))
            .collect();
        let _ = writeln!(
            out,
            "            Self::{} => &[{}],",
            op.name,
            labels.join(", ")
        );
    }
    out.push_str("        }\n    }\n\n");
}

/// One URI template: literal segments and labels.
struct Template<'a> {
    op: &'a Operation,
    segs: Vec<Seg>,
}

enum Seg {
    Lit(String),
    Label(String),
    Greedy(String),
}

fn template<'a>(plan: &Plan, op: &'a Operation) -> Result<Template<'a>, Error> {
    let path = op.uri.split('?').next().unwrap_or_default();
    let mut segs = Vec::new();
    for s in path.trim_matches('/').split('/').filter(|s| !s.is_empty()) {
        segs.push(
            match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(l) => {
                    let l = l.trim_end_matches('+');
                    if plan.svc.greedy_labels.contains(&l) || s.ends_with("+}") {
                        Seg::Greedy(l.to_string())
                    } else {
                        Seg::Label(l.to_string())
                    }
                }
                None => Seg::Lit(s.to_string()),
            },
        );
    }
    let greedy = segs.iter().position(|s| matches!(s, Seg::Greedy(_)));
    if greedy.is_some_and(|g| g + 1 != segs.len()) {
        return Err(Error::Model(format!(
            "{}: a greedy label not at the end",
            op.name
        )));
    }
    Ok(Template { op, segs })
}

fn router(plan: &Plan, out: &mut String) -> Result<(), Error> {
    let p = plan.svc.prefix;
    let mut ts: Vec<Template> = plan
        .ops
        .iter()
        .map(|o| template(plan, o))
        .collect::<Result<_, _>>()?;
    // Fixed-length templates first, fewer labels first (a literal beats a label); greedy
    // ones last, as they match any longer path.
    ts.sort_by_key(|t| {
        let greedy = t.segs.iter().any(|s| matches!(s, Seg::Greedy(_)));
        let labels = t.segs.iter().filter(|s| !matches!(s, Seg::Lit(_))).count();
        (greedy, labels, t.op.name.clone())
    });
    let _ = writeln!(out, "/// The operation of `method` + `path` (raw, percent-encoded; a query string is ignored), with its\n/// URI labels percent-decoded; `None` for a path the service does not have.\npub fn route(method: &str, path: &str) -> Option<rt::rest::Route<{p}Operation>> {{\n    let segs = rt::rest::segments(path)?;\n    let s: Vec<&str> = segs.iter().map(String::as_str).collect();\n    match (method, s.as_slice()) {{");
    for t in &ts {
        let mut pat = Vec::new();
        let mut labels = Vec::new();
        let mut guard = String::new();
        for (i, seg) in t.segs.iter().enumerate() {
            match seg {
                Seg::Lit(l) => pat.push(lit(l)),
                Seg::Label(l) => {
                    pat.push(format!("l{i}"));
                    labels.push(format!("({}, l{i}.to_string())", lit(l)));
                }
                Seg::Greedy(l) => {
                    pat.push(format!("l{i} @ .."));
                    guard = format!(" if !l{i}.is_empty()");
                    labels.push(format!("({}, l{i}.join(\"/\"))", lit(l)));
                }
            }
        }
        let _ = writeln!(out, "        ({}, [{}]){guard} => Some(rt::rest::Route {{\n            op: {p}Operation::{},\n            labels: vec![{}],\n        }}),", lit(&t.op.method), pat.join(", "), t.op.name, labels.join(", "));
    }
    out.push_str("        _ => None,\n    }\n}\n\n");
    Ok(())
}

type ErrorShape = (String, crate::model::ErrorInfo, Vec<crate::model::Member>);

/// One struct per error shape; answers the shapes and the string members other than
/// `message` (field, wire name) that get a `with_…` setter.
#[allow(clippy::type_complexity)]
fn error_structs(
    plan: &Plan,
    out: &mut String,
) -> Result<(Vec<ErrorShape>, Vec<(String, String)>), Error> {
    let mut extra: Vec<(String, String)> = Vec::new();
    let mut shapes = Vec::new();
    for e in &plan.errors {
        let s = plan.model.shape(e)?;
        let Kind::Structure {
            members,
            error: Some(info),
        } = &s.kind
        else {
            return Err(Error::Model(format!("{e}: not an error shape")));
        };
        let ser = if plan.rest { ", serde::Serialize" } else { "" };
        let _ = writeln!(out, "/// botocore error `{e}`: code `{}`, HTTP {}.\n#[derive(Debug, Clone, PartialEq, Default{ser})]\npub struct {e} {{", info.code, info.status);
        let mut has_message = false;
        for m in members {
            let f = field_name(m);
            if plan.rest {
                let _ = writeln!(
                    out,
                    "    #[serde(rename = {}, skip_serializing_if = \"Option::is_none\")]",
                    lit(m.wire())
                );
            }
            let ty = plan.rust_ty(&m.shape)?;
            if m.name.eq_ignore_ascii_case("message") {
                has_message = true;
            } else if ty == "String" && !extra.iter().any(|(x, _)| x == &f) {
                extra.push((f.clone(), m.wire().to_string()));
            }
            let _ = writeln!(out, "    pub {f}: Option<{ty}>,");
        }
        out.push_str("}\n\n");
        if !has_message {
            return Err(Error::Model(format!("{e}: no message member")));
        }
        shapes.push((e.clone(), info.clone(), members.clone()));
    }
    Ok((shapes, extra))
}

fn errors(plan: &Plan, out: &mut String) -> Result<(), Error> {
    let p = plan.svc.prefix;
    let (shapes, extra) = error_structs(plan, out)?;
    let _ = writeln!(out, "/// An error of the service: a modelled one, or another AWS answers (signature, throttling,\n/// validation: `Other`).\n#[derive(Debug, Clone, PartialEq)]\npub enum {p}Error {{");
    for (e, _, _) in &shapes {
        let _ = writeln!(out, "    {e}({e}),");
    }
    let _ = writeln!(out, "    Other(rt::OtherError),\n}}\n\nimpl {p}Error {{");
    out.push_str("    /// The error of `code`: the modelled one (with the model's status) if the model has it,\n    /// else `Other` with `status`.\n    pub fn from_code(code: &str, status: u16, message: impl Into<String>) -> Self {\n        let message = Some(message.into());\n        match code {\n");
    for (e, info, _) in &shapes {
        let _ = writeln!(
            out,
            "            {} => Self::{e}({e} {{ message, ..Default::default() }}),",
            lit(&info.code)
        );
    }
    out.push_str("            _ => Self::Other(rt::OtherError { code: code.to_string(), status, message: message.unwrap_or_default() }),\n        }\n    }\n\n");
    let arms =
        |out: &mut String, f: &dyn Fn(&str, &crate::model::ErrorInfo) -> String, other: &str| {
            for (e, info, _) in &shapes {
                let _ = writeln!(out, "            Self::{e}(e) => {},", f(e, info));
            }
            let _ = writeln!(out, "            Self::Other(o) => {other},");
        };
    out.push_str("    /// The code AWS answers (`x-amzn-ErrorType`, `<Code>`).\n    pub fn code(&self) -> &str {\n        match self {\n");
    arms(out, &|_, i| lit(&i.code), "&o.code");
    out.push_str("        }\n    }\n\n    pub fn status(&self) -> u16 {\n        match self {\n");
    arms(out, &|_, i| i.status.to_string(), "o.status");
    out.push_str("        }\n    }\n\n    /// The query protocol's `<Type>`: `Sender` for a client's fault.\n    pub fn sender_fault(&self) -> bool {\n        match self {\n");
    arms(out, &|_, i| i.sender_fault.to_string(), "o.status < 500");
    out.push_str("        }\n    }\n\n    pub fn message(&self) -> &str {\n        match self {\n");
    for (e, _, members) in &shapes {
        let m = members
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case("message"))
            .map(field_name)
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "            Self::{e}(e) => e.{m}.as_deref().unwrap_or_default(),"
        );
    }
    out.push_str("            Self::Other(o) => &o.message,\n        }\n    }\n");
    for (f, wire) in &extra {
        let _ = writeln!(out, "\n    /// Sets `{wire}` on the errors whose shape has it.\n    pub fn with_{}(mut self, v: impl Into<String>) -> Self {{\n        match &mut self {{", f.trim_start_matches("r#"));
        for (e, _, members) in &shapes {
            if members
                .iter()
                .any(|m| &field_name(m) == f && plan.rust_ty(&m.shape).is_ok_and(|t| t == "String"))
            {
                let _ = writeln!(out, "            Self::{e}(e) => e.{f} = Some(v.into()),");
            }
        }
        out.push_str("            _ => {}\n        }\n        self\n    }\n");
    }
    if plan.rest {
        out.push_str("\n    /// The JSON body AWS answers: the shape's members that are set.\n    pub fn to_json(&self) -> Vec<u8> {\n        let r = match self {\n");
        for (e, _, _) in &shapes {
            let _ = writeln!(out, "            Self::{e}(e) => serde_json::to_vec(e),");
        }
        out.push_str("            Self::Other(o) => serde_json::to_vec(&rt::json::MessageOnly { message: &o.message }),\n        };\n        r.unwrap_or_else(|_| b\"{}\".to_vec())\n    }\n");
    }
    out.push_str("}\n\n");
    Ok(())
}

fn dispatcher(plan: &Plan, out: &mut String) {
    let p = plan.svc.prefix;
    if plan.rest {
        let _ = writeln!(out, "/// Decodes a routed request, runs it on `svc` and encodes the answer (a JSON body).\npub fn serve<S: {p} + ?Sized>(\n    svc: &S,\n    ctx: &S::Ctx,\n    req: &rt::rest::Request<'_, {p}Operation>,\n) -> Result<Vec<u8>, rt::Failure<{p}Error>> {{\n    use rt::Failure::{{Invalid, Service}};\n    match req.route.op {{");
        for op in &plan.ops {
            let _ = writeln!(out, "        {p}Operation::{} => {{\n            let input = {}::decode(req).map_err(Invalid)?;\n            rt::json::encode(&svc.{}(ctx, input).map_err(Service)?)\n        }}", op.name, plan.input_type(op), snake(&op.name));
        }
        out.push_str("    }\n}\n");
    } else {
        let _ = writeln!(out, "/// Decodes an operation's parameters, runs it on `svc` and writes the XML answer.\npub fn serve<S: {p} + ?Sized>(\n    svc: &S,\n    ctx: &S::Ctx,\n    op: {p}Operation,\n    params: &rt::query::Params,\n    request_id: &str,\n) -> Result<String, rt::Failure<{p}Error>> {{\n    use rt::Failure::{{Invalid, Service}};\n    match op {{");
        for op in &plan.ops {
            let wrapper = match &op.result_wrapper {
                Some(w) => format!("Some({})", lit(w)),
                None => "None".into(),
            };
            let _ = writeln!(out, "        {p}Operation::{0} => {{\n            let input = {1}::decode(params).map_err(Invalid)?;\n            let out = svc.{2}(ctx, input).map_err(Service)?;\n            Ok(rt::query::response(XML_NAMESPACE, \"{0}\", {wrapper}, &out, request_id))\n        }}", op.name, plan.input_type(op), snake(&op.name));
        }
        out.push_str("    }\n}\n");
    }
}
