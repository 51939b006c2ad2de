//! TagResource / UntagResource / ListTagsForResource on clusters and access entries through
//! the official SDK, with EKS's rules; CreateCluster's two-zone subnet rule; and refusals
//! before the signature is checked (413) in the protocol the request speaks.

mod support;

use aws_sdk_eks::error::ProvideErrorMetadata;
use aws_sdk_eks::types::{AuthenticationMode, CreateAccessConfigRequest, VpcConfigRequest};
use aws_sdk_eks::Client;
use support::{raw, sign, Signer, TestSim};

const ADMIN: &str = "arn:aws:iam::123456789012:role/ops/ConvoxAdmin";

/// A cluster role, created through the model (IAM's wire is tested elsewhere).
fn seed_role(t: &TestSim) -> String {
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
            eks_sim_model::iam::create_role_in(
                tx,
                &ctx,
                &eks_sim_model::iam::CreateRoleInput {
                    role_name: "tag-cluster".into(),
                    assume_role_policy_document: eks_sim_model::iam::account_trust_policy(
                        "123456789012",
                        "aws",
                    ),
                    ..Default::default()
                },
            )
        })
        .expect("role")
        .arn
}

fn vpc(subnets: &[&str]) -> VpcConfigRequest {
    let mut b = VpcConfigRequest::builder();
    for s in subnets {
        b = b.subnet_ids(*s);
    }
    b.build()
}

fn code<E: ProvideErrorMetadata>(e: &E) -> (String, String) {
    (
        e.code().unwrap_or("").to_string(),
        e.message().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn create_cluster_needs_subnets_in_two_zones() {
    let t = TestSim::start().await;
    let role = seed_role(&t);
    let c = Client::new(&t.config().await);
    // subnet-1 and subnet-4 are both in us-east-1a (the simulator's documented rule).
    for subnets in [&["subnet-1"][..], &["subnet-1", "subnet-4"], &[]] {
        let e = c
            .create_cluster()
            .name("one-zone")
            .role_arn(&role)
            .resources_vpc_config(vpc(subnets))
            .send()
            .await
            .expect_err("one zone");
        let e = e.into_service_error();
        assert_eq!(
            code(&e),
            (
                "InvalidParameterException".to_string(),
                "Subnets specified must be in at least two different AZs".to_string()
            ),
            "{subnets:?}"
        );
    }
    assert!(c
        .list_clusters()
        .send()
        .await
        .expect("list")
        .clusters()
        .is_empty());
    c.create_cluster()
        .name("two-zones")
        .role_arn(&role)
        .resources_vpc_config(vpc(&["subnet-1", "subnet-2"]))
        .send()
        .await
        .expect("two zones");
}

/// EKS's tag rules: reserved prefix, sizes, count; unknown and malformed resources.
async fn tag_refusals(c: &Client, cluster_arn: &str, entry_arn: &str) {
    let long_key = "k".repeat(129);
    let long_value = "v".repeat(257);
    let refusals: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("aws:owner", "me")], "BadRequestException"),
        (vec![("AWS:owner", "me")], "BadRequestException"),
        (vec![(long_key.as_str(), "v")], "BadRequestException"),
        (vec![("k", long_value.as_str())], "BadRequestException"),
    ];
    for (pairs, want) in refusals {
        let mut req = c.tag_resource().resource_arn(cluster_arn);
        for (k, v) in &pairs {
            req = req.tags(*k, *v);
        }
        let e = req.send().await.expect_err("refused").into_service_error();
        assert_eq!(code(&e).0, want, "{pairs:?}: {e:?}");
    }
    let mut many = c.tag_resource().resource_arn(cluster_arn);
    for i in 0..50 {
        many = many.tags(format!("k{i}"), "v");
    }
    let e = many.send().await.expect_err("51 tags").into_service_error();
    assert_eq!(code(&e).0, "BadRequestException", "{e:?}");
    let e = c
        .untag_resource()
        .resource_arn(cluster_arn)
        .tag_keys("aws:cloudformation:stack-name")
        .send()
        .await
        .expect_err("reserved")
        .into_service_error();
    assert_eq!(code(&e).0, "BadRequestException", "{e:?}");
    for missing in [
        "arn:aws:eks:us-east-1:123456789012:cluster/nope".to_string(),
        "arn:aws:eks:eu-west-1:123456789012:cluster/tagged".to_string(),
        "arn:aws:eks:us-east-1:111122223333:cluster/tagged".to_string(),
        format!("{entry_arn}x"),
    ] {
        let e = c
            .list_tags_for_resource()
            .resource_arn(&missing)
            .send()
            .await
            .expect_err("missing")
            .into_service_error();
        assert_eq!(code(&e).0, "NotFoundException", "{missing}: {e:?}");
    }
    let e = c
        .list_tags_for_resource()
        .resource_arn("not-an-arn")
        .send()
        .await
        .expect_err("malformed")
        .into_service_error();
    assert_eq!(code(&e).0, "BadRequestException", "{e:?}");
}

