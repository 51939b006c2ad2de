//! The command line (clap). Shape follows issue 3's contract exactly.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "convox",
    version,
    about = "Racks, parameters, and a safe EKS aws-auth → Access Entries migration",
    after_help = "Example (on the embedded simulator, no AWS needed):\n  \
        convox rack install local demo\n  \
        convox rack params set eks_access_entries=true -r demo\n  \
        convox rack auth -r demo\n\n\
        Environment:\n  \
        CONVOX_HOME          state directory (racks.db, sim.db); default: the platform data dir\n  \
        CONVOX_STORE         a shared rack store, postgres://USER:PASSWORD@HOST:PORT/DB (as --store)\n  \
        CONVOX_RACK          rack used when -r is not given\n  \
        CONVOX_SIM_ENDPOINT  a running `convox sim serve` for local racks (default: in-process)\n  \
        CONVOX_LOG           log filter, e.g. info or debug (logs go to stderr)\n  \
        AWS_*                `aws` racks use the standard AWS configuration chain"
)]
pub struct Cli {
    /// The rack store a team shares: postgres://USER:PASSWORD@HOST:PORT/DATABASE
    /// (?sslmode=require for TLS, verify-full to check the server). Default: the SQLite
    /// file racks.db under $CONVOX_HOME. Prefer $CONVOX_STORE to keep the password out of
    /// the process list.
    #[arg(
        long,
        global = true,
        env = "CONVOX_STORE",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub store: Option<String>,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    #[default]
    Text,
    Json,
}

/// `-r NAME`. Not global: `rack install`/`uninstall` name their rack positionally, so the
/// flag is offered only where it selects a rack (before or after the subcommand's name).
#[derive(Debug, Args, Clone, Default)]
pub struct RackSel {
    /// Rack name (else $CONVOX_RACK, else the rack chosen with `convox switch`).
    #[arg(short = 'r', long = "rack", value_name = "NAME")]
    pub rack: Option<String>,
}

impl RackSel {
    /// The innermost `-r` given wins (`convox rack -r a params -r b` is rack b).
    pub fn or(self, outer: RackSel) -> RackSel {
        RackSel {
            rack: self.rack.or(outer.rack),
        }
    }
}

/// `--output`, offered by the commands that print something to read.
#[derive(Debug, Args, Clone, Copy, Default)]
pub struct OutputArg {
    /// Output format: `text` for people, `json` for scripts (stable keys).
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub output: Option<Output>,
}

impl OutputArg {
    pub fn or(self, outer: OutputArg) -> OutputArg {
        OutputArg {
            output: self.output.or(outer.output),
        }
    }
    pub fn format(self) -> Output {
        self.output.unwrap_or_default()
    }
}

