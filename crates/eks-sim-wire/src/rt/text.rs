//! Scalars written as text: URI labels, query strings, query-protocol parameters.

use super::{Timestamp, Violation};

type R<T> = Result<T, Violation>;

fn nan(s: &str, path: &str) -> Violation {
    Violation::NotANumber {
        member: path.to_string(),
        value: s.to_string(),
    }
}

pub fn int(s: &str, path: &str) -> R<i64> {
    s.trim().parse::<i64>().map_err(|_| nan(s, path))
}

pub fn double(s: &str, path: &str) -> R<f64> {
    s.trim().parse::<f64>().map_err(|_| nan(s, path))
}

pub fn boolean(s: &str, path: &str) -> R<bool> {
    match s {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(Violation::WrongType {
            member: path.to_string(),
            expected: "boolean",
            got: "string",
        }),
    }
}

/// ISO 8601 (RFC 3339), or epoch seconds.
pub fn timestamp(s: &str, path: &str) -> R<Timestamp> {
    if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(Timestamp((t.unix_timestamp_nanos() / 1_000_000) as i64));
    }
    s.parse::<f64>()
        .map(|secs| Timestamp((secs * 1000.0) as i64))
        .map_err(|_| Violation::WrongType {
            member: path.to_string(),
            expected: "timestamp",
            got: "string",
        })
}
