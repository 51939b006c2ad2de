//! The planner's unit tests: desired() row by row and plan()'s exact plans; the matrix of
//! every row, mode and situation is in `tests_matrix.rs`, updates in flight in
//! `tests_pending.rs`.

use super::*;
use convox_params::Params;
use std::collections::BTreeMap;

pub(super) const RACK: &str = "rack1";
pub(super) const CALLER: &str = "arn:aws:iam::123456789012:role/ops/ConvoxAdmin";
pub(super) const NODES: &str = "arn:aws:iam::123456789012:role/convox/rack1-nodes";
pub(super) const KARP: &str = "arn:aws:iam::123456789012:role/convox/rack1-karpenter-nodes";

pub(super) fn params(k: bool, e: bool) -> Params {
    let mut p = Params::default();
    p.values.insert("karpenter_auth_mode".into(), k.to_string());
    p.values.insert("eks_access_entries".into(), e.to_string());
    p
}

pub(super) fn ident(partition: &str, karpenter: bool) -> RackIdentity {
    RackIdentity {
        rack: RACK.into(),
        partition: partition.into(),
        caller_principal_arn: CALLER.into(),
        nodes_role_arn: NODES.into(),
        karpenter_nodes_role_arn: karpenter.then(|| KARP.to_string()),
    }
}

pub(super) fn admin(partition: &str, scope: Scope) -> PolicyAssociation {
    PolicyAssociation {
        policy_arn: format!(
            "arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        ),
        scope,
    }
}

pub(super) fn ns(list: &[&str]) -> Scope {
    Scope::Namespace {
        namespaces: list.iter().map(|s| s.to_string()).collect(),
    }
}

pub(super) fn tags(ours: bool, role: &str) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    if ours {
        t.insert(RACK_TAG.to_string(), RACK.to_string());
        t.insert(ROLE_TAG.to_string(), role.to_string());
    }
    t
}

pub(super) fn entry(
    arn: &str,
    ty: &str,
    ours: bool,
    policies: Option<Vec<PolicyAssociation>>,
) -> ObservedEntry {
    ObservedEntry {
        principal_arn: arn.into(),
        entry_type: ty.into(),
        tags: tags(ours, "x"),
        policies,
        kubernetes_groups: Vec::new(),
        created_ms: None,
    }
}

pub(super) fn observed(mode: AuthMode, entries: Vec<ObservedEntry>) -> Observed {
    Observed {
        cluster_status: "ACTIVE".into(),
        auth_mode: mode,
        pending_update: None,
        entries,
    }
}

// ---------------------------------------------------------------------------------------------
// desired(): the seed's Karpenter table, row by row.

#[test]
fn desired_follows_the_seed_table() {
    // (karpenter_auth_mode, eks_access_entries) -> (api mode, [(role, principal, type, #policies)])
    type Want = (
        bool,
        &'static [(EntryRole, &'static str, &'static str, usize)],
    );
    let rows: &[((bool, bool), Want)] = &[
        ((false, false), (false, &[])),
        (
            (true, false),
            (true, &[(EntryRole::KarpenterNodes, KARP, "EC2_LINUX", 0)]),
        ),
        (
            (false, true),
            (
                true,
                &[
                    (EntryRole::Caller, CALLER, "STANDARD", 1),
                    (EntryRole::Nodes, NODES, "EC2_LINUX", 0),
                ],
            ),
        ),
        (
            (true, true),
            (
                true,
                &[
                    (EntryRole::Caller, CALLER, "STANDARD", 1),
                    (EntryRole::Nodes, NODES, "EC2_LINUX", 0),
                    (EntryRole::KarpenterNodes, KARP, "EC2_LINUX", 0),
                ],
            ),
        ),
    ];
    for ((k, e), (api, want)) in rows {
        let d = desired(&params(*k, *e), &ident("aws", true));
        assert_eq!(d.api_mode, *api, "row {k}/{e}");
        assert_eq!(d.rack, RACK);
        let got: Vec<_> = d
            .entries
            .iter()
            .map(|x| {
                (
                    x.role,
                    x.principal_arn.as_str(),
                    x.entry_type.as_str(),
                    x.policies.len(),
                )
            })
            .collect();
        assert_eq!(&got[..], *want, "row {k}/{e}");
        let row = table_row(&params(*k, *e));
        assert_eq!(row.auth_mode_switch, *api);
        assert_eq!(row.karpenter_node_entry, *k);
        assert_eq!(row.caller_entry, *e);
        assert_eq!(row.nodes_entry, *e);
    }
    // defaults (nothing stored) are row 1
    let d = desired(&Params::default(), &ident("aws", true));
    assert!(!d.api_mode && d.entries.is_empty());
    assert_eq!(
        table_row(&params(true, false)).render(),
        "| true | false | Yes | Yes | No | No |"
    );
}

