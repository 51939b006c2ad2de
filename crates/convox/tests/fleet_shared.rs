//! Fleet runs on a rack store shared in PostgreSQL: two CONVOX_HOMEs (two machines) running
//! fleet runs over the same racks at once serialize per rack; the database restarting in the
//! middle of a fleet run fails it cleanly and a rerun converges. Needs CONVOX_TEST_POSTGRES
//! (scripts/test starts a server); skipped with a note without it unless
//! CONVOX_REQUIRE_POSTGRES=1.

mod common;

use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

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

/// Runs SQL on the admin database on a thread of its own (the sync client must not block
/// inside an async test's runtime).
fn admin_sql(admin: &str, sql: &str) {
    std::thread::scope(|s| {
        s.spawn(|| {
            postgres::Client::connect(admin, postgres::NoTls)
                .and_then(|mut c| c.batch_execute(sql))
                .expect("admin sql")
        })
        .join()
        .expect("admin thread")
    })
}

/// Two machines on one new database: `a` serves the simulator both use. The database's URL.
fn team(admin: &str, settings: &[&str]) -> (Home, Home, String) {
    static N: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "convox_fleet_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    admin_sql(admin, &format!("CREATE DATABASE {name}"));
    let (scheme, rest) = admin.split_once("://").expect("url");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let url = format!("{scheme}://{}/{name}", &rest[..end]);
    let mut a = Home::served(settings);
    let mut b = Home::new(settings);
    b.endpoint = a.endpoint.clone();
    for (h, host) in [(&mut a, "machine-a"), (&mut b, "machine-b")] {
        h.env = vec![
            ("CONVOX_STORE".into(), url.clone()),
            ("CONVOX_HOST_ID".into(), host.into()),
        ];
    }
    (a, b, url)
}

fn spawn(h: &Home, args: &[&str]) -> Child {
    h.cmd(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn convox")
}

fn history(url: &str, dir: &Path, rack: &str) -> Vec<convox_store::HistoryEntry> {
    convox_store::Store::open_url(url, &dir.join("observer"))
        .expect("open the shared store")
        .history(Some(rack), 100)
        .expect("history")
}

const RACKS: [&str; 3] = ["f1", "f2", "f3"];

/// Machine A and machine B each run a fleet `params set` over the same three racks at once:
/// both succeed, and on every rack one change ran after the other (never interleaved),
/// each recorded whole.
#[test]
fn fleet_runs_from_two_machines_serialize_per_rack() {
    let Some(admin) = admin_url() else { return };
    let (a, b, url) = team(&admin, &["update_ms=400"]);
    for r in RACKS {
        a.install(r, &[]);
    }
    let args_a = [
        "racks",
        "params",
        "set",
        "eks_access_entries=true",
        "docker_hub_username=alice",
        "--all",
    ];
    let args_b = [
        "racks",
        "params",
        "set",
        "docker_hub_username=bob",
        "--all",
        "--parallel",
        "1",
    ];
    let (ra, rb) = (spawn(&a, &args_a), spawn(&b, &args_b));
    for (c, args) in [(ra, &args_a[..]), (rb, &args_b[..])] {
        let out: Run = c.wait_with_output().expect("wait").into();
        assert!(
            out.status.success(),
            "{args:?}: {}\n{}",
            out.stderr,
            out.stdout
        );
    }
    for r in RACKS {
        let sets: Vec<_> = history(&url, a.path(), r)
            .into_iter()
            .filter(|e| e.action == "params set")
            .collect();
        assert_eq!(sets.len(), 2, "{r}: {sets:?}");
        assert!(
            sets.iter()
                .all(|e| e.result == convox_store::ChangeResult::Ok),
            "{sets:?}"
        );
        let earlier_end = sets[1].finished_at.clone().expect("finished");
        assert!(sets[0].at >= earlier_end, "{r} interleaved: {sets:?}");
        let p = b.json(&["rack", "params", "-r", r]);
        assert_eq!(p["eks_access_entries"], "true", "{r}: {p}");
        assert!(["alice", "bob"].contains(&p["docker_hub_username"].as_str().unwrap_or_default()));
    }
    let auth = b.json(&["racks", "auth", "--all"]);
    for l in auth.as_array().expect("array") {
        assert_eq!(l["converged"], true, "{l}");
    }
}

fn pg_cluster(args: &[&str]) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pg-cluster");
    std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("run scripts/pg-cluster")
}

/// A PostgreSQL cluster of the test's own, stopped with it.
struct Cluster(tempfile::TempDir);

impl Cluster {
    fn dir(&self) -> String {
        self.0.path().display().to_string()
    }
    fn run(&self, args: &[&str]) -> String {
        let out = pg_cluster(args);
        assert!(
            out.status.success(),
            "pg-cluster {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = pg_cluster(&["stop", &self.dir(), "immediate"]);
    }
}

/// The database crashes while a fleet run's racks wait for their mode switches: the run
/// fails (exit 1, naming the racks), nothing is half-written (each rack's history holds
/// whole changes only, its parameters as the change recorded them), and once the database
/// is back a rerun converges every rack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_restarting_mid_fleet_run_fails_cleanly_and_a_rerun_converges() {
    if admin_url().is_none() {
        return;
    }
    let cluster = Cluster(tempfile::tempdir().expect("tempdir"));
    let admin = cluster.run(&["start", &cluster.dir()]);
    let settings = [
        "update_ms=1500",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ];
    let (a, b, url) = team(&admin, &settings);
    for r in RACKS {
        a.install(r, &[]);
    }
    let eks = a.eks("us-east-1");
    let args = ["racks", "params", "set", "eks_access_entries=true", "--all"];
    let run = spawn(&a, &args);
    for r in RACKS {
        wait_status(&eks, r, "UPDATING").await;
    }
    cluster.run(&["stop", &cluster.dir(), "immediate"]);
    let out: Run = run.wait_with_output().expect("run").into();
    let err = out.error_line(&args);
    assert!(
        err.contains("3 of 3 racks failed: f1, f2, f3"),
        "{err}\n{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("rack store postgres://"),
        "{}",
        out.stdout
    );

    cluster.run(&["start", &cluster.dir()]);
    for r in RACKS {
        let hist = history(&url, a.path(), r);
        assert_eq!(
            hist.len(),
            2,
            "{r}: the install and the change begun: {hist:?}"
        );
        assert_eq!(hist[0].action, "params set");
        assert_eq!(
            b.json(&["rack", "params", "-r", r])["eks_access_entries"],
            "true"
        );
    }
    a.ok(&args);
    for r in RACKS {
        let hist = history(&url, a.path(), r);
        assert_eq!(
            hist[0].result,
            convox_store::ChangeResult::Ok,
            "{r}: {hist:?}"
        );
        assert!(
            hist.iter()
                .all(|e| e.result != convox_store::ChangeResult::Pending),
            "{hist:?}"
        );
        assert_eq!(b.json(&["rack", "-r", r])["status"], "running");
        assert_eq!(mode(&eks, r).await, "API_AND_CONFIG_MAP");
    }
}
