//! # convox-bench
//!
//! Benchmarks that print figures and ratios and assert nothing (these machines are shared and
//! noisy, so speed is never a test):
//!
//! - `convox-bench sim`: requests per second of DescribeCluster and ListAccessEntries against
//!   the simulator (`eks-sim serve`, a separate process) over loopback, side by side in the same
//!   run with moto's server (DescribeCluster only: moto has no access entries), and the
//!   simulator's memory with 1,000 clusters × 100 access entries.
//! - `convox-bench reconcile`: API calls and wall time of a full migration on the simulator with
//!   an update duration U and propagation delay P, and of a no-op run on a converged rack.
//! - `convox-bench auth`: API calls and wall time of `rack auth` (200 aws-auth mappings, then
//!   200 entries too) and of `rack auth migrate` for 200 mappings.
//! - `convox-bench store`: rack-store changes and reads per second on SQLite and PostgreSQL,
//!   and `convox racks` listing 1,000 racks on each.
//! - `convox-bench fleet`: N local racks (1,000 by default) migrated with `convox racks
//!   params set eks_access_entries=true --all` against the simulator with throttling set:
//!   wall time against the physical bound, throttled calls, failures; `convox racks` at N.
//!
//! Both servers get byte-identical, SigV4-signed requests from the same load generator: N
//! keep-alive connections, each sending its next request as soon as the previous answer is
//! read. Requests are signed once and replayed (the server still verifies every signature),
//! so the client spends its CPU on I/O, not on HMACs.

mod auth;
mod fleet;
mod load;
mod reconcile;
mod server;
mod store;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "convox-bench",
    about = "Benchmarks of the simulator and the reconciler"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Simulator throughput (vs moto) and memory at scale.
    Sim(SimArgs),
    /// Reconcile cost: API calls and wall time of a migration and of a no-op run.
    Reconcile(reconcile::ReconcileArgs),
    /// Rack-store operations per second on each backend, and `convox racks` at 1,000 racks.
    Store(store::StoreArgs),
    /// `rack auth` and `rack auth migrate` with N aws-auth mappings: API calls, wall time.
    Auth(auth::AuthArgs),
    /// A fleet migration of N local racks under throttling, against the physical bound.
    Fleet(fleet::FleetArgs),
}

#[derive(clap::Args)]
pub struct SimArgs {
    /// Seconds of load per figure.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 8)]
    connections: usize,
    /// Clusters to populate.
    #[arg(long, default_value_t = 1000)]
    clusters: usize,
    /// Access entries per cluster.
    #[arg(long, default_value_t = 100)]
    entries: usize,
    /// The simulator binary (default: `eks-sim` next to this binary).
    #[arg(long)]
    sim_bin: Option<PathBuf>,
    /// moto's server (default: .venv/bin/moto_server); missing → moto figures skipped.
    #[arg(long, default_value = ".venv/bin/moto_server")]
    moto_bin: PathBuf,
}

fn main() {
    let cli = Cli::parse();
    // The store is synchronous: timed outside the async runtime.
    let cli = match cli.cmd {
        Cmd::Store(args) => {
            if let Err(e) = store::run(args) {
                eprintln!("ERROR: {e}");
                std::process::exit(1);
            }
            return;
        }
        Cmd::Fleet(args) => {
            if let Err(e) = fleet::run(args) {
                eprintln!("ERROR: {e}");
                std::process::exit(1);
            }
            return;
        }
        cmd => Cli { cmd },
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ERROR: tokio runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = match cli.cmd {
        Cmd::Sim(args) => rt.block_on(server::run_sim_bench(args)),
        Cmd::Reconcile(args) => rt.block_on(reconcile::run(args)),
        Cmd::Auth(args) => rt.block_on(auth::run(args)),
        Cmd::Store(_) | Cmd::Fleet(_) => Ok(()),
    };
    if let Err(e) = result {
        eprintln!("ERROR: {e}");
        std::process::exit(1);
    }
}

/// Binary next to this one (same cargo profile dir).
pub fn sibling(name: &str) -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let dir = me.parent().ok_or("no parent dir")?;
    let p = dir.join(name);
    if p.exists() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found; build it first: cargo build --release --workspace --bins",
            p.display()
        ))
    }
}
