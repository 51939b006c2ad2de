//! STS and IAM on the query protocol, through the code generated from botocore's models
//! (`eks_sim_wire::generated::{sts, iam}`): parameters decoded and checked there, the
//! model behind the generated `Sts` and `Iam` traits here, XML written by the generated
//! writers.

use crate::query::{self, Params, IAM_NS, STS_NS};
use crate::wire::WireResponse;
use eks_sim_model::iam::{self as model_iam, Role, Tag, User};
use eks_sim_model::{sts as model_sts, Ctx, Sim, SimError};
use eks_sim_wire::generated::{iam, sts};
use eks_sim_wire::rt::{self, Timestamp};

/// STS operations served, by their `Action` name (static for counters and throttling).
pub fn sts_op(action: &str) -> Option<&'static str> {
    sts::StsOperation::from_name(action).map(|o| o.name())
}

/// IAM operations served.
pub fn iam_op(action: &str) -> Option<&'static str> {
    iam::IamOperation::from_name(action).map(|o| o.name())
}

/// A refused or failed request: a decoding refusal is the query services' ValidationError.
fn failure<E>(f: rt::Failure<E>, parts: impl Fn(&E) -> (String, u16, String)) -> SimError {
    match f {
        rt::Failure::Invalid(v) => SimError::new("ValidationError", 400, v.query_message()),
        rt::Failure::Service(e) => {
            let (code, status, message) = parts(&e);
            SimError::new(code, status, message)
        }
        rt::Failure::Encode(m) => SimError::new("InternalFailure", 500, m),
    }
}

fn xml(body: String, rid: &str) -> WireResponse {
    WireResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "text/xml".into()),
            ("x-amzn-requestid".into(), rid.into()),
        ],
        body: body.into(),
    }
}

pub fn handle_sts(sim: &Sim, ctx: &Ctx, action: &str, p: &Params, rid: &str) -> WireResponse {
    let Some(op) = sts::StsOperation::from_name(action) else {
        let version = p.get("Version").unwrap_or(sts::API_VERSION);
        return query::error(STS_NS, &invalid_action(action, version), rid);
    };
    let served = sts::serve(&StsModel { sim }, ctx, op, p, rid);
    answer(STS_NS, rid, served, |e: &sts::StsError| {
        (e.code().to_string(), e.status(), e.message().to_string())
    })
}

pub fn handle_iam(sim: &Sim, ctx: &Ctx, action: &str, p: &Params, rid: &str) -> WireResponse {
    let Some(op) = iam::IamOperation::from_name(action) else {
        let version = p.get("Version").unwrap_or(iam::API_VERSION);
        return query::error(IAM_NS, &invalid_action(action, version), rid);
    };
    let served = iam::serve(&IamModel { sim }, ctx, op, p, rid);
    answer(IAM_NS, rid, served, |e: &iam::IamError| {
        (e.code().to_string(), e.status(), e.message().to_string())
    })
}

/// The XML answer of a served query-protocol operation, or its error in the service's namespace.
fn answer<E>(
    ns: &str,
    rid: &str,
    served: Result<String, rt::Failure<E>>,
    parts: impl Fn(&E) -> (String, u16, String),
) -> WireResponse {
    match served {
        Ok(body) => xml(body, rid),
        Err(f) => query::error(ns, &failure(f, parts), rid),
    }
}

fn invalid_action(action: &str, version: &str) -> SimError {
    SimError::new(
        "InvalidAction",
        400,
        format!("Could not find operation {action} for version {version}"),
    )
}

struct StsModel<'a> {
    sim: &'a Sim,
}

fn sts_error(e: SimError) -> sts::StsError {
    sts::StsError::from_code(&e.code, e.status, e.message)
}

fn sts_credentials(c: model_sts::Credentials) -> sts::Credentials {
    sts::Credentials {
        access_key_id: c.access_key_id,
        secret_access_key: c.secret_access_key,
        session_token: c.session_token,
        expiration: Timestamp(c.expiration_ms),
    }
}

