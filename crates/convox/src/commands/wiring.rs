//! What every rack command starts with: the store (`--store`/$CONVOX_STORE, else the SQLite
//! file), the rack it is for, and SDK clients for that rack (a local rack's simulator
//! included).

use convox_aws::{Aws, Target};
use convox_store::{Provider, Rack, Store};

use crate::home;
use crate::progress::Progress;
use crate::sim::{self, LocalSim};
use crate::Fail;

/// The store `--store`/$CONVOX_STORE names (set once by [`set_store_spec`]); none: the
/// SQLite file.
static STORE_SPEC: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

pub(crate) fn set_store_spec(spec: Option<String>) {
    let _ = STORE_SPEC.set(spec);
}

pub(crate) fn open_store() -> Result<Store, Fail> {
    let spec = STORE_SPEC.get().and_then(|s| s.as_deref());
    Ok(Store::open_spec(spec, &home::state_dir()?)?)
}

/// The rack a command is for: -r, else $CONVOX_RACK, else the switched-to rack.
pub(crate) fn selected(store: &Store, flag: Option<String>) -> Result<Rack, Fail> {
    let env = std::env::var("CONVOX_RACK").ok();
    let flag = flag.filter(|f| !f.is_empty());
    let env = env.filter(|e| !e.is_empty());
    store
        .resolve_rack(flag.as_deref(), env.as_deref())
        .map_err(|e| match e {
            // Say where a name the user did not type came from.
            convox_store::StoreError::UnknownRack(n) if flag.is_none() => {
                let from = if env.is_some() {
                    "$CONVOX_RACK"
                } else {
                    "`convox switch`"
                };
                Fail::msg(format!(
                    "no rack named {n} (chosen by {from}); run `convox racks` to list racks"
                ))
            }
            convox_store::StoreError::NoCurrentRack
                if store.racks().is_ok_and(|r| r.is_empty()) =>
            {
                Fail::msg(
                    "there are no racks yet; install one with `convox rack install local NAME` (simulated) or `convox rack install aws NAME --cluster C --region R --nodes-role-arn ARN`",
                )
            }
            e => e.into(),
        })
}

/// SDK clients for a rack (and the simulator serving a local one, kept for the command).
pub struct Conn {
    pub aws: Aws,
    /// The embedded simulator this connection started (stopped by [`Conn::close`]).
    pub(crate) local: Option<LocalSim>,
}

/// `$CONVOX_CALLS_FILE`: the API calls a command made, for tests and benchmarks.
/// Keys in the order they always had (sorted).
#[derive(serde::Serialize)]
struct CallsFile<'a> {
    calls: &'a std::collections::BTreeMap<String, u64>,
    total: u64,
}

impl Conn {
    /// Stops an embedded simulator and reports the API calls made (tracing at info; JSON to
    /// the file named by $CONVOX_CALLS_FILE, which tests and benchmarks read).
    pub async fn close(self) {
        let counts = self.aws.counter().snapshot();
        let total: u64 = counts.values().sum();
        tracing::info!(
            total,
            mutating = self.aws.counter().mutating(),
            "API calls: {counts:?}"
        );
        if let Some(path) = std::env::var_os("CONVOX_CALLS_FILE").filter(|p| !p.is_empty()) {
            let body = serde_json::to_string(&CallsFile {
                total,
                calls: &counts,
            })
            .unwrap_or_default();
            if let Err(e) = std::fs::write(&path, format!("{body}\n")) {
                tracing::warn!(
                    "cannot write {}: {e}",
                    std::path::Path::new(&path).display()
                );
            }
        }
        if let Some(l) = self.local {
            l.stop().await;
        }
    }
}

/// `sim`: the simulator a local rack's cluster lives in, when recorded (shared stores).
pub(crate) async fn connect_provider(
    provider: Provider,
    region: &str,
    profile: Option<String>,
    sim: Option<(&str, &str)>,
    progress: &Progress,
) -> Result<Conn, Fail> {
    let (target, local) = if provider == Provider::Local {
        progress.status("starting the simulator");
        let l = match sim {
            Some((rack, url)) => sim::recorded(rack, url).await?,
            None => sim::local(&home::state_dir()?).await?,
        };
        (sim::target(&l.url, region), Some(l))
    } else {
        // A named profile must exist (at install, and for a stored one that has vanished
        // since), as the AWS CLI requires; nothing is called or recorded otherwise.
        if let Some(p) = &profile {
            convox_aws::check_profile(p).await?;
        }
        (
            Target::Aws {
                region: region.to_string(),
                profile,
            },
            None,
        )
    };
    progress.status(&format!(
        "checking the credentials and the cluster ({region})"
    ));
    let aws = Aws::connect_with(&target, call_timeouts())
        .await
        .with_progress(progress.callback())
        .with_notices(progress.notice_callback());
    Ok(Conn { aws, local })
}

/// The bound of one AWS call; CONVOX_CALL_TIMEOUT_MS is a test knob (a hung endpoint is
/// otherwise given up on after the default minute).
pub(crate) fn call_timeouts() -> convox_aws::CallTimeouts {
    std::env::var("CONVOX_CALL_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map(|ms| convox_aws::CallTimeouts::within(std::time::Duration::from_millis(ms)))
        .unwrap_or_default()
}

pub(crate) async fn connect(rack: &Rack, progress: &Progress) -> Result<Conn, Fail> {
    let sim = rack.endpoint.as_deref().map(|u| (rack.name.as_str(), u));
    connect_provider(
        rack.provider,
        &rack.region,
        rack.profile.clone(),
        sim,
        progress,
    )
    .await
}

/// The engine for one rack's command: its store, its clients, progress on stderr.
pub(crate) fn engine<'a>(
    store: &'a Store,
    conn: &'a Conn,
    progress: &'a Progress,
) -> convox_engine::Engine<'a> {
    convox_engine::Engine::new(store, &conn.aws, progress)
        .with_options(convox_engine::RunOptions::from_env())
}
