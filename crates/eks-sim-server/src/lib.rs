//! # eks-sim-server
//!
//! The wire of the simulated control plane (after s3s / moto's `responses.py`): one HTTP/1.1
//! server on loopback that serves EKS (rest-json), STS and IAM (query protocol, XML
//! responses), routing each request by the service name in its SigV4 credential scope as AWS
//! endpoints do. Every request is SigV4-verified before anything is decoded; the model
//! (`eks-sim-model`) does the rest. A connection that opens with a TLS handshake is a
//! Kubernetes client of one of the simulated clusters instead ([`kube`]).
//!
//! Reserved endpoints (unsigned only when listening on loopback):
//! - `GET /_sim/requests` — per-operation request counts (`{"eks:DescribeCluster": 3, …}`);
//!   `GET /_sim/answers` — answers sent per operation and HTTP status
//!   (`{"eks:CreateAccessEntry": {"200": 2, "429": 1}}`); `DELETE /_sim/requests` zeroes both;
//! - `GET /_sim/settings`, `POST /_sim/settings` (a JSON merge of `Settings`);
//! - `POST /_sim/reset` — back to a fresh state (settings kept);
//! - `GET /_sim/kube/audit/NAME` — the Kubernetes audit trail of clusters named NAME.

mod counts;
pub mod eks;
pub mod faults;
pub mod kube;
mod proto;
pub mod query;
pub mod sigv4;
pub mod sts_iam;
pub mod wire;

use bytes::Bytes;
use eks_sim_model::sts::KeyRecord;
use eks_sim_model::{Ctx, Settings, Sim, SimError};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use proto::{is_form, refusal_proto};
use sigv4::AuthError;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use wire::{WireRequest, WireResponse};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("simulator state: {0}")]
    State(#[from] SimError),
    #[error("Kubernetes API: {0}")]
    Kube(String),
}

/// The state directory: `$CONVOX_HOME`, else the platform data dir (`…/convox`).
pub fn default_state_dir() -> PathBuf {
    match std::env::var_os("CONVOX_HOME") {
        Some(h) if !h.is_empty() => PathBuf::from(h),
        _ => dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("convox"),
    }
}

/// Opens (creating if needed) `sim.db` in `dir`.
pub fn open_sim(dir: &Path) -> Result<Arc<Sim>, ServerError> {
    let store = eks_sim_model::Store::open(&dir.join("sim.db"))?;
    Ok(Arc::new(Sim::new(store)))
}

/// Which wire protocol an answer (including a refusal) must use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    RestJson,
    Sts,
    Iam,
}

/// Settings and reset epoch as last read, with the `data_version` they were read at.
struct Cached {
    data_version: i64,
    epoch: i64,
    settings: Arc<Settings>,
}

