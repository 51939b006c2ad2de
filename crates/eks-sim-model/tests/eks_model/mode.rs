//! The authentication mode, its asynchronous updates, and the access-entry gate it sets.

use super::*;

// ---------------------------------------------------------------------------------------
// Authentication mode

#[test]
fn auth_mode_transitions_table() {
    let cases = [
        ("CONFIG_MAP", "API_AND_CONFIG_MAP", None),
        ("API_AND_CONFIG_MAP", "API", None),
        ("CONFIG_MAP", "API", Some("Unsupported authentication mode update from CONFIG_MAP to API")),
        ("CONFIG_MAP", "CONFIG_MAP", Some("Unsupported authentication mode update from CONFIG_MAP to CONFIG_MAP")),
        ("API_AND_CONFIG_MAP", "API_AND_CONFIG_MAP", Some("Unsupported authentication mode update from API_AND_CONFIG_MAP to API_AND_CONFIG_MAP")),
        ("API_AND_CONFIG_MAP", "CONFIG_MAP", Some("Unsupported authentication mode update from API_AND_CONFIG_MAP to CONFIG_MAP")),
        ("API", "API_AND_CONFIG_MAP", Some("Unsupported authentication mode update from API to API_AND_CONFIG_MAP")),
        ("API", "CONFIG_MAP", Some("Unsupported authentication mode update from API to CONFIG_MAP")),
        ("API", "API", Some("Unsupported authentication mode update from API to API")),
    ];
    for (i, (from, to, err)) in cases.iter().enumerate() {
        let e = env();
        let name = format!("c{i}");
        mk_cluster(&e, &name, from);
        let r = set_mode(&e, &name, to, T0 + 1);
        match err {
            None => {
                let u = r.unwrap_or_else(|e| panic!("{from}->{to}: {e:?}"));
                assert_eq!(u.kind, "AccessConfigUpdate");
                let c = eks::describe_cluster(&e.sim, &ctx(T0 + 2), &name).unwrap();
                assert_eq!(c.access_config.authentication_mode.as_deref(), Some(*to));
            }
            Some(msg) => {
                assert_err(r, "InvalidParameterException", 400, Some(msg));
                let c = eks::describe_cluster(&e.sim, &ctx(T0 + 2), &name).unwrap();
                assert_eq!(
                    c.access_config.authentication_mode.as_deref(),
                    Some(*from),
                    "unchanged"
                );
            }
        }
    }
}

#[test]
fn update_is_asynchronous() {
    let e = env_with(|s| s.update_ms = 3000);
    mk_cluster(&e, "demo", "CONFIG_MAP");
    let u = set_mode(&e, "demo", "API_AND_CONFIG_MAP", T0 + 10).unwrap();
    assert_eq!(u.status, "InProgress");
    assert_eq!(u.created_at, T0 + 10);
    assert_eq!(
        u.params,
        vec![UpdateParam {
            kind: "AuthenticationMode".into(),
            value: "API_AND_CONFIG_MAP".into()
        }]
    );
    assert!(u.errors.is_empty());

    let c = eks::describe_cluster(&e.sim, &ctx(T0 + 100), "demo").unwrap();
    assert_eq!(c.status, "UPDATING");
    assert_eq!(
        c.access_config.authentication_mode.as_deref(),
        Some("CONFIG_MAP")
    );
    // A second update meanwhile is refused.
    assert_err(
        set_mode(&e, "demo", "API", T0 + 200),
        "ResourceInUseException",
        409,
        None,
    );
    let d = eks::describe_update(&e.sim, &ctx(T0 + 3009), "demo", &u.id, None).unwrap();
    assert_eq!(d.status, "InProgress");
    let d = eks::describe_update(&e.sim, &ctx(T0 + 3010), "demo", &u.id, None).unwrap();
    assert_eq!(d.status, "Successful");
    let c = eks::describe_cluster(&e.sim, &ctx(T0 + 3010), "demo").unwrap();
    assert_eq!(c.status, "ACTIVE");
    assert_eq!(
        c.access_config.authentication_mode.as_deref(),
        Some("API_AND_CONFIG_MAP")
    );
    // The next step is allowed now.
    let u2 = set_mode(&e, "demo", "API", T0 + 4000).unwrap();
    let ids = eks::list_updates(&e.sim, &ctx(T0 + 4000), "demo", None, None, None).unwrap();
    let mut want = vec![u.id.clone(), u2.id.clone()];
    want.sort();
    assert_eq!(ids.items, want);
    assert_err(
        eks::describe_update(&e.sim, &ctx(T0), "demo", "no-such-id", None),
        "ResourceNotFoundException",
        404,
        None,
    );
}

