use super::*;
use crate::backend::vals;
use crate::test_db::{raw, Db};
use convox_params::Version;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACTOR: &str = "arn:aws:iam::123456789012:role/ops/ConvoxAdmin";

fn v(s: &str) -> Version {
    s.parse().expect("version")
}

pub(crate) fn new_rack_for(name: &str) -> NewRack {
    new_rack(name, "3.24.7")
}

fn new_rack(name: &str, version: &str) -> NewRack {
    NewRack {
        name: name.into(),
        provider: Provider::Local,
        version: v(version),
        region: "us-east-1".into(),
        cluster: name.into(),
        nodes_role_arn: format!("arn:aws:iam::123456789012:role/convox/{name}-nodes"),
        karpenter_nodes_role_arn: Some(format!(
            "arn:aws:iam::123456789012:role/convox/{name}-karpenter"
        )),
        endpoint: None,
        profile: None,
    }
}

fn installed(db: &Db, name: &str, version: &str) -> Store {
    installed_in(db.open(), name, version)
}

fn installed_in(s: Store, name: &str, version: &str) -> Store {
    let (id, _) = s
        .begin_install(&new_rack(name, version), &[] as &[&str], LOCAL_ACTOR)
        .expect("install");
    s.finish_change(id, Ok(())).expect("finish");
    s
}

/// Everything a refused call must leave unchanged.
fn snapshot(s: &Store, rack: &str) -> (Rack, Params, Vec<HistoryEntry>) {
    (
        s.get_rack(rack).expect("rack"),
        s.params(rack).expect("params"),
        s.history(None, 1000).expect("history"),
    )
}

#[test]
fn open_creates_private_wal_file_with_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = dir.path().join("nested/state");
    let s = Store::open(&state).expect("open");
    assert_eq!(s.location(), &Location::Sqlite(state.join(FILE_NAME)));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(state.join(FILE_NAME))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "file mode {mode:o}");
        let dmode = std::fs::metadata(&state)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(dmode & 0o777, 0o700, "dir mode {dmode:o}");
    }
    let (jm, uv): (String, i64) = s
        .read(|c| {
            let jm = c.query("PRAGMA journal_mode", &[])?[0].text(0)?;
            let uv = c.query("PRAGMA user_version", &[])?[0].int(0)?;
            Ok((jm, uv))
        })
        .expect("pragmas");
    assert_eq!(jm.to_lowercase(), "wal");
    assert_eq!(uv, sqlite::supported_version());
    drop(s);
    // reopening is idempotent and keeps data
    let s = installed_in(Store::open(&state).expect("open"), "r1", "3.24.7");
    drop(s);
    let s = Store::open(&state).expect("reopen");
    assert_eq!(s.racks().expect("racks").len(), 1);
}

#[cfg(unix)]
#[test]
fn existing_world_readable_file_is_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(FILE_NAME);
    std::fs::write(&path, b"").expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let _s = Store::open(dir.path()).expect("open");
    let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

fn newer_schema_is_refused(db: &Db) {
    let s = db.open();
    db.set_schema_version(&s, 99);
    drop(s);
    let err = db.spec().try_open().expect_err("too new");
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 99, .. }),
        "{err}"
    );
}

