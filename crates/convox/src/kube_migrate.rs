//! `convox rack auth migrate`: every aws-auth mapping brought into an access entry, under
//! the rack's lock, so that deleting aws-auth (or the mode going to API) locks nobody out.
//!
//! Before any change: `sts:GetCallerIdentity` ‖ `eks:DescribeCluster` ‖ `iam:ListRoles` ‖
//! `iam:ListUsers` (every principal once, paths included: no GetRole per mapping), then
//! aws-auth (the caller's own EKS token) ‖ the cluster's entries (policies listed only for
//! the admin entries an earlier migration made, tagged `convox:policy`). The plan
//! (convox-access) is printed before anything is created; `--dry-run` stops there. Creates
//! run a few at a time, each with its own request token; the change is recorded in the
//! rack's history (opened before the first create, closed with what was made). Nothing is
//! ever deleted, aws-auth is never written, and a second run finds nothing to do.

use convox_access::{AwsAuthFact, Directory, MigrationPlan, PlannedEntry, Principal};
use convox_aws::{ClusterAccess, Created, IamPrincipal, NewEntry};
use convox_kube::{ClusterApi, Kube};
use convox_planner::ObservedEntry;
use convox_store::{Rack, Store};
use futures::StreamExt;
use serde_json::json;

use crate::cli::Output;
use convox_engine::{interruptible, take_lock, EngineError, Events, RunOptions};

use crate::commands::{connect, open_store, selected, Conn};
use crate::progress::Progress;
use crate::render::{print, print_json};
use crate::Fail;

/// How many creates run at once: EKS's own limits are generous, the run short either way.
const CREATES_AT_ONCE: usize = 8;

/// What the migration starts from.
struct Seen {
    actor: String,
    cluster: ClusterAccess,
    fact: AwsAuthFact,
    entries: Vec<ObservedEntry>,
    plan: MigrationPlan,
}

pub(crate) fn principals(list: Vec<IamPrincipal>) -> impl Iterator<Item = Principal> {
    list.into_iter().map(|p| Principal {
        arn: p.arn,
        created_ms: p.created_ms,
    })
}

async fn read_aws_auth(conn: &Conn, r: &Rack, c: &ClusterAccess) -> AwsAuthFact {
    let kube = Kube::new(
        conn.aws.sdk_config().clone(),
        ClusterApi {
            cluster: r.cluster.clone(),
            region: r.region.clone(),
            endpoint: c.endpoint.clone(),
            ca_data: c.ca_data.clone(),
        },
    );
    match kube.aws_auth().await {
        Ok(Some(o)) => AwsAuthFact::Present(convox_access::parse_aws_auth(&o.data)),
        Ok(None) => AwsAuthFact::Absent,
        Err(e) => AwsAuthFact::Unknown(e.reason()),
    }
}

/// Observes and plans; refuses a mode without the API and an aws-auth it cannot read.
async fn observe(conn: &Conn, r: &Rack) -> Result<Seen, Fail> {
    let (caller, cluster, iam) = futures::join!(
        conn.aws.identity(),
        conn.aws.cluster_access(&r.cluster),
        conn.aws.iam_principals()
    );
    let (caller, cluster, (roles, users)) = (
        caller.map_err(Fail::aws)?,
        cluster.map_err(Fail::aws)?,
        iam.map_err(Fail::aws)?,
    );
    if !cluster.mode.includes_api() {
        return Err(Fail::msg(format!(
            "cluster {} is in {} mode, which takes no access entries; run `convox rack params set eks_access_entries=true -r {}` first, then migrate",
            r.cluster,
            cluster.mode.as_str(),
            r.name
        )));
    }
    let (fact, entries) = futures::join!(
        read_aws_auth(conn, r, &cluster),
        // Only an admin entry an earlier migration made may lack the policy it should have.
        conn.aws.all_entries_with(&r.cluster, |e| {
            e.tags.get(convox_planner::ROLE_TAG).map(String::as_str)
                == Some(convox_access::MIGRATED)
                && e.tags.contains_key(convox_aws::POLICY_TAG)
        })
    );
    let entries = entries.map_err(Fail::aws)?;
    let auth = match &fact {
        AwsAuthFact::Present(a) => a.clone(),
        AwsAuthFact::Absent => Default::default(),
        AwsAuthFact::Unknown(why) => {
            return Err(Fail::msg(format!(
                "cannot read aws-auth of cluster {} ({why}); nothing was migrated",
                r.cluster
            )))
        }
    };
    // IAM lists the caller's account: only its principals can be resolved.
    let (partition, _) = cluster.partition_account();
    let dir = Directory::new(
        &partition,
        &caller.account,
        principals(roles),
        principals(users),
    );
    let plan = convox_access::migrate::plan(&auth, &entries, &dir);
    Ok(Seen {
        actor: caller.arn,
        cluster,
        fact,
        entries,
        plan,
    })
}

