//! The simulated clusters' Kubernetes API through kube-rs (rustls, TLS verified against the
//! CA DescribeCluster returns, the endpoint's path prefix kept), with an EKS bearer token.

mod support;

use eks_sim_model::{DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN};
use eks_sim_server::sigv4;
use futures::StreamExt;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use std::time::Duration;
use support::TestSim;

/// `k8s-aws-v1.` token for `cluster`, presigned as `aws eks get-token` does.
fn token(cluster: &str, secret: &str) -> String {
    use base64::Engine as _;
    let now = eks_sim_model::store::now_ms();
    let amz = sigv4::format_amz_date(now);
    let day = &amz[..8];
    let host = "sts.us-east-1.amazonaws.com";
    let cred = format!("{DEFAULT_ACCESS_KEY_ID}/{day}/us-east-1/sts/aws4_request");
    let mut q = String::new();
    for (k, v) in [
        ("Action", "GetCallerIdentity"),
        ("Version", "2011-06-15"),
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", cred.as_str()),
        ("X-Amz-Date", amz.as_str()),
        ("X-Amz-Expires", "60"),
        ("X-Amz-Security-Token", DEFAULT_SESSION_TOKEN),
        ("X-Amz-SignedHeaders", "host;x-k8s-aws-id"),
    ] {
        if !q.is_empty() {
            q.push('&');
        }
        sigv4::uri_encode(&mut q, k.as_bytes(), false);
        q.push('=');
        sigv4::uri_encode(&mut q, v.as_bytes(), false);
    }
    let parts = sigv4::SigParts {
        access_key_id: DEFAULT_ACCESS_KEY_ID.into(),
        scope_date: day.into(),
        region: "us-east-1".into(),
        service: "sts".into(),
        signed_headers: vec!["host".into(), "x-k8s-aws-id".into()],
        signature: String::new(),
        amz_date: amz.clone(),
        security_token: Some(DEFAULT_SESSION_TOKEN.into()),
        presigned: true,
        expires_s: Some(60),
    };
    let mut h = http::HeaderMap::new();
    h.insert("host", host.parse().unwrap());
    h.insert("x-k8s-aws-id", cluster.parse().unwrap());
    let cr = sigv4::canonical_request("GET", "/", &q, &h, &parts, &sigv4::sha256_hex(b""));
    let key = sigv4::signing_key(secret, day, "us-east-1", "sts");
    let sig = sigv4::sign(&key, &sigv4::string_to_sign(&parts, &cr));
    let url = format!("https://{host}/?{q}&X-Amz-Signature={sig}");
    format!(
        "k8s-aws-v1.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
    )
}

async fn client_for(endpoint: &str, ca: &str, token: &str) -> kube::Client {
    let yaml = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {endpoint}\n    certificate-authority-data: {ca}\n\
         users:\n- name: u\n  user:\n    token: {token}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n"
    );
    let kc = kube::config::Kubeconfig::from_yaml(&yaml).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
        .await
        .expect("config");
    kube::Client::try_from(cfg).expect("client")
}

fn code(e: &kube::Error) -> u16 {
    match e {
        kube::Error::Api(s) => s.code,
        other => panic!("not an API error: {other:?}"),
    }
}

/// aws-auth created, refused twice, watched, patched, refused when stale, deleted.
async fn configmap_flow(client: &kube::Client) {
    let cms = Api::<ConfigMap>::namespaced(client.clone(), "kube-system");
    let mut cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "aws-auth"},
        "data": {"mapRoles": "- rolearn: arn:aws:iam::123456789012:role/Dev\n  username: dev\n"},
    }))
    .unwrap();
    let created = cms
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    assert!(created.metadata.uid.is_some());
    let dup = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    assert_eq!(code(&dup), 409);

    // A watch from the created version sees the next change.
    let rv = created.metadata.resource_version.clone().unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(60), &rv)
        .await
        .expect("watch")
        .boxed();
    let patched = cms
        .patch(
            "aws-auth",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"mapUsers": "[]"}})),
        )
        .await
        .expect("patch");
    assert_eq!(patched.data.as_ref().unwrap().len(), 2);
    let ev = tokio::time::timeout(Duration::from_secs(60), stream.next())
        .await
        .expect("no watch event in time")
        .expect("stream ended")
        .expect("event");
    assert!(
        matches!(ev, WatchEvent::Modified(ref o) if o.data.as_ref().is_some_and(|d| d.contains_key("mapUsers")))
    );

    // Stale resourceVersion: 409.
    cm.metadata = created.metadata.clone();
    let stale = cms
        .replace("aws-auth", &PostParams::default(), &cm)
        .await
        .unwrap_err();
    assert_eq!(code(&stale), 409);

    cms.delete("aws-auth", &DeleteParams::default())
        .await
        .expect("delete");
    assert_eq!(code(&cms.get("aws-auth").await.unwrap_err()), 404);
}

/// A cluster made through the EKS API; its endpoint and CA as DescribeCluster gives them.
async fn make_cluster(sim: &TestSim) -> (String, String) {
    let cfg = sim.config().await;
    let iam = aws_sdk_iam::Client::new(&cfg);
    let role = iam
        .create_role()
        .role_name("kube-rs-cluster")
        .assume_role_policy_document("{}")
        .send()
        .await
        .expect("role");
    let eks = aws_sdk_eks::Client::new(&cfg);
    let c = eks
        .create_cluster()
        .name("kube-rs")
        .role_arn(role.role().unwrap().arn())
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-a")
                .subnet_ids("subnet-b")
                .build(),
        )
        .send()
        .await
        .expect("cluster");
    let _ = c;
    let d = eks
        .describe_cluster()
        .name("kube-rs")
        .send()
        .await
        .expect("describe");
    let cl = d.cluster().unwrap();
    let endpoint = cl.endpoint().unwrap().to_string();
    assert!(endpoint.starts_with("https://127.0.0.1:"), "{endpoint}");
    let ca = cl
        .certificate_authority()
        .unwrap()
        .data()
        .unwrap()
        .to_string();

    (endpoint, ca)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_against_a_simulated_cluster() {
    // The AWS SDK (a dev-dependency) enables rustls's aws-lc-rs too: say which one kube uses.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = TestSim::start().await;
    let (endpoint, ca) = make_cluster(&sim).await;
    let client = client_for(&endpoint, &ca, &token("kube-rs", DEFAULT_SECRET_ACCESS_KEY)).await;
    let v = client.apiserver_version().await.expect("version");
    assert_eq!(v.major, "1");

    let who = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await
        .expect("whoami");
    let info = who.status.unwrap().user_info.unwrap();
    assert!(info.groups.unwrap().contains(&"system:masters".to_string()));

    let names: Vec<String> = Api::<Namespace>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("namespaces")
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"kube-system".to_string()), "{names:?}");

    configmap_flow(&client).await;

    // A token signed with the wrong secret: 401.
    let bad = client_for(&endpoint, &ca, &token("kube-rs", "wrong")).await;
    let e = Api::<Namespace>::all(bad)
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert_eq!(code(&e), 401);
    // A token for another cluster: 401.
    let other = client_for(&endpoint, &ca, &token("other", DEFAULT_SECRET_ACCESS_KEY)).await;
    let e = Api::<Namespace>::all(other)
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert_eq!(code(&e), 401);
    sim.handle.shutdown().await;
}