fn install_list_get_and_names(db: &Db) {
    let s = db.open();
    let lock = s
        .lock_rack("beta", &opts(0, 30_000, "install"))
        .expect("lock");
    let (id, cs) = s
        .begin_install(
            &new_rack("beta", "3.24.7"),
            &["eks_access_entries=true"],
            LOCAL_ACTOR,
        )
        .expect("install");
    assert_eq!(cs.changes.len(), 1);
    let r = s.get_rack("beta").expect("rack");
    assert_eq!(r.status, RackStatus::Installing);
    assert!(s.params("beta").expect("params").flag("eks_access_entries"));
    s.finish_change(id, Ok(())).expect("finish");
    drop(lock);
    assert_eq!(
        s.get_rack("beta").expect("rack").status,
        RackStatus::Running
    );

    let (id2, _) = s
        .begin_install(&new_rack("alpha", "3.24.6"), &[] as &[&str], LOCAL_ACTOR)
        .expect("install");
    s.finish_change(id2, Err("CreateCluster failed"))
        .expect("finish");
    let a = s.get_rack("alpha").expect("rack");
    assert_eq!(a.status, RackStatus::Failed);
    assert_eq!(a.last_error.as_deref(), Some("CreateCluster failed"));
    assert_eq!(a.version, v("3.24.6"));
    assert_eq!(
        a.karpenter_nodes_role_arn,
        new_rack("alpha", "3.24.6").karpenter_nodes_role_arn
    );

    let names: Vec<_> = s
        .racks()
        .expect("racks")
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    let dup = s.begin_install(&new_rack("beta", "3.24.7"), &[] as &[&str], LOCAL_ACTOR);
    assert!(matches!(dup, Err(StoreError::RackExists(_))), "{dup:?}");
    for bad in ["", "-x", "a b", "a/b", &"x".repeat(101)] {
        let r = s.begin_install(&new_rack(bad, "3.24.7"), &[] as &[&str], LOCAL_ACTOR);
        assert!(
            matches!(r, Err(StoreError::InvalidName(_))),
            "{bad:?}: {r:?}"
        );
    }
    // an install with a bad parameter records nothing
    let r = s.begin_install(
        &new_rack("gamma", "3.24.6"),
        &["eks_access_entries=true"],
        LOCAL_ACTOR,
    );
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    assert!(s.rack("gamma").expect("get").is_none());
    assert!(matches!(
        s.get_rack("nope"),
        Err(StoreError::UnknownRack(_))
    ));
    let listing = a.listing_params(&Params::default());
    assert_eq!(listing.get("region").as_deref(), Some("us-east-1"));
}

fn params_set_flow_success_and_failure(db: &Db) {
    let s = installed(db, "r1", "3.24.7");

    // begin_* are called holding the rack's lock (else the rack reads as interrupted).
    let _lock = s
        .lock_rack("r1", &opts(0, 30_000, "params set"))
        .expect("lock");
    let (id, cs) = s
        .begin_params_set("r1", &["eks_access_entries=true"], ACTOR)
        .expect("begin");
    assert_eq!(cs.changed().count(), 1);
    assert_eq!(s.get_rack("r1").expect("rack").status, RackStatus::Updating);
    let h = &s.history(Some("r1"), 1).expect("history")[0];
    assert_eq!(
        (h.id, h.action.as_str(), h.result),
        (id.0, "params set", ChangeResult::Pending)
    );
    assert_eq!(h.actor, ACTOR);
    assert_eq!(h.what["params"][0]["key"], "eks_access_entries");
    assert_eq!(h.what["params"][0]["old"], "false");
    assert_eq!(h.what["params"][0]["new"], "true");

    s.finish_change(id, Err("AccessDeniedException: no"))
        .expect("finish");
    let r = s.get_rack("r1").expect("rack");
    assert_eq!(r.status, RackStatus::Failed);
    assert_eq!(r.last_error.as_deref(), Some("AccessDeniedException: no"));
    // requested parameters are kept for a rerun
    assert!(s.params("r1").expect("params").flag("eks_access_entries"));
    let h = &s.history(Some("r1"), 1).expect("history")[0];
    assert_eq!(h.result, ChangeResult::Failed);
    assert_eq!(h.message.as_deref(), Some("AccessDeniedException: no"));
    assert!(h.finished_at.is_some());
    // a change closes once
    assert!(matches!(
        s.finish_change(id, Ok(())),
        Err(StoreError::UnknownChange(_))
    ));
    assert!(matches!(
        s.finish_change(ChangeId(9999), Ok(())),
        Err(StoreError::UnknownChange(_))
    ));

    // rerun: same value is a no-op change set, still recorded, and success clears the error
    let (id, cs) = s
        .begin_params_set("r1", &["eks_access_entries=true"], ACTOR)
        .expect("begin");
    assert!(cs.is_noop());
    assert_eq!(
        s.get_rack("r1").expect("rack").last_error.as_deref(),
        Some("AccessDeniedException: no"),
        "the old error stays visible while the rerun runs"
    );
    s.finish_change(id, Ok(())).expect("finish");
    let r = s.get_rack("r1").expect("rack");
    assert_eq!((r.status, r.last_error), (RackStatus::Running, None));

    // begin_change with a pre-validated set
    let cs = convox_params::validate_set(
        &s.params("r1").expect("params"),
        &r.version,
        &["karpenter_auth_mode=true"],
    )
    .expect("valid");
    let id = s.begin_change("r1", &cs, ACTOR).expect("begin");
    s.finish_change(id, Ok(())).expect("finish");
    assert!(s.params("r1").expect("params").flag("karpenter_auth_mode"));
    assert!(matches!(
        s.begin_change("nope", &cs, ACTOR),
        Err(StoreError::UnknownRack(_))
    ));
}