fn entry_text(e: &PlannedEntry) -> String {
    let mut parts = vec![e.entry_type.clone()];
    if let Some(u) = &e.username {
        parts.push(format!("username {u}"));
    }
    if !e.kubernetes_groups.is_empty() {
        parts.push(format!("groups {}", e.kubernetes_groups.join(",")));
    }
    if e.cluster_admin {
        parts.push("AmazonEKSClusterAdminPolicy (cluster)".into());
    }
    let from = if e.principal_arn.eq_ignore_ascii_case(&e.mapping_arn) {
        String::new()
    } else {
        format!(" (aws-auth: {})", e.mapping_arn)
    };
    let what = if e.exists { "ASSOCIATE" } else { "CREATE   " };
    format!("  {what} {}{from}: {}\n", e.principal_arn, parts.join(", "))
}

fn plan_text(r: &Rack, seen: &Seen) -> String {
    let n = match &seen.fact {
        AwsAuthFact::Present(a) => a.mappings.len() + a.accounts.len(),
        _ => 0,
    };
    let mut s = format!(
        "Migrating aws-auth of rack {} (cluster {}, {}): {n} mappings, {} entries to make, {} skipped\n",
        r.name,
        r.cluster,
        seen.cluster.mode.as_str(),
        seen.plan.create.len(),
        seen.plan.skip.len()
    );
    if matches!(seen.fact, AwsAuthFact::Absent) {
        s.push_str("  aws-auth does not exist: nothing to migrate\n");
    }
    for e in &seen.plan.create {
        s.push_str(&entry_text(e));
    }
    for k in &seen.plan.skip {
        s.push_str(&format!("  SKIP      {}: {}\n", k.arn, k.reason));
    }
    s
}

/// Creates the planned entries; what each one gave.
async fn create_all(
    conn: &Conn,
    r: &Rack,
    partition: &str,
    plan: &MigrationPlan,
) -> Vec<(String, Result<Created, String>)> {
    futures::stream::iter(&plan.create)
        .map(|e| async move {
            let new = NewEntry {
                principal_arn: &e.principal_arn,
                entry_type: &e.entry_type,
                username: e.username.as_deref(),
                kubernetes_groups: &e.kubernetes_groups,
                cluster_admin: e.cluster_admin,
                exists: e.exists,
            };
            let res = conn
                .aws
                .create_migrated_entry(
                    &r.cluster,
                    partition,
                    &r.name,
                    convox_access::MIGRATED,
                    &new,
                )
                .await
                .map_err(|err| err.to_string());
            (e.principal_arn.clone(), res)
        })
        .buffer_unordered(CREATES_AT_ONCE)
        .collect()
        .await
}

/// `convox rack auth migrate`.
pub(crate) async fn migrate(
    sel: Option<String>,
    dry_run: bool,
    output: Output,
) -> Result<(), Fail> {
    let store = open_store()?;
    let r = selected(&store, sel)?;
    let progress = Progress::new(output == Output::Json);
    let conn = connect(&r, &progress).await?;
    let res = run(&store, &r, &conn, dry_run, output, &progress).await;
    conn.close().await;
    res
}

