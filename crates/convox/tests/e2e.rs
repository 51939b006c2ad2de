//! End-to-end scenarios of issue 3 through the `convox` binary, on the simulator.

mod common;

use std::collections::BTreeMap;

use common::*;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_as_an_assumed_role_with_a_path() {
    let h = Home::served(&["bootstrap_creator_admin=false"]);
    let conf = h.sdk_config("us-east-1");
    let iam = aws_sdk_iam::Client::new(&conf);
    let role = iam
        .create_role()
        .role_name("Deployer")
        .path("/team/platform/")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .expect("create role")
        .role
        .expect("role");
    let role_arn = role.arn().to_string();
    assert_eq!(
        role_arn,
        "arn:aws:iam::123456789012:role/team/platform/Deployer"
    );
    let sts = aws_sdk_sts::Client::new(&conf);
    let creds = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("ci-run-42")
        .send()
        .await
        .expect("assume role")
        .credentials
        .expect("creds");
    let mut h = h;
    h.act_as(&creds);
    h.install("pathy", &[]);
    h.ok(&set_args("pathy"));
    let got = entries(&h.eks("us-east-1"), "pathy").await;
    let e = got
        .get(&role_arn)
        .expect("entry for the role with its path");
    assert_eq!(e.entry_type, "STANDARD");
    assert_eq!(
        e.policies,
        vec![(admin_policy("aws"), "cluster".to_string())]
    );
    assert!(!got.contains_key("arn:aws:iam::123456789012:role/Deployer"));
    assert!(
        !got.contains_key(CALLER_ROLE),
        "the default identity was not used"
    );
    // The history's actor is the session.
    let rack = h.json(&["rack", "-r", "pathy"]);
    let last = &rack["history"][0];
    assert_eq!(last["action"], "params set");
    assert_eq!(last["result"], "ok");
    assert!(
        last["actor"]
            .as_str()
            .is_some_and(|a| a.ends_with("assumed-role/Deployer/ci-run-42")),
        "{last}"
    );
    let auth = h.json(&["rack", "auth", "-r", "pathy"]);
    assert_eq!(auth["caller"]["principal_arn"], role_arn.as_str());
    assert!(auth["caller"]["arn"]
        .as_str()
        .is_some_and(|a| a.ends_with("assumed-role/Deployer/ci-run-42")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cn_north_1_rack_gets_aws_cn_policy_arns() {
    let h = Home::served(&["bootstrap_creator_admin=false"]);
    h.install("china", &["--region", "cn-north-1"]);
    h.ok(&set_args("china"));
    let got = entries(&h.eks("cn-north-1"), "china").await;
    let standard: Vec<&Entry> = got
        .values()
        .filter(|e| e.entry_type == "STANDARD")
        .collect();
    assert_eq!(standard.len(), 1, "{got:?}");
    assert_eq!(
        standard[0].policies,
        vec![(admin_policy("aws-cn"), "cluster".to_string())]
    );
    let auth = h.json(&["rack", "auth", "-r", "china"]);
    assert_eq!(auth["converged"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_precreated_by_eks_are_accepted_not_duplicated() {
    // EKS's own behaviour on: creator admin entry + node group role entry appear at the switch.
    let h = Home::served(&[]);
    h.install("eksmade", &[]);
    let (r, calls) = h.counted(&set_args("eksmade"));
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(calls.get("eks:UpdateClusterConfig"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("eks:CreateAccessEntry"), None, "{calls:?}");
    assert_eq!(calls.get("eks:AssociateAccessPolicy"), None, "{calls:?}");
    let got = entries(&h.eks("us-east-1"), "eksmade").await;
    assert_eq!(got.len(), 2, "{got:?}");
    for e in got.values() {
        assert!(
            !e.tags.contains_key("convox:rack"),
            "EKS-made entries stay untouched"
        );
    }
    let auth = h.json(&["rack", "auth", "-r", "eksmade"]);
    assert_eq!(auth["converged"], true);
    for e in auth["entries"].as_array().expect("entries") {
        assert_eq!(e["managed_by_rack"], false);
    }
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let h = Home::new(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("dry", &[]);
    let (r, calls) = h.counted(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "--dry-run",
        "-r",
        "dry",
    ]);
    assert!(r.status.success(), "{}", r.stderr);
    assert!(
        r.stdout.contains("CONFIG_MAP -> API_AND_CONFIG_MAP"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("Setting parameters"), "{}", r.stdout);
    assert_eq!(mutating(&calls), 0, "{calls:?}");
    let plan = h.json(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "--dry-run",
        "-r",
        "dry",
    ]);
    let steps = plan["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4, "{plan}");
    assert_eq!(steps[0]["step"], "switch-auth-mode");
    assert_eq!(
        h.json(&["rack", "params", "-r", "dry"])["eks_access_entries"],
        "false"
    );
    assert_eq!(
        h.json(&["rack", "auth", "-r", "dry"])["auth_mode"],
        "CONFIG_MAP"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_one_line_errors() {
    let h = Home::served(&[]);
    // No rack at all.
    let err = h.fails(&["rack", "params"]);
    assert!(err.contains("no racks yet"), "{err}");
    let err = h.fails(&["rack", "auth", "-r", "nope"]);
    assert!(err.contains("no rack named nope"), "{err}");

    h.install("errs", &[]);
    // Selection by $CONVOX_RACK and by `convox switch`.
    let out = h
        .cmd(&["rack", "--output", "json"])
        .env("CONVOX_RACK", "errs")
        .output()
        .expect("run");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["name"], "errs");
    let err = h.fails(&["switch", "nope"]);
    assert!(err.contains("no rack named nope"), "{err}");
    h.ok(&["switch", "errs"]);
    assert_eq!(h.json(&["rack"])["name"], "errs");

    // Unreachable endpoint.
    let mut bad = h.cmd(&["rack", "auth", "-r", "errs"]);
    bad.env("CONVOX_SIM_ENDPOINT", "http://127.0.0.1:9");
    let out = bad.output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ERROR: cannot reach"), "{stderr}");

    // Credentials the service refuses.
    let mut creds = h.cmd(&["rack", "auth", "-r", "errs"]);
    creds
        .env("CONVOX_SIM_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
        .env("CONVOX_SIM_SECRET_ACCESS_KEY", "nope");
    let out = creds.output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERROR: AWS refused the credentials"),
        "{stderr}"
    );

    // The cluster disappeared.
    let eks = h.eks("us-east-1");
    for ng in eks
        .list_nodegroups()
        .cluster_name("errs")
        .send()
        .await
        .expect("list ng")
        .nodegroups()
    {
        eks.delete_nodegroup()
            .cluster_name("errs")
            .nodegroup_name(ng)
            .send()
            .await
            .expect("delete ng");
    }
    eks.delete_cluster()
        .name("errs")
        .send()
        .await
        .expect("delete cluster");
    let err = h.fails(&set_args("errs"));
    assert!(err.contains("not found"), "{err}");
    // Params were not stored (the failure happened before anything was begun).
    assert_eq!(
        h.json(&["rack", "params", "-r", "errs"])["eks_access_entries"],
        "false"
    );
}

#[test]
fn sim_env_prints_exports() {
    let h = Home::new(&[]);
    let out = h.ok(&["sim", "env"]);
    for k in [
        "AWS_ENDPOINT_URL=http://127.0.0.1:4599",
        "AWS_ACCESS_KEY_ID=ASIASIMULATEDCONVOX1",
        "AWS_SECRET_ACCESS_KEY=",
        "AWS_SESSION_TOKEN=convox-sim-default-session-token",
        "AWS_DEFAULT_REGION=us-east-1",
        "AWS_REGION=us-east-1",
    ] {
        assert!(out.contains(&format!("export {k}")), "{k}: {out}");
    }
    let cfg = h.json(&["sim", "config", "update_ms=1234"]);
    assert_eq!(cfg["update_ms"], 1234);
    assert!(h
        .run(&["sim", "config", "no_such_setting=1"])
        .stderr
        .contains("ERROR:"));
}

#[test]
fn uninstall_forgets_the_rack_and_deletes_its_cluster() {
    let h = Home::new(&[]);
    h.install("gone", &[]);
    h.ok(&["rack", "uninstall", "gone"]);
    let racks = h.json(&["racks"]);
    assert_eq!(racks.as_array().map(Vec::len), Some(0));
    // The name (and the cluster name) can be used again.
    h.install("gone", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_rack_uses_the_standard_chain() {
    // An `aws` rack reads credentials, region and AWS_ENDPOINT_URL exactly as the AWS CLI does;
    // pointed at the simulator, it adopts a cluster made there.
    let mut h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("made", &[]);
    h.use_served_sim_as_aws();
    let nodes = nodes_role("made");
    // A cluster that does not exist is refused and nothing is recorded.
    let err = h.fails(&[
        "rack",
        "install",
        "aws",
        "ghost",
        "--cluster",
        "nope",
        "--region",
        "us-east-1",
        "--nodes-role-arn",
        &nodes,
    ]);
    assert!(err.contains("not found"), "{err}");
    assert_eq!(h.json(&["racks"]).as_array().map(Vec::len), Some(1));

    h.ok(&[
        "rack",
        "install",
        "aws",
        "adopted",
        "--cluster",
        "made",
        "--region",
        "us-east-1",
        "--nodes-role-arn",
        &nodes,
        "eks_access_entries=true",
    ]);
    let r = h.json(&["rack", "-r", "adopted"]);
    assert_eq!(r["provider"], "aws");
    assert_eq!(r["status"], "running");
    let got = entries(&h.eks("us-east-1"), "made").await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got[&nodes].tags.get("convox:rack").map(String::as_str),
        Some("adopted")
    );
    assert_eq!(
        got[CALLER_ROLE].policies,
        vec![(admin_policy("aws"), "cluster".to_string())]
    );
}

#[test]
fn throttling_and_server_errors_are_retried() {
    let h = Home::served(&[
        "error_rate=0.1",
        "seed=7",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    h.install("flaky", &[]);
    h.ok(&set_args("flaky"));
    let auth = h.json(&["rack", "auth", "-r", "flaky"]);
    assert_eq!(auth["converged"], true);

    // Throttling: a bucket of 2 makes the 3 concurrent EKS reads of the first observation
    // exceed it, while refilling fast enough (10/s) that the SDK's jittered retries succeed
    // even on a loaded machine (a 5/s refill once ran out of attempts under parallel tests).
    h.ok(&[
        "sim",
        "config",
        "error_rate=0",
        "throttle_rate=10",
        "throttle_burst=2",
    ]);
    h.install("throttled", &[]);
    let (r, calls) = h.counted(&set_args("throttled"));
    assert!(r.status.success(), "{}", r.stderr);
    // Without faults: 7 observe + switch + poll + 5 re-observe + 2 creates + 1 associate = 17;
    // the throttled ones were retried on top.
    assert!(calls.values().sum::<u64>() > 17, "{calls:?}");
    h.ok(&["sim", "config", "throttle_rate=0"]);
    assert_eq!(
        h.json(&["rack", "auth", "-r", "throttled"])["converged"],
        true
    );
}

/// A conflict in the first plan refuses the change before anything is changed, in AWS or in
/// the store (issue 6, defect 6: it used to store the one-way value and fail the rack); once
/// the user fixes the conflict, the same command goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_refuses_with_nothing_stored_and_a_rerun_after_the_fix_succeeds() {
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    let eks = h.eks("us-east-1");
    h.install("clash", &[]);
    set_mode(&eks, "clash", "API_AND_CONFIG_MAP").await;
    // Someone made the nodes role a STANDARD entry: convox must not alter or delete it.
    eks.create_access_entry()
        .cluster_name("clash")
        .principal_arn(nodes_role("clash"))
        .r#type("STANDARD")
        .send()
        .await
        .expect("create conflicting entry");

    let err = h.fails(&set_args("clash"));
    assert!(
        err.contains(&nodes_role("clash")) && err.contains("STANDARD"),
        "{err}"
    );
    assert!(err.contains("EC2_LINUX"), "{err}");
    let rack = h.json(&["rack", "-r", "clash"]);
    assert_eq!(rack["status"], "running");
    assert!(rack["last_error"].is_null(), "{rack}");
    // Refused: nothing stored, so nothing one-way is set.
    assert_eq!(
        h.json(&["rack", "params", "-r", "clash"])["eks_access_entries"],
        "false"
    );
    let got = entries(&eks, "clash").await;
    assert_eq!(
        got[&nodes_role("clash")].entry_type,
        "STANDARD",
        "left alone"
    );
    let err = h.fails(&set_args("clash"));
    assert!(
        err.contains("STANDARD"),
        "a rerun runs (and meets the conflict again): {err}"
    );

    eks.delete_access_entry()
        .cluster_name("clash")
        .principal_arn(nodes_role("clash"))
        .send()
        .await
        .expect("delete");
    h.ok(&set_args("clash"));
    assert_eq!(h.json(&["rack", "-r", "clash"])["status"], "running");
    assert_eq!(
        entries(&eks, "clash").await[&nodes_role("clash")].entry_type,
        "EC2_LINUX"
    );
    h.ok(&[
        "rack",
        "params",
        "set",
        "karpenter_auth_mode=true",
        "-r",
        "clash",
    ]);
    assert!(entries(&eks, "clash")
        .await
        .contains_key(&karpenter_role("clash")));
}

/// What a [`RoundProxy`] saw of the requests through it.
#[derive(Debug, Default)]
struct Rounds {
    /// Requests sent and not answered yet.
    in_flight: usize,
    /// Most requests in flight at once.
    max_in_flight: usize,
    /// Times the number in flight went from 0 to 1: the sequential round trips.
    rounds: usize,
}

/// A TCP proxy in front of the simulator that tells, from the bytes alone, which requests
/// overlapped: a connection's request is in flight from its first byte towards the server
/// until the first byte of the answer comes back (HTTP/1.1, no pipelining). Two calls made
/// one after the other can never overlap, however slow the machine.
struct RoundProxy {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Rounds>>,
}

impl RoundProxy {
    fn start(upstream: &str) -> RoundProxy {
        use std::io::{Read, Write};
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::{Arc, Mutex};
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Rounds::default()));
        let shared = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                // Per connection: whether its request is in flight.
                let busy = Arc::new(Mutex::new(false));
                let pump = |mut from: TcpStream, mut to: TcpStream, request: bool| {
                    let (busy, seen) = (busy.clone(), shared.clone());
                    move || {
                        let mut buf = [0u8; 16384];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            {
                                // Marked before the bytes go on, so that an answer can
                                // never be counted before its request.
                                let mut b = busy.lock().expect("busy");
                                let mut s = seen.lock().expect("seen");
                                if request && !*b {
                                    *b = true;
                                    if s.in_flight == 0 {
                                        s.rounds += 1;
                                    }
                                    s.in_flight += 1;
                                    s.max_in_flight = s.max_in_flight.max(s.in_flight);
                                } else if !request && *b {
                                    *b = false;
                                    s.in_flight -= 1;
                                }
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Write);
                    }
                };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                std::thread::spawn(pump(client, server, true));
                std::thread::spawn(pump(s2, c2, false));
            }
        });
        RoundProxy { url, seen }
    }

    fn rounds(&self) -> (usize, usize) {
        let s = self.seen.lock().expect("seen");
        (s.rounds, s.max_in_flight)
    }
}

#[test]
fn no_op_run_issues_independent_calls_concurrently() {
    // 7 calls one after another would be 7 round trips; issued concurrently they are three
    // (identity, cluster and entries; the caller's role; the caller's entry and policies).
    // Counted at a proxy rather than timed: a loaded machine slows the run, never makes
    // sequential calls overlap.
    let mut h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("conc", &[]);
    let set = set_args("conc");
    h.ok(&set);
    // Latency keeps each request in flight long enough for its siblings to be sent.
    h.ok(&["sim", "config", "latency_ms=250"]);
    let proxy = RoundProxy::start(h.endpoint.as_deref().expect("served"));
    h.env = vec![("CONVOX_SIM_ENDPOINT".into(), proxy.url.clone())];
    let start = std::time::Instant::now();
    let (r, calls) = h.counted(&set);
    let took = start.elapsed();
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(calls.values().sum::<u64>(), 7, "{calls:?}");
    let (rounds, max_in_flight) = proxy.rounds();
    assert!(
        max_in_flight >= 2 && rounds <= 3,
        "no-op run made {rounds} sequential round trips, at most {max_in_flight} calls at once: calls are not concurrent"
    );
    assert!(
        took >= std::time::Duration::from_millis(750),
        "latency setting not applied ({took:?})"
    );
}

#[test]
fn entry_creation_waits_out_propagation_without_fixed_sleeps() {
    // Propagation long enough that the first create after the update is refused even when
    // the re-observation in between is slow (500 ms could leave room for none on a loaded
    // machine).
    let h = Home::served(&[
        "update_ms=200",
        "propagation_ms=2000",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    h.install("prop", &[]);
    let start = std::time::Instant::now();
    let (r, calls) = h.counted(&set_args("prop"));
    let took = start.elapsed();
    assert!(r.status.success(), "{}", r.stderr);
    // Refused while propagating, then retried: more attempts than entries.
    let creates = calls.get("eks:CreateAccessEntry").copied().unwrap_or(0);
    assert!(creates > 2, "{calls:?}");
    assert!(
        r.stderr.contains("propagating"),
        "progress shown: {}",
        r.stderr
    );
    // Not before U + P = 2.2 s (the simulator refuses until then). The upper bound only
    // catches a hang: how soon the retries come is the backoff's, checked exactly (not timed)
    // by convox-aws's unit tests.
    assert!(took >= std::time::Duration::from_millis(2200), "{took:?}");
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
    assert_eq!(h.json(&["rack", "auth", "-r", "prop"])["converged"], true);
}

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
            let rack_before = h.json(&["rack", "-r", rack]);
            let params_before = h.json(&["rack", "params", "-r", rack]);
            let (r, calls) = h.counted(&args);
            let err = r.error_line(&args);
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

        // At 3.24.6 nothing manages the entries: a repair run restores nothing, warns no more.
        let r = h.run(&["rack", "update", "3.24.6", "-r", rack]);
        assert!(r.status.success(), "{situation}: {}", r.stderr);
        assert!(!r.stderr.contains("WARNING"), "{situation}: {}", r.stderr);
        assert_eq!(entries(&eks, rack).await, entries_before, "{situation}");

        // Back up: the stored parameter acts again (and is still one-way).
        h.ok(&["rack", "update", "-r", rack]);
        let after = entries(&eks, rack).await;
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
