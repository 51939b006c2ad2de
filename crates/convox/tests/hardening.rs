//! Issue 6, defects 2, 4, 5 and 7, and its chaos test: through the `convox` binary on the
//! simulator, each written to fail on the code before the fix.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};

use aws_sdk_eks::types::{AuthenticationMode, UpdateAccessConfigRequest};
use common::*;

/// `GET /_sim/answers` of the served simulator: answers per operation and HTTP status.
fn sim_answers(h: &Home) -> BTreeMap<String, BTreeMap<String, u64>> {
    let url = h.endpoint.clone().expect("served");
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the simulator");
    write!(
        s,
        "GET /_sim/answers HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("read");
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("answers: {e}: {raw}"))
}

/// Starts an auth-mode update and returns without waiting for it.
async fn start_mode_update(eks: &aws_sdk_eks::Client, cluster: &str, to: &str) {
    eks.update_cluster_config()
        .name(cluster)
        .access_config(
            UpdateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::from(to))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("switch {cluster} to {to}: {e:?}"));
}

fn iam(h: &Home) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&h.sdk_config("us-east-1"))
}

// ---------------------------------------------------------------------------------------
// Defect 2: a mode about to change is judged by its target.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downgrade_during_an_update_to_api_is_judged_as_api() {
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    let eks = h.eks("us-east-1");
    h.install("mid", &[]);
    h.ok(&set_args("mid"));
    assert_eq!(mode(&eks, "mid").await, "API_AND_CONFIG_MAP");
    // An update to API that lasts (far) longer than the test: the cluster is UPDATING and
    // still reads API_AND_CONFIG_MAP throughout.
    h.ok(&["sim", "config", "update_ms=3600000"]);
    start_mode_update(&eks, "mid", "API").await;
    assert_eq!(mode(&eks, "mid").await, "API_AND_CONFIG_MAP");

    // `rack auth` shows where the mode is going.
    let auth = h.json(&["rack", "auth", "-r", "mid"]);
    assert_eq!(auth["auth_mode"], "API_AND_CONFIG_MAP", "{auth}");
    assert_eq!(auth["pending_auth_mode"], "API", "{auth}");
    let text = h.ok(&["rack", "auth", "-r", "mid"]);
    assert!(text.contains("changing to API"), "{text}");

    let before = h.json(&["rack", "-r", "mid"]);
    let args = ["rack", "update", "3.24.6", "-r", "mid"];
    let r = h.run(&args);
    let err = r.error_line(&args);
    assert!(
        err.contains("API mode") && err.contains("--force"),
        "refused as the API row: {err}"
    );
    assert!(
        !r.stderr.contains("WARNING"),
        "not warned as the safe row: {}",
        r.stderr
    );
    let after = h.json(&["rack", "-r", "mid"]);
    assert_eq!(before["version"], after["version"], "nothing changed");
    assert_eq!(before["history"], after["history"], "nothing recorded");

    // --force goes ahead (with the API row's warning), as for a cluster already in API.
    let r = h.run(&["rack", "update", "3.24.6", "-r", "mid", "--force"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert!(r.stderr.contains("API mode"), "{}", r.stderr);
    assert_eq!(h.json(&["rack", "-r", "mid"])["version"], "3.24.6");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_switch_already_under_way_is_waited_for_not_planned_again() {
    // A CONFIG_MAP cluster whose update to API_AND_CONFIG_MAP is running: the plan waits for
    // it and never plans a second switch (the dry run says so, the run makes no
    // UpdateClusterConfig of its own).
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    let eks = h.eks("us-east-1");
    h.install("under", &[]);
    h.ok(&["sim", "config", "update_ms=4000"]);
    start_mode_update(&eks, "under", "API_AND_CONFIG_MAP").await;
    let plan = h.json(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "-r",
        "under",
        "--dry-run",
    ]);
    assert_eq!(plan["pending_auth_mode"], "API_AND_CONFIG_MAP", "{plan}");
    let steps = plan["steps"].as_array().expect("steps");
    assert_eq!(steps[0]["step"], "wait-cluster-active", "{plan}");
    assert!(
        steps.iter().all(|s| s["step"] != "switch-auth-mode"),
        "{plan}"
    );
    let (r, calls) = h.counted(&set_args("under"));
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(calls.get("eks:UpdateClusterConfig"), None, "{calls:?}");
    assert_eq!(mode(&eks, "under").await, "API_AND_CONFIG_MAP");
    assert_eq!(h.json(&["rack", "auth", "-r", "under"])["converged"], true);
}

// ---------------------------------------------------------------------------------------
// Defect 4: every node role a plan needs is proven to exist, with IAM's own ARN.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn install_aws_refuses_a_node_role_iam_does_not_have() {
    let mut h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("made", &[]);
    h.use_served_sim_as_aws();
    let eks = h.eks("us-east-1");
    let good = nodes_role("made");
    let typo = format!("{good}z");
    let wrong_case = good.replace("made-nodes", "Made-Nodes");
    let wrong_path = good.replace("/convox/", "/other/");
    for (bad, flag) in [
        (typo.as_str(), "--nodes-role-arn"),
        (wrong_case.as_str(), "--nodes-role-arn"),
        (wrong_path.as_str(), "--nodes-role-arn"),
        (typo.as_str(), "--karpenter-nodes-role-arn"),
    ] {
        let nodes = if flag == "--nodes-role-arn" {
            bad
        } else {
            good.as_str()
        };
        let mut args = vec![
            "rack",
            "install",
            "aws",
            "adopted",
            "--cluster",
            "made",
            "--region",
            "us-east-1",
            "--nodes-role-arn",
            nodes,
        ];
        if flag != "--nodes-role-arn" {
            args.extend_from_slice(&[flag, bad]);
        }
        args.push("eks_access_entries=true");
        let err = h.fails(&args);
        assert!(err.contains(bad), "{bad}: {err}");
        assert!(err.contains(flag), "says which flag to fix: {err}");
        // Nothing stored, nothing changed in AWS.
        assert_eq!(
            h.json(&["racks"]).as_array().map(Vec::len),
            Some(1),
            "{bad}"
        );
        assert_eq!(mode(&eks, "made").await, "CONFIG_MAP", "{bad}");
    }
    // The path IAM has is named, so the user can copy it.
    let err = h.fails(&[
        "rack",
        "install",
        "aws",
        "adopted",
        "--cluster",
        "made",
        "--region",
        "us-east-1",
        "--nodes-role-arn",
        &wrong_path,
    ]);
    assert!(err.contains(&good), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_nodes_role_is_refused_before_the_mode_switch() {
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    let eks = h.eks("us-east-1");
    h.install("lost", &[]);
    iam(&h)
        .delete_role()
        .role_name("lost-nodes")
        .send()
        .await
        .expect("delete role");
    let params_before = h.json(&["rack", "params", "-r", "lost"]);
    let rack_before = h.json(&["rack", "-r", "lost"]);
    let nodes = nodes_role("lost");

    let dry = [
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "-r",
        "lost",
        "--dry-run",
    ];
    let dry_err = h.fails(&dry);
    let args = set_args("lost");
    let (r, calls) = h.counted(&args);
    let err = r.error_line(&args);
    assert_eq!(dry_err, err, "the dry run shows the same refusal");
    assert!(err.contains(&nodes) && err.contains("IAM"), "{err}");
    assert!(
        err.contains("uninstall"),
        "says how to change the role: {err}"
    );
    assert_eq!(mutating(&calls), 0, "{calls:?}");
    assert_eq!(mode(&eks, "lost").await, "CONFIG_MAP");
    assert_eq!(h.json(&["rack", "params", "-r", "lost"]), params_before);
    let rack_after = h.json(&["rack", "-r", "lost"]);
    assert_eq!(rack_after["status"], rack_before["status"]);
    assert_eq!(rack_after["history"], rack_before["history"]);
}

// ---------------------------------------------------------------------------------------
// Defect 5: karpenter_auth_mode needs a Karpenter nodes role.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn karpenter_auth_mode_without_a_karpenter_role_is_refused_with_what_to_do() {
    let mut h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("made", &[]);
    h.use_served_sim_as_aws();
    let eks = h.eks("us-east-1");
    let nodes = nodes_role("made");
    let install = |extra: &[&str]| {
        let mut a = vec![
            "rack",
            "install",
            "aws",
            "nok",
            "--cluster",
            "made",
            "--region",
            "us-east-1",
            "--nodes-role-arn",
            nodes.as_str(),
        ];
        a.extend_from_slice(extra);
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let args = install(&["karpenter_auth_mode=true"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = h.fails(&args);
    assert!(err.contains("--karpenter-nodes-role-arn"), "{err}");
    assert_eq!(h.json(&["racks"]).as_array().map(Vec::len), Some(1));

    let args = install(&[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    h.ok(&args);
    let set = [
        "rack",
        "params",
        "set",
        "karpenter_auth_mode=true",
        "-r",
        "nok",
    ];
    let (r, calls) = h.counted(&set);
    let err = r.error_line(&set);
    assert!(
        err.contains("Karpenter nodes role") && err.contains("--karpenter-nodes-role-arn"),
        "{err}"
    );
    assert_eq!(mutating(&calls), 0, "{calls:?}");
    assert_eq!(mode(&eks, "made").await, "CONFIG_MAP");
    let p = h.json(&["rack", "params", "-r", "nok"]);
    assert_eq!(p["karpenter_auth_mode"], "false", "{p}");
    let mut dry = set.to_vec();
    dry.push("--dry-run");
    assert_eq!(h.fails(&dry), err);
}

#[test]
fn rack_auth_reports_an_unmet_karpenter_row_as_drift() {
    // A rack that stored karpenter_auth_mode=true before it was refused without a Karpenter
    // nodes role (the state the defect left behind): `rack auth` must not say "Drift: none".
    let mut h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("made", &[]);
    h.use_served_sim_as_aws();
    h.ok(&[
        "rack",
        "install",
        "aws",
        "old",
        "--cluster",
        "made",
        "--region",
        "us-east-1",
        "--nodes-role-arn",
        &nodes_role("made"),
    ]);
    {
        let store = convox_store::Store::open(h.path()).expect("store");
        let lock = store
            .lock_rack("old", &convox_store::LockOptions::default())
            .expect("lock");
        let rack = store.fenced(&lock);
        let (id, _) = rack
            .begin_params_set(&["karpenter_auth_mode=true"], "test")
            .expect("store the legacy value");
        rack.finish_change(id, Ok(())).expect("finish");
    }
    let auth = h.json(&["rack", "auth", "-r", "old"]);
    assert_eq!(auth["converged"], false, "{auth}");
    let drift = auth["drift"].to_string();
    assert!(drift.contains("Karpenter nodes role"), "{auth}");
    let text = h.ok(&["rack", "auth", "-r", "old"]);
    assert!(!text.contains("Drift: none"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Defect 7: throttling and 5xx are survived up to the run's deadline.

#[test]
fn a_run_survives_throttling_that_outlasts_the_sdk_retries() {
    // One request per second per class with no burst: every concurrent round of reads is
    // throttled, far beyond what a few SDK attempts can absorb.
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("slow", &[]);
    h.ok(&["sim", "config", "throttle_rate=1", "throttle_burst=1"]);
    let r = h.run(&set_args("slow"));
    assert!(r.status.success(), "{}", r.stderr);
    h.ok(&["sim", "config", "throttle_rate=0"]);
    let auth = h.json(&["rack", "auth", "-r", "slow"]);
    assert_eq!(auth["converged"], true, "{auth}");
    assert_eq!(h.json(&["rack", "-r", "slow"])["status"], "running");
}

// ---------------------------------------------------------------------------------------
// The chaos test: the whole migration under throttling, 5xx and latency together.

/// After the chaos, one rack: converged, in the mode it should be, with the caller's, nodes'
/// and Karpenter's entries, running, no run pending or failed. Returns how many entries it
/// tagged as its own.
async fn assert_rack_converged(
    h: &Home,
    eks: &aws_sdk_eks::Client,
    rack: &str,
    start: &str,
) -> u64 {
    let auth = h.json(&["rack", "auth", "-r", rack]);
    assert_eq!(auth["converged"], true, "{rack} from {start}: {auth}");
    let want_mode = if start == "API" {
        "API"
    } else {
        "API_AND_CONFIG_MAP"
    };
    assert_eq!(mode(eks, rack).await, want_mode, "{rack}");
    let got = entries(eks, rack).await;
    for p in [
        CALLER_ROLE.to_string(),
        nodes_role(rack),
        karpenter_role(rack),
    ] {
        assert!(got.contains_key(&p), "{rack}: no entry for {p}: {got:?}");
    }
    let ours = got
        .values()
        .filter(|e| e.tags.get("convox:rack").map(String::as_str) == Some(rack))
        .count() as u64;
    let info = h.json(&["rack", "-r", rack]);
    assert_eq!(info["status"], "running", "{rack}: {info}");
    for e in info["history"].as_array().expect("history") {
        assert_ne!(e["result"], "pending", "{rack}: {info}");
        assert_ne!(e["result"], "failed", "{rack}: {info}");
    }
    ours
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_the_whole_migration_converges_from_every_starting_mode() {
    let h = Home::served(&["bootstrap_creator_admin=true", "auto_node_entries=true"]);
    let eks = h.eks("us-east-1");
    let starts = [
        ("cm", "CONFIG_MAP"),
        ("both", "API_AND_CONFIG_MAP"),
        ("api", "API"),
    ];
    for (rack, start) in starts {
        h.install(rack, &[]);
        if start != "CONFIG_MAP" {
            set_mode(&eks, rack, "API_AND_CONFIG_MAP").await;
        }
        if start == "API" {
            set_mode(&eks, rack, "API").await;
        }
    }
    h.ok(&["sim", "config", "update_ms=300", "propagation_ms=300"]);
    let before = sim_answers(&h);
    h.ok(&[
        "sim",
        "config",
        "throttle_rate=4",
        "throttle_burst=2",
        "error_rate=0.25",
        "seed=11",
        "latency_ms=20",
    ]);
    for (rack, _) in starts {
        h.ok(&[
            "rack",
            "params",
            "set",
            "eks_access_entries=true",
            "karpenter_auth_mode=true",
            "-r",
            rack,
        ]);
    }
    h.ok(&[
        "sim",
        "config",
        "throttle_rate=0",
        "error_rate=0",
        "latency_ms=0",
    ]);
    let after = sim_answers(&h);
    let created = |a: &BTreeMap<String, BTreeMap<String, u64>>, status: &str| {
        a.get("eks:CreateAccessEntry")
            .and_then(|s| s.get(status))
            .copied()
            .unwrap_or(0)
    };
    let mut ours = 0u64;
    for (rack, start) in starts {
        ours += assert_rack_converged(&h, &eks, rack, start).await;
    }
    // The faults did happen: throttled and failed answers, on reads and on changes.
    let faults = |status: &str| -> u64 {
        after
            .values()
            .map(|m| m.get(status).copied().unwrap_or(0))
            .sum::<u64>()
            - before
                .values()
                .map(|m| m.get(status).copied().unwrap_or(0))
                .sum::<u64>()
    };
    assert!(faults("429") > 0 && faults("500") > 0, "{after:?}");
    // Each entry the racks made was created exactly once: no create took effect twice, and
    // none was sent for an entry that already existed.
    assert_eq!(
        created(&after, "200") - created(&before, "200"),
        ours,
        "{after:?}"
    );
    assert_eq!(created(&after, "409"), created(&before, "409"), "{after:?}");
}
