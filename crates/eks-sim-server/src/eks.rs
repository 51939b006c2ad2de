//! EKS rest-json wire, on the code generated from botocore's model (`eks_sim_wire`):
//! - [`route`] maps method + raw path to the operation (its botocore name, e.g.
//!   `DescribeCluster`) and its percent-decoded URI labels in template order, or `None`
//!   (unknown path); the core uses the name for throttling classes, fault injection and the
//!   request log;
//! - [`handle`] decodes the request with the generated decoders (AWS's validation from the
//!   model), runs it on the model through the generated `Eks` trait ([`adapter`]) and
//!   encodes the answer, errors included (`x-amzn-ErrorType` + the error shape's JSON
//!   members, the model's status).

mod adapter;

use crate::wire::{WireRequest, WireResponse};
use eks_sim_model::eks as model;
use eks_sim_model::{Ctx, Sim, SimError};
use eks_sim_wire::generated::eks::{self as gen, EksError, EksOperation};
use eks_sim_wire::rt::{self, rest, Violation};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub op: &'static str,
    /// The URI labels, percent-decoded, in the template's order.
    pub params: Vec<String>,
}

/// Every EKS operation this wire serves (botocore names; the list lives in `sim-codegen`).
pub const OPERATIONS: &[&str] = gen::OPERATION_NAMES;

pub fn route(method: &http::Method, path: &str) -> Option<Route> {
    let r = gen::route(method.as_str(), path)?;
    Some(Route {
        op: r.op.name(),
        params: r.labels.into_iter().map(|(_, v)| v).collect(),
    })
}

/// Renders an error as EKS does: `x-amzn-ErrorType: CODE` and the members of its error
/// shape (`message`, and `clusterName` where the shape has one). Public so the core renders
/// its own EKS errors (throttling, faults, signature failures) the same way.
pub fn error_response(e: &SimError, cluster: Option<&str>) -> WireResponse {
    render(adapter::eks_error(e.clone()), cluster)
}

fn render(e: EksError, cluster: Option<&str>) -> WireResponse {
    let e = match cluster {
        Some(c) => e.with_cluster_name(c),
        None => e,
    };
    let mut resp = WireResponse::json(e.status(), e.to_json());
    resp.headers
        .push(("x-amzn-errortype".into(), e.code().to_string()));
    // The core adds x-amzn-requestid: one id per request, the one it logs.
    resp
}

/// A decoding refusal, as the operation's declared errors name it: InvalidParameterException,
/// or BadRequestException for the tagging operations, which the model gives only that one.
fn invalid(op: EksOperation, v: &Violation) -> EksError {
    let declared = op.errors();
    let code = if !declared.contains(&"InvalidParameterException")
        && declared.contains(&"BadRequestException")
    {
        "BadRequestException"
    } else {
        "InvalidParameterException"
    };
    EksError::from_code(code, 400, v.rest_message())
}

pub fn handle(sim: &Sim, ctx: &Ctx, route: &Route, req: &WireRequest) -> WireResponse {
    handle_with(sim, ctx, route, req, &|_| {})
}

/// The cluster an error names: the `name` label, or CreateCluster's body `name`.
fn cluster_of(r: &rest::Route<EksOperation>, body: &[u8]) -> Option<String> {
    if r.op == EksOperation::CreateCluster {
        let v: serde_json::Value = serde_json::from_slice(body).ok()?;
        return v.get("name")?.as_str().map(str::to_string);
    }
    Some(r.label("name").to_string()).filter(|n| !n.is_empty())
}

/// [`handle`], with `fix` applied to every cluster answered (the server gives it the
/// endpoint and CA of the cluster's Kubernetes API).
pub fn handle_with(
    sim: &Sim,
    ctx: &Ctx,
    route: &Route,
    req: &WireRequest,
    fix: &dyn Fn(&mut model::Cluster),
) -> WireResponse {
    let Some(op) = EksOperation::from_name(route.op) else {
        let e = EksError::from_code(
            "InvalidRequestException",
            400,
            format!("Unsupported operation {}", route.op),
        );
        return render(e, None);
    };
    let r = rest::Route {
        op,
        labels: op
            .labels()
            .iter()
            .copied()
            .zip(route.params.iter().cloned())
            .collect(),
    };
    let wreq = rest::Request {
        route: &r,
        query: &req.query,
        headers: &[],
        body: &req.body,
    };
    match gen::serve(&adapter::Model { sim, fix }, ctx, &wreq) {
        // The core adds x-amzn-requestid (its own id, the one in its log).
        Ok(body) => WireResponse::json(200, body),
        Err(f) => {
            let e = match f {
                rt::Failure::Invalid(v) => invalid(op, &v),
                rt::Failure::Service(e) => e,
                rt::Failure::Encode(m) => {
                    EksError::from_code("ServerException", 500, format!("encode: {m}"))
                }
            };
            if e.status() >= 500 {
                tracing::warn!(op = route.op, error = e.message(), "eks operation failed");
            }
            render(e, cluster_of(&r, &req.body).as_deref())
        }
    }
}
