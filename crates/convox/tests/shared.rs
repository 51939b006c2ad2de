//! A rack store shared in PostgreSQL: two CONVOX_HOMEs on one database stand in for two
//! machines (each with its own CONVOX_HOST_ID, so neither can judge the other's pids: only
//! leases free a lock between them), one simulator both reach. Needs CONVOX_TEST_POSTGRES
//! (scripts/test starts a server); without it these tests are skipped with a note, unless
//! CONVOX_REQUIRE_POSTGRES=1: then they fail.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;

fn admin_url() -> Option<String> {
    if let Some(u) = std::env::var("CONVOX_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
    {
        return Some(u);
    }
    if std::env::var("CONVOX_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!("CONVOX_REQUIRE_POSTGRES=1 but CONVOX_TEST_POSTGRES is not set: run scripts/test");
    }
    eprintln!("skipped: no PostgreSQL server (set CONVOX_TEST_POSTGRES, or run scripts/test)");
    None
}

fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("url");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    format!("{scheme}://{}/{name}", &rest[..end])
}

/// Runs SQL on the admin database, on a thread of its own (the sync client must not block
/// inside the async tests' runtime).
fn admin_sql(admin: &str, sql: &str) -> Result<(), postgres::Error> {
    std::thread::scope(|s| {
        s.spawn(|| {
            postgres::Client::connect(admin, postgres::NoTls).and_then(|mut c| c.batch_execute(sql))
        })
        .join()
        .expect("admin thread")
    })
}

