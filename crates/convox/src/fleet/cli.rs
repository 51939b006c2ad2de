//! The command line of `convox racks …` (fleet runs).

use clap::{Args, Subcommand};

use crate::cli::OutputArg;

/// Which racks a fleet command is for.
#[derive(Debug, Args, Clone, Default)]
#[group(id = "which", required = true, multiple = true)]
pub struct FleetSel {
    /// Every rack in the store.
    #[arg(long, conflicts_with = "racks")]
    pub all: bool,
    /// A rack (repeatable: -r a -r b).
    #[arg(short = 'r', long = "rack", value_name = "NAME")]
    pub racks: Vec<String>,
    /// Only racks matching every KEY=VALUE (comma-separated): provider=aws|local,
    /// status=running|failed|…, version=V, region=R. Alone it picks from every rack.
    #[arg(long, value_name = "KEY=VALUE,…")]
    pub filter: Option<String>,
}

/// How a fleet run goes.
#[derive(Debug, Args, Clone, Copy)]
pub struct FleetRun {
    /// Racks reconciled at once (each under its own lock).
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub parallel: usize,
}

#[derive(Debug, Subcommand)]
pub enum RacksSub {
    /// Parameters of many racks: `convox racks params set KEY=VALUE… --all`.
    Params(FleetParams),
    /// Move many racks to VERSION (default: newest) and re-apply everything (repairs drift).
    Update {
        /// Target version (default: the newest this build knows).
        version: Option<String>,
        /// Downgrade even when a cluster is in API mode (see `convox rack update --force`).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        sel: FleetSel,
        #[command(flatten)]
        run: FleetRun,
        #[command(flatten)]
        out: OutputArg,
    },
    /// One table of the racks' authentication: mode, aws-auth, drift, the seed table's row,
    /// and who would lose access when aws-auth goes.
    Auth {
        #[command(flatten)]
        sel: FleetSel,
        #[command(flatten)]
        run: FleetRun,
        #[command(flatten)]
        out: OutputArg,
    },
}

#[derive(Debug, Args)]
pub struct FleetParams {
    #[command(subcommand)]
    pub set: FleetParamsSub,
}

#[derive(Debug, Subcommand)]
pub enum FleetParamsSub {
    /// Validate the change for every rack first (nothing runs if any rack refuses), then
    /// reconcile the racks concurrently; a summary table at the end, exit 1 if any failed.
    Set {
        /// KEY=VALUE pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        params: Vec<String>,
        #[command(flatten)]
        sel: FleetSel,
        /// Make new changes on racks whose last change failed (as `rack params set --force`).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        run: FleetRun,
        #[command(flatten)]
        out: OutputArg,
    },
}
