//! Table-driven tests of the simulated EKS rules, against the model directly (no network).
//! Time is the `Ctx::now_ms` the tests pass, so durations are checked exactly.

use eks_sim_model::eks::{self, *};
use eks_sim_model::iam::{self, CreateRoleInput};
use eks_sim_model::settings::{self, Settings};
use eks_sim_model::{Caller, Ctx, Sim, SimError, Store};

const ACCT: &str = "123456789012";
const T0: i64 = 1_700_000_000_000;
const CLUSTER_ROLE: &str = "arn:aws:iam::123456789012:role/eks-cluster";
const NODE_ROLE: &str = "arn:aws:iam::123456789012:role/nodes";
const KARPENTER_ROLE: &str = "arn:aws:iam::123456789012:role/karpenter-nodes";
const PATH_ROLE: &str = "arn:aws:iam::123456789012:role/development/apps/my-role";
const USER: &str = "arn:aws:iam::123456789012:user/alice";
const ADMIN: &str = "arn:aws:iam::123456789012:role/ops/ConvoxAdmin";
const ADMIN_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
const VIEW_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
const MODE_MSG: &str = "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.";
const DUP_MSG: &str = "The specified access entry resource is already in use on this cluster.";
const STD_MSG: &str =
    "This operation can only be performed on Access Entries with a type of \"STANDARD\".";

struct Env {
    _dir: tempfile::TempDir,
    sim: Sim,
}

fn ctx_at(region: &str, now_ms: i64) -> Ctx {
    // As the server builds it: identities are shown in the region's partition.
    let part = eks_sim_model::arn::partition_of(region);
    Ctx {
        caller: Caller {
            account: ACCT.into(),
            arn: format!("arn:{part}:sts::{ACCT}:assumed-role/ConvoxAdmin/convox"),
            principal_arn: ADMIN.replace("arn:aws:", &format!("arn:{part}:")),
            user_id: "AROASIMULATED:convox".into(),
        },
        region: region.into(),
        now_ms,
    }
}

fn ctx(now_ms: i64) -> Ctx {
    ctx_at("us-east-1", now_ms)
}

/// A fresh state with all durations 0 unless `tweak` says otherwise, and the IAM
/// principals the tests use.
fn env_with(tweak: impl FnOnce(&mut Settings)) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("sim.db")).expect("open store");
    let mut s = Settings {
        cluster_create_ms: 0,
        nodegroup_create_ms: 0,
        update_ms: 0,
        propagation_ms: 0,
        ..Settings::default()
    };
    tweak(&mut s);
    let c = ctx(T0);
    store
        .write(|tx| {
            settings::save(tx, &s)?;
            for (name, path) in [
                ("eks-cluster", None),
                ("nodes", None),
                ("karpenter-nodes", None),
                ("my-role", Some("/development/apps/")),
                (
                    "AWSServiceRoleForAmazonEKS",
                    Some("/aws-service-role/eks.amazonaws.com/"),
                ),
            ] {
                iam::create_role_in(
                    tx,
                    &c,
                    &CreateRoleInput {
                        role_name: name.into(),
                        path: path.map(str::to_string),
                        assume_role_policy_document: iam::account_trust_policy(ACCT, "aws"),
                        ..Default::default()
                    },
                )?;
            }
            iam::create_user_in(tx, &c, "alice", None, &[])?;
            Ok(())
        })
        .expect("seed");
    Env {
        _dir: dir,
        sim: Sim::new(store),
    }
}

fn env() -> Env {
    env_with(|_| {})
}

fn cluster_input(name: &str, mode: Option<&str>) -> CreateClusterInput {
    CreateClusterInput {
        name: name.into(),
        role_arn: CLUSTER_ROLE.into(),
        resources_vpc_config: VpcConfigRequest {
            subnet_ids: vec!["subnet-1".into(), "subnet-2".into()],
            ..Default::default()
        },
        access_config: mode.map(|m| AccessConfig {
            authentication_mode: Some(m.into()),
            bootstrap_cluster_creator_admin_permissions: None,
        }),
        ..Default::default()
    }
}

fn mk_cluster(e: &Env, name: &str, mode: &str) -> Cluster {
    eks::create_cluster(&e.sim, &ctx(T0), cluster_input(name, Some(mode))).expect("create cluster")
}