impl sts::Sts for StsModel<'_> {
    type Ctx = Ctx;

    fn get_caller_identity(
        &self,
        ctx: &Ctx,
        _: sts::GetCallerIdentityInput,
    ) -> Result<sts::GetCallerIdentityOutput, sts::StsError> {
        let id = model_sts::get_caller_identity(ctx);
        Ok(sts::GetCallerIdentityOutput {
            user_id: Some(id.user_id),
            account: Some(id.account),
            arn: Some(id.arn),
        })
    }

    fn assume_role(
        &self,
        ctx: &Ctx,
        i: sts::AssumeRoleInput,
    ) -> Result<sts::AssumeRoleOutput, sts::StsError> {
        let input = model_sts::AssumeRoleInput {
            role_arn: i.role_arn,
            role_session_name: i.role_session_name,
            duration_seconds: i.duration_seconds.map(i64::from),
        };
        let o = model_sts::assume_role(self.sim, ctx, &input).map_err(sts_error)?;
        Ok(sts::AssumeRoleOutput {
            credentials: Some(sts_credentials(o.credentials)),
            assumed_role_user: Some(sts::AssumedRoleUser {
                assumed_role_id: o.assumed_role_id,
                arn: o.assumed_role_arn,
            }),
            ..Default::default()
        })
    }

    fn get_federation_token(
        &self,
        ctx: &Ctx,
        i: sts::GetFederationTokenInput,
    ) -> Result<sts::GetFederationTokenOutput, sts::StsError> {
        let input = model_sts::FederationTokenInput {
            name: i.name,
            duration_seconds: i.duration_seconds.map(i64::from),
        };
        let o = model_sts::get_federation_token(self.sim, ctx, &input).map_err(sts_error)?;
        Ok(sts::GetFederationTokenOutput {
            credentials: Some(sts_credentials(o.credentials)),
            federated_user: Some(sts::FederatedUser {
                federated_user_id: o.federated_user_id,
                arn: o.federated_user_arn,
            }),
            ..Default::default()
        })
    }
}

struct IamModel<'a> {
    sim: &'a Sim,
}

fn iam_error(e: SimError) -> iam::IamError {
    iam::IamError::from_code(&e.code, e.status, e.message)
}

fn tags_in(tags: Option<Vec<iam::Tag>>) -> Vec<Tag> {
    tags.unwrap_or_default()
        .into_iter()
        .map(|t| Tag {
            key: t.key,
            value: t.value,
        })
        .collect()
}

/// AWS leaves `Tags` out when there are none.
fn tags_out(tags: Vec<Tag>) -> Option<Vec<iam::Tag>> {
    if tags.is_empty() {
        return None;
    }
    Some(
        tags.into_iter()
            .map(|t| iam::Tag {
                key: t.key,
                value: t.value,
            })
            .collect(),
    )
}

