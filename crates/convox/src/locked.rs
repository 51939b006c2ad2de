//! The locked-run protocol of `params set`, `rack update` and `rack install`:
//!
//! lock → re-validate against what is stored now → observe → refuse what the first plan
//! refuses (conflicts, an unsafe downgrade, a node role IAM does not have, an unmet
//! parameter: see [`crate::gates`]) → record the change right before the first step
//! that may change AWS → converge → record the result.
//!
//! - Every store write goes through [`convox_store::Fenced`]: the write transaction itself
//!   checks that the lock is still this run's, so a run that lost it writes nothing.
//! - A run that fails before changing AWS leaves the store as it was: nothing was recorded
//!   yet. One that fails after keeps the requested values and marks the rack failed, so a
//!   rerun finishes the job.
//! - SIGINT/SIGTERM after the lock is taken end the run with one line saying what was
//!   interrupted, the change (if recorded) finished as interrupted, and exit status 128+N.

use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use convox_params::Version;
use convox_store::{ChangeId, Fenced, LockOptions, RackLock, Store, StoreError};

use crate::commands::{rack_aws, store_err, Conn};
use crate::gates;
use crate::progress::Progress;
use crate::reconcile::{self, Hooks};
use crate::Fail;

/// Longest wait for another run holding the rack's lock.
const LOCK_WAIT: Duration = Duration::from_secs(15 * 60);
/// Longest a reconcile may take in total.
pub const CONVERGE_DEADLINE: Duration = Duration::from_secs(45 * 60);

fn lock_opts(purpose: &str) -> LockOptions {
    // CONVOX_LOCK_LEASE_MS: a test knob (lease expiry is otherwise 30 s away).
    let lease = std::env::var("CONVOX_LOCK_LEASE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis)
        .unwrap_or(Duration::from_secs(30));
    LockOptions {
        wait: LOCK_WAIT,
        lease,
        purpose: purpose.to_string(),
    }
}

/// The failure of a run that lost the rack's lock to another run.
fn lost(rack: &str) -> Fail {
    Fail::msg(format!(
        "this run was stopped longer than its lock's lease and another run took rack {rack} over; stopped without changing anything more: see `convox rack -r {rack}` for that run's result"
    ))
}

/// A store error of a fenced write, in words ([`StoreError::LockLost`]: fenced out).
pub fn fenced_err(e: StoreError) -> Fail {
    match e {
        StoreError::LockLost(rack) => lost(&rack),
        e => store_err(e),
    }
}

/// Whether this run still holds the rack's lock, checked before every AWS step.
pub fn still_held(store: &Store, lock: &RackLock) -> Result<(), Fail> {
    match lock.check(store) {
        Ok(()) => Ok(()),
        Err(StoreError::LockLost(rack)) => Err(lost(&rack)),
        // Could not read the lock (e.g. the store busy beyond its timeout): that says nothing
        // about another run; carry on rather than abandon a run midway (every store write
        // is fenced anyway).
        Err(e) => {
            tracing::warn!("cannot check the rack lock: {e}");
            Ok(())
        }
    }
}

/// Takes the rack's lock (waiting for another run, with progress), off the async threads.
pub fn take_lock(
    store: &Store,
    rack: &str,
    purpose: &str,
    progress: &Progress,
) -> Result<RackLock, Fail> {
    if let Ok(Some(h)) = store.lock_holder(rack) {
        if h.pid != std::process::id() {
            progress.say(&format!(
                "waiting for rack {rack}'s lock (held by process {} since {}, {})",
                h.pid, h.since, h.purpose
            ));
        }
    }
    tokio::task::block_in_place(|| store.lock_rack(rack, &lock_opts(purpose))).map_err(store_err)
}

/// A signal that ended a run.
#[derive(Debug, Clone, Copy)]
pub struct Interrupt {
    name: &'static str,
    number: u8,
}

/// Runs `f` unless SIGINT or SIGTERM comes first (then `f` is dropped, its calls cancelled).
pub async fn interruptible<F: Future>(f: F) -> Result<F::Output, Interrupt> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            tracing::warn!(
                "cannot watch for SIGINT/SIGTERM: an interrupted run will not be recorded as such"
            );
            return Ok(f.await);
        };
        tokio::select! {
            out = f => Ok(out),
            _ = int.recv() => Err(Interrupt { name: "SIGINT", number: 2 }),
            _ = term.recv() => Err(Interrupt { name: "SIGTERM", number: 15 }),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::select! {
            out = f => Ok(out),
            _ = tokio::signal::ctrl_c() => Err(Interrupt { name: "Ctrl-C", number: 2 }),
        }
    }
}

