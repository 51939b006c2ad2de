//! Per-rack locks, so two `params set` on one rack never interleave.
//!
//! A lock is a row in `locks` (rack, owner pid and host, random-ish token, timestamps,
//! lease) written in a write transaction. It may be taken over when its holder stopped
//! renewing it for longer than its lease (the guard renews it from a background thread every
//! third of the lease), or, on the holder's own host, when its owner process is dead (checked
//! through `/proc` on Linux). Another machine cannot see the holder's processes: there the
//! lease alone decides, measured by the store's clock (the database server's), not by
//! either machine's. The guard releases the lock on drop. A second caller polls on convox's
//! one schedule (`convox-retry`: 50 ms, ×1.6 to 1 s, then a tenth of the time waited) until
//! its `wait` runs out (convox-engine asks for one attempt and waits asynchronously itself), then fails with [`StoreError::Locked`] naming the holder.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::backend::{vals, Backend, Mode, Tx};
use crate::{lock_backend, now_ms, now_rfc3339, run_in, Store, StoreError};

/// How to take a lock.
#[derive(Debug, Clone)]
pub struct LockOptions {
    /// How long to wait for a held lock before failing (`ZERO` = fail at once).
    pub wait: Duration,
    /// How long the lock stays valid without renewal (the guard renews it every lease/3).
    pub lease: Duration,
    /// What the holder is doing, shown to whoever waits (`params set`, `update`, …).
    pub purpose: String,
}

impl Default for LockOptions {
    fn default() -> Self {
        LockOptions {
            wait: Duration::ZERO,
            lease: Duration::from_secs(30),
            purpose: "params set".to_string(),
        }
    }
}

/// The current holder of a rack's lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub rack: String,
    pub pid: u32,
    pub token: String,
    pub purpose: String,
    /// RFC 3339, UTC.
    pub since: String,
    pub renewed_at_ms: i64,
    pub lease_ms: i64,
    /// The holder's [`host_id`] (empty for locks taken before it was recorded).
    pub host: String,
}

impl LockHolder {
    /// Whether the lock may be taken over: lease expired (by the store's clock, `now_ms`),
    /// or owner dead (only a holder on this host can be seen to be).
    pub fn is_stale(&self, now_ms: i64) -> bool {
        if now_ms.saturating_sub(self.renewed_at_ms) > self.lease_ms {
            return true;
        }
        let here = host_id();
        !here.is_empty() && self.host == here && !pid_alive(self.pid)
    }
}

/// Who this process's pids are meaningful to: on Linux the boot (`boot_id`) and the pid
/// namespace, so that two containers with the same host name never judge each other's
/// pids; empty (no pid check at all) where that cannot be told. `CONVOX_HOST_ID` overrides
/// it (tests stand in for two machines with it).
pub fn host_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        if let Some(id) = std::env::var("CONVOX_HOST_ID")
            .ok()
            .filter(|s| !s.is_empty())
        {
            return id;
        }
        #[cfg(target_os = "linux")]
        {
            let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id");
            let ns = std::fs::read_link("/proc/self/ns/pid");
            if let (Ok(boot), Ok(ns)) = (boot, ns) {
                return format!("{}/{}", boot.trim(), ns.display());
            }
        }
        String::new()
    })
}

/// Whether a process is alive. Only Linux can tell cheaply without extra dependencies;
/// elsewhere the lease alone decides.
fn pid_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        // A killed process its parent has not reaped yet (a zombie, `Z`; or `X`, dying) still
        // has /proc/PID but will never renew or release the lock.
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.trim_start())
                .is_some_and(|state| state.starts_with('Z') || state.starts_with('X')),
            // Gone; or unreadable (another user's process): trust its presence.
            Err(_) => std::path::Path::new("/proc").join(pid.to_string()).exists(),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

pub(crate) fn holder(c: &mut dyn Tx, rack: &str) -> Result<Option<LockHolder>, StoreError> {
    let Some(r) = c.query_opt(
        "SELECT rack, pid, token, purpose, acquired_at, renewed_at_ms, lease_ms, host \
         FROM locks WHERE rack = ?1",
        vals![rack],
    )?
    else {
        return Ok(None);
    };
    Ok(Some(LockHolder {
        rack: r.text(0)?,
        pid: u32::try_from(r.int(1)?).unwrap_or(0),
        token: r.text(2)?,
        purpose: r.text(3)?,
        since: r.text(4)?,
        renewed_at_ms: r.int(5)?,
        lease_ms: r.int(6)?,
        host: r.text(7)?,
    }))
}

fn new_token() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // The host part keeps tokens of two machines apart (their pids and clocks may agree).
    format!(
        "{:x}-{}-{}-{nanos:08x}-{n}",
        crate::fnv1a(host_id()),
        std::process::id(),
        now_ms()
    )
}

/// Guard of a held rack lock; dropping it releases the lock.
#[derive(Debug)]
pub struct RackLock {
    rack: String,
    token: String,
    stop: Option<mpsc::Sender<()>>,
    renewer: Option<JoinHandle<Result<(), StoreError>>>,
}

