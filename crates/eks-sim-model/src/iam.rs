//! IAM: roles and users (the principals of access entries), and access keys for users.
//! IAM is global: its ARNs carry no region, only the partition.

use crate::error::{SimError, SimResult};
use crate::{Ctx, Sim};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrincipalKind {
    Role,
    User,
}

/// An IAM principal found by its exact ARN (path included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub arn: String,
    pub account: String,
    pub kind: PrincipalKind,
    /// RoleId (`AROA…`) or UserId (`AIDA…`).
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub account: String,
    pub name: String,
    pub path: String,
    pub arn: String,
    pub role_id: String,
    pub assume_role_policy: String,
    pub description: Option<String>,
    pub max_session_duration: i64,
    pub created_ms: i64,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub account: String,
    pub name: String,
    pub path: String,
    pub arn: String,
    pub user_id: String,
    pub created_ms: i64,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Default)]
pub struct CreateRoleInput {
    pub role_name: String,
    pub path: Option<String>,
    pub assume_role_policy_document: String,
    pub description: Option<String>,
    pub max_session_duration: Option<i64>,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone)]
pub struct AccessKey {
    pub user_name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub created_ms: i64,
}

/// Exact ARN match, path included. `None` when no such role or user exists.
/// The partition field is not compared: the simulated account exists in every partition
/// (callers that care compare it with the cluster's).
pub fn lookup_principal(conn: &Connection, arn: &str) -> SimResult<Option<Principal>> {
    let stored = crate::arn::canonical(arn);
    let mut st = conn.prepare_cached("SELECT account, role_id FROM iam_roles WHERE arn = ?1")?;
    if let Some((account, id)) = st
        .query_row([&*stored], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?
    {
        return Ok(Some(Principal {
            arn: arn.to_string(),
            account,
            kind: PrincipalKind::Role,
            id,
        }));
    }
    let mut st = conn.prepare_cached("SELECT account, user_id FROM iam_users WHERE arn = ?1")?;
    Ok(st
        .query_row([&*stored], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?
        .map(|(account, id)| Principal {
            arn: arn.to_string(),
            account,
            kind: PrincipalKind::User,
            id,
        }))
}

/// A trust policy letting any principal of `account` assume a role.
pub fn account_trust_policy(account: &str, partition: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:{partition}:iam::{account}:root"}},"Action":"sts:AssumeRole"}}]}}"#
    )
}

/// `1 validation error detected: …` as AWS's query services word a constraint failure.
pub fn validation(field: &str, value: &str, constraint: &str) -> SimError {
    SimError::new(
        "ValidationError",
        400,
        format!(
            "1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        ),
    )
}

/// The constraint AWS names for a value outside `min..=max`: the bound it crossed.
pub fn bound(what: &str, n: i64, min: i64, max: i64) -> String {
    if n < min {
        format!("Member must have {what} greater than or equal to {min}")
    } else {
        format!("Member must have {what} less than or equal to {max}")
    }
}

/// IAM's name pattern `[\w+=,.@-]+` with a length range.
fn check_name(field: &str, v: &str, max: usize) -> SimResult<()> {
    if v.is_empty() || v.chars().count() > max {
        return Err(validation(
            field,
            v,
            &bound("length", v.chars().count() as i64, 1, max as i64),
        ));
    }
    if !v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(validation(
            field,
            v,
            r"Member must satisfy regular expression pattern: [\w+=,.@-]+",
        ));
    }
    Ok(())
}

/// IAM's path pattern: `/` or `/…/` of printable ASCII, at most 512 characters.
fn check_path(v: &str) -> SimResult<()> {
    let ok = v.len() <= 512
        && v.starts_with('/')
        && v.ends_with('/')
        && v.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(validation(
            "path",
            v,
            r"Member must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)",
        ))
    }
}

fn check_tags(tags: &[Tag]) -> SimResult<()> {
    if tags.len() > 50 {
        return Err(SimError::new(
            "LimitExceeded",
            409,
            "Cannot exceed quota for TagsPerRole: 50.",
        ));
    }
    for t in tags {
        if t.key.is_empty() || t.key.chars().count() > 128 {
            return Err(validation(
                "tags.member.key",
                &t.key,
                "Member must have length less than or equal to 128",
            ));
        }
        if t.value.chars().count() > 256 {
            return Err(validation(
                "tags.member.value",
                &t.value,
                "Member must have length less than or equal to 256",
            ));
        }
        // AWS keeps the `aws:` prefix (any case) for its own tags and refuses it from callers.
        if t.key
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
        {
            return Err(SimError::new(
                "InvalidInput",
                400,
                format!(
                    "Tag key '{}' is invalid: keys beginning with 'aws:' are reserved for AWS use.",
                    t.key
                ),
            ));
        }
    }
    let mut keys: Vec<String> = tags.iter().map(|t| t.key.to_lowercase()).collect();
    keys.sort();
    keys.dedup();
    if keys.len() != tags.len() {
        return Err(SimError::new(
            "InvalidInput",
            400,
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.",
        ));
    }
    Ok(())
}

