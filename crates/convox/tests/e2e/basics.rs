//! The seed transcript, every table row, idempotent reruns, out-of-band repair, locking, refusals.

use super::*;

#[test]
fn seed_transcript_on_the_embedded_default() {
    let h = Home::new(&[]);
    h.install("rackName", &[]);
    let r = h.run(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "-r",
        "rackName",
    ]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(r.stdout, "Setting parameters... OK\n");
    assert!(!r.stderr.contains("ERROR"), "{}", r.stderr);

    let auth = h.json(&["rack", "auth", "-r", "rackName"]);
    assert_eq!(auth["auth_mode"], "API_AND_CONFIG_MAP");
    assert_eq!(auth["converged"], true);
    let entries = auth["entries"].as_array().expect("entries");
    let caller = entries
        .iter()
        .find(|e| e["principal_arn"] == CALLER_ROLE)
        .expect("caller entry");
    assert_eq!(caller["type"], "STANDARD");
    assert_eq!(caller["policies"][0]["policy_arn"], admin_policy("aws"));
    assert_eq!(caller["policies"][0]["scope"]["type"], "cluster");
    let nodes = entries
        .iter()
        .find(|e| e["principal_arn"] == nodes_role("rackName"))
        .expect("nodes entry");
    assert_eq!(nodes["type"], "EC2_LINUX");

    let params = h.json(&["rack", "params", "-r", "rackName"]);
    assert_eq!(params["eks_access_entries"], "true");
    let racks = h.json(&["racks"]);
    assert_eq!(racks[0]["status"], "running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_table_rows_from_each_starting_mode() {
    // EKS's own entries off, so what exists is exactly what convox made.
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    let eks = h.eks("us-east-1");
    let rows = [(false, false), (true, false), (false, true), (true, true)];
    let starts = ["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"];
    let mut n = 0;
    for start in starts {
        for (k, e) in rows {
            n += 1;
            let rack = format!("t{n}");
            h.install(&rack, &[]);
            if start != "CONFIG_MAP" {
                set_mode(&eks, &rack, "API_AND_CONFIG_MAP").await;
            }
            if start == "API" {
                set_mode(&eks, &rack, "API").await;
            }
            let kv_k = format!("karpenter_auth_mode={k}");
            let kv_e = format!("eks_access_entries={e}");
            let (r, calls) = h.counted(&["rack", "params", "set", &kv_k, &kv_e, "-r", &rack]);
            assert!(r.status.success(), "{start} {k}/{e}: {}", r.stderr);
            assert_eq!(r.stdout, "Setting parameters... OK\n");

            let want_mode = match (start, k || e) {
                ("CONFIG_MAP", false) => "CONFIG_MAP",
                ("CONFIG_MAP", true) => "API_AND_CONFIG_MAP",
                (s, _) => s,
            };
            assert_eq!(mode(&eks, &rack).await, want_mode, "{start} {k}/{e}");
            let switches = calls.get("eks:UpdateClusterConfig").copied().unwrap_or(0);
            assert_eq!(
                switches,
                u64::from(start == "CONFIG_MAP" && (k || e)),
                "{start} {k}/{e}: {calls:?}"
            );

            let mut want: BTreeMap<String, (&str, &str)> = BTreeMap::new();
            if k {
                want.insert(karpenter_role(&rack), ("EC2_LINUX", "karpenter-nodes"));
            }
            if e {
                want.insert(CALLER_ROLE.to_string(), ("STANDARD", "caller"));
                want.insert(nodes_role(&rack), ("EC2_LINUX", "nodes"));
            }
            let got = entries(&eks, &rack).await;
            assert_eq!(
                got.keys().collect::<Vec<_>>(),
                want.keys().collect::<Vec<_>>(),
                "{start} {k}/{e}"
            );
            for (p, (ty, role)) in &want {
                let g = &got[p];
                assert_eq!(g.entry_type, *ty, "{p}");
                assert_eq!(g.tags.get("convox:rack"), Some(&rack), "{p}");
                assert_eq!(g.tags.get("convox:entry").map(String::as_str), Some(*role));
                if *ty == "STANDARD" {
                    assert_eq!(
                        g.policies,
                        vec![(admin_policy("aws"), "cluster".to_string())]
                    );
                }
            }
            let creates = calls.get("eks:CreateAccessEntry").copied().unwrap_or(0);
            assert_eq!(creates, want.len() as u64, "{start} {k}/{e}: {calls:?}");
        }
    }
}

#[test]
fn second_run_changes_nothing_within_the_call_budget() {
    let h = Home::new(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("again", &[]);
    let set = set_args("again");
    let (r, first) = h.counted(&set);
    assert!(r.status.success(), "{}", r.stderr);
    // Exactly what the plan needs: one switch, two entries, one policy.
    assert_eq!(first.get("eks:UpdateClusterConfig"), Some(&1), "{first:?}");
    assert_eq!(first.get("eks:CreateAccessEntry"), Some(&2), "{first:?}");
    assert_eq!(
        first.get("eks:AssociateAccessPolicy"),
        Some(&1),
        "{first:?}"
    );

    let (r, second) = h.counted(&set);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(r.stdout, "Setting parameters... OK\n");
    let total: u64 = second.values().sum();
    assert!(total <= 8, "no-op run made {total} calls: {second:?}");
    assert_eq!(mutating(&second), 0, "{second:?}");

    // And `rack update` at the same version is a no-op too.
    let (r, upd) = h.counted(&["rack", "update", "-r", "again"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(mutating(&upd), 0, "{upd:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_deleted_out_of_band_is_back_after_rack_update() {
    let h = Home::served(&[]);
    let eks = h.eks("us-east-1");
    h.install("heal", &[]);
    h.ok(&set_args("heal"));
    eks.delete_access_entry()
        .cluster_name("heal")
        .principal_arn(nodes_role("heal"))
        .send()
        .await
        .expect("delete entry");
    assert!(!entries(&eks, "heal")
        .await
        .contains_key(&nodes_role("heal")));

    let auth = h.json(&["rack", "auth", "-r", "heal"]);
    assert_eq!(auth["converged"], false);
    let drift = auth["drift"].as_array().expect("drift");
    assert!(
        drift
            .iter()
            .any(|d| d.as_str().is_some_and(|s| s.contains(&nodes_role("heal")))),
        "{drift:?}"
    );

    let out = h.ok(&["rack", "update", "-r", "heal"]);
    assert!(out.contains("OK"), "{out}");
    let got = entries(&eks, "heal").await;
    let nodes = got.get(&nodes_role("heal")).expect("nodes entry is back");
    assert_eq!(nodes.entry_type, "EC2_LINUX");
    assert_eq!(
        nodes.tags.get("convox:rack").map(String::as_str),
        Some("heal")
    );
    assert_eq!(h.json(&["rack", "auth", "-r", "heal"])["converged"], true);
}

#[test]
fn concurrent_params_set_do_not_interleave() {
    // A visible update duration so the two runs really overlap.
    let h = Home::served(&[
        "update_ms=400",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    h.install("race", &[]);
    let set = set_args("race");
    let (stdouts, totals) = h.run_concurrently(&[set.clone(), set.clone()]);
    for out in stdouts {
        assert_eq!(out, "Setting parameters... OK\n");
    }
    // Serialised by the rack lock: the second run found the work done.
    assert_eq!(
        totals.get("eks:UpdateClusterConfig"),
        Some(&1),
        "{totals:?}"
    );
    assert_eq!(totals.get("eks:CreateAccessEntry"), Some(&2), "{totals:?}");
    assert_eq!(
        totals.get("eks:AssociateAccessPolicy"),
        Some(&1),
        "{totals:?}"
    );
    let r = h.json(&["rack", "-r", "race"]);
    assert_eq!(r["status"], "running");
}

#[test]
fn false_after_true_is_refused_and_stores_nothing() {
    let h = Home::new(&[]);
    h.install("oneway", &[]);
    h.ok(&set_args("oneway"));
    let before_params = h.json(&["rack", "params", "-r", "oneway"]);
    let before_rack = h.json(&["rack", "-r", "oneway"]);

    let err = h.fails(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=false",
        "-r",
        "oneway",
    ]);
    assert!(err.contains("one-way"), "{err}");
    for (args, needle) in [
        (
            vec!["eks_access_entrie=true"],
            "did you mean eks_access_entries",
        ),
        (vec!["eks_access_entries"], "KEY=VALUE"),
        (vec!["=true"], "empty parameter name"),
        (vec!["eks_access_entries=yes"], "true or false"),
        (
            vec!["eks_access_entries=true", "eks_access_entries=true"],
            "more than once",
        ),
        (vec!["region=eu-west-1"], "fixed at install"),
    ] {
        let mut a = vec!["rack", "params", "set"];
        a.extend(args.iter().copied());
        a.extend(["-r", "oneway"]);
        let err = h.fails(&a);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    assert_eq!(h.json(&["rack", "params", "-r", "oneway"]), before_params);
    assert_eq!(h.json(&["rack", "-r", "oneway"]), before_rack);
}

#[test]
fn too_new_parameter_names_the_version_and_a_downgrade_sets_it_aside() {
    let h = Home::new(&[]);
    h.install("old", &["--version", "3.24.6"]);
    let err = h.fails(&set_args("old"));
    assert!(err.contains("3.24.7"), "{err}");
    h.ok(&["rack", "update", "-r", "old"]);
    assert_eq!(h.json(&["rack", "-r", "old"])["version"], "3.24.7");
    h.ok(&set_args("old"));
    // Back down: allowed in API_AND_CONFIG_MAP (the seed's safe row), with a warning; the
    // parameter stays stored but no longer listed, and acts again once back up.
    let r = h.run(&["rack", "update", "3.24.6", "-r", "old"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert!(
        r.stderr.contains("WARNING:") && r.stderr.contains("eks_access_entries"),
        "{}",
        r.stderr
    );
    assert_eq!(h.json(&["rack", "-r", "old"])["version"], "3.24.6");
    assert!(h
        .json(&["rack", "params", "-r", "old"])
        .get("eks_access_entries")
        .is_none());
    let err = h.fails(&set_args("old"));
    assert!(err.contains("3.24.7"), "{err}");
}
