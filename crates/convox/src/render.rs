//! What goes to stdout, and the small text renderings several commands share (tables,
//! history rows).

use serde::Serialize;

use crate::Fail;

/// Every result goes to stdout through here: line breaks kept, any other character a
/// terminal would act on escaped, whatever a value's source (an older store, AWS).
pub(crate) fn print(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(convox_params::printable_text(s).as_bytes());
}

/// A `--output json` answer. Through a `serde_json::Value`: every object's keys come out
/// sorted, whatever order a view type declares them in (as every answer always has).
pub(crate) fn print_json(v: &impl Serialize) -> Result<(), Fail> {
    let v = serde_json::to_value(v).map_err(|e| Fail::msg(format!("json: {e}")))?;
    let s = serde_json::to_string_pretty(&v).map_err(|e| Fail::msg(format!("json: {e}")))?;
    print(&format!("{s}\n"));
    Ok(())
}

/// Rows aligned in columns two blanks apart; the last column unpadded.
pub(crate) fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut s = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == N {
                line.push_str(c);
            } else {
                line.push_str(&format!("{:<w$}  ", c, w = widths[i]));
            }
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// Longest failure message a history row shows in text (JSON and the store keep it whole).
const SUMMARY_CHARS: usize = 72;

/// A failure message as one bounded line for the history table.
pub(crate) fn summary(message: &str) -> String {
    let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= SUMMARY_CHARS {
        return line;
    }
    let cut: String = line.chars().take(SUMMARY_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// `2026-11-28T21:08:05.884323606Z` → `2026-11-28T21:08:05Z` (text output only).
pub(crate) fn when_text(at: &str) -> String {
    match (at.find('.'), at.ends_with('Z')) {
        (Some(i), true) => format!("{}Z", &at[..i]),
        _ => at.to_string(),
    }
}

/// A history row's result in words.
pub(crate) fn result_text(e: &convox_store::HistoryEntry) -> String {
    use convox_store::ChangeResult;
    match e.result {
        ChangeResult::Ok => "ok".to_string(),
        ChangeResult::Pending => "pending".to_string(),
        ChangeResult::Failed => {
            format!("failed: {}", summary(e.message.as_deref().unwrap_or("")))
        }
    }
}

/// Whether some row's result was shortened by [`summary`].
pub(crate) fn any_shortened(entries: &[convox_store::HistoryEntry]) -> bool {
    entries.iter().any(|e| {
        e.message
            .as_deref()
            .is_some_and(|m| summary(m).ends_with('…'))
    })
}

/// A history entry's `what` in words (JSON output keeps the record as stored).
pub(crate) fn what_text(what: &serde_json::Value) -> String {
    let s = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let params: Vec<String> = what["params"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let key = s(&p["key"]).unwrap_or_default();
                    let new = s(&p["new"]).unwrap_or_default();
                    match s(&p["old"]) {
                        Some(old) => format!("{key} {old} -> {new}"),
                        None => format!("{key}={new}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let mut parts = Vec::new();
    if let (Some(provider), Some(cluster)) = (s(&what["provider"]), s(&what["cluster"])) {
        parts.push(format!(
            "{provider} rack, cluster {cluster} ({}), version {}",
            s(&what["region"]).unwrap_or_default(),
            s(&what["version"]).unwrap_or_default()
        ));
    }
    if let (Some(from), Some(to)) = (s(&what["from"]), s(&what["to"])) {
        parts.push(if from == to {
            format!("re-apply at {to}")
        } else {
            format!("version {from} -> {to}")
        });
        if let Some(left) = what["left_behind"].as_array() {
            let keys: Vec<String> = left.iter().filter_map(s).collect();
            parts.push(format!("{} left inactive", keys.join(", ")));
        }
        if what["forced"].as_bool() == Some(true) {
            parts.push("forced".into());
        }
    }
    parts.extend(params);
    parts.extend(s(&what["summary"]));
    if parts.is_empty() {
        what.to_string()
    } else {
        parts.join(", ")
    }
}
