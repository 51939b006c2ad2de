//! Fleet runs: `convox racks params set …`, `convox racks update`, `convox racks auth`.
//!
//! Every rack is validated first, exactly as its single-rack command validates it
//! (convox-engine's offline checks), and nothing runs if any rack refuses (each refusal is
//! named). Then the racks run concurrently, at most `--parallel` at once, each through the
//! engine's locked run (its own lock, history and interruption record): one failing does not
//! stop the others. Every AWS client of the run
//! shares one set of [`RateLimits`], so racks in one account and region share its buckets
//! and the fleet converges near the rate AWS allows. All local racks share one simulator
//! (whose throttling is per account, as AWS's is).

mod auth;
pub mod cli;
mod conns;
mod render;
mod select;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use convox_aws::RateLimits;
use convox_params::Version;
use convox_store::{Rack, Store};

use crate::cli::OutputArg;
use crate::commands::open_store;
use crate::fleet::cli::{FleetParamsSub, FleetRun, RacksSub};
use crate::fleet::render::{RackRun, RunResult, View};
use crate::Fail;

/// What every rack of a fleet run gets.
#[derive(Debug, Clone)]
enum Job {
    ParamsSet { args: Vec<String>, force: bool },
    Update { to: Version, force: bool },
}

impl Job {
    fn action(&self) -> &'static str {
        match self {
            Job::ParamsSet { .. } => "params set",
            Job::Update { .. } => "update",
        }
    }
}

pub async fn run(sub: RacksSub, outer: OutputArg) -> Result<(), Fail> {
    match sub {
        RacksSub::Params(p) => match p.set {
            FleetParamsSub::Set {
                params,
                sel,
                force,
                run,
                out,
            } => {
                let store = open_store()?;
                let racks = select::select(&store, &sel)?;
                refuse_any(&racks, |r| {
                    convox_engine::check_params_set(&store, r, &params, force, false)
                        .map(|_| ())
                        .map_err(Fail::from)
                })?;
                let job = Job::ParamsSet {
                    args: params,
                    force,
                };
                fleet(store, racks, job, run, out.or(outer)).await
            }
        },
        RacksSub::Update {
            version,
            force,
            sel,
            run,
            out,
        } => {
            let store = open_store()?;
            let racks = select::select(&store, &sel)?;
            let to = crate::commands::parse_version(version.as_deref())?;
            refuse_any(&racks, |r| {
                convox_engine::check_update(&store, r, &to).map_err(Fail::from)
            })?;
            fleet(store, racks, Job::Update { to, force }, run, out.or(outer)).await
        }
        RacksSub::Auth { sel, run, out } => {
            let store = open_store()?;
            let racks = select::select(&store, &sel)?;
            auth::show(racks, run, out.or(outer).format()).await
        }
    }
}

/// Runs `check` on every rack; one error naming every refusal if any refuses.
fn refuse_any(racks: &[Rack], check: impl Fn(&Rack) -> Result<(), Fail>) -> Result<(), Fail> {
    let refusals: Vec<String> = racks
        .iter()
        .filter_map(|r| check(r).err().map(|e| format!("{}: {e}", r.name)))
        .collect();
    if refusals.is_empty() {
        return Ok(());
    }
    Err(Fail::msg(format!(
        "{} of {} racks refuse the change, so no rack was changed — {}",
        refusals.len(),
        racks.len(),
        refusals.join(" | ")
    )))
}

/// Runs `job` on every rack (see the module doc), prints the summary; the error names the
/// racks that failed (or says what was interrupted).
async fn fleet(
    store: Store,
    racks: Vec<Rack>,
    job: Job,
    run: FleetRun,
    out: OutputArg,
) -> Result<(), Fail> {
    let parallel = run.parallel.clamp(1, 256);
    let started = Instant::now();
    let limits = RateLimits::default();
    let conns = Arc::new(conns::Conns::prepare(&racks, limits.clone()).await?);
    let view = Arc::new(View::new(racks.len(), job.action()));
    let store = Arc::new(store);
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = tokio::spawn(watch_signals(stop.clone()));
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::new();
    for r in racks {
        let (store, conns, view, stop, gate, job) = (
            store.clone(),
            conns.clone(),
            view.clone(),
            stop.clone(),
            gate.clone(),
            job.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let Ok(_permit) = gate.acquire().await else {
                return RackRun::not_started(&r.name);
            };
            if stop.load(Ordering::SeqCst) {
                return RackRun::not_started(&r.name);
            }
            one(&store, &conns, &view, r, &job).await
        }));
    }
    let mut runs = Vec::new();
    for t in tasks {
        match t.await {
            Ok(r) => runs.push(r),
            Err(e) => {
                return Err(Fail::msg(format!(
                    "internal error: a rack's run panicked: {e}"
                )))
            }
        }
    }
    watcher.abort();
    view.finish();
    runs.sort_by(|a, b| a.rack.cmp(&b.rack));
    let summary = render::Summary::new(job.action(), parallel, runs, started.elapsed());
    conns.write_calls_file(&summary);
    if let Ok(c) = Arc::try_unwrap(conns) {
        c.close().await;
    }
    summary.print(out.format())?;
    summary.outcome()
}

/// Sets `stop` on SIGINT/SIGTERM: racks not started yet are not started (running ones record
/// their own interruption, as a single-rack run does).
async fn watch_signals(stop: Arc<AtomicBool>) {
    let _ = convox_engine::interruptible(std::future::pending::<()>()).await;
    stop.store(true, Ordering::SeqCst);
}

/// One rack's locked run, timed, its calls counted.
async fn one(store: &Store, conns: &conns::Conns, view: &View, r: Rack, job: &Job) -> RackRun {
    let started = Instant::now();
    let (progress, bar) = view.start(&r.name);
    let conn = match conns.connect(&r, &progress).await {
        Ok(c) => c,
        Err(e) => {
            let run = RackRun::failed(&r.name, e, started.elapsed(), None);
            view.done(&run, bar);
            return run;
        }
    };
    let engine = crate::commands::wiring::engine(store, &conn, &progress);
    let res = match job {
        Job::ParamsSet { args, force } => engine.params_set(&r, args, *force).await,
        Job::Update { to, force } => engine.update(&r, *to, *force).await,
    };
    let counter = conn.aws.counter().clone();
    let run = match res {
        Ok(report) => RackRun::ok(&r.name, &report, started.elapsed(), &counter),
        Err(e) => RackRun::failed(&r.name, e.into(), started.elapsed(), Some(&counter)),
    };
    view.done(&run, bar);
    run
}

/// Interrupted racks turn the fleet's exit into the signal's (128+N); see [`RunResult`].
pub(crate) fn signal_code(runs: &[RackRun]) -> Option<u8> {
    runs.iter()
        .find(|r| r.result == RunResult::Interrupted)
        .map(|r| r.code)
}