#[test]
fn caller_policy_is_cluster_admin_at_cluster_scope_in_the_partition() {
    for (region, partition) in [
        ("us-east-1", "aws"),
        ("cn-north-1", "aws-cn"),
        ("cn-northwest-1", "aws-cn"),
        ("us-gov-west-1", "aws-us-gov"),
        ("eu-west-1", "aws"),
    ] {
        assert_eq!(partition_for_region(region), partition);
        let d = desired(
            &params(false, true),
            &ident(partition_for_region(region), false),
        );
        let caller = &d.entries[0];
        assert_eq!(caller.role, EntryRole::Caller);
        assert_eq!(
            caller.policies,
            vec![PolicyAssociation {
                policy_arn: format!(
                    "arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
                ),
                scope: Scope::Cluster
            }]
        );
    }
}

#[test]
fn empty_node_role_is_not_an_entry() {
    let mut id = ident("aws", false);
    id.nodes_role_arn = String::new();
    let d = desired(&params(false, true), &id);
    assert_eq!(d.entries.len(), 1);
    assert_eq!(d.entries[0].role, EntryRole::Caller);
}

#[test]
fn karpenter_entry_needs_a_karpenter_role() {
    let d = desired(&params(true, false), &ident("aws", false));
    assert!(d.api_mode, "the mode switch is still required");
    assert!(d.entries.is_empty());
    let mut id = ident("aws", false);
    id.karpenter_nodes_role_arn = Some(String::new());
    assert!(desired(&params(true, true), &id)
        .entries
        .iter()
        .all(|e| e.role != EntryRole::KarpenterNodes));
}

// ---------------------------------------------------------------------------------------------
// plan(): exact plans for the main cases.

pub(super) fn create(
    role: EntryRole,
    arn: &str,
    ty: &str,
    policies: Vec<PolicyAssociation>,
) -> Step {
    Step::CreateEntry {
        entry: DesiredEntry {
            role,
            principal_arn: arn.into(),
            entry_type: ty.into(),
            policies,
        },
    }
}

pub(super) fn assoc(role: EntryRole, arn: &str, p: PolicyAssociation) -> Step {
    Step::AssociatePolicy {
        role,
        principal_arn: arn.into(),
        policy: p,
    }
}

#[test]
fn config_map_cluster_gets_switch_then_every_entry() {
    let d = desired(&params(true, true), &ident("aws", true));
    let p = plan(&d, &observed(AuthMode::ConfigMap, vec![]));
    let admin_c = admin("aws", Scope::Cluster);
    assert_eq!(
        p.steps,
        vec![
            Step::SwitchAuthMode {
                from: AuthMode::ConfigMap,
                to: AuthMode::ApiAndConfigMap
            },
            create(EntryRole::Caller, CALLER, "STANDARD", vec![admin_c.clone()]),
            assoc(EntryRole::Caller, CALLER, admin_c),
            create(EntryRole::Nodes, NODES, "EC2_LINUX", vec![]),
            create(EntryRole::KarpenterNodes, KARP, "EC2_LINUX", vec![]),
        ]
    );
    assert!(p.conflicts.is_empty());
    assert!(p
        .drift
        .iter()
        .any(|d| d.what.contains("authentication mode is CONFIG_MAP")));
    assert_eq!(
        p.drift
            .iter()
            .filter(|d| d.what.starts_with("no access entry"))
            .count(),
        3
    );
}

