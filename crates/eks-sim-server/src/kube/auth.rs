//! Authentication of a Kubernetes request: the bearer token checked as aws-iam-authenticator
//! does (`kube_sim_model::token`), its presigned STS request verified as STS would — the
//! simulator's own keys and SigV4 code, session tokens and session expiry included, and the
//! cluster's name as the signed `x-k8s-aws-id` — then the identity mapped by mode.

use super::super::{sigv4, Shared};
use eks_sim_model::eks::kube_view::{self, KubeCluster};
use kube_sim_model::identity::{StsCaller, UserInfo};
use kube_sim_model::token::{self, Presigned, TokenError};
use kube_sim_model::whois::{self, Resolved, Source};
use kube_sim_model::{awsauth, objects, KubeError};

/// Why a request is not authenticated (401), for the log and the audit trail.
#[derive(Debug)]
pub(crate) enum Refusal {
    Token(TokenError),
    NotMapped(String),
    Bearer,
    State(KubeError),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Token(e) => write!(f, "invalid token: {e}"),
            Refusal::NotMapped(arn) => write!(f, "identity {arn} is not mapped on this cluster"),
            Refusal::Bearer => write!(f, "Authorization is not a Bearer token"),
            Refusal::State(e) => write!(f, "{e}"),
        }
    }
}

/// Verifies the signature of a token's presigned URL; returns the caller.
fn verify_signature(
    shared: &Shared,
    p: &Presigned,
    cluster: &str,
    now: i64,
) -> Result<StsCaller, TokenError> {
    if p.service != "sts" {
        return Err(TokenError::Signature("credential scope is not sts"));
    }
    let rec = shared
        .key(&p.access_key_id)
        .map_err(|_| TokenError::Signature("state unavailable"))?
        .ok_or(TokenError::Signature("unknown access key"))?;
    if rec.session_token != p.security_token {
        return Err(TokenError::Signature("security token missing or wrong"));
    }
    if rec.expires_ms.is_some_and(|x| x <= now) {
        return Err(TokenError::Signature("session credentials expired"));
    }
    let parts = sigv4::SigParts {
        access_key_id: p.access_key_id.clone(),
        scope_date: p.scope_date.clone(),
        region: p.region.clone(),
        service: p.service.clone(),
        signed_headers: p.signed_headers.clone(),
        signature: p.signature.clone(),
        amz_date: p.amz_date.clone(),
        security_token: p.security_token.clone(),
        presigned: true,
        expires_s: Some(p.expires_s),
    };
    let mut headers = http::HeaderMap::new();
    let host =
        http::HeaderValue::from_str(&p.host).map_err(|_| TokenError::Signature("bad host"))?;
    headers.insert(http::header::HOST, host);
    let id = http::HeaderValue::from_str(cluster)
        .map_err(|_| TokenError::Signature("bad cluster name"))?;
    headers.insert(token::CLUSTER_ID_HEADER, id);
    let key = shared.signing_key(&rec, &parts);
    let check = |payload: &str| {
        let cr = sigv4::canonical_request("GET", "/", &p.raw_query, &headers, &parts, payload);
        sigv4::verify(&key, &sigv4::string_to_sign(&parts, &cr), &parts.signature)
    };
    if !(check(&sigv4::sha256_hex(b"")) || check("UNSIGNED-PAYLOAD")) {
        return Err(TokenError::Signature("signature does not match"));
    }
    let part = eks_sim_model::arn::partition_of(&p.region);
    let re = |a: &str| eks_sim_model::arn::with_partition(a, part).into_owned();
    Ok(StsCaller {
        account: rec.caller.account.clone(),
        arn: re(&rec.caller.arn),
        user_id: rec.caller.user_id.clone(),
        access_key_id: rec.access_key_id.clone(),
        principal_arn: re(&rec.caller.principal_arn),
    })
}

/// `aws-auth` as stored now, if the ConfigMap exists.
fn aws_auth(shared: &Shared, cluster: &KubeCluster) -> Result<Option<awsauth::AwsAuth>, KubeError> {
    let key = objects::Key {
        cluster: &cluster.endpoint_id,
        resource: "configmaps",
        namespace: awsauth::NAMESPACE,
    };
    let cm = shared
        .sim
        .store
        .read(|c| Ok(objects::get(c, key, awsauth::NAME)))??;
    Ok(cm.map(|cm| {
        let data = serde_json::from_value(cm["data"].clone()).unwrap_or_default();
        awsauth::parse(&data)
    }))
}

/// The identity behind a verified caller on `cluster`.
pub(crate) fn resolve(
    shared: &Shared,
    cluster: &KubeCluster,
    caller: &StsCaller,
    creator_admin: bool,
) -> Result<Resolved, Refusal> {
    let entry = if cluster.includes_api() {
        shared
            .sim
            .store
            .read(|c| {
                kube_view::entry_for(c, cluster.id, &caller.principal_arn, caller.principal_id())
            })
            .map_err(|e| Refusal::State(e.into()))?
    } else {
        None
    };
    let auth = if cluster.includes_config_map() {
        aws_auth(shared, cluster).map_err(Refusal::State)?
    } else {
        None
    };
    let inputs = whois::Inputs {
        cluster,
        entry: entry.as_ref(),
        aws_auth: auth.as_ref(),
        creator_admin,
    };
    whois::resolve(caller, &inputs).ok_or_else(|| Refusal::NotMapped(caller.canonical_arn()))
}

/// Authenticates a request: `Ok(anonymous)` without an Authorization header.
pub(crate) fn authenticate(
    shared: &Shared,
    headers: &http::HeaderMap,
    cluster: &KubeCluster,
    creator_admin: bool,
    now: i64,
) -> Result<Resolved, Refusal> {
    let Some(h) = headers.get(http::header::AUTHORIZATION) else {
        return Ok(Resolved {
            user: UserInfo::anonymous(),
            policies: Vec::new(),
            source: Source::Anonymous,
        });
    };
    let h = h.to_str().map_err(|_| Refusal::Bearer)?;
    let (scheme, tok) = h.split_once(' ').ok_or(Refusal::Bearer)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(Refusal::Bearer);
    }
    let kube = shared.kube.as_ref().ok_or(Refusal::Bearer)?;
    let p = token::parse(tok.trim(), cluster.partition(), &kube.own_hosts, now)
        .map_err(Refusal::Token)?;
    let caller = verify_signature(shared, &p, &cluster.name, now).map_err(Refusal::Token)?;
    resolve(shared, cluster, &caller, creator_admin)
}
