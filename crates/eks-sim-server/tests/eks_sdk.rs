//! The official AWS SDK for Rust (aws-sdk-eks) against the simulator: every EKS operation,
//! typed errors, pagination, and raw rest-json decoding errors.

mod support;

use aws_sdk_eks::error::ProvideErrorMetadata;
use aws_sdk_eks::types::{
    AccessScope, AccessScopeType, AuthenticationMode, CreateAccessConfigRequest,
    UpdateAccessConfigRequest, UpdateStatus, UpdateType, VpcConfigRequest,
};
use aws_sdk_eks::Client;
use support::TestSim;

const CLUSTER_ROLE: &str = "arn:aws:iam::123456789012:role/eks-cluster";
const NODE_ROLE: &str = "arn:aws:iam::123456789012:role/nodes";
const PATH_ROLE: &str = "arn:aws:iam::123456789012:role/development/apps/my-role";
const ADMIN: &str = "arn:aws:iam::123456789012:role/ops/ConvoxAdmin";
const ADMIN_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
const VIEW_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";

/// Roles the tests use, created through the model (IAM's wire is tested elsewhere).
fn seed_roles(t: &TestSim) {
    let ctx = eks_sim_model::Ctx {
        caller: eks_sim_model::Caller {
            account: "123456789012".into(),
            arn: "arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/convox".into(),
            principal_arn: ADMIN.into(),
            user_id: "AROA:convox".into(),
        },
        region: "us-east-1".into(),
        now_ms: 0,
    };
    t.sim
        .store
        .write(|tx| {
            for (name, path) in [
                ("eks-cluster", None),
                ("nodes", None),
                ("my-role", Some("/development/apps/")),
            ] {
                eks_sim_model::iam::create_role_in(
                    tx,
                    &ctx,
                    &eks_sim_model::iam::CreateRoleInput {
                        role_name: name.into(),
                        path: path.map(str::to_string),
                        assume_role_policy_document: eks_sim_model::iam::account_trust_policy(
                            "123456789012",
                            "aws",
                        ),
                        ..Default::default()
                    },
                )?;
            }
            Ok(())
        })
        .expect("roles");
}

async fn setup() -> (TestSim, Client) {
    let t = TestSim::start().await;
    seed_roles(&t);
    let client = Client::new(&t.config().await);
    (t, client)
}

fn vpc() -> VpcConfigRequest {
    VpcConfigRequest::builder()
        .subnet_ids("subnet-a")
        .subnet_ids("subnet-b")
        .build()
}

async fn create_cluster(c: &Client, name: &str, mode: Option<AuthenticationMode>) {
    let mut req = c
        .create_cluster()
        .name(name)
        .role_arn(CLUSTER_ROLE)
        .resources_vpc_config(vpc());
    if let Some(m) = mode {
        req = req.access_config(
            CreateAccessConfigRequest::builder()
                .authentication_mode(m)
                .build(),
        );
    }
    req.send().await.expect("create cluster");
}

fn code<E: ProvideErrorMetadata>(e: &E) -> (&str, &str) {
    (e.code().unwrap_or(""), e.message().unwrap_or(""))
}

/// CreateCluster, DescribeCluster and ListClusters for `demo`: ARN, mode, tags, endpoint, CA, VPC.
async fn create_and_describe_demo(c: &Client) {
    let out = c
        .create_cluster()
        .name("demo")
        .role_arn(CLUSTER_ROLE)
        .resources_vpc_config(vpc())
        .tags("team", "a")
        .send()
        .await
        .unwrap();
    let cl = out.cluster().unwrap();
    assert_eq!(
        cl.arn(),
        Some("arn:aws:eks:us-east-1:123456789012:cluster/demo")
    );
    assert_eq!(
        cl.access_config().and_then(|a| a.authentication_mode()),
        Some(&AuthenticationMode::ConfigMap)
    );
    assert!(cl.created_at().is_some());
    assert_eq!(
        cl.tags().and_then(|t| t.get("team")).map(String::as_str),
        Some("a")
    );

    let d = c.describe_cluster().name("demo").send().await.unwrap();
    let cl = d.cluster().unwrap();
    assert_eq!(cl.status().map(|s| s.as_str()), Some("ACTIVE"));
    assert!(cl.endpoint().is_some_and(|e| e.starts_with("https://")));
    assert!(cl.certificate_authority().and_then(|c| c.data()).is_some());
    assert_eq!(
        cl.resources_vpc_config().map(|v| v.subnet_ids().len()),
        Some(2)
    );

    let list = c.list_clusters().send().await.unwrap();
    assert_eq!(list.clusters(), ["demo"]);
}

