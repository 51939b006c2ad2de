//! `eks-sim serve [--listen ADDR] [--state DIR] [--set KEY=VALUE]...`: the simulator alone.

use clap::{Parser, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "eks-sim",
    about = "Simulated EKS/STS/IAM control plane on loopback"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve EKS, STS and IAM on one port until SIGINT/SIGTERM.
    Serve {
        /// Address to listen on (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:4599")]
        listen: SocketAddr,
        /// State directory (holds sim.db); default $CONVOX_HOME, else the platform data dir.
        #[arg(long)]
        state: Option<PathBuf>,
        /// Change a setting before serving (stored in the state), e.g. --set update_ms=0.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("ERROR: {e}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let Cmd::Serve { listen, state, set } = cli.cmd;
    let dir = state.unwrap_or_else(eks_sim_server::default_state_dir);
    let sim = eks_sim_server::open_sim(&dir)?;
    if !set.is_empty() {
        sim.store.write(|tx| {
            let mut s = eks_sim_model::settings::load(tx)?;
            for kv in &set {
                s = eks_sim_model::settings::set_kv(&s, kv)?;
            }
            eks_sim_model::settings::save(tx, &s)
        })?;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(eks_sim_server::serve_until_signal(sim, listen, |addr| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
    }))?;
    Ok(())
}