fn failed_validation_stores_nothing(db: &Db) {
    let s = installed(db, "old", "3.24.6");
    let (id, _) = s
        .begin_params_set("old", &["karpenter_auth_mode=true"], ACTOR)
        .expect("begin");
    s.finish_change(id, Ok(())).expect("finish");

    let refused: &[&[&str]] = &[
        &["eks_access_entries=true"],          // too new for 3.24.6
        &["karpenter_auth_mode=false"],        // one-way
        &["karpenter_auth_mod=true"],          // unknown
        &["docker_hub_username=me", "nope=1"], // one bad item refuses all
        &["docker_hub_username=me", "docker_hub_username=you"],
        &["=x"],
        &["novalue"],
        &["region=eu-west-1"],
        &[],
    ];
    for args in refused {
        let before = snapshot(&s, "old");
        let r = s.begin_params_set("old", args, ACTOR);
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{args:?}: {r:?}");
        assert_eq!(snapshot(&s, "old"), before, "{args:?} changed the store");
    }
    // unknown version: refused, nothing stored
    let s2 = installed(db, "new", "3.24.7");
    let (id, _) = s2
        .begin_params_set("new", &["eks_access_entries=true"], ACTOR)
        .expect("begin");
    s2.finish_change(id, Ok(())).expect("finish");
    let before = snapshot(&s2, "new");
    let r = s2.begin_update("new", &v("3.99.0"), false, ACTOR);
    assert!(matches!(r, Err(StoreError::Invalid(_))), "{r:?}");
    assert_eq!(snapshot(&s2, "new"), before);
    // a downgrade past a set parameter is the binary's call (it depends on the cluster's
    // mode); the store keeps the parameter for the way back up
    let id = s2
        .begin_update("new", &v("3.24.6"), false, ACTOR)
        .expect("downgrade");
    s2.finish_change(id, Ok(())).expect("finish");
    assert_eq!(s2.get_rack("new").expect("rack").version, v("3.24.6"));
    assert_eq!(
        s2.params("new")
            .expect("params")
            .get("eks_access_entries")
            .as_deref(),
        Some("true")
    );
    assert!(matches!(
        s.begin_params_set("ghost", &["eks_access_entries=true"], ACTOR),
        Err(StoreError::UnknownRack(_))
    ));
}

fn update_moves_version_and_records_it(db: &Db) {
    let s = installed(db, "r1", "3.24.6");
    let lock = s.lock_rack("r1", &opts(0, 30_000, "update")).expect("lock");
    let id = s
        .begin_update("r1", &v("3.24.7"), false, ACTOR)
        .expect("update");
    let r = s.get_rack("r1").expect("rack");
    assert_eq!((r.version, r.status), (v("3.24.7"), RackStatus::Updating));
    drop(lock);
    s.finish_change(id, Ok(())).expect("finish");
    let h = &s.history(Some("r1"), 1).expect("history")[0];
    assert_eq!(h.action, "update");
    assert_eq!(
        (h.what["from"].as_str(), h.what["to"].as_str()),
        (Some("3.24.6"), Some("3.24.7"))
    );
    // now the new parameter is allowed
    s.begin_params_set("r1", &["eks_access_entries=true"], ACTOR)
        .expect("allowed after update");
}

fn history_masks_sensitive_values(db: &Db) {
    let s = installed(db, "r1", "3.24.7");
    let (id, _) = s
        .begin_params_set("r1", &["docker_hub_password=hunter2"], ACTOR)
        .expect("begin");
    s.finish_change(id, Ok(())).expect("finish");
    let h = &s.history(Some("r1"), 1).expect("history")[0];
    assert_eq!(h.what["params"][0]["new"], convox_params::MASK);
    assert!(!h.what.to_string().contains("hunter2"));
    // the value itself is stored (the file is private)
    assert_eq!(
        s.params("r1")
            .expect("params")
            .get("docker_hub_password")
            .as_deref(),
        Some("hunter2")
    );
}

