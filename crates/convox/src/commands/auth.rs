//! `convox rack auth`: the AWS side (mode, entries, drift, the seed's table row) and the
//! Kubernetes side (aws-auth, who gets in under each what-if), read concurrently; reading
//! only, so every caller is served (one that cannot have an entry sees why).

use std::collections::BTreeMap;

use convox_access::AwsAuthFact;
use convox_aws::CallerIdentity;
use convox_engine::{RackAws, Snapshot};
use convox_params::{LeftBehind, Params};
use convox_planner::{is_managed_by, policy_name, Observed, ObservedEntry, Scope};
use convox_store::Rack;

use super::{connect, open_store, selected};
use crate::cli::Output;
use crate::kube_auth::{self, KubeView};
use crate::progress::Progress;
use crate::render::{print, print_json, table};
use crate::views::{AuthView, CallerView, EntryView, Pending};
use crate::Fail;

/// Everything `rack auth` shows, read.
struct Seen {
    snap: Snapshot,
    /// Why the caller cannot have an entry (root, federated), if it cannot.
    no_entry: Option<String>,
    entries: Vec<ObservedEntry>,
    kube: KubeView,
    /// Which principal plays which part for this rack.
    roles: BTreeMap<String, String>,
    row: convox_planner::TableRow,
    drift: Vec<String>,
    inactive: Vec<LeftBehind>,
}

pub(super) async fn auth(sel: Option<String>, output: Output) -> Result<(), Fail> {
    let store = open_store()?;
    let r = selected(&store, sel)?;
    let stored = store.params(&r.name)?;
    // What the rack's version acts on; what a downgrade left behind is shown apart.
    let params = convox_params::effective_at(&stored, &r.version);
    let inactive = convox_params::inactive_at(&stored, &r.version);
    let progress = Progress::new(true);
    let conn = connect(&r, &progress).await?;
    // The cluster's status and mode are the snapshot's: what the drift was computed from.
    // Read-only: a caller that cannot have an entry (root, federated) still sees the state.
    let res = async {
        // aws-auth is read concurrently with the AWS side (its own EKS token, its own calls).
        let ra = RackAws::from(&r);
        let (snap, fact) = futures::join!(
            convox_engine::reconcile::snapshot_for_reading(&conn.aws, &ra, &params),
            convox_engine::kube::read_aws_auth(&conn.aws, &r)
        );
        let (snap, no_entry) = snap?;
        // IAM's principals (coverage and the what-if by IAM's ARNs), with the entries.
        let (p, a) = (&snap.caller.partition, &snap.caller.account);
        let (entries, dir) = futures::join!(
            async {
                match snap.observed.auth_mode.includes_api() {
                    true => conn.aws.all_entries(&r.cluster).await,
                    false => Ok(Vec::new()),
                }
            },
            kube_auth::directory(&conn, p, a)
        );
        Ok::<_, Fail>((entries?, dir, fact, snap, no_entry))
    }
    .await;
    conn.close().await;
    let (entries, dir, fact, snap, no_entry) = res?;
    let seen = seen(
        &r,
        &params,
        (snap, no_entry),
        entries,
        &fact,
        dir.as_ref(),
        inactive,
    );
    match output {
        Output::Json => print_json(&json_view(&r, &seen)),
        Output::Text => {
            print(&text(&r, &seen));
            Ok(())
        }
    }
}

fn seen(
    r: &Rack,
    params: &Params,
    (snap, no_entry): (Snapshot, Option<String>),
    entries: Vec<ObservedEntry>,
    fact: &AwsAuthFact,
    dir: Option<&convox_access::Directory>,
    inactive: Vec<LeftBehind>,
) -> Seen {
    let caller = match no_entry {
        None => &snap.caller.principal_arn,
        Some(_) => &snap.caller.arn,
    };
    let karpenter = params.flag(convox_params::KARPENTER_AUTH_MODE);
    let mode = snap.observed.auth_mode;
    let kube = kube_auth::view(r, mode, caller, fact, &entries, karpenter, dir);
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
    let drift = snap.plan.drift.iter().map(|d| d.what.clone()).collect();
    Seen {
        row: convox_planner::table_row(params),
        snap,
        no_entry,
        entries,
        kube,
        roles,
        drift,
        inactive,
    }
}