/// On one resource: its creation tag listed, tags added and overwritten, keys removed
/// (an absent key is no error).
async fn tag_round_trip(c: &Client, arn: &str) {
    let tags = |c: &Client, arn: &str| {
        let (c, arn) = (c.clone(), arn.to_string());
        async move {
            c.list_tags_for_resource()
                .resource_arn(arn)
                .send()
                .await
                .expect("list tags")
                .tags
                .unwrap_or_default()
        }
    };
    assert_eq!(
        tags(c, arn).await.get("convox:rack").map(String::as_str),
        Some("tagged")
    );
    c.tag_resource()
        .resource_arn(arn)
        .tags("team", "platform")
        .tags("convox:rack", "other")
        .send()
        .await
        .expect("tag");
    let now = tags(c, arn).await;
    assert_eq!(now.get("team").map(String::as_str), Some("platform"));
    assert_eq!(now.get("convox:rack").map(String::as_str), Some("other"));
    c.untag_resource()
        .resource_arn(arn)
        .tag_keys("convox:rack")
        .tag_keys("not-there")
        .send()
        .await
        .expect("untag");
    let now = tags(c, arn).await;
    assert!(!now.contains_key("convox:rack"), "{now:?}");
    assert_eq!(now.get("team").map(String::as_str), Some("platform"));
}

#[tokio::test]
async fn clusters_and_access_entries_are_tagged_untagged_and_listed_by_arn() {
    let t = TestSim::start().await;
    let role = seed_role(&t);
    let c = Client::new(&t.config().await);
    let cluster = c
        .create_cluster()
        .name("tagged")
        .role_arn(&role)
        .resources_vpc_config(vpc(&["subnet-1", "subnet-2"]))
        .access_config(
            CreateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::ApiAndConfigMap)
                .bootstrap_cluster_creator_admin_permissions(false)
                .build(),
        )
        .tags("convox:rack", "tagged")
        .send()
        .await
        .expect("cluster")
        .cluster
        .expect("cluster");
    let cluster_arn = cluster.arn().expect("arn").to_string();
    let entry_arn = c
        .create_access_entry()
        .cluster_name("tagged")
        .principal_arn(&role)
        .tags("convox:rack", "tagged")
        .tags("convox:entry", "nodes")
        .send()
        .await
        .expect("entry")
        .access_entry
        .expect("entry")
        .access_entry_arn()
        .expect("entry arn")
        .to_string();

    for arn in [&cluster_arn, &entry_arn] {
        tag_round_trip(&c, arn).await;
    }
    // What Describe shows is what the tag operations changed.
    let described = c
        .describe_cluster()
        .name("tagged")
        .send()
        .await
        .expect("describe")
        .cluster
        .expect("cluster");
    assert!(!described
        .tags()
        .is_some_and(|t| t.contains_key("convox:rack")));
    let entry = c
        .describe_access_entry()
        .cluster_name("tagged")
        .principal_arn(&role)
        .send()
        .await
        .expect("describe entry")
        .access_entry
        .expect("entry");
    assert!(!entry.tags().is_some_and(|t| t.contains_key("convox:rack")));

    tag_refusals(&c, &cluster_arn, &entry_arn).await;
    // None of the refusals changed anything.
    let now = c
        .list_tags_for_resource()
        .resource_arn(&cluster_arn)
        .send()
        .await
        .expect("list")
        .tags
        .unwrap_or_default();
    assert_eq!(now.len(), 1, "{now:?}");
}

#[tokio::test]
async fn a_413_on_the_eks_endpoint_is_json_whatever_the_content_type() {
    let t = TestSim::start().await;
    t.settings(|s| s.max_body_bytes = 200);
    let addr = t.handle.addr();
    let body = vec![b'a'; 1000];
    let form = vec![(
        "content-type".to_string(),
        "application/x-www-form-urlencoded".to_string(),
    )];
    // Signed for eks (as `curl --aws-sigv4 … -d @file` sends it: a form content type).
    let (h, pq) = sign(
        addr,
        "POST",
        "/clusters/c/access-entries",
        &form,
        &body,
        &Signer::default_for("eks"),
        false,
    );
    let unsigned = form.clone();
    for (path, headers) in [(pq.as_str(), h), ("/clusters", unsigned)] {
        let r = raw(addr, "POST", path, &headers, &body).await;
        assert_eq!(r.status, 413, "{path}: {}", r.body);
        assert_eq!(
            r.header("x-amzn-errortype"),
            Some("RequestEntityTooLargeException"),
            "{path}"
        );
        let v: serde_json::Value =
            serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.body));
        assert!(
            v["message"].as_str().is_some_and(|m| m.contains("200")),
            "{v}"
        );
        assert_eq!(r.header("content-type"), Some("application/json"), "{path}");
    }
    // STS and IAM keep their XML.
    let (h, pq) = sign(
        addr,
        "POST",
        "/",
        &form,
        &body,
        &Signer::default_for("sts"),
        false,
    );
    let r = raw(addr, "POST", &pq, &h, &body).await;
    assert_eq!(r.status, 413);
    assert!(r.body.starts_with('<'), "{}", r.body);
}
