//! Figures, not assertions (ignored by default; the machines are shared and noisy):
//! `cargo test -p eks-sim-server --test kube_bench -- --ignored --nocapture`
//! - authenticated `GET configmap aws-auth` per second over TLS with keep-alive (kube-rs, 8
//!   concurrent requests; every request verifies its token: no cache);
//! - token checks per second in-process (the rules and the SigV4 verification);
//! - resident memory after 1,000 clusters have each served a request.

mod kube_support;
mod support;

use eks_sim_model::DEFAULT_SECRET_ACCESS_KEY;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube_support::{client_for, make_cluster, token};
use std::time::{Duration, Instant};
use support::TestSim;

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn kube_figures() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let sim = TestSim::start().await;
    let (endpoint, ca) = make_cluster(&sim).await;
    let client = client_for(&endpoint, &ca, &token("kube-rs", DEFAULT_SECRET_ACCESS_KEY)).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "aws-auth"},
        "data": {"mapRoles": "- rolearn: arn:aws:iam::123456789012:role/Dev\n  username: dev\n"},
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let window = Duration::from_secs(5);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let cms = cms.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while start.elapsed() < window {
                cms.get("aws-auth").await.expect("get");
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "GET configmap aws-auth over TLS, keep-alive, 8 concurrent: {:.0}/s",
        total as f64 / secs
    );

    let tok = token("kube-rs", DEFAULT_SECRET_ACCESS_KEY);
    let own = vec!["127.0.0.1:1".to_string()];
    let n = 20_000;
    let t0 = Instant::now();
    for _ in 0..n {
        let p = kube_sim_model::token::parse(&tok, "aws", &own, eks_sim_model::store::now_ms())
            .unwrap();
        let key = eks_sim_server::sigv4::signing_key(
            DEFAULT_SECRET_ACCESS_KEY,
            &p.scope_date,
            &p.region,
            "sts",
        );
        std::hint::black_box(key);
    }
    println!(
        "token rule checks + signing-key derivation in-process: {:.0}/s",
        n as f64 / t0.elapsed().as_secs_f64()
    );

    let before = rss_kib();
    let eks = aws_sdk_eks::Client::new(&sim.config().await);
    let role = aws_sdk_iam::Client::new(&sim.config().await)
        .get_role()
        .role_name("kube-rs-cluster")
        .send()
        .await
        .unwrap()
        .role()
        .unwrap()
        .arn()
        .to_string();
    for i in 0..1000 {
        let name = format!("bench-{i}");
        eks.create_cluster()
            .name(&name)
            .role_arn(&role)
            .resources_vpc_config(
                aws_sdk_eks::types::VpcConfigRequest::builder()
                    .subnet_ids("subnet-a")
                    .subnet_ids("subnet-b")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let d = eks.describe_cluster().name(&name).send().await.unwrap();
        let ep = d.cluster().unwrap().endpoint().unwrap().to_string();
        let c = client_for(&ep, &ca, &token(&name, DEFAULT_SECRET_ACCESS_KEY)).await;
        let _ = c.apiserver_version().await.unwrap();
    }
    println!(
        "RSS of the test process (server + clients): {} MiB before, {} MiB after 1,000 clusters each seeded and served",
        before / 1024,
        rss_kib() / 1024
    );
    sim.handle.shutdown().await;
}
