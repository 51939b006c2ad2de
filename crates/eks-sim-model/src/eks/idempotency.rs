//! `clientRequestToken` idempotency: a retry of a call that did succeed gets the same answer
//! instead of a conflict, as AWS does.

use crate::error::SimResult;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

/// The clientRequestToken a stored cluster or node group document was created with.
pub(super) fn stored_token(doc_json: &str) -> Option<String> {
    serde_json::from_str::<Value>(doc_json)
        .ok()?
        .get("clientRequestToken")?
        .as_str()
        .map(str::to_string)
}

/// What an earlier call with this clientRequestToken made, if any.
pub(super) fn token_result(
    tx: &Connection,
    cluster_id: i64,
    op: &str,
    token: Option<&str>,
) -> SimResult<Option<String>> {
    let Some(token) = token else { return Ok(None) };
    Ok(tx
        .prepare_cached(
            "SELECT result FROM eks_tokens WHERE cluster_id = ?1 AND op = ?2 AND token = ?3",
        )?
        .query_row(params![cluster_id, op, token], |r| r.get(0))
        .optional()?)
}

pub(super) fn remember_token(
    tx: &Connection,
    cluster_id: i64,
    op: &str,
    token: Option<&str>,
    result: &str,
) -> SimResult<()> {
    if let Some(token) = token {
        tx.prepare_cached(
            "INSERT OR REPLACE INTO eks_tokens (cluster_id, op, token, result) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![cluster_id, op, token, result])?;
    }
    Ok(())
}
