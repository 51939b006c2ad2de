//! Issue 9: convox's writes to aws-auth (`rack install local --aws-auth-file`, through
//! convox-kube) name the resourceVersion they read, so writers racing each other get 409s,
//! re-read and retry: every writer's mappings end up there, none overwritten.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};

use common::*;
use convox_kube::{ClusterApi, Kube};

/// The body of a plain-HTTP GET to the served simulator.
fn sim_get(h: &Home, path: &str) -> String {
    let url = h.endpoint.clone().expect("served");
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the simulator");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    raw.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

fn mapping(i: usize) -> BTreeMap<String, String> {
    BTreeMap::from([(
        "mapRoles".to_string(),
        format!(
            "- rolearn: arn:aws:iam::{}:role/racer-{i:02}\n  username: racer-{i:02}\n  groups: [racers]\n",
            eks_sim_model::DEFAULT_ACCOUNT
        ),
    )])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_aws_auth_writers_retry_their_409s_and_lose_nothing() {
    let home = Home::served(&[]);
    home.install("demo", &[]);
    let sdk = home.sdk_config("us-east-1");
    let c = home
        .eks("us-east-1")
        .describe_cluster()
        .name("demo")
        .send()
        .await
        .expect("describe")
        .cluster
        .expect("cluster");
    let api = ClusterApi {
        cluster: "demo".into(),
        region: "us-east-1".into(),
        endpoint: c.endpoint().map(str::to_string),
        ca_data: c
            .certificate_authority()
            .and_then(|a| a.data())
            .map(str::to_string),
    };
    let kube = Kube::new(sdk.clone(), api.clone());
    let (mut written, mut conflicts) = (0, 0);
    // Rounds of 6 writers at once, until the simulator has answered some write 409.
    for round in 0..6 {
        let writers = (0..6).map(|i| {
            let k = Kube::new(sdk.clone(), api.clone());
            let m = mapping(round * 6 + i);
            async move { k.add_to_aws_auth(&m).await }
        });
        for res in futures::future::join_all(writers).await {
            res.expect("every writer succeeds, retrying its 409s");
        }
        written = (round + 1) * 6;
        let audit = sim_get(&home, "/_sim/kube/audit/demo");
        conflicts = audit.matches("\"code\":409").count();
        if conflicts > 0 {
            break;
        }
    }
    assert!(conflicts > 0, "no write ever raced another");
    let data = kube.aws_auth().await.expect("read").expect("present").data;
    let parsed = convox_access::parse_aws_auth(&data);
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    for i in 0..written {
        let arn = format!(
            "arn:aws:iam::{}:role/racer-{i:02}",
            eks_sim_model::DEFAULT_ACCOUNT
        );
        assert!(parsed.mapping_for(&arn).is_some(), "{arn} lost: {data:?}");
    }
    // EKS's node mapping, written before, is still first.
    assert!(parsed.mappings[0].is_node(), "{:?}", parsed.mappings[0]);
}
