//! `convox sim …` and the simulator a local rack talks to: the running `convox sim serve` named
//! by $CONVOX_SIM_ENDPOINT, else one served in-process on an ephemeral loopback port for the
//! duration of the command (same state file, so both see the same account).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use convox_aws::Target;
use eks_sim_model::{Sim, Store};

use crate::cli::Output;
use crate::home;
use crate::Fail;

/// A simulator endpoint for the command; dropping it stops an in-process server.
pub struct LocalSim {
    pub url: String,
    server: Option<eks_sim_server::ServerHandle>,
}

impl LocalSim {
    pub async fn stop(mut self) {
        if let Some(h) = self.server.take() {
            h.shutdown().await;
        }
    }
}

fn open_store(dir: &Path) -> Result<Store, Fail> {
    home::ensure_dir(dir)?;
    let path = dir.join(home::SIM_DB);
    Store::open(&path).map_err(|e| Fail::msg(format!("simulator state {}: {e}", path.display())))
}

/// The endpoint for local racks.
pub async fn local(dir: &Path) -> Result<LocalSim, Fail> {
    if let Some(url) = endpoint_env()? {
        return Ok(LocalSim { url, server: None });
    }
    let store = open_store(dir)?;
    let sim = Arc::new(Sim::new(store));
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let handle = eks_sim_server::start(sim, listen)
        .await
        .map_err(|e| Fail::msg(format!("cannot start the embedded simulator: {e}")))?;
    let url = format!("http://{}", handle.addr());
    tracing::debug!("embedded simulator at {url}");
    Ok(LocalSim {
        url,
        server: Some(handle),
    })
}

/// $CONVOX_SIM_ENDPOINT as a URL, if set; an error if it is not one.
fn endpoint_env() -> Result<Option<String>, Fail> {
    let Some(url) = std::env::var("CONVOX_SIM_ENDPOINT")
        .ok()
        .filter(|u| !u.is_empty())
    else {
        return Ok(None);
    };
    endpoint_url(&url).map(Some).map_err(|why| {
        Fail::msg(format!(
            "invalid CONVOX_SIM_ENDPOINT `{url}`: {why}; set it to the address `convox sim serve` printed (e.g. http://127.0.0.1:4599), or unset it to use the embedded simulator"
        ))
    })
}

/// The simulator a new local rack in a shared store lives in: a running `convox sim serve`
/// every machine of the team reaches, never the embedded one (its cluster would exist on
/// this machine only).
pub fn shared_endpoint(rack: &str) -> Result<String, Fail> {
    endpoint_env()?.ok_or_else(|| {
        Fail::msg(format!(
            "local rack {rack} in a shared store needs a simulator every machine reaches: run `convox sim serve --listen ADDR` on one machine and set CONVOX_SIM_ENDPOINT=http://ADDR on each"
        ))
    })
}

/// The simulator recorded for a local rack (shared stores): reachable, or an error that
/// says so; a second cluster is never made elsewhere.
pub async fn recorded(rack: &str, url: &str) -> Result<LocalSim, Fail> {
    let authority = url
        .split_once("://")
        .map_or(url, |(_, rest)| rest)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let probe = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect(authority),
    )
    .await;
    let why = match probe {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(_) => Some("no answer in 5 s".to_string()),
    };
    if let Some(why) = why {
        return Err(Fail::msg(format!(
            "local rack {rack}'s cluster lives in the simulator at {url}, which this machine cannot reach ({why}); start `convox sim serve` there or make it reachable (convox does not create a second cluster)"
        )));
    }
    Ok(LocalSim {
        url: url.to_string(),
        server: None,
    })
}

