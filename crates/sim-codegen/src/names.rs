//! What to generate for a service (the shapes its served operations reach, by role) and
//! the Rust names of shapes, members and enum values.

use crate::model::{Kind, Member, Model, Operation, Shape};
use crate::{Error, Service};
use std::collections::{BTreeMap, BTreeSet};

pub struct Plan<'a> {
    pub svc: &'a Service,
    pub model: &'a Model,
    /// rest-json (EKS) or query (STS, IAM).
    pub rest: bool,
    pub ops: Vec<&'a Operation>,
    /// Shapes reached from an operation's input, and from its output.
    pub inputs: BTreeSet<String>,
    pub outputs: BTreeSet<String>,
    /// Scalar input shapes read from text (URI labels, query strings, query protocol).
    pub texts: BTreeSet<String>,
    /// Input shapes (below the operation's input) read from a JSON body.
    pub jsons: BTreeSet<String>,
    /// Error shapes of the served operations, by name.
    pub errors: BTreeSet<String>,
    renames: BTreeMap<String, String>,
}

fn bad(what: String) -> Error {
    Error::Model(what)
}

impl<'a> Plan<'a> {
    pub fn new(svc: &'a Service, model: &'a Model) -> Result<Plan<'a>, Error> {
        let rest = match model.protocol.as_str() {
            "rest-json" => true,
            "query" => false,
            p => return Err(bad(format!("{}: unsupported protocol {p}", svc.module))),
        };
        let mut plan = Plan {
            svc,
            model,
            rest,
            ops: Vec::new(),
            inputs: BTreeSet::new(),
            outputs: BTreeSet::new(),
            texts: BTreeSet::new(),
            jsons: BTreeSet::new(),
            errors: BTreeSet::new(),
            renames: BTreeMap::new(),
        };
        for name in svc.operations {
            let op = model.operation(name)?;
            plan.ops.push(op);
            for (shape, suffix) in [(&op.input, "Input"), (&op.output, "Output")] {
                if let Some(s) = shape {
                    let new = format!("{name}{suffix}");
                    if plan.renames.insert(s.clone(), new).is_some() {
                        return Err(bad(format!("{s} is the input or output of two operations")));
                    }
                }
            }
            if let Some(s) = &op.input {
                plan.walk_input(s, true, plan.rest, &mut Vec::new())?;
            }
            if let Some(s) = &op.output {
                plan.walk_output(s, &mut Vec::new())?;
            }
            plan.errors.extend(op.errors.iter().cloned());
        }
        plan.check_names()?;
        Ok(plan)
    }

    fn walk_input(
        &mut self,
        name: &str,
        top: bool,
        json: bool,
        stack: &mut Vec<String>,
    ) -> Result<(), Error> {
        if stack.iter().any(|s| s == name) {
            return Err(bad(format!("recursive shape {name}: not supported")));
        }
        let shape = self.model.shape(name)?.clone();
        self.inputs.insert(name.to_string());
        if json && !top {
            self.jsons.insert(name.to_string());
        }
        stack.push(name.to_string());
        match &shape.kind {
            Kind::Structure { members, .. } => {
                for m in members {
                    if !top && m.location.is_some() {
                        return Err(bad(format!("{name}.{}: nested location", m.name)));
                    }
                    let located = m.location.is_some();
                    self.walk_input(&m.shape, false, json && !located, stack)?;
                    if !self.rest || located {
                        self.mark_text(&m.shape)?;
                    }
                }
            }
            Kind::List { member, .. } => self.walk_input(member, false, json, stack)?,
            Kind::Map { key, value } => {
                if !self.rest {
                    return Err(bad(format!("{name}: maps in query input not supported")));
                }
                // Keys are JSON object keys: text.
                self.walk_input(key, false, false, stack)?;
                self.mark_text(key)?;
                self.walk_input(value, false, json, stack)?;
            }
            _ => {}
        }
        stack.pop();
        Ok(())
    }

    /// A scalar read from text; for a list in a query string, its items.
    fn mark_text(&mut self, name: &str) -> Result<(), Error> {
        match &self.model.shape(name)?.kind {
            Kind::List { member, .. } => {
                let member = member.clone();
                self.mark_text(&member)
            }
            Kind::Structure { .. } => Ok(()),
            Kind::Map { .. } => Err(bad(format!("{name}: a map read from text"))),
            _ => {
                self.texts.insert(name.to_string());
                Ok(())
            }
        }
    }

    fn walk_output(&mut self, name: &str, stack: &mut Vec<String>) -> Result<(), Error> {
        if stack.iter().any(|s| s == name) {
            return Err(bad(format!("recursive shape {name}: not supported")));
        }
        let shape = self.model.shape(name)?.clone();
        self.outputs.insert(name.to_string());
        stack.push(name.to_string());
        match &shape.kind {
            Kind::Structure { members, .. } => {
                for m in members {
                    if m.location.is_some() {
                        return Err(bad(format!("{name}.{}: output in a header", m.name)));
                    }
                    self.walk_output(&m.shape, stack)?;
                }
            }
            Kind::List { member, .. } => self.walk_output(member, stack)?,
            Kind::Map { key, value } => {
                self.walk_output(key, stack)?;
                self.walk_output(value, stack)?;
            }
            _ => {}
        }
        stack.pop();
        Ok(())
    }

    /// Every emitted type has a distinct name that no std type shadows.
    fn check_names(&self) -> Result<(), Error> {
        let mut seen = BTreeMap::new();
        for s in self.inputs.iter().chain(&self.outputs).chain(&self.errors) {
            let shape = self.model.shape(s)?;
            if !is_named(shape) {
                continue;
            }
            let n = self.type_name(shape);
            if [
                "String",
                "Option",
                "Vec",
                "Result",
                "Box",
                "BTreeMap",
                "Violation",
            ]
            .contains(&n.as_str())
            {
                return Err(bad(format!("shape {s} would shadow {n}")));
            }
            if let Some(other) = seen.insert(n.clone(), s.clone()) {
                if &other != s {
                    return Err(bad(format!("shapes {other} and {s} both name {n}")));
                }
            }
        }
        Ok(())
    }

    pub fn input_type(&self, op: &Operation) -> String {
        format!("{}Input", op.name)
    }

    pub fn output_type(&self, op: &Operation) -> String {
        format!("{}Output", op.name)
    }

    /// The Rust name of a structure or enum shape.
    pub fn type_name(&self, shape: &Shape) -> String {
        self.renames
            .get(&shape.name)
            .cloned()
            .unwrap_or_else(|| upper_camel(&shape.name))
    }

    /// The Rust type of a member of shape `name`.
    pub fn rust_ty(&self, name: &str) -> Result<String, Error> {
        let s = self.model.shape(name)?;
        Ok(match &s.kind {
            Kind::Structure { .. } | Kind::String { values: Some(_) } => self.type_name(s),
            Kind::String { values: None } => "String".into(),
            Kind::Integer => "i32".into(),
            Kind::Long => "i64".into(),
            Kind::Boolean => "bool".into(),
            Kind::Double => "f64".into(),
            Kind::Timestamp => "rt::Timestamp".into(),
            Kind::List { member, .. } => format!("Vec<{}>", self.rust_ty(member)?),
            Kind::Map { value, .. } => format!("BTreeMap<String, {}>", self.rust_ty(value)?),
            Kind::Unsupported(t) => return Err(bad(format!("{name}: unsupported type {t}"))),
        })
    }

    /// Whether a value of this shape has an obvious empty value (for `Default`).
    pub fn defaultable(&self, name: &str) -> Result<bool, Error> {
        let s = self.model.shape(name)?;
        Ok(match &s.kind {
            Kind::String { values: Some(_) } => false,
            Kind::Structure { members, .. } => {
                for m in members {
                    if m.required && !self.defaultable(&m.shape)? {
                        return Ok(false);
                    }
                }
                true
            }
            _ => true,
        })
    }
}

