//! Access entries: creation rules, updates, deletes, read lag, listing.

use super::*;

// ---------------------------------------------------------------------------------------
// Access entries: creation rules

#[test]
fn create_access_entry_success_table() {
    let cases: Vec<(&str, Option<&str>, &str)> = vec![
        (
            PATH_ROLE,
            None,
            "arn:aws:sts::123456789012:assumed-role/my-role/{{SessionName}}",
        ),
        (
            PATH_ROLE,
            Some("STANDARD"),
            "arn:aws:sts::123456789012:assumed-role/my-role/{{SessionName}}",
        ),
        (USER, None, USER),
        (
            NODE_ROLE,
            Some("EC2_LINUX"),
            "system:node:{{EC2PrivateDNSName}}",
        ),
        (
            NODE_ROLE,
            Some("EC2_WINDOWS"),
            "system:node:{{EC2PrivateDNSName}}",
        ),
        (
            NODE_ROLE,
            Some("FARGATE_LINUX"),
            "system:node:{{SessionName}}",
        ),
        (
            NODE_ROLE,
            Some("HYBRID_LINUX"),
            "system:node:{{SessionName}}",
        ),
        (NODE_ROLE, Some("EC2"), "system:node:{{EC2PrivateDNSName}}"),
        (
            NODE_ROLE,
            Some("HYPERPOD_LINUX"),
            "system:node:{{SessionName}}",
        ),
    ];
    for (principal, kind, username) in cases {
        let e = env_with(|s| s.bootstrap_creator_admin = false);
        mk_cluster(&e, "ok", "API");
        let mut input = entry_input("ok", principal, kind);
        input.tags.insert("team".into(), "a".into());
        let got = eks::create_access_entry(&e.sim, &ctx(T0 + 7), input).unwrap();
        assert_eq!(got.username, username, "{principal} {kind:?}");
        let groups: &[&str] = if kind == Some("EC2_LINUX") {
            &["system:nodes"]
        } else {
            &[]
        };
        assert_eq!(got.kubernetes_groups, groups, "{principal} {kind:?}");
        assert_eq!(got.kind, kind.unwrap_or("STANDARD"));
        assert_eq!(got.created_at, T0 + 7);
        assert_eq!(got.modified_at, T0 + 7);
        assert_eq!(got.tags.get("team").map(String::as_str), Some("a"));
        assert_eq!(got.cluster_name, "ok");
        // arn:aws:eks:REGION:ACCOUNT:access-entry/CLUSTER/role|user/ACCOUNT/NAME/UUID
        let name = principal.rsplit('/').next().unwrap();
        let kind_seg = if principal.contains(":user/") {
            "user"
        } else {
            "role"
        };
        let prefix = format!(
            "arn:aws:eks:us-east-1:123456789012:access-entry/ok/{kind_seg}/123456789012/{name}/"
        );
        assert!(
            got.access_entry_arn.starts_with(&prefix),
            "{}",
            got.access_entry_arn
        );
        let uuid = &got.access_entry_arn[prefix.len()..];
        assert_eq!(uuid.len(), 36, "{uuid}");
        let again = eks::describe_access_entry(&e.sim, &ctx(T0 + 8), "ok", principal).unwrap();
        assert_eq!(again, got);
    }
}

/// A refused CreateAccessEntry: what, input, error code, HTTP status, exact message if checked.
type ErrCase = (
    &'static str,
    CreateAccessEntryInput,
    &'static str,
    u16,
    Option<&'static str>,
);

/// A valid entry for NODE_ROLE on cluster `err`, changed by `f`.
fn with(f: impl FnOnce(&mut CreateAccessEntryInput)) -> CreateAccessEntryInput {
    let mut i = entry_input("err", NODE_ROLE, None);
    f(&mut i);
    i
}

