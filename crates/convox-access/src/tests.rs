//! The what-if table: each scenario against EKS's rules, for a realistic rack.

use std::collections::BTreeMap;

use convox_planner::{AuthMode, ObservedEntry, PolicyAssociation, Scope, RACK_TAG};

use crate::*;

const ACCT: &str = "111122223333";

fn arn(kind: &str, name: &str) -> String {
    format!("arn:aws:iam::{ACCT}:{kind}/{name}")
}

fn entry(
    principal: &str,
    ty: &str,
    rack: Option<&str>,
    admin: bool,
    groups: &[&str],
) -> ObservedEntry {
    let mut tags = BTreeMap::new();
    if let Some(r) = rack {
        tags.insert(RACK_TAG.to_string(), r.to_string());
    }
    ObservedEntry {
        principal_arn: principal.into(),
        entry_type: ty.into(),
        tags,
        policies: Some(if admin {
            vec![PolicyAssociation {
                policy_arn: "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
                    .into(),
                scope: Scope::Cluster,
            }]
        } else {
            vec![]
        }),
        kubernetes_groups: groups.iter().map(|g| g.to_string()).collect(),
        created_ms: None,
    }
}

fn aws_auth() -> AwsAuth {
    let mut d = BTreeMap::new();
    d.insert(
        "mapRoles".to_string(),
        format!(
            "- rolearn: {}\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n  groups: [system:bootstrappers, system:nodes]\n\
             - rolearn: {}\n  username: ci\n  groups: [system:masters]\n\
             - rolearn: {}\n  username: dev\n  groups: [developers]\n\
             - rolearn: {}\n  username: pathed\n  groups: [system:masters]\n",
            arn("role", "demo-nodes"),
            arn("role", "ci"),
            arn("role", "dev"),
            arn("role", "team/pathed"),
        ),
    );
    parse_aws_auth(&d)
}

/// The rack after `eks_access_entries=true`: caller and nodes entries made by the rack.
fn rack_entries() -> Vec<ObservedEntry> {
    vec![
        entry(&arn("role", "admin"), "STANDARD", Some("demo"), true, &[]),
        entry(
            &arn("role", "convox/demo-nodes"),
            "EC2_LINUX",
            Some("demo"),
            false,
            &[],
        ),
    ]
}

fn ids(a: &AwsAuthFact, e: &[ObservedEntry]) -> Vec<Identity> {
    identities(
        &[
            (arn("role", "admin"), "caller"),
            (arn("role", "convox/demo-nodes"), "nodes"),
        ],
        a,
        e,
    )
}

fn lose(out: &[Outcome], s: Scenario) -> Vec<String> {
    out.iter()
        .find(|o| o.scenario == s)
        .map(|o| {
            o.lose
                .iter()
                .map(|a| a.rsplit('/').next().unwrap().to_string())
                .collect()
        })
        .unwrap()
}

/// (mode, aws-auth, entries, scenario, who loses access)
type Row<'a> = (
    AuthMode,
    &'a AwsAuthFact,
    &'a [ObservedEntry],
    Scenario,
    &'a [&'a str],
);

/// The rack's entries plus ci's and dev's: everyone in aws-auth migrated.
fn ci_migrated_entries() -> Vec<ObservedEntry> {
    let mut e = rack_entries();
    e.push(entry(&arn("role", "ci"), "STANDARD", None, true, &[]));
    e.push(entry(
        &arn("role", "dev"),
        "STANDARD",
        None,
        false,
        &["developers"],
    ));
    e
}

/// Each row's what-if: exactly who loses access, and a verdict that says safe or counts them.
fn check_rows(rows: Vec<Row>) {
    for (i, (mode, a, e, s, want)) in rows.into_iter().enumerate() {
        let out = what_if("demo", mode, a, e, &ids(a, e));
        assert_eq!(lose(&out, s), want, "row {i}: {mode:?} {s:?}");
        let o = out.iter().find(|o| o.scenario == s).unwrap();
        if want.is_empty() {
            assert_eq!(o.verdict, "safe", "row {i}");
        } else {
            assert!(
                o.verdict.starts_with(&format!("{} principals", want.len())),
                "row {i}: {}",
                o.verdict
            );
        }
    }
}

