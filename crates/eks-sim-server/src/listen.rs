//! Listening and connections: binding, the accept loop (each connection sniffed for TLS,
//! else served as HTTP/1.1 by hyper), graceful shutdown and signals.

use crate::shared::{Shared, Timeouts};
use crate::{counts, faults, kube, ServerError};
use eks_sim_model::Sim;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

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
    shared.settings()?;
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
pub(crate) fn head_len<B>(req: &http::Request<B>) -> usize {
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

/// Counts a request in service for as long as it lives.
pub(crate) struct Busy(Arc<std::sync::atomic::AtomicUsize>);

impl Busy {
    pub(crate) fn enter(n: &Arc<std::sync::atomic::AtomicUsize>) -> Busy {
        n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Busy(n.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}