/// SDK target for a local rack: the simulator's default key pair unless overridden with
/// CONVOX_SIM_ACCESS_KEY_ID / CONVOX_SIM_SECRET_ACCESS_KEY / CONVOX_SIM_SESSION_TOKEN (tests use
/// that to act as another identity).
pub fn target(url: &str, region: &str) -> Target {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (key, secret, token) = match (
        env("CONVOX_SIM_ACCESS_KEY_ID"),
        env("CONVOX_SIM_SECRET_ACCESS_KEY"),
    ) {
        (Some(k), Some(s)) => (k, s, env("CONVOX_SIM_SESSION_TOKEN")),
        _ => (
            eks_sim_model::DEFAULT_ACCESS_KEY_ID.to_string(),
            eks_sim_model::DEFAULT_SECRET_ACCESS_KEY.to_string(),
            Some(eks_sim_model::DEFAULT_SESSION_TOKEN.to_string()),
        ),
    };
    Target::Endpoint {
        url: url.to_string(),
        region: region.to_string(),
        access_key_id: key,
        secret_access_key: secret,
        session_token: token,
    }
}

fn state_or_home(state: Option<PathBuf>) -> Result<PathBuf, Fail> {
    match state {
        Some(s) => Ok(s),
        None => home::state_dir(),
    }
}

fn apply_settings(store: &Store, kvs: &[String]) -> Result<eks_sim_model::Settings, Fail> {
    store
        .write(|tx| {
            let mut s = eks_sim_model::settings::load(tx)?;
            for kv in kvs {
                s = eks_sim_model::settings::set_kv(&s, kv)?;
            }
            if !kvs.is_empty() {
                eks_sim_model::settings::save(tx, &s)?;
            }
            Ok(s)
        })
        .map_err(|e| Fail::msg(format!("simulator settings: {}", e.message)))
}

/// `convox sim serve`: first stdout line `listening on http://ADDR`, then serve until
/// SIGINT/SIGTERM.
pub async fn serve(listen: &str, state: Option<PathBuf>, set: &[String]) -> Result<(), Fail> {
    let addr = listen_addr(listen)?;
    let dir = state_or_home(state)?;
    let store = open_store(&dir)?;
    apply_settings(&store, set)?;
    let sim = Arc::new(Sim::new(store));
    let handle = eks_sim_server::start(sim, addr).await.map_err(|e| {
        let e = e.to_string();
        let hint = if e.contains("in use") {
            "; is another `convox sim serve` running? pick another --listen port"
        } else {
            ""
        };
        if e.starts_with("cannot listen") {
            Fail::msg(format!("{e}{hint}"))
        } else {
            Fail::msg(format!("cannot listen on {addr}: {e}{hint}"))
        }
    })?;
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{}", handle.addr());
        let _ = out.flush();
    }
    wait_for_signal().await;
    handle.shutdown().await;
    Ok(())
}

/// `IP:PORT`, or `HOST:PORT` for a name that resolves (e.g. `localhost:4599`).
fn listen_addr(listen: &str) -> Result<SocketAddr, Fail> {
    use std::net::ToSocketAddrs;
    if let Ok(a) = listen.parse() {
        return Ok(a);
    }
    listen
        .to_socket_addrs()
        .ok()
        .and_then(|mut it| it.next())
        .ok_or_else(|| {
            Fail::msg(format!(
                "invalid --listen address `{listen}`: expected IP:PORT (e.g. 127.0.0.1:4599)"
            ))
        })
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `convox sim env`: export lines for the AWS CLI and SDKs.
pub fn env(listen: Option<String>) -> Result<String, Fail> {
    let (url, from) = match listen {
        Some(l) => (l, "--listen"),
        None => match std::env::var("CONVOX_SIM_ENDPOINT")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(e) => (e, "CONVOX_SIM_ENDPOINT"),
            None => ("127.0.0.1:4599".to_string(), "the default"),
        },
    };
    let url = endpoint_url(&url).map_err(|why| {
        Fail::msg(format!(
            "invalid {from} address `{url}`: {why}; expected HOST:PORT or http://HOST:PORT (e.g. 127.0.0.1:4599, the address `convox sim serve` printed)"
        ))
    })?;
    let region = eks_sim_model::DEFAULT_REGION;
    let lines = [
        ("AWS_ENDPOINT_URL", url.as_str()),
        ("AWS_ACCESS_KEY_ID", eks_sim_model::DEFAULT_ACCESS_KEY_ID),
        (
            "AWS_SECRET_ACCESS_KEY",
            eks_sim_model::DEFAULT_SECRET_ACCESS_KEY,
        ),
        ("AWS_SESSION_TOKEN", eks_sim_model::DEFAULT_SESSION_TOKEN),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_REGION", region),
    ];
    Ok(lines
        .iter()
        .map(|(k, v)| format!("export {k}={}\n", shell_quote(v)))
        .collect())
}