/// A database of the test's own, dropped with it.
struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    fn create(admin: &str) -> Database {
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "convox_bin_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        admin_sql(admin, &format!("CREATE DATABASE {name}")).expect("create database");
        Database {
            url: with_database(admin, &name),
            admin: admin.to_string(),
            name,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let _ = admin_sql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

/// Two machines of a team: `a` serves the simulator both use; both share the store.
struct Team {
    a: Home,
    b: Home,
    db: Database,
}

fn machine_env(h: &mut Home, url: &str, host: &str) {
    h.env = vec![
        ("CONVOX_STORE".into(), url.into()),
        ("CONVOX_HOST_ID".into(), host.into()),
    ];
}

impl Team {
    fn new(settings: &[&str]) -> Option<Team> {
        Team::on(&admin_url()?, settings)
    }

    fn on(admin: &str, settings: &[&str]) -> Option<Team> {
        let db = Database::create(admin);
        let mut a = Home::served(settings);
        let mut b = Home::new(settings);
        b.endpoint = a.endpoint.clone();
        machine_env(&mut a, &db.url, "machine-a");
        machine_env(&mut b, &db.url, "machine-b");
        Some(Team { a, b, db })
    }

    /// The shared store, as a third party looks at it.
    fn store(&self) -> convox_store::Store {
        convox_store::Store::open_url(&self.db.url, &self.a.path().join("observer"))
            .expect("open the shared store")
    }

    /// Sets `extra` for one machine's next commands (kept with its store and host).
    fn set_env(h: &mut Home, url: &str, host: &str, extra: &[(&str, &str)]) {
        machine_env(h, url, host);
        h.env
            .extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    }
}

fn spawn(h: &Home, args: &[&str]) -> Child {
    h.cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn convox")
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill")
        .success();
    assert!(ok, "kill {sig} {pid}");
}

/// Resumes a process this test stopped if the test fails before it does.
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

/// Polls until process `pid` holds `rack`'s lock (at most 20 s).
fn wait_lock_holder(store: &convox_store::Store, rack: &str, pid: u32) {
    let start = Instant::now();
    while store
        .lock_holder(rack)
        .expect("lock holder")
        .is_none_or(|h| h.pid != pid)
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "process {pid} never held rack {rack}'s lock"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn history(store: &convox_store::Store, rack: &str) -> Vec<convox_store::HistoryEntry> {
    store.history(Some(rack), 1000).expect("history")
}

/// What one machine does, the other sees: racks, history (who, when, what, result); the
/// current rack stays each machine's own.
#[test]
fn two_machines_share_racks_and_history() {
    let Some(t) = Team::new(&[]) else { return };
    t.a.install("alpha", &[]);
    t.b.install("beta", &[]);
    t.b.ok(&set_args("alpha"));
    for h in [&t.a, &t.b] {
        let racks = h.json(&["racks"]);
        let names: Vec<_> = racks
            .as_array()
            .expect("array")
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(names, ["alpha", "beta"], "{racks}");
    }
    let all = t.a.json(&["rack", "history"]);
    let rows = all.as_array().expect("array");
    let summary: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["rack"].as_str().unwrap_or_default().into(),
                r["action"].as_str().unwrap_or_default().into(),
                r["result"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("alpha".into(), "params set".into(), "ok".into()),
            ("beta".into(), "install".into(), "ok".into()),
            ("alpha".into(), "install".into(), "ok".into()),
        ],
        "{all}"
    );
    for r in rows {
        assert!(
            r["actor"].as_str().is_some_and(|a| a.starts_with("arn:")),
            "{r}"
        );
        assert!(r["at"].is_string() && r["finished_at"].is_string(), "{r}");
    }
    let one = t.b.ok(&["rack", "history", "-r", "alpha"]);
    assert!(
        one.contains("params set") && one.contains("eks_access_entries false -> true"),
        "{one}"
    );
    assert!(!one.contains("beta"), "{one}");
    let err = t.b.fails(&["rack", "history", "-r", "nope"]);
    assert!(err.contains("no rack named nope"), "{err}");

    t.a.ok(&["switch", "alpha"]);
    t.b.ok(&["switch", "beta"]);
    assert_eq!(t.a.ok(&["switch"]).trim(), "alpha");
    assert_eq!(t.b.ok(&["switch"]).trim(), "beta");
}

/// `params set` on one rack from both machines at once: the runs take turns (one change's
/// history row closes before the other's opens), and neither update is lost.
#[test]
fn concurrent_params_set_from_two_machines_serialize() {
    let Some(t) = Team::new(&["update_ms=300"]) else {
        return;
    };
    t.a.install("shared", &[]);
    let a_args = [
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "docker_hub_username=alice",
        "-r",
        "shared",
    ];
    let b_args = [
        "rack",
        "params",
        "set",
        "karpenter_auth_mode=true",
        "docker_hub_password=s3cret",
        "-r",
        "shared",
    ];
    let (ca, cb) = (spawn(&t.a, &a_args), spawn(&t.b, &b_args));
    for (c, args) in [(ca, &a_args[..]), (cb, &b_args[..])] {
        let out: Run = c.wait_with_output().expect("wait").into();
        assert!(out.status.success(), "{args:?}: {}", out.stderr);
    }
    let params = t.b.json(&["rack", "params", "--reveal", "-r", "shared"]);
    for (k, v) in [
        ("eks_access_entries", "true"),
        ("docker_hub_username", "alice"),
        ("karpenter_auth_mode", "true"),
        ("docker_hub_password", "s3cret"),
    ] {
        assert_eq!(params[k], v, "{k} lost: {params}");
    }
    let store = t.store();
    let sets: Vec<_> = history(&store, "shared")
        .into_iter()
        .filter(|e| e.action == "params set")
        .collect();
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert!(
        sets.iter()
            .all(|e| e.result == convox_store::ChangeResult::Ok),
        "{sets:?}"
    );
    // Newest first: the later one began after the earlier one finished.
    let earlier_end = sets[1].finished_at.clone().expect("finished");
    assert!(sets[0].at >= earlier_end, "interleaved: {sets:?}");
    assert_eq!(
        t.a.json(&["rack", "auth", "-r", "shared"])["converged"],
        true
    );
}

/// A run killed with -9 on one machine leaves its lock behind; the other machine cannot see
/// that process, so it waits for the lease to run out, then takes the rack over.
#[test]
fn a_holder_killed_on_another_machine_is_taken_over_after_its_lease() {
    let Some(mut t) = Team::new(&["bootstrap_creator_admin=false", "auto_node_entries=false"])
    else {
        return;
    };
    t.a.install("victim", &[]);
    let store = t.store();
    // A holds the lock, held at its first AWS call (the simulator stopped), then dies.
    let sim = t.a.server_pid();
    let _resume = ResumeOnPanic(sim);
    let url = t.db.url.clone();
    Team::set_env(
        &mut t.a,
        &url,
        "machine-a",
        &[("CONVOX_LOCK_LEASE_MS", "4000")],
    );
    signal(sim, "-STOP");
    let mut a = spawn(&t.a, &set_args("victim"));
    wait_lock_holder(&store, "victim", a.id());
    signal(a.id(), "-KILL");
    a.wait().expect("reap");
    signal(sim, "-CONT");
    let left = store
        .lock_holder("victim")
        .expect("holder")
        .expect("left behind");
    assert_eq!(left.host, "machine-a");

    // B waits for the lease (it says so), then does the change: its change begins after
    // A's lease ran out (the store's clock is this machine's here).
    let out = t.b.run(&set_args("victim"));
    assert!(out.status.success(), "B failed: {}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("held by process {}", left.pid)),
        "{}",
        out.stderr
    );
    assert_eq!(store.lock_holder("victim").expect("holder"), None);
    let hist = history(&store, "victim");
    assert_eq!(hist.len(), 2, "install and B's change: {hist:?}");
    assert_eq!(hist[0].result, convox_store::ChangeResult::Ok);
    let began =
        time::OffsetDateTime::parse(&hist[0].at, &time::format_description::well_known::Rfc3339)
            .expect("rfc3339");
    let began_ms = i64::try_from(began.unix_timestamp_nanos() / 1_000_000).expect("ms");
    assert!(
        began_ms >= left.renewed_at_ms + left.lease_ms,
        "B began {} ms before A's lease ran out",
        left.renewed_at_ms + left.lease_ms - began_ms
    );
    assert_eq!(
        t.b.json(&["rack", "auth", "-r", "victim"])["converged"],
        true
    );
}

/// A run on machine A stopped (SIGSTOP) past its lease while machine B takes the rack over
/// and is mid-change: A resumed writes nothing, says so in one line; B finishes as if A had
/// never been there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_stopped_past_its_lease_on_another_machine_writes_nothing() {
    let Some(mut t) = Team::new(&[
        "update_ms=3000",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]) else {
        return;
    };
    t.a.install("fenced", &[]);
    let eks = t.a.eks("us-east-1");
    let store = t.store();
    let url = t.db.url.clone();
    let sim = t.a.server_pid();
    let _resume_sim = ResumeOnPanic(sim);
    Team::set_env(
        &mut t.a,
        &url,
        "machine-a",
        &[("CONVOX_LOCK_LEASE_MS", "400")],
    );
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
    let a = spawn(&t.a, &a_args);
    let _resume_a = ResumeOnPanic(a.id());
    wait_lock_holder(&store, "fenced", a.id());
    signal(a.id(), "-STOP");
    signal(sim, "-CONT");

    Team::set_env(
        &mut t.b,
        &url,
        "machine-b",
        &[("CONVOX_LOCK_LEASE_MS", "60000")],
    );
    let b = spawn(&t.b, &set_args("fenced"));
    let _resume_b = ResumeOnPanic(b.id());
    wait_status(&eks, "fenced", "UPDATING").await;
    signal(b.id(), "-STOP");
    wait_lock_holder(&store, "fenced", b.id());
    let begun = history(&store, "fenced");
    assert_eq!(
        begun[0].result,
        convox_store::ChangeResult::Pending,
        "{begun:?}"
    );

    signal(a.id(), "-CONT");
    let out: Run = a.wait_with_output().expect("A").into();
    let err = out.error_line(&a_args);
    assert!(err.contains("took rack fenced over"), "{err}");
    assert_eq!(history(&store, "fenced"), begun, "A wrote history");
    assert_eq!(
        t.b.json(&["rack", "params", "-r", "fenced"])["docker_hub_username"],
        ""
    );

    signal(b.id(), "-CONT");
    let out: Run = b.wait_with_output().expect("B").into();
    assert!(out.status.success(), "B failed: {}", out.stderr);
    let hist = history(&store, "fenced");
    assert_eq!(hist.len(), 2, "{hist:?}");
    assert_eq!(hist[0].result, convox_store::ChangeResult::Ok);
    assert_eq!(
        t.a.json(&["rack", "auth", "-r", "fenced"])["converged"],
        true
    );
}

/// A local rack's cluster lives in one simulator: a shared store records it at install
/// (installing without a shared simulator is refused), and a machine that cannot reach it
/// says so instead of making a second cluster.
#[test]
fn a_local_rack_needs_the_simulator_it_was_made_in() {
    let Some(mut t) = Team::new(&[]) else { return };
    let alone = {
        let mut h = Home::new(&[]);
        machine_env(&mut h, &t.db.url, "machine-c");
        h
    };
    let err = alone.fails(&["rack", "install", "local", "lonely"]);
    assert!(
        err.contains("CONVOX_SIM_ENDPOINT") && err.contains("sim serve"),
        "{err}"
    );
    assert!(t.store().racks().expect("racks").is_empty());

    t.a.install("homed", &[]);
    // Machine B with no simulator configured uses the recorded one.
    t.b.endpoint = None;
    t.b.ok(&set_args("homed"));
    // Unreachable: said, nothing created, nothing recorded.
    let before = history(&t.store(), "homed");
    let dead = t.a.endpoint.clone().expect("endpoint");
    drop(std::mem::replace(&mut t.a, Home::new(&[])));
    let err = t.b.fails(&[
        "rack",
        "params",
        "set",
        "karpenter_auth_mode=true",
        "-r",
        "homed",
    ]);
    assert!(err.contains(&dead) && err.contains("cannot reach"), "{err}");
    assert_eq!(history(&t.store(), "homed"), before);
}

// ---- PostgreSQL restarts mid-run -----------------------------------------------------------

/// A PostgreSQL cluster of the test's own (scripts/pg-cluster), stopped with it.
struct Cluster {
    dir: tempfile::TempDir,
}

fn pg_cluster(args: &[&str]) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-cluster");
    std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("run scripts/pg-cluster")
}

