//! `maxResults` / `nextToken` paging, as every EKS List operation does it.

use super::errors::invalid_param;
use super::types::Page;
use crate::error::SimResult;

pub(super) fn check_max_results(max: Option<i32>) -> SimResult<usize> {
    match max {
        None => Ok(100),
        Some(n) if (1..=100).contains(&n) => Ok(n as usize),
        Some(n) => Err(invalid_param(format!(
            "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy \
             constraint: Member must have value between 1 and 100"
        ))),
    }
}

/// Pagination tokens are opaque to clients: the hex of the last key returned.
pub(super) fn encode_token(key: &str) -> String {
    let mut s = String::with_capacity(key.len() * 2);
    for b in key.as_bytes() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

pub(super) fn decode_token(token: Option<&str>) -> SimResult<Option<String>> {
    let Some(t) = token else { return Ok(None) };
    let bad = || invalid_param("The nextToken is invalid.");
    if t.is_empty() || !t.len().is_multiple_of(2) {
        return Err(bad());
    }
    let mut bytes = Vec::with_capacity(t.len() / 2);
    for i in (0..t.len()).step_by(2) {
        let pair = t.get(i..i + 2).ok_or_else(bad)?;
        bytes.push(u8::from_str_radix(pair, 16).map_err(|_| bad())?);
    }
    String::from_utf8(bytes).map(Some).map_err(|_| bad())
}

/// Pages `keys` (sorted) after `after`, `max` at a time.
pub(super) fn page_of<T: Clone>(
    items: &[T],
    key: impl Fn(&T) -> &str,
    after: Option<&str>,
    max: usize,
) -> Page<T> {
    let start = match after {
        Some(a) => items.partition_point(|i| key(i) <= a),
        None => 0,
    };
    let end = (start + max).min(items.len());
    let page: Vec<T> = items[start..end].to_vec();
    let next_token = if end < items.len() {
        page.last().map(|l| encode_token(key(l)))
    } else {
        None
    };
    Page {
        items: page,
        next_token,
    }
}

/// A page from keys a query already limited to `max + 1` (the extra one only tells that
/// there is more); no copying.
pub(super) fn page_from_limited(mut keys: Vec<String>, max: usize) -> Page<String> {
    let more = keys.len() > max;
    keys.truncate(max);
    let next_token = if more {
        keys.last().map(|k| encode_token(k))
    } else {
        None
    };
    Page {
        items: keys,
        next_token,
    }
}