fn entry_input(cluster: &str, principal: &str, kind: Option<&str>) -> CreateAccessEntryInput {
    CreateAccessEntryInput {
        cluster_name: cluster.into(),
        principal_arn: principal.into(),
        kind: kind.map(str::to_string),
        ..Default::default()
    }
}

fn set_mode(e: &Env, cluster: &str, mode: &str, now: i64) -> Result<Update, SimError> {
    eks::update_cluster_config(
        &e.sim,
        &ctx(now),
        UpdateClusterConfigInput {
            name: cluster.into(),
            authentication_mode: Some(mode.into()),
            access_config_present: true,
            ..Default::default()
        },
    )
}

fn assert_err<T: std::fmt::Debug>(
    r: Result<T, SimError>,
    code: &str,
    status: u16,
    msg: Option<&str>,
) {
    let e = r.expect_err("expected an error");
    assert_eq!(e.code, code, "{e:?}");
    assert_eq!(e.status, status, "{e:?}");
    if let Some(m) = msg {
        assert_eq!(e.message, m);
    }
}

fn nodegroup(
    e: &Env,
    cluster: &str,
    name: &str,
    role: &str,
    now: i64,
) -> Result<Nodegroup, SimError> {
    eks::create_nodegroup(
        &e.sim,
        &ctx(now),
        CreateNodegroupInput {
            cluster_name: cluster.into(),
            nodegroup_name: name.into(),
            subnets: vec!["subnet-1".into()],
            node_role: role.into(),
            ..Default::default()
        },
    )
}

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

