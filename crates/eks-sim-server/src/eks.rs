//! EKS rest-json wire: routes, request decoding, response/error encoding.
//!
//! Contract with the server core (`lib.rs`):
//! - [`route`] maps method + raw path to an operation name (the botocore operation name,
//!   e.g. `DescribeCluster`) and its percent-decoded path parameters, or `None` (unknown path);
//!   the core uses the name for throttling classes, fault injection and the request log.
//! - [`handle`] runs the operation against the model and encodes the result, including
//!   errors (`x-amzn-ErrorType` header + `{"message": …}` body, AWS's status).
//!
//! Paths, methods, query names and member names follow the botocore EKS model
//! (`eks/2017-11-01/service-2.json`). Bodies are decoded by hand from `serde_json::Value`
//! so that every wrong type or missing required member becomes AWS's 400
//! `InvalidParameterException` naming the member, never a panic.

mod tags;

use crate::wire::{WireRequest, WireResponse};
use eks_sim_model::eks::{self as model, AccessScope, Page};
use eks_sim_model::{Ctx, Sim, SimError};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub op: &'static str,
    pub params: Vec<String>,
}

/// Every EKS operation this wire serves (botocore names).
pub const OPERATIONS: &[&str] = &[
    "CreateCluster",
    "DescribeCluster",
    "ListClusters",
    "DeleteCluster",
    "UpdateClusterConfig",
    "DescribeUpdate",
    "ListUpdates",
    "CreateAccessEntry",
    "DescribeAccessEntry",
    "ListAccessEntries",
    "UpdateAccessEntry",
    "DeleteAccessEntry",
    "AssociateAccessPolicy",
    "DisassociateAccessPolicy",
    "ListAssociatedAccessPolicies",
    "ListAccessPolicies",
    "CreateNodegroup",
    "DescribeNodegroup",
    "ListNodegroups",
    "DeleteNodegroup",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
    "UpdateNodegroupConfig",
];

