//! Access policies: scopes, standard entries only, the partition's policy list.

use super::*;

// ---------------------------------------------------------------------------------------
// Access policies

/// A scope of `kind` over `namespaces`.
fn scope(kind: Option<&str>, namespaces: &[&str]) -> AccessScope {
    AccessScope {
        kind: kind.map(Into::into),
        namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
    }
}

/// Scopes EKS refuses: namespaces on a cluster scope or none on a namespace scope, names
/// that are not DNS labels, wildcards anywhere but the end, duplicates, unknown or no type.
fn bad_scopes() -> Vec<(&'static str, AccessScope)> {
    let ns = Some("namespace");
    let long = "a".repeat(64);
    vec![
        ("cluster with namespaces", scope(Some("cluster"), &["dev"])),
        ("namespace without namespaces", scope(ns, &[])),
        ("upper case", scope(ns, &["Dev"])),
        ("underscore", scope(ns, &["a_b"])),
        ("leading hyphen", scope(ns, &["-a"])),
        ("64 chars", scope(ns, &[&long])),
        ("lone wildcard", scope(ns, &["*"])),
        ("inner wildcard", scope(ns, &["a*b"])),
        ("duplicate", scope(ns, &["a", "a"])),
        ("unknown type", scope(Some("global"), &[])),
        ("no type", scope(None, &[])),
    ]
}

#[test]
fn associate_scopes_and_replace() {
    let e = env_with(|s| s.bootstrap_creator_admin = false);
    mk_cluster(&e, "ap", "API");
    eks::create_access_entry(&e.sim, &ctx(T0), entry_input("ap", PATH_ROLE, None)).unwrap();
    let cluster_scope = AccessScope {
        kind: Some("cluster".into()),
        namespaces: vec![],
    };
    let a = eks::associate_access_policy(
        &e.sim,
        &ctx(T0 + 1),
        "ap",
        PATH_ROLE,
        VIEW_POLICY,
        &cluster_scope,
    )
    .unwrap();
    assert_eq!((a.associated_at, a.modified_at), (T0 + 1, T0 + 1));
    let ns = AccessScope {
        kind: Some("namespace".into()),
        namespaces: vec!["dev".into(), "team-*".into()],
    };
    let b = eks::associate_access_policy(&e.sim, &ctx(T0 + 5), "ap", PATH_ROLE, VIEW_POLICY, &ns)
        .unwrap();
    assert_eq!((b.associated_at, b.modified_at), (T0 + 1, T0 + 5));
    assert_eq!(b.access_scope, ns);
    let listed =
        eks::list_associated_access_policies(&e.sim, &ctx(T0 + 6), "ap", PATH_ROLE, None, None)
            .unwrap();
    assert_eq!(listed.items, vec![b]);

    for (what, scope) in bad_scopes() {
        let r = eks::associate_access_policy(
            &e.sim,
            &ctx(T0 + 9),
            "ap",
            PATH_ROLE,
            ADMIN_POLICY,
            &scope,
        );
        let err = r.expect_err(what);
        assert_eq!(
            (err.code.as_str(), err.status),
            ("InvalidParameterException", 400),
            "{what}"
        );
    }
    let bad_policies = [
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSNopePolicy",
        "arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
        "AmazonEKSViewPolicy",
    ];
    for p in bad_policies {
        let r =
            eks::associate_access_policy(&e.sim, &ctx(T0 + 9), "ap", PATH_ROLE, p, &cluster_scope);
        assert_err(r, "InvalidParameterException", 400, None);
    }
    let r = eks::associate_access_policy(
        &e.sim,
        &ctx(T0 + 9),
        "ap",
        USER,
        VIEW_POLICY,
        &cluster_scope,
    );
    assert_err(r, "ResourceNotFoundException", 404, None);
    // Only the one association exists after all the refusals.
    assert_eq!(
        eks::list_associated_access_policies(&e.sim, &ctx(T0 + 10), "ap", PATH_ROLE, None, None)
            .unwrap()
            .items
            .len(),
        1
    );

    eks::disassociate_access_policy(&e.sim, &ctx(T0 + 11), "ap", PATH_ROLE, VIEW_POLICY).unwrap();
    assert!(eks::list_associated_access_policies(
        &e.sim,
        &ctx(T0 + 12),
        "ap",
        PATH_ROLE,
        None,
        None
    )
    .unwrap()
    .items
    .is_empty());
    assert_err(
        eks::disassociate_access_policy(&e.sim, &ctx(T0 + 13), "ap", PATH_ROLE, VIEW_POLICY),
        "ResourceNotFoundException",
        404,
        None,
    );
}

