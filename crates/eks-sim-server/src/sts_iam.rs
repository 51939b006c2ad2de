//! STS and IAM operations on the query protocol: parameters → model → XML.

use crate::query::{self, elem, iso8601, Params, IAM_NS, STS_NS};
use crate::wire::WireResponse;
use eks_sim_model::iam::{self, Role, Tag, User};
use eks_sim_model::{sts, Ctx, Sim, SimError};
use std::fmt::Write as _;

/// STS operations served, by their `Action` name (static for counters and throttling).
pub fn sts_op(action: &str) -> Option<&'static str> {
    ["GetCallerIdentity", "AssumeRole", "GetFederationToken"]
        .into_iter()
        .find(|a| *a == action)
}

/// IAM operations served.
pub fn iam_op(action: &str) -> Option<&'static str> {
    [
        "CreateRole",
        "GetRole",
        "ListRoles",
        "DeleteRole",
        "CreateUser",
        "GetUser",
        "ListUsers",
        "CreateAccessKey",
    ]
    .into_iter()
    .find(|a| *a == action)
}

fn invalid_action(action: &str, version: &str) -> SimError {
    SimError::new(
        "InvalidAction",
        400,
        format!("Could not find operation {action} for version {version}"),
    )
}

pub fn handle_sts(sim: &Sim, ctx: &Ctx, action: &str, p: &Params, rid: &str) -> WireResponse {
    match sts_inner(sim, ctx, action, p) {
        Ok(body) => query::response(STS_NS, action, Some(&body), rid),
        Err(e) => query::error(STS_NS, &e, rid),
    }
}

fn sts_inner(sim: &Sim, ctx: &Ctx, action: &str, p: &Params) -> Result<String, SimError> {
    let mut out = String::with_capacity(512);
    match action {
        "GetCallerIdentity" => {
            let id = sts::get_caller_identity(ctx);
            out.push_str("    ");
            elem(&mut out, "Arn", &id.arn);
            out.push_str("\n    ");
            elem(&mut out, "UserId", &id.user_id);
            out.push_str("\n    ");
            elem(&mut out, "Account", &id.account);
            out.push('\n');
        }
        "AssumeRole" => {
            let input = sts::AssumeRoleInput {
                role_arn: p.required("RoleArn", "roleArn")?.to_string(),
                role_session_name: p
                    .required("RoleSessionName", "roleSessionName")?
                    .to_string(),
                duration_seconds: p.int("DurationSeconds", "durationSeconds")?,
            };
            let o = sts::assume_role(sim, ctx, &input)?;
            out.push_str("    <AssumedRoleUser>\n      ");
            elem(&mut out, "AssumedRoleId", &o.assumed_role_id);
            out.push_str("\n      ");
            elem(&mut out, "Arn", &o.assumed_role_arn);
            out.push_str("\n    </AssumedRoleUser>\n    <Credentials>\n      ");
            elem(&mut out, "AccessKeyId", &o.credentials.access_key_id);
            out.push_str("\n      ");
            elem(
                &mut out,
                "SecretAccessKey",
                &o.credentials.secret_access_key,
            );
            out.push_str("\n      ");
            elem(&mut out, "SessionToken", &o.credentials.session_token);
            out.push_str("\n      ");
            elem(
                &mut out,
                "Expiration",
                &iso8601(o.credentials.expiration_ms),
            );
            out.push_str("\n    </Credentials>\n");
        }
        "GetFederationToken" => {
            let input = sts::FederationTokenInput {
                name: p.required("Name", "name")?.to_string(),
                duration_seconds: p.int("DurationSeconds", "durationSeconds")?,
            };
            let o = sts::get_federation_token(sim, ctx, &input)?;
            out.push_str("    <Credentials>\n      ");
            elem(&mut out, "AccessKeyId", &o.credentials.access_key_id);
            out.push_str("\n      ");
            elem(
                &mut out,
                "SecretAccessKey",
                &o.credentials.secret_access_key,
            );
            out.push_str("\n      ");
            elem(&mut out, "SessionToken", &o.credentials.session_token);
            out.push_str("\n      ");
            elem(
                &mut out,
                "Expiration",
                &iso8601(o.credentials.expiration_ms),
            );
            out.push_str("\n    </Credentials>\n    <FederatedUser>\n      ");
            elem(&mut out, "FederatedUserId", &o.federated_user_id);
            out.push_str("\n      ");
            elem(&mut out, "Arn", &o.federated_user_arn);
            out.push_str("\n    </FederatedUser>\n");
        }
        other => {
            return Err(invalid_action(
                other,
                p.get("Version").unwrap_or("2011-06-15"),
            ))
        }
    }
    Ok(out)
}

pub fn handle_iam(sim: &Sim, ctx: &Ctx, action: &str, p: &Params, rid: &str) -> WireResponse {
    match iam_inner(sim, ctx, action, p) {
        Ok(body) => query::response(IAM_NS, action, body.as_deref(), rid),
        Err(e) => query::error(IAM_NS, &e, rid),
    }
}

fn tags_xml(out: &mut String, tags: &[Tag]) {
    if tags.is_empty() {
        return;
    }
    out.push_str("<Tags>");
    for t in tags {
        out.push_str("<member>");
        elem(out, "Key", &t.key);
        elem(out, "Value", &t.value);
        out.push_str("</member>");
    }
    out.push_str("</Tags>");
}