#[test]
fn update_refused_while_creating_and_for_other_members() {
    let e = env_with(|s| s.cluster_create_ms = 1000);
    mk_cluster(&e, "demo", "CONFIG_MAP");
    assert_err(
        set_mode(&e, "demo", "API_AND_CONFIG_MAP", T0 + 1),
        "ResourceInUseException",
        409,
        None,
    );
    let other = eks::update_cluster_config(
        &e.sim,
        &ctx(T0 + 2000),
        UpdateClusterConfigInput {
            name: "demo".into(),
            other_members: vec!["logging".into()],
            ..Default::default()
        },
    );
    assert_err(other, "InvalidParameterException", 400, None);
    let nothing = eks::update_cluster_config(
        &e.sim,
        &ctx(T0 + 2000),
        UpdateClusterConfigInput {
            name: "demo".into(),
            ..Default::default()
        },
    );
    assert_err(nothing, "InvalidParameterException", 400, None);
    assert_err(
        set_mode(&e, "nope", "API", T0 + 2000),
        "ResourceNotFoundException",
        404,
        None,
    );
    assert!(
        eks::list_updates(&e.sim, &ctx(T0 + 2000), "demo", None, None, None)
            .unwrap()
            .items
            .is_empty()
    );
}

// ---------------------------------------------------------------------------------------
// Access entries: mode gate, propagation, automatic entries

#[test]
fn every_access_entry_call_refused_on_config_map() {
    let e = env();
    mk_cluster(&e, "cm", "CONFIG_MAP");
    let c = ctx(T0);
    let s = &e.sim;
    let scope = AccessScope {
        kind: Some("cluster".into()),
        namespaces: vec![],
    };
    let results: Vec<(&str, Result<(), SimError>)> = vec![
        (
            "create",
            eks::create_access_entry(s, &c, entry_input("cm", PATH_ROLE, None)).map(|_| ()),
        ),
        (
            "describe",
            eks::describe_access_entry(s, &c, "cm", PATH_ROLE).map(|_| ()),
        ),
        (
            "list",
            eks::list_access_entries(s, &c, "cm", None, None, None).map(|_| ()),
        ),
        (
            "update",
            eks::update_access_entry(
                s,
                &c,
                UpdateAccessEntryInput {
                    cluster_name: "cm".into(),
                    principal_arn: PATH_ROLE.into(),
                    ..Default::default()
                },
            )
            .map(|_| ()),
        ),
        ("delete", eks::delete_access_entry(s, &c, "cm", PATH_ROLE)),
        (
            "associate",
            eks::associate_access_policy(s, &c, "cm", PATH_ROLE, ADMIN_POLICY, &scope).map(|_| ()),
        ),
        (
            "disassociate",
            eks::disassociate_access_policy(s, &c, "cm", PATH_ROLE, ADMIN_POLICY),
        ),
        (
            "list associated",
            eks::list_associated_access_policies(s, &c, "cm", PATH_ROLE, None, None).map(|_| ()),
        ),
    ];
    for (what, r) in results {
        let err = r.expect_err(what);
        assert_eq!(
            (err.code.as_str(), err.status, err.message.as_str()),
            ("InvalidRequestException", 400, MODE_MSG),
            "{what}"
        );
    }
}

#[test]
fn propagation_delay_after_mode_change() {
    let e = env_with(|s| {
        s.update_ms = 1000;
        s.propagation_ms = 500;
    });
    mk_cluster(&e, "p", "CONFIG_MAP");
    set_mode(&e, "p", "API_AND_CONFIG_MAP", T0).unwrap();
    // Update done at T0+1000; creation refused until T0+1500.
    for t in [T0 + 999, T0 + 1000, T0 + 1499] {
        assert_err(
            eks::create_access_entry(&e.sim, &ctx(t), entry_input("p", PATH_ROLE, None)),
            "InvalidRequestException",
            400,
            Some(MODE_MSG),
        );
    }
    eks::create_access_entry(&e.sim, &ctx(T0 + 1500), entry_input("p", PATH_ROLE, None)).unwrap();
}

