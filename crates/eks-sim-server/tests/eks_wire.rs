//! The EKS wire without a socket: the route table (methods, paths, percent-decoding) and
//! `handle`'s encoding of answers and errors.

use eks_sim_server::eks::{self, route, Route};
use eks_sim_server::wire::WireRequest;
use http::Method;

fn r(op: &'static str, params: &[&str]) -> Option<Route> {
    Some(Route {
        op,
        params: params.iter().map(|s| s.to_string()).collect(),
    })
}

const ENC_ROLE: &str = "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fops%2FConvoxAdmin";
const ROLE: &str = "arn:aws:iam::123456789012:role/ops/ConvoxAdmin";
const ENC_POLICY: &str = "arn%3Aaws%3Aeks%3A%3Aaws%3Acluster-access-policy%2FAmazonEKSViewPolicy";
const POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";

/// Routes whose paths hold no principal: clusters, updates, policies, node groups, and
/// paths and methods that match nothing.
fn fixed_route_cases() -> Vec<(Method, &'static str, Option<Route>)> {
    vec![
        (Method::POST, "/clusters", r("CreateCluster", &[])),
        (Method::GET, "/clusters", r("ListClusters", &[])),
        (
            Method::GET,
            "/clusters?maxResults=2",
            r("ListClusters", &[]),
        ),
        (
            Method::GET,
            "/clusters/demo",
            r("DescribeCluster", &["demo"]),
        ),
        (
            Method::DELETE,
            "/clusters/demo",
            r("DeleteCluster", &["demo"]),
        ),
        (
            Method::POST,
            "/clusters/demo/update-config",
            r("UpdateClusterConfig", &["demo"]),
        ),
        (
            Method::GET,
            "/clusters/demo/updates",
            r("ListUpdates", &["demo"]),
        ),
        (
            Method::GET,
            "/clusters/demo/updates/u-1",
            r("DescribeUpdate", &["demo", "u-1"]),
        ),
        (
            Method::POST,
            "/clusters/demo/access-entries",
            r("CreateAccessEntry", &["demo"]),
        ),
        (
            Method::GET,
            "/clusters/demo/access-entries",
            r("ListAccessEntries", &["demo"]),
        ),
        (
            Method::GET,
            "/access-policies",
            r("ListAccessPolicies", &[]),
        ),
        (
            Method::POST,
            "/clusters/demo/node-groups",
            r("CreateNodegroup", &["demo"]),
        ),
        (
            Method::GET,
            "/clusters/demo/node-groups",
            r("ListNodegroups", &["demo"]),
        ),
        (
            Method::GET,
            "/clusters/demo/node-groups/ng",
            r("DescribeNodegroup", &["demo", "ng"]),
        ),
        (
            Method::DELETE,
            "/clusters/demo/node-groups/ng",
            r("DeleteNodegroup", &["demo", "ng"]),
        ),
        // unknown paths and methods
        (Method::PUT, "/clusters", None),
        (Method::GET, "/", None),
        (Method::GET, "/nope", None),
        (Method::GET, "/clusters//access-entries", None),
        (Method::PATCH, "/clusters/demo", None),
        (Method::GET, "/clusters/demo/access-entries/a/b/c/d", None),
        (Method::GET, "/clusters/%FF%FE", None),
        (Method::GET, "clusters", None),
    ]
}

#[test]
fn route_table() {
    let ae = format!("/clusters/demo/access-entries/{ENC_ROLE}");
    let ap = format!("{ae}/access-policies");
    let dp = format!("{ap}/{ENC_POLICY}");
    let mut cases: Vec<(Method, &str, Option<Route>)> = fixed_route_cases();
    cases.extend([
        (
            Method::GET,
            ae.as_str(),
            r("DescribeAccessEntry", &["demo", ROLE]),
        ),
        (
            Method::POST,
            ae.as_str(),
            r("UpdateAccessEntry", &["demo", ROLE]),
        ),
        (
            Method::DELETE,
            ae.as_str(),
            r("DeleteAccessEntry", &["demo", ROLE]),
        ),
        (
            Method::POST,
            ap.as_str(),
            r("AssociateAccessPolicy", &["demo", ROLE]),
        ),
        (
            Method::GET,
            ap.as_str(),
            r("ListAssociatedAccessPolicies", &["demo", ROLE]),
        ),
        (
            Method::DELETE,
            dp.as_str(),
            r("DisassociateAccessPolicy", &["demo", ROLE, POLICY]),
        ),
    ]);
    for (m, p, want) in cases {
        assert_eq!(route(&m, p), want, "{m} {p}");
    }
    for op in eks::OPERATIONS {
        assert!(!op.is_empty());
    }
}

#[test]
fn error_response_shape() {
    let e = eks_sim_model::SimError::new(
        "ResourceNotFoundException",
        404,
        "No cluster found for name: x.",
    );
    let resp = eks::error_response(&e, Some("x"));
    assert_eq!(resp.status, 404);
    let h = |k: &str| {
        resp.headers
            .iter()
            .find(|(hk, _)| hk.eq_ignore_ascii_case(k))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        h("x-amzn-errortype").as_deref(),
        Some("ResourceNotFoundException")
    );
    assert_eq!(h("content-type").as_deref(), Some("application/json"));
    // The core stamps the request id (one per request); the encoder must not add another.
    assert!(h("x-amzn-requestid").is_none());
    let body: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(body["message"], "No cluster found for name: x.");
    assert_eq!(body["clusterName"], "x");
    // Shapes without clusterName do not get it.
    let t = eks_sim_model::SimError::new("ServiceUnavailableException", 503, "busy");
    let body: serde_json::Value =
        serde_json::from_slice(&eks::error_response(&t, Some("x")).body).unwrap();
    assert!(body.get("clusterName").is_none());
}

