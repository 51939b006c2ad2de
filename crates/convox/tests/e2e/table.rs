//! Karpenter first, the seed downgrade table, entries restored by rack update, table rows on the embedded default.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn karpenter_first_then_eks_access_entries_adds_entries_without_a_second_switch() {
    // The seed's "Interaction with Karpenter": a rack that already has
    // karpenter_auth_mode=true is API_AND_CONFIG_MAP; enabling eks_access_entries then adds
    // the caller and nodes entries without re-running the auth mode switch, and leaves the
    // Karpenter node entry as it is.
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    let eks = h.eks("us-east-1");
    h.install("karp", &[]);
    let (r, first) = h.counted(&[
        "rack",
        "params",
        "set",
        "karpenter_auth_mode=true",
        "-r",
        "karp",
    ]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(r.stdout, "Setting parameters... OK\n");
    assert_eq!(first.get("eks:UpdateClusterConfig"), Some(&1), "{first:?}");
    assert_eq!(mode(&eks, "karp").await, "API_AND_CONFIG_MAP");
    let after_karpenter = entries(&eks, "karp").await;
    assert_eq!(
        after_karpenter.keys().collect::<Vec<_>>(),
        vec![&karpenter_role("karp")],
        "row true/false: only the Karpenter node entry"
    );
    let auth = h.json(&["rack", "auth", "-r", "karp"]);
    assert_eq!(auth["table_row"]["auth_mode_switch"], true, "{auth}");
    assert_eq!(auth["table_row"]["karpenter_node_entry"], true, "{auth}");
    assert_eq!(auth["table_row"]["caller_entry"], false, "{auth}");
    assert_eq!(auth["table_row"]["nodes_entry"], false, "{auth}");

    let (r, second) = h.counted(&set_args("karp"));
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(r.stdout, "Setting parameters... OK\n");
    assert_eq!(
        second.get("eks:UpdateClusterConfig"),
        None,
        "the switch is not re-run: {second:?}"
    );
    assert_eq!(second.get("eks:CreateAccessEntry"), Some(&2), "{second:?}");
    assert_eq!(
        second.get("eks:AssociateAccessPolicy"),
        Some(&1),
        "{second:?}"
    );
    assert_eq!(
        mutating(&second),
        3,
        "nothing but the two creates and the association: {second:?}"
    );
    assert!(
        !r.stderr.contains("switching"),
        "no switch shown: {}",
        r.stderr
    );
    assert_eq!(mode(&eks, "karp").await, "API_AND_CONFIG_MAP");

    let got = entries(&eks, "karp").await;
    let mut want = vec![
        CALLER_ROLE.to_string(),
        nodes_role("karp"),
        karpenter_role("karp"),
    ];
    want.sort();
    assert_eq!(got.keys().cloned().collect::<Vec<_>>(), want, "{got:?}");
    assert_eq!(got[CALLER_ROLE].entry_type, "STANDARD");
    assert_eq!(
        got[CALLER_ROLE].policies,
        vec![(admin_policy("aws"), "cluster".to_string())]
    );
    assert_eq!(got[&nodes_role("karp")].entry_type, "EC2_LINUX");
    assert_eq!(
        got[&karpenter_role("karp")],
        after_karpenter[&karpenter_role("karp")],
        "the Karpenter node entry is left as it was"
    );
    let auth = h.json(&["rack", "auth", "-r", "karp"]);
    assert_eq!(auth["converged"], true, "{auth}");
    for k in [
        "auth_mode_switch",
        "karpenter_node_entry",
        "caller_entry",
        "nodes_entry",
    ] {
        assert_eq!(auth["table_row"][k], true, "{k}: {auth}");
    }
    // Both parameters are one-way.
    for kv in ["karpenter_auth_mode=false", "eks_access_entries=false"] {
        let err = h.fails(&["rack", "params", "set", kv, "-r", "karp"]);
        assert!(err.contains("one-way"), "{kv}: {err}");
    }
}