pub fn route(method: &http::Method, path: &str) -> Option<Route> {
    use http::Method as M;
    let path = path.split('?').next().unwrap_or(path);
    let trimmed = path.strip_prefix('/')?;
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    let raw: Vec<&str> = trimmed.split('/').collect();
    let mut segs = Vec::with_capacity(raw.len());
    for s in &raw {
        segs.push(percent_decode_str(s).decode_utf8().ok()?.into_owned());
    }
    if segs.iter().any(|s| s.is_empty()) {
        return None;
    }
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let r = |op: &'static str, params: Vec<&str>| {
        Some(Route {
            op,
            params: params.into_iter().map(str::to_string).collect(),
        })
    };
    match (method, s.as_slice()) {
        // `{resourceArn}` is one percent-encoded segment; a client that leaves the ARN's `/`
        // unencoded is served too.
        (m, ["tags", arn @ ..]) if !arn.is_empty() => {
            let arn = arn.join("/");
            match *m {
                M::POST => r("TagResource", vec![&arn]),
                M::DELETE => r("UntagResource", vec![&arn]),
                M::GET => r("ListTagsForResource", vec![&arn]),
                _ => None,
            }
        }
        (&M::POST, ["clusters"]) => r("CreateCluster", vec![]),
        (&M::GET, ["clusters"]) => r("ListClusters", vec![]),
        (&M::GET, ["access-policies"]) => r("ListAccessPolicies", vec![]),
        (&M::GET, ["clusters", n]) => r("DescribeCluster", vec![n]),
        (&M::DELETE, ["clusters", n]) => r("DeleteCluster", vec![n]),
        (&M::POST, ["clusters", n, "update-config"]) => r("UpdateClusterConfig", vec![n]),
        (&M::GET, ["clusters", n, "updates"]) => r("ListUpdates", vec![n]),
        (&M::GET, ["clusters", n, "updates", u]) => r("DescribeUpdate", vec![n, u]),
        (&M::POST, ["clusters", n, "access-entries"]) => r("CreateAccessEntry", vec![n]),
        (&M::GET, ["clusters", n, "access-entries"]) => r("ListAccessEntries", vec![n]),
        (&M::GET, ["clusters", n, "access-entries", p]) => r("DescribeAccessEntry", vec![n, p]),
        (&M::POST, ["clusters", n, "access-entries", p]) => r("UpdateAccessEntry", vec![n, p]),
        (&M::DELETE, ["clusters", n, "access-entries", p]) => r("DeleteAccessEntry", vec![n, p]),
        (&M::POST, ["clusters", n, "access-entries", p, "access-policies"]) => {
            r("AssociateAccessPolicy", vec![n, p])
        }
        (&M::GET, ["clusters", n, "access-entries", p, "access-policies"]) => {
            r("ListAssociatedAccessPolicies", vec![n, p])
        }
        (&M::DELETE, ["clusters", n, "access-entries", p, "access-policies", a]) => {
            r("DisassociateAccessPolicy", vec![n, p, a])
        }
        (&M::POST, ["clusters", n, "node-groups"]) => r("CreateNodegroup", vec![n]),
        (&M::GET, ["clusters", n, "node-groups"]) => r("ListNodegroups", vec![n]),
        (&M::GET, ["clusters", n, "node-groups", g]) => r("DescribeNodegroup", vec![n, g]),
        (&M::DELETE, ["clusters", n, "node-groups", g]) => r("DeleteNodegroup", vec![n, g]),
        (&M::POST, ["clusters", n, "node-groups", g, "update-config"]) => {
            r("UpdateNodegroupConfig", vec![n, g])
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Encoding.

/// Error codes whose botocore shape has a `clusterName` member.
const WITH_CLUSTER_NAME: &[&str] = &[
    "ClientException",
    "InvalidParameterException",
    "InvalidRequestException",
    "ResourceInUseException",
    "ResourceLimitExceededException",
    "ResourceNotFoundException",
    "ServerException",
    "ThrottlingException",
    "InvalidStateException",
];

/// Renders an error as EKS does: `x-amzn-ErrorType: CODE` and `{"message": …}` (plus
/// `clusterName` where the error shape has it). Public so the core renders its own EKS
/// errors (throttling, faults, signature failures) the same way.
pub fn error_response(e: &SimError, cluster: Option<&str>) -> WireResponse {
    let mut body = Map::new();
    if let Some(c) = cluster {
        if WITH_CLUSTER_NAME.contains(&e.code.as_str()) {
            body.insert("clusterName".into(), Value::String(c.to_string()));
        }
    }
    body.insert("message".into(), Value::String(e.message.clone()));
    let mut resp = WireResponse::json(e.status, Value::Object(body).to_string());
    resp.headers
        .push(("x-amzn-errortype".into(), e.code.clone()));
    // The core adds x-amzn-requestid: one id per request, the one it logs.
    resp
}

fn ok<T: Serialize>(body: &T) -> WireResponse {
    match serde_json::to_vec(body) {
        // The core adds x-amzn-requestid (its own id, the one in its log).
        Ok(bytes) => WireResponse::json(200, bytes),
        Err(e) => error_response(&SimError::internal(format!("encode: {e}")), None),
    }
}

/// `{"member": value}` serialized straight from `value` (no intermediate `Value`).
struct MemberBody<'a, T>(&'static str, &'a T);

impl<T: Serialize> Serialize for MemberBody<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, self.1)?;
        m.end()
    }
}

fn bad(msg: impl Into<String>) -> SimError {
    SimError::new("InvalidParameterException", 400, msg)
}

// ---------------------------------------------------------------------------------------
// Decoding.

struct Body(Map<String, Value>);

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "structure",
    }
}

fn wrong_type(member: &str, want: &str, v: &Value) -> SimError {
    bad(format!(
        "Invalid type for parameter {member}: expected {want}, got {}",
        type_name(v)
    ))
}

fn missing(member: &str) -> SimError {
    bad(format!("Missing required parameter: {member}"))
}

