//! `convox-bench store`: rack-store operations per second on each backend (SQLite file,
//! PostgreSQL database), and the wall time of `convox racks` listing 1,000 racks.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use convox_store::{LockOptions, NewRack, Provider, Store};

#[derive(clap::Args)]
pub struct StoreArgs {
    /// Racks to record (and list).
    #[arg(long, default_value_t = 1000)]
    racks: usize,
    /// Changes and reads per timed figure.
    #[arg(long, default_value_t = 300)]
    ops: usize,
    /// A PostgreSQL server to create a throw-away database in (a URL to a database the user
    /// may create databases from); default $CONVOX_TEST_POSTGRES; none → SQLite only.
    #[arg(long)]
    postgres: Option<String>,
    /// The convox binary (default: next to this one).
    #[arg(long)]
    convox_bin: Option<PathBuf>,
}

fn per_second(n: usize, d: Duration) -> String {
    format!("{:.0}/s", n as f64 / d.as_secs_f64().max(1e-9))
}

fn new_rack(name: &str) -> NewRack {
    NewRack {
        name: name.to_string(),
        provider: Provider::Aws,
        version: convox_params::latest_version(),
        region: "us-east-1".into(),
        cluster: name.to_string(),
        nodes_role_arn: format!("arn:aws:iam::123456789012:role/{name}-nodes"),
        karpenter_nodes_role_arn: None,
        endpoint: None,
        profile: None,
    }
}

fn lock_opts() -> LockOptions {
    LockOptions {
        wait: Duration::from_secs(10),
        lease: Duration::from_secs(30),
        purpose: "bench".into(),
    }
}

/// Times the figures on one store; prints one line per figure.
fn figures(label: &str, store: &Store, args: &StoreArgs) -> Result<(), String> {
    let e = |e: convox_store::StoreError| e.to_string();
    // A change as a run makes it: lock, begin (validated, fenced), finish, release.
    let t = Instant::now();
    for i in 0..args.racks {
        let name = format!("rack-{i:04}");
        let lock = store.lock_rack(&name, &lock_opts()).map_err(e)?;
        let f = store.fenced(&lock);
        let (id, _) = f
            .begin_install(&new_rack(&name), &[] as &[&str], "bench")
            .map_err(e)?;
        f.finish_change(id, Ok(())).map_err(e)?;
        lock.release().map_err(e)?;
    }
    let installs = t.elapsed();
    let t = Instant::now();
    for i in 0..args.ops {
        let lock = store.lock_rack("rack-0000", &lock_opts()).map_err(e)?;
        let f = store.fenced(&lock);
        let arg = format!("docker_hub_username=u{i}");
        let (id, _) = f.begin_params_set(&[arg.as_str()], "bench").map_err(e)?;
        f.finish_change(id, Ok(())).map_err(e)?;
        lock.release().map_err(e)?;
    }
    let changes = t.elapsed();
    let t = Instant::now();
    for i in 0..args.ops {
        store
            .get_rack(&format!("rack-{:04}", i % args.racks.max(1)))
            .map_err(e)?;
    }
    let reads = t.elapsed();
    let t = Instant::now();
    let listed = store.racks().map_err(e)?.len();
    let list = t.elapsed();
    println!(
        "{label:<10} install (lock+begin+finish+release) {:>7}  params set {:>7}  get_rack {:>7}  racks() of {listed}: {:.1} ms",
        per_second(args.racks, installs),
        per_second(args.ops, changes),
        per_second(args.ops, reads),
        list.as_secs_f64() * 1000.0
    );
    Ok(())
}

/// Median wall time of `convox racks` (5 runs) on the store given by the environment.
fn convox_racks(bin: &Path, home: &Path, store: Option<&str>) -> Result<Duration, String> {
    let mut times = Vec::new();
    for _ in 0..5 {
        let mut c = std::process::Command::new(bin);
        c.arg("racks")
            .env("CONVOX_HOME", home)
            .env_remove("CONVOX_STORE")
            .stdout(std::process::Stdio::null());
        if let Some(s) = store {
            c.env("CONVOX_STORE", s);
        }
        let t = Instant::now();
        let status = c.status().map_err(|e| format!("run convox: {e}"))?;
        times.push(t.elapsed());
        if !status.success() {
            return Err(format!("convox racks failed ({status})"));
        }
    }
    times.sort();
    Ok(times[times.len() / 2])
}

fn admin(url: &str, sql: &str) -> Result<(), String> {
    postgres::Client::connect(url, postgres::NoTls)
        .and_then(|mut c| c.batch_execute(sql))
        .map_err(|e| format!("{}: {e}", convox_store::mask_url(url)))
}

pub fn run(args: StoreArgs) -> Result<(), String> {
    let bin = match &args.convox_bin {
        Some(b) => b.clone(),
        None => crate::sibling("convox")?,
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let home = dir.path().join("sqlite");
    let store = Store::open(&home).map_err(|e| e.to_string())?;
    figures("sqlite", &store, &args)?;
    drop(store);
    let sqlite_racks = convox_racks(&bin, &home, None)?;
    println!(
        "sqlite     `convox racks` with {} racks: {:.0} ms (median of 5)",
        args.racks,
        sqlite_racks.as_secs_f64() * 1000.0
    );

    let Some(server) = args
        .postgres
        .clone()
        .or_else(|| std::env::var("CONVOX_TEST_POSTGRES").ok())
        .filter(|u| !u.is_empty())
    else {
        println!("postgres   skipped: no --postgres URL nor $CONVOX_TEST_POSTGRES");
        return Ok(());
    };
    let name = format!("convox_bench_{}", std::process::id());
    admin(&server, &format!("CREATE DATABASE {name}"))?;
    let (scheme, rest) = server.split_once("://").ok_or("not a URL")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let url = format!("{scheme}://{}/{name}", &rest[..end]);
    let pg_home = dir.path().join("postgres");
    let res = (|| {
        let store = Store::open_url(&url, &pg_home).map_err(|e| e.to_string())?;
        figures("postgres", &store, &args)?;
        drop(store);
        let t = convox_racks(&bin, &pg_home, Some(&url))?;
        println!(
            "postgres   `convox racks` with {} racks: {:.0} ms (median of 5)",
            args.racks,
            t.as_secs_f64() * 1000.0
        );
        Ok::<_, String>(())
    })();
    admin(
        &server,
        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
    )?;
    res
}
