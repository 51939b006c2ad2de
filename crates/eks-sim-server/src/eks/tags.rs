//! The wire of TagResource (`POST /tags/{resourceArn}`, body `{"tags": {…}}`),
//! UntagResource (`DELETE /tags/{resourceArn}?tagKeys=…`, repeated) and ListTagsForResource
//! (`GET /tags/{resourceArn}`). The botocore model gives these three only
//! BadRequestException and NotFoundException, so a malformed body or query is a
//! BadRequestException here, not the InvalidParameterException of the other operations.

use eks_sim_model::eks::tags as model;
use eks_sim_model::{Ctx, Sim, SimError};

use super::{ok, param, query_all, Body, Route};
use crate::wire::{WireRequest, WireResponse};

/// The other operations' decoding errors, as these operations name them.
fn as_bad_request(e: SimError) -> SimError {
    if e.code == "InvalidParameterException" {
        SimError::new("BadRequestException", 400, e.message)
    } else {
        e
    }
}

pub(super) fn dispatch(
    sim: &Sim,
    ctx: &Ctx,
    route: &Route,
    req: &WireRequest,
) -> Result<WireResponse, SimError> {
    let arn = param(route, 0)?;
    match route.op {
        "TagResource" => {
            let b = Body::parse(&req.body).map_err(as_bad_request)?;
            if !b.present("tags") {
                return Err(SimError::new(
                    "BadRequestException",
                    400,
                    "Missing required parameter: tags",
                ));
            }
            let tags = b.map_opt("tags").map_err(as_bad_request)?;
            model::tag_resource(sim, ctx, arn, &tags)?;
            Ok(ok(&serde_json::json!({})))
        }
        "UntagResource" => {
            let keys = query_all(req, "tagKeys");
            model::untag_resource(sim, ctx, arn, &keys)?;
            Ok(ok(&serde_json::json!({})))
        }
        _ => {
            let tags = model::list_tags_for_resource(sim, ctx, arn)?;
            Ok(ok(&serde_json::json!({ "tags": tags })))
        }
    }
}
