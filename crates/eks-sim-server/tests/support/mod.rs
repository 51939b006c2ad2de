//! Shared test harness: a simulator on an ephemeral loopback port with a fresh state,
//! durations set to 0 (settings editable), SDK configs for it, and raw/signed HTTP requests.
#![allow(dead_code)]

use aws_credential_types::Credentials;
use eks_sim_model::settings::Settings;
use eks_sim_model::{Sim, DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN};
use eks_sim_server::{ServerHandle, Timeouts};
use std::sync::Arc;
use std::time::SystemTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct TestSim {
    pub dir: tempfile::TempDir,
    pub sim: Arc<Sim>,
    pub handle: ServerHandle,
}

impl TestSim {
    /// A server with a fresh state and every simulated duration set to 0.
    pub async fn start() -> TestSim {
        TestSim::start_with(Timeouts::default()).await
    }

    /// [`TestSim::start`] with the given client timeouts.
    pub async fn start_with(timeouts: Timeouts) -> TestSim {
        let dir = tempfile::tempdir().expect("tempdir");
        let sim = eks_sim_server::open_sim(dir.path()).expect("open state");
        edit_settings(&sim, |s| {
            s.cluster_create_ms = 0;
            s.nodegroup_create_ms = 0;
            s.update_ms = 0;
            s.propagation_ms = 0;
        });
        let handle =
            eks_sim_server::start_with(sim.clone(), "127.0.0.1:0".parse().unwrap(), timeouts)
                .await
                .expect("start");
        TestSim { dir, sim, handle }
    }

    /// Changes the stored settings (faults, latency, limits) of the running server.
    pub fn settings(&self, f: impl FnOnce(&mut Settings)) {
        edit_settings(&self.sim, f);
    }

    pub fn url(&self) -> String {
        self.handle.endpoint_url()
    }

    /// SDK config signed with the default key pair.
    pub async fn config(&self) -> aws_config::SdkConfig {
        self.config_with(
            DEFAULT_ACCESS_KEY_ID,
            DEFAULT_SECRET_ACCESS_KEY,
            Some(DEFAULT_SESSION_TOKEN),
            "us-east-1",
        )
        .await
    }

    pub async fn config_with(
        &self,
        akid: &str,
        secret: &str,
        token: Option<&str>,
        region: &str,
    ) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.url())
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(Credentials::new(
                akid,
                secret,
                token.map(str::to_string),
                None,
                "test",
            ))
            // Tests assert on the first answer; retries would hide injected faults.
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .load()
            .await
    }
}

/// Loads, changes and saves a simulator's settings.
pub fn edit_settings(sim: &Sim, f: impl FnOnce(&mut Settings)) {
    sim.store
        .write(|tx| {
            let mut s = eks_sim_model::settings::load(tx)?;
            f(&mut s);
            eks_sim_model::settings::save(tx, &s)
        })
        .expect("settings");
}

/// A response read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one HTTP/1.1 request as given (no signing) and reads the whole response.
pub async fn raw(
    addr: std::net::SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> RawResponse {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path_and_query} HTTP/1.1\r\n");
    let has_host = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host"));
    if !has_host {
        req.push_str(&format!("host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    s.write_all(req.as_bytes()).await.expect("write");
    s.write_all(body).await.expect("write body");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    RawResponse {
        status,
        headers,
        body: body.to_string(),
    }
}

/// Signing inputs for [`signed_headers`].
pub struct Signer<'a> {
    pub akid: &'a str,
    pub secret: &'a str,
    pub token: Option<&'a str>,
    pub region: &'a str,
    pub service: &'a str,
    pub time: SystemTime,
}

impl Signer<'static> {
    pub fn default_for(service: &'static str) -> Signer<'static> {
        Signer {
            akid: DEFAULT_ACCESS_KEY_ID,
            secret: DEFAULT_SECRET_ACCESS_KEY,
            token: Some(DEFAULT_SESSION_TOKEN),
            region: "us-east-1",
            service,
            time: SystemTime::now(),
        }
    }
}

/// Signs a request with the official `aws-sigv4` crate; returns all headers to send
/// (the given ones plus the signature's). `presign` puts the signature in the query
/// instead and returns the new path-and-query as the second value.
pub fn sign(
    addr: std::net::SocketAddr,
    method: &str,
    path_and_query: &str,
    headers: &[(String, String)],
    body: &[u8],
    signer: &Signer<'_>,
    presign: bool,
) -> (Vec<(String, String)>, String) {
    use aws_sigv4::http_request::{
        sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    };
    let identity = Credentials::new(
        signer.akid,
        signer.secret,
        signer.token.map(str::to_string),
        None,
        "test",
    )
    .into();
    let mut settings = SigningSettings::default();
    if presign {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(std::time::Duration::from_secs(300));
    }
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(signer.region)
        .name(signer.service)
        .time(signer.time)
        .settings(settings)
        .build()
        .expect("params")
        .into();
    let uri = format!("http://{addr}{path_and_query}");
    let mut all: Vec<(String, String)> = vec![("host".into(), addr.to_string())];
    all.extend(headers.iter().cloned());
    let signable = SignableRequest::new(
        method,
        uri.clone(),
        all.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        SignableBody::Bytes(body),
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("sign").into_parts();
    let mut req = http::Request::builder().method(method).uri(&uri);
    for (k, v) in &all {
        req = req.header(k, v);
    }
    let mut req = req.body(()).expect("request");
    instructions.apply_to_request_http1x(&mut req);
    let out_headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let pq = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    (out_headers, pq)
}

/// Waits until the server has taken `op` (e.g. `"sts:GetCallerIdentity"`) into service
/// `n` times: counted as its handling starts, before any added latency, so a request seen
/// here is in service, not in flight on the network.
pub async fn until_in_service(h: &ServerHandle, op: &str, n: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while h.request_counts().get(op).copied().unwrap_or(0) < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{op} never reached the server {n} times: {:?}",
            h.request_counts()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