/// `HOST:PORT` or `http://HOST:PORT` (a trailing `/` allowed) as an endpoint URL, checked as a
/// socket address without resolving the name: an IP (IPv6 in brackets) or a DNS name, and a
/// port from 1 to 65535. Anything else would only fail later, at the first call, far from
/// the typo.
fn endpoint_url(s: &str) -> Result<String, String> {
    let (scheme, rest) = match s.split_once("://") {
        Some((scheme @ ("http" | "https"), rest)) => (scheme, rest),
        Some((other, _)) => return Err(format!("unsupported scheme `{other}`")),
        None => ("http", s),
    };
    let hostport = rest.strip_suffix('/').unwrap_or(rest);
    if let Ok(a) = hostport.parse::<SocketAddr>() {
        if a.port() == 0 {
            return Err("port 0 is not an address to connect to".into());
        }
        return Ok(format!("{scheme}://{hostport}"));
    }
    let Some((host, port)) = hostport.rsplit_once(':') else {
        return Err("no port".into());
    };
    match port.parse::<u16>() {
        Ok(p) if p > 0 => {}
        _ => return Err(format!("`{port}` is not a port (1-65535)")),
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if host.is_empty() || host.len() > 253 || !host.split('.').all(label_ok) {
        return Err(format!("`{host}` is not a host name or IP address"));
    }
    Ok(format!("{scheme}://{hostport}"))
}

fn shell_quote(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./:".contains(c))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', "'\\''"))
    }
}

/// `convox sim config [KEY=VALUE…]`: show (after applying any changes) the settings.
pub fn config(state: Option<PathBuf>, kvs: &[String], output: Output) -> Result<String, Fail> {
    let dir = state_or_home(state)?;
    let store = open_store(&dir)?;
    let s = apply_settings(&store, kvs)?;
    let v = serde_json::to_value(&s).map_err(|e| Fail::msg(format!("settings: {e}")))?;
    match output {
        Output::Json => Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&v).map_err(|e| Fail::msg(e.to_string()))?
        )),
        Output::Text => {
            let mut out = String::new();
            if let Some(obj) = v.as_object() {
                let width = obj.keys().map(String::len).max().unwrap_or(0);
                for (k, val) in obj {
                    out.push_str(&format!("{k:<width$}  {val}\n"));
                }
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        assert_eq!(
            listen_addr("127.0.0.1:4599").ok(),
            Some(([127, 0, 0, 1], 4599).into())
        );
        assert!(listen_addr("localhost:4599").is_ok_and(|a| a.ip().is_loopback()));
        assert!(listen_addr("4599").is_err());
        assert!(listen_addr("127.0.0.1").is_err());
    }

    #[test]
    fn endpoint_urls() {
        for (given, want) in [
            ("127.0.0.1:4599", "http://127.0.0.1:4599"),
            ("http://127.0.0.1:4599/", "http://127.0.0.1:4599"),
            ("localhost:4599", "http://localhost:4599"),
            ("[::1]:4599", "http://[::1]:4599"),
            ("https://sim.example.com:443", "https://sim.example.com:443"),
        ] {
            assert_eq!(endpoint_url(given).as_deref(), Ok(want), "{given}");
        }
        for bad in [
            "foo",
            "http://foo",
            "127.0.0.1",
            "127.0.0.1:0",
            "127.0.0.1:99999",
            ":4599",
            "ftp://h:1",
            "a b:1",
            "h:x",
        ] {
            assert!(endpoint_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(
            shell_quote("http://127.0.0.1:4599"),
            "http://127.0.0.1:4599"
        );
        assert_eq!(shell_quote("a/b+c"), "'a/b+c'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }
}
