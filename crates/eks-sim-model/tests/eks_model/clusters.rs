//! Clusters: creation, lifecycle, regions and partitions, listing.

use super::*;

// ---------------------------------------------------------------------------------------
// Clusters

#[test]
fn create_cluster_defaults_and_lifecycle() {
    let e = env_with(|s| s.cluster_create_ms = 2000);
    let c = eks::create_cluster(&e.sim, &ctx(T0), cluster_input("demo", None)).unwrap();
    assert_eq!(c.arn, "arn:aws:eks:us-east-1:123456789012:cluster/demo");
    assert_eq!(c.status, "CREATING");
    assert_eq!(
        c.access_config.authentication_mode.as_deref(),
        Some("CONFIG_MAP")
    );
    // Not echoed when CreateCluster did not name it (as EKS does)...
    assert_eq!(
        c.access_config.bootstrap_cluster_creator_admin_permissions,
        None
    );
    // ...and echoed when it did.
    let mut explicit = cluster_input("demo2", Some("CONFIG_MAP"));
    explicit
        .access_config
        .as_mut()
        .unwrap()
        .bootstrap_cluster_creator_admin_permissions = Some(true);
    let c2 = eks::create_cluster(&e.sim, &ctx(T0), explicit).unwrap();
    assert_eq!(
        c2.access_config.bootstrap_cluster_creator_admin_permissions,
        Some(true)
    );
    assert!(!c2.extra.contains_key("_bootstrapGiven"));
    assert_eq!(c.endpoint, None, "no endpoint while CREATING");
    assert_eq!(c.created_at, T0);
    assert_eq!(c.role_arn, CLUSTER_ROLE);
    assert_eq!(c.version, DEFAULT_K8S_VERSION);

    let still = eks::describe_cluster(&e.sim, &ctx(T0 + 1999), "demo").unwrap();
    assert_eq!(still.status, "CREATING");
    let up = eks::describe_cluster(&e.sim, &ctx(T0 + 2000), "demo").unwrap();
    assert_eq!(up.status, "ACTIVE");
    let ep = up.endpoint.expect("endpoint once ACTIVE");
    assert!(
        ep.starts_with("https://") && ep.ends_with(".us-east-1.eks.amazonaws.com"),
        "{ep}"
    );
    assert!(up.extra.contains_key("certificateAuthority"));
    assert!(up.extra.contains_key("resourcesVpcConfig"));
}

#[test]
fn create_cluster_errors() {
    let e = env();
    mk_cluster(&e, "taken", "CONFIG_MAP");
    let bootstrap_false = |mode: &str| CreateClusterInput {
        access_config: Some(AccessConfig {
            authentication_mode: Some(mode.into()),
            bootstrap_cluster_creator_admin_permissions: Some(false),
        }),
        ..cluster_input("b", None)
    };
    let cases: Vec<(&str, CreateClusterInput, &str, u16, Option<&str>)> = vec![
        ("leading hyphen", cluster_input("-x", None), "InvalidParameterException", 400, None),
        ("dot", cluster_input("a.b", None), "InvalidParameterException", 400, None),
        ("empty", cluster_input("", None), "InvalidParameterException", 400, None),
        ("101 chars", cluster_input(&"a".repeat(101), None), "InvalidParameterException", 400, None),
        (
            "bootstrap false with CONFIG_MAP",
            bootstrap_false("CONFIG_MAP"),
            "InvalidParameterException",
            400,
            Some("bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP"),
        ),
        (
            "bootstrap false, default mode",
            CreateClusterInput {
                access_config: Some(AccessConfig {
                    authentication_mode: None,
                    bootstrap_cluster_creator_admin_permissions: Some(false),
                }),
                ..cluster_input("b", None)
            },
            "InvalidParameterException",
            400,
            Some("bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to CONFIG_MAP"),
        ),
        ("unknown mode", cluster_input("m", Some("OPEN")), "InvalidParameterException", 400, None),
        (
            "missing role",
            CreateClusterInput {
                role_arn: "arn:aws:iam::123456789012:role/nope".into(),
                ..cluster_input("r", None)
            },
            "InvalidParameterException",
            400,
            Some("Role with arn: arn:aws:iam::123456789012:role/nope, could not be assumed because it does not exist or the trusted entity is not correct"),
        ),
        (
            "bad version",
            CreateClusterInput {
                version: Some("0.9".into()),
                ..cluster_input("v", None)
            },
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "duplicate",
            cluster_input("taken", None),
            "ResourceInUseException",
            409,
            Some("Cluster already exists with name: taken"),
        ),
    ];
    for (what, input, code, status, msg) in cases {
        let r = eks::create_cluster(&e.sim, &ctx(T0), input);
        let err = r.expect_err(what);
        assert_eq!(
            (err.code.as_str(), err.status),
            (code, status),
            "{what}: {err:?}"
        );
        if let Some(m) = msg {
            assert_eq!(err.message, m, "{what}");
        }
    }
    // Refusals change nothing.
    assert_eq!(eks::counts(&e.sim).unwrap().0, 1);
    // bootstrap false is fine once the mode includes API.
    let ok = eks::create_cluster(&e.sim, &ctx(T0), bootstrap_false("API")).unwrap();
    assert_eq!(
        ok.access_config.bootstrap_cluster_creator_admin_permissions,
        Some(false)
    );
}

