//! The planner's matrix: 4 table rows × 3 starting modes × entry situations, each reconciled
//! to the end by a model of the executor; and the cases around it (fresh racks, conflicts,
//! scopes, a switch left running, the downgrade table).

use std::collections::BTreeMap;

use super::tests::*;
use super::*;

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
                created_ms: None,
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

/// One case of the matrix.
#[derive(Debug, Clone, Copy)]
struct Case {
    partition: &'static str,
    k: bool,
    e: bool,
    mode: AuthMode,
    s: Situation,
    eks_switch: bool,
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
                        check_case(Case {
                            partition,
                            k,
                            e,
                            mode,
                            s,
                            eks_switch,
                        });
                    }
                }
            }
        }
    }
    assert_eq!(cases, 2 * 4 * 3 * 6 * 2);
}

fn check_case(c: Case) {
    let Case {
        partition,
        k,
        e,
        mode,
        s,
        eks_switch,
    } = c;
    let label = format!("{partition} row {k}/{e} {mode:?} {s:?} eks-switch={eks_switch}");
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
    let want_switch = check_switches(c, &plans, &o, &label);

    // Expected conflicts, from the situation alone.
    let want_conflicts = expected_conflicts(c);
    let mut got: Vec<EntryRole> = first.conflicts.iter().map(|c| c.role).collect();
    got.sort();
    assert_eq!(got, want_conflicts, "{label}");

    check_creates(c, &d, &start, &plans, want_switch, &label);
    check_foreign_untouched(&start, &o, &label);

    // Converged: the last plan is empty, conflicts persist as reported.
    let last = plans.last().expect("a plan");
    assert!(last.steps.is_empty(), "{label}");
    assert_eq!(last.conflicts.len(), want_conflicts.len(), "{label}");
    satisfied(&d, &o, &want_conflicts).unwrap_or_else(|m| panic!("{label}: {m}"));
    // And planning again from the converged state changes nothing.
    assert!(plan(&d, &o).steps.is_empty(), "{label}");
}

/// Mode: only ever CONFIG_MAP -> API_AND_CONFIG_MAP, and only when needed. Whether the case
/// switches.
fn check_switches(c: Case, plans: &[Plan], o: &Observed, label: &str) -> bool {
    let switches: Vec<_> = plans
        .iter()
        .flat_map(|p| &p.steps)
        .filter_map(|s| match s {
            Step::SwitchAuthMode { from, to } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    let want_switch = (c.k || c.e) && c.mode == AuthMode::ConfigMap;
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
        c.mode
    };
    assert_eq!(o.auth_mode, end_mode, "{label}");
    want_switch
}

/// The conflicts a case must report, sorted.
fn expected_conflicts(c: Case) -> Vec<EntryRole> {
    let mut want_conflicts: Vec<EntryRole> = Vec::new();
    if c.mode.includes_api() {
        if c.s == Situation::WrongType {
            if c.e {
                want_conflicts.push(EntryRole::Caller);
                want_conflicts.push(EntryRole::Nodes);
            }
            if c.k {
                want_conflicts.push(EntryRole::KarpenterNodes);
            }
        }
        if c.s == Situation::WrongScopeTheirs && c.e {
            want_conflicts.push(EntryRole::Caller);
        }
    }
    want_conflicts.sort();
    want_conflicts
}

/// Creates: exactly the desired entries that were absent at the start, and on a CONFIG_MAP
/// start, those EKS did not create during the switch.
fn check_creates(
    c: Case,
    d: &Desired,
    start: &[ObservedEntry],
    plans: &[Plan],
    want_switch: bool,
    label: &str,
) {
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
        .filter(|arn| !(want_switch && c.eks_switch && *arn == NODES))
        .collect();
    let mut sorted_creates = creates.clone();
    sorted_creates.sort();
    want_creates.sort();
    assert_eq!(sorted_creates, want_creates, "{label}");
}

/// Entries we did not create are never changed, and none are removed.
fn check_foreign_untouched(start: &[ObservedEntry], o: &Observed, label: &str) {
    for before in start {
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
