//! The AWS clients of a fleet run: one per rack (its own call counter), all sharing the run's
//! [`RateLimits`]; local racks share one simulator, and what can be checked once (a recorded
//! simulator reachable, a profile defined) is checked once per run, not once per rack.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use convox_aws::{Aws, CallCounter, RateLimits, Target};
use convox_store::{Provider, Rack};
use serde_json::json;

use crate::commands::wiring::call_timeouts;
use crate::commands::Conn;
use crate::fleet::render::Summary;
use crate::home;
use crate::progress::Progress;
use crate::sim::{self, LocalSim};
use crate::Fail;

pub(crate) struct Conns {
    limits: RateLimits,
    /// The simulator of local racks that recorded none (embedded or $CONVOX_SIM_ENDPOINT).
    embedded: Option<LocalSim>,
    /// Recorded simulators: reachable, or why not.
    endpoints: HashMap<String, Result<(), String>>,
    /// AWS profiles named by racks: defined, or why not.
    profiles: HashMap<Option<String>, Result<(), String>>,
    counters: Mutex<Vec<CallCounter>>,
}

impl Conns {
    pub(crate) async fn prepare(racks: &[Rack], limits: RateLimits) -> Result<Conns, Fail> {
        let mut c = Conns {
            limits,
            embedded: None,
            endpoints: HashMap::new(),
            profiles: HashMap::new(),
            counters: Mutex::new(Vec::new()),
        };
        for r in racks {
            match (r.provider, &r.endpoint) {
                (Provider::Local, None) if c.embedded.is_none() => {
                    c.embedded = Some(sim::local(&home::state_dir()?).await?);
                }
                (Provider::Local, Some(url)) if !c.endpoints.contains_key(url) => {
                    let ok = sim::recorded(&r.name, url)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string());
                    c.endpoints.insert(url.clone(), ok);
                }
                (Provider::Aws, _) if !c.profiles.contains_key(&r.profile) => {
                    let ok = match &r.profile {
                        Some(p) => convox_aws::check_profile(p)
                            .await
                            .map_err(|e| e.to_string()),
                        None => Ok(()),
                    };
                    c.profiles.insert(r.profile.clone(), ok);
                }
                _ => {}
            }
        }
        Ok(c)
    }

    /// The rack's clients, its progress wired in.
    pub(crate) async fn connect(&self, r: &Rack, progress: &Progress) -> Result<Conn, Fail> {
        let (target, scope) = match r.provider {
            Provider::Local => {
                let url = match &r.endpoint {
                    Some(u) => {
                        if let Some(Err(e)) = self.endpoints.get(u) {
                            return Err(Fail::msg(e.clone()));
                        }
                        u.clone()
                    }
                    None => self
                        .embedded
                        .as_ref()
                        .map(|l| l.url.clone())
                        .ok_or_else(|| Fail::msg("internal error: no simulator started"))?,
                };
                (sim::target(&url, &r.region), format!("simulator {url}"))
            }
            Provider::Aws => {
                if let Some(Err(e)) = self.profiles.get(&r.profile) {
                    return Err(Fail::msg(e.clone()));
                }
                let target = Target::Aws {
                    region: r.region.clone(),
                    profile: r.profile.clone(),
                };
                // The profile stands for the account: it is only known after a call.
                let who = r.profile.as_deref().unwrap_or("(default credentials)");
                (target, format!("profile {who}"))
            }
        };
        progress.status(&format!(
            "checking the credentials and the cluster ({})",
            r.region
        ));
        let aws = Aws::connect_with(&target, call_timeouts())
            .await
            .with_progress(progress.callback())
            .with_notices(progress.notice_callback())
            .with_rate_limits(self.limits.clone(), &scope);
        if let Ok(mut c) = self.counters.lock() {
            c.push(aws.counter().clone());
        }
        Ok(Conn { aws, local: None })
    }

    /// Every rack's calls added up, to $CONVOX_CALLS_FILE (as a single-rack run writes its
    /// own), with the run's throttled calls.
    pub(crate) fn write_calls_file(&self, summary: &Summary) {
        let Some(path) = std::env::var_os("CONVOX_CALLS_FILE").filter(|p| !p.is_empty()) else {
            return;
        };
        let mut calls: BTreeMap<String, u64> = BTreeMap::new();
        if let Ok(counters) = self.counters.lock() {
            for c in counters.iter() {
                for (k, v) in c.snapshot() {
                    *calls.entry(k).or_default() += v;
                }
            }
        }
        let total: u64 = calls.values().sum();
        let body = json!({ "total": total, "calls": calls, "throttled": summary.throttled });
        if let Err(e) = std::fs::write(&path, format!("{body}\n")) {
            tracing::warn!(
                "cannot write {}: {e}",
                std::path::Path::new(&path).display()
            );
        }
    }

    /// Stops the embedded simulator.
    pub(crate) async fn close(self) {
        if let Some(l) = self.embedded {
            l.stop().await;
        }
    }
}
