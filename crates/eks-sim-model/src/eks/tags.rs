//! TagResource / UntagResource / ListTagsForResource for clusters and access entries, named
//! by ARN as EKS names them. Tags are what a rack's ownership rests on, and a user can edit
//! them, so the simulator lets them do so with EKS's rules:
//! - at most 50 tags per resource, keys of 1 to 128 characters, values up to 256;
//! - keys starting with `aws:` (any case) are reserved: they cannot be added or removed;
//! - the errors are the operations' own: `BadRequestException` (400) for a malformed request,
//!   `NotFoundException` (404) for an ARN that names nothing of the caller's.
//!
//! Other taggable EKS resources (node groups, add-ons, …) are refused with
//! BadRequestException naming what the simulator tags; their messages are the simulator's
//! own wording, as AWS does not document them.

use rusqlite::{params, Connection, OptionalExtension};

use super::clusters::find_cluster;
use super::types::TagMap;
use crate::error::{SimError, SimResult};
use crate::{Ctx, Sim};

/// Most tags a resource may carry.
pub const MAX_TAGS: usize = 50;
/// Longest tag key and value, in characters.
pub const MAX_KEY_CHARS: usize = 128;
pub const MAX_VALUE_CHARS: usize = 256;

fn bad_request(msg: impl Into<String>) -> SimError {
    SimError::new("BadRequestException", 400, msg)
}

fn not_found(arn: &str) -> SimError {
    SimError::new(
        "NotFoundException",
        404,
        format!("No resource found for arn: {arn}."),
    )
}

/// What an ARN names, with its tags as stored.
enum Tagged {
    Cluster {
        id: i64,
        tags: TagMap,
    },
    Entry {
        cluster_id: i64,
        principal_arn: String,
        tags: TagMap,
    },
}

impl Tagged {
    fn tags(&self) -> &TagMap {
        match self {
            Tagged::Cluster { tags, .. } | Tagged::Entry { tags, .. } => tags,
        }
    }
}

/// The resource `arn` names in the caller's account and the request's region.
fn resolve(conn: &Connection, ctx: &Ctx, arn: &str) -> SimResult<Tagged> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return Err(bad_request(format!("Invalid resource arn: {arn}.")));
    };
    if prefix != "arn" || service != "eks" || resource.is_empty() {
        return Err(bad_request(format!("Invalid resource arn: {arn}.")));
    }
    // Another account, region or partition: nothing of the caller's is there.
    if partition != ctx.partition() || region != ctx.region || account != ctx.caller.account {
        return Err(not_found(arn));
    }
    let (kind, rest) = resource.split_once('/').unwrap_or((resource, ""));
    match kind {
        "cluster" => {
            let c = find_cluster(conn, ctx, rest)?.ok_or_else(|| not_found(arn))?;
            Ok(Tagged::Cluster {
                id: c.id,
                tags: super::parse_json(&c.tags_json),
            })
        }
        "access-entry" => {
            let row: Option<(i64, String, String)> = conn
                .prepare_cached(
                    "SELECT cluster_id, principal_arn, tags_json FROM eks_access_entries \
                     WHERE arn = ?1",
                )?
                .query_row([arn], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let (cluster_id, principal_arn, tags) = row.ok_or_else(|| not_found(arn))?;
            Ok(Tagged::Entry {
                cluster_id,
                principal_arn,
                tags: super::parse_json(&tags),
            })
        }
        other => Err(bad_request(format!(
            "Tagging {other} resources is not supported by this simulator; it tags clusters and access entries."
        ))),
    }
}

fn reserved(key: &str) -> bool {
    key.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
}

fn check_key(key: &str) -> SimResult<()> {
    let n = key.chars().count();
    if n == 0 || n > MAX_KEY_CHARS {
        return Err(bad_request(format!(
            "Tag key '{key}' is invalid: a tag key is 1 to {MAX_KEY_CHARS} characters long."
        )));
    }
    if reserved(key) {
        return Err(bad_request(format!(
            "Tag key '{key}' is invalid: keys starting with 'aws:' are reserved for AWS use and cannot be added, changed or removed."
        )));
    }
    Ok(())
}

fn store(conn: &Connection, target: &Tagged, tags: &TagMap) -> SimResult<()> {
    let json = super::tags_json(tags);
    match target {
        Tagged::Cluster { id, .. } => conn
            .prepare_cached("UPDATE eks_clusters SET tags_json = ?1 WHERE id = ?2")?
            .execute(params![json, id])?,
        Tagged::Entry {
            cluster_id,
            principal_arn,
            ..
        } => conn
            .prepare_cached(
                "UPDATE eks_access_entries SET tags_json = ?1 \
                 WHERE cluster_id = ?2 AND principal_arn = ?3",
            )?
            .execute(params![json, cluster_id, principal_arn])?,
    };
    Ok(())
}

/// TagResource: adds `tags` (a key already there takes the new value).
pub fn tag_resource(sim: &Sim, ctx: &Ctx, arn: &str, tags: &TagMap) -> SimResult<()> {
    for (k, v) in tags {
        check_key(k)?;
        if v.chars().count() > MAX_VALUE_CHARS {
            return Err(bad_request(format!(
                "Tag value for key '{k}' is invalid: a tag value is at most {MAX_VALUE_CHARS} characters long."
            )));
        }
    }
    sim.store.write(|tx| {
        let target = resolve(tx, ctx, arn)?;
        let mut merged = target.tags().clone();
        merged.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        if merged.len() > MAX_TAGS {
            return Err(bad_request(format!(
                "Too many tags: a resource can have at most {MAX_TAGS} tags ({} requested).",
                merged.len()
            )));
        }
        store(tx, &target, &merged)
    })
}

/// UntagResource: removes `keys` (keys the resource does not have are ignored).
pub fn untag_resource(sim: &Sim, ctx: &Ctx, arn: &str, keys: &[String]) -> SimResult<()> {
    if keys.is_empty() || keys.len() > MAX_TAGS {
        return Err(bad_request(format!(
            "tagKeys must name 1 to {MAX_TAGS} tag keys."
        )));
    }
    for k in keys {
        check_key(k)?;
    }
    sim.store.write(|tx| {
        let target = resolve(tx, ctx, arn)?;
        let mut left = target.tags().clone();
        for k in keys {
            left.remove(k);
        }
        store(tx, &target, &left)
    })
}

/// ListTagsForResource.
pub fn list_tags_for_resource(sim: &Sim, ctx: &Ctx, arn: &str) -> SimResult<TagMap> {
    sim.store
        .read(|conn| Ok(resolve(conn, ctx, arn)?.tags().clone()))
}
