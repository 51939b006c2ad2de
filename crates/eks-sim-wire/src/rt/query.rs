//! The query protocol (STS, IAM): form parameters in (`Key`, `Key.member.N`, `Key.Member`),
//! XML out.

use super::xml::{WriteXml, Writer};
use super::Violation;

type R<T> = Result<T, Violation>;

/// A request's parameters, URL query and form body together (the body comes last and a
/// lookup takes the last value).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    pub fn decode(raw_query: &str, body: &[u8]) -> Params {
        let mut v: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
            .into_owned()
            .collect();
        v.extend(form_urlencoded::parse(body).into_owned());
        Params(v)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether any parameter lies under `key` (`key.…`); the empty key holds everything.
    pub fn has_prefix(&self, key: &str) -> bool {
        key.is_empty()
            || self.0.iter().any(|(k, _)| {
                k.strip_prefix(key)
                    .is_some_and(|rest| rest.starts_with('.'))
            })
    }
}

/// `parent.name` (or `name` at the top).
pub fn child(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else {
        format!("{parent}.{name}")
    }
}

/// A required member's value.
pub fn required<T>(v: Option<T>, path: &str, name: &str) -> R<T> {
    v.ok_or_else(|| Violation::Missing {
        member: child(path, name),
    })
}

/// A list: `key.member.N…` in N order (`key=` alone is the empty list). Items are named
/// `path.member`.
pub fn list<T>(
    p: &Params,
    key: &str,
    path: &str,
    f: impl Fn(&Params, &str, &str) -> R<Option<T>>,
) -> R<Option<Vec<T>>> {
    let prefix = format!("{key}.member.");
    let mut ns: Vec<u32> =
        p.0.iter()
            .filter_map(|(k, _)| {
                let rest = k.strip_prefix(&prefix)?;
                rest.split('.').next()?.parse::<u32>().ok()
            })
            .collect();
    ns.sort_unstable();
    ns.dedup();
    if ns.is_empty() {
        return Ok(p.get(key).filter(|v| v.is_empty()).map(|_| Vec::new()));
    }
    let item_path = child(path, "member");
    let mut out = Vec::with_capacity(ns.len());
    for n in ns {
        if let Some(v) = f(p, &format!("{prefix}{n}"), &item_path)? {
            out.push(v);
        }
    }
    Ok(Some(out))
}

/// `<{Action}Response xmlns=…><{Action}Result>…</…><ResponseMetadata>…`; no result element
/// for an operation without output (`wrapper` `None`).
pub fn response<T: WriteXml>(
    ns: &str,
    action: &str,
    wrapper: Option<&str>,
    out: &T,
    request_id: &str,
) -> String {
    let mut w = Writer::new();
    let top = format!("{action}Response");
    w.start_ns(&top, ns);
    if let Some(r) = wrapper {
        w.start(r);
        out.write_xml(&mut w);
        w.end(r);
    }
    w.start("ResponseMetadata");
    w.leaf("RequestId", request_id);
    w.end("ResponseMetadata");
    w.end(&top);
    w.finish()
}

/// `<ErrorResponse><Error><Type>Sender|Receiver</Type><Code/><Message/></Error><RequestId/>`.
pub fn error(ns: &str, sender_fault: bool, code: &str, message: &str, request_id: &str) -> String {
    let mut w = Writer::new();
    w.start_ns("ErrorResponse", ns);
    w.start("Error");
    w.leaf("Type", if sender_fault { "Sender" } else { "Receiver" });
    w.leaf("Code", code);
    w.leaf("Message", message);
    w.end("Error");
    w.leaf("RequestId", request_id);
    w.end("ErrorResponse");
    w.finish()
}