#[test]
fn policies_only_on_standard_entries() {
    let e = env_with(|s| s.bootstrap_creator_admin = false);
    mk_cluster(&e, "ns", "API");
    let scope = AccessScope {
        kind: Some("cluster".into()),
        namespaces: vec![],
    };
    for kind in ["EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "HYBRID_LINUX"] {
        let e2 = env_with(|s| s.bootstrap_creator_admin = false);
        mk_cluster(&e2, "ns", "API");
        eks::create_access_entry(&e2.sim, &ctx(T0), entry_input("ns", NODE_ROLE, Some(kind)))
            .unwrap();
        assert_err(
            eks::associate_access_policy(&e2.sim, &ctx(T0), "ns", NODE_ROLE, ADMIN_POLICY, &scope),
            "InvalidParameterException",
            400,
            Some(STD_MSG),
        );
        assert_err(
            eks::list_associated_access_policies(&e2.sim, &ctx(T0), "ns", NODE_ROLE, None, None),
            "InvalidParameterException",
            400,
            Some(STD_MSG),
        );
    }
    // EC2 (Auto Mode) entries take the auto-node policy only.
    eks::create_access_entry(&e.sim, &ctx(T0), entry_input("ns", NODE_ROLE, Some("EC2"))).unwrap();
    let auto = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSAutoNodePolicy";
    eks::associate_access_policy(&e.sim, &ctx(T0), "ns", NODE_ROLE, auto, &scope).unwrap();
    assert_err(
        eks::associate_access_policy(&e.sim, &ctx(T0), "ns", NODE_ROLE, ADMIN_POLICY, &scope),
        "InvalidParameterException",
        400,
        Some(STD_MSG),
    );
}

#[test]
fn list_access_policies_by_partition() {
    for (region, part) in [
        ("us-east-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
    ] {
        let c = ctx_at(region, T0);
        let all = eks::list_access_policies(&c, None, None).unwrap();
        assert!(all.next_token.is_none());
        assert!(all.items.len() >= 15, "{}", all.items.len());
        for name in [
            "AmazonEKSClusterAdminPolicy",
            "AmazonEKSAdminPolicy",
            "AmazonEKSEditPolicy",
            "AmazonEKSViewPolicy",
            "AmazonEKSAdminViewPolicy",
        ] {
            let p = all
                .items
                .iter()
                .find(|p| p.name == name)
                .unwrap_or_else(|| panic!("{name}"));
            assert_eq!(
                p.arn,
                format!("arn:{part}:eks::aws:cluster-access-policy/{name}")
            );
        }
        let mut names: Vec<&str> = all.items.iter().map(|p| p.name.as_str()).collect();
        let sorted = {
            let mut s = names.clone();
            s.sort();
            s
        };
        assert_eq!(names, sorted);
        names.dedup();
        assert_eq!(names.len(), all.items.len());
        // Paged in 4s, the same list.
        let mut paged = vec![];
        let mut tok = None;
        loop {
            let p = eks::list_access_policies(&c, Some(4), tok.as_deref()).unwrap();
            paged.extend(p.items);
            tok = p.next_token;
            if tok.is_none() {
                break;
            }
        }
        assert_eq!(paged, all.items);
    }
}
