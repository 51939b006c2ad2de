//! What every request of a running server shares: the model, the counters and fault
//! state, caches of settings and keys, the client timeouts, and the Kubernetes side.

use crate::{counts, faults, kube, sigv4};
use eks_sim_model::sts::KeyRecord;
use eks_sim_model::{Settings, Sim, SimError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// Settings and reset epoch as last read, with the `data_version` they were read at.
pub(crate) struct Cached {
    pub(crate) data_version: i64,
    pub(crate) epoch: i64,
    pub(crate) settings: Arc<Settings>,
}

pub(crate) struct Shared {
    pub(crate) sim: Arc<Sim>,
    pub(crate) loopback: bool,
    pub(crate) counts: counts::Counts,
    pub(crate) faults: faults::Faults,
    pub(crate) keys: RwLock<HashMap<String, Arc<KeyRecord>>>,
    /// Derived signing keys by `akid/date/region/service`.
    pub(crate) signing_keys: RwLock<HashMap<String, [u8; 32]>>,
    pub(crate) cached: Mutex<Option<Cached>>,
    /// Flips to `true` at shutdown: a request still waiting for its body stops waiting.
    pub(crate) stop: watch::Receiver<bool>,
    pub(crate) timeouts: Timeouts,
    /// The clusters' Kubernetes API (TLS on the same port).
    pub(crate) kube: Option<Arc<kube::Kube>>,
}

/// How long a client may take to send a request; a stalled client must not hold a
/// connection (or a shutdown) forever.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// From the first byte of a request head to its end.
    pub header_read: Duration,
    /// To receive a whole request body once its head has arrived.
    pub body_read: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            // hyper also applies this to an idle keep-alive connection waiting for its next
            // head. The AWS CLI's `eks wait` polls every 30 s on a reused connection, so a
            // 30 s limit raced it ("connection closed before a valid response"); stay well
            // above the slowest poll interval of AWS's waiters.
            header_read: Duration::from_secs(75),
            body_read: Duration::from_secs(30),
        }
    }
}

impl Shared {
    pub(crate) fn counts_snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.requests()
    }

    /// Current settings; re-read only when the state file changed since the last read.
    pub(crate) fn settings(&self) -> Result<Arc<Settings>, SimError> {
        let dv = self.sim.store.data_version()?;
        let mut cached = match self.cached.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if let Some(c) = cached.as_ref() {
            if c.data_version == dv {
                return Ok(c.settings.clone());
            }
        }
        let (epoch, settings) = self.sim.store.read(|c| {
            Ok((
                eks_sim_model::store::epoch(c)?,
                eks_sim_model::settings::load(c)?,
            ))
        })?;
        let settings = Arc::new(settings);
        let old_epoch = cached.as_ref().map(|c| c.epoch);
        if old_epoch.is_some() && old_epoch != Some(epoch) {
            self.forget_keys();
        }
        *cached = Some(Cached {
            data_version: dv,
            epoch,
            settings: settings.clone(),
        });
        Ok(settings)
    }

    pub(crate) fn forget_keys(&self) {
        if let Ok(mut k) = self.keys.write() {
            k.clear();
        }
        if let Ok(mut k) = self.signing_keys.write() {
            k.clear();
        }
    }

    pub(crate) fn key(&self, akid: &str) -> Result<Option<Arc<KeyRecord>>, SimError> {
        if let Ok(k) = self.keys.read() {
            if let Some(r) = k.get(akid) {
                return Ok(Some(r.clone()));
            }
        }
        let rec = self
            .sim
            .store
            .read(|c| eks_sim_model::sts::lookup_key(c, akid))?;
        Ok(rec.map(|r| {
            let r = Arc::new(r);
            if let Ok(mut k) = self.keys.write() {
                k.insert(akid.to_string(), r.clone());
            }
            r
        }))
    }

    pub(crate) fn signing_key(&self, rec: &KeyRecord, p: &sigv4::SigParts) -> [u8; 32] {
        let id = format!(
            "{}/{}/{}/{}",
            p.access_key_id, p.scope_date, p.region, p.service
        );
        if let Ok(k) = self.signing_keys.read() {
            if let Some(key) = k.get(&id) {
                return *key;
            }
        }
        let key = sigv4::signing_key(&rec.secret, &p.scope_date, &p.region, &p.service);
        if let Ok(mut k) = self.signing_keys.write() {
            // Bounded: dates roll over, so old entries are dropped wholesale.
            if k.len() > 10_000 {
                k.clear();
            }
            k.insert(id, key);
        }
        key
    }
}
