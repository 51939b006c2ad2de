//! Fleet runs on local racks: `convox racks params set|update|auth`, validation of every rack
//! before any runs, one failing rack not stopping the others, the summary's JSON, and a fleet
//! that converges under the simulator's throttling with few throttled calls.

mod common;

use common::*;

/// Each rack's history length and cluster mode, as the store and `rack auth` report them.
fn states(h: &Home, racks: &[&str]) -> Vec<(usize, String)> {
    racks
        .iter()
        .map(|r| {
            let info = h.json(&["rack", "-r", r]);
            let auth = h.json(&["rack", "auth", "-r", r]);
            (
                info["history"].as_array().map_or(0, Vec::len),
                auth["auth_mode"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// One rack refuses (its version has no eks_access_entries): the ERROR line names it and
/// why, and no rack — not even those that would accept — is changed or called.
#[test]
fn one_refusing_rack_stops_the_whole_fleet_before_anything_runs() {
    let h = Home::new(&[]);
    for r in ["a", "b"] {
        h.install(r, &[]);
    }
    h.install("old", &["--version", "3.24.6"]);
    let racks = ["a", "b", "old"];
    let before = states(&h, &racks);
    let args = ["racks", "params", "set", "eks_access_entries=true", "--all"];
    let (run, calls) = h.counted(&args);
    let err = run.error_line(&args);
    assert!(err.contains("1 of 3 racks refuse"), "{err}");
    assert!(
        err.contains("old: eks_access_entries requires rack version 3.24.7"),
        "{err}"
    );
    assert!(calls.is_empty(), "AWS was called: {calls:?}");
    assert_eq!(states(&h, &racks), before);
    assert!(before.iter().all(|(_, m)| m == "CONFIG_MAP"), "{before:?}");
    // An unknown parameter is every rack's refusal, each named.
    let bad = ["racks", "params", "set", "nope=1", "-r", "a", "-r", "b"];
    let err = h.fails(&bad);
    assert!(
        err.contains("a: unknown parameter nope") && err.contains("b: unknown parameter nope"),
        "{err}"
    );
    // Selections that pick nothing, or a rack that is not there.
    for (sel, says) in [
        (
            &["--filter", "provider=aws"][..],
            "no rack matches --filter provider=aws",
        ),
        (&["-r", "zz"], "no rack named zz"),
        (&["--filter", "colour=red"], "unknown key `colour`"),
    ] {
        let mut a = vec!["racks", "params", "set", "eks_access_entries=true"];
        a.extend_from_slice(sel);
        let err = h.fails(&a);
        assert!(err.contains(says), "{err}");
    }
    assert_eq!(states(&h, &racks), before);
}

/// One rack's cluster has an entry the rack will not change (the nodes role as STANDARD,
/// made out of band): that rack fails with the conflict, the others converge, the exit is 1
/// and the ERROR line names it; the JSON summary says the same per rack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_rack_does_not_stop_the_others_and_is_named() {
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    let racks = ["r1", "r2", "r3", "r4"];
    for r in racks {
        h.install(r, &[]);
    }
    let eks = h.eks("us-east-1");
    set_mode(&eks, "r3", "API_AND_CONFIG_MAP").await;
    eks.create_access_entry()
        .cluster_name("r3")
        .principal_arn(nodes_role("r3"))
        .r#type("STANDARD")
        .send()
        .await
        .expect("out-of-band entry");
    let args = [
        "racks",
        "params",
        "set",
        "eks_access_entries=true",
        "--all",
        "--parallel",
        "2",
        "--output",
        "json",
    ];
    let run = h.run(&args);
    let err = run.error_line(&args);
    assert!(err.contains("1 of 4 racks failed: r3"), "{err}");
    assert_eq!(run.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json summary");
    assert_eq!(v["action"], "params set");
    assert_eq!(v["parallel"], 2);
    assert_eq!(v["failed"], serde_json::json!(["r3"]));
    assert_eq!(v["ok"], serde_json::json!(["r1", "r2", "r4"]));
    let lines = v["racks"].as_array().expect("racks");
    assert_eq!(lines.len(), 4);
    for l in lines {
        let name = l["rack"].as_str().expect("rack");
        for key in [
            "before_mode",
            "after_mode",
            "entries_created",
            "seconds",
            "api_calls",
            "throttled_calls",
            "error",
            "result",
        ] {
            assert!(l.get(key).is_some(), "{key} missing: {l}");
        }
        if name == "r3" {
            assert_eq!(l["result"], "failed");
            assert!(
                l["error"].as_str().unwrap_or_default().contains("r3"),
                "{l}"
            );
        } else {
            assert_eq!(l["result"], "ok", "{l}");
            assert_eq!(l["before_mode"], "CONFIG_MAP");
            assert_eq!(l["after_mode"], "API_AND_CONFIG_MAP");
            // The nodes entry and the caller's.
            assert_eq!(l["entries_created"], 2, "{l}");
            assert_eq!(mode(&eks, name).await, "API_AND_CONFIG_MAP");
        }
    }
    // The text table: one row per rack, the failure spelled out below it (a rerun: the
    // converged racks have nothing to do, r3 refuses again).
    let text = h.run(&["racks", "params", "set", "eks_access_entries=true", "--all"]);
    assert_eq!(text.status.code(), Some(1));
    assert!(text.stdout.starts_with("RACK"), "{}", text.stdout);
    assert!(text.stdout.contains("r3: "), "{}", text.stdout);
    assert!(text.stdout.contains("3 of 4 racks ok"), "{}", text.stdout);
    assert!(
        text.stderr.contains("[4/4]"),
        "a plain line per rack: {}",
        text.stderr
    );
}

/// `racks auth`: one line per rack, before and after a fleet migration.
#[test]
fn racks_auth_shows_every_rack_in_one_table() {
    let h = Home::new(&[]);
    for r in ["x", "y"] {
        h.install(r, &[]);
    }
    h.ok(&[
        "racks",
        "params",
        "set",
        "eks_access_entries=true",
        "-r",
        "x",
    ]);
    let v = h.json(&["racks", "auth", "--all"]);
    let lines = v.as_array().expect("array");
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["rack"], "x");
    assert_eq!(lines[0]["auth_mode"], "API_AND_CONFIG_MAP");
    assert_eq!(lines[1]["auth_mode"], "CONFIG_MAP");
    for l in lines {
        assert_eq!(l["aws_auth"], "present", "{l}");
        assert_eq!(l["converged"], true, "{l}");
        assert!(
            l["table_row"]
                .as_str()
                .unwrap_or_default()
                .starts_with("| false |"),
            "{l}"
        );
    }
    let text = h.ok(&["racks", "auth", "--all"]);
    assert!(text.starts_with("RACK"), "{text}");
    assert_eq!(text.lines().count(), 3, "{text}");
}

/// The simulator limits EKS reads and changes per account (20/s, bursts of 5): eight racks
/// migrated at once all converge, and the shared bucket keeps throttled calls few (a storm
/// of 8 racks × 4 concurrent calls would be throttled more often than served).
#[test]
fn a_throttled_fleet_converges_with_few_throttled_calls() {
    let h = Home::new(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    let racks: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    for r in &racks {
        h.install(r, &[]);
    }
    h.ok(&["sim", "config", "throttle_rate=20", "throttle_burst=5"]);
    let args = [
        "racks",
        "params",
        "set",
        "eks_access_entries=true",
        "--all",
        "--output",
        "json",
    ];
    let (run, calls) = h.counted(&args);
    assert!(run.status.success(), "{}\n{}", run.stderr, run.stdout);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(v["ok"].as_array().map(Vec::len), Some(8), "{v}");
    let total: u64 = calls.values().sum();
    let throttled = v["throttled_calls"].as_u64().expect("throttled_calls");
    assert!(total > 0);
    assert!(
        throttled * 5 < total,
        "{throttled} of {total} calls throttled: {calls:?}"
    );
    h.ok(&["sim", "config", "throttle_rate=0"]);
    let auth = h.json(&["racks", "auth", "--all"]);
    for l in auth.as_array().expect("array") {
        assert_eq!(l["converged"], true, "{l}");
        assert_eq!(l["auth_mode"], "API_AND_CONFIG_MAP", "{l}");
    }
}

/// SIGINT while the first of three racks is mid-change (--parallel 1): it is recorded as
/// interrupted, as a single-rack run records itself, the other two are not started (nothing
/// in their history), the summary says so per rack, and the exit status is 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_fleet_run_records_its_running_rack_and_starts_no_more() {
    let h = Home::served(&["update_ms=5000"]);
    for r in ["i1", "i2", "i3"] {
        h.install(r, &[]);
    }
    let eks = h.eks("us-east-1");
    let args = [
        "racks",
        "params",
        "set",
        "eks_access_entries=true",
        "--all",
        "--parallel",
        "1",
        "--output",
        "json",
    ];
    let child = h
        .cmd(&args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_status(&eks, "i1", "UPDATING").await;
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let out: Run = child.wait_with_output().expect("wait").into();
    assert_eq!(out.status.code(), Some(130), "{}", out.stderr);
    let err = out.error_line(&args);
    assert!(
        err.contains("racks i1 were recorded as interrupted, 2 not started"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json summary");
    let results: Vec<&str> = v["racks"]
        .as_array()
        .expect("racks")
        .iter()
        .map(|r| r["result"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        results,
        ["interrupted", "not_started", "not_started"],
        "{v}"
    );
    let hist = h.json(&["rack", "history", "-r", "i1"]);
    let last = &hist.as_array().expect("array")[0];
    assert_eq!(last["action"], "params set", "{hist}");
    assert!(last.to_string().contains("interrupted by SIGINT"), "{last}");
    for r in ["i2", "i3"] {
        let hist = h.json(&["rack", "history", "-r", r]);
        assert_eq!(
            hist.as_array().map(Vec::len),
            Some(1),
            "only the install: {hist}"
        );
    }
}
