//! The generated EKS wire: routing, and the validation errors decoding gives.

use eks_sim_wire::generated::eks::{self, EksError, EksOperation as Op};
use eks_sim_wire::rt::{rest, Violation};

fn route(method: &str, path: &str) -> Option<rest::Route<Op>> {
    eks::route(method, path)
}

fn decode<T>(
    method: &str,
    path: &str,
    body: &str,
    f: impl Fn(&rest::Request<'_, Op>) -> Result<T, Violation>,
) -> Result<T, Violation> {
    let r = route(method, path).expect("routed");
    let (p, q) = path.split_once('?').unwrap_or((path, ""));
    let _ = p;
    let query: Vec<(String, String)> = form_pairs(q);
    f(&rest::Request {
        route: &r,
        query: &query,
        headers: &[],
        body: body.as_bytes(),
    })
}

fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

#[test]
fn routes_every_template_with_labels_decoded() {
    let r = route(
        "GET",
        "/clusters/c1/access-entries/arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa%2Fb",
    )
    .unwrap();
    assert_eq!(r.op, Op::DescribeAccessEntry);
    assert_eq!(r.label("name"), "c1");
    assert_eq!(r.label("principalArn"), "arn:aws:iam::1:role/a/b");
    let r = route(
        "DELETE",
        "/clusters/c1/access-entries/p/access-policies/arn%3Ax",
    )
    .unwrap();
    assert_eq!(r.op, Op::DisassociateAccessPolicy);
    assert_eq!(r.label("policyArn"), "arn:x");
    assert_eq!(route("GET", "/clusters/").unwrap().op, Op::ListClusters);
    assert_eq!(
        route("GET", "/clusters?maxResults=1").unwrap().op,
        Op::ListClusters
    );
    assert_eq!(
        route("POST", "/clusters/c/node-groups/g/update-config")
            .unwrap()
            .op,
        Op::UpdateNodegroupConfig
    );
    assert_eq!(
        route("GET", "/clusters/c/updates/u")
            .unwrap()
            .label("updateId"),
        "u"
    );
    // An ARN label left unencoded is served too.
    let r = route("POST", "/tags/arn:aws:eks:r:1:cluster/c1").unwrap();
    assert_eq!(r.op, Op::TagResource);
    assert_eq!(r.label("resourceArn"), "arn:aws:eks:r:1:cluster/c1");
    assert_eq!(
        route("GET", "/tags/a%2Fb").unwrap().label("resourceArn"),
        "a/b"
    );
    assert!(route("PUT", "/clusters").is_none());
    assert!(route("GET", "/clusters//updates").is_none());
    assert!(route("GET", "/nope").is_none());
    assert!(route("GET", "/tags").is_none());
    assert!(route("GET", "clusters").is_none());
    for op in Op::ALL {
        assert_eq!(Op::from_name(op.name()), Some(*op));
    }
}

#[test]
fn missing_required_member() {
    let e = decode(
        "POST",
        "/clusters/c/access-entries",
        "{}",
        eks::CreateAccessEntryInput::decode,
    )
    .unwrap_err();
    assert_eq!(
        e,
        Violation::Missing {
            member: "principalArn".into()
        }
    );
    assert_eq!(e.rest_message(), "Missing required parameter: principalArn");
    let e = decode(
        "POST",
        "/clusters/c/access-entries/p/access-policies",
        r#"{"policyArn":"a","accessScope":{}}"#,
        eks::AssociateAccessPolicyInput::decode,
    );
    // accessScope's members are optional in the model: the model's own rules judge it.
    assert!(e.is_ok());
    let e = decode("DELETE", "/tags/arn", "", eks::UntagResourceInput::decode).unwrap_err();
    assert_eq!(e.rest_message(), "Missing required parameter: tagKeys");
}

#[test]
fn wrong_types_name_the_member() {
    let e = decode(
        "POST",
        "/clusters/c/access-entries",
        r#"{"principalArn":"p","kubernetesGroups":"g"}"#,
        eks::CreateAccessEntryInput::decode,
    )
    .unwrap_err();
    assert_eq!(
        e.rest_message(),
        "Invalid type for parameter kubernetesGroups: expected list, got string"
    );
    let e = decode(
        "POST",
        "/clusters/c/access-entries",
        r#"{"principalArn":"p","kubernetesGroups":["a",1]}"#,
        eks::CreateAccessEntryInput::decode,
    )
    .unwrap_err();
    assert_eq!(
        e.rest_message(),
        "Invalid type for parameter kubernetesGroups[1]: expected string, got number"
    );
    let e = decode("POST", "/clusters", r#"{"name":"c","roleArn":"r","resourcesVpcConfig":{"subnetIds":[],"endpointPublicAccess":"yes"}}"#, eks::CreateClusterInput::decode).unwrap_err();
    assert_eq!(e.rest_message(), "Invalid type for parameter resourcesVpcConfig.endpointPublicAccess: expected boolean, got string");
    let e = decode(
        "POST",
        "/clusters/c/access-entries",
        r#"{"principalArn":"p","tags":{"k":1}}"#,
        eks::CreateAccessEntryInput::decode,
    )
    .unwrap_err();
    assert_eq!(
        e.rest_message(),
        "Invalid type for parameter tags.k: expected string, got number"
    );
    let e = decode(
        "POST",
        "/clusters/c/access-entries",
        "[1]",
        eks::CreateAccessEntryInput::decode,
    )
    .unwrap_err();
    assert_eq!(
        e.rest_message(),
        "The request body must be a JSON object, got list"
    );
}

#[test]
fn max_results_range_and_integer() {
    for v in ["0", "101"] {
        let e = decode(
            "GET",
            &format!("/clusters?maxResults={v}"),
            "",
            eks::ListClustersInput::decode,
        )
        .unwrap_err();
        assert_eq!(
            e.rest_message(),
            format!("1 validation error detected: Value '{v}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 100")
        );
    }
    let e = decode(
        "GET",
        "/clusters/c/access-entries?maxResults=x",
        "",
        eks::ListAccessEntriesInput::decode,
    )
    .unwrap_err();
    assert_eq!(
        e.rest_message(),
        "Invalid value for parameter maxResults: 'x' is not an integer"
    );
    let ok = decode(
        "GET",
        "/clusters?maxResults=100&nextToken=t",
        "",
        eks::ListClustersInput::decode,
    )
    .unwrap();
    assert_eq!(ok.max_results, Some(100));
    assert_eq!(ok.next_token.as_deref(), Some("t"));
}

#[test]
fn unknown_enum_value() {
    let e = decode("POST", "/clusters", r#"{"name":"c","roleArn":"r","resourcesVpcConfig":{},"accessConfig":{"authenticationMode":"NOPE"}}"#, eks::CreateClusterInput::decode).unwrap_err();
    assert_eq!(e.member(), "accessConfig.authenticationMode");
    assert_eq!(e.rest_message(), "The authenticationMode 'NOPE' is invalid. Valid values: API, API_AND_CONFIG_MAP, CONFIG_MAP.");
    let ok = decode("POST", "/clusters", r#"{"name":"c","roleArn":"r","resourcesVpcConfig":{},"accessConfig":{"authenticationMode":"API"}}"#, eks::CreateClusterInput::decode).unwrap();
    assert_eq!(
        ok.access_config.and_then(|a| a.authentication_mode),
        Some(eks::AuthenticationMode::Api)
    );
}

#[test]
fn lengths_from_the_model() {
    let long = "a".repeat(101);
    let e = decode(
        "POST",
        "/clusters",
        &format!(r#"{{"name":"{long}","roleArn":"r","resourcesVpcConfig":{{}}}}"#),
        eks::CreateClusterInput::decode,
    )
    .unwrap_err();
    assert!(
        matches!(e, Violation::Length { ref member, max: Some(100), .. } if member == "name"),
        "{e:?}"
    );
    let key = "k".repeat(129);
    let e = decode(
        "POST",
        "/clusters/c/access-entries",
        &format!(r#"{{"principalArn":"p","tags":{{"{key}":"v"}}}}"#),
        eks::CreateAccessEntryInput::decode,
    )
    .unwrap_err();
    assert!(
        matches!(e, Violation::Length { max: Some(128), .. }),
        "{e:?}"
    );
}

#[test]
fn errors_carry_their_shape_and_status() {
    let e = EksError::from_code(
        "ResourceNotFoundException",
        0,
        "No cluster found for name: c.",
    )
    .with_cluster_name("c");
    assert_eq!(e.status(), 404);
    assert_eq!(e.code(), "ResourceNotFoundException");
    let body: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"clusterName": "c", "message": "No cluster found for name: c."})
    );
    // BadRequestException has no clusterName member: setting it changes nothing.
    let e = EksError::from_code("BadRequestException", 0, "m").with_cluster_name("c");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&e.to_json()).unwrap(),
        serde_json::json!({"message": "m"})
    );
    let e = EksError::from_code("AccessDeniedException", 403, "no");
    assert_eq!(
        (e.code(), e.status(), e.message()),
        ("AccessDeniedException", 403, "no")
    );
    assert_eq!(
        EksError::from_code("ResourceInUseException", 0, "").status(),
        409
    );
    assert_eq!(EksError::from_code("ServerException", 0, "").status(), 500);
    assert!(Op::CreateNodegroup
        .errors()
        .contains(&"ResourceLimitExceededException"));
}