/// On CONFIG_MAP: access entries refused with the typed error, and no direct switch to API.
async fn config_map_refusals(c: &Client) {
    // Access entries are refused on CONFIG_MAP, with AWS's typed error.
    let e = c
        .list_access_entries()
        .cluster_name("demo")
        .send()
        .await
        .unwrap_err();
    let se = e.into_service_error();
    assert!(se.is_invalid_request_exception(), "{se:?}");
    assert_eq!(
        se.message(),
        Some("The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.")
    );

    // CONFIG_MAP → API directly is refused.
    let e = c
        .update_cluster_config()
        .name("demo")
        .access_config(
            UpdateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::Api)
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_parameter_exception(), "{e:?}");
    assert_eq!(
        e.message(),
        Some("Unsupported authentication mode update from CONFIG_MAP to API")
    );
}

/// With a node group, the switch to API_AND_CONFIG_MAP: its update, and the entries EKS makes.
async fn switch_demo_to_api_and_config_map(c: &Client) {
    c.create_nodegroup()
        .cluster_name("demo")
        .nodegroup_name("ng")
        .subnets("subnet-a")
        .node_role(NODE_ROLE)
        .send()
        .await
        .unwrap();

    let u = c
        .update_cluster_config()
        .name("demo")
        .access_config(
            UpdateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::ApiAndConfigMap)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let upd = u.update().unwrap();
    assert_eq!(upd.r#type(), Some(&UpdateType::AccessConfigUpdate));
    let id = upd.id().unwrap().to_string();
    let du = c
        .describe_update()
        .name("demo")
        .update_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        du.update().unwrap().status(),
        Some(&UpdateStatus::Successful)
    );
    let params = du.update().unwrap().params();
    assert_eq!(params.len(), 1);
    assert_eq!(params[0].value(), Some("API_AND_CONFIG_MAP"));
    let lu = c.list_updates().name("demo").send().await.unwrap();
    assert_eq!(lu.update_ids(), std::slice::from_ref(&id));

    // EKS created the creator's and the node role's entries.
    let le = c
        .list_access_entries()
        .cluster_name("demo")
        .send()
        .await
        .unwrap();
    let mut want = vec![NODE_ROLE.to_string(), ADMIN.to_string()];
    want.sort();
    assert_eq!(le.access_entries(), want.as_slice());
    let admin = c
        .list_associated_access_policies()
        .cluster_name("demo")
        .principal_arn(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(admin.associated_access_policies().len(), 1);
    assert_eq!(
        admin.associated_access_policies()[0].policy_arn(),
        Some(ADMIN_POLICY)
    );
    let node = c
        .list_associated_access_policies()
        .cluster_name("demo")
        .principal_arn(NODE_ROLE)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    // Not in the model's error list for this operation, so the SDK gives it untyped.
    assert_eq!(
        code(&node),
        (
            "InvalidParameterException",
            "This operation can only be performed on Access Entries with a type of \"STANDARD\"."
        )
    );
}

#[tokio::test]
async fn cluster_and_auth_mode_flow() {
    let (_t, c) = setup().await;
    create_and_describe_demo(&c).await;
    config_map_refusals(&c).await;
    switch_demo_to_api_and_config_map(&c).await;

    // The same mode again: AWS's error.
    let again = c
        .update_cluster_config()
        .name("demo")
        .access_config(
            UpdateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::ApiAndConfigMap)
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        code(&again),
        (
            "InvalidParameterException",
            "Unsupported authentication mode update from API_AND_CONFIG_MAP to API_AND_CONFIG_MAP"
        )
    );

    let missing = c
        .describe_cluster()
        .name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(missing.is_resource_not_found_exception(), "{missing:?}");
    assert_eq!(missing.message(), Some("No cluster found for name: nope."));

    c.delete_nodegroup()
        .cluster_name("demo")
        .nodegroup_name("ng")
        .send()
        .await
        .unwrap();
    let del = c.delete_cluster().name("demo").send().await.unwrap();
    assert_eq!(
        del.cluster().unwrap().status().map(|s| s.as_str()),
        Some("DELETING")
    );
    assert!(c
        .list_clusters()
        .send()
        .await
        .unwrap()
        .clusters()
        .is_empty());
}

