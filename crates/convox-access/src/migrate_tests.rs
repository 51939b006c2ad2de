//! `auth migrate`'s plan, mapping by mapping: the entry it makes, or the reason it skips.

use std::collections::BTreeMap;

use convox_planner::ObservedEntry;

use crate::migrate::{plan, username_problem, Directory, Principal};
use crate::parse_aws_auth;

const ACCT: &str = "111122223333";

fn arn(res: &str) -> String {
    format!("arn:aws:iam::{ACCT}:{res}")
}

fn p(res: &str, created_ms: Option<i64>) -> Principal {
    Principal {
        arn: arn(res),
        created_ms,
    }
}

fn dir() -> Directory {
    Directory::new(
        "aws",
        ACCT,
        [
            p("role/nodes", None),
            p("role/win-nodes", None),
            p("role/ci", None),
            p("role/team/dev", None),
            p(
                "role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123",
                None,
            ),
            p(
                "role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS",
                None,
            ),
            p("role/has-entry", None),
            p("role/new/recreated", None),
            p("role/reborn", Some(2_000)),
        ],
        [p("user/alice", None)],
    )
}

fn entry(principal: &str, ty: &str, created_ms: Option<i64>) -> ObservedEntry {
    ObservedEntry {
        principal_arn: principal.into(),
        entry_type: ty.into(),
        tags: BTreeMap::new(),
        policies: None,
        kubernetes_groups: Vec::new(),
        created_ms,
    }
}

/// One mapping of `kind` (`mapRoles`/`mapUsers`) → `Ok((type, username, groups, admin))`
/// or `Err(part of the reason)`.
type Want = Result<
    (
        &'static str,
        Option<&'static str>,
        &'static [&'static str],
        bool,
    ),
    &'static str,
>;

type Case = (
    &'static str,
    String,
    &'static str,
    &'static [&'static str],
    Want,
);

fn cases_1(node: &'static str) -> Vec<Case> {
    vec![
        (
            "mapRoles",
            arn("role/ci"),
            "ci",
            &["system:masters"],
            Ok(("STANDARD", Some("ci"), &[], true)),
        ),
        (
            "mapRoles",
            arn("role/ci"),
            "ci",
            &["system:masters", "ops", "system:monitoring"],
            Ok(("STANDARD", Some("ci"), &["ops"], true)),
        ),
        (
            "mapRoles",
            arn("role/nodes"),
            node,
            &["system:bootstrappers", "system:nodes"],
            Ok(("EC2_LINUX", None, &[], false)),
        ),
        (
            "mapRoles",
            arn("role/win-nodes"),
            node,
            &[
                "system:bootstrappers",
                "system:nodes",
                "eks:kube-proxy-windows",
            ],
            Ok(("EC2_WINDOWS", None, &[], false)),
        ),
        (
            "mapRoles",
            arn("role/dev"),
            "dev:{{SessionName}}",
            &["developers"],
            Ok((
                "STANDARD",
                Some("dev:{{SessionName}}"),
                &["developers"],
                false,
            )),
        ),
        (
            "mapRoles",
            arn("role/AWSReservedSSO_Admin_0123"),
            "sso-admin",
            &["system:masters"],
            Ok(("STANDARD", Some("sso-admin"), &[], true)),
        ),
        (
            "mapRoles",
            "arn:aws:sts::111122223333:assumed-role/ci/session".into(),
            "ci",
            &["viewers"],
            Err("never matched"),
        ),
        (
            "mapUsers",
            arn("user/alice"),
            "alice",
            &["viewers"],
            Ok(("STANDARD", Some("alice"), &["viewers"], false)),
        ),
        (
            "mapUsers",
            arn("user/alice"),
            "alice",
            &[],
            Ok(("STANDARD", Some("alice"), &[], false)),
        ),
    ]
}

fn cases_2() -> Vec<Case> {
    vec![
        (
            "mapRoles",
            arn("role/ci"),
            "ci",
            &["system:monitoring"],
            Err("group system:monitoring cannot be given"),
        ),
        (
            "mapRoles",
            arn("role/ci"),
            "system:ci",
            &["system:masters"],
            Err("may begin with system:"),
        ),
        (
            "mapRoles",
            arn("role/ci"),
            "eks:ci",
            &["devs"],
            Err("may begin with eks:"),
        ),
        (
            "mapRoles",
            arn("role/ci"),
            "{{SessionName}}",
            &["devs"],
            Err("a colon must come before {{SessionName}}"),
        ),
        (
            "mapRoles",
            arn("role/ci"),
            "ci-{{AccessKeyID}}",
            &["devs"],
            Err("uses {{AccessKeyID}}, which aws-auth expands"),
        ),
        (
            "mapRoles",
            arn("role/team/dev"),
            "dev",
            &["devs"],
            Err("a rolearn with a path (or a session) never matched"),
        ),
        (
            "mapRoles",
            arn("role/gone"),
            "gone",
            &["devs"],
            Err("IAM has no such role"),
        ),
        (
            "mapUsers",
            arn("user/bob"),
            "bob",
            &["devs"],
            Err("IAM has no such user"),
        ),
        (
            "mapRoles",
            arn("role/AWSServiceRoleForAmazonEKS"),
            "svc",
            &["devs"],
            Err("is a service-linked role"),
        ),
    ]
}