/// A random IAM unique id: prefix + 17 upper-case alphanumerics.
pub fn unique_id(prefix: &str) -> String {
    use rand::Rng;
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::thread_rng();
    let mut s = String::with_capacity(prefix.len() + 17);
    s.push_str(prefix);
    for _ in 0..17 {
        s.push(ALPHA[rng.gen_range(0..ALPHA.len())] as char);
    }
    s
}

/// An access key id of AWS's shape: the prefix (`AKIA` long-term, `ASIA` temporary) and 16
/// more characters, 20 in all (unique ids of roles and users have 17 after the prefix).
pub fn access_key_id(prefix: &str) -> String {
    let mut id = unique_id(prefix);
    id.truncate(prefix.len() + 16);
    id
}

/// A random secret of AWS's shape (40 characters, base64 alphabet).
pub fn secret_key() -> String {
    use rand::Rng;
    const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| ALPHA[rng.gen_range(0..ALPHA.len())] as char)
        .collect()
}

fn tags_json(tags: &[Tag]) -> SimResult<String> {
    serde_json::to_string(tags).map_err(|e| SimError::internal(format!("tags: {e}")))
}

fn tags_from(json: &str) -> Vec<Tag> {
    serde_json::from_str(json).unwrap_or_default()
}

const ROLE_COLS: &str = "account, name, path, arn, role_id, assume_role_policy, description, \
                         max_session_duration, created_ms, tags_json";

fn role_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Role> {
    Ok(Role {
        account: r.get(0)?,
        name: r.get(1)?,
        path: r.get(2)?,
        arn: r.get(3)?,
        role_id: r.get(4)?,
        assume_role_policy: r.get(5)?,
        description: r.get(6)?,
        max_session_duration: r.get(7)?,
        created_ms: r.get(8)?,
        tags: tags_from(&r.get::<_, String>(9)?),
    })
}

const USER_COLS: &str = "account, name, path, arn, user_id, created_ms, tags_json";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        account: r.get(0)?,
        name: r.get(1)?,
        path: r.get(2)?,
        arn: r.get(3)?,
        user_id: r.get(4)?,
        created_ms: r.get(5)?,
        tags: tags_from(&r.get::<_, String>(6)?),
    })
}

pub fn create_role_in(tx: &Transaction<'_>, ctx: &Ctx, input: &CreateRoleInput) -> SimResult<Role> {
    check_name("roleName", &input.role_name, 64)?;
    let path = input.path.clone().unwrap_or_else(|| "/".to_string());
    check_path(&path)?;
    let doc = &input.assume_role_policy_document;
    if doc.is_empty() || doc.len() > 131_072 {
        return Err(validation(
            "assumeRolePolicyDocument",
            doc,
            "Member must have length less than or equal to 131072",
        ));
    }
    if !serde_json::from_str::<serde_json::Value>(doc)
        .map(|v| v.is_object())
        .unwrap_or(false)
    {
        return Err(SimError::new(
            "MalformedPolicyDocument",
            400,
            "This policy contains invalid Json",
        ));
    }
    if let Some(d) = &input.description {
        if d.chars().count() > 1000 {
            return Err(validation(
                "description",
                d,
                "Member must have length less than or equal to 1000",
            ));
        }
    }
    let max = input.max_session_duration.unwrap_or(3600);
    if !(3600..=43200).contains(&max) {
        return Err(validation(
            "maxSessionDuration",
            &max.to_string(),
            &bound("value", max, 3600, 43200),
        ));
    }
    check_tags(&input.tags)?;
    let account = &ctx.caller.account;
    let exists: bool = tx
        .prepare_cached("SELECT 1 FROM iam_roles WHERE account = ?1 AND name = ?2")?
        .exists(params![account, input.role_name])?;
    if exists {
        return Err(SimError::new(
            "EntityAlreadyExists",
            409,
            format!("Role with name {} already exists.", input.role_name),
        ));
    }
    let mut role = Role {
        account: account.clone(),
        name: input.role_name.clone(),
        arn: format!("arn:aws:iam::{account}:role{path}{}", input.role_name),
        path,
        role_id: unique_id("AROA"),
        assume_role_policy: doc.clone(),
        description: input.description.clone(),
        max_session_duration: max,
        created_ms: ctx.now_ms,
        tags: input.tags.clone(),
    };
    tx.execute(
        &format!("INSERT INTO iam_roles ({ROLE_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)"),
        params![
            role.account,
            role.name,
            role.path,
            role.arn,
            role.role_id,
            role.assume_role_policy,
            role.description,
            role.max_session_duration,
            role.created_ms,
            tags_json(&role.tags)?
        ],
    )?;
    role.arn = crate::arn::with_partition(&role.arn, ctx.partition()).into_owned();
    Ok(role)
}

