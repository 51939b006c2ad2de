//! EKS rest-json wire: routes, request decoding, response/error encoding.
//!
//! Contract with the server core (`lib.rs`):
//! - [`route`] maps method + raw path to an operation name (the botocore operation name,
//!   e.g. `DescribeCluster`) and its percent-decoded path parameters, or `None` (unknown path);
//!   the core uses the name for throttling classes, fault injection and the request log.
//! - [`handle`] runs the operation against the model and encodes the result, including
//!   errors (`x-amzn-ErrorType` header + `{"message": …}` body, AWS's status).

use crate::wire::{WireRequest, WireResponse};
use eks_sim_model::{Ctx, Sim};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub op: &'static str,
    pub params: Vec<String>,
}

pub fn route(method: &http::Method, path: &str) -> Option<Route> {
    let _ = (method, path);
    None
}

pub fn handle(sim: &Sim, ctx: &Ctx, route: &Route, req: &WireRequest) -> WireResponse {
    let _ = (sim, ctx, route, req);
    WireResponse::json(501, "{}")
}
