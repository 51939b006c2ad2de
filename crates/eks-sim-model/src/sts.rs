//! STS: access keys → identities, GetCallerIdentity, AssumeRole.

use crate::error::{SimError, SimResult};
use crate::iam::{access_key_id, secret_key, validation};
use crate::{Caller, Ctx, Sim};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// A known access key and the identity it signs for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub access_key_id: String,
    pub secret: String,
    /// Temporary (session) keys require this token on every request.
    pub session_token: Option<String>,
    pub caller: Caller,
    pub expires_ms: Option<i64>,
}

pub fn lookup_key(conn: &Connection, access_key_id: &str) -> SimResult<Option<KeyRecord>> {
    let mut st = conn.prepare_cached(
        "SELECT secret, session_token, account, arn, principal_arn, user_id, expires_ms
         FROM sts_keys WHERE access_key_id = ?1",
    )?;
    Ok(st
        .query_row([access_key_id], |r| {
            Ok(KeyRecord {
                access_key_id: access_key_id.to_string(),
                secret: r.get(0)?,
                session_token: r.get(1)?,
                caller: Caller {
                    account: r.get(2)?,
                    arn: r.get(3)?,
                    principal_arn: r.get(4)?,
                    user_id: r.get(5)?,
                },
                expires_ms: r.get(6)?,
            })
        })
        .optional()?)
}

/// GetCallerIdentity's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    pub arn: String,
    pub user_id: String,
}

/// `ctx.caller` is expected in the request's partition already (the server rewrites it).
pub fn get_caller_identity(ctx: &Ctx) -> Identity {
    Identity {
        account: ctx.caller.account.clone(),
        arn: ctx.caller.arn.clone(),
        user_id: ctx.caller.user_id.clone(),
    }
}

