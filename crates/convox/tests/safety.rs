//! Adversarial scenarios of the reconciler through the `convox` binary: partial failures,
//! other actors changing the cluster, killed runs, read-after-write lag, a second caller,
//! two racks on one cluster. Each asserts what must never happen (a lockout, a delete, an
//! alteration of what the rack did not create, a half-applied change that a rerun cannot
//! finish) as well as the convergence.

mod common;

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;

/// Operations that delete or alter (never allowed by convox).
fn destructive(calls: &BTreeMap<String, u64>) -> Vec<String> {
    calls
        .keys()
        .filter(|k| {
            k.contains("Delete") || k.contains("Disassociate") || k.contains("UpdateAccessEntry")
        })
        .cloned()
        .collect()
}

/// The switch succeeds, then creating the nodes entry fails for good (its IAM role is gone):
/// the error names the cluster and principal, the store keeps the requested parameters and
/// marks the rack failed, `rack auth` shows what is missing, the caller keeps its access,
/// and once the cause is fixed a plain rerun finishes the job without repeating the switch.
/// The role goes while the switch runs: a role missing before the run is refused before the
/// switch (issue 6, defect 4), so only a role lost after that check can fail an entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_failure_after_the_switch_is_recorded_and_a_rerun_finishes() {
    let h = Home::served(&[
        "update_ms=1500",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    h.install("half", &[]);
    let conf = h.sdk_config("us-east-1");
    let iam = aws_sdk_iam::Client::new(&conf);
    let eks = h.eks("us-east-1");

    let calls_file = h.path().join("half-calls.json");
    let child = h
        .cmd(&set_args("half"))
        .env("CONVOX_CALLS_FILE", &calls_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_status(&eks, "half", "UPDATING").await;
    iam.delete_role()
        .role_name("half-nodes")
        .send()
        .await
        .expect("delete nodes role");
    let r: Run = child.wait_with_output().expect("wait").into();
    let calls = read_calls(&calls_file);
    let err = r.error_line(&set_args("half"));
    assert!(err.contains("half"), "names the cluster: {err}");
    assert!(
        err.contains(&nodes_role("half")),
        "names the principal: {err}"
    );
    assert!(destructive(&calls).is_empty(), "{calls:?}");
    assert_eq!(calls.get("eks:UpdateClusterConfig"), Some(&1), "{calls:?}");

    assert_eq!(mode(&eks, "half").await, "API_AND_CONFIG_MAP");
    let got = entries(&eks, "half").await;
    assert_eq!(
        got.get(CALLER_ROLE).map(|e| e.policies.clone()),
        Some(vec![(admin_policy("aws"), "cluster".to_string())]),
        "the caller got its access first: {got:?}"
    );

    let rack = h.json(&["rack", "-r", "half"]);
    assert_eq!(rack["status"], "failed", "{rack}");
    assert!(rack["last_error"]
        .as_str()
        .is_some_and(|e| e.contains(&nodes_role("half"))));
    assert_eq!(rack["history"][0]["result"], "failed");
    assert_eq!(
        h.json(&["rack", "params", "-r", "half"])["eks_access_entries"],
        "true",
        "requested parameters are kept for the rerun"
    );
    let auth = h.json(&["rack", "auth", "-r", "half"]);
    assert_eq!(auth["converged"], false);
    assert!(
        auth["drift"].as_array().is_some_and(|d| d
            .iter()
            .any(|x| x.as_str().is_some_and(|s| s.contains(&nodes_role("half"))))),
        "{auth}"
    );

    // Fix the cause, rerun the very same command.
    iam.create_role()
        .role_name("half-nodes")
        .path("/convox/")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .expect("recreate nodes role");
    let (r, calls) = h.counted(&set_args("half"));
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(r.stdout, "Setting parameters... OK\n");
    assert_eq!(calls.get("eks:UpdateClusterConfig"), None, "{calls:?}");
    assert_eq!(calls.get("eks:CreateAccessEntry"), Some(&1), "{calls:?}");
    assert!(destructive(&calls).is_empty(), "{calls:?}");
    let rack = h.json(&["rack", "-r", "half"]);
    assert_eq!(rack["status"], "running");
    assert!(rack["last_error"].is_null(), "{rack}");
    assert_eq!(h.json(&["rack", "auth", "-r", "half"])["converged"], true);
}

/// Another role runs the rack next: it gets its own entry; the first caller's entry (made
/// by this rack) stays exactly as it was; nothing is deleted or altered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_caller_gets_an_entry_and_the_old_callers_is_left_alone() {
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("handover", &[]);
    h.ok(&set_args("handover"));
    let eks = h.eks("us-east-1");
    let before = entries(&eks, "handover").await;
    assert!(before.contains_key(CALLER_ROLE));

    let conf = h.sdk_config("us-east-1");
    let role_arn = aws_sdk_iam::Client::new(&conf)
        .create_role()
        .role_name("NextOperator")
        .path("/teams/")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .expect("create role")
        .role
        .expect("role")
        .arn()
        .to_string();
    let creds = aws_sdk_sts::Client::new(&conf)
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("next")
        .send()
        .await
        .expect("assume")
        .credentials
        .expect("creds");
    let mut h = h;
    h.act_as(&creds);
    let auth = h.json(&["rack", "auth", "-r", "handover"]);
    assert_eq!(auth["converged"], false, "the new caller has no entry yet");

    let (r, calls) = h.counted(&["rack", "update", "-r", "handover"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert!(destructive(&calls).is_empty(), "{calls:?}");
    assert_eq!(calls.get("eks:CreateAccessEntry"), Some(&1), "{calls:?}");
    let after = entries(&eks, "handover").await;
    for (p, e) in &before {
        assert_eq!(after.get(p), Some(e), "entry {p} changed");
    }
    let new = after.get(&role_arn).expect("new caller's entry");
    assert_eq!(new.entry_type, "STANDARD");
    assert_eq!(
        new.policies,
        vec![(admin_policy("aws"), "cluster".to_string())]
    );
    assert_eq!(after.len(), before.len() + 1);

    // The old caller, running again, is still converged (its entry is still there).
    h.env.clear();
    let (r, calls) = h.counted(&set_args("handover"));
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(mutating(&calls), 0, "{calls:?}");
}

/// With read-after-write lag, an entry just created is invisible for a while: runs right
/// after a create must still succeed, never create twice, never fail on "already exists".
#[test]
fn read_after_write_lag_never_fails_a_run_or_duplicates_an_entry() {
    let h = Home::served(&[
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
        "read_lag_ms=700",
    ]);
    h.install("laggy", &[]);
    let (r, calls) = h.counted(&set_args("laggy"));
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(calls.get("eks:UpdateClusterConfig"), Some(&1), "{calls:?}");
    assert!(destructive(&calls).is_empty(), "{calls:?}");
    // Immediately again: the entries exist but are not visible yet.
    let start = Instant::now();
    let (r, calls) = h.counted(&["rack", "update", "-r", "laggy"]);
    let took = start.elapsed();
    assert!(r.status.success(), "{}", r.stderr);
    assert!(destructive(&calls).is_empty(), "{calls:?}");
    assert_eq!(calls.get("eks:UpdateClusterConfig"), None, "{calls:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    let auth = h.json(&["rack", "auth", "-r", "laggy"]);
    assert_eq!(auth["entries"].as_array().map(Vec::len), Some(2), "{auth}");
    assert_eq!(auth["converged"], true);
}

/// A run killed (kill -9) while it waits for the auth-mode update: the rack then reads as
/// failed (interrupted), not as updating; the rerun neither waits for the dead run's lock nor
/// switches again; it waits for the running update and finishes; history shows the dead run
/// as interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_during_the_update_wait_is_finished_by_the_rerun() {
    let h = Home::served(&[
        "update_ms=1500",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    h.install("killed", &[]);
    let eks = h.eks("us-east-1");
    let mut child = h
        .cmd(&set_args("killed"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    wait_status(&eks, "killed", "UPDATING").await;
    child.kill().expect("kill -9");
    let _ = child.wait();
    // Nobody is changing the rack any more: it reads as failed, interrupted, not updating.
    let rack = h.json(&["rack", "-r", "killed"]);
    assert_eq!(rack["status"], "failed", "{rack}");
    assert!(
        rack["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("interrupted")),
        "{rack}"
    );
    assert_eq!(h.json(&["racks"])[0]["status"], "failed");

    let start = Instant::now();
    let (r, calls) = h.counted(&set_args("killed"));
    assert!(r.status.success(), "{}", r.stderr);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "waited for a dead run's lock? {:?}",
        start.elapsed()
    );
    assert_eq!(calls.get("eks:UpdateClusterConfig"), None, "{calls:?}");
    assert!(destructive(&calls).is_empty(), "{calls:?}");
    let rack = h.json(&["rack", "-r", "killed"]);
    assert_eq!(rack["status"], "running");
    let hist = rack["history"].as_array().expect("history");
    assert_eq!(hist[0]["result"], "ok");
    assert_eq!(hist[1]["result"], "failed");
    assert!(hist[1]["message"]
        .as_str()
        .is_some_and(|m| m.contains("interrupted")));
    assert_eq!(h.json(&["rack", "auth", "-r", "killed"])["converged"], true);
}

/// Someone else started the auth-mode update: convox waits for it instead of failing or
/// starting another, then creates the entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_started_by_someone_else_is_waited_for() {
    let h = Home::served(&[
        "update_ms=800",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    h.install("theirs", &[]);
    let eks = h.eks("us-east-1");
    eks.update_cluster_config()
        .name("theirs")
        .access_config(
            aws_sdk_eks::types::UpdateAccessConfigRequest::builder()
                .authentication_mode(aws_sdk_eks::types::AuthenticationMode::ApiAndConfigMap)
                .build(),
        )
        .send()
        .await
        .expect("their update");
    let (r, calls) = h.counted(&set_args("theirs"));
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(calls.get("eks:UpdateClusterConfig"), None, "{calls:?}");
    assert_eq!(h.json(&["rack", "auth", "-r", "theirs"])["converged"], true);
}

/// Two racks adopting one cluster, set at the same time: both succeed, each principal has
/// exactly one entry, the mode switched once, nothing deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_racks_sharing_a_cluster_set_concurrently() {
    let mut h = Home::served(&[
        "update_ms=300",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    h.install("shared", &[]);
    h.use_served_sim_as_aws();
    let nodes = nodes_role("shared");
    h.ok(&[
        "rack",
        "install",
        "aws",
        "twin",
        "--cluster",
        "shared",
        "--region",
        "us-east-1",
        "--nodes-role-arn",
        &nodes,
    ]);
    let (_, totals) = h.run_concurrently(&[set_args("shared"), set_args("twin")]);
    assert!(destructive(&totals).is_empty(), "{totals:?}");
    let got = entries(&h.eks("us-east-1"), "shared").await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[&nodes].entry_type, "EC2_LINUX");
    assert_eq!(
        got[CALLER_ROLE].policies,
        vec![(admin_policy("aws"), "cluster".to_string())]
    );
    for rack in ["shared", "twin"] {
        assert_eq!(h.json(&["rack", "-r", rack])["status"], "running");
        assert_eq!(h.json(&["rack", "auth", "-r", rack])["converged"], true);
    }
}

/// `convox ARGS` started with its output captured.
fn spawn_piped(h: &Home, args: &[&str]) -> std::process::Child {
    h.cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

/// While a run holds the rack (waiting for its update), readers answer at once and see it
/// updating; a second `params set` waits for the lock and is validated against what the
/// first stored (a `false` that was fine before is refused after the first set `true`, and
/// stores nothing), and a compatible one lands on top of the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_and_a_second_writer_while_a_run_holds_the_rack() {
    let h = Home::served(&[
        "update_ms=3000",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    h.install("busy", &[]);
    // The writer is stopped (SIGSTOP) while it holds the rack, so it holds it for as long as
    // the readers take, however slow the machine: no race between them and its update. Its
    // lease outlasts any reader, so a reader that waited for the lock would wait a minute.
    let mut h = h;
    h.env = vec![("CONVOX_LOCK_LEASE_MS".into(), "60000".into())];
    let eks = h.eks("us-east-1");
    let first = spawn_piped(&h, &set_args("busy"));
    wait_status(&eks, "busy", "UPDATING").await;
    let _resume = ResumeOnPanic(first.id());
    signal(first.id(), "-STOP");
    let refused = spawn_piped(
        &h,
        &[
            "rack",
            "params",
            "set",
            "eks_access_entries=false",
            "-r",
            "busy",
        ],
    );
    let stacked = spawn_piped(
        &h,
        &[
            "rack",
            "params",
            "set",
            "karpenter_auth_mode=true",
            "-r",
            "busy",
        ],
    );

    let start = Instant::now();
    let racks = h.json(&["racks"]);
    assert_eq!(racks[0]["status"], "updating", "{racks}");
    assert_eq!(
        h.json(&["rack", "params", "-r", "busy"])["eks_access_entries"],
        "true"
    );
    let auth = h.json(&["rack", "auth", "-r", "busy"]);
    assert_eq!(auth["converged"], false);
    let plan = h.json(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "-r",
        "busy",
        "--dry-run",
    ]);
    assert_eq!(plan["dry_run"], true);
    assert!(
        // The writer cannot let go while stopped; readers that waited for its lock would
        // only get on when its 60 s lease ran out.
        start.elapsed() < Duration::from_secs(30),
        "readers waited for the writer: {:?}",
        start.elapsed()
    );

    signal(first.id(), "-CONT");
    let out = first.wait_with_output().expect("first");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = refused.wait_with_output().expect("refused");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "false after true must be refused");
    assert!(err.contains("ERROR: ") && err.contains("one-way"), "{err}");
    let out = stacked.wait_with_output().expect("stacked");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let params = h.json(&["rack", "params", "-r", "busy"]);
    assert_eq!(params["eks_access_entries"], "true");
    assert_eq!(params["karpenter_auth_mode"], "true");
    let got = entries(&eks, "busy").await;
    assert!(got.contains_key(&karpenter_role("busy")), "{got:?}");
    assert!(got.contains_key(&nodes_role("busy")), "{got:?}");
    let auth = h.json(&["rack", "auth", "-r", "busy"]);
    assert_eq!(auth["converged"], true);
    assert_eq!(h.json(&["rack", "-r", "busy"])["status"], "running");
}

/// Resumes a process this test stopped if the test fails before it does, so that no stopped
/// `convox` outlives a failed test.
struct ResumeOnPanic(u32);

impl Drop for ResumeOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = std::process::Command::new("kill")
                .args(["-CONT", &self.0.to_string()])
                .status();
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// A run stopped (Ctrl-Z) for longer than its lock's lease loses the rack to the next run.
/// When it resumes it must not act or record on top of the run that took over: it stops
/// with a message saying so, and the store keeps the other run's result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_lost_its_lock_while_stopped_stops_and_records_nothing() {
    let h = Home::served(&[
        "update_ms=2500",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    h.install("stopped", &[]);
    let mut h = h;
    h.env = vec![("CONVOX_LOCK_LEASE_MS".into(), "400".into())];
    let eks = h.eks("us-east-1");
    let first = h
        .cmd(&set_args("stopped"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_status(&eks, "stopped", "UPDATING").await;
    let _resume = ResumeOnPanic(first.id());
    signal(first.id(), "-STOP");
    tokio::time::sleep(Duration::from_millis(800)).await;

    let (r, calls) = h.counted(&set_args("stopped"));
    assert!(r.status.success(), "the next run takes over: {}", r.stderr);
    assert_eq!(calls.get("eks:UpdateClusterConfig"), None, "{calls:?}");
    assert_eq!(h.json(&["rack", "-r", "stopped"])["status"], "running");

    signal(first.id(), "-CONT");
    let out = first.wait_with_output().expect("first");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("ERROR: ") && err.contains("took rack stopped over"),
        "{err}"
    );
    let rack = h.json(&["rack", "-r", "stopped"]);
    assert_eq!(rack["status"], "running", "{rack}");
    assert!(rack["last_error"].is_null(), "{rack}");
    let hist = rack["history"].as_array().expect("history");
    assert_eq!(hist[0]["result"], "ok", "{rack}");
    assert_eq!(hist[1]["result"], "failed", "{rack}");
    assert!(hist[1]["message"]
        .as_str()
        .is_some_and(|m| m.contains("interrupted")));
    assert_eq!(
        h.json(&["rack", "auth", "-r", "stopped"])["converged"],
        true
    );
}