/// On cluster `ae`: a STANDARD entry for a role with a path (its defaults, its ARN in the URI path), a duplicate and an STS ARN refused, a node entry.
async fn create_entries_on_ae(c: &Client) {
    let created = c
        .create_access_entry()
        .cluster_name("ae")
        .principal_arn(PATH_ROLE)
        .kubernetes_groups("viewers")
        .tags("owner", "rack")
        .send()
        .await
        .unwrap();
    let e = created.access_entry().unwrap();
    assert_eq!(e.principal_arn(), Some(PATH_ROLE));
    assert_eq!(e.r#type(), Some("STANDARD"));
    assert_eq!(
        e.username(),
        Some("arn:aws:sts::123456789012:assumed-role/my-role/{{SessionName}}")
    );
    assert!(e.access_entry_arn().unwrap().starts_with(
        "arn:aws:eks:us-east-1:123456789012:access-entry/ae/role/123456789012/my-role/"
    ));
    assert_eq!(e.kubernetes_groups(), ["viewers"]);
    assert!(e.created_at().is_some() && e.modified_at().is_some());

    // Path-carrying ARN in the URI path: percent-encoded by the SDK, decoded by us.
    let d = c
        .describe_access_entry()
        .cluster_name("ae")
        .principal_arn(PATH_ROLE)
        .send()
        .await
        .unwrap();
    assert_eq!(
        d.access_entry()
            .unwrap()
            .tags()
            .unwrap()
            .get("owner")
            .map(String::as_str),
        Some("rack")
    );

    let dup = c
        .create_access_entry()
        .cluster_name("ae")
        .principal_arn(PATH_ROLE)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(dup.is_resource_in_use_exception(), "{dup:?}");
    assert_eq!(
        dup.message(),
        Some("The specified access entry resource is already in use on this cluster.")
    );

    let sts = c
        .create_access_entry()
        .cluster_name("ae")
        .principal_arn("arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/convox")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(sts.is_invalid_parameter_exception(), "{sts:?}");

    let node = c
        .create_access_entry()
        .cluster_name("ae")
        .principal_arn(NODE_ROLE)
        .r#type("EC2_LINUX")
        .send()
        .await
        .unwrap();
    assert_eq!(
        node.access_entry().unwrap().username(),
        Some("system:node:{{EC2PrivateDNSName}}")
    );
}

/// On cluster `ae`: an update, a namespace-scoped association, a bad namespace refused, the scope replaced.
async fn update_and_associate_on_ae(c: &Client) {
    let upd = c
        .update_access_entry()
        .cluster_name("ae")
        .principal_arn(PATH_ROLE)
        .kubernetes_groups("editors")
        .send()
        .await
        .unwrap();
    assert_eq!(upd.access_entry().unwrap().kubernetes_groups(), ["editors"]);

    let a = c
        .associate_access_policy()
        .cluster_name("ae")
        .principal_arn(PATH_ROLE)
        .policy_arn(VIEW_POLICY)
        .access_scope(
            AccessScope::builder()
                .r#type(AccessScopeType::Namespace)
                .namespaces("dev")
                .namespaces("ops-*")
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(a.cluster_name(), Some("ae"));
    assert_eq!(a.principal_arn(), Some(PATH_ROLE));
    let ap = a.associated_access_policy().unwrap();
    assert_eq!(ap.access_scope().unwrap().namespaces(), ["dev", "ops-*"]);
    assert!(ap.associated_at().is_some());

    let bad_ns = c
        .associate_access_policy()
        .cluster_name("ae")
        .principal_arn(PATH_ROLE)
        .policy_arn(VIEW_POLICY)
        .access_scope(
            AccessScope::builder()
                .r#type(AccessScopeType::Namespace)
                .namespaces("Bad_NS")
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_ns.is_invalid_parameter_exception(), "{bad_ns:?}");

    // Replace the scope.
    c.associate_access_policy()
        .cluster_name("ae")
        .principal_arn(PATH_ROLE)
        .policy_arn(VIEW_POLICY)
        .access_scope(
            AccessScope::builder()
                .r#type(AccessScopeType::Cluster)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let l = c
        .list_associated_access_policies()
        .cluster_name("ae")
        .principal_arn(PATH_ROLE)
        .send()
        .await
        .unwrap();
    assert_eq!(l.associated_access_policies().len(), 1);
    assert_eq!(
        l.associated_access_policies()[0]
            .access_scope()
            .unwrap()
            .r#type(),
        Some(&AccessScopeType::Cluster)
    );
}

#[tokio::test]
async fn access_entries_and_policies() {
    let (_t, c) = setup().await;
    create_cluster(&c, "ae", Some(AuthenticationMode::Api)).await;

    create_entries_on_ae(&c).await;
    update_and_associate_on_ae(&c).await;

    let filtered = c
        .list_access_entries()
        .cluster_name("ae")
        .associated_policy_arn(VIEW_POLICY)
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.access_entries(), [PATH_ROLE]);

    c.disassociate_access_policy()
        .cluster_name("ae")
        .principal_arn(PATH_ROLE)
        .policy_arn(VIEW_POLICY)
        .send()
        .await
        .unwrap();
    c.delete_access_entry()
        .cluster_name("ae")
        .principal_arn(PATH_ROLE)
        .send()
        .await
        .unwrap();
    let gone = c
        .describe_access_entry()
        .cluster_name("ae")
        .principal_arn(PATH_ROLE)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(gone.is_resource_not_found_exception(), "{gone:?}");
}

#[tokio::test]
async fn pagination_with_sdk_paginators() {
    let (_t, c) = setup().await;
    for i in 0..5 {
        create_cluster(&c, &format!("p{i}"), Some(AuthenticationMode::Api)).await;
    }
    let pages: Vec<_> = c
        .list_clusters()
        .max_results(2)
        .into_paginator()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    let names: Vec<String> = pages.iter().flat_map(|p| p.clusters().to_vec()).collect();
    assert_eq!(names, ["p0", "p1", "p2", "p3", "p4"]);

    let policies: Vec<String> = c
        .list_access_policies()
        .max_results(5)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name().unwrap_or_default().to_string())
        .collect();
    for want in [
        "AmazonEKSClusterAdminPolicy",
        "AmazonEKSAdminPolicy",
        "AmazonEKSEditPolicy",
        "AmazonEKSViewPolicy",
    ] {
        assert!(policies.iter().any(|p| p == want), "{want} in {policies:?}");
    }

    let bad = c
        .list_clusters()
        .max_results(500)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad.is_invalid_parameter_exception(), "{bad:?}");
}