/// How a run's change is opened once the first plan allows it.
enum Opening<'a> {
    ParamsSet(&'a [String]),
    Update {
        to: Version,
        forced: bool,
        row: Option<&'static str>,
    },
}

/// A locked run's change in the store: opened at most once, right before the first step that
/// may change AWS (or at the end of a run that needed none), closed by [`Recorder::end`] or
/// [`Recorder::interrupted`]; every write fenced by the run's lock.
pub struct Recorder<'a> {
    store: &'a Store,
    lock: &'a RackLock,
    /// What the run is doing, for the interruption message (`setting parameters on`, …).
    doing: &'static str,
    opening: Mutex<Option<(Opening<'a>, String)>>,
    id: Mutex<Option<ChangeId>>,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<'a> Recorder<'a> {
    fn new(store: &'a Store, lock: &'a RackLock, doing: &'static str) -> Recorder<'a> {
        Recorder {
            store,
            lock,
            doing,
            opening: Mutex::new(None),
            id: Mutex::new(None),
        }
    }

    /// For a change already opened (an install, recorded before its reconcile).
    pub fn begun(store: &'a Store, lock: &'a RackLock, id: ChangeId) -> Recorder<'a> {
        let r = Recorder::new(store, lock, "installing");
        *guard(&r.id) = Some(id);
        r
    }

    fn rack(&self) -> Fenced<'a> {
        self.store.fenced(self.lock)
    }

    fn set_opening(&self, opening: Opening<'a>, actor: String) {
        *guard(&self.opening) = Some((opening, actor));
    }

    /// Opens the change unless it is open already; its id.
    fn open(&self) -> Result<ChangeId, Fail> {
        let mut id = guard(&self.id);
        if let Some(id) = *id {
            return Ok(id);
        }
        let opening = guard(&self.opening);
        let Some((how, actor)) = opening.as_ref() else {
            return Err(Fail::msg(
                "internal error: a change was begun before it was planned",
            ));
        };
        let rack = self.rack();
        let opened = match how {
            Opening::ParamsSet(args) => rack.begin_params_set(args, actor).map(|(id, _)| id),
            Opening::Update { to, forced, row } => {
                rack.begin_update_in_row(to, *forced, *row, actor)
            }
        }
        .map_err(fenced_err)?;
        *id = Some(opened);
        Ok(opened)
    }

    /// Records how the run ended and passes its result on.
    pub fn end(&self, res: Result<(), Fail>) -> Result<(), Fail> {
        let opened = *guard(&self.id);
        let id = match (opened, &res) {
            (Some(id), _) => id,
            // Failed before changing anything: nothing was recorded, nothing is.
            (None, Err(_)) => return res,
            // Needed no AWS step: the change is recorded now.
            (None, Ok(())) => self.open()?,
        };
        let closed = match &res {
            Ok(()) => self.rack().finish_change(id, Ok(())),
            Err(e) => self.rack().finish_change(id, Err(&e.to_string())),
        };
        closed.map_err(fenced_err)?;
        res
    }

    /// Finishes the change (if opened) as interrupted by `sig`; the failure to report.
    pub fn interrupted(&self, sig: Interrupt) -> Fail {
        let rack = self.lock.rack();
        let Some(id) = *guard(&self.id) else {
            return Fail::signalled(
                format!(
                    "interrupted by {} while {} rack {rack}, before anything was changed; rerun the command to make the change",
                    sig.name, self.doing
                ),
                sig.number,
            );
        };
        let note = format!("interrupted by {} before the change finished", sig.name);
        let recorded = match self.rack().finish_change(id, Err(&note)) {
            Ok(()) => "recorded as interrupted in its history".to_string(),
            Err(e) => format!("could not record it ({})", fenced_err(e)),
        };
        Fail::signalled(
            format!(
                "interrupted by {} while {} rack {rack}; {recorded}. An AWS update already started goes on by itself: rerun the command to finish the change",
                sig.name, self.doing
            ),
            sig.number,
        )
    }
}

impl Hooks for Recorder<'_> {
    fn fence(&self) -> Result<(), Fail> {
        still_held(self.store, self.lock)
    }
    fn before_change(&self) -> Result<(), Fail> {
        self.open().map(|_| ())
    }
}

/// What a locked run changes.
pub enum Begin<'a> {
    ParamsSet(&'a [String]),
    Update { to: Version, force: bool },
}

