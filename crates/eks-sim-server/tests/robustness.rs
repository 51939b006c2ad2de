//! Stalled and slow clients: a client that never finishes its request head or body is cut
//! off after the server's timeouts, and never holds up a shutdown, while a request being
//! served still gets its answer.

mod support;

use eks_sim_server::Timeouts;
use std::time::{Duration, Instant};
use support::{raw, sign, Signer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(
    timeouts: Timeouts,
) -> (
    tempfile::TempDir,
    std::sync::Arc<eks_sim_model::Sim>,
    eks_sim_server::ServerHandle,
) {
    let t = support::TestSim::start_with(timeouts).await;
    (t.dir, t.sim, t.handle)
}

/// Everything the server sends until it closes (or `limit` passes: then `None`).
async fn read_until_close(s: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut buf = Vec::new();
    match tokio::time::timeout(limit, s.read_to_end(&mut buf)).await {
        Ok(_) => Some(String::from_utf8_lossy(&buf).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn stalled_head_and_body_are_cut_off() {
    let t = Timeouts {
        header_read: Duration::from_millis(300),
        body_read: Duration::from_millis(300),
    };
    let (_dir, _sim, h) = start(t).await;
    let addr = h.addr();

    let mut head = TcpStream::connect(addr).await.unwrap();
    head.write_all(b"GET /clusters HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut body = TcpStream::connect(addr).await.unwrap();
    body.write_all(
        b"POST /clusters HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();

    let mut silent = TcpStream::connect(addr).await.unwrap();

    let started = Instant::now();
    // The half-sent head: the connection is closed (hyper may answer 408 first).
    let got = read_until_close(&mut head, Duration::from_secs(5)).await;
    assert!(got.is_some(), "a stalled head must not hold the connection");
    // The half-sent body: AWS's timeout answer for the protocol, then close.
    let got = read_until_close(&mut body, Duration::from_secs(5))
        .await
        .expect("a stalled body must not hold the connection");
    assert!(got.starts_with("HTTP/1.1 408"), "{got}");
    assert!(
        got.to_ascii_lowercase()
            .contains("x-amzn-errortype: requesttimeoutexception"),
        "{got}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // A connection that never says anything is closed as well.
    assert!(read_until_close(&mut silent, Duration::from_secs(3))
        .await
        .is_some());

    // Meanwhile and afterwards, everyone else is served.
    let (hs, pq) = sign(
        addr,
        "GET",
        "/clusters",
        &[],
        b"",
        &Signer::default_for("eks"),
        false,
    );
    let r = raw(addr, "GET", &pq, &hs, b"").await;
    assert_eq!(r.status, 200, "{}", r.body);

    // A keep-alive connection left idle after its answer is closed too.
    let mut idle = TcpStream::connect(addr).await.unwrap();
    let mut req = format!("GET {pq} HTTP/1.1\r\n");
    for (k, v) in &hs {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    idle.write_all(req.as_bytes()).await.unwrap();
    let got = read_until_close(&mut idle, Duration::from_secs(5))
        .await
        .expect("an idle keep-alive connection must not be held forever");
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    h.shutdown().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_for_stalled_clients_but_answers_requests_in_service() {
    // Long timeouts: only the shutdown itself may end the stalled connections.
    let (_dir, sim, h) = start(Timeouts::default()).await;
    let addr = h.addr();
    support::edit_settings(&sim, |s| {
        s.latency_ms = 400;
    });

    let mut stalled = Vec::new();
    for bytes in [
        &b"GET /clusters HTTP/1.1\r\nHost: x\r\n"[..],
        &b"POST /clusters HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"[..],
        &b""[..],
    ] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(bytes).await.unwrap();
        stalled.push(s);
    }
    // A signed request that is being served (held by the 400 ms latency) when the stop comes.
    let (hs, pq) = sign(
        addr,
        "GET",
        "/clusters",
        &[],
        b"",
        &Signer::default_for("eks"),
        false,
    );
    let in_flight = tokio::spawn(async move { raw(addr, "GET", &pq, &hs, b"").await });
    // Stop once it is in service (a fixed sleep could race a slow client under load).
    support::until_in_service(&h, "eks:ListClusters", 1).await;

    let started = Instant::now();
    h.shutdown().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "shutdown took {took:?}");
    let r = in_flight.await.unwrap();
    assert_eq!(
        r.status, 200,
        "the request in service still gets its answer"
    );
    for mut s in stalled {
        assert!(read_until_close(&mut s, Duration::from_secs(2))
            .await
            .is_some());
    }
}