#[tokio::test]
async fn partitions_follow_the_region() {
    let t = TestSim::start().await;
    seed_roles(&t);
    let cfg = t
        .config_with(
            eks_sim_model::DEFAULT_ACCESS_KEY_ID,
            eks_sim_model::DEFAULT_SECRET_ACCESS_KEY,
            Some(eks_sim_model::DEFAULT_SESSION_TOKEN),
            "cn-north-1",
        )
        .await;
    let c = Client::new(&cfg);
    // The cluster role of another partition names nothing in China.
    let e = c
        .create_cluster()
        .name("cn")
        .role_arn(CLUSTER_ROLE)
        .resources_vpc_config(vpc())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(e.is_invalid_parameter_exception(), "{e:?}");
    c.create_cluster()
        .name("cn")
        .role_arn(CLUSTER_ROLE.replace("arn:aws:", "arn:aws-cn:"))
        .resources_vpc_config(vpc())
        .access_config(
            CreateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::ApiAndConfigMap)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let d = c.describe_cluster().name("cn").send().await.unwrap();
    assert_eq!(
        d.cluster().unwrap().arn(),
        Some("arn:aws-cn:eks:cn-north-1:123456789012:cluster/cn")
    );
    // The creator is seen in the region's partition (an aws-cn identity in China).
    let p = c
        .list_associated_access_policies()
        .cluster_name("cn")
        .principal_arn("arn:aws-cn:iam::123456789012:role/ops/ConvoxAdmin")
        .send()
        .await
        .unwrap();
    assert_eq!(
        p.associated_access_policies()[0].policy_arn(),
        Some("arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy")
    );
}

#[tokio::test]
async fn bad_bodies_get_invalid_parameter() {
    let (t, c) = setup().await;
    create_cluster(&c, "raw", Some(AuthenticationMode::Api)).await;
    let addr = t.handle.addr();
    let cases: Vec<(&str, &str, &[u8])> =
        vec![
        ("POST", "/clusters/raw/access-entries", b"{not json"),
        ("POST", "/clusters/raw/access-entries", b"[1,2]"),
        ("POST", "/clusters/raw/access-entries", b"{}"),
        ("POST", "/clusters/raw/access-entries", br#"{"principalArn": 5}"#),
        (
            "POST",
            "/clusters/raw/access-entries",
            br#"{"principalArn": "arn:aws:iam::123456789012:role/nodes", "kubernetesGroups": "x"}"#,
        ),
        ("POST", "/clusters", br#"{"name": "x"}"#),
        ("POST", "/clusters", br#"{"name": "bad.name", "roleArn": "r", "resourcesVpcConfig": {}}"#),
        (
            "POST",
            "/clusters/raw/update-config",
            br#"{"logging": {"clusterLogging": []}}"#,
        ),
        ("GET", "/clusters?maxResults=abc", b""),
    ];
    for (method, path, body) in cases {
        let headers = vec![("content-type".to_string(), "application/json".to_string())];
        let (signed, pq) = support::sign(
            addr,
            method,
            path,
            &headers,
            body,
            &support::Signer::default_for("eks"),
            false,
        );
        let r = support::raw(addr, method, &pq, &signed, body).await;
        assert_eq!(
            r.status,
            400,
            "{method} {path} {:?}: {r:?}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(
            r.header("x-amzn-errortype"),
            Some("InvalidParameterException"),
            "{path}: {r:?}"
        );
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("json error body");
        assert!(
            v["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{r:?}"
        );
    }
    // Nothing was created by the refusals.
    let le = c
        .list_access_entries()
        .cluster_name("raw")
        .send()
        .await
        .unwrap();
    assert_eq!(le.access_entries(), [ADMIN]);
    assert_eq!(c.list_clusters().send().await.unwrap().clusters(), ["raw"]);
}
