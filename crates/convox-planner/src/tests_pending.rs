//! Table tests of an auth-mode update in progress: the mode it goes to is the mode every
//! decision is judged by (the plan's switch, its drift, the downgrade table). And a table row
//! the rack lacks a fact for is a conflict, never skipped.

use super::*;
use convox_params::Params;

const CALLER: &str = "arn:aws:iam::123456789012:role/ops/ConvoxAdmin";
const NODES: &str = "arn:aws:iam::123456789012:role/convox/rack1-nodes";

fn wanted() -> Desired {
    let mut p = Params::default();
    p.values.insert("eks_access_entries".into(), "true".into());
    desired(
        &p,
        &RackIdentity {
            rack: "rack1".into(),
            partition: "aws".into(),
            caller_principal_arn: CALLER.into(),
            nodes_role_arn: NODES.into(),
            karpenter_nodes_role_arn: None,
        },
    )
}

fn updating(mode: AuthMode, status: &str, to: Option<AuthMode>) -> Observed {
    Observed {
        cluster_status: if status == "InProgress" {
            "UPDATING".into()
        } else {
            "ACTIVE".into()
        },
        auth_mode: mode,
        pending_update: Some(PendingUpdate {
            id: "u1".into(),
            status: status.into(),
            auth_mode: to,
        }),
        entries: Vec::new(),
    }
}

#[test]
fn a_mode_about_to_change_is_judged_by_its_target() {
    use AuthMode::*;
    use DowngradeSafety::*;
    // (mode read, update status, update's mode) -> (mode to come, switch planned, downgrade)
    let table = [
        (
            ConfigMap,
            "InProgress",
            Some(ApiAndConfigMap),
            ApiAndConfigMap,
            false,
            SafeWhileAwsAuthKept,
        ),
        (ConfigMap, "InProgress", Some(Api), Api, false, NotSafe),
        (
            ApiAndConfigMap,
            "InProgress",
            Some(Api),
            Api,
            false,
            NotSafe,
        ),
        // An update that is not about the mode (a version upgrade) leaves it as read.
        (ConfigMap, "InProgress", None, ConfigMap, true, Safe),
        (
            ApiAndConfigMap,
            "InProgress",
            None,
            ApiAndConfigMap,
            false,
            SafeWhileAwsAuthKept,
        ),
        // Finished updates are history: the mode read is the mode.
        (
            ConfigMap,
            "Failed",
            Some(ApiAndConfigMap),
            ConfigMap,
            true,
            Safe,
        ),
        (
            ApiAndConfigMap,
            "Successful",
            Some(ApiAndConfigMap),
            ApiAndConfigMap,
            false,
            SafeWhileAwsAuthKept,
        ),
        (ConfigMap, "Cancelled", Some(Api), ConfigMap, true, Safe),
    ];
    for (mode, status, to, to_come, switch, safety) in table {
        let o = updating(mode, status, to);
        let case = format!("{mode:?} {status} {to:?}");
        assert_eq!(o.auth_mode_to_come(), to_come, "{case}");
        assert_eq!(downgrade_safety_of(&o), safety, "{case}");
        let p = plan(&wanted(), &o);
        let switches = p
            .steps
            .iter()
            .filter(|s| matches!(s, Step::SwitchAuthMode { .. }))
            .count();
        assert_eq!(switches, usize::from(switch), "{case}: {:?}", p.steps);
        assert_eq!(
            p.steps.first() == Some(&Step::WaitClusterActive),
            status == "InProgress",
            "{case}: {:?}",
            p.steps
        );
        // Never drift-free while the mode is changing under the rack.
        let changing = p.drift.iter().any(|d| d.what.contains("changing to"));
        assert_eq!(
            changing,
            o.pending_auth_mode().is_some(),
            "{case}: {:?}",
            p.drift
        );
        // Entries are planned whatever the update: none exists yet in CONFIG_MAP.
        if mode == ConfigMap {
            let creates = p
                .steps
                .iter()
                .filter(|s| matches!(s, Step::CreateEntry { .. }))
                .count();
            assert_eq!(creates, 2, "{case}: {:?}", p.steps);
        }
    }
}

#[test]
fn nothing_wanted_plans_nothing_even_mid_update() {
    let o = updating(AuthMode::ApiAndConfigMap, "InProgress", Some(AuthMode::Api));
    let p = plan(&desired(&Params::default(), &wanted_ident()), &o);
    assert!(p.steps.is_empty() && p.drift.is_empty(), "{p:?}");
}

fn wanted_ident() -> RackIdentity {
    RackIdentity {
        rack: "rack1".into(),
        partition: "aws".into(),
        caller_principal_arn: CALLER.into(),
        nodes_role_arn: NODES.into(),
        karpenter_nodes_role_arn: None,
    }
}

#[test]
fn a_karpenter_row_without_a_karpenter_role_is_a_conflict_never_skipped() {
    for e in [false, true] {
        let mut p = Params::default();
        p.values.insert("karpenter_auth_mode".into(), "true".into());
        p.values.insert("eks_access_entries".into(), e.to_string());
        let d = desired(&p, &wanted_ident());
        assert_eq!(d.unmet.len(), 1, "{d:?}");
        let o = Observed {
            cluster_status: "ACTIVE".into(),
            auth_mode: AuthMode::ApiAndConfigMap,
            pending_update: None,
            entries: Vec::new(),
        };
        let plan = plan(&d, &o);
        assert!(!plan.is_converged(), "{plan:?}");
        assert!(
            plan.drift
                .iter()
                .any(|x| x.what.contains("Karpenter nodes role")),
            "{plan:?}"
        );
        assert!(plan.conflicts[0]
            .message
            .contains("--karpenter-nodes-role-arn"));
    }
    // With the role: met, no conflict.
    let mut p = Params::default();
    p.values.insert("karpenter_auth_mode".into(), "true".into());
    let mut id = wanted_ident();
    id.karpenter_nodes_role_arn = Some("arn:aws:iam::123456789012:role/k".into());
    assert!(desired(&p, &id).unmet.is_empty());
}
