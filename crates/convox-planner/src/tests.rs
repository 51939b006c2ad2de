use super::*;
use convox_params::Params;
use std::collections::BTreeMap;

const RACK: &str = "rack1";
const CALLER: &str = "arn:aws:iam::123456789012:role/ops/ConvoxAdmin";
const NODES: &str = "arn:aws:iam::123456789012:role/convox/rack1-nodes";
const KARP: &str = "arn:aws:iam::123456789012:role/convox/rack1-karpenter-nodes";

fn params(k: bool, e: bool) -> Params {
    let mut p = Params::default();
    p.values.insert("karpenter_auth_mode".into(), k.to_string());
    p.values.insert("eks_access_entries".into(), e.to_string());
    p
}

fn ident(partition: &str, karpenter: bool) -> RackIdentity {
    RackIdentity {
        rack: RACK.into(),
        partition: partition.into(),
        caller_principal_arn: CALLER.into(),
        nodes_role_arn: NODES.into(),
        karpenter_nodes_role_arn: karpenter.then(|| KARP.to_string()),
    }
}

fn admin(partition: &str, scope: Scope) -> PolicyAssociation {
    PolicyAssociation {
        policy_arn: format!(
            "arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        ),
        scope,
    }
}

fn ns(list: &[&str]) -> Scope {
    Scope::Namespace {
        namespaces: list.iter().map(|s| s.to_string()).collect(),
    }
}

fn tags(ours: bool, role: &str) -> BTreeMap<String, String> {
    let mut t = BTreeMap::new();
    if ours {
        t.insert(RACK_TAG.to_string(), RACK.to_string());
        t.insert(ROLE_TAG.to_string(), role.to_string());
    }
    t
}

fn entry(
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
    }
}