fn no_such_role(name: &str) -> SimError {
    SimError::new(
        "NoSuchEntity",
        404,
        format!("The role with name {name} cannot be found."),
    )
}

pub fn get_role_in(conn: &Connection, ctx: &Ctx, name: &str) -> SimResult<Role> {
    check_name("roleName", name, 64)?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT {ROLE_COLS} FROM iam_roles WHERE account = ?1 AND name = ?2"
    ))?;
    st.query_row(params![ctx.caller.account, name], role_row)
        .optional()?
        .map(|r| in_partition_role(r, ctx))
        .ok_or_else(|| no_such_role(name))
}

fn in_partition_role(mut r: Role, ctx: &Ctx) -> Role {
    r.arn = crate::arn::with_partition(&r.arn, ctx.partition()).into_owned();
    r
}

fn in_partition_user(mut u: User, ctx: &Ctx) -> User {
    u.arn = crate::arn::with_partition(&u.arn, ctx.partition()).into_owned();
    u
}

/// A role by ARN (any partition), in any account (for STS AssumeRole). The ARN returned
/// is the stored (`aws`) one.
pub fn role_by_arn(conn: &Connection, arn: &str) -> SimResult<Option<Role>> {
    let mut st =
        conn.prepare_cached(&format!("SELECT {ROLE_COLS} FROM iam_roles WHERE arn = ?1"))?;
    Ok(st
        .query_row([&*crate::arn::canonical(arn)], role_row)
        .optional()?)
}

/// The role an ARN names by its account and name, whatever path the ARN spells (as EKS
/// finds a node group's role): IAM's ARN for it, in the ARN's partition, and its id.
pub fn role_named_by(conn: &Connection, arn: &str) -> SimResult<Option<(String, String)>> {
    let f: Vec<&str> = arn.splitn(6, ':').collect();
    let (Some(partition), Some(account), Some(res)) = (f.get(1), f.get(4), f.get(5)) else {
        return Ok(None);
    };
    let Some(name) = res.strip_prefix("role/").and_then(|r| r.rsplit('/').next()) else {
        return Ok(None);
    };
    let mut st =
        conn.prepare_cached("SELECT arn, role_id FROM iam_roles WHERE account = ?1 AND name = ?2")?;
    Ok(st
        .query_row(params![account, name], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?
        .map(|(a, id)| (crate::arn::with_partition(&a, partition).into_owned(), id)))
}

/// One page of roles under `path_prefix`, ordered by name; the marker is the next name.
pub fn list_roles_in(
    conn: &Connection,
    ctx: &Ctx,
    path_prefix: Option<&str>,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> SimResult<(Vec<Role>, Option<String>)> {
    let Page { prefix, start, max } = Page::of(path_prefix, marker, max_items)?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT {ROLE_COLS} FROM iam_roles
         WHERE account = ?1 AND substr(path, 1, length(?2)) = ?2 AND name >= ?3
         ORDER BY name LIMIT ?4"
    ))?;
    let mut roles: Vec<Role> = st
        .query_map(
            params![ctx.caller.account, prefix, start, max + 1],
            role_row,
        )?
        .map(|r| r.map(|r| in_partition_role(r, ctx)))
        .collect::<Result<_, _>>()?;
    let next = next_marker(&mut roles, max, |r| &r.name);
    Ok((roles, next))
}

/// The paging arguments of ListRoles and ListUsers, checked as IAM checks them.
struct Page<'a> {
    prefix: &'a str,
    /// The first name of the page (the decoded marker), empty for the first page.
    start: String,
    max: i64,
}