struct Shared {
    sim: Arc<Sim>,
    loopback: bool,
    counts: counts::Counts,
    faults: faults::Faults,
    keys: RwLock<HashMap<String, Arc<KeyRecord>>>,
    /// Derived signing keys by `akid/date/region/service`.
    signing_keys: RwLock<HashMap<String, [u8; 32]>>,
    cached: Mutex<Option<Cached>>,
    /// Flips to `true` at shutdown: a request still waiting for its body stops waiting.
    stop: watch::Receiver<bool>,
    timeouts: Timeouts,
    /// The clusters' Kubernetes API (TLS on the same port).
    kube: Option<Arc<kube::Kube>>,
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

/// A running server.
pub struct ServerHandle {
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    join: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

impl ServerHandle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`, for `AWS_ENDPOINT_URL`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Per-operation request counts, e.g. `"eks:DescribeCluster" → 3`.
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.shared.counts_snapshot()
    }

    /// Stops accepting, lets open requests finish (up to 10 s), and returns.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.join.await;
    }
}

/// Binds `listen` and serves on the current tokio runtime until [`ServerHandle::shutdown`].
pub async fn start(sim: Arc<Sim>, listen: SocketAddr) -> Result<ServerHandle, ServerError> {
    start_with(sim, listen, Timeouts::default()).await
}

/// [`start`] with explicit client timeouts (tests use short ones).
pub async fn start_with(
    sim: Arc<Sim>,
    listen: SocketAddr,
    timeouts: Timeouts,
) -> Result<ServerHandle, ServerError> {
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| ServerError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    let (tx, rx) = watch::channel(false);
    let kube = Arc::new(kube::Kube::open(&sim, addr).map_err(ServerError::Kube)?);
    let shared = Arc::new(Shared {
        kube: Some(kube),
        sim,
        loopback: addr.ip().is_loopback(),
        counts: counts::Counts::default(),
        faults: faults::Faults::default(),
        keys: RwLock::new(HashMap::new()),
        signing_keys: RwLock::new(HashMap::new()),
        cached: Mutex::new(None),
        stop: rx.clone(),
        timeouts,
    });
    // Fail now, not at the first request, if the state is unreadable.
    shared.state()?;
    let join = tokio::spawn(accept_loop(listener, shared.clone(), rx));
    tracing::info!(%addr, "simulator listening");
    Ok(ServerHandle {
        addr,
        shutdown: tx,
        join,
        shared,
    })
}

/// For the CLI verbs: start, call `ready` with the bound address, serve until SIGINT or
/// SIGTERM, then stop cleanly (state is committed per request, so nothing is lost).
pub async fn serve_until_signal(
    sim: Arc<Sim>,
    listen: SocketAddr,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServerError> {
    // Handlers first: a signal sent right after `ready` announces the address must stop
    // the server cleanly, not kill the process.
    let signals = Signals::new()?;
    let handle = start(sim, listen).await?;
    ready(handle.addr());
    signals.wait().await;
    tracing::info!("signal received, stopping");
    handle.shutdown().await;
    Ok(())
}

#[cfg(unix)]
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> Result<Signals, ServerError> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {},
            _ = self.int.recv() => {},
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Result<Signals, ServerError> {
        Ok(Signals)
    }

    async fn wait(self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Longest request head (request line and headers) served. AWS does not document its own;
/// this is far above what any SDK sends, presigned URLs included.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// The request head's size as it was on the wire, near enough: line, headers, separators.
fn head_len<B>(req: &http::Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(1, |pq| pq.as_str().len());
    let line = req.method().as_str().len() + target + 12;
    req.headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + line
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    // Each connection task holds a sender; when all are gone, every connection has ended.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // EMFILE and the like: back off instead of spinning.
                        tracing::warn!("accept: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let shared = shared.clone();
                let mut stop = stop.clone();
                let done = done_tx.clone();
                let header_read = shared.timeouts.header_read;
                tokio::spawn(async move {
                    let stream = match kube::conn::sniff(stream, &shared, &mut stop).await {
                        kube::conn::Sniffed::Plain(s) => s,
                        kube::conn::Sniffed::Tls(s) => {
                            kube::conn::serve_tls(s, shared, stop).await;
                            drop(done);
                            return;
                        }
                        kube::conn::Sniffed::Gone => {
                            drop(done);
                            return;
                        }
                    };
                    // Requests of this connection inside the service (head read, answer owed).
                    let active = Arc::new(std::sync::atomic::AtomicUsize::new(0));
                    let in_service = active.clone();
                    let svc = service_fn(move |req: http::Request<Incoming>| {
                        let shared = shared.clone();
                        let active = in_service.clone();
                        async move {
                            let _busy = Busy::enter(&active);
                            Ok::<_, std::convert::Infallible>(shared.serve(req).await)
                        }
                    });
                    let conn = http1::Builder::new()
                        .keep_alive(true)
                        .timer(TokioTimer::new())
                        .header_read_timeout(header_read)
                        .max_buf_size(MAX_HEAD_BYTES)
                        .serve_connection(TokioIo::new(stream), svc);
                    tokio::pin!(conn);
                    tokio::select! {
                        r = conn.as_mut() => {
                            if let Err(e) = r { tracing::debug!("connection: {e}"); }
                        }
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            // Only a request being served is owed an answer; a client idle
                            // or stalled in the middle of its head is dropped at once.
                            if active.load(std::sync::atomic::Ordering::SeqCst) > 0 {
                                let _ = conn.await;
                            }
                        }
                    }
                    drop(done);
                });
            }
        }
    }
    drop(listener);
    drop(done_tx);
    let _ = tokio::time::timeout(Duration::from_secs(10), done_rx.recv()).await;
}

/// Body limit of the reserved `/_sim/` endpoints (settings patches are tiny).
const SIM_ENDPOINT_MAX_BODY: u64 = 64 * 1024;

/// Whether `r` has the shape of an AWS region name (`us-east-1`, `us-gov-west-1`,
/// `ap-southeast-5`, `us-isob-east-1`): two letters, one or more words, a number. A shape,
/// not a list, so that regions AWS adds later keep working.
fn valid_region(r: &str) -> bool {
    let mut parts = r.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_lowercase()));
    let rest: Vec<&str> = parts.collect();
    let Some((num, words)) = rest.split_last() else {
        return false;
    };
    first_ok
        && !words.is_empty()
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && (1..=2).contains(&num.len())
        && num.bytes().all(|b| b.is_ascii_digit())
}

/// Counts a request in service for as long as it lives.
struct Busy(Arc<std::sync::atomic::AtomicUsize>);

impl Busy {
    fn enter(n: &Arc<std::sync::atomic::AtomicUsize>) -> Busy {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Busy(n.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A request id in UUID form: a random per-process prefix and a counter, so the hot path
/// does not pay a getrandom call per request.
fn request_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let p = *PREFIX.get_or_init(rand::random::<u64>);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (p >> 32) as u32,
        (p >> 16) as u16,
        (p & 0xfff) as u16,
        0x8000 | ((n >> 48) & 0x3fff) as u16,
        n & 0xffff_ffff_ffff
    )
}

fn now_ms() -> i64 {
    eks_sim_model::store::now_ms()
}

/// rest-json error: `x-amzn-ErrorType` header and `{"message": …}` body.
fn json_error(status: u16, code: &str, message: &str) -> WireResponse {
    let body = serde_json::json!({ "message": message }).to_string();
    let mut r = WireResponse::json(status, body);
    r.headers.push(("x-amzn-errortype".into(), code.into()));
    r
}

fn proto_error(proto: Proto, e: &SimError, rid: &str) -> WireResponse {
    match proto {
        Proto::RestJson => json_error(e.status, &e.code, &e.message),
        Proto::Sts => query::error(query::STS_NS, e, rid),
        Proto::Iam => query::error(query::IAM_NS, e, rid),
    }
}

/// A body that cannot be read (broken chunked framing): an error
/// each protocol's clients know. The EKS model declares InvalidParameterException for every
/// operation with a body but TagResource (malformed JSON gets it too); ValidationError is a
/// common error of the query APIs.
fn unreadable_body(proto: Proto, msg: &str, rid: &str) -> WireResponse {
    let code = if proto == Proto::RestJson {
        "InvalidParameterException"
    } else {
        "ValidationError"
    };
    proto_error(proto, &SimError::new(code, 400, msg), rid)
}

/// AWS's answer to a refused signature, per protocol.
fn auth_error(proto: Proto, e: &AuthError) -> SimError {
    const INVALID_TOKEN: &str = "The security token included in the request is invalid.";
    const MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
    let json = proto == Proto::RestJson;
    match e {
        AuthError::Missing if json => SimError::new(
            "MissingAuthenticationTokenException",
            403,
            "Missing Authentication Token",
        ),
        AuthError::Missing => SimError::new(
            "MissingAuthenticationToken",
            403,
            "Request is missing Authentication Token",
        ),
        AuthError::Incomplete(m) if json => {
            SimError::new("IncompleteSignatureException", 403, m.clone())
        }
        AuthError::Incomplete(m) => SimError::new("IncompleteSignature", 400, m.clone()),
        AuthError::UnknownKey if json => {
            SimError::new("UnrecognizedClientException", 403, INVALID_TOKEN)
        }
        AuthError::UnknownKey => SimError::new("InvalidClientTokenId", 403, INVALID_TOKEN),
        AuthError::ExpiredToken if json => SimError::new(
            "ExpiredTokenException",
            403,
            "The security token included in the request is expired",
        ),
        AuthError::ExpiredToken => SimError::new(
            "ExpiredToken",
            403,
            "The security token included in the request is expired",
        ),
        AuthError::Mismatch(m) if json => SimError::new(
            "InvalidSignatureException",
            403,
            if m.is_empty() { MISMATCH } else { m },
        ),
        AuthError::Mismatch(m) => SimError::new(
            "SignatureDoesNotMatch",
            403,
            if m.is_empty() { MISMATCH } else { m },
        ),
    }
}

fn fault_error(proto: Proto, f: faults::Fault) -> SimError {
    match (f, proto) {
        (faults::Fault::Throttle, Proto::RestJson) => {
            SimError::new("ThrottlingException", 429, "Rate exceeded")
        }
        (faults::Fault::Throttle, _) => SimError::new("Throttling", 400, "Rate exceeded"),
        (faults::Fault::ServerError, Proto::RestJson) => {
            SimError::new("ServerException", 500, "An internal error occurred.")
        }
        (faults::Fault::ServerError, Proto::Iam) => SimError::new(
            "ServiceFailure",
            500,
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
        (faults::Fault::ServerError, Proto::Sts) => SimError::new(
            "InternalFailure",
            500,
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
    }
}

fn to_response(w: WireResponse, rid: &str) -> http::Response<Full<Bytes>> {
    let mut b = http::Response::builder().status(w.status);
    let mut has_rid = false;
    for (k, v) in &w.headers {
        has_rid |= k.eq_ignore_ascii_case("x-amzn-requestid");
        b = b.header(k.as_str(), v.as_str());
    }
    if !has_rid {
        b = b.header("x-amzn-requestid", rid);
    }
    b.body(Full::new(w.body)).unwrap_or_else(|e| {
        // Only a malformed header name/value from a handler gets here.
        tracing::error!("bad response: {e}");
        let mut r = http::Response::new(Full::new(Bytes::from_static(
            b"{\"message\":\"internal error\"}",
        )));
        *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

impl Shared {
    fn counts_snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.requests()
    }

    /// Current settings; re-read only when the state file changed since the last read.
    fn state(&self) -> Result<Arc<Settings>, SimError> {
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

    fn forget_keys(&self) {
        if let Ok(mut k) = self.keys.write() {
            k.clear();
        }
        if let Ok(mut k) = self.signing_keys.write() {
            k.clear();
        }
    }

    fn key(&self, akid: &str) -> Result<Option<Arc<KeyRecord>>, SimError> {
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

    fn signing_key(&self, rec: &KeyRecord, p: &sigv4::SigParts) -> [u8; 32] {
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

    /// Verifies the request's signature and returns the caller's key and parsed signature.
    fn authenticate(
        &self,
        method: &http::Method,
        raw_path: &str,
        raw_query: &str,
        headers: &http::HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<(Arc<KeyRecord>, sigv4::SigParts), (Option<String>, AuthError)> {
        let parts = sigv4::parse(headers, raw_query).map_err(|e| (None, e))?;
        let svc = Some(parts.service.clone());
        // One endpoint serves every region, so a typo in the region must not open an empty
        // world of its own: AWS refuses a scope that names no region.
        if !valid_region(&parts.region) {
            return Err((
                svc,
                AuthError::Mismatch(format!(
                    "Credential should be scoped to a valid region, not '{}'. ",
                    parts.region
                )),
            ));
        }
        let rec = match self.key(&parts.access_key_id) {
            Ok(Some(r)) => r,
            Ok(None) => return Err((svc, AuthError::UnknownKey)),
            Err(e) => {
                tracing::error!("key lookup: {e}");
                return Err((svc, AuthError::UnknownKey));
            }
        };
        if rec.session_token.as_deref() != parts.security_token.as_deref() {
            return Err((svc, AuthError::UnknownKey));
        }
        sigv4::check_time(&parts, now).map_err(|e| (svc.clone(), e))?;
        if rec.expires_ms.is_some_and(|x| x <= now) {
            return Err((svc, AuthError::ExpiredToken));
        }
        let key = self.signing_key(&rec, &parts);
        // Non-S3 services hash the body themselves; a client's x-amz-content-sha256 (or
        // UNSIGNED-PAYLOAD) cannot exempt the body from the signature.
        let body_hash = sigv4::sha256_hex(body);
        let check = |payload: &str| {
            let cr = sigv4::canonical_request(
                method.as_str(),
                raw_path,
                raw_query,
                headers,
                &parts,
                payload,
            );
            let expected = sigv4::sign(&key, &sigv4::string_to_sign(&parts, &cr));
            sigv4::sig_eq(&expected, &parts.signature)
        };
        // Some presigners sign an empty body as UNSIGNED-PAYLOAD.
        let ok =
            check(&body_hash) || (parts.presigned && body.is_empty() && check("UNSIGNED-PAYLOAD"));
        if !ok {
            return Err((svc, AuthError::Mismatch(String::new())));
        }
        Ok((rec, parts))
    }

    async fn serve(self: Arc<Self>, req: http::Request<Incoming>) -> http::Response<Full<Bytes>> {
        // hyper's own head limit is not exact (one read may overshoot it when the whole head
        // is already buffered), so the limit is enforced here too, and the same way: a bare
        // 431 and the connection closed.
        if head_len(&req) > MAX_HEAD_BYTES {
            let mut resp = http::Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
            resp.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            return resp;
        }
        let rid = request_id();
        let resp = self.serve_inner(req, &rid).await;
        to_response(resp, &rid)
    }

    async fn serve_inner(&self, req: http::Request<Incoming>, rid: &str) -> WireResponse {
        let (head, body) = req.into_parts();
        let raw_path = head.uri.path().to_string();
        let raw_query = head.uri.query().unwrap_or("").to_string();
        // The protocol of an answer given before the signature is verified (413, 408, an
        // unreadable body): computed only when one is given, off the hot path.
        let guessed = || refusal_proto(&head.method, &raw_path, &head.headers, &raw_query);
        let settings = match self.state() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("state: {e}");
                return proto_error(guessed(), &SimError::internal("state unavailable"), rid);
            }
        };
        // Size first, as AWS's front end does, before reading or verifying anything. The
        // reserved endpoints have a fixed limit of their own: no setting (max_body_bytes = 1)
        // may lock the settings endpoint that would undo it.
        let is_sim_path = raw_path.starts_with("/_sim/");
        let max_body = if is_sim_path {
            SIM_ENDPOINT_MAX_BODY
        } else {
            settings.max_body_bytes
        };
        let too_large = || {
            let proto = guessed();
            proto_error(
                proto,
                &SimError::new(
                    if proto == Proto::RestJson {
                        "RequestEntityTooLargeException"
                    } else {
                        "RequestEntityTooLarge"
                    },
                    413,
                    format!("Request body exceeds the maximum of {max_body} bytes"),
                ),
                rid,
            )
        };
        let declared = head
            .headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > max_body) {
            return too_large();
        }
        let limit = usize::try_from(max_body).unwrap_or(usize::MAX);
        let timed_out = |msg: &str| {
            let proto = guessed();
            proto_error(
                proto,
                &SimError::new(
                    if proto == Proto::RestJson {
                        "RequestTimeoutException"
                    } else {
                        "RequestTimeout"
                    },
                    408,
                    msg,
                ),
                rid,
            )
        };
        let mut stop = self.stop.clone();
        let read = tokio::select! {
            r = tokio::time::timeout(self.timeouts.body_read, Limited::new(body, limit).collect()) => r,
            _ = async {
                // A dropped handle (sender gone) is not a shutdown signal here.
                if stop.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            } => {
                return timed_out("The server is shutting down; the request body did not arrive in time.");
            }
        };
        let Ok(read) = read else {
            return timed_out("The request body did not arrive in time.");
        };
        let body = match read {
            Ok(c) => c.to_bytes(),
            Err(e) => {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    return too_large();
                }
                return unreadable_body(guessed(), "The request body could not be read.", rid);
            }
        };
        let now = now_ms();

        if let Some(sim_path) = raw_path.strip_prefix("/_sim/") {
            if !self.loopback {
                if let Err((_, e)) = self.authenticate(
                    &head.method,
                    &raw_path,
                    &raw_query,
                    &head.headers,
                    &body,
                    now,
                ) {
                    return proto_error(Proto::RestJson, &auth_error(Proto::RestJson, &e), rid);
                }
            }
            return self.sim_endpoint(&head.method, sim_path, &body);
        }

        let (key, parts) = match self.authenticate(
            &head.method,
            &raw_path,
            &raw_query,
            &head.headers,
            &body,
            now,
        ) {
            Ok(x) => x,
            Err((svc, e)) => {
                let proto = match svc.as_deref() {
                    Some("eks") => Proto::RestJson,
                    Some("sts") => Proto::Sts,
                    Some("iam") => Proto::Iam,
                    _ => guessed(),
                };
                tracing::debug!(?e, "refused signature");
                return proto_error(proto, &auth_error(proto, &e), rid);
            }
        };
        // The account exists in every partition; identities are shown in the request's.
        let mut caller = key.caller.clone();
        let partition = eks_sim_model::arn::partition_of(&parts.region);
        if partition != "aws" {
            caller.arn = eks_sim_model::arn::with_partition(&caller.arn, partition).into_owned();
            caller.principal_arn =
                eks_sim_model::arn::with_partition(&caller.principal_arn, partition).into_owned();
        }
        let ctx = Ctx {
            caller,
            region: parts.region.clone(),
            now_ms: now,
        };
        match parts.service.as_str() {
            "eks" => {
                let Some(route) = eks::route(&head.method, &raw_path) else {
                    return json_error(
                        404,
                        "UnknownOperationException",
                        &format!("No operation matches {} {raw_path}", head.method),
                    );
                };
                self.counts.request("eks", route.op);
                if route.op.ends_with("Nodegroup") || route.op == "ListNodegroups" {
                    if let Some(name) = route.params.first() {
                        kube::sync_nodes(self, &ctx.caller.account, &ctx.region, name, now);
                    }
                }
                if let Some(r) = self
                    .faults(&settings, &ctx, "eks", route.op, Proto::RestJson, rid)
                    .await
                {
                    self.counts.answer("eks", route.op, r.status);
                    return r;
                }
                let wreq = WireRequest {
                    method: head.method,
                    path: raw_path,
                    query: form_urlencoded::parse(raw_query.as_bytes())
                        .into_owned()
                        .collect(),
                    headers: head.headers,
                    body,
                };
                let sim = &self.sim;
                let kube = self.kube.clone();
                let resp = guarded(Proto::RestJson, rid, || {
                    eks::handle_with(sim, &ctx, &route, &wreq, &|c| {
                        if let Some(k) = &kube {
                            k.fix_cluster(c);
                        }
                    })
                });
                self.counts.answer("eks", route.op, resp.status);
                resp
            }
            svc @ ("sts" | "iam") => {
                let (proto, service): (Proto, &'static str) = if svc == "sts" {
                    (Proto::Sts, "sts")
                } else {
                    (Proto::Iam, "iam")
                };
                let form_body: &[u8] =
                    if is_form(&head.headers) || head.method == http::Method::POST {
                        &body
                    } else {
                        b""
                    };
                let params = query::Params::decode(&raw_query, form_body);
                let action = params.get("Action").unwrap_or("").to_string();
                let op = if proto == Proto::Sts {
                    sts_iam::sts_op(&action)
                } else {
                    sts_iam::iam_op(&action)
                };
                let Some(op) = op else {
                    // No Action at all is AWS's common error MissingAction, not InvalidAction.
                    if action.is_empty() {
                        let e = SimError::new("MissingAction", 400, "Missing Action");
                        return proto_error(proto, &e, rid);
                    }
                    let version = params.get("Version").unwrap_or(if proto == Proto::Sts {
                        "2011-06-15"
                    } else {
                        "2010-05-08"
                    });
                    let e = SimError::new(
                        "InvalidAction",
                        400,
                        format!("Could not find operation {action} for version {version}"),
                    );
                    return proto_error(proto, &e, rid);
                };
                self.counts.request(service, op);
                if let Some(r) = self.faults(&settings, &ctx, service, op, proto, rid).await {
                    self.counts.answer(service, op, r.status);
                    return r;
                }
                let sim = &self.sim;
                let resp = guarded(proto, rid, || {
                    if proto == Proto::Sts {
                        sts_iam::handle_sts(sim, &ctx, op, &params, rid)
                    } else {
                        sts_iam::handle_iam(sim, &ctx, op, &params, rid)
                    }
                });
                self.counts.answer(service, op, resp.status);
                resp
            }
            other => json_error(
                400,
                "UnrecognizedClientException",
                &format!(
                    "The simulator does not serve the service '{other}' (only eks, sts, iam)."
                ),
            ),
        }
    }

    /// Latency, throttling and random errors. `Some(response)` when the request fails.
    async fn faults(
        &self,
        s: &Settings,
        ctx: &Ctx,
        service: &'static str,
        op: &'static str,
        proto: Proto,
        rid: &str,
    ) -> Option<WireResponse> {
        if s.latency_ms > 0 {
            tokio::time::sleep(Duration::from_millis(s.latency_ms)).await;
        }
        self.faults
            .check(s, &ctx.caller.account, service, op, Instant::now())
            .map(|f| proto_error(proto, &fault_error(proto, f), rid))
    }

    fn sim_endpoint(&self, method: &http::Method, path: &str, body: &[u8]) -> WireResponse {
        let ok_json = |v: serde_json::Value| WireResponse::json(200, v.to_string());
        let fail = |e: SimError| json_error(e.status, &e.code, &e.message);
        match (method.as_str(), path.trim_end_matches('/')) {
            ("GET", "requests") => ok_json(serde_json::json!(self.counts_snapshot())),
            ("GET", "answers") => ok_json(serde_json::json!(self.counts.answers())),
            ("DELETE", "requests") | ("DELETE", "answers") => {
                self.counts.clear();
                ok_json(serde_json::json!({}))
            }
            ("GET", p) if p.starts_with("kube/audit/") => kube::audit_endpoint(self, p),
            ("GET", "settings") => match self.state() {
                Ok(s) => ok_json(serde_json::json!(*s)),
                Err(e) => fail(e),
            },
            ("POST", "settings") | ("PUT", "settings") | ("PATCH", "settings") => {
                let patch: serde_json::Value = match serde_json::from_slice(body) {
                    Ok(v) => v,
                    Err(e) => return json_error(400, "ValidationError", &format!("bad JSON: {e}")),
                };
                let r = self.sim.store.write(|tx| {
                    let cur = eks_sim_model::settings::load(tx)?;
                    let new = eks_sim_model::settings::merge(&cur, &patch)?;
                    eks_sim_model::settings::save(tx, &new)?;
                    Ok(new)
                });
                match r {
                    Ok(s) => ok_json(serde_json::json!(s)),
                    Err(e) => fail(e),
                }
            }
            ("POST", "reset") => match self.sim.store.reset() {
                Ok(()) => {
                    self.forget_keys();
                    self.faults.reset();
                    if let Some(k) = &self.kube {
                        k.audit.clear();
                    }
                    self.counts.clear();
                    ok_json(serde_json::json!({"reset": true}))
                }
                Err(e) => fail(e),
            },
            _ => json_error(
                404,
                "NotFound",
                &format!("no simulator endpoint {method} /_sim/{path}"),
            ),
        }
    }
}

/// Runs a handler; a panic (a bug) becomes AWS's 500 instead of a dropped connection.
fn guarded(proto: Proto, rid: &str, f: impl FnOnce() -> WireResponse) -> WireResponse {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            tracing::error!("handler panicked");
            proto_error(proto, &fault_error(proto, faults::Fault::ServerError), rid)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_region;

    #[test]
    fn region_shapes() {
        for ok in [
            "us-east-1",
            "eu-west-1",
            "ap-southeast-5",
            "cn-north-1",
            "cn-northwest-1",
            "us-gov-west-1",
            "us-isob-east-1",
            "il-central-1",
            "me-south-1",
        ] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in [
            "",
            "x",
            "us-east-1x",
            "mars-1",
            "us-east",
            "us--east-1",
            "US-EAST-1",
            "aws-global",
            "us-east-123",
            "us-east-1/../",
        ] {
            assert!(!valid_region(bad), "{bad}");
        }
    }
}