#[test]
fn the_table() {
    let present = AwsAuthFact::Present(aws_auth());
    let none: Vec<ObservedEntry> = vec![];
    let ci_migrated = ci_migrated_entries();
    let rack = rack_entries();
    // (mode, aws-auth, entries, scenario, who loses access)
    let rows: Vec<Row> = vec![
        // CONFIG_MAP, nothing migrated: the path mapping never matched; the caller (creator) is invisible.
        (
            AuthMode::ConfigMap,
            &present,
            &none,
            Scenario::Now,
            &["admin", "pathed"],
        ),
        (
            AuthMode::ConfigMap,
            &present,
            &none,
            Scenario::AwsAuthDeleted,
            &["demo-nodes", "ci", "dev"],
        ),
        (
            AuthMode::ConfigMap,
            &present,
            &none,
            Scenario::ModeApi,
            &["demo-nodes", "ci", "dev"],
        ),
        (
            AuthMode::ConfigMap,
            &present,
            &none,
            Scenario::DowngradedEntriesRemoved,
            &[],
        ),
        // API_AND_CONFIG_MAP after eks_access_entries=true: people mapped only in aws-auth are at risk.
        (
            AuthMode::ApiAndConfigMap,
            &present,
            &rack,
            Scenario::Now,
            &["pathed"],
        ),
        (
            AuthMode::ApiAndConfigMap,
            &present,
            &rack,
            Scenario::AwsAuthDeleted,
            &["ci", "dev"],
        ),
        (
            AuthMode::ApiAndConfigMap,
            &present,
            &rack,
            Scenario::ModeApi,
            &["ci", "dev"],
        ),
        // The rack's entries removed: the caller loses it, the nodes fall back on aws-auth.
        (
            AuthMode::ApiAndConfigMap,
            &present,
            &rack,
            Scenario::DowngradedEntriesRemoved,
            &["admin"],
        ),
        // Migrated: nobody loses access when aws-auth goes.
        (
            AuthMode::ApiAndConfigMap,
            &present,
            &ci_migrated,
            Scenario::AwsAuthDeleted,
            &[],
        ),
        (
            AuthMode::ApiAndConfigMap,
            &present,
            &ci_migrated,
            Scenario::ModeApi,
            &[],
        ),
        // aws-auth already gone: a downgrade that removes the rack's entries loses the nodes too.
        (
            AuthMode::ApiAndConfigMap,
            &AwsAuthFact::Absent,
            &rack,
            Scenario::DowngradedEntriesRemoved,
            &["admin", "demo-nodes"],
        ),
        (
            AuthMode::Api,
            &present,
            &rack,
            Scenario::DowngradedEntriesRemoved,
            &["admin", "demo-nodes"],
        ),
    ];
    check_rows(rows);
}

#[test]
fn unknown_aws_auth_is_never_guessed() {
    let unknown = AwsAuthFact::Unknown("the Kubernetes API refused the token (401)".into());
    let e = rack_entries();
    let out = what_if(
        "demo",
        AuthMode::ApiAndConfigMap,
        &unknown,
        &e,
        &ids(&unknown, &e),
    );
    let now = &out[0];
    // Entries are known: the caller and nodes have access; nothing else can be told.
    assert!(now.access[0].has() && now.access[1].has());
    let down = out
        .iter()
        .find(|o| o.scenario == Scenario::DowngradedEntriesRemoved)
        .unwrap();
    assert_eq!(down.unknown.len(), 2, "{down:?}");
    assert!(
        down.verdict.contains("unknown for 2 principals"),
        "{}",
        down.verdict
    );
}

#[test]
fn coverage_needs_the_same_principal_and_at_least_the_same_power() {
    let a = aws_auth();
    let m = |name: &str| {
        a.mappings
            .iter()
            .find(|m| m.arn.ends_with(&format!("/{name}")))
            .unwrap()
            .clone()
    };
    let e = rack_entries();
    assert_eq!(
        coverage(&m("demo-nodes"), &e),
        Coverage::Covered,
        "path resolved: same role"
    );
    assert_eq!(coverage(&m("ci"), &e), Coverage::NoEntry);
    assert_eq!(coverage(&m("pathed"), &e), Coverage::NeverMatches);
    let weak = vec![entry(&arn("role", "ci"), "STANDARD", None, false, &[])];
    assert!(matches!(coverage(&m("ci"), &weak), Coverage::Weaker { .. }));
    let dev_wrong = vec![entry(
        &arn("role", "dev"),
        "STANDARD",
        None,
        false,
        &["other"],
    )];
    assert_eq!(
        coverage(&m("dev"), &dev_wrong),
        Coverage::Weaker {
            lacks: "kubernetesGroups developers".into()
        }
    );
    let node_std = vec![entry(
        &arn("role", "demo-nodes"),
        "STANDARD",
        None,
        true,
        &[],
    )];
    assert!(matches!(
        coverage(&m("demo-nodes"), &node_std),
        Coverage::Weaker { .. }
    ));
}

#[test]
fn canonical_arns() {
    assert_eq!(
        canonical("arn:aws:iam::111122223333:role/convox/Nodes"),
        "arn:aws:iam::111122223333:role/nodes"
    );
    assert_eq!(
        canonical("arn:aws:sts::111122223333:assumed-role/Admin/me@x"),
        "arn:aws:iam::111122223333:role/admin"
    );
    assert_eq!(
        canonical("arn:aws-cn:iam::111122223333:user/a/b"),
        "arn:aws-cn:iam::111122223333:user/b"
    );
}