impl<'a> Page<'a> {
    fn of(
        path_prefix: Option<&'a str>,
        marker: Option<&str>,
        max_items: Option<i64>,
    ) -> SimResult<Self> {
        let prefix = path_prefix.unwrap_or("/");
        if prefix.is_empty() || prefix.len() > 512 || !prefix.starts_with('/') {
            return Err(validation(
                "pathPrefix",
                prefix,
                r"Member must satisfy regular expression pattern: \u002F[\u0021-\u007F]*",
            ));
        }
        let max = max_items.unwrap_or(100);
        if !(1..=1000).contains(&max) {
            return Err(validation(
                "maxItems",
                &max.to_string(),
                &bound("value", max, 1, 1000),
            ));
        }
        let start = match marker {
            Some(m) => decode_marker(m)?,
            None => String::new(),
        };
        Ok(Page { prefix, start, max })
    }
}

/// Drops the extra row a page was read with; its name is the next page's marker.
fn next_marker<T>(rows: &mut Vec<T>, max: i64, name: impl Fn(&T) -> &str) -> Option<String> {
    if rows.len() as i64 > max {
        rows.pop().map(|r| encode_marker(name(&r)))
    } else {
        None
    }
}

// Markers are opaque to clients; hex keeps them URL/XML-safe without extra escaping.
fn encode_marker(name: &str) -> String {
    name.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_marker(m: &str) -> SimResult<String> {
    let bad = || SimError::new("ValidationError", 400, "Invalid Marker.");
    if m.len() & 1 == 1 {
        return Err(bad());
    }
    let bytes: Result<Vec<u8>, _> = (0..m.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(m.get(i..i + 2).unwrap_or("zz"), 16))
        .collect();
    String::from_utf8(bytes.map_err(|_| bad())?).map_err(|_| bad())
}

pub fn delete_role_in(tx: &Transaction<'_>, ctx: &Ctx, name: &str) -> SimResult<()> {
    check_name("roleName", name, 64)?;
    let n = tx.execute(
        "DELETE FROM iam_roles WHERE account = ?1 AND name = ?2",
        params![ctx.caller.account, name],
    )?;
    if n == 0 {
        return Err(no_such_role(name));
    }
    Ok(())
}

pub fn create_user_in(
    tx: &Transaction<'_>,
    ctx: &Ctx,
    name: &str,
    path: Option<&str>,
    tags: &[Tag],
) -> SimResult<User> {
    check_name("userName", name, 64)?;
    let path = path.unwrap_or("/").to_string();
    check_path(&path)?;
    check_tags(tags)?;
    let account = &ctx.caller.account;
    let exists = tx
        .prepare_cached("SELECT 1 FROM iam_users WHERE account = ?1 AND name = ?2")?
        .exists(params![account, name])?;
    if exists {
        return Err(SimError::new(
            "EntityAlreadyExists",
            409,
            format!("User with name {name} already exists."),
        ));
    }
    let user = User {
        account: account.clone(),
        name: name.to_string(),
        arn: format!("arn:aws:iam::{account}:user{path}{name}"),
        path,
        user_id: unique_id("AIDA"),
        created_ms: ctx.now_ms,
        tags: tags.to_vec(),
    };
    tx.execute(
        &format!("INSERT INTO iam_users ({USER_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7)"),
        params![
            user.account,
            user.name,
            user.path,
            user.arn,
            user.user_id,
            user.created_ms,
            tags_json(&user.tags)?
        ],
    )?;
    Ok(in_partition_user(user, ctx))
}

fn no_such_user(name: &str) -> SimError {
    SimError::new(
        "NoSuchEntity",
        404,
        format!("The user with name {name} cannot be found."),
    )
}

/// GetUser: the named user, or (no name) the calling user; a role session must name one.
pub fn get_user_in(conn: &Connection, ctx: &Ctx, name: Option<&str>) -> SimResult<User> {
    match name {
        Some(n) => {
            check_name("userName", n, 64)?;
            let mut st = conn.prepare_cached(&format!(
                "SELECT {USER_COLS} FROM iam_users WHERE account = ?1 AND name = ?2"
            ))?;
            st.query_row(params![ctx.caller.account, n], user_row)
                .optional()?
                .map(|u| in_partition_user(u, ctx))
                .ok_or_else(|| no_such_user(n))
        }
        None => {
            let mut st =
                conn.prepare_cached(&format!("SELECT {USER_COLS} FROM iam_users WHERE arn = ?1"))?;
            let me = crate::arn::canonical(&ctx.caller.arn);
            match st.query_row([&*me], user_row).optional()? {
                Some(u) => Ok(in_partition_user(u, ctx)),
                None => Err(SimError::new(
                    "ValidationError",
                    400,
                    "Must specify userName when calling with non-User credentials",
                )),
            }
        }
    }
}

/// One page of users under `path_prefix`, ordered by name (ListUsers; as [`list_roles_in`]).
pub fn list_users_in(
    conn: &Connection,
    ctx: &Ctx,
    path_prefix: Option<&str>,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> SimResult<(Vec<User>, Option<String>)> {
    let Page { prefix, start, max } = Page::of(path_prefix, marker, max_items)?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT {USER_COLS} FROM iam_users
         WHERE account = ?1 AND substr(path, 1, length(?2)) = ?2 AND name >= ?3
         ORDER BY name LIMIT ?4"
    ))?;
    let mut users: Vec<User> = st
        .query_map(
            params![ctx.caller.account, prefix, start, max + 1],
            user_row,
        )?
        .map(|u| u.map(|u| in_partition_user(u, ctx)))
        .collect::<Result<_, _>>()?;
    let next = next_marker(&mut users, max, |u| &u.name);
    Ok((users, next))
}

