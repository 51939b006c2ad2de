//! A rack's ownership rests on tags a user can edit (TagResource / UntagResource). Once they
//! are gone, convox must not claim or delete what it cannot prove it made: it leaves the
//! cluster in place at uninstall and treats the entries as anyone's. Through the real binary
//! on a served simulator, tags removed with the official SDK.

mod common;

use common::*;

async fn untag(eks: &aws_sdk_eks::Client, arn: &str, keys: &[&str]) {
    let mut req = eks.untag_resource().resource_arn(arn);
    for k in keys {
        req = req.tag_keys(*k);
    }
    req.send().await.expect("untag");
}

async fn entry_arn(eks: &aws_sdk_eks::Client, cluster: &str, principal: &str) -> String {
    eks.describe_access_entry()
        .cluster_name(cluster)
        .principal_arn(principal)
        .send()
        .await
        .expect("describe entry")
        .access_entry
        .and_then(|e| e.access_entry_arn)
        .expect("entry arn")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_whose_rack_tag_was_removed_is_left_in_place_at_uninstall() {
    let h = Home::served(&[]);
    h.install("mine", &[]);
    let eks = h.eks("us-east-1");
    let arn = eks
        .describe_cluster()
        .name("mine")
        .send()
        .await
        .expect("describe")
        .cluster
        .and_then(|c| c.arn)
        .expect("arn");
    untag(&eks, &arn, &["convox:rack"]).await;
    let (r, calls) = h.counted(&["rack", "uninstall", "mine"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cluster mine is not tagged convox:rack=mine; leaving it in place"),
        "{}",
        r.stderr
    );
    assert_eq!(mutating(&calls), 0, "{calls:?}");
    assert!(eks.describe_cluster().name("mine").send().await.is_ok());
    // Nor is it taken over by a new local rack of that name.
    let err = h.fails(&["rack", "install", "local", "mine"]);
    assert!(err.contains("already exists"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_whose_rack_tags_were_removed_are_no_longer_the_racks() {
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("own", &["eks_access_entries=true"]);
    let eks = h.eks("us-east-1");
    for p in [CALLER_ROLE.to_string(), nodes_role("own")] {
        let arn = entry_arn(&eks, "own", &p).await;
        untag(&eks, &arn, &["convox:rack", "convox:entry"]).await;
    }
    // Right as they are: accepted, nothing changed, shown as not managed.
    let (r, calls) = h.counted(&["rack", "update", "-r", "own"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(mutating(&calls), 0, "{calls:?}");
    let auth = h.json(&["rack", "auth", "-r", "own"]);
    let entries = auth["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 2, "{auth}");
    assert!(
        entries.iter().all(|e| e["managed_by_rack"] == false),
        "{auth}"
    );
    assert_eq!(auth["converged"], true, "{auth}");

    // The caller entry narrowed to a namespace: a managed entry would be widened again; one
    // the rack cannot prove it made is reported, never changed.
    let admin = admin_policy("aws");
    eks.associate_access_policy()
        .cluster_name("own")
        .principal_arn(CALLER_ROLE)
        .policy_arn(&admin)
        .access_scope(
            aws_sdk_eks::types::AccessScope::builder()
                .r#type(aws_sdk_eks::types::AccessScopeType::Namespace)
                .namespaces("team")
                .build(),
        )
        .send()
        .await
        .expect("narrow");
    let args = ["rack", "update", "-r", "own"];
    let (r, calls) = h.counted(&args);
    let err = r.error_line(&args);
    assert!(err.contains("was not created by this rack"), "{err}");
    assert_eq!(mutating(&calls), 0, "{calls:?}");
    let got = entries_of(&eks).await;
    assert_eq!(
        got,
        vec![(admin.clone(), "namespace".to_string())],
        "left as the user made it"
    );
}

async fn entries_of(eks: &aws_sdk_eks::Client) -> Vec<(String, String)> {
    entries(eks, "own")
        .await
        .get(CALLER_ROLE)
        .map(|e| e.policies.clone())
        .unwrap_or_default()
}