impl RackLock {
    pub fn rack(&self) -> &str {
        &self.rack
    }
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Checks that this guard still holds the lock (it can be lost if the process stalled
    /// for longer than the lease and another process took it over).
    pub fn check(&self, store: &Store) -> Result<(), StoreError> {
        match store.lock_holder(&self.rack)? {
            Some(h) if h.token == self.token => Ok(()),
            _ => Err(StoreError::LockLost(self.rack.clone())),
        }
    }

    /// Releases the lock now, reporting a failure to delete it (drop ignores it).
    pub fn release(mut self) -> Result<(), StoreError> {
        self.stop_renewer()
    }

    fn stop_renewer(&mut self) -> Result<(), StoreError> {
        // Dropping the sender wakes the renewer, which deletes the row and exits.
        self.stop.take();
        match self.renewer.take() {
            Some(h) => h.join().unwrap_or_else(|_| {
                tracing::warn!(rack = %self.rack, "lock renewer panicked");
                Ok(())
            }),
            None => Ok(()),
        }
    }
}

impl Drop for RackLock {
    fn drop(&mut self) {
        if let Err(e) = self.stop_renewer() {
            tracing::warn!(rack = %self.rack, error = %e, "releasing the rack lock failed; it expires with its lease");
        }
    }
}

fn renew_loop(
    backend: Arc<Mutex<Box<dyn Backend>>>,
    rack: String,
    token: String,
    every: Duration,
    stop: mpsc::Receiver<()>,
) -> Result<(), StoreError> {
    // Runs until the guard drops its sender (or sends a message).
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(every) {
        let n = run_in(&mut **lock_backend(&backend), Mode::Write, |tx| {
            let now = tx.now_ms()?;
            tx.exec(
                "UPDATE locks SET renewed_at_ms = ?3 WHERE rack = ?1 AND token = ?2",
                vals![&rack, &token, now],
            )
        });
        match n {
            Ok(0) => tracing::warn!(%rack, "rack lock was taken over by another process"),
            Ok(_) => {}
            Err(e) => tracing::warn!(%rack, error = %e, "renewing the rack lock failed"),
        }
    }
    run_in(&mut **lock_backend(&backend), Mode::Write, |tx| {
        tx.exec(
            "DELETE FROM locks WHERE rack = ?1 AND token = ?2",
            vals![&rack, &token],
        )
    })?;
    tracing::debug!(%rack, "rack lock released");
    Ok(())
}

pub(crate) fn acquire(
    store: &Store,
    rack: &str,
    opts: &LockOptions,
) -> Result<RackLock, StoreError> {
    let token = new_token();
    let pid = std::process::id();
    let lease_ms = i64::try_from(opts.lease.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    // The one schedule of every wait (convox-retry), bounded by how long we may wait.
    let mut schedule = convox_retry::Schedule::until(&convox_retry::Timing::default(), opts.wait);
    let mut announced = false;
    loop {
        let blocked = store.write(|tx| {
            let now = tx.now_ms()?;
            if let Some(h) = holder(tx, rack)? {
                if !h.is_stale(now) {
                    return Ok(Some(h));
                }
                tracing::warn!(
                    rack, pid = h.pid, since = %h.since,
                    "taking over a stale rack lock (owner gone or lease expired)"
                );
            }
            tx.exec(
                "INSERT INTO locks (rack, token, pid, purpose, acquired_at, acquired_at_ms, \
                 renewed_at_ms, lease_ms, host) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8) \
                 ON CONFLICT (rack) DO UPDATE SET token = excluded.token, pid = excluded.pid, \
                 purpose = excluded.purpose, acquired_at = excluded.acquired_at, \
                 acquired_at_ms = excluded.acquired_at_ms, \
                 renewed_at_ms = excluded.renewed_at_ms, lease_ms = excluded.lease_ms, \
                 host = excluded.host",
                vals![
                    rack,
                    &token,
                    pid,
                    &opts.purpose,
                    now_rfc3339(),
                    now,
                    lease_ms,
                    host_id()
                ],
            )?;
            Ok(None)
        })?;
        let Some(h) = blocked else {
            break;
        };
        let Some(pause) = schedule.next_pause() else {
            return Err(StoreError::Locked {
                rack: rack.to_string(),
                pid: h.pid,
                since: h.since,
                purpose: h.purpose,
            });
        };
        if !announced {
            tracing::info!(rack, pid = h.pid, since = %h.since, purpose = %h.purpose, "waiting for the rack lock");
            announced = true;
        }
        std::thread::sleep(pause);
    }
    let (tx, rx) = mpsc::channel();
    let every = (opts.lease / 3).max(Duration::from_millis(10));
    let (r, t) = (rack.to_string(), token.clone());
    let backend = store.shared_backend();
    let renewer = std::thread::Builder::new()
        .name(format!("rack-lock-{rack}"))
        .spawn(move || renew_loop(backend, r, t, every, rx))
        .map_err(|e| StoreError::Io {
            path: store.location().to_string(),
            source: e,
        });
    let renewer = match renewer {
        Ok(h) => h,
        Err(e) => {
            // Without a renewer the lock would linger until its lease ran out: give it back.
            let _ = store.write(|tx| {
                tx.exec(
                    "DELETE FROM locks WHERE rack = ?1 AND token = ?2",
                    vals![rack, &token],
                )
            });
            return Err(e);
        }
    };
    tracing::debug!(rack, "rack lock acquired");
    Ok(RackLock {
        rack: rack.to_string(),
        token,
        stop: Some(tx),
        renewer: Some(renewer),
    })
}
