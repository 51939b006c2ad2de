//! One request of the AWS side: size and body limits first (as AWS's front end does), the
//! reserved endpoints, the signature, then the service of its credential scope (EKS
//! rest-json, or STS/IAM on the query protocol), with faults and counters around each
//! operation.

use crate::answers::{
    auth_error, fault_error, guarded, json_error, proto_error, request_id, to_response,
    unreadable_body,
};
use crate::listen::{head_len, MAX_HEAD_BYTES};
use crate::proto::{is_form, refusal_proto};
use crate::shared::Shared;
use crate::sim_endpoints::SIM_ENDPOINT_MAX_BODY;
use crate::wire::{WireRequest, WireResponse};
use crate::{eks, kube, now_ms, query, sts_iam, Proto};
use bytes::Bytes;
use eks_sim_model::{Ctx, Settings, SimError};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A request as read: its head, the path and query as sent, and the whole body.
struct Read {
    head: http::request::Parts,
    raw_path: String,
    raw_query: String,
    body: Bytes,
}

impl Shared {
    pub(crate) async fn serve(
        self: Arc<Self>,
        req: http::Request<Incoming>,
    ) -> http::Response<Full<Bytes>> {
        // hyper's own head limit is not exact (one read may overshoot it when the whole head
        // is already buffered), so the limit is enforced here too, and the same way: a bare
        // 431 and the connection closed.
        if head_len(&req) > MAX_HEAD_BYTES {
            let mut resp = http::Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
            resp.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            return resp;
        }
        let rid = request_id();
        let resp = self.serve_inner(req, &rid).await;
        to_response(resp, &rid)
    }

