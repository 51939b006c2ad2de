//! Structured inputs AWS answers back, platform versions, retried creates.

use super::*;

// ---------------------------------------------------------------------------------------
// Structured inputs AWS answers back: checked against the model's enums, rebuilt with AWS's
// defaults, never echoed raw.

#[test]
fn structured_inputs_validated_and_normalized() {
    let e = env();
    let with = |f: &dyn Fn(&mut CreateClusterInput)| {
        let mut i = cluster_input("n", None);
        f(&mut i);
        i
    };
    let bad: Vec<(&str, CreateClusterInput)> = vec![
        (
            "ipFamily",
            with(&|i| i.kubernetes_network_config = Some(serde_json::json!({"ipFamily": "ipv5"}))),
        ),
        (
            "log type",
            with(&|i| {
                i.logging = Some(
                    serde_json::json!({"clusterLogging": [{"types": ["bogus"], "enabled": true}]}),
                )
            }),
        ),
        (
            "enabled not a boolean",
            with(&|i| {
                i.logging = Some(
                    serde_json::json!({"clusterLogging": [{"types": ["api"], "enabled": "yes"}]}),
                )
            }),
        ),
    ];
    for (what, input) in bad {
        assert_err(
            eks::create_cluster(&e.sim, &ctx(T0), input),
            "InvalidParameterException",
            400,
            None,
        );
        assert!(
            eks::describe_cluster(&e.sim, &ctx(T0), "n").is_err(),
            "{what}: nothing stored"
        );
    }
    let input = with(&|i| {
        i.kubernetes_network_config =
            Some(serde_json::json!({"serviceIpv4Cidr": "10.1.0.0/16", "stray": 1}));
        i.logging = Some(serde_json::json!({"clusterLogging": [
            {"types": ["scheduler", "api"], "enabled": true},
            {"types": ["api"], "enabled": false},
        ]}));
    });
    let c = serde_json::to_value(eks::create_cluster(&e.sim, &ctx(T0), input).unwrap()).unwrap();
    assert_eq!(
        c["kubernetesNetworkConfig"],
        serde_json::json!({"serviceIpv4Cidr": "10.1.0.0/16", "ipFamily": "ipv4",
                           "elasticLoadBalancing": {"enabled": false}})
    );
    // The last word on a type wins; groups in AWS's order.
    assert_eq!(
        c["logging"],
        serde_json::json!({"clusterLogging": [
            {"types": ["scheduler"], "enabled": true},
            {"types": ["api", "audit", "authenticator", "controllerManager"], "enabled": false},
        ]})
    );
}

/// Node group inputs AWS answers back: enums and sizes checked, the scaling config rebuilt.
#[test]
fn nodegroup_structured_inputs_validated_and_normalized() {
    let e = env();
    eks::create_cluster(&e.sim, &ctx(T0), cluster_input("n", None)).unwrap();
    let ng = |name: &str, f: &dyn Fn(&mut CreateNodegroupInput)| {
        let mut i = CreateNodegroupInput {
            cluster_name: "n".into(),
            nodegroup_name: name.into(),
            subnets: vec!["subnet-1".into()],
            node_role: NODE_ROLE.into(),
            ..Default::default()
        };
        f(&mut i);
        eks::create_nodegroup(&e.sim, &ctx(T0 + 1), i)
    };
    let scaling = |v: serde_json::Value| {
        move |i: &mut CreateNodegroupInput| i.scaling_config = Some(v.clone())
    };
    for (what, r) in [
        ("amiType", ng("a", &|i| i.ami_type = Some("BOGUS".into()))),
        (
            "capacityType",
            ng("b", &|i| i.capacity_type = Some("NOPE".into())),
        ),
        (
            "min > max",
            ng(
                "c",
                &scaling(serde_json::json!({"minSize": 3, "maxSize": 1})),
            ),
        ),
        (
            "desired > max",
            ng(
                "d",
                &scaling(serde_json::json!({"minSize": 1, "maxSize": 2, "desiredSize": 3})),
            ),
        ),
        (
            "size not an integer",
            ng("e", &scaling(serde_json::json!({"minSize": "1"}))),
        ),
        ("diskSize", ng("f", &|i| i.disk_size = Some(0))),
        ("version", ng("g", &|i| i.version = Some("0.1".into()))),
    ] {
        let err = r.expect_err(what);
        assert_eq!(err.code, "InvalidParameterException", "{what}");
    }
    let ok = ng(
        "h",
        &scaling(serde_json::json!({"minSize": 0, "maxSize": 5, "stray": true})),
    )
    .unwrap();
    assert_eq!(
        serde_json::to_value(&ok).unwrap()["scalingConfig"],
        serde_json::json!({"minSize": 0, "maxSize": 5, "desiredSize": 2})
    );
}

#[test]
fn platform_version_supports_access_entries() {
    // EKS User Guide, "Change authentication mode to use access entries": the platform
    // versions that first support access entries, per Kubernetes version.
    let e = env();
    for (k8s, platform) in [
        ("1.23", "eks.17"),
        ("1.28", "eks.6"),
        ("1.30", "eks.2"),
        ("1.33", "eks.5"),
    ] {
        let name = format!("v{}", k8s.replace('.', "-"));
        let c = eks::create_cluster(
            &e.sim,
            &ctx(T0),
            CreateClusterInput {
                version: Some(k8s.into()),
                ..cluster_input(&name, Some("API"))
            },
        )
        .unwrap();
        assert_eq!(c.platform_version, platform, "{k8s}");
    }
}

#[test]
fn create_retried_with_its_token_is_not_a_conflict() {
    // SDKs fill clientRequestToken in and resend it when an answer was lost: the retry
    // gets what the first call made; another token (or none) is a conflict.
    let e = env();
    let with_token = |t: Option<&str>| CreateClusterInput {
        client_request_token: t.map(str::to_string),
        ..cluster_input("idem", Some("API"))
    };
    let first = eks::create_cluster(&e.sim, &ctx(T0), with_token(Some("t1"))).unwrap();
    let again = eks::create_cluster(&e.sim, &ctx(T0 + 5), with_token(Some("t1"))).unwrap();
    assert_eq!((again.arn, again.created_at), (first.arn, first.created_at));
    for t in [Some("t2"), None] {
        assert_err(
            eks::create_cluster(&e.sim, &ctx(T0 + 6), with_token(t)),
            "ResourceInUseException",
            409,
            None,
        );
    }
    let ng = |t: Option<&str>| CreateNodegroupInput {
        cluster_name: "idem".into(),
        nodegroup_name: "ng".into(),
        subnets: vec!["subnet-1".into()],
        node_role: NODE_ROLE.into(),
        client_request_token: t.map(str::to_string),
        ..Default::default()
    };
    let a = eks::create_nodegroup(&e.sim, &ctx(T0 + 10), ng(Some("n1"))).unwrap();
    let b = eks::create_nodegroup(&e.sim, &ctx(T0 + 11), ng(Some("n1"))).unwrap();
    assert_eq!(
        (a.nodegroup_arn, a.created_at),
        (b.nodegroup_arn, b.created_at)
    );
    assert_err(
        eks::create_nodegroup(&e.sim, &ctx(T0 + 12), ng(Some("n2"))),
        "ResourceInUseException",
        409,
        None,
    );
}