/// Runs `begin` on `rack` under its lock (see the module doc).
pub async fn run_locked(
    store: &Store,
    rack: &str,
    conn: &Conn,
    begin: Begin<'_>,
    progress: &Progress,
) -> Result<(), Fail> {
    let (purpose, doing) = match begin {
        Begin::ParamsSet(_) => ("params set", "setting parameters on"),
        Begin::Update { .. } => ("update", "updating"),
    };
    let lock = take_lock(store, rack, purpose, progress)?;
    let rec = Recorder::new(store, &lock, doing);
    match interruptible(plan_and_converge(store, rack, conn, begin, progress, &rec)).await {
        Ok(res) => rec.end(res),
        Err(sig) => Err(rec.interrupted(sig)),
    }
}

async fn plan_and_converge<'a>(
    store: &Store,
    rack: &str,
    conn: &Conn,
    begin: Begin<'a>,
    progress: &Progress,
    rec: &Recorder<'a>,
) -> Result<(), Fail> {
    // Another run may have changed the rack while we waited: validate against what is stored.
    let fresh = store.get_rack(rack).map_err(store_err)?;
    let current = store.params(rack).map_err(store_err)?;
    // What acts is what the version (after the run) has: parameters a downgrade left
    // behind stay stored for the way back up, but a reconcile must not act on them.
    let (target, left_behind) = match &begin {
        Begin::ParamsSet(args) => {
            let next = convox_params::validate_set(&current, &fresh.version, args)
                .map_err(|e| Fail::msg(e.to_string()))?
                .apply_to(&current);
            (
                convox_params::effective_at(&next, &fresh.version),
                Vec::new(),
            )
        }
        Begin::Update { to, .. } => {
            let left = convox_params::validate_update(&current, &fresh.version, to)
                .map_err(|e| Fail::msg(e.to_string()))?;
            (convox_params::effective_at(&current, to), left)
        }
    };
    let ra = rack_aws(&fresh);
    let first = reconcile::snapshot(&conn.aws, &ra, &target, None).await?;
    let opening = match begin {
        Begin::ParamsSet(args) => Opening::ParamsSet(args),
        Begin::Update { to, force } => {
            // Recorded in history only when --force actually overrode a refusal.
            // aws-auth decides the API_AND_CONFIG_MAP row: read only when it does.
            let mode = first.observed.auth_mode_to_come();
            let fact =
                if !left_behind.is_empty() && mode == convox_planner::AuthMode::ApiAndConfigMap {
                    Some(crate::kube_auth::read(conn, &fresh).await)
                } else {
                    None
                };
            let (forced, row) = gates::downgrade_gate(
                &fresh,
                &to,
                &left_behind,
                &first.observed,
                fact.as_ref(),
                force,
                progress,
            )?;
            Opening::Update { to, forced, row }
        }
    };
    // Node roles proven, the parameters' needs met: refused before anything is recorded.
    gates::preflight(&conn.aws, rack, &first).await?;
    // The history's actor is the caller the observation resolved.
    rec.set_opening(opening, first.caller.arn.clone());
    reconcile::converge_from(&conn.aws, &ra, &target, first, CONVERGE_DEADLINE, rec)
        .await
        .map(|_| ())
}

/// `rack install`'s part under the lock, once the cluster has been observed: the rack is
/// recorded (fenced) before its reconcile, the lock held from before the rack exists until
/// its change is closed (a run on the new rack in between would take the pending install for
/// an interrupted one, or interleave with its reconcile). A first plan with conflicts
/// records nothing. Returns whether parameters were set.
#[allow(clippy::too_many_arguments)]
pub async fn install(
    store: &Store,
    conn: &Conn,
    new: &convox_store::NewRack,
    params: &[String],
    planned: &convox_params::Params,
    ra: &reconcile::RackAws,
    first: reconcile::Snapshot,
    progress: &Progress,
) -> Result<bool, Fail> {
    if !first.plan.conflicts.is_empty() {
        return Err(reconcile::conflicts_error(ra, &first.plan));
    }
    let lock = take_lock(store, &new.name, "install", progress)?;
    let (id, changes) = store
        .fenced(&lock)
        .begin_install(new, params, &first.caller.arn)
        .map_err(fenced_err)?;
    let rec = Recorder::begun(store, &lock, id);
    let res = if changes.changes.is_empty() {
        Ok(())
    } else {
        let converge =
            reconcile::converge_from(&conn.aws, ra, planned, first, CONVERGE_DEADLINE, &rec);
        match interruptible(converge).await {
            Ok(r) => r.map(|_| ()),
            Err(sig) => return Err(rec.interrupted(sig)),
        }
    };
    rec.end(res)?;
    Ok(!changes.changes.is_empty())
}