#[derive(Debug, Clone)]
pub struct AssumeRoleInput {
    pub role_arn: String,
    pub role_session_name: String,
    pub duration_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRoleOutput {
    pub credentials: Credentials,
    /// `arn:PART:sts::ACCOUNT:assumed-role/NAME/SESSION` (no role path, as AWS).
    pub assumed_role_arn: String,
    /// `AROA…:SESSION`.
    pub assumed_role_id: String,
}

pub fn assume_role_in(
    tx: &Transaction<'_>,
    ctx: &Ctx,
    input: &AssumeRoleInput,
) -> SimResult<AssumeRoleOutput> {
    if input.role_arn.len() < 20 || input.role_arn.len() > 2048 {
        return Err(validation(
            "roleArn",
            &input.role_arn,
            &crate::iam::bound("length", input.role_arn.len() as i64, 20, 2048),
        ));
    }
    let s = &input.role_session_name;
    if s.len() < 2 || s.len() > 64 {
        return Err(validation(
            "roleSessionName",
            s,
            &crate::iam::bound("length", s.len() as i64, 2, 64),
        ));
    }
    if !s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(validation(
            "roleSessionName",
            s,
            r"Member must satisfy regular expression pattern: [\w+=,.@-]*",
        ));
    }
    let duration = input.duration_seconds.unwrap_or(3600);
    if !(900..=43200).contains(&duration) {
        return Err(validation(
            "durationSeconds",
            &duration.to_string(),
            &crate::iam::bound("value", duration, 900, 43200),
        ));
    }
    // Trust policies are not evaluated: any existing role of the caller's account may be
    // assumed (documented simplification).
    let role = crate::iam::role_by_arn(tx, &input.role_arn)?
        .filter(|r| r.account == ctx.caller.account)
        .ok_or_else(|| {
            SimError::new(
                "AccessDenied",
                403,
                format!(
                    "User: {} is not authorized to perform: sts:AssumeRole on resource: {}",
                    ctx.caller.arn, input.role_arn
                ),
            )
        })?;
    if duration > role.max_session_duration {
        return Err(SimError::new(
            "ValidationError",
            400,
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    // Stored in the canonical `aws` partition; answered in the request's.
    let stored_arn = format!(
        "arn:aws:sts::{}:assumed-role/{}/{}",
        role.account, role.name, s
    );
    let out = AssumeRoleOutput {
        credentials: Credentials {
            access_key_id: access_key_id("ASIA"),
            secret_access_key: secret_key(),
            session_token: format!("FwoGZXIvYXdzE{}", secret_key().replace(['/', '+'], "x")),
            expiration_ms: ctx.now_ms + duration * 1000,
        },
        assumed_role_arn: crate::arn::with_partition(&stored_arn, ctx.partition()).into_owned(),
        assumed_role_id: format!("{}:{}", role.role_id, s),
    };
    tx.execute(
        "INSERT INTO sts_keys (access_key_id, secret, session_token, account, arn,
           principal_arn, user_id, created_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            out.credentials.access_key_id,
            out.credentials.secret_access_key,
            out.credentials.session_token,
            role.account,
            stored_arn,
            role.arn,
            out.assumed_role_id,
            ctx.now_ms,
            out.credentials.expiration_ms
        ],
    )?;
    Ok(out)
}

/// GetFederationToken's input (`Policy`, `PolicyArns` and `Tags` are accepted and ignored:
/// the simulator evaluates no policies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationTokenInput {
    pub name: String,
    pub duration_seconds: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationTokenOutput {
    pub credentials: Credentials,
    /// `arn:PART:sts::ACCOUNT:federated-user/NAME`.
    pub federated_user_arn: String,
    /// `ACCOUNT:NAME`.
    pub federated_user_id: String,
}

/// GetFederationToken: temporary credentials of a federated user, callable with the long-term
/// keys of an IAM user or the root user only (AWS refuses session credentials). The identity
/// (`…:federated-user/NAME`) cannot be an access-entry principal.
pub fn get_federation_token_in(
    tx: &Transaction<'_>,
    ctx: &Ctx,
    input: &FederationTokenInput,
) -> SimResult<FederationTokenOutput> {
    let n = &input.name;
    if n.len() < 2 || n.len() > 32 {
        return Err(validation(
            "name",
            n,
            "Member must have length less than or equal to 32 and greater than or equal to 2",
        ));
    }
    if !n
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(validation(
            "name",
            n,
            r"Member must satisfy regular expression pattern: [\w+=,.@-]*",
        ));
    }
    let caller_arn = crate::arn::canonical(&ctx.caller.arn).into_owned();
    let is_root = caller_arn.ends_with(":root");
    let long_term =
        caller_arn.starts_with("arn:aws:iam::") && (is_root || caller_arn.contains(":user/"));
    if !long_term {
        return Err(SimError::new(
            "AccessDenied",
            403,
            "Cannot call GetFederationToken with session credentials",
        ));
    }
    // Root may hold a federation session for an hour at most.
    let (default, max) = if is_root {
        (3600, 3600)
    } else {
        (43200, 129600)
    };
    let duration = input.duration_seconds.unwrap_or(default);
    if duration < 900 {
        return Err(validation(
            "durationSeconds",
            &duration.to_string(),
            "Member must have value greater than or equal to 900",
        ));
    }
    if duration > 129600 {
        return Err(validation(
            "durationSeconds",
            &duration.to_string(),
            "Member must have value less than or equal to 129600",
        ));
    }
    let duration = duration.min(max);
    let account = ctx.caller.account.clone();
    let stored_arn = format!("arn:aws:sts::{account}:federated-user/{n}");
    let out = FederationTokenOutput {
        credentials: Credentials {
            access_key_id: access_key_id("ASIA"),
            secret_access_key: secret_key(),
            session_token: format!("FQoGZXIvYXdzE{}", secret_key().replace(['/', '+'], "x")),
            expiration_ms: ctx.now_ms + duration * 1000,
        },
        federated_user_arn: crate::arn::with_partition(&stored_arn, ctx.partition()).into_owned(),
        federated_user_id: format!("{account}:{n}"),
    };
    tx.execute(
        "INSERT INTO sts_keys (access_key_id, secret, session_token, account, arn,
           principal_arn, user_id, created_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8)",
        params![
            out.credentials.access_key_id,
            out.credentials.secret_access_key,
            out.credentials.session_token,
            account,
            stored_arn,
            out.federated_user_id,
            ctx.now_ms,
            out.credentials.expiration_ms
        ],
    )?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The operations, each in its own transaction (the crate's rule).

pub fn assume_role(sim: &Sim, ctx: &Ctx, input: &AssumeRoleInput) -> SimResult<AssumeRoleOutput> {
    sim.store.write(|tx| assume_role_in(tx, ctx, input))
}

pub fn get_federation_token(
    sim: &Sim,
    ctx: &Ctx,
    input: &FederationTokenInput,
) -> SimResult<FederationTokenOutput> {
    sim.store
        .write(|tx| get_federation_token_in(tx, ctx, input))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    fn ctx(store: &Store) -> Ctx {
        let k = store
            .read(|c| lookup_key(c, DEFAULT_ACCESS_KEY_ID))
            .unwrap()
            .unwrap();
        Ctx {
            caller: k.caller,
            region: "us-east-1".into(),
            now_ms: store::now_ms(),
        }
    }

    fn ctx_of(store: &Store, key: &str) -> Ctx {
        let k = store.read(|c| lookup_key(c, key)).unwrap().unwrap();
        Ctx {
            caller: k.caller,
            region: "us-east-1".into(),
            now_ms: store::now_ms(),
        }
    }

    #[test]
    fn root_key_and_federation_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("sim.db")).unwrap();
        let root = ctx_of(&s, ROOT_ACCESS_KEY_ID);
        assert_eq!(root.caller.arn, "arn:aws:iam::123456789012:root");
        assert_eq!(get_caller_identity(&root).user_id, DEFAULT_ACCOUNT);
        let fed = |c: &Ctx, name: &str, d: Option<i64>| {
            s.write(|tx| {
                get_federation_token_in(
                    tx,
                    c,
                    &FederationTokenInput {
                        name: name.into(),
                        duration_seconds: d,
                    },
                )
            })
        };
        // Session credentials may not federate.
        let e = fed(&ctx(&s), "bob", None).unwrap_err();
        assert_eq!((e.code.as_str(), e.status), ("AccessDenied", 403));
        // An IAM user's long-term key may; the token's identity is the federated user.
        let admin = ctx(&s);
        s.write(|tx| iam::create_user_in(tx, &admin, "alice", None, &[]))
            .unwrap();
        let key = s
            .write(|tx| iam::create_access_key_in(tx, &admin, Some("alice")))
            .unwrap();
        let alice = ctx_of(&s, &key.access_key_id);
        let out = fed(&alice, "bob", None).unwrap();
        assert_eq!(
            out.federated_user_arn,
            "arn:aws:sts::123456789012:federated-user/bob"
        );
        assert_eq!(out.federated_user_id, "123456789012:bob");
        assert_eq!(out.credentials.expiration_ms - alice.now_ms, 43200 * 1000);
        // Access key ids are 20 characters, as AWS's.
        assert_eq!(key.access_key_id.len(), 20);
        assert!(key.access_key_id.starts_with("AKIA"));
        assert_eq!(out.credentials.access_key_id.len(), 20);
        let bob = ctx_of(&s, &out.credentials.access_key_id);
        assert_eq!(bob.caller.arn, out.federated_user_arn);
        assert_eq!(
            s.read(|c| lookup_key(c, &out.credentials.access_key_id))
                .unwrap()
                .unwrap()
                .session_token
                .as_deref(),
            Some(out.credentials.session_token.as_str())
        );
        // A federated session cannot federate again; root can, for an hour at most.
        assert_eq!(fed(&bob, "carol", None).unwrap_err().code, "AccessDenied");
        let r = fed(&root, "ops", Some(7200)).unwrap();
        assert_eq!(r.credentials.expiration_ms - root.now_ms, 3600 * 1000);
        // Names and durations outside the model's bounds.
        for (name, d) in [
            ("x", None),
            ("bad name", None),
            ("ok", Some(899)),
            ("ok", Some(129601)),
        ] {
            let e = fed(&alice, name, d).unwrap_err();
            assert_eq!(e.code, "ValidationError", "{name} {d:?}");
        }
    }