#[test]
fn create_access_entry_error_table() {
    let e = env_with(|s| s.bootstrap_creator_admin = false);
    mk_cluster(&e, "err", "API_AND_CONFIG_MAP");
    eks::create_access_entry(&e.sim, &ctx(T0), entry_input("err", PATH_ROLE, None)).unwrap();
    let with = |f: &dyn Fn(&mut CreateAccessEntryInput)| {
        let mut i = entry_input("err", NODE_ROLE, None);
        f(&mut i);
        i
    };
    let invalid = Some("The specified principalArn is invalid: invalid principal.");
    let cases: Vec<(&str, CreateAccessEntryInput, &str, u16, Option<&str>)> = vec![
        (
            "sts assumed-role arn",
            with(&|i| {
                i.principal_arn = "arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/convox".into()
            }),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "malformed",
            with(&|i| i.principal_arn = "not-an-arn".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "role without name",
            with(&|i| i.principal_arn = "arn:aws:iam::123456789012:role/".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "short account",
            with(&|i| i.principal_arn = "arn:aws:iam::1234:role/nodes".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "group arn",
            with(&|i| i.principal_arn = "arn:aws:iam::123456789012:group/admins".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "root",
            with(&|i| i.principal_arn = "arn:aws:iam::123456789012:root".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "nonexistent role",
            with(&|i| i.principal_arn = "arn:aws:iam::123456789012:role/ghost".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "role arn without its path",
            with(&|i| i.principal_arn = "arn:aws:iam::123456789012:role/my-role".into()),
            "InvalidParameterException",
            400,
            invalid,
        ),
        (
            "service-linked role",
            with(&|i| {
                i.principal_arn = "arn:aws:iam::123456789012:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS".into()
            }),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "unknown type",
            with(&|i| i.kind = Some("EC2_MAC".into())),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "groups on EC2_LINUX",
            with(&|i| {
                i.kind = Some("EC2_LINUX".into());
                i.kubernetes_groups = Some(vec!["g".into()]);
            }),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "username on FARGATE_LINUX",
            with(&|i| {
                i.kind = Some("FARGATE_LINUX".into());
                i.username = Some("me".into());
            }),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "cross-account EC2_LINUX",
            with(&|i| {
                i.kind = Some("EC2_LINUX".into());
                i.principal_arn = "arn:aws:iam::999999999999:role/nodes".into();
            }),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "user as EC2_LINUX",
            with(&|i| {
                i.kind = Some("EC2_LINUX".into());
                i.principal_arn = USER.into();
            }),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "username system:",
            with(&|i| i.username = Some("system:admin".into())),
            "InvalidParameterException",
            400,
            Some("The username must not begin with system:"),
        ),
        (
            "username eks:",
            with(&|i| i.username = Some("eks:x".into())),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "session name without colon",
            with(&|i| i.username = Some("john{{SessionName}}".into())),
            "InvalidParameterException",
            400,
            None,
        ),
        (
            "group system:masters",
            with(&|i| i.kubernetes_groups = Some(vec!["system:masters".into()])),
            "InvalidParameterException",
            400,
            Some(
                "The kubernetes group name system:masters is invalid, it cannot start with system:",
            ),
        ),
        (
            "aws: tag",
            with(&|i| {
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
    ];
    for (what, input, code, status, msg) in cases {
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
        UpdateAccessEntryInput {
            cluster_name: "u".into(),
            principal_arn: PATH_ROLE.into(),
            kubernetes_groups: Some(vec!["devs".into()]),
            username: Some("dev:{{SessionName}}".into()),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(upd.kubernetes_groups, vec!["devs".to_string()]);
    assert_eq!(upd.username, "dev:{{SessionName}}");
    assert_eq!((upd.created_at, upd.modified_at), (T0, T0 + 50));
    let bad = eks::update_access_entry(
        &e.sim,
        &ctx(T0 + 60),
        UpdateAccessEntryInput {
            cluster_name: "u".into(),
            principal_arn: NODE_ROLE.into(),
            kubernetes_groups: Some(vec!["x".into()]),
            ..Default::default()
        },
    );
    assert_err(bad, "InvalidParameterException", 400, None);
    // The value is checked before the entry's type, with AWS's message.
    let node_name = eks::update_access_entry(
        &e.sim,
        &ctx(T0 + 60),
        UpdateAccessEntryInput {
            cluster_name: "u".into(),
            principal_arn: NODE_ROLE.into(),
            kubernetes_groups: Some(vec![]),
            username: Some("system:node:{{EC2PrivateDNSName}}".into()),
            ..Default::default()
        },
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
        UpdateAccessEntryInput {
            cluster_name: "u".into(),
            principal_arn: NODE_ROLE.into(),
            kubernetes_groups: Some(vec![]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(kept.kubernetes_groups, vec!["system:nodes".to_string()]);
    let missing = eks::update_access_entry(
        &e.sim,
        &ctx(T0 + 60),
        UpdateAccessEntryInput {
            cluster_name: "u".into(),
            principal_arn: USER.into(),
            ..Default::default()
        },
    );
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

// ---------------------------------------------------------------------------------------
// Access policies

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

    let bad_scopes: Vec<(&str, AccessScope)> = vec![
        (
            "cluster with namespaces",
            AccessScope {
                kind: Some("cluster".into()),
                namespaces: vec!["dev".into()],
            },
        ),
        (
            "namespace without namespaces",
            AccessScope {
                kind: Some("namespace".into()),
                namespaces: vec![],
            },
        ),
        (
            "upper case",
            AccessScope {
                kind: Some("namespace".into()),
                namespaces: vec!["Dev".into()],
            },
        ),
        (
            "underscore",
            AccessScope {
                kind: Some("namespace".into()),
                namespaces: vec!["a_b".into()],
            },
        ),
        (
            "leading hyphen",
            AccessScope {
                kind: Some("namespace".into()),
                namespaces: vec!["-a".into()],
            },
        ),
        (
            "64 chars",
            AccessScope {
                kind: Some("namespace".into()),
                namespaces: vec!["a".repeat(64)],
            },
        ),
        (
            "lone wildcard",
            AccessScope {
                kind: Some("namespace".into()),
                namespaces: vec!["*".into()],
            },
        ),
        (
            "inner wildcard",
            AccessScope {
                kind: Some("namespace".into()),
                namespaces: vec!["a*b".into()],
            },
        ),
        (
            "duplicate",
            AccessScope {
                kind: Some("namespace".into()),
                namespaces: vec!["a".into(), "a".into()],
            },
        ),
        (
            "unknown type",
            AccessScope {
                kind: Some("global".into()),
                namespaces: vec![],
            },
        ),
        (
            "no type",
            AccessScope {
                kind: None,
                namespaces: vec![],
            },
        ),
    ];
    for (what, scope) in bad_scopes {
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
