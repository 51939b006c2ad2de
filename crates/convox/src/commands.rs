//! One function per command. Thin: validation is convox-params, state convox-store,
//! decisions convox-planner, AWS convox-aws.

use std::collections::BTreeMap;

use convox_aws::{Aws, CallerIdentity, Target};
use convox_params::{Params, Version};
use convox_planner::{is_managed_by, policy_name, ObservedEntry, Scope};
use convox_store::{NewRack, Provider, Rack, RackStatus, Store};
use serde_json::json;

use crate::cli::{Cli, Cmd, InstallKind, Output, ParamsSub, RackCmd, RackSub, SimCmd};
use crate::gates;
use crate::home;
use crate::kube_auth;
use crate::kube_cmds;
use crate::locked::{self, run_locked, take_lock, Begin};
use crate::progress::Progress;
use crate::reconcile::{self, RackAws};
use crate::sim::{self, LocalSim};
use crate::Fail;

/// The store `--store`/$CONVOX_STORE names (set once by [`run`]); none: the SQLite file.
static STORE_SPEC: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

pub(crate) fn open_store() -> Result<Store, Fail> {
    let spec = STORE_SPEC.get().and_then(|s| s.as_deref());
    Store::open_spec(spec, &home::state_dir()?).map_err(store_err)
}

pub(crate) fn store_err(e: convox_store::StoreError) -> Fail {
    Fail::msg(e.to_string())
}

/// Every result goes to stdout through here: line breaks kept, any other character a
/// terminal would act on escaped, whatever a value's source (an older store, AWS).
pub(crate) fn print(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(convox_params::printable_text(s).as_bytes());
}

pub(crate) fn print_json(v: &serde_json::Value) -> Result<(), Fail> {
    let s = serde_json::to_string_pretty(v).map_err(|e| Fail::msg(format!("json: {e}")))?;
    print(&format!("{s}\n"));
    Ok(())
}

pub async fn run(cli: Cli) -> Result<(), Fail> {
    let _ = STORE_SPEC.set(cli.store.clone());
    match cli.cmd {
        Cmd::Sim { cmd } => match cmd {
            SimCmd::Serve { listen, state, set } => sim::serve(&listen, state, &set).await,
            SimCmd::Env { listen } => {
                print(&sim::env(listen)?);
                Ok(())
            }
            SimCmd::Config {
                state,
                settings,
                out,
            } => {
                print(&sim::config(state, &settings, out.format())?);
                Ok(())
            }
        },
        Cmd::Racks { out } => racks_list(out.format()),
        Cmd::Switch { name: None } => {
            let store = open_store()?;
            match store.current_rack().map_err(store_err)? {
                Some(name) => print(&format!("{name}\n")),
                None => {
                    return Err(Fail::msg(
                        "no current rack; choose one with `convox switch NAME` (`convox racks` lists them)",
                    ))
                }
            }
            Ok(())
        }
        Cmd::Switch { name: Some(name) } => {
            let store = open_store()?;
            store.set_current_rack(&name).map_err(store_err)?;
            print(&format!("Switched to {name}\n"));
            Ok(())
        }
        Cmd::Rack(rc) => rack(rc).await,
    }
}

fn racks_list(output: Output) -> Result<(), Fail> {
    let store = open_store()?;
    let racks = store.racks().map_err(store_err)?;
    let current = store.current_rack().ok().flatten();
    match output {
        Output::Json => print_json(&json!(racks
            .iter()
            .map(|r| json!({
                "name": r.name,
                "provider": r.provider.as_str(),
                "version": r.version.to_string(),
                "status": r.status.as_str(),
                "current": current.as_deref() == Some(r.name.as_str()),
            }))
            .collect::<Vec<_>>())),
        Output::Text => {
            let mut rows = vec![[
                "NAME".to_string(),
                "PROVIDER".into(),
                "VERSION".into(),
                "STATUS".into(),
            ]];
            for r in &racks {
                let name = if current.as_deref() == Some(r.name.as_str()) {
                    format!("{} *", r.name)
                } else {
                    r.name.clone()
                };
                rows.push([
                    name,
                    r.provider.to_string(),
                    r.version.to_string(),
                    r.status.to_string(),
                ]);
            }
            print(&table(&rows));
            Ok(())
        }
    }
}

pub(crate) fn table<const N: usize>(rows: &[[String; N]]) -> String {
    let mut widths = [0usize; N];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut s = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == N {
                line.push_str(c);
            } else {
                line.push_str(&format!("{:<w$}  ", c, w = widths[i]));
            }
        }
        s.push_str(line.trim_end());
        s.push('\n');
    }
    s
}