#[test]
fn describe_delete_and_not_found() {
    let e = env();
    mk_cluster(&e, "gone", "CONFIG_MAP");
    nodegroup(&e, "gone", "ng", NODE_ROLE, T0).unwrap();
    assert_err(
        eks::delete_cluster(&e.sim, &ctx(T0), "gone"),
        "ResourceInUseException",
        409,
        None,
    );
    let ng = eks::delete_nodegroup(&e.sim, &ctx(T0), "gone", "ng").unwrap();
    assert_eq!(ng.status, "DELETING");
    let d = eks::delete_cluster(&e.sim, &ctx(T0), "gone").unwrap();
    assert_eq!(d.status, "DELETING");
    assert_err(
        eks::describe_cluster(&e.sim, &ctx(T0), "gone"),
        "ResourceNotFoundException",
        404,
        Some("No cluster found for name: gone."),
    );
    assert_err(
        eks::delete_cluster(&e.sim, &ctx(T0), "gone"),
        "ResourceNotFoundException",
        404,
        None,
    );
}

#[test]
fn clusters_are_per_region_and_partition() {
    let e = env();
    mk_cluster(&e, "east", "CONFIG_MAP");
    let west = ctx_at("us-west-2", T0);
    assert_err(
        eks::describe_cluster(&e.sim, &west, "east"),
        "ResourceNotFoundException",
        404,
        None,
    );
    assert!(eks::list_clusters(&e.sim, &west, None, None)
        .unwrap()
        .items
        .is_empty());
    let cn = ctx_at("cn-north-1", T0);
    let in_cn = |arn: &str| arn.replace("arn:aws:", "arn:aws-cn:");
    // A role ARN of another partition names nothing here.
    assert_err(
        eks::create_cluster(&e.sim, &cn, cluster_input("east", Some("API"))),
        "InvalidParameterException",
        400,
        None,
    );
    let mut input = cluster_input("east", Some("API"));
    input.role_arn = in_cn(CLUSTER_ROLE);
    let c = eks::create_cluster(&e.sim, &cn, input).unwrap();
    assert_eq!(c.arn, "arn:aws-cn:eks:cn-north-1:123456789012:cluster/east");
    let entries = eks::list_access_entries(&e.sim, &cn, "east", None, None, None).unwrap();
    assert_eq!(entries.items, vec![in_cn(ADMIN)]);
    let pols = eks::list_associated_access_policies(&e.sim, &cn, "east", &in_cn(ADMIN), None, None)
        .unwrap();
    assert_eq!(
        pols.items[0].policy_arn,
        "arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    );
    // Entries take principals of the cluster's partition only.
    assert_err(
        eks::create_access_entry(&e.sim, &cn, entry_input("east", PATH_ROLE, None)),
        "InvalidParameterException",
        400,
        Some("The specified principalArn is invalid: invalid principal."),
    );
    let ent = eks::create_access_entry(&e.sim, &cn, entry_input("east", &in_cn(PATH_ROLE), None))
        .unwrap();
    assert_eq!(
        ent.username,
        "arn:aws-cn:sts::123456789012:assumed-role/my-role/{{SessionName}}"
    );
    assert!(ent
        .access_entry_arn
        .starts_with("arn:aws-cn:eks:cn-north-1:123456789012:access-entry/east/role/"));
    let gov = ctx_at("us-gov-west-1", T0);
    let mut input = cluster_input("g", None);
    input.role_arn = CLUSTER_ROLE.replace("arn:aws:", "arn:aws-us-gov:");
    let g = eks::create_cluster(&e.sim, &gov, input).unwrap();
    assert!(g.arn.starts_with("arn:aws-us-gov:eks:us-gov-west-1:"));
}

#[test]
fn list_clusters_pagination() {
    let e = env();
    for n in ["c1", "c2", "c3", "c4", "c5"] {
        mk_cluster(&e, n, "CONFIG_MAP");
    }
    let mut seen = vec![];
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let p = eks::list_clusters(&e.sim, &ctx(T0), Some(2), token.as_deref()).unwrap();
        assert!(p.items.len() <= 2);
        seen.extend(p.items);
        pages += 1;
        token = p.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, vec!["c1", "c2", "c3", "c4", "c5"]);
    for bad in [0, 101, -1] {
        assert_err(
            eks::list_clusters(&e.sim, &ctx(T0), Some(bad), None),
            "InvalidParameterException",
            400,
            None,
        );
    }
    for tok in ["zz", "abc", ""] {
        assert_err(
            eks::list_clusters(&e.sim, &ctx(T0), None, Some(tok)),
            "InvalidParameterException",
            400,
            None,
        );
    }
}