fn json_view<'a>(r: &'a Rack, s: &'a Seen) -> AuthView<'a> {
    let seen = &s.snap.observed;
    AuthView {
        rack: &r.name,
        cluster: &r.cluster,
        region: &r.region,
        cluster_status: &seen.cluster_status,
        auth_mode: seen.auth_mode.as_str(),
        caller: CallerView::new(&s.snap.caller, s.no_entry.as_deref()),
        table_row: s.row,
        entries: s
            .entries
            .iter()
            .map(|e| EntryView::new(e, &r.name, &s.roles))
            .collect(),
        drift: s.drift.iter().map(String::as_str).collect(),
        conflicts: &s.snap.plan.conflicts,
        converged: s.snap.plan.is_converged(),
        inactive_params: &s.inactive,
        kubernetes: &s.kube,
        pending: Pending::of(seen),
    }
}

fn text(r: &Rack, s: &Seen) -> String {
    let seen = &s.snap.observed;
    let mut out = table(&[
        ["Rack".to_string(), r.name.clone()],
        [
            "Cluster".into(),
            format!("{} ({}, {})", r.cluster, r.region, seen.cluster_status),
        ],
        ["Auth mode".into(), mode_text(seen)],
        [
            "Caller".into(),
            caller_line(&s.snap.caller, s.no_entry.as_deref()),
        ],
        ["Table row".into(), row_text(&s.row)],
    ]);
    out.push('\n');
    if !seen.auth_mode.includes_api() {
        out.push_str("No access entries (the mode does not include API).\n");
    } else {
        out.push_str(&entries_text(r, s));
    }
    out.push('\n');
    out.push_str(&s.kube.text(seen.auth_mode, table));
    out.push('\n');
    if s.drift.is_empty() {
        out.push_str("Drift: none (the cluster matches the parameters)\n");
    } else {
        out.push_str("Drift:\n");
        for d in &s.drift {
            out.push_str(&format!("  - {d}\n"));
        }
        out.push_str(&format!(
            "Run `convox rack update -r {}` to repair.\n",
            r.name
        ));
    }
    for l in &s.inactive {
        out.push_str(&format!(
            "Inactive: {}={} is stored but {} does not have it; the entries it made are unmanaged until the rack is back at {} or later.\n",
            l.key, l.value, r.version, l.since
        ));
    }
    out
}

fn scope_text(s: &Scope) -> String {
    match s {
        Scope::Cluster => "cluster".into(),
        Scope::Namespace { namespaces } => format!("namespace:{}", namespaces.join(",")),
    }
}

fn entries_text(r: &Rack, s: &Seen) -> String {
    let mut rows = vec![[
        "PRINCIPAL".to_string(),
        "TYPE".into(),
        "POLICIES".into(),
        "RACK ROLE".into(),
        "MANAGED".into(),
    ]];
    for e in &s.entries {
        let pols = match &e.policies {
            Some(ps) if !ps.is_empty() => ps
                .iter()
                .map(|p| format!("{} ({})", policy_name(&p.policy_arn), scope_text(&p.scope)))
                .collect::<Vec<_>>()
                .join(", "),
            _ => "-".into(),
        };
        let managed = if is_managed_by(e, &r.name) {
            "yes"
        } else {
            "no"
        };
        rows.push([
            e.principal_arn.clone(),
            e.entry_type.clone(),
            pols,
            s.roles
                .get(&e.principal_arn)
                .cloned()
                .unwrap_or_else(|| "-".into()),
            managed.into(),
        ]);
    }
    let mut out = table(&rows);
    if s.entries.iter().any(|e| !is_managed_by(e, &r.name)) {
        out.push_str(&format!(
            "(MANAGED: created by rack {} and tagged convox:rack={}; entries it did not create, e.g. by EKS itself, are accepted, never deleted or retyped; at most a policy the rack needs is added to them.)\n",
            r.name, r.name
        ));
    }
    out
}

/// The mode as `rack auth` shows it: with where an update in progress is taking it.
fn mode_text(observed: &Observed) -> String {
    match (observed.pending_auth_mode(), &observed.pending_update) {
        (Some(to), Some(u)) => format!(
            "{} (changing to {}: update {} in progress)",
            observed.auth_mode.as_str(),
            to.as_str(),
            u.id
        ),
        _ => observed.auth_mode.as_str().to_string(),
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

/// The `Caller` row of `rack auth`.
fn caller_line(c: &CallerIdentity, no_entry: Option<&str>) -> String {
    match no_entry {
        None if c.arn == c.principal_arn => c.principal_arn.clone(),
        None => format!("{} (session {})", c.principal_arn, c.arn),
        Some(why) => format!(
            "{} ({why}: it has no entry, and `params set`/`rack update` refuse it; {} to change the rack)",
            c.arn,
            convox_aws::RUN_AS
        ),
    }
}