/// CreateAccessKey for a user (default: the calling user): a long-term `AKIA…` key.
pub fn create_access_key_in(
    tx: &Transaction<'_>,
    ctx: &Ctx,
    user_name: Option<&str>,
) -> SimResult<AccessKey> {
    let user = get_user_in(tx, ctx, user_name)?;
    let key = AccessKey {
        user_name: user.name.clone(),
        access_key_id: access_key_id("AKIA"),
        secret_access_key: secret_key(),
        created_ms: ctx.now_ms,
    };
    tx.execute(
        "INSERT INTO sts_keys (access_key_id, secret, session_token, account, arn,
           principal_arn, user_id, created_ms, expires_ms)
         VALUES (?1, ?2, NULL, ?3, ?4, ?4, ?5, ?6, NULL)",
        params![
            key.access_key_id,
            key.secret_access_key,
            user.account,
            crate::arn::canonical(&user.arn),
            user.user_id,
            key.created_ms
        ],
    )?;
    Ok(key)
}

// ---------------------------------------------------------------------------------------
// The operations, each in its own transaction (the crate's rule); the `*_in` steps above run
// inside a transaction the caller holds, for seeding several principals at once.

pub fn create_role(sim: &Sim, ctx: &Ctx, input: &CreateRoleInput) -> SimResult<Role> {
    sim.store.write(|tx| create_role_in(tx, ctx, input))
}

pub fn get_role(sim: &Sim, ctx: &Ctx, name: &str) -> SimResult<Role> {
    sim.store.read(|c| get_role_in(c, ctx, name))
}

pub fn list_roles(
    sim: &Sim,
    ctx: &Ctx,
    path_prefix: Option<&str>,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> SimResult<(Vec<Role>, Option<String>)> {
    sim.store
        .read(|c| list_roles_in(c, ctx, path_prefix, marker, max_items))
}

pub fn list_users(
    sim: &Sim,
    ctx: &Ctx,
    path_prefix: Option<&str>,
    marker: Option<&str>,
    max_items: Option<i64>,
) -> SimResult<(Vec<User>, Option<String>)> {
    sim.store
        .read(|c| list_users_in(c, ctx, path_prefix, marker, max_items))
}

pub fn delete_role(sim: &Sim, ctx: &Ctx, name: &str) -> SimResult<()> {
    sim.store.write(|tx| delete_role_in(tx, ctx, name))
}

pub fn create_user(
    sim: &Sim,
    ctx: &Ctx,
    name: &str,
    path: Option<&str>,
    tags: &[Tag],
) -> SimResult<User> {
    sim.store
        .write(|tx| create_user_in(tx, ctx, name, path, tags))
}

pub fn get_user(sim: &Sim, ctx: &Ctx, name: Option<&str>) -> SimResult<User> {
    sim.store.read(|c| get_user_in(c, ctx, name))
}

pub fn create_access_key(sim: &Sim, ctx: &Ctx, user_name: Option<&str>) -> SimResult<AccessKey> {
    sim.store
        .write(|tx| create_access_key_in(tx, ctx, user_name))
}
