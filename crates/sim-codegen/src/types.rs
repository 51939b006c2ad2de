//! Structures and enums: the types, their JSON serialization (rest-json outputs) and their
//! XML writers (query outputs).

use crate::model::{Kind, Member, Shape};
use crate::names::{field_name, is_named, lit, variants, Plan};
use crate::Error;
use std::fmt::Write as _;

pub fn emit(plan: &Plan, out: &mut String) -> Result<(), Error> {
    out.push_str("// ---------------------------------------------------------------------------\n// Types.\n\n");
    let mut shapes: Vec<&Shape> = Vec::new();
    for name in plan.inputs.iter().chain(&plan.outputs) {
        let s = plan.model.shape(name)?;
        if is_named(s) && !plan.errors.contains(name) && !shapes.iter().any(|x| x.name == s.name) {
            shapes.push(s);
        }
    }
    shapes.sort_by_key(|s| plan.type_name(s));
    for s in shapes {
        match &s.kind {
            Kind::String { values: Some(v) } => enum_type(plan, s, v, out),
            Kind::Structure { members, .. } => struct_type(plan, s, members, out)?,
            _ => {}
        }
    }
    // Operations without an input or output shape get an empty one, so that every trait
    // method has the same form.
    for op in &plan.ops {
        if op.input.is_none() {
            empty_struct(plan, &plan.input_type(op), false, out);
        }
        if op.output.is_none() {
            empty_struct(plan, &plan.output_type(op), true, out);
        }
    }
    Ok(())
}

fn empty_struct(plan: &Plan, name: &str, output: bool, out: &mut String) {
    let ser = if plan.rest {
        ", serde::Serialize, serde::Deserialize"
    } else {
        ""
    };
    let _ = writeln!(out, "/// (No shape in the model.)\n#[derive(Debug, Clone, PartialEq, Default{ser})]\npub struct {name} {{}}\n");
    if output && !plan.rest {
        let _ = writeln!(out, "impl rt::xml::WriteXml for {name} {{\n    fn write_xml(&self, _w: &mut rt::xml::Writer) {{}}\n}}\n");
    }
}

