//! The command line (clap). Shape follows issue 3's contract exactly.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "convox",
    version,
    about = "Racks, parameters, and a safe EKS aws-auth → Access Entries migration"
)]
pub struct Cli {
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args, Clone)]
pub struct RackSel {
    /// Rack name (else $CONVOX_RACK, else the rack chosen with `convox switch`).
    #[arg(short = 'r', long = "rack", global = true)]
    pub rack: Option<String>,
}

#[derive(Debug, Args, Clone, Copy)]
pub struct OutputArg {
    /// Output format of read commands.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List racks: name, provider, version, status.
    Racks {
        #[command(flatten)]
        out: OutputArg,
    },
    /// Show a rack (or manage it with a subcommand).
    Rack(RackCmd),
    /// Choose the current rack.
    Switch {
        /// Rack name.
        name: String,
    },
    /// The simulated EKS/STS/IAM control plane.
    Sim {
        #[command(subcommand)]
        cmd: SimCmd,
    },
}

#[derive(Debug, Args)]
pub struct RackCmd {
    #[command(flatten)]
    pub sel: RackSel,
    #[command(flatten)]
    pub out: OutputArg,
    #[command(subcommand)]
    pub cmd: Option<RackSub>,
}

#[derive(Debug, Subcommand)]
pub enum RackSub {
    /// Install a rack.
    Install {
        #[command(subcommand)]
        kind: InstallKind,
    },
    /// Forget a rack (a local one also deletes its simulated cluster).
    Uninstall {
        /// Rack name.
        name: String,
    },
    /// List the rack's parameters, or set them.
    Params(ParamsCmd),
    /// Move the rack to VERSION (default: newest) and re-apply everything; at the same version
    /// it repairs drift.
    Update {
        /// Target version (default: the newest this build knows).
        version: Option<String>,
    },
    /// The cluster's authentication state: mode, entries, Karpenter table row, drift.
    Auth,
}

#[derive(Debug, Subcommand)]
pub enum InstallKind {
    /// A rack on the embedded simulator (no AWS needed).
    Local {
        /// Rack name (also the EKS cluster name).
        name: String,
        /// Region of the simulated cluster.
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Rack version (default: newest).
        #[arg(long)]
        version: Option<String>,
        /// Parameters to set after install (KEY=VALUE).
        params: Vec<String>,
    },
    /// Adopt an existing EKS cluster (standard AWS configuration chain).
    Aws {
        /// Rack name.
        name: String,
        #[arg(long)]
        cluster: String,
        #[arg(long)]
        region: String,
        #[arg(long = "nodes-role-arn")]
        nodes_role_arn: String,
        #[arg(long = "karpenter-nodes-role-arn")]
        karpenter_nodes_role_arn: Option<String>,
        /// Rack version (default: newest).
        #[arg(long)]
        version: Option<String>,
        /// AWS profile (else the chain's default: AWS_PROFILE, default profile, env, SSO…).
        #[arg(long)]
        profile: Option<String>,
        /// Parameters to set after install (KEY=VALUE).
        params: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct ParamsCmd {
    /// Only this group.
    #[arg(short = 'g', long = "group")]
    pub group: Option<String>,
    /// Show sensitive values.
    #[arg(long)]
    pub reveal: bool,
    #[command(subcommand)]
    pub set: Option<ParamsSub>,
}

#[derive(Debug, Subcommand)]
pub enum ParamsSub {
    /// Validate, store and reconcile until the cluster has converged.
    Set {
        /// KEY=VALUE pairs.
        #[arg(required = true)]
        params: Vec<String>,
        /// Make new changes on a rack whose last change failed (rerunning the failed change
        /// needs no --force; the per-rack lock and all validation still apply).
        #[arg(long)]
        force: bool,
        /// Print the plan; change nothing (neither AWS nor the store).
        #[arg(long = "dry-run")]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SimCmd {
    /// Serve the simulator until interrupted.
    Serve {
        /// Listen address.
        #[arg(long, default_value = "127.0.0.1:4599")]
        listen: String,
        /// State directory (default: $CONVOX_HOME or the platform data dir).
        #[arg(long)]
        state: Option<std::path::PathBuf>,
        /// Simulator setting KEY=VALUE (repeatable), stored in the state file.
        #[arg(long = "set")]
        set: Vec<String>,
    },
    /// Print `export` lines that point the AWS CLI/SDKs at the simulator.
    Env {
        /// Simulator address (default: $CONVOX_SIM_ENDPOINT or 127.0.0.1:4599).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Show or change the simulator settings in the state file.
    Config {
        /// State directory (default: $CONVOX_HOME or the platform data dir).
        #[arg(long)]
        state: Option<std::path::PathBuf>,
        /// KEY=VALUE settings to change.
        settings: Vec<String>,
        #[command(flatten)]
        out: OutputArg,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn rack_flag_after_subcommand() {
        let c = Cli::try_parse_from([
            "convox",
            "rack",
            "params",
            "set",
            "eks_access_entries=true",
            "-r",
            "demo",
        ])
        .expect("parses");
        match c.cmd {
            Cmd::Rack(rc) => {
                assert_eq!(rc.sel.rack.as_deref(), Some("demo"));
                assert!(matches!(
                    rc.cmd,
                    Some(RackSub::Params(ParamsCmd {
                        set: Some(ParamsSub::Set { .. }),
                        ..
                    }))
                ));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
