//! `convox racks auth`: one line per rack — mode, aws-auth, drift, the seed table's row, who
//! would lose access if aws-auth went or the mode became API — read concurrently (at most
//! `--parallel` racks at once), every AWS call through the run's shared rate limits. The same
//! reads as `convox rack auth`; a rack that cannot be read says why in its line.

use std::sync::Arc;

use convox_aws::RateLimits;
use convox_store::Rack;
use serde::Serialize;

use crate::cli::Output;
use crate::fleet::cli::FleetRun;
use crate::fleet::conns::Conns;
use crate::kube_auth;
use crate::progress::Progress;
use crate::render::{print, print_json, table};
use crate::Fail;

/// One rack's line (`--output json`: stable keys).
#[derive(Debug, Serialize)]
struct AuthLine {
    rack: String,
    auth_mode: Option<&'static str>,
    /// `present`, `absent` or `unknown` (the Kubernetes side could not be read).
    aws_auth: Option<String>,
    aws_auth_mappings: Option<usize>,
    drift: Vec<String>,
    converged: Option<bool>,
    /// The seed table's row of the rack's parameters, as the seed prints it.
    table_row: Option<String>,
    /// Scenario → identities that would lose access (`aws_auth_deleted`, `mode_api`, …).
    would_lose: serde_json::Map<String, serde_json::Value>,
    error: Option<String>,
}

pub(crate) async fn show(racks: Vec<Rack>, run: FleetRun, output: Output) -> Result<(), Fail> {
    let conns = Arc::new(Conns::prepare(&racks, RateLimits::default()).await?);
    let gate = Arc::new(tokio::sync::Semaphore::new(run.parallel.clamp(1, 256)));
    let mut tasks = Vec::new();
    for r in racks {
        let (conns, gate) = (conns.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await;
            match read(&conns, &r).await {
                Ok(line) => line,
                Err(e) => AuthLine {
                    rack: r.name.clone(),
                    auth_mode: None,
                    aws_auth: None,
                    aws_auth_mappings: None,
                    drift: Vec::new(),
                    converged: None,
                    table_row: None,
                    would_lose: serde_json::Map::new(),
                    error: Some(e.to_string()),
                },
            }
        }));
    }
    let mut lines = Vec::new();
    for t in tasks {
        lines.push(
            t.await
                .map_err(|e| Fail::msg(format!("internal error: {e}")))?,
        );
    }
    if let Ok(c) = Arc::try_unwrap(conns) {
        c.close().await;
    }
    match output {
        Output::Json => print_json(&serde_json::json!(lines)),
        Output::Text => {
            print(&text(&lines));
            Ok(())
        }
    }
}

/// What `rack auth` reads, reduced to the rack's line.
async fn read(conns: &Conns, r: &Rack) -> Result<AuthLine, Fail> {
    let stored = crate::commands::open_store()?.params(&r.name)?;
    let params = convox_params::effective_at(&stored, &r.version);
    let conn = conns.connect(r, &Progress::new(true)).await?;
    let ra = convox_engine::RackAws::from(r);
    let (snap, fact) = futures::join!(
        convox_engine::reconcile::snapshot_for_reading(&conn.aws, &ra, &params),
        convox_engine::kube::read_aws_auth(&conn.aws, r)
    );
    let (snap, no_entry) = snap?;
    let seen = &snap.observed;
    // IAM's principals (coverage and the what-if by IAM's ARNs), with the entries.
    let (p, a) = (&snap.caller.partition, &snap.caller.account);
    let (entries, dir) = futures::join!(
        async {
            match seen.auth_mode.includes_api() {
                true => conn.aws.all_entries(&r.cluster).await,
                false => Ok(Vec::new()),
            }
        },
        kube_auth::directory(&conn, p, a)
    );
    let entries = entries?;
    let caller = match no_entry {
        None => &snap.caller.principal_arn,
        Some(_) => &snap.caller.arn,
    };
    let karpenter = params.flag(convox_params::KARPENTER_AUTH_MODE);
    let k8s = kube_auth::view(
        r,
        seen.auth_mode,
        caller,
        &fact,
        &entries,
        karpenter,
        dir.as_ref(),
    );
    // The view's JSON is `rack auth`'s stable contract: read it as a script would.
    let v = serde_json::to_value(&k8s).map_err(|e| Fail::msg(format!("json: {e}")))?;
    let mut would_lose = serde_json::Map::new();
    for sc in v["scenarios"].as_array().into_iter().flatten() {
        let lose = sc["lose"].as_array().cloned().unwrap_or_default();
        let name = sc["scenario"].as_str().unwrap_or_default().to_string();
        // What-ifs only: today's access is what `rack auth` shows in full.
        if !lose.is_empty() && name != "now" {
            would_lose.insert(name, serde_json::Value::Array(lose));
        }
    }
    Ok(AuthLine {
        rack: r.name.clone(),
        auth_mode: Some(seen.auth_mode_to_come().as_str()),
        aws_auth: v["aws_auth"].as_str().map(str::to_string),
        aws_auth_mappings: v["mappings"].as_array().map(Vec::len),
        drift: snap.plan.drift.iter().map(|d| d.what.clone()).collect(),
        converged: Some(snap.plan.is_converged()),
        table_row: Some(convox_planner::table_row(&params).render()),
        would_lose,
        error: None,
    })
}

fn text(lines: &[AuthLine]) -> String {
    let mut rows = vec![[
        "RACK".to_string(),
        "MODE".into(),
        "AWS-AUTH".into(),
        "DRIFT".into(),
        "TABLE ROW (karpenter_auth_mode | eks_access_entries | …)".into(),
        "WOULD LOSE ACCESS".into(),
    ]];
    for l in lines {
        let aws_auth = match (&l.aws_auth, l.aws_auth_mappings) {
            (Some(s), Some(n)) if s == "present" => format!("present ({n} mappings)"),
            (Some(s), _) => s.clone(),
            (None, _) => "-".into(),
        };
        let lose = if l.would_lose.is_empty() {
            "-".to_string()
        } else {
            l.would_lose
                .iter()
                .map(|(k, v)| format!("{k}: {}", v.as_array().map_or(0, Vec::len)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        rows.push([
            l.rack.clone(),
            l.auth_mode.unwrap_or("-").to_string(),
            aws_auth,
            match (&l.error, l.drift.len()) {
                (Some(_), _) => "-".into(),
                (None, 0) => "none".into(),
                (None, n) => format!("{n} items"),
            },
            l.table_row.clone().unwrap_or_else(|| "-".into()),
            lose,
        ]);
    }
    let mut s = table(&rows);
    for l in lines {
        if let Some(e) = &l.error {
            s.push_str(&format!("{}: {e}\n", l.rack));
        }
    }
    s
}