/// The rack a command is for: -r, else $CONVOX_RACK, else the switched-to rack.
pub(crate) fn selected(store: &Store, flag: Option<String>) -> Result<Rack, Fail> {
    let env = std::env::var("CONVOX_RACK").ok();
    let flag = flag.filter(|f| !f.is_empty());
    let env = env.filter(|e| !e.is_empty());
    store
        .resolve_rack(flag.as_deref(), env.as_deref())
        .map_err(|e| match e {
            // Say where a name the user did not type came from.
            convox_store::StoreError::UnknownRack(n) if flag.is_none() => {
                let from = if env.is_some() {
                    "$CONVOX_RACK"
                } else {
                    "`convox switch`"
                };
                Fail::msg(format!(
                    "no rack named {n} (chosen by {from}); run `convox racks` to list racks"
                ))
            }
            convox_store::StoreError::NoCurrentRack
                if store.racks().is_ok_and(|r| r.is_empty()) =>
            {
                Fail::msg(
                    "there are no racks yet; install one with `convox rack install local NAME` (simulated) or `convox rack install aws NAME --cluster C --region R --nodes-role-arn ARN`",
                )
            }
            e => store_err(e),
        })
}

/// SDK clients for a rack (and the simulator serving a local one, kept for the command).
pub struct Conn {
    pub aws: Aws,
    local: Option<LocalSim>,
}

impl Conn {
    /// Stops an embedded simulator and reports the API calls made (tracing at info; JSON to
    /// the file named by $CONVOX_CALLS_FILE, which tests and benchmarks read).
    pub async fn close(self) {
        let counts = self.aws.counter().snapshot();
        let total: u64 = counts.values().sum();
        tracing::info!(
            total,
            mutating = self.aws.counter().mutating(),
            "API calls: {counts:?}"
        );
        if let Some(path) = std::env::var_os("CONVOX_CALLS_FILE").filter(|p| !p.is_empty()) {
            let body = json!({ "total": total, "calls": counts });
            if let Err(e) = std::fs::write(&path, format!("{body}\n")) {
                tracing::warn!(
                    "cannot write {}: {e}",
                    std::path::Path::new(&path).display()
                );
            }
        }
        if let Some(l) = self.local {
            l.stop().await;
        }
    }
}

/// `sim`: the simulator a local rack's cluster lives in, when recorded (shared stores).
async fn connect_provider(
    provider: Provider,
    region: &str,
    profile: Option<String>,
    sim: Option<(&str, &str)>,
    progress: &Progress,
) -> Result<Conn, Fail> {
    let (target, local) = if provider == Provider::Local {
        progress.status("starting the simulator");
        let l = match sim {
            Some((rack, url)) => sim::recorded(rack, url).await?,
            None => sim::local(&home::state_dir()?).await?,
        };
        (sim::target(&l.url, region), Some(l))
    } else {
        // A named profile must exist (at install, and for a stored one that has vanished
        // since), as the AWS CLI requires; nothing is called or recorded otherwise.
        if let Some(p) = &profile {
            convox_aws::check_profile(p).await.map_err(Fail::aws)?;
        }
        (
            Target::Aws {
                region: region.to_string(),
                profile,
            },
            None,
        )
    };
    progress.status(&format!(
        "checking the credentials and the cluster ({region})"
    ));
    let aws = Aws::connect_with(&target, call_timeouts())
        .await
        .with_progress(progress.callback())
        .with_notices(progress.notice_callback());
    Ok(Conn { aws, local })
}