fn current_rack_switch_resolve_and_uninstall(db: &Db) {
    let s = installed(db, "a", "3.24.7");
    let (id, _) = s
        .begin_install(&new_rack("b", "3.24.7"), &[] as &[&str], LOCAL_ACTOR)
        .expect("install");
    s.finish_change(id, Ok(())).expect("finish");

    assert_eq!(s.current_rack().expect("current"), None);
    assert!(matches!(
        s.resolve_rack(None, None),
        Err(StoreError::NoCurrentRack)
    ));
    assert!(matches!(
        s.set_current_rack("zzz"),
        Err(StoreError::UnknownRack(_))
    ));
    s.set_current_rack("a").expect("switch");
    s.set_current_rack("b").expect("switch");
    assert_eq!(s.current_rack().expect("current").as_deref(), Some("b"));
    // precedence: flag > env > current
    assert_eq!(s.resolve_rack(Some("a"), Some("b")).expect("r").name, "a");
    assert_eq!(s.resolve_rack(None, Some("a")).expect("r").name, "a");
    assert_eq!(s.resolve_rack(None, Some("")).expect("r").name, "b");
    assert_eq!(s.resolve_rack(None, None).expect("r").name, "b");
    assert!(matches!(
        s.resolve_rack(Some("zzz"), None),
        Err(StoreError::UnknownRack(_))
    ));

    s.begin_params_set("b", &["eks_access_entries=true"], ACTOR)
        .expect("begin");
    s.delete_rack("b", LOCAL_ACTOR).expect("uninstall");
    assert!(s.rack("b").expect("get").is_none());
    assert_eq!(s.current_rack().expect("current"), None);
    assert!(matches!(s.params("b"), Err(StoreError::UnknownRack(_))));
    assert!(matches!(
        s.delete_rack("b", LOCAL_ACTOR),
        Err(StoreError::UnknownRack(_))
    ));
    // history survives, with the uninstall recorded
    let h = s.history(Some("b"), 10).expect("history");
    assert_eq!(h[0].action, "uninstall");
    // reinstalling the name starts clean
    let (id, _) = s
        .begin_install(&new_rack("b", "3.24.7"), &[] as &[&str], LOCAL_ACTOR)
        .expect("reinstall");
    s.finish_change(id, Ok(())).expect("finish");
    assert!(!s.params("b").expect("params").flag("eks_access_entries"));
}

fn a_change_left_pending_by_a_dead_run_is_closed_by_the_next(db: &Db) {
    let s = installed(db, "r1", "3.24.7");
    let (crashed, _) = s
        .begin_params_set("r1", &["eks_access_entries=true"], ACTOR)
        .expect("begin");
    // the process dies here: no finish_change
    let (next, _) = s
        .begin_params_set("r1", &["eks_access_entries=true"], ACTOR)
        .expect("rerun");
    let h = s.history(Some("r1"), 10).expect("history");
    let row = |id: ChangeId| h.iter().find(|e| e.id == id.0).expect("row").clone();
    assert_eq!(row(crashed).result, ChangeResult::Failed);
    assert_eq!(row(crashed).message.as_deref(), Some(INTERRUPTED));
    assert_eq!(row(next).result, ChangeResult::Pending);
    s.finish_change(next, Ok(())).expect("finish");
    assert!(matches!(
        s.finish_change(crashed, Ok(())),
        Err(StoreError::UnknownChange(_))
    ));
    // other racks' pending changes are not touched
    let (id, _) = s
        .begin_install(&new_rack("r2", "3.24.7"), &[] as &[&str], LOCAL_ACTOR)
        .expect("install");
    s.begin_update("r1", &v("3.24.7"), false, ACTOR)
        .expect("update");
    let h = s.history(Some("r2"), 1).expect("history");
    assert_eq!((h[0].id, h[0].result), (id.0, ChangeResult::Pending));
}