impl Body {
    fn parse(bytes: &[u8]) -> Result<Body, SimError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Body(Map::new()));
        }
        match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(m)) => Ok(Body(m)),
            Ok(other) => Err(bad(format!(
                "The request body must be a JSON object, got {}",
                type_name(&other)
            ))),
            Err(e) => Err(bad(format!("The request body is not valid JSON: {e}"))),
        }
    }

    fn present(&self, k: &str) -> bool {
        self.0.get(k).is_some_and(|v| !v.is_null())
    }

    fn str_opt(&self, k: &str) -> Result<Option<String>, SimError> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(wrong_type(k, "string", v)),
        }
    }

    fn str_req(&self, k: &str) -> Result<String, SimError> {
        self.str_opt(k)?.ok_or_else(|| missing(k))
    }

    fn bool_opt(&self, k: &str) -> Result<Option<bool>, SimError> {
        bool_of(&self.0, k, k)
    }

    fn int_opt(&self, k: &str) -> Result<Option<i64>, SimError> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(v) => Err(wrong_type(k, "integer", v)),
        }
    }

    fn strings_opt(&self, k: &str) -> Result<Option<Vec<String>>, SimError> {
        strings_of(&self.0, k, k)
    }

    fn map_opt(&self, k: &str) -> Result<BTreeMap<String, String>, SimError> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(m)) => {
                let mut out = BTreeMap::new();
                for (mk, mv) in m {
                    match mv {
                        Value::String(s) => {
                            out.insert(mk.clone(), s.clone());
                        }
                        v => return Err(wrong_type(&format!("{k}.{mk}"), "string", v)),
                    }
                }
                Ok(out)
            }
            Some(v) => Err(wrong_type(k, "map", v)),
        }
    }

    fn struct_opt(&self, k: &str) -> Result<Option<&Map<String, Value>>, SimError> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(v) => Err(wrong_type(k, "structure", v)),
        }
    }
}

fn bool_of(m: &Map<String, Value>, k: &str, label: &str) -> Result<Option<bool>, SimError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(v) => Err(wrong_type(label, "boolean", v)),
    }
}

fn str_of(m: &Map<String, Value>, k: &str, label: &str) -> Result<Option<String>, SimError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(wrong_type(label, "string", v)),
    }
}

fn strings_of(
    m: &Map<String, Value>,
    k: &str,
    label: &str,
) -> Result<Option<Vec<String>>, SimError> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                v => Err(wrong_type(&format!("{label}[{i}]"), "string", v)),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(v) => Err(wrong_type(label, "list", v)),
    }
}

fn query<'a>(req: &'a WireRequest, k: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(qk, _)| qk == k)
        .map(|(_, v)| v.as_str())
}

fn max_results(req: &WireRequest) -> Result<Option<i32>, SimError> {
    match query(req, "maxResults") {
        None => Ok(None),
        Some(v) => v.parse::<i32>().map(Some).map_err(|_| {
            bad(format!(
                "Invalid value for parameter maxResults: '{v}' is not an integer"
            ))
        }),
    }
}

/// Every value of a repeated query parameter (`tagKeys=a&tagKeys=b`), in order.
fn query_all(req: &WireRequest, k: &str) -> Vec<String> {
    req.query
        .iter()
        .filter(|(qk, _)| qk == k)
        .map(|(_, v)| v.clone())
        .collect()
}

fn page_token(req: &WireRequest) -> Option<&str> {
    query(req, "nextToken")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NamesPage<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<&'a str>,
    #[serde(flatten)]
    names: BTreeMap<&'static str, &'a [String]>,
}

fn names_page(member: &'static str, page: &Page<String>) -> WireResponse {
    let mut names = BTreeMap::new();
    names.insert(member, page.items.as_slice());
    ok(&NamesPage {
        next_token: page.next_token.as_deref(),
        names,
    })
}

// ---------------------------------------------------------------------------------------
// Dispatch.