    #[test]
    fn default_key_and_assume_role() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("sim.db")).unwrap();
        let c = ctx(&s);
        assert_eq!(
            c.caller.arn,
            "arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/convox"
        );
        assert_eq!(c.caller.principal_arn, DEFAULT_ROLE_ARN);
        let role = s
            .write(|tx| {
                iam::create_role_in(
                    tx,
                    &c,
                    &iam::CreateRoleInput {
                        role_name: "Deployer".into(),
                        path: Some("/a/b/".into()),
                        assume_role_policy_document: "{}".into(),
                        ..Default::default()
                    },
                )
            })
            .unwrap();
        assert_eq!(role.arn, "arn:aws:iam::123456789012:role/a/b/Deployer");
        let out = s
            .write(|tx| {
                assume_role_in(
                    tx,
                    &c,
                    &AssumeRoleInput {
                        role_arn: role.arn.clone(),
                        role_session_name: "s1".into(),
                        duration_seconds: None,
                    },
                )
            })
            .unwrap();
        assert_eq!(
            out.assumed_role_arn,
            "arn:aws:sts::123456789012:assumed-role/Deployer/s1"
        );
        let k = s
            .read(|c| lookup_key(c, &out.credentials.access_key_id))
            .unwrap()
            .unwrap();
        assert_eq!(k.caller.principal_arn, role.arn);
        assert_eq!(
            k.session_token.as_deref(),
            Some(&*out.credentials.session_token)
        );
        let err = s
            .write(|tx| {
                assume_role_in(
                    tx,
                    &c,
                    &AssumeRoleInput {
                        role_arn: "arn:aws:iam::123456789012:role/Nope".into(),
                        role_session_name: "s1".into(),
                        duration_seconds: None,
                    },
                )
            })
            .unwrap_err();
        assert_eq!(err.code, "AccessDenied");
    }

    #[test]
    fn iam_errors() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("sim.db")).unwrap();
        let c = ctx(&s);
        let mk = |name: &str, path: Option<&str>, doc: &str| {
            s.write(|tx| {
                iam::create_role_in(
                    tx,
                    &c,
                    &iam::CreateRoleInput {
                        role_name: name.into(),
                        path: path.map(Into::into),
                        assume_role_policy_document: doc.into(),
                        ..Default::default()
                    },
                )
            })
        };
        let cases: &[(&str, Option<&str>, &str, &str)] = &[
            ("ConvoxAdmin", None, "{}", "EntityAlreadyExists"),
            ("convoxadmin", None, "{}", "EntityAlreadyExists"),
            ("bad name", None, "{}", "ValidationError"),
            ("ok", Some("nopath"), "{}", "ValidationError"),
            ("ok", None, "not json", "MalformedPolicyDocument"),
        ];
        for (name, path, doc, code) in cases {
            assert_eq!(mk(name, *path, doc).unwrap_err().code, *code, "{name}");
        }
        assert_eq!(
            s.read(|cn| iam::get_role_in(cn, &c, "missing"))
                .unwrap_err()
                .code,
            "NoSuchEntity"
        );
        assert_eq!(
            s.read(|cn| iam::get_user_in(cn, &c, None))
                .unwrap_err()
                .code,
            "ValidationError"
        );
        for i in 0..5 {
            mk(&format!("r{i}"), Some("/p/"), "{}").unwrap();
        }
        let (page, next) = s
            .read(|cn| iam::list_roles_in(cn, &c, Some("/p/"), None, Some(3)))
            .unwrap();
        assert_eq!(page.len(), 3);
        let (page2, next2) = s
            .read(|cn| iam::list_roles_in(cn, &c, Some("/p/"), next.as_deref(), Some(3)))
            .unwrap();
        assert_eq!(page2.len(), 2);
        assert!(next2.is_none());
        s.write(|tx| iam::delete_role_in(tx, &c, "r0")).unwrap();
        assert_eq!(
            s.write(|tx| iam::delete_role_in(tx, &c, "r0"))
                .unwrap_err()
                .code,
            "NoSuchEntity"
        );
        let u = s
            .write(|tx| iam::create_user_in(tx, &c, "alice", Some("/team/"), &[]))
            .unwrap();
        assert_eq!(u.arn, "arn:aws:iam::123456789012:user/team/alice");
        let p = s
            .read(|cn| iam::lookup_principal(cn, &u.arn))
            .unwrap()
            .unwrap();
        assert_eq!(p.kind, iam::PrincipalKind::User);
        assert!(s
            .read(|cn| iam::lookup_principal(cn, "arn:aws:iam::123456789012:user/alice"))
            .unwrap()
            .is_none());
    }
}