#[test]
fn not_active_or_pending_update_waits_first() {
    let d = desired(&params(false, true), &ident("aws", false));
    for (status, pending, wait) in [
        ("UPDATING", None, true),
        ("CREATING", None, true),
        ("ACTIVE", Some("InProgress"), true),
        ("ACTIVE", Some("Successful"), false),
        ("ACTIVE", None, false),
    ] {
        let mut o = observed(AuthMode::ConfigMap, vec![]);
        o.cluster_status = status.into();
        o.pending_update = pending.map(|s| PendingUpdate {
            id: "u1".into(),
            status: s.into(),
            auth_mode: None,
        });
        let p = plan(&d, &o);
        assert_eq!(
            p.steps.first() == Some(&Step::WaitClusterActive),
            wait,
            "{status} {pending:?}: {:?}",
            p.steps
        );
        assert_eq!(
            p.steps
                .iter()
                .filter(|s| **s == Step::WaitClusterActive)
                .count(),
            usize::from(wait)
        );
    }
    // Converged cluster that is UPDATING for some other reason: nothing to wait for.
    let mut o = observed(
        AuthMode::ApiAndConfigMap,
        vec![
            entry(
                CALLER,
                "STANDARD",
                false,
                Some(vec![admin("aws", Scope::Cluster)]),
            ),
            entry(NODES, "EC2_LINUX", false, None),
        ],
    );
    o.cluster_status = "UPDATING".into();
    assert!(plan(&d, &o).is_converged());
    // A cluster being deleted is reported.
    let mut o = observed(AuthMode::ConfigMap, vec![]);
    o.cluster_status = "DELETING".into();
    assert!(plan(&d, &o)
        .drift
        .iter()
        .any(|x| x.what.contains("DELETING")));
}

#[test]
fn nothing_desired_means_nothing_planned_in_any_mode() {
    let d = desired(&params(false, false), &ident("aws", true));
    for mode in [
        AuthMode::ConfigMap,
        AuthMode::ApiAndConfigMap,
        AuthMode::Api,
    ] {
        let mut o = observed(mode, vec![entry(NODES, "STANDARD", false, None)]);
        o.cluster_status = "UPDATING".into();
        let p = plan(&d, &o);
        assert_eq!(p, Plan::default(), "{mode:?}");
    }
}

#[test]
fn api_modes_never_switch() {
    let d = desired(&params(true, true), &ident("aws", true));
    for mode in [AuthMode::ApiAndConfigMap, AuthMode::Api] {
        let p = plan(&d, &observed(mode, vec![]));
        assert!(
            !p.steps
                .iter()
                .any(|s| matches!(s, Step::SwitchAuthMode { .. })),
            "{mode:?}"
        );
        assert_eq!(
            p.steps
                .iter()
                .filter(|s| matches!(s, Step::CreateEntry { .. }))
                .count(),
            3
        );
    }
}

#[test]
fn standard_entry_missing_policy_gets_it_additively() {
    let d = desired(&params(false, true), &ident("aws", false));
    let other = PolicyAssociation {
        policy_arn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy".into(),
        scope: Scope::Cluster,
    };
    for policies in [None, Some(vec![]), Some(vec![other])] {
        let o = observed(
            AuthMode::ApiAndConfigMap,
            vec![
                entry(CALLER, "STANDARD", false, policies.clone()),
                entry(NODES, "EC2_LINUX", false, None),
            ],
        );
        let p = plan(&d, &o);
        assert_eq!(
            p.steps,
            vec![assoc(
                EntryRole::Caller,
                CALLER,
                admin("aws", Scope::Cluster)
            )],
            "{policies:?}"
        );
        assert!(p.conflicts.is_empty());
        assert!(p.drift[0]
            .what
            .contains("lacks AmazonEKSClusterAdminPolicy at cluster scope"));
    }
}