fn observed(mode: AuthMode, entries: Vec<ObservedEntry>) -> Observed {
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

fn create(role: EntryRole, arn: &str, ty: &str, policies: Vec<PolicyAssociation>) -> Step {
    Step::CreateEntry {
        entry: DesiredEntry {
            role,
            principal_arn: arn.into(),
            entry_type: ty.into(),
            policies,
        },
    }
}

fn assoc(role: EntryRole, arn: &str, p: PolicyAssociation) -> Step {
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

// ---------------------------------------------------------------------------------------------
// The matrix: 4 table rows × 3 starting modes × entry situations, each reconciled to the end
// by a model of the executor, checking the safety rules and that the second plan is empty.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Situation {
    Absent,
    /// EKS-made (untagged) entries of the right type; the caller's as EKS's creator-admin one.
    EksMade,
    /// Entries this rack created earlier (tagged).
    Ours,
    /// The nodes role (and the Karpenter role) present as STANDARD, not EC2_LINUX.
    WrongType,
    /// Caller present with cluster admin at namespace scope, untagged.
    WrongScopeTheirs,
    /// Caller present with cluster admin at namespace scope, tagged as ours.
    WrongScopeOurs,
}

const SITUATIONS: [Situation; 6] = [
    Situation::Absent,
    Situation::EksMade,
    Situation::Ours,
    Situation::WrongType,
    Situation::WrongScopeTheirs,
    Situation::WrongScopeOurs,
];

fn starting_entries(s: Situation, partition: &str) -> Vec<ObservedEntry> {
    let adm = |scope| Some(vec![admin(partition, scope)]);
    match s {
        Situation::Absent => vec![],
        Situation::EksMade => vec![
            entry(CALLER, "STANDARD", false, adm(Scope::Cluster)),
            entry(NODES, "EC2_LINUX", false, None),
            entry(KARP, "EC2_LINUX", false, None),
        ],
        Situation::Ours => vec![
            entry(CALLER, "STANDARD", true, adm(Scope::Cluster)),
            entry(NODES, "EC2_LINUX", true, None),
            entry(KARP, "EC2_LINUX", true, None),
        ],
        Situation::WrongType => vec![
            entry(CALLER, "EC2_LINUX", false, None),
            entry(NODES, "STANDARD", false, Some(vec![])),
            entry(KARP, "STANDARD", false, Some(vec![])),
        ],
        Situation::WrongScopeTheirs => {
            vec![entry(CALLER, "STANDARD", false, adm(ns(&["default"])))]
        }
        Situation::WrongScopeOurs => vec![entry(CALLER, "STANDARD", true, adm(ns(&["default"])))],
    }
}

/// A model of the cluster + executor: applies one step to the observed state like EKS would.
/// `eks_node_entry_on_switch`: EKS creates an untagged EC2_LINUX entry for the node group role
/// when the mode gains API (as it does for managed node groups).
fn apply(o: &mut Observed, step: &Step, rack: &str, eks_node_entry_on_switch: bool) {
    match step {
        Step::WaitClusterActive => {
            o.cluster_status = "ACTIVE".into();
            o.pending_update = None;
        }
        Step::SwitchAuthMode { from, to } => {
            assert_eq!(o.auth_mode, *from, "switch from the observed mode");
            o.auth_mode = *to;
            if eks_node_entry_on_switch && !o.entries.iter().any(|e| e.principal_arn == NODES) {
                o.entries.push(entry(NODES, "EC2_LINUX", false, None));
            }
        }
        Step::CreateEntry { entry: d } => {
            assert!(o.auth_mode.includes_api(), "create before API mode");
            assert!(
                !o.entries.iter().any(|e| e.principal_arn == d.principal_arn),
                "create of an existing entry {}",
                d.principal_arn
            );
            let mut t = BTreeMap::new();
            t.insert(RACK_TAG.to_string(), rack.to_string());
            t.insert(ROLE_TAG.to_string(), d.role.as_str().to_string());
            o.entries.push(ObservedEntry {
                principal_arn: d.principal_arn.clone(),
                entry_type: d.entry_type.clone(),
                tags: t,
                policies: (d.entry_type == "STANDARD").then(Vec::new),
                kubernetes_groups: Vec::new(),
            });
        }
        Step::AssociatePolicy {
            principal_arn,
            policy,
            ..
        } => {
            let e = o
                .entries
                .iter_mut()
                .find(|e| &e.principal_arn == principal_arn)
                .expect("associate on an existing entry");
            assert_eq!(
                e.entry_type, "STANDARD",
                "policies only on STANDARD entries"
            );
            let ps = e.policies.get_or_insert_with(Vec::new);
            ps.retain(|p| p.policy_arn != policy.policy_arn);
            ps.push(policy.clone());
        }
    }
}

/// Runs observe → plan → apply until the plan is empty, replanning after a mode switch (the
/// executor's contract). Returns the plans made.
fn reconcile(d: &Desired, o: &mut Observed, eks_node_entry_on_switch: bool) -> Vec<Plan> {
    let mut plans = Vec::new();
    for _ in 0..5 {
        let p = plan(d, o);
        plans.push(p.clone());
        if p.is_empty() {
            return plans;
        }
        for step in &p.steps {
            apply(o, step, &d.rack, eks_node_entry_on_switch);
            if matches!(step, Step::SwitchAuthMode { .. }) {
                break;
            }
        }
    }
    panic!("no convergence: {plans:#?}");
}

/// Independent check: does `o` satisfy `d` for every entry not in conflict?
fn satisfied(d: &Desired, o: &Observed, conflicted: &[EntryRole]) -> Result<(), String> {
    if d.api_mode && !o.auth_mode.includes_api() {
        return Err("mode lacks API".into());
    }
    for w in d.entries.iter().filter(|w| !conflicted.contains(&w.role)) {
        let e = o
            .entries
            .iter()
            .find(|e| e.principal_arn == w.principal_arn)
            .ok_or_else(|| format!("missing {}", w.principal_arn))?;
        if e.entry_type != w.entry_type {
            return Err(format!("type of {}", w.principal_arn));
        }
        for p in &w.policies {
            if !e.policies.iter().flatten().any(|h| h == p) {
                return Err(format!("policy of {}", w.principal_arn));
            }
        }
    }
    Ok(())
}

#[test]
fn matrix_rows_modes_situations_converge_safely() {
    let mut cases = 0;
    for partition in ["aws", "aws-cn"] {
        for (k, e) in [(false, false), (true, false), (false, true), (true, true)] {
            for mode in [
                AuthMode::ConfigMap,
                AuthMode::ApiAndConfigMap,
                AuthMode::Api,
            ] {
                for s in SITUATIONS {
                    for eks_switch in [false, true] {
                        cases += 1;
                        let label = format!(
                            "{partition} row {k}/{e} {mode:?} {s:?} eks-switch={eks_switch}"
                        );
                        let d = desired(&params(k, e), &ident(partition, true));
                        // Nothing can exist in CONFIG_MAP mode.
                        let start = if mode.includes_api() {
                            starting_entries(s, partition)
                        } else {
                            vec![]
                        };
                        let mut o = observed(mode, start.clone());
                        let plans = reconcile(&d, &mut o, eks_switch);
                        let first = &plans[0];

                        // Row false/false: no step at all, from any state.
                        if !k && !e {
                            assert!(
                                first.steps.is_empty() && first.conflicts.is_empty(),
                                "{label}"
                            );
                        }
                        // Mode: only ever CONFIG_MAP -> API_AND_CONFIG_MAP, and only when needed.
                        let switches: Vec<_> = plans
                            .iter()
                            .flat_map(|p| &p.steps)
                            .filter_map(|s| match s {
                                Step::SwitchAuthMode { from, to } => Some((*from, *to)),
                                _ => None,
                            })
                            .collect();
                        let want_switch = (k || e) && mode == AuthMode::ConfigMap;
                        assert_eq!(
                            switches,
                            if want_switch {
                                vec![(AuthMode::ConfigMap, AuthMode::ApiAndConfigMap)]
                            } else {
                                vec![]
                            },
                            "{label}"
                        );
                        let end_mode = if want_switch {
                            AuthMode::ApiAndConfigMap
                        } else {
                            mode
                        };
                        assert_eq!(o.auth_mode, end_mode, "{label}");

                        // Expected conflicts, from the situation alone.
                        let mut want_conflicts: Vec<EntryRole> = Vec::new();
                        if mode.includes_api() {
                            if s == Situation::WrongType {
                                if e {
                                    want_conflicts.push(EntryRole::Caller);
                                    want_conflicts.push(EntryRole::Nodes);
                                }
                                if k {
                                    want_conflicts.push(EntryRole::KarpenterNodes);
                                }
                            }
                            if s == Situation::WrongScopeTheirs && e {
                                want_conflicts.push(EntryRole::Caller);
                            }
                        }
                        want_conflicts.sort();
                        let mut got: Vec<EntryRole> =
                            first.conflicts.iter().map(|c| c.role).collect();
                        got.sort();
                        assert_eq!(got, want_conflicts, "{label}");

                        // Creates: exactly the desired entries that were absent at the start, and
                        // on a CONFIG_MAP start, those EKS did not create during the switch.
                        let creates: Vec<&str> = plans
                            .iter()
                            .skip(usize::from(want_switch))
                            .flat_map(|p| &p.steps)
                            .filter_map(|s| match s {
                                Step::CreateEntry { entry } => Some(entry.principal_arn.as_str()),
                                _ => None,
                            })
                            .collect();
                        let mut want_creates: Vec<&str> = d
                            .entries
                            .iter()
                            .map(|w| w.principal_arn.as_str())
                            .filter(|arn| !start.iter().any(|x| x.principal_arn == *arn))
                            .filter(|arn| !(want_switch && eks_switch && *arn == NODES))
                            .collect();
                        let mut sorted_creates = creates.clone();
                        sorted_creates.sort();
                        want_creates.sort();
                        assert_eq!(sorted_creates, want_creates, "{label}");

                        // Entries we did not create are never changed, and none are removed.
                        for before in &start {
                            let after = o
                                .entries
                                .iter()
                                .find(|x| x.principal_arn == before.principal_arn)
                                .unwrap_or_else(|| panic!("{label}: entry removed"));
                            if !is_managed_by(before, RACK) {
                                let added_only = before
                                    .policies
                                    .iter()
                                    .flatten()
                                    .all(|p| after.policies.iter().flatten().any(|q| q == p));
                                assert!(
                                    after.entry_type == before.entry_type && added_only,
                                    "{label}: foreign entry altered: {before:?} -> {after:?}"
                                );
                            }
                        }

                        // Converged: the last plan is empty, conflicts persist as reported.
                        let last = plans.last().expect("a plan");
                        assert!(last.steps.is_empty(), "{label}");
                        assert_eq!(last.conflicts.len(), want_conflicts.len(), "{label}");
                        satisfied(&d, &o, &want_conflicts)
                            .unwrap_or_else(|m| panic!("{label}: {m}"));
                        // And planning again from the converged state changes nothing.
                        assert!(plan(&d, &o).steps.is_empty(), "{label}");
                    }
                }
            }
        }
    }
    assert_eq!(cases, 2 * 4 * 3 * 6 * 2);
}

#[test]
fn a_fresh_config_map_rack_converges_in_two_plans() {
    // The seed's transcript: CONFIG_MAP cluster, eks_access_entries=true.
    let d = desired(&params(false, true), &ident("aws", false));
    let mut o = observed(AuthMode::ConfigMap, vec![]);
    let plans = reconcile(&d, &mut o, true);
    // plan 1: switch (then replan), plan 2: caller entry + policy (EKS made the nodes entry),
    // plan 3: empty.
    assert_eq!(plans.len(), 3, "{plans:#?}");
    assert_eq!(
        plans[1].steps,
        vec![
            create(
                EntryRole::Caller,
                CALLER,
                "STANDARD",
                vec![admin("aws", Scope::Cluster)]
            ),
            assoc(EntryRole::Caller, CALLER, admin("aws", Scope::Cluster)),
        ]
    );
    assert!(plans[2].is_converged());
    assert!(plans[2].drift.is_empty());
}

#[test]
fn one_principal_wanted_with_two_types_is_a_conflict() {
    let mut id = ident("aws", false);
    id.caller_principal_arn = NODES.into();
    let d = desired(&params(false, true), &id);
    let p = plan(&d, &observed(AuthMode::ApiAndConfigMap, vec![]));
    assert_eq!(p.conflicts.len(), 1);
    assert_eq!(p.conflicts[0].role, EntryRole::Nodes);
    assert_eq!(
        p.steps
            .iter()
            .filter(|s| matches!(s, Step::CreateEntry { .. }))
            .count(),
        1
    );
}

#[test]
fn namespace_scope_order_does_not_matter() {
    let d = Desired {
        rack: RACK.into(),
        api_mode: true,
        entries: vec![DesiredEntry {
            role: EntryRole::Caller,
            principal_arn: CALLER.into(),
            entry_type: "STANDARD".into(),
            policies: vec![admin("aws", ns(&["a", "b"]))],
        }],
        unmet: vec![],
    };
    let o = observed(
        AuthMode::Api,
        vec![entry(
            CALLER,
            "STANDARD",
            false,
            Some(vec![admin("aws", ns(&["b", "a"]))]),
        )],
    );
    assert!(plan(&d, &o).is_converged());
}

#[test]
fn a_switch_left_running_is_waited_for_not_repeated() {
    // A previous run started the switch and died: EKS reports UPDATING, mode still CONFIG_MAP.
    let d = desired(&params(false, true), &ident("aws", false));
    let mut o = observed(AuthMode::ConfigMap, vec![]);
    o.cluster_status = "UPDATING".into();
    o.pending_update = Some(PendingUpdate {
        id: "u1".into(),
        status: "InProgress".into(),
        auth_mode: None,
    });
    let p = plan(&d, &o);
    assert_eq!(p.steps[0], Step::WaitClusterActive);
    // The executor waits, then re-observes: the update has landed.
    o.cluster_status = "ACTIVE".into();
    o.pending_update = None;
    o.auth_mode = AuthMode::ApiAndConfigMap;
    o.entries.push(entry(NODES, "EC2_LINUX", false, None));
    let p = plan(&d, &o);
    assert!(
        !p.steps
            .iter()
            .any(|s| matches!(s, Step::SwitchAuthMode { .. } | Step::WaitClusterActive)),
        "{:?}",
        p.steps
    );
    assert_eq!(
        p.steps,
        vec![
            create(
                EntryRole::Caller,
                CALLER,
                "STANDARD",
                vec![admin("aws", Scope::Cluster)]
            ),
            assoc(EntryRole::Caller, CALLER, admin("aws", Scope::Cluster)),
        ]
    );
}

/// The seed's downgrade table: the mode decides, and nothing but `API` is refused outright.
#[test]
fn downgrade_safety_follows_the_seed_table() {
    let rows = [
        (AuthMode::ConfigMap, DowngradeSafety::Safe),
        (
            AuthMode::ApiAndConfigMap,
            DowngradeSafety::SafeWhileAwsAuthKept,
        ),
        (AuthMode::Api, DowngradeSafety::NotSafe),
    ];
    for (mode, want) in rows {
        assert_eq!(downgrade_safety(mode), want, "{mode:?}");
    }
}