fn record_writes_a_finished_row(db: &Db) {
    let s = installed(db, "r1", "3.24.7");
    let id = s
        .record(
            "r1",
            ACTOR,
            "auth",
            &serde_json::json!({"x": 1}),
            Err("boom"),
        )
        .expect("record");
    let h = &s.history(Some("r1"), 1).expect("history")[0];
    assert_eq!(
        (h.id, h.result, h.message.as_deref()),
        (id.0, ChangeResult::Failed, Some("boom"))
    );
    assert_eq!(s.history(None, 1).expect("h").len(), 1);
    assert_eq!(s.history(None, 100).expect("h").len(), 2);
}

// ---- locks ------------------------------------------------------------------------------

pub(crate) fn opts(wait_ms: u64, lease_ms: u64, purpose: &str) -> LockOptions {
    LockOptions {
        wait: Duration::from_millis(wait_ms),
        lease: Duration::from_millis(lease_ms),
        purpose: purpose.into(),
    }
}

fn second_locker_fails_fast_naming_the_holder_then_gets_it_after_release(db: &Db) {
    let s = db.open();
    let s2 = db.open();
    let g = s
        .lock_rack("r1", &opts(0, 30_000, "params set"))
        .expect("lock");
    let err = s2
        .lock_rack("r1", &opts(0, 30_000, "update"))
        .expect_err("held");
    match &err {
        StoreError::Locked {
            rack,
            pid,
            purpose,
            since,
        } => {
            assert_eq!(
                (rack.as_str(), *pid, purpose.as_str()),
                ("r1", std::process::id(), "params set")
            );
            assert!(!since.is_empty());
        }
        other => panic!("{other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("process {}", std::process::id())),
        "{msg}"
    );
    // other racks are independent
    let other = s2
        .lock_rack("r2", &opts(0, 30_000, "x"))
        .expect("other rack");
    g.check(&s).expect("still held");
    drop(g);
    assert_eq!(s.lock_holder("r1").expect("holder"), None);
    let g2 = s2
        .lock_rack("r1", &opts(0, 30_000, "update"))
        .expect("free now");
    g2.release().expect("release");
    drop(other);
}

fn threads_contending_never_overlap(db: &Db) {
    let spec = db.spec();
    let _init = db.open();
    let inside = Arc::new(AtomicUsize::new(0));
    let max_inside = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (spec, inside, max_inside, done) = (
                spec.clone(),
                inside.clone(),
                max_inside.clone(),
                done.clone(),
            );
            std::thread::spawn(move || {
                let s = spec.open();
                for _ in 0..3 {
                    let g = s.lock_rack("r1", &opts(20_000, 30_000, "t")).expect("lock");
                    let n = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max_inside.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(15));
                    inside.fetch_sub(1, Ordering::SeqCst);
                    drop(g);
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread");
    }
    assert_eq!(done.load(Ordering::SeqCst), 12);
    assert_eq!(
        max_inside.load(Ordering::SeqCst),
        1,
        "critical sections overlapped"
    );
}

fn waiter_gets_the_lock_when_the_holder_releases(db: &Db) {
    let s = db.open();
    let g = s.lock_rack("r1", &opts(0, 30_000, "a")).expect("lock");
    let p = db.spec();
    // The waiter's store is open before the holder's 300 ms start (a PostgreSQL login may
    // take a good part of them).
    let (ready_tx, ready) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let s = p.open();
        ready_tx.send(()).expect("ready");
        let t = Instant::now();
        let g = s
            .lock_rack("r1", &opts(5_000, 30_000, "b"))
            .expect("waited");
        (t.elapsed(), g.token().to_string())
    });
    ready.recv().expect("waiter opened its store");
    std::thread::sleep(Duration::from_millis(300));
    drop(g);
    let (waited, _token) = waiter.join().expect("join");
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    assert!(waited < Duration::from_secs(4), "{waited:?}");
}

