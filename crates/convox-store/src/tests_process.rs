//! Locks held by another process: contention, and a holder killed (reaped or not).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::test_db::{Db, Spec, SPEC_ENV};
use crate::tests::opts;
use crate::StoreError;

const CHILD_ENV: &str = "CONVOX_STORE_TEST_LOCK_CHILD";

/// Not a test on its own: when spawned by the tests below (env set), holds the lock of
/// rack `r1` in the given state dir, writes a marker file, then sleeps.
#[test]
fn lock_child_helper() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let hold_ms: u64 = std::env::var("CONVOX_STORE_TEST_HOLD_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let dir = PathBuf::from(dir);
    let s = Spec::from_env().open();
    let g = s
        .lock_rack("r1", &opts(0, 30_000, "child"))
        .expect("child lock");
    std::fs::write(dir.join("child-locked"), std::process::id().to_string()).expect("marker");
    std::thread::sleep(Duration::from_millis(hold_ms));
    drop(g);
}

fn spawn_child(db: &Db, hold_ms: u64) -> std::process::Child {
    let dir = db.dir();
    let exe = std::env::current_exe().expect("exe");
    let child = std::process::Command::new(exe)
        .args([
            "--exact",
            "tests_process::lock_child_helper",
            "--test-threads=1",
            "--quiet",
        ])
        .env(CHILD_ENV, dir)
        .env(SPEC_ENV, db.spec().to_env())
        .env("CONVOX_STORE_TEST_HOLD_MS", hold_ms.to_string())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn child");
    let marker = dir.join("child-locked");
    let t = Instant::now();
    while !marker.exists() {
        assert!(t.elapsed() < Duration::from_secs(20), "child never locked");
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

fn two_processes_contend_for_the_lock(db: &Db) {
    let s = db.open();
    let mut child = spawn_child(db, 600);
    match s.lock_rack("r1", &opts(0, 30_000, "parent")) {
        Err(StoreError::Locked { pid, purpose, .. }) => {
            assert_eq!(pid, child.id());
            assert_eq!(purpose, "child");
        }
        other => panic!("expected Locked, got {other:?}"),
    }
    let t = Instant::now();
    let g = s
        .lock_rack("r1", &opts(15_000, 30_000, "parent"))
        .expect("parent waits for the child");
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
    assert!(child.wait().expect("wait").success());
    drop(g);
}

fn lock_of_a_killed_process_is_taken_over(db: &Db) {
    let s = db.open();
    let mut child = spawn_child(db, 60_000);
    let pid = child.id();
    assert_eq!(s.lock_holder("r1").expect("h").expect("held").pid, pid);
    child.kill().expect("kill");
    child.wait().expect("reap");
    if cfg!(target_os = "linux") {
        // the lease (30 s) has not expired: the dead owner alone frees it
        let g = s
            .lock_rack("r1", &opts(0, 30_000, "parent"))
            .expect("takeover");
        assert_eq!(
            s.lock_holder("r1").expect("h").expect("held").pid,
            std::process::id()
        );
        drop(g);
    }
}

fn lock_of_a_killed_but_unreaped_process_is_taken_over(db: &Db) {
    // A parent that has not reaped its killed child leaves a zombie: /proc/PID still exists,
    // but the process will never release (or renew) the lock.
    if !cfg!(target_os = "linux") {
        return;
    }
    let s = db.open();
    let mut child = spawn_child(db, 60_000);
    let pid = child.id();
    child.kill().expect("kill");
    // Wait for the kill to land without reaping the child.
    let t = Instant::now();
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "child not a zombie: {stat}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let g = s
        .lock_rack("r1", &opts(0, 30_000, "parent"))
        .expect("a zombie's lock is taken over at once");
    assert_eq!(
        s.lock_holder("r1").expect("h").expect("held").pid,
        std::process::id()
    );
    drop(g);
    child.wait().expect("reap");
}

crate::tests::on_both_backends!(
    two_processes_contend_for_the_lock,
    lock_of_a_killed_process_is_taken_over,
    lock_of_a_killed_but_unreaped_process_is_taken_over,
);
