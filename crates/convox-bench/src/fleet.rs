//! `convox-bench fleet`: N local racks migrated at once with `convox racks params set
//! eks_access_entries=true --all` against the simulator with EKS-like throttling set, wall
//! time against the physical bound (the busiest throttle bucket's calls ÷ its allowed rate),
//! throttled calls and failures; and `convox racks` listing the N racks. Figures only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct FleetArgs {
    /// Local racks to install and migrate.
    #[arg(long, default_value_t = 1000)]
    racks: usize,
    /// The simulator's allowed rate per account and call class (reads, changes) per second.
    #[arg(long, default_value_t = 50.0)]
    throttle_rate: f64,
    /// The simulator's burst per bucket.
    #[arg(long, default_value_t = 50.0)]
    throttle_burst: f64,
    /// Racks reconciled at once (`--parallel`).
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// Processes installing racks at once (setup, not timed).
    #[arg(long, default_value_t = 2)]
    installers: usize,
    /// The convox binary (default: next to this one).
    #[arg(long)]
    convox_bin: Option<PathBuf>,
}

fn convox(bin: &Path, home: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env("CONVOX_HOME", home)
        .env_remove("CONVOX_STORE")
        .env_remove("CONVOX_SIM_ENDPOINT")
        .env("CONVOX_LOG", "error")
        .stdin(Stdio::null());
    c
}

fn ok(mut c: Command, what: &str) -> Result<String, String> {
    let out = c.output().map_err(|e| format!("{what}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{what}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Installs rack-0000… with `installers` processes at a time.
fn install(bin: &Path, home: &Path, args: &FleetArgs) -> Result<(), String> {
    let mut next = 0usize;
    while next < args.racks {
        let batch: Vec<_> = (next..args.racks.min(next + args.installers.max(1)))
            .map(|i| {
                convox(bin, home)
                    .args(["rack", "install", "local", &format!("rack-{i:04}")])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
            })
            .collect::<Result<_, _>>()
            .map_err(|e| format!("spawn: {e}"))?;
        for c in batch {
            let out = c.wait_with_output().map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!("install: {}", String::from_utf8_lossy(&out.stderr)));
            }
            next += 1;
        }
    }
    Ok(())
}

/// Calls per simulator throttle bucket (service, read or change), as the simulator classes
/// them.
fn per_bucket(calls: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (op, n) in calls {
        let (service, name) = op.split_once(':').unwrap_or(("?", op));
        let read = ["Describe", "List", "Get"]
            .iter()
            .any(|p| name.starts_with(p));
        let class = if read { "reads" } else { "changes" };
        *out.entry(format!("{service} {class}")).or_default() += n;
    }
    out
}

fn median_racks(bin: &Path, home: &Path) -> Result<Duration, String> {
    let mut times = Vec::new();
    for _ in 0..5 {
        let mut c = convox(bin, home);
        c.arg("racks").stdout(Stdio::null());
        let t = Instant::now();
        ok(c, "convox racks")?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

pub fn run(args: FleetArgs) -> Result<(), String> {
    let bin = match &args.convox_bin {
        Some(b) => b.clone(),
        None => crate::sibling("convox")?,
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let home = dir.path();
    let mut c = convox(&bin, home);
    c.args([
        "sim",
        "config",
        "cluster_create_ms=0",
        "nodegroup_create_ms=0",
        "update_ms=0",
        "propagation_ms=0",
    ]);
    ok(c, "sim config")?;
    let t = Instant::now();
    install(&bin, home, &args)?;
    println!(
        "setup: {} local racks installed in {:.0} s",
        args.racks,
        t.elapsed().as_secs_f64()
    );
    let racks = median_racks(&bin, home)?;
    println!(
        "`convox racks` with {} racks: {:.0} ms (median of 5)",
        args.racks,
        racks.as_secs_f64() * 1000.0
    );

    let mut c = convox(&bin, home);
    c.args([
        "sim",
        "config",
        &format!("throttle_rate={}", args.throttle_rate),
        &format!("throttle_burst={}", args.throttle_burst),
    ]);
    ok(c, "sim config")?;
    let calls_file = home.join("calls.json");
    let mut c = convox(&bin, home);
    c.args([
        "racks",
        "params",
        "set",
        "eks_access_entries=true",
        "--all",
        "--output",
        "json",
        "--parallel",
        &args.parallel.to_string(),
    ])
    .env("CONVOX_CALLS_FILE", &calls_file)
    .stderr(Stdio::null());
    let t = Instant::now();
    let out = c.output().map_err(|e| format!("fleet run: {e}"))?;
    let wall = t.elapsed().as_secs_f64();
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("fleet summary: {e}"))?;
    let file: serde_json::Value = std::fs::read_to_string(&calls_file)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .ok_or("no calls file")?;
    let calls: BTreeMap<String, u64> =
        serde_json::from_value(file["calls"].clone()).map_err(|e| e.to_string())?;
    let buckets = per_bucket(&calls);
    // Attempts answered (throttled ones included) are what the simulator's buckets count;
    // the bound counts what had to be served: attempts less the throttled ones.
    let throttled = summary["throttled_calls"].as_u64().unwrap_or(0);
    let (busiest, served_in_busiest) = buckets
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(k, n)| (k.clone(), *n))
        .unwrap_or_default();
    let needed = served_in_busiest.saturating_sub(throttled) as f64;
    let bound = ((needed - args.throttle_burst).max(0.0)) / args.throttle_rate;
    let failed = summary["failed"].as_array().map_or(0, Vec::len);
    println!(
        "fleet: {} racks, --parallel {}, throttle {}/s burst {} per bucket: wall {wall:.1} s, physical bound {bound:.1} s ({busiest}: ~{needed:.0} calls served ÷ {}/s), ratio {:.2}",
        args.racks,
        args.parallel,
        args.throttle_rate,
        args.throttle_burst,
        args.throttle_rate,
        wall / bound.max(1e-9)
    );
    let total: u64 = calls.values().sum();
    println!(
        "fleet: {total} API attempts ({:.1} per rack), {throttled} throttled ({:.1}%), {failed} racks failed, exit {}",
        total as f64 / args.racks.max(1) as f64,
        100.0 * throttled as f64 / total.max(1) as f64,
        out.status.code().unwrap_or(-1)
    );
    println!("fleet: attempts per bucket {buckets:?}");
    Ok(())
}
