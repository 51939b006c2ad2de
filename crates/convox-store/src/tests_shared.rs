//! What a shared store adds: first use by several processes at once, lock holders on other
//! machines, the password kept out of every message, TLS, and a connection the server
//! dropped.

use std::time::Duration;

use crate::backend::vals;
use crate::test_db::{postgres_admin_url, raw, with_database, Db, PgDb};
use crate::{host_id, LockOptions, Store, StoreError};

fn opts(lease_ms: u64) -> LockOptions {
    LockOptions {
        wait: Duration::ZERO,
        lease: Duration::from_millis(lease_ms),
        purpose: "test".into(),
    }
}

/// Eight processes' worth of first opens of an empty store at once: one migrates, the
/// others wait for it and find the schema done; every one of them works.
fn first_use_by_many_at_once_migrates_once(db: &Db) {
    let spec = db.spec();
    let opened: Vec<Result<Store, StoreError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| spec.try_open())).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    for o in opened {
        let s = o.unwrap_or_else(|e| panic!("a concurrent first open failed: {e}"));
        assert!(s.racks().expect("racks").is_empty());
    }
}

/// A pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().expect("spawn");
    let pid = c.id();
    c.wait().expect("wait");
    pid
}

/// A holder whose pid is dead *here* may be alive on its own machine: only its lease tells.
/// On this host the dead pid frees the lock at once.
fn a_dead_pid_frees_a_lock_only_on_its_own_host(db: &Db) {
    let s = db.open();
    let insert = |host: &str, renewed_ago_ms: i64, lease_ms: i64| {
        raw(&s, "DELETE FROM locks", &[]);
        raw(
            &s,
            "INSERT INTO locks (rack, token, pid, purpose, acquired_at, acquired_at_ms, \
             renewed_at_ms, lease_ms, host) VALUES ('r1', 'theirs', ?1, 'elsewhere', 'then', 0, ?2, ?3, ?4)",
            vals![dead_pid(), crate::now_ms() - renewed_ago_ms, lease_ms, host],
        );
    };
    insert("another-machine", 0, 60_000);
    assert!(
        matches!(
            s.lock_rack("r1", &opts(30_000)),
            Err(StoreError::Locked { .. })
        ),
        "a live lease on another host was taken over"
    );
    insert("another-machine", 120_000, 60_000);
    s.lock_rack("r1", &opts(30_000))
        .expect("an expired lease is taken over whatever the host");
    insert(host_id(), 0, 60_000);
    if cfg!(target_os = "linux") {
        s.lock_rack("r1", &opts(30_000))
            .expect("a dead holder on this host is taken over at once");
    }
}

crate::tests::on_both_backends!(
    first_use_by_many_at_once_migrates_once,
    a_dead_pid_frees_a_lock_only_on_its_own_host,
);

/// A URL of the test server with the password replaced.
fn with_password(url: &str, password: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("url");
    let (userinfo, host) = rest.split_once('@').expect("user info");
    let user = userinfo.split(':').next().unwrap_or(userinfo);
    format!("{scheme}://{user}:{password}@{host}")
}

#[test]
fn the_password_is_never_in_an_error() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let home = tempfile::tempdir().expect("tempdir");
    let secret = "Wr0ngPassw0rdXyz";
    // The server refuses it; a closed port; a bad option: the password is in none.
    let closed = "postgres://convox:Wr0ngPassw0rdXyz@127.0.0.1:9/postgres?connect_timeout=5";
    for url in [
        with_password(&admin, secret),
        closed.to_string(),
        format!("{}?sslmode=bogus", with_password(&admin, secret)),
        format!("{}?nonsense_option=1", with_password(&admin, secret)),
    ] {
        let err = Store::open_url(&url, home.path()).expect_err("refused");
        let text = format!("{err} {err:?}");
        assert!(!text.contains(secret), "{text}");
        assert!(
            text.contains("convox:***@"),
            "names the store, masked: {text}"
        );
    }
    // A working store shows its location masked too.
    let db = PgDb::create(&admin);
    let s = Store::open_url(&db.url, home.path()).expect("open");
    let real = db
        .url
        .split_once("://")
        .and_then(|(_, r)| r.split_once('@'))
        .and_then(|(u, _)| u.split_once(':'))
        .map(|(_, p)| p.to_string())
        .expect("test URL has a password");
    let shown = format!("{} {s:?}", s.location());
    assert!(!shown.contains(&real), "{shown}");
    assert!(shown.contains(":***@"), "{shown}");
}

/// Whether the store's own connection is encrypted, as the server sees it.
fn encrypted(s: &Store) -> bool {
    s.read(|c| {
        c.query(
            "SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )?[0]
            .text(0)
    })
    .expect("pg_stat_ssl")
        == "true"
}

#[test]
fn tls_as_sslmode_asks() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let Some(ca) = std::env::var("CONVOX_TEST_POSTGRES_CA")
        .ok()
        .filter(|c| !c.is_empty())
    else {
        eprintln!("skipped: CONVOX_TEST_POSTGRES_CA (the test server's certificate) is not set");
        return;
    };
    let home = tempfile::tempdir().expect("tempdir");
    let db = PgDb::create(&admin);
    let open = |query: &str| Store::open_url(&format!("{}?{query}", db.url), home.path());
    assert!(encrypted(&open("sslmode=require").expect("require")));
    assert!(!encrypted(&open("sslmode=disable").expect("disable")));
    let verified = open(&format!("sslmode=verify-full&sslrootcert={ca}")).expect("verify-full");
    assert!(encrypted(&verified));
    // A self-signed server certificate is not trusted by the system's roots.
    let err = open("sslmode=verify-full").expect_err("unverifiable");
    assert!(
        err.to_string().contains("TLS") || err.to_string().contains("certificate"),
        "{err}"
    );
}

#[test]
fn a_connection_the_server_dropped_is_replaced() {
    let Some(admin) = postgres_admin_url() else {
        return;
    };
    let home = tempfile::tempdir().expect("tempdir");
    let db = PgDb::create(&admin);
    let s = Store::open_url(&db.url, home.path()).expect("open");
    assert!(s.racks().expect("racks").is_empty());
    let name = db.url.rsplit('/').next().expect("db name").to_string();
    crate::test_db::admin(
        &with_database(&admin, "postgres"),
        &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    );
    assert!(s.racks().expect("after the drop").is_empty());
}

/// A write fenced on one connection sees a take-over committed on another, whatever that
/// connection read before.
fn a_take_over_on_another_connection_fences_this_one(db: &Db) {
    let mine = db.open();
    let other = db.open();
    let s = db.open();
    let (id, _) = s
        .begin_install(&crate::tests::new_rack_for("r1"), &[] as &[&str], "x")
        .expect("install");
    s.finish_change(id, Ok(())).expect("finish");
    let g = mine.lock_rack("r1", &opts(30_000)).expect("lock");
    mine.get_rack("r1").expect("read");
    mine.params("r1").expect("read");
    g.check(&mine).expect("held");
    raw(&other, "UPDATE locks SET token = 'thief'", &[]);
    assert!(matches!(g.check(&mine), Err(StoreError::LockLost(_))));
    let r = mine
        .fenced(&g)
        .begin_params_set(&["eks_access_entries=true"], "x");
    assert!(matches!(r, Err(StoreError::LockLost(_))), "{r:?}");
}

crate::tests::on_both_backends!(a_take_over_on_another_connection_fences_this_one);