fn renewal_keeps_a_short_lease_alive_and_expiry_allows_takeover(db: &Db) {
    let s = db.open();
    let g = s.lock_rack("r1", &opts(0, 150, "renewing")).expect("lock");
    std::thread::sleep(Duration::from_millis(500));
    // renewed every 50 ms, so still held well past the lease
    assert!(matches!(
        s.lock_rack("r1", &opts(0, 150, "x")),
        Err(StoreError::Locked { .. })
    ));
    g.check(&s).expect("held");
    drop(g);

    // A holder that stopped renewing (simulated: a row renewed long ago by a live pid).
    raw(
        &s,
        "INSERT INTO locks (rack, token, pid, purpose, acquired_at, acquired_at_ms, \
         renewed_at_ms, lease_ms) VALUES ('r1', 'stuck', ?1, 'stuck', 'then', 0, ?2, 1000)",
        vals![std::process::id(), now_ms() - 5_000],
    );
    let g = s
        .lock_rack("r1", &opts(0, 30_000, "taker"))
        .expect("took over expired");
    assert_eq!(
        s.lock_holder("r1").expect("h").expect("some").purpose,
        "taker"
    );
    drop(g);

    // A fresh row by a live holder is respected.
    raw(
        &s,
        "INSERT INTO locks (rack, token, pid, purpose, acquired_at, acquired_at_ms, \
         renewed_at_ms, lease_ms) VALUES ('r1', 'fresh', ?1, 'fresh', 'now', 0, ?2, 60000)",
        vals![std::process::id(), now_ms()],
    );
    assert!(matches!(
        s.lock_rack("r1", &opts(0, 30_000, "x")),
        Err(StoreError::Locked { .. })
    ));
}

fn lost_lock_is_detected(db: &Db) {
    let s = db.open();
    let g = s.lock_rack("r1", &opts(0, 30_000, "a")).expect("lock");
    raw(
        &s,
        "UPDATE locks SET token = 'thief' WHERE rack = 'r1'",
        &[],
    );
    assert!(matches!(g.check(&s), Err(StoreError::LockLost(_))));
    drop(g);
    // the thief's row is not deleted by our release
    assert_eq!(
        s.lock_holder("r1").expect("h").expect("some").token,
        "thief"
    );
}

fn a_rack_left_changing_by_a_dead_run_reads_as_failed_interrupted(db: &Db) {
    let s = installed(db, "r1", "3.24.7");
    let lock = s
        .lock_rack("r1", &opts(0, 30_000, "params set"))
        .expect("lock");
    s.begin_params_set("r1", &["eks_access_entries=true"], ACTOR)
        .expect("begin");
    // While its run holds the lock, the rack is updating, for every reader.
    let other = db.open();
    assert_eq!(
        other.get_rack("r1").expect("rack").status,
        RackStatus::Updating
    );
    assert_eq!(
        other.racks().expect("racks")[0].status,
        RackStatus::Updating
    );
    // The run dies without finishing (its lock goes with it): not "updating" any more.
    drop(lock);
    for r in [
        other.get_rack("r1").expect("rack"),
        other.racks().expect("racks").remove(0),
    ] {
        assert_eq!(r.status, RackStatus::Failed);
        assert_eq!(r.last_error.as_deref(), Some(INTERRUPTED));
    }
    // An expired lease reads the same (its holder stopped renewing).
    let lock = s
        .lock_rack("r1", &opts(0, 30_000, "params set"))
        .expect("lock");
    s.begin_params_set("r1", &["eks_access_entries=true"], ACTOR)
        .expect("begin");
    raw(
        &other,
        "UPDATE locks SET renewed_at_ms = 0, lease_ms = 1",
        &[],
    );
    assert_eq!(
        other.get_rack("r1").expect("rack").status,
        RackStatus::Failed
    );
    drop(lock);
}

// ---- fencing ----------------------------------------------------------------------------