fn enum_type(plan: &Plan, s: &Shape, values: &[String], out: &mut String) {
    let name = plan.type_name(s);
    let vs = variants(values);
    let _ = writeln!(out, "/// botocore enum `{}`.", s.name);
    let _ = writeln!(
        out,
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]\npub enum {name} {{"
    );
    for (v, raw) in vs.iter().zip(values) {
        let _ = writeln!(out, "    /// `{raw}`\n    {v},");
    }
    out.push_str("}\n\n");
    let _ = writeln!(out, "impl {name} {{\n    /// Every value, in the model's order.\n    pub const VALUES: &'static [&'static str] = &[");
    for raw in values {
        let _ = writeln!(out, "        {},", lit(raw));
    }
    out.push_str("    ];\n\n    pub fn as_str(&self) -> &'static str {\n        match self {\n");
    for (v, raw) in vs.iter().zip(values) {
        let _ = writeln!(out, "            Self::{v} => {},", lit(raw));
    }
    out.push_str(
        "        }\n    }\n\n    pub fn parse(s: &str) -> Option<Self> {\n        match s {\n",
    );
    for (v, raw) in vs.iter().zip(values) {
        let _ = writeln!(out, "            {} => Some(Self::{v}),", lit(raw));
    }
    out.push_str("            _ => None,\n        }\n    }\n}\n\n");
    let _ = writeln!(out, "impl std::fmt::Display for {name} {{\n    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {{\n        f.write_str(self.as_str())\n    }}\n}}\n");
    if plan.rest {
        let _ = writeln!(out, "impl serde::Serialize for {name} {{\n    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {{\n        s.serialize_str(self.as_str())\n    }}\n}}\n");
        let _ = writeln!(out, "impl<'de> serde::Deserialize<'de> for {name} {{\n    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {{\n        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;\n        Self::parse(&s).ok_or_else(|| serde::de::Error::unknown_variant(&s, Self::VALUES))\n    }}\n}}\n");
    } else if plan.outputs.contains(&s.name) {
        let _ = writeln!(out, "impl rt::xml::XmlText for {name} {{\n    fn xml_text(&self) -> std::borrow::Cow<'_, str> {{\n        self.as_str().into()\n    }}\n}}\n");
    }
}

fn struct_type(plan: &Plan, s: &Shape, members: &[Member], out: &mut String) -> Result<(), Error> {
    let name = plan.type_name(s);
    // rest-json types convert both ways with serde (the simulator's model hands over JSON
    // documents for some members).
    let ser = plan.rest;
    let mut derives = String::from("Debug, Clone, PartialEq");
    if plan.defaultable(&s.name)? {
        derives.push_str(", Default");
    }
    if ser {
        derives.push_str(", serde::Serialize, serde::Deserialize");
    }
    let _ = writeln!(
        out,
        "/// botocore shape `{}`.\n#[derive({derives})]\npub struct {name} {{",
        s.name
    );
    let mut seen = Vec::new();
    for m in members {
        let f = field_name(m);
        if seen.contains(&f) {
            return Err(Error::Model(format!("{}: two members named {f}", s.name)));
        }
        seen.push(f.clone());
        let ty = plan.rust_ty(&m.shape)?;
        let where_ = match m.location.as_deref() {
            Some(l) => format!(" ({l} `{}`)", m.wire()),
            None => String::new(),
        };
        let req = if m.required { "required" } else { "optional" };
        let _ = writeln!(out, "    /// `{}`{where_}, {req}.", m.name);
        if ser {
            if m.required {
                let _ = writeln!(out, "    #[serde(rename = {})]", lit(m.wire()));
            } else {
                let _ = writeln!(
                    out,
                    "    #[serde(rename = {}, skip_serializing_if = \"Option::is_none\")]",
                    lit(m.wire())
                );
            }
        }
        if m.required {
            let _ = writeln!(out, "    pub {f}: {ty},");
        } else {
            let _ = writeln!(out, "    pub {f}: Option<{ty}>,");
        }
    }
    out.push_str("}\n\n");
    if !plan.rest && plan.outputs.contains(&s.name) {
        xml_writer(plan, &name, members, out)?;
    }
    Ok(())
}

fn xml_writer(plan: &Plan, name: &str, members: &[Member], out: &mut String) -> Result<(), Error> {
    let _ = writeln!(
        out,
        "impl rt::xml::WriteXml for {name} {{\n    fn write_xml(&self, w: &mut rt::xml::Writer) {{"
    );
    for m in members {
        let f = field_name(m);
        let body = xml_value(plan, "v", &m.shape, m.wire(), 3)?;
        if m.required {
            let _ = writeln!(
                out,
                "        {{\n            let v = &self.{f};\n{body}        }}"
            );
        } else {
            let _ = writeln!(
                out,
                "        if let Some(v) = &self.{f} {{\n{body}        }}"
            );
        }
    }
    out.push_str("    }\n}\n\n");
    Ok(())
}

/// Code writing `expr` (a reference to a value of `shape`) as element `tag`.
fn xml_value(
    plan: &Plan,
    expr: &str,
    shape: &str,
    tag: &str,
    depth: usize,
) -> Result<String, Error> {
    let pad = "    ".repeat(depth);
    let s = plan.model.shape(shape)?;
    Ok(match &s.kind {
        Kind::Structure { .. } => format!(
            "{pad}w.start({t});\n{pad}rt::xml::WriteXml::write_xml({expr}, w);\n{pad}w.end({t});\n",
            t = lit(tag)
        ),
        Kind::List { member, flattened } => {
            let item_tag = if *flattened { tag } else { "member" };
            let item = xml_value(plan, "it", member, item_tag, depth + 1)?;
            if *flattened {
                format!("{pad}for it in {expr}.iter() {{\n{item}{pad}}}\n")
            } else {
                format!(
                    "{pad}w.start({t});\n{pad}for it in {expr}.iter() {{\n{item}{pad}}}\n{pad}w.end({t});\n",
                    t = lit(tag)
                )
            }
        }
        Kind::Map { .. } => {
            return Err(Error::Model(format!(
                "{shape}: maps in XML output not supported"
            )))
        }
        _ => format!("{pad}w.leaf({}, {expr});\n", lit(tag)),
    })
}
