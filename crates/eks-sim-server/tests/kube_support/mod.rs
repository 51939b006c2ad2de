//! Helpers of the Kubernetes API tests: tokens presigned as `aws eks get-token` does, a
//! kube-rs client from an endpoint and CA, a cluster made through the EKS API.
#![allow(dead_code)]

use super::support::TestSim;
use eks_sim_model::{DEFAULT_ACCESS_KEY_ID, DEFAULT_SESSION_TOKEN};
use eks_sim_server::sigv4;

/// `k8s-aws-v1.` token for `cluster`, presigned as `aws eks get-token` does.
pub fn token(cluster: &str, secret: &str) -> String {
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

pub async fn client_for(endpoint: &str, ca: &str, token: &str) -> kube::Client {
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

/// A cluster made through the EKS API; its endpoint and CA as DescribeCluster gives them.
pub async fn make_cluster(sim: &TestSim) -> (String, String) {
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