/// Structures and enums get a type of their own; other shapes are std types.
pub fn is_named(s: &Shape) -> bool {
    matches!(
        s.kind,
        Kind::Structure { .. } | Kind::String { values: Some(_) }
    )
}

pub fn upper_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut up = true;
    for c in s.chars() {
        if !c.is_ascii_alphanumeric() {
            up = true;
            continue;
        }
        if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

pub fn snake(s: &str) -> String {
    let cs: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in cs.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev = i.checked_sub(1).map(|j| cs[j]);
            let next = cs.get(i + 1);
            let boundary = match prev {
                None => false,
                Some(p) if p.is_ascii_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_ascii_uppercase() => next.is_some_and(|n| n.is_ascii_lowercase()),
                _ => false,
            };
            if boundary && !out.ends_with('_') {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    out
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move",
    "mut", "pub", "ref", "return", "static", "struct", "trait", "true", "try", "type", "unsafe",
    "use", "where", "while", "yield",
];

pub fn field_name(m: &Member) -> String {
    let s = snake(&m.name);
    if KEYWORDS.contains(&s.as_str()) {
        format!("r#{s}")
    } else {
        s
    }
}

/// Variant names for enum values, distinct within the enum (`API_AND_CONFIG_MAP` →
/// `ApiAndConfigMap`, `AL2_x86_64` → `Al2X8664`, `1.29` → `V129`).
pub fn variants(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for v in values {
        let mut name = String::new();
        for part in v.split(|c: char| !c.is_ascii_alphanumeric()) {
            let mut cs = part.chars();
            if let Some(f) = cs.next() {
                name.push(f.to_ascii_uppercase());
                name.extend(cs.map(|c| c.to_ascii_lowercase()));
            }
        }
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            name.insert(0, 'V');
        }
        let base = name.clone();
        let mut n = 2;
        while out.contains(&name) {
            name = format!("{base}{n}");
            n += 1;
        }
        out.push(name);
    }
    out
}

/// A Rust string literal.
pub fn lit(s: &str) -> String {
    format!("{s:?}")
}