/// Principals EKS refuses: not an IAM role or user ARN, unknown, or named without its path.
fn principal_error_cases() -> Vec<ErrCase> {
    let invalid = Some("The specified principalArn is invalid: invalid principal.");
    vec![
        (
            "sts assumed-role arn",
            with(|i| {
                i.principal_arn = "arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/convox".into()
            }),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "malformed",
            with(|i| i.principal_arn = "not-an-arn".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "role without name",
            with(|i| i.principal_arn = "arn:aws:iam::123456789012:role/".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "short account",
            with(|i| i.principal_arn = "arn:aws:iam::1234:role/nodes".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "group arn",
            with(|i| i.principal_arn = "arn:aws:iam::123456789012:group/admins".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "root",
            with(|i| i.principal_arn = "arn:aws:iam::123456789012:root".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "nonexistent role",
            with(|i| i.principal_arn = "arn:aws:iam::123456789012:role/ghost".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "role arn without its path",
            with(|i| i.principal_arn = "arn:aws:iam::123456789012:role/my-role".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "service-linked role",
            with(|i| {
                i.principal_arn = "arn:aws:iam::123456789012:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS".into()
            }),
            "InvalidParameterException",
            400,
            None,
        ),
    ]
}

/// Types and the fields each type forbids.
fn type_error_cases() -> Vec<ErrCase> {
    vec![
        (
            "unknown type",
            with(|i| i.kind = Some("EC2_MAC".into())),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "groups on EC2_LINUX",
            with(|i| {
                i.kind = Some("EC2_LINUX".into());
                i.kubernetes_groups = Some(vec!["g".into()]);
            }),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "username on FARGATE_LINUX",
            with(|i| {
                i.kind = Some("FARGATE_LINUX".into());
                i.username = Some("me".into());
            }),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "cross-account EC2_LINUX",
            with(|i| {
                i.kind = Some("EC2_LINUX".into());
                i.principal_arn = "arn:aws:iam::999999999999:role/nodes".into();
            }),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "user as EC2_LINUX",
            with(|i| {
                i.kind = Some("EC2_LINUX".into());
                i.principal_arn = USER.into();
            }),
            "InvalidParameterException",
            400,
            None,
        ),
    ]
}

/// Reserved usernames and groups, aws: tags, duplicates and a missing cluster.
fn name_and_conflict_cases() -> Vec<ErrCase> {
    vec![
        (
            "username system:",
            with(|i| i.username = Some("system:admin".into())),
            "InvalidParameterException",
            400,
            Some("The username must not begin with system:"),
        ),
        (
            "username eks:",
            with(|i| i.username = Some("eks:x".into())),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "session name without colon",
            with(|i| i.username = Some("john{{SessionName}}".into())),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "group system:masters",
            with(|i| i.kubernetes_groups = Some(vec!["system:masters".into()])),
            "InvalidParameterException",
            400,
            Some(
                "The kubernetes group name system:masters is invalid, it cannot start with system:",
            ),
        ),
        (
            "aws: tag",
            with(|i| {
                i.tags.insert("aws:x".into(), "y".into());
            }),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "duplicate",
            entry_input("err", PATH_ROLE, None),
            "ResourceInUseException",
            409,
            Some(DUP_MSG),
        ),
        (
            "duplicate, other type",
            entry_input("err", PATH_ROLE, Some("EC2_LINUX")),
            "ResourceInUseException",
            409,
            Some(DUP_MSG),
        ),
        (
            "no cluster",
            entry_input("nope", NODE_ROLE, None),
            "ResourceNotFoundException",
            404,
            Some("No cluster found for name: nope."),
        ),
    ]
}

#[test]
fn create_access_entry_error_table() {
    let e = env_with(|s| s.bootstrap_creator_admin = false);
    mk_cluster(&e, "err", "API_AND_CONFIG_MAP");
    eks::create_access_entry(&e.sim, &ctx(T0), entry_input("err", PATH_ROLE, None)).unwrap();
    let cases = [
        principal_error_cases(),
        type_error_cases(),
        name_and_conflict_cases(),
    ];
    for (what, input, code, status, msg) in cases.into_iter().flatten() {
        let err = eks::create_access_entry(&e.sim, &ctx(T0 + 1), input).expect_err(what);
        assert_eq!(
            (err.code.as_str(), err.status),
            (code, status),
            "{what}: {err:?}"
        );
        if let Some(m) = msg {
            assert_eq!(err.message, m, "{what}");
        }
    }
    // Nothing but the first entry exists.
    assert_eq!(
        eks::list_access_entries(&e.sim, &ctx(T0 + 2), "err", None, None, None)
            .unwrap()
            .items,
        vec![PATH_ROLE.to_string()]
    );
    // Custom username and groups are kept on STANDARD entries.
    let mut ok = entry_input("err", USER, None);
    ok.username = Some("ops:{{SessionName}}".into());
    ok.kubernetes_groups = Some(vec!["viewers".into()]);
    let got = eks::create_access_entry(&e.sim, &ctx(T0 + 3), ok).unwrap();
    assert_eq!(got.username, "ops:{{SessionName}}");
    assert_eq!(got.kubernetes_groups, vec!["viewers".to_string()]);
}

/// An update of `principal`'s entry on cluster `u`.
fn update_input(
    principal: &str,
    groups: Option<&[&str]>,
    username: Option<&str>,
) -> UpdateAccessEntryInput {
    UpdateAccessEntryInput {
        cluster_name: "u".into(),
        principal_arn: principal.into(),
        kubernetes_groups: groups.map(|g| g.iter().map(|s| s.to_string()).collect()),
        username: username.map(Into::into),
        ..Default::default()
    }
}

#[test]
fn update_and_delete_access_entry() {
    let e = env_with(|s| s.bootstrap_creator_admin = false);
    mk_cluster(&e, "u", "API");
    eks::create_access_entry(&e.sim, &ctx(T0), entry_input("u", PATH_ROLE, None)).unwrap();
    eks::create_access_entry(
        &e.sim,
        &ctx(T0),
        entry_input("u", NODE_ROLE, Some("EC2_LINUX")),
    )
    .unwrap();
    let upd = eks::update_access_entry(
        &e.sim,
        &ctx(T0 + 50),
        update_input(PATH_ROLE, Some(&["devs"]), Some("dev:{{SessionName}}")),
    )
    .unwrap();
    assert_eq!(upd.kubernetes_groups, vec!["devs".to_string()]);
    assert_eq!(upd.username, "dev:{{SessionName}}");
    assert_eq!((upd.created_at, upd.modified_at), (T0, T0 + 50));
    let bad = eks::update_access_entry(
        &e.sim,
        &ctx(T0 + 60),
        update_input(NODE_ROLE, Some(&["x"]), None),
    );
    assert_err(bad, "InvalidParameterException", 400, None);
    // The value is checked before the entry's type, with AWS's message.
    let node_name = eks::update_access_entry(
        &e.sim,
        &ctx(T0 + 60),
        update_input(
            NODE_ROLE,
            Some(&[]),
            Some("system:node:{{EC2PrivateDNSName}}"),
        ),
    );
    assert_err(
        node_name,
        "InvalidParameterException",
        400,
        Some("The username must not begin with system:"),
    );
    // An empty list leaves a node entry in the group EKS gave it.
    let kept = eks::update_access_entry(
        &e.sim,
        &ctx(T0 + 70),
        update_input(NODE_ROLE, Some(&[]), None),
    )
    .unwrap();
    assert_eq!(kept.kubernetes_groups, vec!["system:nodes".to_string()]);
    let missing = eks::update_access_entry(&e.sim, &ctx(T0 + 60), update_input(USER, None, None));
    assert_err(missing, "ResourceNotFoundException", 404, None);

    let scope = AccessScope {
        kind: Some("cluster".into()),
        namespaces: vec![],
    };
    eks::associate_access_policy(&e.sim, &ctx(T0 + 70), "u", PATH_ROLE, VIEW_POLICY, &scope)
        .unwrap();
    eks::delete_access_entry(&e.sim, &ctx(T0 + 80), "u", PATH_ROLE).unwrap();
    assert_err(
        eks::describe_access_entry(&e.sim, &ctx(T0 + 90), "u", PATH_ROLE),
        "ResourceNotFoundException",
        404,
        Some("The specified principalArn could not be found. You can view your available access entries with 'list-access-entries'."),
    );
    assert_err(
        eks::delete_access_entry(&e.sim, &ctx(T0 + 90), "u", PATH_ROLE),
        "ResourceNotFoundException",
        404,
        None,
    );
    // Re-created entries start with no policies.
    eks::create_access_entry(&e.sim, &ctx(T0 + 100), entry_input("u", PATH_ROLE, None)).unwrap();
    assert!(eks::list_associated_access_policies(
        &e.sim,
        &ctx(T0 + 100),
        "u",
        PATH_ROLE,
        None,
        None
    )
    .unwrap()
    .items
    .is_empty());
}

#[test]
fn read_after_write_lag() {
    let e = env_with(|s| {
        s.read_lag_ms = 1000;
        s.bootstrap_creator_admin = false;
    });
    mk_cluster(&e, "lag", "API");
    eks::create_access_entry(&e.sim, &ctx(T0), entry_input("lag", PATH_ROLE, None)).unwrap();
    assert_err(
        eks::describe_access_entry(&e.sim, &ctx(T0 + 999), "lag", PATH_ROLE),
        "ResourceNotFoundException",
        404,
        None,
    );
    assert!(
        eks::list_access_entries(&e.sim, &ctx(T0 + 999), "lag", None, None, None)
            .unwrap()
            .items
            .is_empty()
    );
    // The truth is there: a second create is a duplicate.
    assert_err(
        eks::create_access_entry(&e.sim, &ctx(T0 + 500), entry_input("lag", PATH_ROLE, None)),
        "ResourceInUseException",
        409,
        None,
    );
    eks::describe_access_entry(&e.sim, &ctx(T0 + 1000), "lag", PATH_ROLE).unwrap();
    assert_eq!(
        eks::list_access_entries(&e.sim, &ctx(T0 + 1000), "lag", None, None, None)
            .unwrap()
            .items
            .len(),
        1
    );
}

#[test]
fn list_access_entries_pagination_and_filter() {
    let e = env_with(|s| s.bootstrap_creator_admin = false);
    mk_cluster(&e, "pg", "API");
    let principals = [PATH_ROLE, NODE_ROLE, KARPENTER_ROLE, USER, CLUSTER_ROLE];
    for p in principals {
        eks::create_access_entry(&e.sim, &ctx(T0), entry_input("pg", p, None)).unwrap();
    }
    let mut all = vec![];
    let mut token = None;
    loop {
        let page =
            eks::list_access_entries(&e.sim, &ctx(T0), "pg", None, Some(2), token.as_deref())
                .unwrap();
        assert!(page.items.len() <= 2);
        all.extend(page.items);
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    let mut want: Vec<String> = principals.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(all, want);
    let scope = AccessScope {
        kind: Some("cluster".into()),
        namespaces: vec![],
    };
    eks::associate_access_policy(&e.sim, &ctx(T0), "pg", USER, VIEW_POLICY, &scope).unwrap();
    eks::associate_access_policy(&e.sim, &ctx(T0), "pg", NODE_ROLE, ADMIN_POLICY, &scope).unwrap();
    let f =
        eks::list_access_entries(&e.sim, &ctx(T0), "pg", Some(VIEW_POLICY), None, None).unwrap();
    assert_eq!(f.items, vec![USER.to_string()]);
    assert_err(
        eks::list_access_entries(
            &e.sim,
            &ctx(T0),
            "pg",
            Some("arn:aws:eks::aws:cluster-access-policy/Nope"),
            None,
            None,
        ),
        "InvalidParameterException",
        400,
        None,
    );
    assert_err(
        eks::list_access_entries(&e.sim, &ctx(T0), "pg", None, Some(0), None),
        "InvalidParameterException",
        400,
        None,
    );
}