impl Cluster {
    /// `None` (skipped) where PostgreSQL is not installed and not required.
    fn start() -> Option<(Cluster, String)> {
        admin_url()?;
        let dir = tempfile::tempdir().expect("tempdir");
        let out = pg_cluster(&["start", &dir.path().display().to_string()]);
        assert!(
            out.status.success(),
            "pg-cluster start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Some((Cluster { dir }, url))
    }
    fn stop(&self, mode: &str) {
        let out = pg_cluster(&["stop", &self.dir.path().display().to_string(), mode]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    fn restart(&self) {
        let out = pg_cluster(&["start", &self.dir.path().display().to_string()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = pg_cluster(&["stop", &self.dir.path().display().to_string(), "immediate"]);
    }
}

/// The database crashes (immediate stop) while a run waits for its mode switch: the run
/// fails with one ERROR line naming the store (password masked); what it had committed is
/// whole and nothing else is there; once the database is back, a rerun converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_restarting_mid_run_fails_cleanly_and_a_rerun_converges() {
    let Some((cluster, admin)) = Cluster::start() else {
        return;
    };
    let Some(t) = Team::on(
        &admin,
        &[
            "update_ms=1000",
            "bootstrap_creator_admin=false",
            "auto_node_entries=false",
        ],
    ) else {
        return;
    };
    t.a.install("chaos", &[]);
    let eks = t.a.eks("us-east-1");
    let sim = t.a.server_pid();
    let _resume = ResumeOnPanic(sim);
    let args = set_args("chaos");
    let run = spawn(&t.a, &args);
    // The change is recorded and the mode switch under way; the run is held at its next
    // call while the database goes down.
    wait_status(&eks, "chaos", "UPDATING").await;
    signal(sim, "-STOP");
    cluster.stop("immediate");
    signal(sim, "-CONT");
    let out: Run = run.wait_with_output().expect("run").into();
    let err = out.error_line(&args);
    assert!(err.contains("rack store postgres://convox:***@"), "{err}");
    let password = admin
        .split_once("://")
        .and_then(|(_, r)| r.split_once('@'))
        .and_then(|(u, _)| u.split_once(':'))
        .map(|(_, p)| p.to_string())
        .expect("password");
    assert!(!out.stderr.contains(&password), "{}", out.stderr);

    cluster.restart();
    let store = t.store();
    let hist = history(&store, "chaos");
    assert_eq!(hist.len(), 2, "the install and the change begun: {hist:?}");
    assert_eq!(hist[0].action, "params set");
    assert_eq!(
        t.b.json(&["rack", "params", "-r", "chaos"])["eks_access_entries"],
        "true"
    );
    // On the run's own machine its process is seen to be gone (elsewhere only the lease
    // tells, and it has not run out yet).
    assert_eq!(t.a.json(&["rack", "-r", "chaos"])["status"], "failed");

    t.a.ok(&args);
    let hist = history(&store, "chaos");
    assert_eq!(hist.len(), 3, "{hist:?}");
    assert_eq!(hist[0].result, convox_store::ChangeResult::Ok);
    assert!(
        hist.iter()
            .all(|e| e.result != convox_store::ChangeResult::Pending),
        "{hist:?}"
    );
    assert_eq!(
        t.b.json(&["rack", "auth", "-r", "chaos"])["converged"],
        true
    );
    assert_eq!(t.b.json(&["rack", "-r", "chaos"])["status"], "running");
}

/// The store's password is in no output: not in the ERROR line of a refused login, not in a
/// failure to connect, not in `--help` (which shows that $CONVOX_STORE is set, not its value).
#[test]
fn the_store_password_is_never_printed() {
    let Some(admin) = admin_url() else { return };
    let mut h = Home::new(&[]);
    let secret = "Sup3rSecretPassw0rd";
    let (scheme, rest) = admin.split_once("://").expect("url");
    let (userinfo, host) = rest.split_once('@').expect("user info");
    let user = userinfo.split(':').next().unwrap_or(userinfo);
    for url in [
        format!("{scheme}://{user}:{secret}@{host}"),
        format!("postgres://{user}:{secret}@127.0.0.1:9/convox?connect_timeout=5"),
    ] {
        machine_env(&mut h, &url, "machine-a");
        for args in [
            &["racks"][..],
            &["rack", "history"],
            &["rack", "install", "local", "x"],
        ] {
            let r = h.run(args);
            let err = r.error_line(args);
            assert!(err.contains(&format!("{user}:***@")), "{err}");
            assert!(
                !r.stderr.contains(secret) && !r.stdout.contains(secret),
                "{}",
                r.stderr
            );
        }
        let help = h.ok(&["--help"]);
        assert!(!help.contains(secret), "{help}");
        let r = h.run(&["--store", &url, "racks"]);
        assert!(!r.stderr.contains(secret), "{}", r.stderr);
    }
}