    async fn serve_inner(&self, req: http::Request<Incoming>, rid: &str) -> WireResponse {
        let (head, body) = req.into_parts();
        let raw_path = head.uri.path().to_string();
        let raw_query = head.uri.query().unwrap_or("").to_string();
        let settings = match self.settings() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("state: {e}");
                let proto = refusal_proto(&head.method, &raw_path, &head.headers, &raw_query);
                return proto_error(proto, &SimError::internal("state unavailable"), rid);
            }
        };
        let body = match self
            .read_body(&head, &raw_path, &raw_query, body, &settings, rid)
            .await
        {
            Ok(b) => b,
            Err(refused) => return refused,
        };
        let now = now_ms();
        let r = Read {
            head,
            raw_path,
            raw_query,
            body,
        };
        if let Some(sim_path) = r.raw_path.strip_prefix("/_sim/") {
            if !self.loopback {
                if let Err((_, e)) = self.authenticate(
                    &r.head.method,
                    &r.raw_path,
                    &r.raw_query,
                    &r.head.headers,
                    &r.body,
                    now,
                ) {
                    return proto_error(Proto::RestJson, &auth_error(Proto::RestJson, &e), rid);
                }
            }
            return self.sim_endpoint(&r.head.method, sim_path, &r.body);
        }
        self.serve_signed(r, &settings, now, rid).await
    }

    /// The body, read whole within the size limit and the body timeout; else the refusal.
    async fn read_body(
        &self,
        head: &http::request::Parts,
        raw_path: &str,
        raw_query: &str,
        body: Incoming,
        settings: &Settings,
        rid: &str,
    ) -> Result<Bytes, WireResponse> {
        // The protocol of an answer given before the signature is verified (413, 408, an
        // unreadable body): computed only when one is given, off the hot path.
        let guessed = || refusal_proto(&head.method, raw_path, &head.headers, raw_query);
        // Size first, as AWS's front end does, before reading or verifying anything. The
        // reserved endpoints have a fixed limit of their own: no setting (max_body_bytes = 1)
        // may lock the settings endpoint that would undo it.
        let is_sim_path = raw_path.starts_with("/_sim/");
        let max_body = if is_sim_path {
            SIM_ENDPOINT_MAX_BODY
        } else {
            settings.max_body_bytes
        };
        let too_large = || {
            let proto = guessed();
            proto_error(
                proto,
                &SimError::new(
                    if proto == Proto::RestJson {
                        "RequestEntityTooLargeException"
                    } else {
                        "RequestEntityTooLarge"
                    },
                    413,
                    format!("Request body exceeds the maximum of {max_body} bytes"),
                ),
                rid,
            )
        };
        let declared = head
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_body) {
            return Err(too_large());
        }
        let limit = usize::try_from(max_body).unwrap_or(usize::MAX);
        let timed_out = |msg: &str| {
            let proto = guessed();
            proto_error(
                proto,
                &SimError::new(
                    if proto == Proto::RestJson {
                        "RequestTimeoutException"
                    } else {
                        "RequestTimeout"
                    },
                    408,
                    msg,
                ),
                rid,
            )
        };
        let mut stop = self.stop.clone();
        let read = tokio::select! {
            r = tokio::time::timeout(self.timeouts.body_read, Limited::new(body, limit).collect()) => r,
            _ = async {
                // A dropped handle (sender gone) is not a shutdown signal here.
                if stop.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            } => {
                return Err(timed_out("The server is shutting down; the request body did not arrive in time."));
            }
        };
        let Ok(read) = read else {
            return Err(timed_out("The request body did not arrive in time."));
        };
        match read {
            Ok(c) => Ok(c.to_bytes()),
            Err(e) => {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    return Err(too_large());
                }
                Err(unreadable_body(
                    guessed(),
                    "The request body could not be read.",
                    rid,
                ))
            }
        }
    }

    /// An AWS request: verified, then served by the service of its credential scope.
    async fn serve_signed(
        &self,
        r: Read,
        settings: &Settings,
        now: i64,
        rid: &str,
    ) -> WireResponse {
        let (key, parts) = match self.authenticate(
            &r.head.method,
            &r.raw_path,
            &r.raw_query,
            &r.head.headers,
            &r.body,
            now,
        ) {
            Ok(x) => x,
            Err((svc, e)) => {
                let proto = match svc.as_deref() {
                    Some("eks") => Proto::RestJson,
                    Some("sts") => Proto::Sts,
                    Some("iam") => Proto::Iam,
                    _ => refusal_proto(&r.head.method, &r.raw_path, &r.head.headers, &r.raw_query),
                };
                tracing::debug!(?e, "refused signature");
                return proto_error(proto, &auth_error(proto, &e), rid);
            }
        };
        // The account exists in every partition; identities are shown in the request's.
        let mut caller = key.caller.clone();
        let partition = eks_sim_model::arn::partition_of(&parts.region);
        if partition != "aws" {
            caller.arn = eks_sim_model::arn::with_partition(&caller.arn, partition).into_owned();
            caller.principal_arn =
                eks_sim_model::arn::with_partition(&caller.principal_arn, partition).into_owned();
        }
        let ctx = Ctx {
            caller,
            region: parts.region.clone(),
            now_ms: now,
        };
        match parts.service.as_str() {
            "eks" => self.serve_eks(r, settings, &ctx, rid).await,
            svc @ ("sts" | "iam") => self.serve_query(svc, r, settings, &ctx, rid).await,
            other => json_error(
                400,
                "UnrecognizedClientException",
                &format!(
                    "The simulator does not serve the service '{other}' (only eks, sts, iam)."
                ),
            ),
        }
    }

    async fn serve_eks(&self, r: Read, settings: &Settings, ctx: &Ctx, rid: &str) -> WireResponse {
        let Some(route) = eks::route(&r.head.method, &r.raw_path) else {
            return json_error(
                404,
                "UnknownOperationException",
                &format!("No operation matches {} {}", r.head.method, r.raw_path),
            );
        };
        self.counts.request("eks", route.op);
        if route.op.ends_with("Nodegroup") || route.op == "ListNodegroups" {
            if let Some(name) = route.params.first() {
                kube::sync_nodes(self, &ctx.caller.account, &ctx.region, name, ctx.now_ms);
            }
        }
        if let Some(resp) = self
            .faults(settings, ctx, "eks", route.op, Proto::RestJson, rid)
            .await
        {
            self.counts.answer("eks", route.op, resp.status);
            return resp;
        }
        let wreq = WireRequest {
            method: r.head.method,
            path: r.raw_path,
            query: form_urlencoded::parse(r.raw_query.as_bytes())
                .into_owned()
                .collect(),
            headers: r.head.headers,
            body: r.body,
        };
        let sim = &self.sim;
        let kube = self.kube.clone();
        let resp = guarded(Proto::RestJson, rid, || {
            eks::handle_with(sim, ctx, &route, &wreq, &|c| {
                if let Some(k) = &kube {
                    k.fix_cluster(c);
                }
            })
        });
        self.counts.answer("eks", route.op, resp.status);
        resp
    }

    async fn serve_query(
        &self,
        svc: &str,
        r: Read,
        settings: &Settings,
        ctx: &Ctx,
        rid: &str,
    ) -> WireResponse {
        let (proto, service): (Proto, &'static str) = if svc == "sts" {
            (Proto::Sts, "sts")
        } else {
            (Proto::Iam, "iam")
        };
        let form_body: &[u8] = if is_form(&r.head.headers) || r.head.method == http::Method::POST {
            &r.body
        } else {
            b""
        };
        let params = query::Params::decode(&r.raw_query, form_body);
        let action = params.get("Action").unwrap_or("").to_string();
        let op = if proto == Proto::Sts {
            sts_iam::sts_op(&action)
        } else {
            sts_iam::iam_op(&action)
        };
        let Some(op) = op else {
            // No Action at all is AWS's common error MissingAction, not InvalidAction.
            if action.is_empty() {
                let e = SimError::new("MissingAction", 400, "Missing Action");
                return proto_error(proto, &e, rid);
            }
            let version = params.get("Version").unwrap_or(if proto == Proto::Sts {
                "2011-06-15"
            } else {
                "2010-05-08"
            });
            let e = SimError::new(
                "InvalidAction",
                400,
                format!("Could not find operation {action} for version {version}"),
            );
            return proto_error(proto, &e, rid);
        };
        self.counts.request(service, op);
        if let Some(resp) = self.faults(settings, ctx, service, op, proto, rid).await {
            self.counts.answer(service, op, resp.status);
            return resp;
        }
        let sim = &self.sim;
        let resp = guarded(proto, rid, || {
            if proto == Proto::Sts {
                sts_iam::handle_sts(sim, ctx, op, &params, rid)
            } else {
                sts_iam::handle_iam(sim, ctx, op, &params, rid)
            }
        });
        self.counts.answer(service, op, resp.status);
        resp
    }

    /// Latency, throttling and random errors. `Some(response)` when the request fails.
    async fn faults(
        &self,
        s: &Settings,
        ctx: &Ctx,
        service: &'static str,
        op: &'static str,
        proto: Proto,
        rid: &str,
    ) -> Option<WireResponse> {
        if s.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(s.latency_ms)).await;
        }
        self.faults
            .check(s, &ctx.caller.account, service, op, Instant::now())
            .map(|f| proto_error(proto, &fault_error(proto, f), rid))
    }
}