#[test]
fn eks_creates_creator_and_node_entries_when_api_enabled() {
    let e = env();
    mk_cluster(&e, "auto", "CONFIG_MAP");
    nodegroup(&e, "auto", "ng1", NODE_ROLE, T0).unwrap();
    nodegroup(&e, "auto", "ng2", NODE_ROLE, T0).unwrap();
    set_mode(&e, "auto", "API_AND_CONFIG_MAP", T0 + 5).unwrap();
    let c = ctx(T0 + 10);
    let list = eks::list_access_entries(&e.sim, &c, "auto", None, None, None).unwrap();
    let mut want = vec![NODE_ROLE.to_string(), ADMIN.to_string()];
    want.sort();
    assert_eq!(list.items, want);
    let node = eks::describe_access_entry(&e.sim, &c, "auto", NODE_ROLE).unwrap();
    assert_eq!(node.kind, "EC2_LINUX");
    assert_eq!(node.username, "system:node:{{EC2PrivateDNSName}}");
    // AWS CLI reference, create-access-entry example 2: EC2_LINUX → system:nodes.
    assert_eq!(node.kubernetes_groups, vec!["system:nodes".to_string()]);
    let admin = eks::describe_access_entry(&e.sim, &c, "auto", ADMIN).unwrap();
    assert_eq!(admin.kind, "STANDARD");
    // The path is dropped in the derived username.
    assert_eq!(
        admin.username,
        "arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/{{SessionName}}"
    );
    let pols = eks::list_associated_access_policies(&e.sim, &c, "auto", ADMIN, None, None).unwrap();
    assert_eq!(pols.items.len(), 1);
    assert_eq!(pols.items[0].policy_arn, ADMIN_POLICY);
    assert_eq!(pols.items[0].access_scope.kind.as_deref(), Some("cluster"));
    // A node group created on an API cluster gets its entry at once.
    nodegroup(&e, "auto", "karp", KARPENTER_ROLE, T0 + 20).unwrap();
    let k = eks::describe_access_entry(&e.sim, &ctx(T0 + 20), "auto", KARPENTER_ROLE).unwrap();
    assert_eq!(k.kind, "EC2_LINUX");
    // The next step (to API) creates no duplicates.
    set_mode(&e, "auto", "API", T0 + 30).unwrap();
    assert_eq!(
        eks::list_access_entries(&e.sim, &ctx(T0 + 31), "auto", None, None, None)
            .unwrap()
            .items
            .len(),
        3
    );
}

#[test]
fn automatic_entry_switches() {
    // (auto_node_entries, bootstrap_creator_admin, bootstrap flag on the cluster) → expected entries
    let cases = [
        (true, true, true, vec![NODE_ROLE, ADMIN]),
        (false, true, true, vec![ADMIN]),
        (true, false, true, vec![NODE_ROLE]),
        (false, false, true, vec![]),
        (true, true, false, vec![NODE_ROLE]),
    ];
    for (auto_nodes, creator, flag, want) in cases {
        let e = env_with(|s| {
            s.auto_node_entries = auto_nodes;
            s.bootstrap_creator_admin = creator;
        });
        let mut input = cluster_input("sw", Some("API_AND_CONFIG_MAP"));
        input
            .access_config
            .as_mut()
            .unwrap()
            .bootstrap_cluster_creator_admin_permissions = Some(flag);
        eks::create_cluster(&e.sim, &ctx(T0), input).unwrap();
        nodegroup(&e, "sw", "ng", NODE_ROLE, T0).unwrap();
        let got = eks::list_access_entries(&e.sim, &ctx(T0), "sw", None, None, None)
            .unwrap()
            .items;
        let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(
            got, want,
            "auto_nodes={auto_nodes} creator={creator} flag={flag}"
        );
    }
}