fn a_run_that_lost_its_lock_writes_nothing(db: &Db) {
    let s = installed(db, "r1", "3.24.7");
    let a = s.lock_rack("r1", &opts(0, 30_000, "a")).expect("lock");
    let (a_id, _) = s
        .fenced(&a)
        .begin_params_set(&["eks_access_entries=true"], ACTOR)
        .expect("A begins");
    // A stalls past its lease (simulated: its row renewed long ago) and B takes over.
    raw(
        &s,
        "UPDATE locks SET renewed_at_ms = ?1, lease_ms = 1000 WHERE rack = 'r1'",
        vals![now_ms() - 60_000],
    );
    let b = s.lock_rack("r1", &opts(0, 30_000, "b")).expect("take over");
    let (b_id, _) = s
        .fenced(&b)
        .begin_params_set(&["karpenter_auth_mode=true"], ACTOR)
        .expect("B begins");

    // Every write of A's is refused, whatever it is, and stores nothing.
    let fa = s.fenced(&a);
    let before = snapshot(&s, "r1");
    let cs = convox_params::validate_set(
        &s.params("r1").expect("params"),
        &v("3.24.7"),
        &["docker_hub_username=alice"],
    )
    .expect("valid");
    let refused: Vec<(&str, Result<(), StoreError>)> = vec![
        (
            "begin_params_set",
            fa.begin_params_set(&["docker_hub_username=alice"], ACTOR)
                .map(|_| ()),
        ),
        ("begin_change", fa.begin_change(&cs, ACTOR).map(|_| ())),
        (
            "begin_update",
            fa.begin_update(&v("3.24.7"), false, ACTOR).map(|_| ()),
        ),
        ("finish own", fa.finish_change(a_id, Err("boom"))),
        ("finish B's", fa.finish_change(b_id, Ok(()))),
        ("delete_rack", fa.delete_rack(LOCAL_ACTOR)),
        (
            "record",
            fa.record(ACTOR, "update", &serde_json::json!({}), Err("refused"))
                .map(|_| ()),
        ),
    ];
    for (what, r) in refused {
        assert!(matches!(r, Err(StoreError::LockLost(_))), "{what}: {r:?}");
        assert_eq!(snapshot(&s, "r1"), before, "{what} changed the store");
    }
    // Installing the rack name anew under a lost lock is refused too.
    let r = fa.begin_install(&new_rack("r1", "3.24.7"), &[] as &[&str], ACTOR);
    assert!(matches!(r, Err(StoreError::LockLost(_))), "{r:?}");

    // B's change is B's to finish; A's was closed as interrupted when B began.
    s.fenced(&b)
        .finish_change(b_id, Ok(()))
        .expect("B finishes");
    let r = s.get_rack("r1").expect("rack");
    assert_eq!((r.status, r.last_error), (RackStatus::Running, None));
    let h = s.history(Some("r1"), 10).expect("history");
    let row = |id: ChangeId| h.iter().find(|e| e.id == id.0).expect("row").clone();
    assert_eq!(row(a_id).result, ChangeResult::Failed);
    assert_eq!(row(a_id).message.as_deref(), Some(INTERRUPTED));
    assert_eq!(row(b_id).result, ChangeResult::Ok);
    assert!(!s
        .params("r1")
        .expect("params")
        .values
        .contains_key("docker_hub_username"));

    // A lock is for its own rack only.
    let r = s
        .fenced(&b)
        .begin_install(&new_rack("other", "3.24.7"), &[] as &[&str], ACTOR);
    assert!(matches!(r, Err(StoreError::NotLocked { .. })), "{r:?}");
    assert!(s.rack("other").expect("get").is_none());
    // A letting go does not release B's lock.
    drop(a);
    b.check(&s).expect("B still holds the rack");
}

// ---- every test above, on both backends ---------------------------------------------------

/// `name::sqlite` and `name::postgres` for each test function `name(db: &Db)`; the
/// PostgreSQL one needs CONVOX_TEST_POSTGRES (see [`Db::postgres`]).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[test]
            fn sqlite() {
                super::$name(&super::Db::sqlite())
            }
            #[test]
            fn postgres() {
                if let Some(db) = super::Db::postgres() {
                    super::$name(&db)
                }
            }
        }
    )*};
}

pub(crate) use on_both_backends;

on_both_backends!(
    newer_schema_is_refused,
    install_list_get_and_names,
    params_set_flow_success_and_failure,
    failed_validation_stores_nothing,
    update_moves_version_and_records_it,
    history_masks_sensitive_values,
    current_rack_switch_resolve_and_uninstall,
    a_change_left_pending_by_a_dead_run_is_closed_by_the_next,
    record_writes_a_finished_row,
    second_locker_fails_fast_naming_the_holder_then_gets_it_after_release,
    threads_contending_never_overlap,
    waiter_gets_the_lock_when_the_holder_releases,
    renewal_keeps_a_short_lease_alive_and_expiry_allows_takeover,
    lost_lock_is_detected,
    a_rack_left_changing_by_a_dead_run_reads_as_failed_interrupted,
    a_run_that_lost_its_lock_writes_nothing,
);
