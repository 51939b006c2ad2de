//! One listener for everything: a connection whose first byte is a TLS handshake record
//! (0x16) is a Kubernetes client; anything else is the plain-HTTP AWS wire. Plain HTTP
//! never starts with 0x16 (a request line starts with a method name).

use super::super::{Busy, Shared, MAX_HEAD_BYTES};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::watch;

const TLS_HANDSHAKE: u8 = 0x16;

/// What the first byte says the connection is.
pub(crate) enum Sniffed {
    Tls(TcpStream),
    Plain(TcpStream),
    /// Closed, silent past the head timeout, or the server is stopping.
    Gone,
}

pub(crate) async fn sniff(
    stream: TcpStream,
    shared: &Shared,
    stop: &mut watch::Receiver<bool>,
) -> Sniffed {
    if shared.kube.is_none() {
        return Sniffed::Plain(stream);
    }
    let mut b = [0u8; 1];
    let peeked = tokio::select! {
        r = tokio::time::timeout(shared.timeouts.header_read, stream.peek(&mut b)) => r,
        _ = stop.changed() => return Sniffed::Gone,
    };
    match peeked {
        Ok(Ok(1)) if b[0] == TLS_HANDSHAKE => Sniffed::Tls(stream),
        Ok(Ok(1)) => Sniffed::Plain(stream),
        _ => Sniffed::Gone,
    }
}

/// Serves one TLS connection with the Kubernetes API until it ends or the server stops.
pub(crate) async fn serve_tls(
    stream: TcpStream,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let Some(kube) = shared.kube.clone() else {
        return;
    };
    let timeout = shared.timeouts.header_read;
    let accepted = tokio::select! {
        r = tokio::time::timeout(timeout, kube.acceptor.accept(stream)) => r,
        _ = stop.changed() => return,
    };
    let tls = match accepted {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            tracing::debug!("TLS handshake: {e}");
            return;
        }
        Err(_) => return,
    };
    let active = Arc::new(AtomicUsize::new(0));
    let in_service = active.clone();
    let svc = service_fn(move |req: http::Request<Incoming>| {
        let shared = shared.clone();
        let active = in_service.clone();
        async move {
            let _busy = Busy::enter(&active);
            Ok::<_, std::convert::Infallible>(super::serve(shared, req).await)
        }
    });
    let conn = http1::Builder::new()
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(tls), svc);
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r { tracing::debug!("kube connection: {e}"); }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            if active.load(Ordering::SeqCst) > 0 {
                let _ = conn.await;
            }
        }
    }
}
