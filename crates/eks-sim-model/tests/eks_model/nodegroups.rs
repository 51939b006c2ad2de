//! Node groups, concurrency, the model's cost and request-token idempotency.

use super::*;

// ---------------------------------------------------------------------------------------
// Node groups

#[test]
fn nodegroup_lifecycle_and_errors() {
    let e = env_with(|s| s.nodegroup_create_ms = 1000);
    mk_cluster(&e, "n", "CONFIG_MAP");
    let ng = nodegroup(&e, "n", "ng1", NODE_ROLE, T0).unwrap();
    assert_eq!(ng.status, "CREATING");
    assert_eq!(ng.node_role, NODE_ROLE);
    assert!(ng
        .nodegroup_arn
        .starts_with("arn:aws:eks:us-east-1:123456789012:nodegroup/n/ng1/"));
    assert_eq!(
        eks::describe_nodegroup(&e.sim, &ctx(T0 + 999), "n", "ng1")
            .unwrap()
            .status,
        "CREATING"
    );
    assert_eq!(
        eks::describe_nodegroup(&e.sim, &ctx(T0 + 1000), "n", "ng1")
            .unwrap()
            .status,
        "ACTIVE"
    );
    assert_err(
        nodegroup(&e, "n", "ng1", NODE_ROLE, T0 + 1),
        "ResourceInUseException",
        409,
        None,
    );
    assert_err(
        nodegroup(&e, "n", "bad.name", NODE_ROLE, T0 + 1),
        "InvalidParameterException",
        400,
        None,
    );
    assert_err(
        nodegroup(
            &e,
            "n",
            "ng2",
            "arn:aws:iam::123456789012:role/ghost",
            T0 + 1,
        ),
        "InvalidParameterException",
        400,
        None,
    );
    assert_err(
        nodegroup(&e, "none", "ng2", NODE_ROLE, T0 + 1),
        "ResourceNotFoundException",
        404,
        None,
    );
    assert_err(
        eks::describe_nodegroup(&e.sim, &ctx(T0), "n", "zz"),
        "ResourceNotFoundException",
        404,
        Some("No node group found for name: zz."),
    );
    nodegroup(&e, "n", "ng0", NODE_ROLE, T0 + 2).unwrap();
    let list = eks::list_nodegroups(&e.sim, &ctx(T0 + 3), "n", None, None).unwrap();
    assert_eq!(list.items, vec!["ng0".to_string(), "ng1".to_string()]);
}

#[test]
fn concurrent_creates_of_one_entry_yield_one_winner() {
    let e = env_with(|s| s.bootstrap_creator_admin = false);
    mk_cluster(&e, "race", "API");
    let results: Vec<Result<AccessEntry, SimError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    eks::create_access_entry(&e.sim, &ctx(T0), entry_input("race", PATH_ROLE, None))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    for r in results.iter().filter(|r| r.is_err()) {
        let err = r.as_ref().unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.status),
            ("ResourceInUseException", 409)
        );
    }
}

/// Not a test: the model's own cost per DescribeCluster / ListAccessEntries (run with
/// `cargo test --release -p eks-sim-model --test eks_model -- --ignored --nocapture`).
#[test]
#[ignore]
fn model_cost() {
    let e = env_with(|s| s.bootstrap_creator_admin = false);
    for i in 0..200 {
        mk_cluster(&e, &format!("c{i}"), "API");
    }
    for p in [PATH_ROLE, NODE_ROLE, KARPENTER_ROLE, USER, CLUSTER_ROLE] {
        eks::create_access_entry(&e.sim, &ctx(T0), entry_input("c7", p, None)).unwrap();
    }
    let n = 50_000;
    let t = std::time::Instant::now();
    for i in 0..n {
        let c = eks::describe_cluster(&e.sim, &ctx(T0 + 1), &format!("c{}", i % 200)).unwrap();
        std::hint::black_box(serde_json::to_vec(&c).unwrap());
    }
    let d = t.elapsed();
    println!(
        "describe_cluster: {:.1} µs/op",
        d.as_secs_f64() * 1e6 / n as f64
    );
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(
            eks::list_access_entries(&e.sim, &ctx(T0 + 1), "c7", None, None, None).unwrap(),
        );
    }
    let d = t.elapsed();
    println!(
        "list_access_entries: {:.1} µs/op",
        d.as_secs_f64() * 1e6 / n as f64
    );
}

#[test]
fn client_request_token_makes_retries_idempotent() {
    let e = env_with(|s| {
        s.update_ms = 5000;
        s.bootstrap_creator_admin = false;
    });
    mk_cluster(&e, "idem", "CONFIG_MAP");
    let upd = |token: &str, now: i64| {
        eks::update_cluster_config(
            &e.sim,
            &ctx(now),
            UpdateClusterConfigInput {
                name: "idem".into(),
                authentication_mode: Some("API_AND_CONFIG_MAP".into()),
                access_config_present: true,
                client_request_token: Some(token.into()),
                ..Default::default()
            },
        )
    };
    let first = upd("tok-1", T0).unwrap();
    // A retry with the same token (the SDK reuses it) gets the same update back...
    assert_eq!(upd("tok-1", T0 + 10).unwrap(), first);
    // ...even after it completed (the mode already changed).
    let done = upd("tok-1", T0 + 6000).unwrap();
    assert_eq!(
        (done.id.as_str(), done.status.as_str()),
        (first.id.as_str(), "Successful")
    );
    // Another token is another request: refused as AWS refuses it.
    assert_err(
        upd("tok-2", T0 + 6000),
        "InvalidParameterException",
        400,
        None,
    );

    let e2 = env_with(|s| s.bootstrap_creator_admin = false);
    mk_cluster(&e2, "idem", "API");
    let create = |token: Option<&str>| {
        let mut i = entry_input("idem", PATH_ROLE, None);
        i.client_request_token = token.map(str::to_string);
        eks::create_access_entry(&e2.sim, &ctx(T0), i)
    };
    let a = create(Some("t-1")).unwrap();
    assert_eq!(create(Some("t-1")).unwrap(), a);
    assert_err(
        create(Some("t-2")),
        "ResourceInUseException",
        409,
        Some(DUP_MSG),
    );
    assert_err(create(None), "ResourceInUseException", 409, Some(DUP_MSG));
}