fn cases_3(node: &'static str) -> Vec<Case> {
    vec![
        (
            "mapRoles",
            arn("role/has-entry"),
            "h",
            &["devs"],
            Err("already has an access entry (STANDARD)"),
        ),
        (
            "mapRoles",
            arn("role/recreated"),
            "r",
            &["devs"],
            Err("was made for a principal since deleted"),
        ),
        (
            "mapRoles",
            arn("role/reborn"),
            "r",
            &["devs"],
            Err("predates IAM's"),
        ),
        (
            "mapRoles",
            "arn:aws:iam::444455556666:role/ci".into(),
            "x",
            &["devs"],
            Err("of account 444455556666, not the cluster's"),
        ),
        (
            "mapRoles",
            "arn:aws-cn:iam::111122223333:role/ci".into(),
            "x",
            &["devs"],
            Err("partition aws-cn"),
        ),
        (
            "mapUsers",
            arn("user/alice"),
            node,
            &["system:nodes"],
            Err("a node mapping of an IAM user"),
        ),
        (
            "mapRoles",
            arn("role/nodes"),
            node,
            &["system:nodes", "admins"],
            Err("also gives group admins"),
        ),
        (
            "mapRoles",
            arn("role/ci"),
            "system:node:{{SessionName}}",
            &[
                "system:bootstrappers",
                "system:nodes",
                "system:node-proxier",
            ],
            Err("Fargate"),
        ),
    ]
}

#[test]
fn each_mapping_becomes_its_entry_or_a_reason() {
    let node = "system:node:{{EC2PrivateDNSName}}";
    let cases: Vec<Case> = [cases_1(node), cases_2(), cases_3(node)].concat();
    let entries = [
        entry(&arn("role/has-entry"), "STANDARD", None),
        entry(&arn("role/old/recreated"), "STANDARD", None),
        entry(&arn("role/reborn"), "STANDARD", Some(1_000)),
    ];
    for (key, mapping_arn, username, groups, want) in cases {
        let arn_key = if key == "mapRoles" {
            "rolearn"
        } else {
            "userarn"
        };
        let yaml = format!(
            "- {arn_key}: {mapping_arn}\n  username: \"{username}\"\n  groups: [{}]\n",
            groups.join(", ")
        );
        let a = parse_aws_auth(&BTreeMap::from([(key.to_string(), yaml.clone())]));
        assert!(a.warnings.is_empty(), "{yaml}: {:?}", a.warnings);
        let out = plan(&a, &entries, &dir());
        match want {
            Ok((ty, user, groups, admin)) => {
                assert!(out.skip.is_empty(), "{yaml}: skipped {:?}", out.skip);
                let e = &out.create[0];
                assert_eq!(
                    (
                        e.entry_type.as_str(),
                        e.username.as_deref(),
                        e.cluster_admin
                    ),
                    (ty, user, admin),
                    "{yaml}"
                );
                assert_eq!(e.kubernetes_groups, groups, "{yaml}");
                assert_eq!(e.mapping_arn, mapping_arn);
            }
            Err(why) => {
                assert!(out.create.is_empty(), "{yaml}: created {:?}", out.create);
                assert!(
                    out.skip[0].reason.contains(why),
                    "{yaml}: {}",
                    out.skip[0].reason
                );
                assert_eq!(out.skip[0].arn, mapping_arn);
            }
        }
    }
}

#[test]
fn paths_are_resolved_through_iam() {
    let yaml = format!(
        "- rolearn: {}\n  username: admin\n  groups: [system:masters]\n",
        arn("role/AWSReservedSSO_Admin_0123")
    );
    let a = parse_aws_auth(&BTreeMap::from([("mapRoles".to_string(), yaml)]));
    let out = plan(&a, &[], &dir());
    assert_eq!(
        out.create[0].principal_arn,
        arn("role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Admin_0123")
    );
}

