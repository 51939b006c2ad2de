//! One module per command family; each reads the store, connects (see [`wiring`]), calls
//! convox-engine for what it decides and does, and renders the answer (text, or a
//! [`crate::views`] type for `--output json`).

mod auth;
mod install;
mod params;
mod racks;
pub(crate) mod wiring;

pub(crate) use params::parse_version;
pub(crate) use wiring::{connect, open_store, selected, Conn};

use crate::cli::{Cli, Cmd, OutputArg, ParamsSub, RackCmd, RackSub, SimCmd};
use crate::kube_cmds;
use crate::render::print;
use crate::sim;
use crate::Fail;

pub async fn run(cli: Cli) -> Result<(), Fail> {
    wiring::set_store_spec(cli.store.clone());
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
        Cmd::Racks { out, cmd: None } => racks::list(out.format()),
        Cmd::Racks {
            out,
            cmd: Some(sub),
        } => crate::fleet::run(sub, out).await,
        Cmd::Switch { name } => racks::switch(name),
        Cmd::Rack(rc) => rack(rc).await,
    }
}

/// `-r`/`--output` given before `rack install`/`rack uninstall` do not apply to them.
fn refuse_outer_flags(rc: &RackCmd) -> Result<(), Fail> {
    if !rc
        .cmd
        .as_ref()
        .is_some_and(|c| matches!(c, RackSub::Install { .. } | RackSub::Uninstall { .. }))
    {
        return Ok(());
    }
    if rc.sel.rack.is_some() {
        return Err(Fail::msg(
            "-r/--rack does not apply to `rack install`/`rack uninstall`: name the rack as their NAME argument",
        ));
    }
    if rc.out.output.is_some() {
        return Err(Fail::msg(
            "--output does not apply to `rack install`/`rack uninstall`; read the result with `convox rack -r NAME --output json`",
        ));
    }
    Ok(())
}

async fn rack(rc: RackCmd) -> Result<(), Fail> {
    refuse_outer_flags(&rc)?;
    // `-r`/`--output` given before the subcommand apply to it; ones after it win.
    let (outer_sel, outer_out) = (rc.sel, rc.out);
    match rc.cmd {
        None => racks::info(outer_sel.rack, outer_out.format()),
        Some(RackSub::Install { kind }) => install::install(kind).await,
        Some(RackSub::Uninstall { name }) => install::uninstall(&name).await,
        Some(RackSub::Params(p)) => match p.set {
            None => params::list(
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
                let out = OutputArg { output }.or(p.out.or(outer_out));
                if out.output.is_some() && !dry_run {
                    return Err(Fail::msg(
                        "--output applies to `params set --dry-run` only (a real run prints `Setting parameters... OK`)",
                    ));
                }
                params::set(sel, &params, force, dry_run, out.format()).await
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
            params::update(sel.or(outer_sel).rack, version, force).await
        }
        Some(RackSub::Auth { sel, out, cmd }) => match cmd {
            None => auth::auth(sel.or(outer_sel).rack, out.or(outer_out).format()).await,
            Some(crate::cli::AuthSub::Migrate {
                sel: s,
                dry_run,
                out: o,
            }) => {
                let out = o.or(out.or(outer_out)).format();
                crate::kube_migrate::migrate(s.or(sel.or(outer_sel)).rack, dry_run, out).await
            }
        },
        Some(RackSub::History { sel, limit, out }) => {
            crate::history::show(sel.or(outer_sel).rack, limit, out.or(outer_out).format())
        }
        Some(RackSub::Kubeconfig { sel }) => kube_cmds::kubeconfig(sel.or(outer_sel).rack).await,
        Some(RackSub::Token { sel }) => kube_cmds::token(sel.or(outer_sel).rack).await,
    }
}