/// A refused downgrade: one ERROR line naming the parameter, the version and --force; no
/// mutating call, no output, the rack and its parameters as they were.
fn assert_downgrade_refused(h: &Home, rack: &str, situation: &str, args: &[&str]) {
    let rack_before = h.json(&["rack", "-r", rack]);
    let params_before = h.json(&["rack", "params", "-r", rack]);
    let (r, calls) = h.counted(args);
    let err = r.error_line(args);
    assert_eq!(r.status.code(), Some(1), "{situation}");
    let why = if situation == "API" {
        "API mode"
    } else {
        "could not be read"
    };
    assert!(
        err.contains(why)
            && err.contains("eks_access_entries")
            && err.to_lowercase().contains("stay on 3.24.7 or later")
            && err.contains("--force"),
        "{situation}: {err}"
    );
    assert_eq!(mutating(&calls), 0, "{situation}: {calls:?}");
    assert_eq!(r.stdout, "", "{situation}");
    assert_eq!(h.json(&["rack", "-r", rack]), rack_before, "{situation}");
    assert_eq!(h.json(&["rack", "params", "-r", rack]), params_before);
}

/// What a downgrade leaves in the rack's record: eks_access_entries inactive since 3.24.7,
/// the table row without it, and history saying what was left behind and whether forced.
fn assert_downgrade_recorded(h: &Home, rack: &str, situation: &str, refused: bool) {
    let auth = h.json(&["rack", "auth", "-r", rack]);
    assert_eq!(
        auth["inactive_params"][0]["key"], "eks_access_entries",
        "{situation}: {auth}"
    );
    assert_eq!(
        auth["table_row"]["eks_access_entries"], false,
        "{situation}"
    );
    let info = h.json(&["rack", "-r", rack]);
    assert_eq!(
        info["inactive_params"][0]["since"], "3.24.7",
        "{situation}: {info}"
    );
    // History says what the downgrade left behind, and whether --force overrode a refusal.
    let last = &info["history"][0];
    assert_eq!(last["action"], "update", "{situation}");
    assert_eq!(last["result"], "ok", "{situation}");
    assert_eq!(
        last["what"]["left_behind"],
        serde_json::json!(["eks_access_entries"]),
        "{situation}: {last}"
    );
    assert_eq!(
        last["what"]["forced"].as_bool(),
        refused.then_some(true),
        "{situation}: {last}"
    );
    if situation == "API" {
        let text = h.ok(&["rack", "-r", rack]);
        assert!(
            text.contains("eks_access_entries left inactive, forced"),
            "{text}"
        );
    }
}

