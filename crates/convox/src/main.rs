//! `convox`: racks, parameters, and a safe EKS aws-auth → Access Entries migration.
//!
//! The command line, wiring and rendering only: the catalog is convox-params, the store
//! convox-store, the plan convox-planner, every AWS call convox-aws (official SDK), the
//! Kubernetes side convox-kube and convox-access, the simulator eks-sim-*; what a command
//! decides and does to a rack (checks, gates, the locked run, the reconcile loop) is
//! convox-engine.
//!
//! - `cli`: clap; `commands/`: one module per command family, each reading the store,
//!   connecting (`commands/wiring.rs`), calling the engine and rendering;
//! - `views`: the `--output json` answers as `Serialize` types (their keys are the contract);
//! - `render`: stdout (escaped), tables, history rows; `progress`: stderr (spinner, lines);
//! - `fleet/`: `racks params set|update|auth` over many racks at once (the engine per rack,
//!   concurrently, every AWS client sharing one set of rate limits).

mod cli;
mod commands;
mod fleet;
mod history;
mod home;
mod kube_auth;
mod kube_cmds;
mod kube_migrate;
mod progress;
mod render;
mod sim;
mod views;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

/// A command failure: printed as one `ERROR: …` line, then the process exits with `code`.
#[derive(Debug)]
pub struct Fail {
    msg: String,
    code: u8,
}

impl Fail {
    pub fn msg(m: impl Into<String>) -> Fail {
        Fail {
            msg: m.into(),
            code: 1,
        }
    }
    pub fn aws(e: convox_aws::AwsError) -> Fail {
        Fail::msg(e.to_string())
    }
}

impl From<convox_engine::EngineError> for Fail {
    fn from(e: convox_engine::EngineError) -> Fail {
        Fail {
            msg: e.to_string(),
            // A run stopped by a signal: the shell's convention, 128 + the signal number.
            code: match e.signal() {
                Some(sig) => 128u8.saturating_add(sig.number),
                None => 1,
            },
        }
    }
}

impl From<convox_store::StoreError> for Fail {
    fn from(e: convox_store::StoreError) -> Fail {
        Fail::msg(e.to_string())
    }
}

impl From<convox_aws::AwsError> for Fail {
    fn from(e: convox_aws::AwsError) -> Fail {
        Fail::aws(e)
    }
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // One line, whatever the source said, and nothing a terminal would act on (a key
        // typed with an escape sequence, a server's message).
        write!(f, "{}", convox_engine::one_line(&self.msg))
    }
}

/// Default log filter: warnings from convox's own crates, only errors from dependencies.
const DEFAULT_LOG: &str = "error,convox=warn,convox_aws=warn,convox_store=warn,convox_planner=warn,convox_engine=warn,convox_params=warn,eks_sim_server=warn,eks_sim_model=warn";

/// Colour codes only for a person at a terminal: never in a file, a pipe or CI logs, and
/// never when `NO_COLOR` is set to anything (no-color.org).
fn log_colours() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CONVOX_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        // The SDK's own warnings (e.g. every credential provider it tried) would bury the
        // one ERROR line that says what to do; our crates still warn.
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(log_colours())
        .with_target(false)
        .try_init();
}

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_tracing();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ERROR: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(commands::run(cli));
    progress::clear_all();
    // Stdout may be a closed pipe; nothing useful to do then.
    let _ = std::io::stdout().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ERROR: {e}");
            ExitCode::from(e.code)
        }
    }
}