#[test]
fn decoding_never_panics_on_junk() {
    // Bodies that are not what the operation expects: every one is answered with a 4xx
    // (a decoding refusal, or the cluster "ok" not existing), none panics.
    let dir = tempfile::tempdir().unwrap();
    let sim = eks_sim_server::open_sim(dir.path()).unwrap();
    let ctx = eks_sim_model::Ctx {
        caller: eks_sim_model::Caller {
            account: "123456789012".into(),
            arn: "arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/convox".into(),
            principal_arn: ROLE.into(),
            user_id: "AROA:convox".into(),
        },
        region: "us-east-1".into(),
        now_ms: 1_700_000_000_000,
    };
    let bodies: &[&[u8]] = &[
        b"",
        b"null",
        b"\"str\"",
        b"{\"name\": null}",
        b"{\"name\": [\"x\"]}",
        b"{\"name\": \"ok\", \"roleArn\": 1, \"resourcesVpcConfig\": {}}",
        b"{\"name\": \"ok\", \"roleArn\": \"r\", \"resourcesVpcConfig\": []}",
        b"{\"name\": \"ok\", \"roleArn\": \"r\", \"resourcesVpcConfig\": {\"subnetIds\": [1]}}",
        b"{\"accessConfig\": \"API\"}",
        b"{\"accessConfig\": {\"authenticationMode\": 7}}",
        b"{\"principalArn\": \"x\", \"tags\": {\"a\": 1}}",
        b"{\"policyArn\": \"p\"}",
        b"{\"policyArn\": \"p\", \"accessScope\": {\"type\": 1}}",
        b"{\"nodegroupName\": \"n\", \"subnets\": \"s\"}",
        b"\xff\xfe",
        b"{\"a\":",
    ];
    let paths = [
        (Method::POST, "/clusters"),
        (Method::POST, "/clusters/ok/update-config"),
        (Method::POST, "/clusters/ok/access-entries"),
        (
            Method::POST,
            "/clusters/ok/access-entries/x/access-policies",
        ),
        (Method::POST, "/clusters/ok/node-groups"),
    ];
    for (m, p) in &paths {
        let rt = route(m, p).unwrap();
        for b in bodies {
            let req = WireRequest {
                method: m.clone(),
                path: p.to_string(),
                query: vec![],
                headers: http::HeaderMap::new(),
                body: bytes::Bytes::copy_from_slice(b),
            };
            let resp = eks::handle(&sim, &ctx, &rt, &req);
            assert!(
                (400..500).contains(&resp.status),
                "{m} {p} {:?} → {}",
                String::from_utf8_lossy(b),
                resp.status
            );
        }
    }
}

#[test]
fn random_requests_never_panic() {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let sim = eks_sim_server::open_sim(dir.path()).unwrap();
    let ctx = eks_sim_model::Ctx {
        caller: eks_sim_model::Caller {
            account: "123456789012".into(),
            arn: "arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/convox".into(),
            principal_arn: ROLE.into(),
            user_id: "AROA:convox".into(),
        },
        region: "us-east-1".into(),
        now_ms: 1_700_000_000_000,
    };
    // A real cluster so that requests get past the lookup.
    let mut input = eks_sim_model::eks::CreateClusterInput {
        name: "demo".into(),
        role_arn: ROLE.into(),
        resources_vpc_config: eks_sim_model::eks::VpcConfigRequest {
            subnet_ids: vec!["subnet-1".into(), "subnet-2".into()],
            ..Default::default()
        },
        ..Default::default()
    };
    input.access_config = Some(eks_sim_model::eks::AccessConfig {
        authentication_mode: Some("API".into()),
        bootstrap_cluster_creator_admin_permissions: None,
    });
    eks_sim_model::eks::create_cluster(&sim, &ctx, input).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    let segs = [
        "clusters",
        "demo",
        "access-entries",
        "access-policies",
        "node-groups",
        "updates",
        "update-config",
        ENC_ROLE,
        "%",
        "%2",
        "%FF",
        "..",
        "a b",
        "",
    ];
    let methods = [Method::GET, Method::POST, Method::DELETE, Method::PUT];
    let snippets: [&[u8]; 10] = [
        b"{",
        b"}",
        b"\"name\"",
        b":",
        b"\"demo\"",
        b",",
        b"[",
        b"]",
        b"null",
        b"\"accessConfig\"",
    ];
    let mut answered = 0;
    for _ in 0..3000 {
        let n = rng.gen_range(0..5);
        let first = if rng.gen_bool(0.9) {
            "/clusters"
        } else {
            "/access-policies"
        };
        let rest: String = (0..n)
            .map(|_| format!("/{}", segs[rng.gen_range(0..segs.len())]))
            .collect();
        let path = format!("{first}{rest}");
        let m = methods[rng.gen_range(0..methods.len())].clone();
        let mut body = Vec::new();
        for _ in 0..rng.gen_range(0..12) {
            body.extend_from_slice(snippets[rng.gen_range(0..snippets.len())]);
        }
        let query = if rng.gen_bool(0.3) {
            vec![("maxResults".to_string(), rng.gen_range(-5..200).to_string())]
        } else {
            vec![]
        };
        if let Some(rt) = route(&m, &path) {
            let req = WireRequest {
                method: m,
                path,
                query,
                headers: http::HeaderMap::new(),
                body: bytes::Bytes::from(body),
            };
            let resp = eks::handle(&sim, &ctx, &rt, &req);
            // Only client errors or successes: nothing here may fail the server.
            assert!(resp.status < 500, "{:?} → {}", rt, resp.status);
            answered += 1;
        }
    }
    assert!(answered > 100, "only {answered} requests reached handle");
}