#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// List racks: name, provider, version, status (or act on many: `racks params set`,
    /// `racks update`, `racks auth`).
    Racks {
        #[command(flatten)]
        out: OutputArg,
        #[command(subcommand)]
        cmd: Option<crate::fleet::cli::RacksSub>,
    },
    /// Show a rack's details and recent changes (or manage it with a subcommand).
    Rack(RackCmd),
    /// Choose the current rack (used when neither -r nor $CONVOX_RACK names one); without
    /// NAME, print the current rack.
    Switch {
        /// Rack name.
        name: Option<String>,
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
    /// Install a rack: `local` on the embedded simulator, or `aws` to adopt an EKS cluster.
    Install {
        #[command(subcommand)]
        kind: InstallKind,
    },
    /// Forget a rack (a local one also deletes its simulated cluster).
    Uninstall {
        /// Rack name.
        name: String,
    },
    /// List the rack's parameters (sorted, defaults included), or set them.
    Params(ParamsCmd),
    /// Move the rack to VERSION (default: newest) and re-apply everything; at the same version
    /// it repairs drift (e.g. an access entry deleted by hand).
    Update {
        /// Target version (default: the newest this build knows).
        version: Option<String>,
        /// Downgrade even when the cluster is in API mode: aws-auth is ignored there, so the
        /// access entries the target version no longer manages are the only way in.
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        sel: RackSel,
    },
    /// The history of changes: when, who, what, result. The rack's with -r (an uninstalled
    /// rack's too), else every rack's in the store, newest first.
    History {
        #[command(flatten)]
        sel: RackSel,
        /// At most this many changes.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        out: OutputArg,
    },
    /// The cluster's authentication state: mode, every access entry (type, policies, whether
    /// this rack manages it), the Karpenter table row that applies, and drift.
    Auth {
        #[command(flatten)]
        sel: RackSel,
        #[command(flatten)]
        out: OutputArg,
        #[command(subcommand)]
        cmd: Option<AuthSub>,
    },
    /// Print a kubeconfig for the rack's cluster whose credentials come from `convox rack
    /// token` (no AWS CLI needed): `convox rack kubeconfig > ~/.kube/NAME; KUBECONFIG=~/.kube/NAME kubectl get nodes`.
    Kubeconfig {
        #[command(flatten)]
        sel: RackSel,
    },
    /// Print an ExecCredential with an EKS token for the rack's cluster (kubectl's exec plugin).
    Token {
        #[command(flatten)]
        sel: RackSel,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuthSub {
    /// Bring every aws-auth mapping into an access entry (the mode must already include the
    /// API): prints the plan, then creates the entries (tagged convox:entry=aws-auth). Never
    /// deletes aws-auth or any entry; a second run creates nothing.
    Migrate {
        #[command(flatten)]
        sel: RackSel,
        /// Print the plan; change nothing.
        #[arg(long = "dry-run")]
        dry_run: bool,
        #[command(flatten)]
        out: OutputArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum InstallKind {
    /// A rack on the embedded simulator (no AWS needed).
    Local {
        /// Rack name (also the EKS cluster name).
        name: String,
        /// Region of the simulated cluster (cn-* and us-gov-* regions get their partition).
        #[arg(long, default_value = "us-east-1")]
        region: String,
        /// Rack version (default: newest).
        #[arg(long)]
        version: Option<String>,
        /// Start from a realistic aws-auth: a YAML file with `mapRoles`/`mapUsers`/`mapAccounts`
        /// (or a ConfigMap with them under `data`), added after the nodes mapping EKS writes.
        #[arg(long = "aws-auth-file", value_name = "FILE")]
        aws_auth_file: Option<std::path::PathBuf>,
        /// Parameters to set after install (KEY=VALUE).
        params: Vec<String>,
    },
    /// Adopt an existing EKS cluster. Credentials, profiles, SSO, AWS_ENDPOINT_URL come from
    /// the standard AWS configuration chain, as the AWS CLI reads them; the cluster and the
    /// caller are checked before anything is recorded.
    Aws {
        /// Rack name.
        name: String,
        /// Name of the existing EKS cluster.
        #[arg(long)]
        cluster: String,
        /// AWS region of the cluster.
        #[arg(long)]
        region: String,
        /// IAM role ARN of the cluster's managed node group (gets an EC2_LINUX access entry).
        #[arg(long = "nodes-role-arn", value_name = "ARN")]
        nodes_role_arn: String,
        /// IAM role ARN of the Karpenter nodes (gets an EC2_LINUX entry when
        /// karpenter_auth_mode=true).
        #[arg(long = "karpenter-nodes-role-arn", value_name = "ARN")]
        karpenter_nodes_role_arn: Option<String>,
        /// Rack version (default: newest).
        #[arg(long)]
        version: Option<String>,
        /// AWS profile, remembered for the rack (else the chain's default: AWS_PROFILE,
        /// environment, default profile, SSO…).
        #[arg(long)]
        profile: Option<String>,
        /// Parameters to set after install (KEY=VALUE).
        params: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct ParamsCmd {
    #[command(flatten)]
    pub sel: RackSel,
    #[command(flatten)]
    pub out: OutputArg,
    /// Only the parameters of this group.
    #[arg(short = 'g', long = "group")]
    pub group: Option<String>,
    /// Show sensitive values instead of masking them.
    #[arg(long)]
    pub reveal: bool,
    #[command(subcommand)]
    pub set: Option<ParamsSub>,
}

#[derive(Debug, Subcommand)]
pub enum ParamsSub {
    /// Validate, store and reconcile until the cluster has converged; prints
    /// `Setting parameters... OK`. Nothing is stored if validation fails.
    Set {
        /// KEY=VALUE pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        params: Vec<String>,
        #[command(flatten)]
        sel: RackSel,
        /// Output format of the --dry-run plan: `text` or `json` (only with --dry-run: a real
        /// run prints `Setting parameters... OK`).
        #[arg(long, value_enum, value_name = "FORMAT")]
        output: Option<Output>,
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
    ///
    /// Prints `listening on http://ADDR` first; SIGINT/SIGTERM stop it cleanly (state is
    /// committed per request). Local racks use it when $CONVOX_SIM_ENDPOINT names it.
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
    ///
    /// Use as `eval "$(convox sim env)"`. The keys printed are the simulator's documented
    /// default key pair, never credentials from your environment.
    Env {
        /// Simulator address (default: $CONVOX_SIM_ENDPOINT or 127.0.0.1:4599).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Show or change the simulator settings in the state file.
    ///
    /// Durations in ms (cluster_create_ms, update_ms, propagation_ms, …), EKS's own entry
    /// creation (auto_node_entries, bootstrap_creator_admin) and faults (throttle_rate,
    /// error_rate, latency_ms, read_lag_ms, seed). Without KEY=VALUE, prints them all.
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

    fn parse(args: &[&str]) -> Cli {
        let mut v = vec!["convox"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// The rack a parsed `rack …` command selects, merged as commands.rs merges it.
    fn rack_of(c: Cli) -> Option<String> {
        let Cmd::Rack(rc) = c.cmd else {
            panic!("not a rack command")
        };
        let sel = match rc.cmd {
            Some(RackSub::Params(p)) => match p.set {
                Some(ParamsSub::Set { sel, .. }) => sel.or(p.sel.or(rc.sel)),
                None => p.sel.or(rc.sel),
            },
            Some(RackSub::Auth { sel, .. }) | Some(RackSub::Update { sel, .. }) => sel.or(rc.sel),
            _ => rc.sel,
        };
        sel.rack
    }

    #[test]
    fn rack_flag_before_or_after_the_subcommand() {
        for args in [
            &[
                "rack",
                "params",
                "set",
                "eks_access_entries=true",
                "-r",
                "demo",
            ][..],
            &[
                "rack",
                "-r",
                "demo",
                "params",
                "set",
                "eks_access_entries=true",
            ],
            &[
                "rack",
                "params",
                "-r",
                "demo",
                "set",
                "eks_access_entries=true",
            ],
            &["rack", "params", "-r", "demo"],
            &["rack", "-r", "demo", "params"],
            &["rack", "auth", "-r", "demo"],
            &["rack", "-r", "demo", "auth"],
            &["rack", "update", "-r", "demo"],
            &["rack", "update", "3.24.7", "-r", "demo"],
            &["rack", "-r", "demo"],
            &["rack", "-r", "other", "params", "-r", "demo"],
        ] {
            assert_eq!(rack_of(parse(args)).as_deref(), Some("demo"), "{args:?}");
        }
    }

    #[test]
    fn output_and_rack_only_where_they_mean_something() {
        // Read commands take --output json (also after the subcommand's arguments).
        for args in [
            &["racks", "--output", "json"][..],
            &["rack", "--output", "json"],
            &["rack", "params", "--output", "json"],
            &[
                "rack", "params", "-g", "auth", "--reveal", "--output", "json",
            ],
            &["rack", "auth", "--output", "json"],
            &[
                "rack",
                "params",
                "set",
                "a=b",
                "--dry-run",
                "--output",
                "json",
            ],
            &["sim", "config", "--output", "json"],
        ] {
            parse(args);
        }
        // Commands that print no report do not pretend to take --output; install and
        // uninstall name their rack positionally.
        for args in [
            &["rack", "update", "--output", "json"][..],
            &["rack", "uninstall", "demo", "--output", "json"],
            &["rack", "install", "local", "demo", "--output", "json"],
            &["rack", "install", "local", "demo", "-r", "x"],
            &["rack", "uninstall", "demo", "-r", "x"],
            &["switch", "demo", "-r", "x"],
        ] {
            let mut v = vec!["convox"];
            v.extend_from_slice(args);
            assert!(Cli::try_parse_from(v).is_err(), "{args:?} should not parse");
        }
    }

    #[test]
    fn switch_without_a_name_shows_the_current_rack() {
        assert!(matches!(parse(&["switch"]).cmd, Cmd::Switch { name: None }));
    }

    /// Every option and argument of every command says what it is for.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            if cmd.get_about().is_none() && cmd.get_name() != "help" {
                missing.push(format!("{path} (command)"));
            }
            for a in cmd.get_arguments() {
                let id = a.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if a.get_help().is_none() && a.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