/// Role members in AWS's order. IAM returns the trust policy URL-encoded.
fn role_xml(out: &mut String, tag: &str, r: &Role, with_tags: bool) {
    let _ = write!(out, "<{tag}>");
    elem(out, "Path", &r.path);
    elem(out, "RoleName", &r.name);
    elem(out, "RoleId", &r.role_id);
    elem(out, "Arn", &r.arn);
    elem(out, "CreateDate", &iso8601(r.created_ms));
    let encoded: String = percent_encoding::utf8_percent_encode(
        &r.assume_role_policy,
        percent_encoding::NON_ALPHANUMERIC,
    )
    .to_string();
    elem(out, "AssumeRolePolicyDocument", &encoded);
    if let Some(d) = &r.description {
        elem(out, "Description", d);
    }
    elem(
        out,
        "MaxSessionDuration",
        &r.max_session_duration.to_string(),
    );
    if with_tags {
        tags_xml(out, &r.tags);
    }
    let _ = write!(out, "</{tag}>");
}

fn user_xml(out: &mut String, u: &User) {
    user_xml_as(out, "User", u, true);
}

fn user_xml_as(out: &mut String, tag: &str, u: &User, with_tags: bool) {
    let _ = write!(out, "<{tag}>");
    elem(out, "Path", &u.path);
    elem(out, "UserName", &u.name);
    elem(out, "UserId", &u.user_id);
    elem(out, "Arn", &u.arn);
    elem(out, "CreateDate", &iso8601(u.created_ms));
    if with_tags {
        tags_xml(out, &u.tags);
    }
    let _ = write!(out, "</{tag}>");
}

fn iam_inner(sim: &Sim, ctx: &Ctx, action: &str, p: &Params) -> Result<Option<String>, SimError> {
    let mut out = String::with_capacity(512);
    match action {
        "CreateRole" => {
            let input = iam::CreateRoleInput {
                role_name: p.required("RoleName", "roleName")?.to_string(),
                path: p.get("Path").map(str::to_string),
                assume_role_policy_document: p
                    .required("AssumeRolePolicyDocument", "assumeRolePolicyDocument")?
                    .to_string(),
                description: p.get("Description").map(str::to_string),
                max_session_duration: p.int("MaxSessionDuration", "maxSessionDuration")?,
                tags: p.tags()?,
            };
            let r = iam::create_role(sim, ctx, &input)?;
            role_xml(&mut out, "Role", &r, true);
        }
        "GetRole" => {
            let name = p.required("RoleName", "roleName")?;
            let r = iam::get_role(sim, ctx, name)?;
            role_xml(&mut out, "Role", &r, true);
        }
        "ListRoles" => {
            let (roles, marker) = iam::list_roles(
                sim,
                ctx,
                p.get("PathPrefix"),
                p.get("Marker"),
                p.int("MaxItems", "maxItems")?,
            )?;
            elem(
                &mut out,
                "IsTruncated",
                if marker.is_some() { "true" } else { "false" },
            );
            out.push_str("<Roles>");
            for r in &roles {
                role_xml(&mut out, "member", r, false);
            }
            out.push_str("</Roles>");
            if let Some(m) = marker {
                elem(&mut out, "Marker", &m);
            }
        }
        "DeleteRole" => {
            let name = p.required("RoleName", "roleName")?;
            iam::delete_role(sim, ctx, name)?;
            return Ok(None);
        }
        "CreateUser" => {
            let name = p.required("UserName", "userName")?;
            let tags = p.tags()?;
            let u = iam::create_user(sim, ctx, name, p.get("Path"), &tags)?;
            user_xml(&mut out, &u);
        }
        "GetUser" => {
            let u = iam::get_user(sim, ctx, p.get("UserName"))?;
            user_xml(&mut out, &u);
        }
        "ListUsers" => {
            let (users, marker) = iam::list_users(
                sim,
                ctx,
                p.get("PathPrefix"),
                p.get("Marker"),
                p.int("MaxItems", "maxItems")?,
            )?;
            let truncated = if marker.is_some() { "true" } else { "false" };
            elem(&mut out, "IsTruncated", truncated);
            out.push_str("<Users>");
            for u in &users {
                user_xml_as(&mut out, "member", u, false);
            }
            out.push_str("</Users>");
            if let Some(m) = marker {
                elem(&mut out, "Marker", &m);
            }
        }
        "CreateAccessKey" => {
            let k = iam::create_access_key(sim, ctx, p.get("UserName"))?;
            out.push_str("<AccessKey>");
            elem(&mut out, "UserName", &k.user_name);
            elem(&mut out, "AccessKeyId", &k.access_key_id);
            elem(&mut out, "Status", "Active");
            elem(&mut out, "SecretAccessKey", &k.secret_access_key);
            elem(&mut out, "CreateDate", &iso8601(k.created_ms));
            out.push_str("</AccessKey>");
        }
        other => {
            return Err(invalid_action(
                other,
                p.get("Version").unwrap_or("2010-05-08"),
            ))
        }
    }
    out.push('\n');
    Ok(Some(out))
}