async fn run(
    store: &Store,
    r: &Rack,
    conn: &Conn,
    dry_run: bool,
    output: Output,
    progress: &Progress,
) -> Result<(), Fail> {
    // A real run plans under the lock: nothing of this rack changes between plan and creates.
    let lock = if dry_run {
        None
    } else {
        let opts = RunOptions::from_env();
        Some(take_lock(store, &r.name, "auth migrate", &opts, progress).await?)
    };
    progress.status("reading aws-auth, IAM and the access entries");
    let seen = observe(conn, r).await?;
    if let AwsAuthFact::Present(a) = &seen.fact {
        for w in &a.warnings {
            progress.warn(w);
        }
    }
    if output == Output::Text {
        print(&plan_text(r, &seen));
    }
    let (Some(lock), false) = (lock, seen.plan.create.is_empty()) else {
        if output == Output::Json {
            print_json(&report(r, &seen, dry_run, &[]))?;
        } else if dry_run {
            print("Dry run: nothing changed.\n");
        } else {
            print("Nothing to migrate: every mapping has its entry or is skipped.\n");
        }
        return Ok(());
    };
    let fenced = store.fenced(&lock);
    let (id, results) = record_and_create(conn, r, &fenced, &seen, progress).await?;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|(p, res)| res.as_ref().err().map(|e| format!("{p}: {e}")))
        .collect();
    let made = results.iter().filter(|(_, r)| r.is_ok()).count();
    let what = json!({
        "summary": format!("aws-auth migrated: {made} entries made, {} failed, {} mappings skipped", failed.len(), seen.plan.skip.len()),
        "create": seen.plan.create,
        "skip": seen.plan.skip,
        "results": results.iter().map(|(p, r)| json!({"principal_arn": p, "result": match r {
            Ok(Created::Created) => "created".to_string(),
            Ok(Created::AlreadyThere) => "already there".to_string(),
            Err(e) => e.clone(),
        }})).collect::<Vec<_>>(),
    });
    let res = if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    };
    fenced
        .finish_action(id, &what, res.as_ref().map(|_| ()).map_err(String::as_str))
        .map_err(fenced_err)?;
    let _ = lock.release();
    if output == Output::Json {
        print_json(&report(r, &seen, false, &results))?;
    }
    match res {
        Ok(()) => {
            if output == Output::Text {
                print(&format!("Creating access entries... OK ({made} made)\n"));
            }
            Ok(())
        }
        Err(e) => Err(Fail::msg(format!(
            "{} of {} access entries were not made ({e}); the others were, and a rerun makes only what is missing",
            failed.len(),
            results.len()
        ))),
    }
}

/// Opens the change in the rack's history, then makes the entries; an interruption closes
/// the change as interrupted.
async fn record_and_create(
    conn: &Conn,
    r: &Rack,
    fenced: &convox_store::Fenced<'_>,
    seen: &Seen,
    progress: &Progress,
) -> Result<
    (
        convox_store::ChangeId,
        Vec<(String, Result<Created, String>)>,
    ),
    Fail,
> {
    let planned = json!({
        "summary": format!("aws-auth migrated: {} entries to make, {} mappings skipped", seen.plan.create.len(), seen.plan.skip.len()),
        "create": seen.plan.create,
        "skip": seen.plan.skip,
    });
    let id = fenced
        .begin_action(&seen.actor, "auth migrate", &planned)
        .map_err(fenced_err)?;
    progress.say(&format!(
        "creating {} access entries",
        seen.plan.create.len()
    ));
    let (partition, _) = seen.cluster.partition_account();
    match interruptible(create_all(conn, r, &partition, &seen.plan)).await {
        Ok(res) => Ok((id, res)),
        Err(sig) => {
            let why = format!("interrupted by {} before every entry was made", sig.name);
            let recorded = match fenced.finish_action(id, &planned, Err(&why)) {
                Ok(()) => "recorded as interrupted in its history".to_string(),
                Err(e) => format!("could not record it ({})", fenced_err(e)),
            };
            Err(Fail {
                msg: format!(
                    "{why} on rack {}; {recorded}. Rerun `convox rack auth migrate -r {}`: it makes only what is missing",
                    r.name, r.name
                ),
                code: 128u8.saturating_add(sig.number),
            })
        }
    }
}

/// `--output json`: the plan, and what each create did.
fn report(
    r: &Rack,
    seen: &Seen,
    dry_run: bool,
    results: &[(String, Result<Created, String>)],
) -> serde_json::Value {
    json!({
        "rack": r.name,
        "cluster": r.cluster,
        "auth_mode": seen.cluster.mode.as_str(),
        "aws_auth": match seen.fact {
            AwsAuthFact::Present(_) => "present",
            AwsAuthFact::Absent => "absent",
            AwsAuthFact::Unknown(_) => "unknown",
        },
        "dry_run": dry_run,
        "entries_before": seen.entries.len(),
        "create": seen.plan.create,
        "skip": seen.plan.skip,
        "results": results.iter().map(|(p, r)| json!({
            "principal_arn": p,
            "result": match r {
                Ok(Created::Created) => "created",
                Ok(Created::AlreadyThere) => "already_there",
                Err(_) => "failed",
            },
            "error": r.as_ref().err(),
        })).collect::<Vec<_>>(),
    })
}

/// A fenced store write's failure (the lock lost to another run, or the store's).
fn fenced_err(e: convox_store::StoreError) -> Fail {
    EngineError::fenced(e).into()
}