#[test]
fn map_accounts_named() {
    let a = parse_aws_auth(&BTreeMap::from([(
        "mapAccounts".to_string(),
        "- \"444455556666\"\n".to_string(),
    )]));
    let out = plan(&a, &[], &dir());
    assert!(out.create.is_empty());
    assert_eq!(out.skip[0].arn, "mapAccounts:444455556666");
    assert!(out.skip[0].reason.contains("no such thing"));
}

#[test]
fn a_second_run_creates_nothing() {
    let yaml = format!(
        "- rolearn: {}\n  username: ci\n  groups: [system:masters]\n- userarn: {}\n  username: alice\n",
        arn("role/ci"),
        arn("user/alice")
    );
    let a = parse_aws_auth(&BTreeMap::from([
        (
            "mapRoles".to_string(),
            yaml.lines().take(3).collect::<Vec<_>>().join("\n"),
        ),
        (
            "mapUsers".to_string(),
            yaml.lines().skip(3).collect::<Vec<_>>().join("\n"),
        ),
    ]));
    let first = plan(&a, &[], &dir());
    assert_eq!(first.create.len(), 2, "{first:?}");
    let made: Vec<ObservedEntry> = first
        .create
        .iter()
        .map(|e| entry(&e.principal_arn, &e.entry_type, Some(5)))
        .collect();
    let second = plan(&a, &made, &dir());
    assert!(second.create.is_empty());
    assert!(second.skip.iter().all(|s| s.reason.contains("already has")));
}

#[test]
fn usernames_eks_takes() {
    for ok in [
        "ci",
        "ci:{{SessionName}}",
        "a:{{SessionNameRaw}}",
        "arn:aws:sts::1:assumed-role/x/{{SessionName}}",
    ] {
        assert_eq!(username_problem(ok), None, "{ok}");
    }
    for bad in [
        "iam:x",
        "amazon:x",
        "aws:x",
        "{{SessionNameRaw}}",
        "{{AccountID}}",
        "{{EC2PrivateDNSName}}",
    ] {
        assert!(username_problem(bad).is_some(), "{bad}");
    }
}

#[test]
fn an_admin_entry_left_without_its_policy_gets_it() {
    let yaml = format!(
        "- rolearn: {}\n  username: ci\n  groups: [system:masters]\n",
        arn("role/ci")
    );
    let a = parse_aws_auth(&BTreeMap::from([("mapRoles".to_string(), yaml)]));
    let mut half = entry(&arn("role/ci"), "STANDARD", Some(5));
    half.policies = Some(Vec::new());
    half.tags
        .insert(convox_planner::ROLE_TAG.into(), crate::MIGRATED.into());
    let out = plan(&a, &[half.clone()], &dir());
    assert!(
        out.create[0].exists && out.create[0].cluster_admin,
        "{out:?}"
    );
    // Not ours: left alone.
    half.tags.clear();
    let out = plan(&a, &[half], &dir());
    assert!(out.create.is_empty() && out.skip[0].reason.contains("already has"));
}

#[test]
fn coverage_resolves_the_principal_through_iam() {
    use crate::{coverage, coverage_in, Coverage};
    let m = |res: &str| {
        let yaml = format!("- rolearn: {}\n  username: u\n  groups: [devs]\n", arn(res));
        parse_aws_auth(&BTreeMap::from([("mapRoles".to_string(), yaml)])).mappings[0].clone()
    };
    let mut dev = entry(&arn("role/team/dev"), "STANDARD", Some(5));
    dev.kubernetes_groups = vec!["devs".into()];
    let mut stale = entry(&arn("role/old/recreated"), "STANDARD", Some(5));
    stale.kubernetes_groups = vec!["devs".into()];
    let entries = [dev, stale, entry(&arn("role/gone"), "STANDARD", Some(5))];
    let d = dir();
    // The same principal, its path resolved through IAM.
    assert_eq!(
        coverage_in(&m("role/dev"), &entries, Some(&d)),
        Coverage::Covered
    );
    // By name alone these look covered; IAM says otherwise.
    assert_eq!(coverage(&m("role/recreated"), &entries), Coverage::Covered);
    assert!(matches!(
        coverage_in(&m("role/recreated"), &entries, Some(&d)),
        Coverage::Stale { .. }
    ));
    assert_eq!(
        coverage(&m("role/gone"), &entries),
        Coverage::Weaker {
            lacks: "kubernetesGroups devs".into()
        }
    );
    assert_eq!(
        coverage_in(&m("role/gone"), &entries, Some(&d)),
        Coverage::NoPrincipal
    );
}