/// The bound of one AWS call; CONVOX_CALL_TIMEOUT_MS is a test knob (a hung endpoint is
/// otherwise given up on after the default minute).
fn call_timeouts() -> convox_aws::CallTimeouts {
    std::env::var("CONVOX_CALL_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(|ms| convox_aws::CallTimeouts::within(std::time::Duration::from_millis(ms)))
        .unwrap_or_default()
}

pub(crate) async fn connect(rack: &Rack, progress: &Progress) -> Result<Conn, Fail> {
    let sim = rack.endpoint.as_deref().map(|u| (rack.name.as_str(), u));
    connect_provider(
        rack.provider,
        &rack.region,
        rack.profile.clone(),
        sim,
        progress,
    )
    .await
}

pub(crate) fn rack_aws(r: &Rack) -> RackAws {
    RackAws {
        rack: r.name.clone(),
        cluster: r.cluster.clone(),
        region: r.region.clone(),
        nodes_role_arn: r.nodes_role_arn.clone(),
        karpenter_nodes_role_arn: r.karpenter_nodes_role_arn.clone(),
    }
}

async fn rack(rc: RackCmd) -> Result<(), Fail> {
    let (outer_sel, outer_out) = (rc.sel, rc.out);
    // `-r`/`--output` given before the subcommand apply to it; ones after it win.
    if rc
        .cmd
        .as_ref()
        .is_some_and(|c| matches!(c, RackSub::Install { .. } | RackSub::Uninstall { .. }))
    {
        if outer_sel.rack.is_some() {
            return Err(Fail::msg(
                "-r/--rack does not apply to `rack install`/`rack uninstall`: name the rack as their NAME argument",
            ));
        }
        if outer_out.output.is_some() {
            return Err(Fail::msg(
                "--output does not apply to `rack install`/`rack uninstall`; read the result with `convox rack -r NAME --output json`",
            ));
        }
    }
    match rc.cmd {
        None => {
            let output = outer_out.format();
            let store = open_store()?;
            let r = selected(&store, outer_sel.rack)?;
            let history = store.history(Some(&r.name), 10).map_err(store_err)?;
            let params = store.params(&r.name).map_err(store_err)?;
            let inactive = convox_params::inactive_at(&params, &r.version);
            rack_info(&r, &history, &inactive, output)
        }
        Some(RackSub::Install { kind }) => install(kind).await,
        Some(RackSub::Uninstall { name }) => uninstall(&name).await,
        Some(RackSub::Params(p)) => match p.set {
            None => params_list(
                p.sel.or(outer_sel).rack,
                p.group.as_deref(),
                p.reveal,
                p.out.or(outer_out).format(),
            ),
            Some(ParamsSub::Set {
                params,
                force,
                dry_run,
                sel,
                output,
            }) => {
                let sel = sel.or(p.sel.or(outer_sel)).rack;
                let out = crate::cli::OutputArg { output }.or(p.out.or(outer_out));
                if out.output.is_some() && !dry_run {
                    return Err(Fail::msg(
                        "--output applies to `params set --dry-run` only (a real run prints `Setting parameters... OK`)",
                    ));
                }
                params_set(sel, &params, force, dry_run, out.format()).await
            }
        },
        Some(RackSub::Update {
            version,
            force,
            sel,
        }) => {
            if outer_out.output.is_some() {
                return Err(Fail::msg(
                    "--output does not apply to `rack update`; read the result with `convox rack auth --output json`",
                ));
            }
            update(sel.or(outer_sel).rack, version, force).await
        }
        Some(RackSub::Auth { sel, out }) => {
            auth(sel.or(outer_sel).rack, out.or(outer_out).format()).await
        }
        Some(RackSub::History { sel, limit, out }) => {
            crate::history::show(sel.or(outer_sel).rack, limit, out.or(outer_out).format())
        }
        Some(RackSub::Kubeconfig { sel }) => kube_cmds::kubeconfig(sel.or(outer_sel).rack).await,
        Some(RackSub::Token { sel }) => kube_cmds::token(sel.or(outer_sel).rack).await,
    }
}

fn rack_info(
    r: &Rack,
    history: &[convox_store::HistoryEntry],
    inactive: &[convox_params::LeftBehind],
    output: Output,
) -> Result<(), Fail> {
    let v = json!({
        "name": r.name,
        "provider": r.provider.as_str(),
        "version": r.version.to_string(),
        "status": r.status.as_str(),
        "region": r.region,
        "cluster": r.cluster,
        "nodes_role_arn": r.nodes_role_arn,
        "karpenter_nodes_role_arn": r.karpenter_nodes_role_arn,
        "profile": r.profile,
        "last_error": r.last_error,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "history": history,
        "inactive_params": inactive,
    });
    match output {
        Output::Json => print_json(&v),
        Output::Text => {
            let mut rows = vec![
                ["Name".to_string(), r.name.clone()],
                ["Provider".into(), r.provider.to_string()],
                ["Version".into(), r.version.to_string()],
                ["Status".into(), r.status.to_string()],
                ["Region".into(), r.region.clone()],
                ["Cluster".into(), r.cluster.clone()],
                ["Nodes role".into(), r.nodes_role_arn.clone()],
                [
                    "Karpenter nodes role".into(),
                    r.karpenter_nodes_role_arn.clone().unwrap_or_default(),
                ],
            ];
            if r.provider == Provider::Aws {
                // Which credentials the rack's commands use.
                rows.push([
                    "AWS profile".into(),
                    r.profile
                        .clone()
                        .unwrap_or_else(|| "(default credential chain)".into()),
                ]);
            }
            if let Some(e) = &r.last_error {
                rows.push(["Last error".into(), e.clone()]);
            }
            // Left behind by a downgrade: stored, not acting, back in force at `since`.
            for l in inactive {
                rows.push([
                    "Inactive parameter".into(),
                    format!(
                        "{}={} ({} does not have it; acts again at {} or later)",
                        l.key, l.value, r.version, l.since
                    ),
                ]);
            }
            let mut s = table(&rows);
            if !history.is_empty() {
                s.push_str("\nRecent changes:\n");
                let mut h = vec![[
                    "WHEN".to_string(),
                    "ACTOR".into(),
                    "ACTION".into(),
                    "RESULT".into(),
                    "WHAT".into(),
                ]];
                for e in history {
                    let result = match e.result {
                        convox_store::Outcome::Ok => "ok".to_string(),
                        convox_store::Outcome::Pending => "pending".to_string(),
                        convox_store::Outcome::Failed => {
                            format!("failed: {}", summary(e.message.as_deref().unwrap_or("")))
                        }
                    };
                    h.push([
                        when_text(&e.at),
                        e.actor.clone(),
                        e.action.clone(),
                        result,
                        what_text(&e.what),
                    ]);
                }
                s.push_str(&table(&h));
                let shortened = history.iter().any(|e| {
                    e.message
                        .as_deref()
                        .is_some_and(|m| summary(m).ends_with('…'))
                });
                if shortened {
                    s.push_str(&format!(
                        "(results shortened; `convox rack -r {} --output json` has them whole)\n",
                        r.name
                    ));
                }
            }
            print(&s);
            Ok(())
        }
    }
}

/// Longest failure message a history row shows in text (JSON and the store keep it whole).
const SUMMARY_CHARS: usize = 72;

/// A failure message as one bounded line for the history table.
pub(crate) fn summary(message: &str) -> String {
    let line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= SUMMARY_CHARS {
        return line;
    }
    let cut: String = line.chars().take(SUMMARY_CHARS - 1).collect();
    format!("{}…", cut.trim_end())
}

/// `2026-11-28T21:08:05.884323606Z` → `2026-11-28T21:08:05Z` (text output only).
pub(crate) fn when_text(at: &str) -> String {
    match (at.find('.'), at.ends_with('Z')) {
        (Some(i), true) => format!("{}Z", &at[..i]),
        _ => at.to_string(),
    }
}

/// A history entry's `what` in words (JSON output keeps the record as stored).
pub(crate) fn what_text(what: &serde_json::Value) -> String {
    let s = |v: &serde_json::Value| v.as_str().map(str::to_string);
    let params: Vec<String> = what["params"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let key = s(&p["key"]).unwrap_or_default();
                    let new = s(&p["new"]).unwrap_or_default();
                    match s(&p["old"]) {
                        Some(old) => format!("{key} {old} -> {new}"),
                        None => format!("{key}={new}"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let mut parts = Vec::new();
    if let (Some(provider), Some(cluster)) = (s(&what["provider"]), s(&what["cluster"])) {
        parts.push(format!(
            "{provider} rack, cluster {cluster} ({}), version {}",
            s(&what["region"]).unwrap_or_default(),
            s(&what["version"]).unwrap_or_default()
        ));
    }
    if let (Some(from), Some(to)) = (s(&what["from"]), s(&what["to"])) {
        parts.push(if from == to {
            format!("re-apply at {to}")
        } else {
            format!("version {from} -> {to}")
        });
        if let Some(left) = what["left_behind"].as_array() {
            let keys: Vec<String> = left.iter().filter_map(s).collect();
            parts.push(format!("{} left inactive", keys.join(", ")));
        }
        if what["forced"].as_bool() == Some(true) {
            parts.push("forced".into());
        }
    }
    parts.extend(params);
    if parts.is_empty() {
        what.to_string()
    } else {
        parts.join(", ")
    }
}

fn parse_version(v: Option<&str>) -> Result<Version, Fail> {
    match v {
        None => Ok(convox_params::latest_version()),
        Some(s) => convox_params::parse_known(s).map_err(|e| Fail::msg(e.to_string())),
    }
}

async fn install(kind: InstallKind) -> Result<(), Fail> {
    let progress = Progress::new(false);
    let res = install_inner(kind, &progress).await;
    progress.finish();
    res
}

async fn install_inner(kind: InstallKind, progress: &Progress) -> Result<(), Fail> {
    let store = open_store()?;
    // Everything that can be checked offline is checked before AWS is touched.
    let (InstallKind::Local {
        name,
        region,
        version,
        ..
    }
    | InstallKind::Aws {
        name,
        region,
        version,
        ..
    }) = &kind;
    convox_store::validate_rack_name(name).map_err(store_err)?;
    check_region(region)?;
    let version = parse_version(version.as_deref())?;
    let (new, params, profile, seed) = match kind {
        InstallKind::Local {
            name,
            region,
            params,
            aws_auth_file,
            ..
        } => (
            NewRack {
                cluster: name.clone(),
                // Filled in once the roles exist.
                nodes_role_arn: String::new(),
                karpenter_nodes_role_arn: None,
                name,
                provider: Provider::Local,
                version,
                region,
                endpoint: None,
                profile: None,
            },
            params,
            None,
            // Read and checked before anything is made: a bad file installs nothing.
            aws_auth_file
                .map(|f| kube_cmds::read_aws_auth_file(&f))
                .transpose()?,
        ),
        InstallKind::Aws {
            name,
            cluster,
            region,
            nodes_role_arn,
            karpenter_nodes_role_arn,
            profile,
            params,
            ..
        } => {
            crate::checks::check_cluster_name(&cluster)?;
            for arn in std::iter::once(&nodes_role_arn).chain(karpenter_nodes_role_arn.iter()) {
                check_node_role_arn(arn, &region)?;
            }
            (
                NewRack {
                    name,
                    provider: Provider::Aws,
                    version,
                    region,
                    cluster,
                    nodes_role_arn,
                    karpenter_nodes_role_arn,
                    endpoint: None,
                    profile: profile.clone(),
                },
                params,
                profile,
                None,
            )
        }
    };
    let planned = if params.is_empty() {
        Params::default()
    } else {
        convox_params::validate_set(&Params::default(), &new.version, &params)
            .map_err(|e| Fail::msg(e.to_string()))?
            .apply_to(&Params::default())
    };
    if new.provider == Provider::Aws {
        gates::check_install_needs(&new, &planned)?;
    }
    if store.rack(&new.name).map_err(store_err)?.is_some() {
        return Err(store_err(convox_store::StoreError::RackExists(
            new.name.clone(),
        )));
    }
    let mut new = new;
    if new.provider == Provider::Local && store.is_shared() {
        // Every machine of the team must find the rack's cluster where it was made.
        new.endpoint = Some(sim::shared_endpoint(&new.name)?);
    }
    let sim = new.endpoint.as_deref().map(|u| (new.name.as_str(), u));
    let conn = connect_provider(new.provider, &new.region, profile, sim, progress).await?;
    let name = new.name.clone();
    let mut res = install_with(&store, &conn, new, &params, &planned, progress).await;
    if let (Ok(()), Some(data)) = (&res, seed) {
        res = kube_cmds::seed_aws_auth(&store, &conn, &name, &data).await;
    }
    conn.close().await;
    res
}

/// An AWS region name's shape (`us-east-1`, `cn-north-1`, `us-gov-west-1`, `eu-central-2`):
/// a typo caught here never reaches AWS, where it would surface as a DNS or signature error.
fn check_region(region: &str) -> Result<(), Fail> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts.len() <= 4
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if ok {
        Ok(())
    } else {
        Err(Fail::msg(format!(
            "invalid region `{region}`: expected an AWS region name such as us-east-1 or eu-west-1"
        )))
    }
}

/// A node role ARN as EKS will need it: `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`, in
/// the partition of the cluster's region (EC2_LINUX entries take same-partition roles only).
fn check_node_role_arn(arn: &str, region: &str) -> Result<(), Fail> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let well_formed = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[3].is_empty()
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|n| !n.is_empty() && !n.ends_with('/'));
    if !well_formed {
        return Err(Fail::msg(format!(
            "invalid role ARN `{arn}`: expected arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME"
        )));
    }
    let want = convox_planner::partition_for_region(region);
    if parts[1] != want {
        return Err(Fail::msg(format!(
            "role ARN `{arn}` is in partition {}, but region {region} is in {want}; use arn:{want}:iam::…",
            parts[1]
        )));
    }
    Ok(())
}

/// Node roles must be in the cluster's account: EKS takes EC2_LINUX entries for same-account
/// roles only, so a mismatch would fail later, half-way through a `params set`.
fn check_node_role_account(new: &NewRack, account: &str) -> Result<(), Fail> {
    for arn in std::iter::once(&new.nodes_role_arn).chain(new.karpenter_nodes_role_arn.iter()) {
        let role_account = arn.split(':').nth(4).unwrap_or_default();
        if !account.is_empty() && role_account != account {
            return Err(Fail::msg(format!(
                "role ARN `{arn}` is in account {role_account}, but the credentials (and so the cluster {}) are in account {account}; node roles must be in the cluster's account",
                new.cluster
            )));
        }
    }
    Ok(())
}

async fn install_with(
    store: &Store,
    conn: &Conn,
    mut new: NewRack,
    params: &[String],
    planned: &Params,
    progress: &Progress,
) -> Result<(), Fail> {
    let name = new.name.clone();
    let caller = conn.aws.identity().await.map_err(Fail::aws)?;
    if new.provider == Provider::Aws {
        check_node_role_account(&new, &caller.account)?;
        gates::check_install_roles(&conn.aws, &new).await?;
    }
    if new.provider == Provider::Local {
        let spec = convox_aws::InstallSpec {
            rack: name.clone(),
            cluster: new.cluster.clone(),
            version: None,
            role_path: "/convox/".to_string(),
            cluster_role_name: format!("{name}-cluster"),
            nodes_role_name: format!("{name}-nodes"),
            karpenter_nodes_role_name: format!("{name}-karpenter-nodes"),
            nodegroup: format!("{name}-nodes"),
        };
        let roles = conn.aws.install_cluster(&spec).await.map_err(Fail::aws)?;
        new.nodes_role_arn = roles.nodes_role_arn;
        new.karpenter_nodes_role_arn = Some(roles.karpenter_nodes_role_arn);
    }
    // Check the cluster and the identity before recording anything: a rack that cannot be
    // observed is not installed.
    let ra = RackAws {
        rack: name.clone(),
        cluster: new.cluster.clone(),
        region: new.region.clone(),
        nodes_role_arn: new.nodes_role_arn.clone(),
        karpenter_nodes_role_arn: new.karpenter_nodes_role_arn.clone(),
    };
    let first = reconcile::snapshot(&conn.aws, &ra, planned, Some(&caller)).await?;
    let set = locked::install(store, conn, &new, params, planned, &ra, first, progress).await?;
    progress.finish();
    print(&format!("Installing rack {name}... OK\n"));
    if set {
        print("Setting parameters... OK\n");
    }
    Ok(())
}

async fn uninstall(name: &str) -> Result<(), Fail> {
    let store = open_store()?;
    let r = store.get_rack(name).map_err(store_err)?;
    let progress = Progress::new(false);
    let lock = take_lock(&store, name, "uninstall", &progress)?;
    if r.provider == Provider::Local {
        let conn = connect(&r, &progress).await?;
        let res = match locked::still_held(&store, &lock) {
            Ok(()) => conn
                .aws
                .delete_rack_cluster(&r.cluster, &r.name)
                .await
                .map_err(Fail::aws),
            Err(e) => Err(e),
        };
        if let Ok(false) = res {
            // Not ours (e.g. a rack installed before clusters were tagged): leave it.
            progress.say(&format!(
                "cluster {} is not tagged convox:rack={}; leaving it in place",
                r.cluster, r.name
            ));
        }
        conn.close().await;
        progress.finish();
        res?;
    } else {
        // An adopted cluster is not the rack's to delete: only the record goes.
        progress.say(&format!(
            "forgetting rack {name}; cluster {} ({}) and its access entries are left as they are",
            r.cluster, r.region
        ));
    }
    // Fenced: a run stopped past its lease while another took the rack over forgets nothing.
    store
        .fenced(&lock)
        .delete_rack(convox_store::LOCAL_ACTOR)
        .map_err(locked::fenced_err)?;
    print(&format!("Uninstalling rack {name}... OK\n"));
    Ok(())
}

fn params_list(
    sel: Option<String>,
    group: Option<&str>,
    reveal: bool,
    output: Output,
) -> Result<(), Fail> {
    let store = open_store()?;
    let r = selected(&store, sel)?;
    let params = store.params(&r.name).map_err(store_err)?;
    // Group names are matched case-insensitively, as the reference CLI does.
    let group = group.map(str::to_ascii_lowercase);
    let rows = convox_params::list(
        &r.listing_params(&params),
        &r.version,
        group.as_deref(),
        reveal,
    )
    .map_err(|e| Fail::msg(e.to_string()))?;
    match output {
        Output::Json => {
            let map: BTreeMap<String, String> = rows
                .iter()
                .map(|l| (l.key.clone(), l.value.clone()))
                .collect();
            print_json(&json!(map))
        }
        Output::Text => {
            // Two columns as the reference CLI prints them; an empty value leaves no
            // trailing blanks.
            let listing: String = convox_params::render_listing(&rows)
                .lines()
                .map(|l| format!("{}\n", l.trim_end()))
                .collect();
            print(&listing);
            Ok(())
        }
    }
}

async fn params_set(
    sel: Option<String>,
    args: &[String],
    force: bool,
    dry_run: bool,
    output: Output,
) -> Result<(), Fail> {
    let store = open_store()?;
    let r = selected(&store, sel)?;
    let current = store.params(&r.name).map_err(store_err)?;
    // Validation first: a refused call touches nothing, not even AWS.
    let changes = convox_params::validate_set(&current, &r.version, args)
        .map_err(|e| Fail::msg(e.to_string()))?;
    gates::check_needs(&r, &changes.apply_to(&current), &r.version)?;
    // A failed rack accepts a rerun of what failed (the requested values are kept) without
    // ceremony; piling *new* changes on it needs --force.
    if r.status == RackStatus::Failed && !changes.is_noop() && !force && !dry_run {
        return Err(Fail::msg(format!(
            "rack {} is failed ({}); rerun the failed change or `convox rack update -r {}` to repair it, or pass --force to change parameters anyway",
            r.name,
            r.last_error.as_deref().unwrap_or("see `convox rack`"),
            r.name
        )));
    }
    let progress = Progress::new(dry_run);
    let conn = connect(&r, &progress).await?;
    let res = if dry_run {
        let next = convox_params::effective_at(&changes.apply_to(&current), &r.version);
        gates::dry_run_plan(&conn.aws, &r, &changes, &next, output).await
    } else {
        run_locked(&store, &r.name, &conn, Begin::ParamsSet(args), &progress).await
    };
    // The Kubernetes side confirms the caller's access (before an embedded simulator stops)
    // when this run turned it on; a no-op rerun keeps its call budget.
    let entries_on = !changes.is_noop()
        && convox_params::effective_at(&changes.apply_to(&current), &r.version)
            .flag(convox_params::EKS_ACCESS_ENTRIES);
    let note = match &res {
        Ok(()) if !dry_run && entries_on => Some(kube_cmds::admin_check(&conn, &r).await),
        _ => None,
    };
    conn.close().await;
    progress.finish();
    res?;
    if !dry_run {
        print("Setting parameters... OK\n");
    }
    if let Some(n) = note {
        progress.suspend(|| eprintln!("{}", convox_params::printable(&n)));
    }
    Ok(())
}

async fn update(sel: Option<String>, version: Option<String>, force: bool) -> Result<(), Fail> {
    let store = open_store()?;
    let r = selected(&store, sel)?;
    let to = parse_version(version.as_deref())?;
    let params = store.params(&r.name).map_err(store_err)?;
    // Checked again under the lock; an unknown version is refused before any AWS call.
    convox_params::validate_update(&params, &r.version, &to)
        .map_err(|e| Fail::msg(e.to_string()))?;
    // `rack update` is the repair path: it runs on failed racks as they are.
    let progress = Progress::new(false);
    let conn = connect(&r, &progress).await?;
    let res = run_locked(
        &store,
        &r.name,
        &conn,
        Begin::Update { to, force },
        &progress,
    )
    .await;
    conn.close().await;
    progress.finish();
    res?;
    print(&format!("Updating rack {} to {to}... OK\n", r.name));
    Ok(())
}

fn scope_text(s: &Scope) -> String {
    match s {
        Scope::Cluster => "cluster".into(),
        Scope::Namespace { namespaces } => format!("namespace:{}", namespaces.join(",")),
    }
}

fn entry_json(
    e: &ObservedEntry,
    rack: &str,
    roles: &BTreeMap<String, String>,
) -> serde_json::Value {
    json!({
        "principal_arn": e.principal_arn,
        "type": e.entry_type,
        "policies": e.policies.as_ref().map(|ps| ps.iter().map(|p| json!({
            "policy_arn": p.policy_arn,
            "scope": p.scope,
        })).collect::<Vec<_>>()),
        "managed_by_rack": is_managed_by(e, rack),
        "rack_role": roles.get(&e.principal_arn),
        "tags": e.tags,
    })
}

async fn auth(sel: Option<String>, output: Output) -> Result<(), Fail> {
    let store = open_store()?;
    let r = selected(&store, sel)?;
    let stored = store.params(&r.name).map_err(store_err)?;
    // What the rack's version acts on; what a downgrade left behind is shown apart.
    let params = convox_params::effective_at(&stored, &r.version);
    let inactive = convox_params::inactive_at(&stored, &r.version);
    let progress = Progress::new(true);
    let conn = connect(&r, &progress).await?;
    // The cluster's status and mode are the snapshot's: what the drift was computed from.
    // Read-only: a caller that cannot have an entry (root, federated) still sees the state.
    let res = async {
        // aws-auth is read concurrently with the AWS side (its own EKS token, its own calls).
        let ra = rack_aws(&r);
        let (snap, fact) = futures::join!(
            reconcile::snapshot_for_reading(&conn.aws, &ra, &params),
            kube_auth::read(&conn, &r)
        );
        let (snap, no_entry) = snap?;
        let entries = if snap.observed.auth_mode.includes_api() {
            conn.aws.all_entries(&r.cluster).await.map_err(Fail::aws)?
        } else {
            Vec::new()
        };
        Ok::<_, Fail>((snap, no_entry, entries, fact))
    }
    .await;
    conn.close().await;
    let (snap, no_entry, entries, fact) = res?;
    let seen = &snap.observed;
    let caller = match no_entry {
        None => &snap.caller.principal_arn,
        Some(_) => &snap.caller.arn,
    };
    let karpenter = params.flag(convox_params::KARPENTER_AUTH_MODE);
    let k8s = kube_auth::view(&r, seen.auth_mode, caller, &fact, &entries, karpenter);
    let row = convox_planner::table_row(&params);
    // Which principal plays which part for this rack, whatever the parameters ask for now
    // (an entry for the nodes role is the rack's nodes entry even before it is required).
    let mut roles: BTreeMap<String, String> = BTreeMap::new();
    if let Some(k) = r
        .karpenter_nodes_role_arn
        .as_ref()
        .filter(|k| !k.is_empty())
    {
        roles.insert(k.clone(), "karpenter-nodes".into());
    }
    roles.insert(r.nodes_role_arn.clone(), "nodes".into());
    if no_entry.is_none() {
        roles.insert(snap.caller.principal_arn.clone(), "caller".into());
    }
    for d in &snap.desired.entries {
        roles.insert(d.principal_arn.clone(), d.role.as_str().to_string());
    }
    let drift: Vec<String> = snap.plan.drift.iter().map(|d| d.what.clone()).collect();
    match output {
        Output::Json => print_json(&gates::with_pending(
            json!({
                "rack": r.name,
                "cluster": r.cluster,
                "region": r.region,
                "cluster_status": seen.cluster_status,
                "auth_mode": seen.auth_mode.as_str(),
                "caller": caller_json(&snap.caller, no_entry.as_deref()),
                "table_row": row,
                "entries": entries.iter().map(|e| entry_json(e, &r.name, &roles)).collect::<Vec<_>>(),
                "drift": drift,
                "conflicts": snap.plan.conflicts,
                "converged": snap.plan.is_converged(),
                "inactive_params": inactive,
                "kubernetes": k8s,
            }),
            seen,
        )),
        Output::Text => {
            let mut s = table(&[
                ["Rack".to_string(), r.name.clone()],
                [
                    "Cluster".into(),
                    format!("{} ({}, {})", r.cluster, r.region, seen.cluster_status),
                ],
                ["Auth mode".into(), gates::mode_text(seen)],
                [
                    "Caller".into(),
                    caller_line(&snap.caller, no_entry.as_deref()),
                ],
                ["Table row".into(), row_text(&row)],
            ]);
            s.push('\n');
            if !seen.auth_mode.includes_api() {
                s.push_str("No access entries (the mode does not include API).\n");
            } else {
                let mut rows = vec![[
                    "PRINCIPAL".to_string(),
                    "TYPE".into(),
                    "POLICIES".into(),
                    "RACK ROLE".into(),
                    "MANAGED".into(),
                ]];
                for e in &entries {
                    let pols = match &e.policies {
                        Some(ps) if !ps.is_empty() => ps
                            .iter()
                            .map(|p| {
                                format!("{} ({})", policy_name(&p.policy_arn), scope_text(&p.scope))
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                        _ => "-".into(),
                    };
                    rows.push([
                        e.principal_arn.clone(),
                        e.entry_type.clone(),
                        pols,
                        roles
                            .get(&e.principal_arn)
                            .cloned()
                            .unwrap_or_else(|| "-".into()),
                        if is_managed_by(e, &r.name) {
                            "yes"
                        } else {
                            "no"
                        }
                        .into(),
                    ]);
                }
                s.push_str(&table(&rows));
                if entries.iter().any(|e| !is_managed_by(e, &r.name)) {
                    s.push_str(&format!(
                        "(MANAGED: created by rack {} and tagged convox:rack={}; entries it did not create, e.g. by EKS itself, are accepted, never deleted or retyped; at most a policy the rack needs is added to them.)\n",
                        r.name, r.name
                    ));
                }
            }
            s.push('\n');
            s.push_str(&k8s.text(seen.auth_mode, table));
            s.push('\n');
            if drift.is_empty() {
                s.push_str("Drift: none (the cluster matches the parameters)\n");
            } else {
                s.push_str("Drift:\n");
                for d in &drift {
                    s.push_str(&format!("  - {d}\n"));
                }
                s.push_str(&format!(
                    "Run `convox rack update -r {}` to repair.\n",
                    r.name
                ));
            }
            for l in &inactive {
                s.push_str(&format!(
                    "Inactive: {}={} is stored but {} does not have it; the entries it made are unmanaged until the rack is back at {} or later.\n",
                    l.key, l.value, r.version, l.since
                ));
            }
            print(&s);
            Ok(())
        }
    }
}

/// The seed's Karpenter table row in words: which parameters, and what they call for.
fn row_text(row: &convox_planner::TableRow) -> String {
    let y = |x: bool| if x { "yes" } else { "no" };
    format!(
        "karpenter_auth_mode={} eks_access_entries={} -> auth mode switch: {}, Karpenter node entry: {}, caller entry: {}, nodes entry: {}",
        row.karpenter_auth_mode,
        row.eks_access_entries,
        y(row.auth_mode_switch),
        y(row.karpenter_node_entry),
        y(row.caller_entry),
        y(row.nodes_entry)
    )
}

/// The caller as `rack auth --output json` shows it; one that cannot have an entry (root,
/// federated) has no `principal_arn` and says why in `no_entry`.
fn caller_json(c: &CallerIdentity, no_entry: Option<&str>) -> serde_json::Value {
    let mut v = json!(c);
    if let Some(why) = no_entry {
        v["principal_arn"] = serde_json::Value::Null;
        v["no_entry"] = json!(format!("{why}; {}", convox_aws::RUN_AS));
    }
    v
}

/// The `Caller` row of `rack auth`.
fn caller_line(c: &CallerIdentity, no_entry: Option<&str>) -> String {
    match no_entry {
        None => caller_text(c),
        Some(why) => format!(
            "{} ({why}: it has no entry, and `params set`/`rack update` refuse it; {} to change the rack)",
            c.arn,
            convox_aws::RUN_AS
        ),
    }
}

fn caller_text(c: &CallerIdentity) -> String {
    if c.arn == c.principal_arn {
        c.principal_arn.clone()
    } else {
        format!("{} (session {})", c.principal_arn, c.arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "cn-north-1",
            "us-gov-west-1",
            "ap-southeast-5",
            "us-isob-east-1",
        ] {
            assert!(check_region(ok).is_ok(), "{ok}");
        }
        for bad in [
            "mars-1",
            "US-EAST-1",
            "us-east",
            "useast1",
            "us-east-1a",
            "",
            "us--1",
        ] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
    }
}