#[test]
fn wrong_scope_is_fixed_only_on_our_entries() {
    let d = desired(&params(false, true), &ident("aws", false));
    let wrong = Some(vec![admin("aws", ns(&["kube-system"]))]);
    let nodes = entry(NODES, "EC2_LINUX", false, None);
    let ours = plan(
        &d,
        &observed(
            AuthMode::ApiAndConfigMap,
            vec![
                entry(CALLER, "STANDARD", true, wrong.clone()),
                nodes.clone(),
            ],
        ),
    );
    assert_eq!(
        ours.steps,
        vec![assoc(
            EntryRole::Caller,
            CALLER,
            admin("aws", Scope::Cluster)
        )]
    );
    assert!(ours.conflicts.is_empty());

    let theirs = plan(
        &d,
        &observed(
            AuthMode::ApiAndConfigMap,
            vec![entry(CALLER, "STANDARD", false, wrong), nodes.clone()],
        ),
    );
    assert!(theirs.steps.is_empty(), "{:?}", theirs.steps);
    assert_eq!(theirs.conflicts.len(), 1);
    assert_eq!(theirs.conflicts[0].role, EntryRole::Caller);
    assert!(theirs.conflicts[0]
        .message
        .contains("namespace scope (kube-system)"));

    // Another rack's tag is not ours either.
    let mut other = entry(
        CALLER,
        "STANDARD",
        false,
        Some(vec![admin("aws", ns(&["a"]))]),
    );
    other.tags.insert(RACK_TAG.into(), "other-rack".into());
    let p = plan(&d, &observed(AuthMode::Api, vec![other, nodes]));
    assert_eq!(p.conflicts.len(), 1);
}

#[test]
fn wrong_type_is_a_conflict_never_a_delete() {
    let d = desired(&params(true, true), &ident("aws", true));
    for ours in [false, true] {
        let o = observed(
            AuthMode::ApiAndConfigMap,
            vec![
                entry(NODES, "STANDARD", ours, Some(vec![])),
                entry(
                    CALLER,
                    "STANDARD",
                    false,
                    Some(vec![admin("aws", Scope::Cluster)]),
                ),
            ],
        );
        let p = plan(&d, &o);
        assert_eq!(p.conflicts.len(), 1);
        assert_eq!(p.conflicts[0].role, EntryRole::Nodes);
        assert!(p.conflicts[0]
            .message
            .contains("has type STANDARD but the rack needs EC2_LINUX"));
        // the other entries still proceed
        assert_eq!(
            p.steps,
            vec![create(EntryRole::KarpenterNodes, KARP, "EC2_LINUX", vec![])]
        );
        assert!(!p.is_converged());
    }
}

#[test]
fn steps_render_in_plain_words() {
    let d = desired(&params(false, true), &ident("aws", false));
    let p = plan(&d, &observed(AuthMode::ConfigMap, vec![]));
    let text: Vec<String> = p.steps.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        text[0],
        "switch authentication mode CONFIG_MAP -> API_AND_CONFIG_MAP and wait for the update"
    );
    assert!(text[1].contains("create STANDARD access entry for the caller role"));
    assert!(text[2].starts_with("associate AmazonEKSClusterAdminPolicy at cluster scope"));
    // JSON shape is stable for `--dry-run --output json`
    let json = serde_json::to_string(&p.steps[0]).expect("json");
    assert_eq!(
        json,
        r#"{"step":"switch-auth-mode","from":"CONFIG_MAP","to":"API_AND_CONFIG_MAP"}"#
    );
}