/// At 3.24.6 a repair run restores nothing; back up, the stored parameter acts again and
/// is still one-way.
async fn assert_inactive_then_back_up(
    h: &Home,
    eks: &aws_sdk_eks::Client,
    rack: &str,
    situation: &str,
    entries_before: &BTreeMap<String, Entry>,
) {
    let r = h.run(&["rack", "update", "3.24.6", "-r", rack]);
    assert!(r.status.success(), "{situation}: {}", r.stderr);
    assert!(!r.stderr.contains("WARNING"), "{situation}: {}", r.stderr);
    assert_eq!(&entries(eks, rack).await, entries_before, "{situation}");

    // Back up: the stored parameter acts again (and is still one-way).
    h.ok(&["rack", "update", "-r", rack]);
    let after = entries(eks, rack).await;
    for p in [CALLER_ROLE.to_string(), nodes_role(rack)] {
        assert!(
            after.contains_key(&p),
            "{situation}: {p} missing: {after:?}"
        );
    }
    let err = h.fails(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=false",
        "-r",
        rack,
    ]);
    assert!(err.contains("one-way"), "{situation}: {err}");
    let info = h.json(&["rack", "-r", rack]);
    assert_eq!(
        info["inactive_params"],
        serde_json::json!([]),
        "{situation}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downgrade_follows_every_row_of_the_seed_downgrade_table() {
    // The seed's downgrade table: kept aws-auth and API_AND_CONFIG_MAP (safe), API only (not
    // safe); with the caller's entry removed aws-auth cannot be read with its token, so the
    // Kubernetes side is unknown and taken as the risky row: refused unless forced. Convox reads
    // aws-auth: in API_AND_CONFIG_MAP with the nodes mapped a downgrade goes ahead with a
    // warning that aws-auth must be kept; in API it is refused (nothing changes) unless forced.
    // The risky row (aws-auth absent or not mapping the nodes, or unreadable) is tested with
    // kubectl in tests/conformance/test_convox_kube.py.
    // A downgrade never touches an entry, and the parameter acts again once back up.
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    let eks = h.eks("us-east-1");
    for (rack, situation) in [
        ("kept", "kept"),
        ("gone", "entries removed"),
        ("apionly", "API"),
    ] {
        h.install(rack, &[]);
        h.ok(&set_args(rack));
        match situation {
            "entries removed" => {
                for p in [CALLER_ROLE.to_string(), nodes_role(rack)] {
                    eks.delete_access_entry()
                        .cluster_name(rack)
                        .principal_arn(p)
                        .send()
                        .await
                        .expect("delete entry");
                }
            }
            "API" => set_mode(&eks, rack, "API").await,
            _ => {}
        }
        let mode_before = mode(&eks, rack).await;
        let entries_before = entries(&eks, rack).await;
        let args = ["rack", "update", "3.24.6", "-r", rack];

        let refused = situation != "kept";
        if refused {
            assert_downgrade_refused(&h, rack, situation, &args);
        }
        let forced = ["rack", "update", "3.24.6", "--force", "-r", rack];
        let (r, calls) = h.counted(if refused { &forced } else { &args });
        assert!(r.status.success(), "{situation}: {}", r.stderr);
        assert_eq!(
            r.stdout,
            format!("Updating rack {rack} to 3.24.6... OK\n"),
            "{situation}"
        );
        let warning = r
            .stderr
            .lines()
            .find(|l| l.starts_with("WARNING: "))
            .unwrap_or_else(|| panic!("{situation}: no warning in {}", r.stderr));
        assert!(
            warning.contains("eks_access_entries"),
            "{situation}: {warning}"
        );
        if situation == "API" {
            assert!(warning.contains("API mode"), "{warning}");
        } else if refused {
            assert!(warning.contains("--force"), "{warning}");
        } else {
            assert!(warning.contains("aws-auth"), "{situation}: {warning}");
        }
        assert_eq!(mutating(&calls), 0, "{situation}: {calls:?}");
        assert_eq!(h.json(&["rack", "-r", rack])["version"], "3.24.6");
        assert_eq!(mode(&eks, rack).await, mode_before, "{situation}");
        assert_eq!(entries(&eks, rack).await, entries_before, "{situation}");
        assert_downgrade_recorded(&h, rack, situation, refused);
        assert_inactive_then_back_up(&h, &eks, rack, situation, &entries_before).await;
    }
    // A rack that never set eks_access_entries moves down without a warning, and back up.
    h.install("plain", &[]);
    let r = h.run(&["rack", "update", "3.24.6", "-r", "plain"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert!(!r.stderr.contains("WARNING"), "{}", r.stderr);
    assert_eq!(h.json(&["rack", "-r", "plain"])["version"], "3.24.6");
    h.ok(&["rack", "update", "-r", "plain"]);
    assert_eq!(h.json(&["rack", "-r", "plain"])["version"], "3.24.7");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_and_karpenter_entries_and_the_admin_policy_come_back_after_rack_update() {
    // The reference implementation never re-checks after its first run; convox observes
    // every time. Beyond the nodes entry: the caller's policy, then the caller's and the
    // Karpenter node entries, removed out of band, are restored by `rack update`.
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    let eks = h.eks("us-east-1");
    h.install("mend", &["karpenter_auth_mode=true"]);
    h.ok(&set_args("mend"));
    let converged = entries(&eks, "mend").await;
    assert_eq!(converged.len(), 3, "{converged:?}");

    eks.disassociate_access_policy()
        .cluster_name("mend")
        .principal_arn(CALLER_ROLE)
        .policy_arn(admin_policy("aws"))
        .send()
        .await
        .expect("disassociate");
    assert_eq!(h.json(&["rack", "auth", "-r", "mend"])["converged"], false);
    let (r, calls) = h.counted(&["rack", "update", "-r", "mend"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(
        calls.get("eks:AssociateAccessPolicy"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(calls.get("eks:CreateAccessEntry"), None, "{calls:?}");
    assert_eq!(entries(&eks, "mend").await, converged);

    for p in [CALLER_ROLE.to_string(), karpenter_role("mend")] {
        eks.delete_access_entry()
            .cluster_name("mend")
            .principal_arn(p)
            .send()
            .await
            .expect("delete entry");
    }
    assert_eq!(h.json(&["rack", "auth", "-r", "mend"])["converged"], false);
    let (r, calls) = h.counted(&["rack", "update", "-r", "mend"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(calls.get("eks:CreateAccessEntry"), Some(&2), "{calls:?}");
    assert_eq!(
        calls.get("eks:AssociateAccessPolicy"),
        Some(&1),
        "{calls:?}"
    );
    assert_eq!(
        entries(&eks, "mend").await,
        converged,
        "same types, tags and policies as before"
    );
    assert_eq!(h.json(&["rack", "auth", "-r", "mend"])["converged"], true);
}

#[test]
fn all_table_rows_on_the_embedded_default() {
    // The same rows as above, but with no `convox sim serve`: each command starts the
    // simulator in-process, as a local rack does for a user, and the result is read back
    // with `convox rack auth`.
    let h = Home::new(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    for (n, (k, e)) in [(false, false), (true, false), (false, true), (true, true)]
        .into_iter()
        .enumerate()
    {
        let rack = format!("emb{n}");
        h.install(&rack, &[]);
        let kv_k = format!("karpenter_auth_mode={k}");
        let kv_e = format!("eks_access_entries={e}");
        let (r, calls) = h.counted(&["rack", "params", "set", &kv_k, &kv_e, "-r", &rack]);
        assert!(r.status.success(), "{k}/{e}: {}", r.stderr);
        assert_eq!(r.stdout, "Setting parameters... OK\n");
        assert_eq!(
            calls.get("eks:UpdateClusterConfig").copied().unwrap_or(0),
            u64::from(k || e),
            "{k}/{e}: {calls:?}"
        );
        let auth = h.json(&["rack", "auth", "-r", &rack]);
        let want_mode = if k || e {
            "API_AND_CONFIG_MAP"
        } else {
            "CONFIG_MAP"
        };
        assert_eq!(auth["auth_mode"], want_mode, "{k}/{e}");
        assert_eq!(auth["converged"], true, "{k}/{e}: {auth}");
        let row = &auth["table_row"];
        assert_eq!(row["auth_mode_switch"], k || e, "{auth}");
        assert_eq!(row["karpenter_node_entry"], k, "{auth}");
        assert_eq!(row["caller_entry"], e, "{auth}");
        assert_eq!(row["nodes_entry"], e, "{auth}");

        let mut want: BTreeMap<String, (&str, Vec<String>)> = BTreeMap::new();
        if k {
            want.insert(karpenter_role(&rack), ("EC2_LINUX", vec![]));
        }
        if e {
            want.insert(
                CALLER_ROLE.to_string(),
                ("STANDARD", vec![admin_policy("aws")]),
            );
            want.insert(nodes_role(&rack), ("EC2_LINUX", vec![]));
        }
        let mut got: BTreeMap<String, (&str, Vec<String>)> = BTreeMap::new();
        for entry in auth["entries"].as_array().expect("entries") {
            assert_eq!(entry["managed_by_rack"], true, "{entry}");
            let policies = entry["policies"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            assert_eq!(p["scope"]["type"], "cluster", "{p}");
                            p["policy_arn"].as_str().unwrap_or_default().to_string()
                        })
                        .collect()
                })
                .unwrap_or_default();
            let ty = match entry["type"].as_str() {
                Some("STANDARD") => "STANDARD",
                Some("EC2_LINUX") => "EC2_LINUX",
                other => panic!("unexpected type {other:?}"),
            };
            got.insert(
                entry["principal_arn"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                (ty, policies),
            );
        }
        assert_eq!(got, want, "{k}/{e}");
    }
}
