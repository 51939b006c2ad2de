//! `convox rack params [set]` and `convox rack update`: the listing, the dry-run plan, and
//! the locked runs (convox-engine).

use std::collections::BTreeMap;

use convox_engine::{ParamsChange, Snapshot};
use convox_params::Version;
use convox_planner::{Observed, Step};
use convox_store::Rack;

use super::wiring::engine;
use super::{connect, open_store, selected};
use crate::cli::Output;
use crate::kube_cmds;
use crate::progress::Progress;
use crate::render::{print, print_json};
use crate::views::{ChangeView, Pending, PlanView};
use crate::Fail;

/// `convox rack params`: every parameter, sorted, defaults included.
pub(super) fn list(
    sel: Option<String>,
    group: Option<&str>,
    reveal: bool,
    output: Output,
) -> Result<(), Fail> {
    let store = open_store()?;
    let r = selected(&store, sel)?;
    let params = store.params(&r.name)?;
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
            let map: BTreeMap<&str, &str> = rows
                .iter()
                .map(|l| (l.key.as_str(), l.value.as_str()))
                .collect();
            print_json(&map)
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

/// `convox rack params set KEY=VALUE… [--dry-run]`.
pub(super) async fn set(
    sel: Option<String>,
    args: &[String],
    force: bool,
    dry_run: bool,
    output: Output,
) -> Result<(), Fail> {
    let store = open_store()?;
    let r = selected(&store, sel)?;
    // Validation first: a refused call touches nothing, not even AWS.
    let change = convox_engine::check_params_set(&store, &r, args, force, dry_run)?;
    let progress = Progress::new(dry_run);
    let conn = connect(&r, &progress).await?;
    let engine = engine(&store, &conn, &progress);
    let res = if dry_run {
        match engine.dry_run(&r, &change.acting(&r.version)).await {
            Ok(snap) => render_plan(&r, &change, &snap, output),
            Err(e) => Err(e.into()),
        }
    } else {
        engine
            .params_set(&r, args, force)
            .await
            .map(|_| ())
            .map_err(Fail::from)
    };
    // The Kubernetes side confirms the caller's access (before an embedded simulator stops)
    // when this run turned it on; a no-op rerun keeps its call budget.
    let note = match &res {
        Ok(()) if !dry_run && change.turns_on_access_entries(&r.version) => {
            Some(kube_cmds::admin_check(&conn, &r).await)
        }
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

/// A parameter value as a plan may show it: sensitive values masked (a plan is often pasted
/// into tickets and CI logs).
fn shown(key: &str, value: &str) -> String {
    match convox_params::lookup(key) {
        Some(d) if d.sensitive && !value.is_empty() => convox_params::MASK.to_string(),
        _ => value.to_string(),
    }
}

/// `params set --dry-run`: the plan of a fresh observation (refused, before this, exactly
/// as the real run would refuse it); changes nothing.
fn render_plan(
    r: &Rack,
    change: &ParamsChange,
    snap: &Snapshot,
    output: Output,
) -> Result<(), Fail> {
    let changes = change.changes.changed().map(|c| ChangeView {
        key: c.key.clone(),
        old: c.old.as_deref().map(|v| shown(&c.key, v)),
        new: shown(&c.key, &c.new),
    });
    match output {
        Output::Json => print_json(&PlanView {
            rack: &r.name,
            cluster: &r.cluster,
            dry_run: true,
            changes: changes.collect(),
            auth_mode: snap.observed.auth_mode.as_str(),
            steps: &snap.plan.steps,
            conflicts: &snap.plan.conflicts,
            drift: &snap.plan.drift,
            pending: Pending::of(&snap.observed),
        }),
        Output::Text => {
            let mut s = format!("Plan for rack {} (cluster {}):\n", r.name, r.cluster);
            for c in changes {
                let old = c.old.unwrap_or_else(|| "(unset)".into());
                s.push_str(&format!("  set {} {old} -> {}\n", c.key, c.new));
            }
            s.push_str(&plan_text(&snap.observed, snap));
            print(&s);
            Ok(())
        }
    }
}

fn plan_text(observed: &Observed, snap: &Snapshot) -> String {
    let mut s = String::new();
    if let (Some(to), Some(u)) = (observed.pending_auth_mode(), &observed.pending_update) {
        s.push_str(&format!(
            "  (update {} is changing the authentication mode to {}; the plan waits for it)\n",
            u.id,
            to.as_str()
        ));
    }
    if snap.plan.steps.is_empty() {
        s.push_str("  no AWS changes: the cluster already matches\n");
    }
    for (i, st) in snap.plan.steps.iter().enumerate() {
        s.push_str(&format!("  {}. {st}\n", i + 1));
    }
    for c in &snap.plan.conflicts {
        s.push_str(&format!("  CONFLICT: {}\n", c.message));
    }
    if snap
        .plan
        .steps
        .iter()
        .any(|st| matches!(st, Step::SwitchAuthMode { .. }))
    {
        s.push_str("  (EKS may create some of these entries itself when the mode changes; convox accepts them as they are)\n");
    }
    s.push_str("(dry run: nothing changed)\n");
    s
}

/// The version `rack update [VERSION]` goes to: the latest when none is given.
pub(crate) fn parse_version(v: Option<&str>) -> Result<Version, Fail> {
    match v {
        None => Ok(convox_params::latest_version()),
        Some(s) => convox_params::parse_known(s).map_err(|e| Fail::msg(e.to_string())),
    }
}

/// `convox rack update [VERSION]`: re-applies everything (repairs drift), or moves the rack
/// to another version (a downgrade is gated: see convox-engine's gates).
pub(super) async fn update(
    sel: Option<String>,
    version: Option<String>,
    force: bool,
) -> Result<(), Fail> {
    let store = open_store()?;
    let r = selected(&store, sel)?;
    let to = parse_version(version.as_deref())?;
    // Checked again under the lock; an unknown version is refused before any AWS call.
    convox_engine::check_update(&store, &r, &to)?;
    let progress = Progress::new(false);
    let conn = connect(&r, &progress).await?;
    let res = engine(&store, &conn, &progress).update(&r, to, force).await;
    conn.close().await;
    progress.finish();
    res?;
    print(&format!("Updating rack {} to {to}... OK\n", r.name));
    Ok(())
}