pub fn handle(sim: &Sim, ctx: &Ctx, route: &Route, req: &WireRequest) -> WireResponse {
    handle_with(sim, ctx, route, req, &|_| {})
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
    let cluster = match route.op {
        "CreateCluster"
        | "ListClusters"
        | "ListAccessPolicies"
        | "TagResource"
        | "UntagResource"
        | "ListTagsForResource" => None,
        _ => route.params.first().map(String::as_str),
    };
    match dispatch(sim, ctx, route, req, fix) {
        Ok(resp) => resp,
        Err(e) => {
            if e.status >= 500 {
                tracing::warn!(op = route.op, error = %e, "eks operation failed");
            }
            // CreateCluster names its cluster in the body; AWS's errors carry it too.
            let named = match route.op {
                "CreateCluster" => Body::parse(&req.body)
                    .ok()
                    .and_then(|b| b.str_opt("name").ok().flatten()),
                _ => None,
            };
            error_response(&e, named.as_deref().or(cluster))
        }
    }
}

fn param(route: &Route, i: usize) -> Result<&str, SimError> {
    route
        .params
        .get(i)
        .map(String::as_str)
        .ok_or_else(|| bad("missing path parameter"))
}

fn dispatch(
    sim: &Sim,
    ctx: &Ctx,
    route: &Route,
    req: &WireRequest,
    fix: &dyn Fn(&mut model::Cluster),
) -> Result<WireResponse, SimError> {
    use serde_json::json;
    match route.op {
        "CreateCluster" => {
            let b = Body::parse(&req.body)?;
            let input = create_cluster_input(&b)?;
            let mut c = model::create_cluster(sim, ctx, input)?;
            fix(&mut c);
            Ok(ok(&MemberBody("cluster", &c)))
        }
        "DescribeCluster" => {
            let mut c = model::describe_cluster(sim, ctx, param(route, 0)?)?;
            fix(&mut c);
            Ok(ok(&MemberBody("cluster", &c)))
        }
        "ListClusters" => {
            let page = model::list_clusters(sim, ctx, max_results(req)?, page_token(req))?;
            Ok(names_page("clusters", &page))
        }
        "DeleteCluster" => {
            let mut c = model::delete_cluster(sim, ctx, param(route, 0)?)?;
            fix(&mut c);
            Ok(ok(&MemberBody("cluster", &c)))
        }
        "UpdateClusterConfig" => {
            let b = Body::parse(&req.body)?;
            let access = b.struct_opt("accessConfig")?;
            let mode = match access {
                Some(a) => str_of(a, "authenticationMode", "accessConfig.authenticationMode")?,
                None => None,
            };
            let other_members =
                b.0.iter()
                    .filter(|(k, v)| {
                        !v.is_null()
                            && !["accessConfig", "clientRequestToken", "name"].contains(&k.as_str())
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
            let input = model::UpdateClusterConfigInput {
                name: param(route, 0)?.to_string(),
                authentication_mode: mode,
                access_config_present: access.is_some(),
                other_members,
                client_request_token: b.str_opt("clientRequestToken")?,
            };
            let u = model::update_cluster_config(sim, ctx, input)?;
            Ok(ok(&MemberBody("update", &u)))
        }
        "DescribeUpdate" => {
            let u = model::describe_update(
                sim,
                ctx,
                param(route, 0)?,
                param(route, 1)?,
                query(req, "nodegroupName"),
            )?;
            Ok(ok(&MemberBody("update", &u)))
        }
        "ListUpdates" => {
            let page = model::list_updates(
                sim,
                ctx,
                param(route, 0)?,
                query(req, "nodegroupName"),
                max_results(req)?,
                page_token(req),
            )?;
            Ok(names_page("updateIds", &page))
        }
        "CreateAccessEntry" => {
            let b = Body::parse(&req.body)?;
            let input = model::CreateAccessEntryInput {
                cluster_name: param(route, 0)?.to_string(),
                principal_arn: b.str_req("principalArn")?,
                kubernetes_groups: b.strings_opt("kubernetesGroups")?,
                tags: b.map_opt("tags")?,
                client_request_token: b.str_opt("clientRequestToken")?,
                username: b.str_opt("username")?,
                kind: b.str_opt("type")?,
            };
            let e = model::create_access_entry(sim, ctx, input)?;
            Ok(ok(&MemberBody("accessEntry", &e)))
        }
        "DescribeAccessEntry" => {
            let e = model::describe_access_entry(sim, ctx, param(route, 0)?, param(route, 1)?)?;
            Ok(ok(&MemberBody("accessEntry", &e)))
        }
        "ListAccessEntries" => {
            let page = model::list_access_entries(
                sim,
                ctx,
                param(route, 0)?,
                query(req, "associatedPolicyArn"),
                max_results(req)?,
                page_token(req),
            )?;
            Ok(names_page("accessEntries", &page))
        }
        "UpdateAccessEntry" => {
            let b = Body::parse(&req.body)?;
            let input = model::UpdateAccessEntryInput {
                cluster_name: param(route, 0)?.to_string(),
                principal_arn: param(route, 1)?.to_string(),
                kubernetes_groups: b.strings_opt("kubernetesGroups")?,
                client_request_token: b.str_opt("clientRequestToken")?,
                username: b.str_opt("username")?,
            };
            let e = model::update_access_entry(sim, ctx, input)?;
            Ok(ok(&MemberBody("accessEntry", &e)))
        }
        "DeleteAccessEntry" => {
            model::delete_access_entry(sim, ctx, param(route, 0)?, param(route, 1)?)?;
            Ok(ok(&json!({})))
        }
        "AssociateAccessPolicy" => {
            let b = Body::parse(&req.body)?;
            let policy_arn = b.str_req("policyArn")?;
            let scope_m = b
                .struct_opt("accessScope")?
                .ok_or_else(|| missing("accessScope"))?;
            let scope = AccessScope {
                kind: str_of(scope_m, "type", "accessScope.type")?,
                namespaces: strings_of(scope_m, "namespaces", "accessScope.namespaces")?
                    .unwrap_or_default(),
            };
            let (cluster, principal) = (param(route, 0)?, param(route, 1)?);
            let a =
                model::associate_access_policy(sim, ctx, cluster, principal, &policy_arn, &scope)?;
            Ok(ok(&json!({
                "clusterName": cluster,
                "principalArn": principal,
                "associatedAccessPolicy": a,
            })))
        }
        "DisassociateAccessPolicy" => {
            model::disassociate_access_policy(
                sim,
                ctx,
                param(route, 0)?,
                param(route, 1)?,
                param(route, 2)?,
            )?;
            Ok(ok(&json!({})))
        }
        "ListAssociatedAccessPolicies" => {
            let (cluster, principal) = (param(route, 0)?, param(route, 1)?);
            let page = model::list_associated_access_policies(
                sim,
                ctx,
                cluster,
                principal,
                max_results(req)?,
                page_token(req),
            )?;
            let mut out = json!({
                "clusterName": cluster,
                "principalArn": principal,
                "associatedAccessPolicies": page.items,
            });
            if let (Some(t), Some(o)) = (page.next_token, out.as_object_mut()) {
                o.insert("nextToken".into(), Value::String(t));
            }
            Ok(ok(&out))
        }
        "ListAccessPolicies" => {
            let page = model::list_access_policies(ctx, max_results(req)?, page_token(req))?;
            let mut out = json!({ "accessPolicies": page.items });
            if let (Some(t), Some(o)) = (page.next_token, out.as_object_mut()) {
                o.insert("nextToken".into(), Value::String(t));
            }
            Ok(ok(&out))
        }
        "CreateNodegroup" => {
            let b = Body::parse(&req.body)?;
            let input = model::CreateNodegroupInput {
                cluster_name: param(route, 0)?.to_string(),
                nodegroup_name: b.str_req("nodegroupName")?,
                subnets: b
                    .strings_opt("subnets")?
                    .ok_or_else(|| missing("subnets"))?,
                node_role: b.str_req("nodeRole")?,
                scaling_config: b
                    .struct_opt("scalingConfig")?
                    .map(|m| Value::Object(m.clone())),
                instance_types: b.strings_opt("instanceTypes")?,
                ami_type: b.str_opt("amiType")?,
                capacity_type: b.str_opt("capacityType")?,
                disk_size: b.int_opt("diskSize")?,
                labels: b.map_opt("labels")?,
                tags: b.map_opt("tags")?,
                version: b.str_opt("version")?,
                client_request_token: b.str_opt("clientRequestToken")?,
            };
            let ng = model::create_nodegroup(sim, ctx, input)?;
            Ok(ok(&MemberBody("nodegroup", &ng)))
        }
        "UpdateNodegroupConfig" => {
            let b = Body::parse(&req.body)?;
            let u = model::nodegroup_config::update_nodegroup_config(
                sim,
                ctx,
                param(route, 0)?,
                param(route, 1)?,
                b.0.get("scalingConfig"),
            )?;
            Ok(ok(&MemberBody("update", &u)))
        }
        "DescribeNodegroup" => {
            let ng = model::describe_nodegroup(sim, ctx, param(route, 0)?, param(route, 1)?)?;
            Ok(ok(&MemberBody("nodegroup", &ng)))
        }
        "ListNodegroups" => {
            let page = model::list_nodegroups(
                sim,
                ctx,
                param(route, 0)?,
                max_results(req)?,
                page_token(req),
            )?;
            Ok(names_page("nodegroups", &page))
        }
        "DeleteNodegroup" => {
            let ng = model::delete_nodegroup(sim, ctx, param(route, 0)?, param(route, 1)?)?;
            Ok(ok(&MemberBody("nodegroup", &ng)))
        }
        "TagResource" | "UntagResource" | "ListTagsForResource" => {
            tags::dispatch(sim, ctx, route, req)
        }
        other => Err(SimError::new(
            "InvalidRequestException",
            400,
            format!("Unsupported operation {other}"),
        )),
    }
}

fn create_cluster_input(b: &Body) -> Result<model::CreateClusterInput, SimError> {
    let name = b.str_req("name")?;
    let role_arn = b.str_req("roleArn")?;
    let vpc = b
        .struct_opt("resourcesVpcConfig")?
        .ok_or_else(|| missing("resourcesVpcConfig"))?;
    let resources_vpc_config = model::VpcConfigRequest {
        subnet_ids: strings_of(vpc, "subnetIds", "resourcesVpcConfig.subnetIds")?
            .unwrap_or_default(),
        security_group_ids: strings_of(
            vpc,
            "securityGroupIds",
            "resourcesVpcConfig.securityGroupIds",
        )?
        .unwrap_or_default(),
        endpoint_public_access: bool_of(
            vpc,
            "endpointPublicAccess",
            "resourcesVpcConfig.endpointPublicAccess",
        )?,
        endpoint_private_access: bool_of(
            vpc,
            "endpointPrivateAccess",
            "resourcesVpcConfig.endpointPrivateAccess",
        )?,
        public_access_cidrs: strings_of(
            vpc,
            "publicAccessCidrs",
            "resourcesVpcConfig.publicAccessCidrs",
        )?,
    };
    let access_config = match b.struct_opt("accessConfig")? {
        None => None,
        Some(a) => Some(model::AccessConfig {
            bootstrap_cluster_creator_admin_permissions: bool_of(
                a,
                "bootstrapClusterCreatorAdminPermissions",
                "accessConfig.bootstrapClusterCreatorAdminPermissions",
            )?,
            authentication_mode: str_of(
                a,
                "authenticationMode",
                "accessConfig.authenticationMode",
            )?,
        }),
    };
    let _ = b.bool_opt("bootstrapSelfManagedAddons")?;
    Ok(model::CreateClusterInput {
        name,
        version: b.str_opt("version")?,
        role_arn,
        resources_vpc_config,
        access_config,
        tags: b.map_opt("tags")?,
        client_request_token: b.str_opt("clientRequestToken")?,
        logging: b.struct_opt("logging")?.map(|m| Value::Object(m.clone())),
        kubernetes_network_config: if b.present("kubernetesNetworkConfig") {
            b.struct_opt("kubernetesNetworkConfig")?
                .map(|m| Value::Object(m.clone()))
        } else {
            None
        },
    })
}
