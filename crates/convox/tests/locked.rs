//! The locked-run protocol through the `convox` binary: a run that lost its lock writes
//! nothing (fencing), a refusal before the first AWS change leaves the store as it was, a
//! signal is said and recorded, and history stays readable when a change failed at length.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Resumes a process this test stopped if the test fails before it does, so that no stopped
/// process outlives a failed test.
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

fn spawn(h: &Home, args: &[&str]) -> Child {
    h.cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn convox")
}

/// Polls the rack store until process `pid` holds `rack`'s lock (at most 20 s).
fn wait_lock_holder(dir: &Path, rack: &str, pid: u32) {
    let store = convox_store::Store::open(dir).expect("open the rack store");
    let start = Instant::now();
    loop {
        if let Some(h) = store.lock_holder(rack).expect("lock holder") {
            if h.pid == pid {
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "process {pid} never held rack {rack}'s lock"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Every history row of `rack`, newest first, as the store has them.
fn history(dir: &Path, rack: &str) -> Vec<convox_store::HistoryEntry> {
    convox_store::Store::open(dir)
        .expect("open the rack store")
        .history(Some(rack), 1000)
        .expect("history")
}

/// Defect 1 of issue 6: a `params set` stopped while it observes, past its lease; another
/// run takes the rack over and is mid-way through its change when the first resumes. The
/// first must write nothing (no value, no row, no status) and say so in one ERROR line; the
/// run holding the lock must finish as if the first had never been there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_lost_its_lock_while_observing_writes_nothing() {
    let mut h = Home::served(&[
        "update_ms=3000",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    h.install("fenced", &[]);
    let eks = h.eks("us-east-1");

    // A is held at its first AWS call (the simulator is stopped), holding the lock; then
    // stopped itself, past its short lease.
    let sim = h.server_pid();
    let _resume_sim = ResumeOnPanic(sim);
    h.env = vec![("CONVOX_LOCK_LEASE_MS".into(), "400".into())];
    signal(sim, "-STOP");
    let a_args = [
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "docker_hub_username=alice",
        "-r",
        "fenced",
    ];
    let a = spawn(&h, &a_args);
    let _resume_a = ResumeOnPanic(a.id());
    wait_lock_holder(h.path(), "fenced", a.id());
    signal(a.id(), "-STOP");
    signal(sim, "-CONT");

    // B takes the rack over once A's lease ran out; it is stopped while it waits for its
    // mode switch, with a lease that outlasts the test.
    h.env = vec![("CONVOX_LOCK_LEASE_MS".into(), "60000".into())];
    let b = spawn(&h, &set_args("fenced"));
    let _resume_b = ResumeOnPanic(b.id());
    wait_status(&eks, "fenced", "UPDATING").await;
    signal(b.id(), "-STOP");
    wait_lock_holder(h.path(), "fenced", b.id());
    let begun = history(h.path(), "fenced");
    assert_eq!(
        begun[0].result,
        convox_store::ChangeResult::Pending,
        "B has begun: {begun:?}"
    );

    // A resumes: it finishes its observation, finds itself fenced out, writes nothing.
    signal(a.id(), "-CONT");
    let out: Run = a.wait_with_output().expect("A").into();
    let err = out.error_line(&a_args);
    assert!(err.contains("took rack fenced over"), "{err}");
    assert_eq!(
        history(h.path(), "fenced"),
        begun,
        "A changed history while B holds the rack"
    );
    let params = h.json(&["rack", "params", "-r", "fenced"]);
    assert_eq!(
        params["docker_hub_username"], "",
        "A's value landed: {params}"
    );

    // B finishes its change as if A had never been there.
    signal(b.id(), "-CONT");
    let out: Run = b.wait_with_output().expect("B").into();
    assert!(out.status.success(), "B failed: {}", out.stderr);
    let rack = h.json(&["rack", "-r", "fenced"]);
    assert_eq!(rack["status"], "running", "{rack}");
    assert!(rack["last_error"].is_null(), "{rack}");
    let hist = history(h.path(), "fenced");
    assert_eq!(hist.len(), 2, "install and B's change only: {hist:?}");
    assert_eq!(hist[0].id, begun[0].id);
    assert_eq!(hist[0].result, convox_store::ChangeResult::Ok, "{hist:?}");
    assert!(
        !hist
            .iter()
            .any(|e| e.what.to_string().contains("docker_hub")),
        "{hist:?}"
    );
    assert_eq!(h.json(&["rack", "auth", "-r", "fenced"])["converged"], true);
}

/// Defect 6 of issue 6: a conflict in the first plan (someone made the nodes role a STANDARD
/// entry) refuses the change with AWS untouched, and the store exactly as it was: no stored
/// value, no history row, status unchanged; so `false` is still accepted and an unrelated
/// change needs no --force.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_in_the_first_plan_leaves_the_store_as_it_was() {
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    let eks = h.eks("us-east-1");
    h.install("clash", &[]);
    set_mode(&eks, "clash", "API_AND_CONFIG_MAP").await;
    eks.create_access_entry()
        .cluster_name("clash")
        .principal_arn(nodes_role("clash"))
        .r#type("STANDARD")
        .send()
        .await
        .expect("create conflicting entry");
    let rack_before = h.json(&["rack", "-r", "clash"]);
    let params_before = h.json(&["rack", "params", "-r", "clash"]);
    let racks_before = h.json(&["racks"]);

    let (r, calls) = h.counted(&set_args("clash"));
    let err = r.error_line(&set_args("clash"));
    assert!(
        err.contains(&nodes_role("clash")) && err.contains("STANDARD"),
        "{err}"
    );
    assert_eq!(err.matches("rerun").count(), 1, "{err}");
    assert_eq!(mutating(&calls), 0, "{calls:?}");

    assert_eq!(h.json(&["rack", "-r", "clash"]), rack_before);
    assert_eq!(h.json(&["rack", "params", "-r", "clash"]), params_before);
    assert_eq!(params_before["eks_access_entries"], "false");
    assert_eq!(h.json(&["racks"]), racks_before);
    let hist = history(h.path(), "clash");
    assert_eq!(hist.len(), 1, "only the install: {hist:?}");

    // Not one-way-locked, not failed: `false` and an unrelated change go through as usual.
    h.ok(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=false",
        "-r",
        "clash",
    ]);
    h.ok(&[
        "rack",
        "params",
        "set",
        "docker_hub_username=me",
        "-r",
        "clash",
    ]);
    assert_eq!(h.json(&["rack", "-r", "clash"])["status"], "running");
    assert_eq!(
        entries(&eks, "clash").await[&nodes_role("clash")].entry_type,
        "STANDARD",
        "left alone"
    );
}

/// When the caller is the nodes role, no entry exists to blame: the refusal says that one
/// principal cannot be both, what to do, says "rerun" once, and changes nothing.
#[test]
fn the_caller_as_the_nodes_role_is_refused_for_what_it_is() {
    let mut h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("base", &[]);
    h.use_served_sim_as_aws();
    h.ok(&[
        "rack",
        "install",
        "aws",
        "same",
        "--cluster",
        "base",
        "--region",
        "us-east-1",
        "--nodes-role-arn",
        CALLER_ROLE,
    ]);
    let before = h.json(&["rack", "-r", "same"]);
    let (r, calls) = h.counted(&set_args("same"));
    let err = r.error_line(&set_args("same"));
    assert!(
        err.contains(CALLER_ROLE)
            && err.contains("both the caller role")
            && err.contains("nodes role"),
        "{err}"
    );
    // The cluster is in CONFIG_MAP mode: it has no access entry at all.
    assert!(
        !err.contains("conflicting access entries") && !err.contains("has access entries"),
        "names entries that do not exist: {err}"
    );
    assert!(err.contains("another identity"), "says what to do: {err}");
    assert_eq!(err.matches("rerun").count(), 1, "{err}");
    assert_eq!(mutating(&calls), 0, "{calls:?}");
    assert_eq!(h.json(&["rack", "-r", "same"]), before);
}

/// Ctrl-C / SIGTERM while a run waits for its mode switch: one line says what was
/// interrupted, history records the change as interrupted (nothing left pending, matching
/// what `racks` shows), and the exit status is 128 + the signal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_interrupted_by_a_signal_says_so_and_records_it() {
    let h = Home::served(&[
        // Long enough that the signal lands in the wait however slow the machine.
        "update_ms=15000",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    let eks = h.eks("us-east-1");
    for (rack, sig, name, code) in [
        ("term", "-TERM", "SIGTERM", 143),
        ("int", "-INT", "SIGINT", 130),
    ] {
        h.install(rack, &[]);
        let child = spawn(&h, &set_args(rack));
        wait_status(&eks, rack, "UPDATING").await;
        signal(child.id(), sig);
        let out: Run = child.wait_with_output().expect("wait").into();
        assert_eq!(out.status.code(), Some(code), "{rack}: {}", out.stderr);
        let err = out.error_line(&set_args(rack));
        assert!(
            err.contains("interrupted") && err.contains(name) && err.contains(rack),
            "{err}"
        );
        let hist = history(h.path(), rack);
        assert!(
            hist.iter()
                .all(|e| e.result != convox_store::ChangeResult::Pending),
            "{hist:?}"
        );
        assert_eq!(hist[0].action, "params set");
        assert_eq!(hist[0].result, convox_store::ChangeResult::Failed);
        assert!(
            hist[0]
                .message
                .as_deref()
                .is_some_and(|m| m.contains("interrupted") && m.contains(name)),
            "{hist:?}"
        );
        let r = h.json(&["rack", "-r", rack]);
        assert_eq!(r["status"], "failed", "{r}");
        let racks = h.json(&["racks"]);
        let listed = racks
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == rack))
            .expect("listed");
        assert_eq!(listed["status"], "failed", "{racks}");
    }
}

/// A long failure message is kept whole in the store (and JSON), but the history table
/// shows a one-line summary of it. (The nodes role goes while the switch runs: one missing
/// before the run is refused before anything is recorded.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_text_shows_a_bounded_summary_of_a_long_error() {
    let h = Home::served(&[
        "update_ms=1500",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    h.install("long", &[]);
    let iam = aws_sdk_iam::Client::new(&h.sdk_config("us-east-1"));
    let child = h
        .cmd(&set_args("long"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_status(&h.eks("us-east-1"), "long", "UPDATING").await;
    iam.delete_role()
        .role_name("long-nodes")
        .send()
        .await
        .expect("delete nodes role");
    let r: Run = child.wait_with_output().expect("wait").into();
    r.error_line(&set_args("long"));
    let rack = h.json(&["rack", "-r", "long"]);
    let full = rack["history"][0]["message"]
        .as_str()
        .expect("message")
        .to_string();
    assert!(full.len() > 150, "a long message to begin with: {full}");
    assert_eq!(rack["last_error"], full.as_str());

    let text = h.ok(&["rack", "-r", "long"]);
    let row = text
        .lines()
        .skip_while(|l| !l.starts_with("Recent changes:"))
        .find(|l| l.contains("params set"))
        .expect("history row");
    assert!(!row.contains(&full), "{row}");
    let result = row
        .split("params set")
        .nth(1)
        .expect("result column")
        .trim_start();
    assert!(result.starts_with("failed: "), "{row}");
    let head: String = full.chars().take(40).collect();
    assert!(result.contains(&head), "a summary of the message: {row}");
    assert!(
        row.chars().count() <= 240,
        "{} chars: {row}",
        row.chars().count()
    );
}
