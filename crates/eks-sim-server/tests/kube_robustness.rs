//! Bad input to a cluster's Kubernetes API: garbage and mutated tokens, broken, oversized and
//! wrongly typed bodies, invalid patches, stale versions, unknown paths. Each gets a 4xx
//! `Status` (never a 5xx or a dropped connection) and changes nothing.

mod kube_support;
mod support;

use eks_sim_model::DEFAULT_SECRET_ACCESS_KEY;
use http_body_util::BodyExt;
use kube_support::{client_for, make_cluster, token};
use rand::{Rng, SeedableRng};
use support::TestSim;

async fn send(
    client: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: Vec<u8>,
) -> (u16, serde_json::Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(kube::client::Body::from(body))
        .unwrap();
    let resp = client.send(req).await.expect("an answer");
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (
        code,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

const CM: &str = "/api/v1/namespaces/kube-system/configmaps";

async fn snapshot(client: &kube::Client) -> serde_json::Value {
    let (code, v) = send(
        client,
        "GET",
        &format!("{CM}/aws-auth"),
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(code, 200);
    v
}

/// (method, path, content type, body, expected status).
type Case<'a> = (&'a str, &'a str, &'a str, Vec<u8>, u16);

#[rustfmt::skip]
fn bad_requests(item: &str) -> Vec<Case<'_>> {
    let b = |s: &str| s.as_bytes().to_vec();
    let huge = vec![b'x'; 4 * 1024 * 1024];
    let (j, mp, jp) = ("application/json", "application/merge-patch+json", "application/json-patch+json");
    vec![
        ("POST", CM, j, b("{\"kind\":"), 400),
        ("POST", CM, j, b("[1,2]"), 400),
        ("POST", CM, j, b(r#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"x"}}"#), 400),
        ("POST", CM, j, b(r#"{"metadata":{"name":"Bad_Name"}}"#), 422),
        ("POST", CM, j, b(r#"{"metadata":{"name":"x"},"data":{"k":1}}"#), 422),
        ("POST", CM, j, b(r#"{"metadata":{"name":"aws-auth"}}"#), 409),
        ("POST", CM, j, huge, 413),
        ("POST", CM, "text/plain", b("hello"), 415),
        ("POST", CM, "application/vnd.kubernetes.protobuf", b"k8s\0\x0a\xff\xff".to_vec(), 415),
        ("POST", "/api/v1/namespaces/nope/configmaps", j, b(r#"{"metadata":{"name":"x"}}"#), 404),
        ("PUT", item, j, b(r#"{"metadata":{"name":"other"}}"#), 400),
        ("PUT", item, j, b(r#"{"metadata":{"name":"aws-auth","resourceVersion":"1"}}"#), 409),
        ("PATCH", item, jp, b(r#"[{"op":"remove","path":"/data/nope"}]"#), 422),
        ("PATCH", item, jp, b(r#"{"op":"add"}"#), 400),
        ("PATCH", item, jp, b(r#"[{"op":"frobnicate","path":"/x"}]"#), 400),
        ("PATCH", item, mp, b("{not json"), 400),
        ("PATCH", item, mp, b(r#"{"metadata":{"name":"renamed"}}"#), 422),
        ("PATCH", item, mp, b(r#"{"metadata":{"resourceVersion":"2"},"data":{"a":"b"}}"#), 409),
        ("PATCH", item, "application/strategic-merge-patch+json", b("[1]"), 400),
        ("PATCH", item, "application/apply-patch+yaml", b("{}"), 415),
        ("DELETE", item, j, b(r#"{"preconditions":{"uid":"nope"}}"#), 409),
        ("GET", "/api/v1/secrets", j, vec![], 404),
        ("GET", "/apis/apps/v1/deployments", j, vec![], 404),
        ("GET", "/nonsense", j, vec![], 404),
        ("DELETE", "/api/v1/namespaces/kube-system", j, vec![], 403),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_get_status_answers_and_change_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = TestSim::start().await;
    let (endpoint, ca) = make_cluster(&sim).await;
    let client = client_for(&endpoint, &ca, &token("kube-rs", DEFAULT_SECRET_ACCESS_KEY)).await;
    let good = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"aws-auth"},"data":{"mapRoles":"- rolearn: [unclosed"}}"#;
    let (code, _) = send(&client, "POST", CM, "application/json", good.to_vec()).await;
    assert_eq!(
        code, 201,
        "malformed YAML inside aws-auth is still a valid ConfigMap"
    );
    let before = snapshot(&client).await;
    let item = format!("{CM}/aws-auth");
    let cases = bad_requests(&item);
    for (method, path, ct, body, want) in cases {
        let (code, v) = send(&client, method, path, ct, body).await;
        assert_eq!(code, want, "{method} {path} {ct}: {v}");
        assert_eq!(v["kind"], "Status", "{method} {path}: {v}");
        assert_eq!(v["code"], want);
    }
    assert_eq!(
        snapshot(&client).await,
        before,
        "a refused request changed aws-auth"
    );
    sim.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_tokens_and_patches_never_get_a_server_error() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = TestSim::start().await;
    let (endpoint, ca) = make_cluster(&sim).await;
    let admin = client_for(&endpoint, &ca, &token("kube-rs", DEFAULT_SECRET_ACCESS_KEY)).await;
    let body = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"aws-auth"},"data":{"a":"b"}}"#;
    assert_eq!(
        send(&admin, "POST", CM, "application/json", body.to_vec())
            .await
            .0,
        201
    );
    let mut rng = rand::rngs::StdRng::seed_from_u64(8);
    let good = token("kube-rs", DEFAULT_SECRET_ACCESS_KEY);
    for i in 0..60 {
        let mut t = good.clone().into_bytes();
        for _ in 0..rng.gen_range(1..4) {
            let at = rng.gen_range(0..t.len());
            t[at] = b"AZaz09-_.=%"[rng.gen_range(0..11)];
        }
        let t = String::from_utf8(t).unwrap();
        if t == good {
            continue;
        }
        let c = client_for(&endpoint, &ca, &t).await;
        let (code, v) = send(&c, "GET", CM, "application/json", vec![]).await;
        assert!(code == 401 || code == 200, "token mutation {i}: {code} {v}");
        if code == 401 {
            assert_eq!(v["reason"], "Unauthorized");
        }
    }
    let item = format!("{CM}/aws-auth");
    let patch = br#"[{"op":"replace","path":"/data/a","value":"c"},{"op":"test","path":"/data/a","value":"c"}]"#;
    for i in 0..150 {
        let mut p = patch.to_vec();
        for _ in 0..rng.gen_range(1..5) {
            let at = rng.gen_range(0..p.len());
            p[at] = rng.gen();
        }
        let ct = [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
        ][i % 3];
        let (code, v) = send(&admin, "PATCH", &item, ct, p).await;
        assert!(code < 500, "patch mutation {i} ({ct}): {code} {v}");
    }
    sim.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creating_cluster_answers_503_and_a_deleted_one_404() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = TestSim::start().await;
    let (endpoint, ca) = make_cluster(&sim).await;
    sim.settings(|s| s.cluster_create_ms = 600_000);
    let eks = aws_sdk_eks::Client::new(&sim.config().await);
    let role = sim
        .sim
        .store
        .read(|c| {
            Ok(
                c.query_row("SELECT role_arn FROM eks_clusters LIMIT 1", [], |r| {
                    r.get::<_, String>(0)
                })?,
            )
        })
        .unwrap();
    eks.create_cluster()
        .name("slow")
        .role_arn(role)
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-a")
                .subnet_ids("subnet-b")
                .build(),
        )
        .send()
        .await
        .expect("create");
    // DescribeCluster shows no endpoint while CREATING; the URL it will have is known here.
    let stored: String = sim
        .sim
        .store
        .read(|c| {
            Ok(c.query_row(
                "SELECT endpoint FROM eks_clusters WHERE name = 'slow'",
                [],
                |r| r.get(0),
            )?)
        })
        .unwrap();
    let base = endpoint.split("/k8s/").next().unwrap().to_string();
    let slow_url = format!("{base}/k8s/{}", stored.trim_start_matches("https://"));
    let slow = client_for(&slow_url, &ca, &token("slow", DEFAULT_SECRET_ACCESS_KEY)).await;
    let (code, v) = send(&slow, "GET", "/version", "application/json", vec![]).await;
    assert_eq!(
        (code, v["reason"].as_str()),
        (503, Some("ServiceUnavailable")),
        "{v}"
    );
    eks.delete_cluster()
        .name("kube-rs")
        .send()
        .await
        .expect("delete");
    let gone = client_for(&endpoint, &ca, &token("kube-rs", DEFAULT_SECRET_ACCESS_KEY)).await;
    let (code, v) = send(&gone, "GET", "/version", "application/json", vec![]).await;
    assert_eq!((code, v["reason"].as_str()), (404, Some("NotFound")), "{v}");
    sim.handle.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_get_kubernetes_answers() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = TestSim::start().await;
    let (endpoint, ca) = make_cluster(&sim).await;
    let client = client_for(&endpoint, &ca, &token("kube-rs", DEFAULT_SECRET_ACCESS_KEY)).await;
    sim.settings(|s| {
        s.throttle_rate = 0.001;
        s.throttle_burst = 1.0;
    });
    let mut throttled = None;
    for _ in 0..3 {
        let req = http::Request::get("/api/v1/namespaces")
            .body(kube::client::Body::empty())
            .unwrap();
        let resp = client.send(req).await.expect("an answer");
        if resp.status().as_u16() == 429 {
            throttled = Some(resp);
            break;
        }
    }
    let resp = throttled.expect("throttled within the burst + 2 requests");
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(body["reason"], "TooManyRequests");
    assert_eq!(body["details"]["retryAfterSeconds"], 1);
    sim.settings(|s| {
        s.throttle_rate = 0.0;
        s.error_rate = 1.0;
    });
    let (code, v) = send(
        &client,
        "GET",
        "/api/v1/namespaces",
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(
        (code, v["reason"].as_str()),
        (500, Some("InternalError")),
        "{v}"
    );
    sim.handle.shutdown().await;
}