/// IAM returns the trust policy URL-encoded.
fn role_out(r: Role, with_tags: bool) -> iam::Role {
    let doc = percent_encoding::utf8_percent_encode(
        &r.assume_role_policy,
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    iam::Role {
        path: r.path,
        role_name: r.name,
        role_id: r.role_id,
        arn: r.arn,
        create_date: Timestamp(r.created_ms),
        assume_role_policy_document: Some(doc),
        description: r.description,
        max_session_duration: i32::try_from(r.max_session_duration).ok(),
        tags: if with_tags { tags_out(r.tags) } else { None },
        ..Default::default()
    }
}

fn user_out(u: User) -> iam::User {
    iam::User {
        path: u.path,
        user_name: u.name,
        user_id: u.user_id,
        arn: u.arn,
        create_date: Timestamp(u.created_ms),
        tags: tags_out(u.tags),
        ..Default::default()
    }
}

type IamResult<T> = Result<T, iam::IamError>;

impl iam::Iam for IamModel<'_> {
    type Ctx = Ctx;

    fn create_role(&self, ctx: &Ctx, i: iam::CreateRoleInput) -> IamResult<iam::CreateRoleOutput> {
        let input = model_iam::CreateRoleInput {
            role_name: i.role_name,
            path: i.path,
            assume_role_policy_document: i.assume_role_policy_document,
            description: i.description,
            max_session_duration: i.max_session_duration.map(i64::from),
            tags: tags_in(i.tags),
        };
        let r = model_iam::create_role(self.sim, ctx, &input).map_err(iam_error)?;
        Ok(iam::CreateRoleOutput {
            role: role_out(r, true),
        })
    }

    fn get_role(&self, ctx: &Ctx, i: iam::GetRoleInput) -> IamResult<iam::GetRoleOutput> {
        let r = model_iam::get_role(self.sim, ctx, &i.role_name).map_err(iam_error)?;
        Ok(iam::GetRoleOutput {
            role: role_out(r, true),
        })
    }

    fn list_roles(&self, ctx: &Ctx, i: iam::ListRolesInput) -> IamResult<iam::ListRolesOutput> {
        let (roles, marker) = model_iam::list_roles(
            self.sim,
            ctx,
            i.path_prefix.as_deref(),
            i.marker.as_deref(),
            i.max_items.map(i64::from),
        )
        .map_err(iam_error)?;
        Ok(iam::ListRolesOutput {
            // ListRoles leaves tags out (GetRole has them).
            roles: roles.into_iter().map(|r| role_out(r, false)).collect(),
            is_truncated: Some(marker.is_some()),
            marker,
        })
    }

    fn list_users(&self, ctx: &Ctx, i: iam::ListUsersInput) -> IamResult<iam::ListUsersOutput> {
        let (users, marker) = model_iam::list_users(
            self.sim,
            ctx,
            i.path_prefix.as_deref(),
            i.marker.as_deref(),
            i.max_items.map(i64::from),
        )
        .map_err(iam_error)?;
        Ok(iam::ListUsersOutput {
            // ListUsers leaves tags out (GetUser has them).
            users: users
                .into_iter()
                .map(|u| iam::User {
                    tags: None,
                    ..user_out(u)
                })
                .collect(),
            is_truncated: Some(marker.is_some()),
            marker,
        })
    }

    fn delete_role(&self, ctx: &Ctx, i: iam::DeleteRoleInput) -> IamResult<iam::DeleteRoleOutput> {
        model_iam::delete_role(self.sim, ctx, &i.role_name).map_err(iam_error)?;
        Ok(iam::DeleteRoleOutput {})
    }

    fn create_user(&self, ctx: &Ctx, i: iam::CreateUserInput) -> IamResult<iam::CreateUserOutput> {
        let tags = tags_in(i.tags);
        let u = model_iam::create_user(self.sim, ctx, &i.user_name, i.path.as_deref(), &tags)
            .map_err(iam_error)?;
        Ok(iam::CreateUserOutput {
            user: Some(user_out(u)),
        })
    }

    fn get_user(&self, ctx: &Ctx, i: iam::GetUserInput) -> IamResult<iam::GetUserOutput> {
        let u = model_iam::get_user(self.sim, ctx, i.user_name.as_deref()).map_err(iam_error)?;
        Ok(iam::GetUserOutput { user: user_out(u) })
    }

    fn create_access_key(
        &self,
        ctx: &Ctx,
        i: iam::CreateAccessKeyInput,
    ) -> IamResult<iam::CreateAccessKeyOutput> {
        let k = model_iam::create_access_key(self.sim, ctx, i.user_name.as_deref())
            .map_err(iam_error)?;
        Ok(iam::CreateAccessKeyOutput {
            access_key: iam::AccessKey {
                user_name: k.user_name,
                access_key_id: k.access_key_id,
                status: iam::StatusType::Active,
                secret_access_key: k.secret_access_key,
                create_date: Some(Timestamp(k.created_ms)),
            },
        })
    }
}
