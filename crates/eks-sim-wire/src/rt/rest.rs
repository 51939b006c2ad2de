//! rest-json requests: the path split into labels, the query string, the body.

use super::Violation;
use percent_encoding::percent_decode_str;

type R<T> = Result<T, Violation>;

/// A routed request: its operation and its URI labels (percent-decoded), by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route<Op> {
    pub op: Op,
    pub labels: Vec<(&'static str, String)>,
}

impl<Op> Route<Op> {
    /// The label's value, `""` if the route has none by that name.
    pub fn label(&self, name: &str) -> &str {
        self.labels
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

/// The path's segments, percent-decoded: `None` for a path that is not `/`-rooted, has an
/// empty segment or is not UTF-8 once decoded. A query string and one trailing `/` are
/// ignored.
pub fn segments(path: &str) -> Option<Vec<String>> {
    let path = path.split('?').next().unwrap_or(path);
    let trimmed = path.strip_prefix('/')?;
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let mut out = Vec::new();
    for s in trimmed.split('/') {
        let d = percent_decode_str(s).decode_utf8().ok()?;
        if d.is_empty() {
            return None;
        }
        out.push(d.into_owned());
    }
    Some(out)
}

/// What an operation's `decode` reads.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a, Op> {
    pub route: &'a Route<Op>,
    /// Query parameters, decoded, in order.
    pub query: &'a [(String, String)],
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl<Op> Request<'_, Op> {
    pub fn label(&self, name: &str) -> &str {
        self.route.label(name)
    }

    /// A query parameter (its first value).
    pub fn query_opt<T>(&self, name: &str, f: impl Fn(&str, &str) -> R<T>) -> R<Option<T>> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| f(v, name))
            .transpose()
    }

    pub fn query_req<T>(&self, name: &str, f: impl Fn(&str, &str) -> R<T>) -> R<T> {
        self.query_opt(name, f)?.ok_or_else(|| Violation::Missing {
            member: name.to_string(),
        })
    }

    /// Every value of a repeated query parameter (`tagKeys=a&tagKeys=b`), in order.
    pub fn query_list_opt<T>(
        &self,
        name: &str,
        f: impl Fn(&str, &str) -> R<T>,
    ) -> R<Option<Vec<T>>> {
        let v: Vec<T> = self
            .query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| f(v, name))
            .collect::<R<_>>()?;
        Ok(if v.is_empty() { None } else { Some(v) })
    }

    pub fn query_list_req<T>(&self, name: &str, f: impl Fn(&str, &str) -> R<T>) -> R<Vec<T>> {
        self.query_list_opt(name, f)?
            .ok_or_else(|| Violation::Missing {
                member: name.to_string(),
            })
    }

    /// A header (names compare case-insensitively).
    pub fn header_opt<T>(&self, name: &str, f: impl Fn(&str, &str) -> R<T>) -> R<Option<T>> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| f(v, name))
            .transpose()
    }

    pub fn header_req<T>(&self, name: &str, f: impl Fn(&str, &str) -> R<T>) -> R<T> {
        self.header_opt(name, f)?.ok_or_else(|| Violation::Missing {
            member: name.to_string(),
        })
    }
}
