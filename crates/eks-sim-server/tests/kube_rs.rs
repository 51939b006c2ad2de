//! The simulated clusters' Kubernetes API through kube-rs (rustls, TLS verified against the
//! CA DescribeCluster returns, the endpoint's path prefix kept), with an EKS bearer token.

mod kube_support;
mod support;

use eks_sim_model::DEFAULT_SECRET_ACCESS_KEY;
use futures::StreamExt;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube_support::{client_for, make_cluster, token};
use std::time::Duration;
use support::TestSim;

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
