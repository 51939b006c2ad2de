//! Retries, conflicts, concurrent independent calls and waits without fixed sleeps.

use super::*;

#[test]
fn throttling_and_server_errors_are_retried() {
    let h = Home::served(&[
        "error_rate=0.1",
        "seed=7",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    h.install("flaky", &[]);
    h.ok(&set_args("flaky"));
    let auth = h.json(&["rack", "auth", "-r", "flaky"]);
    assert_eq!(auth["converged"], true);

    // Throttling: a bucket of 2 makes the 3 concurrent EKS reads of the first observation
    // exceed it, while refilling fast enough (10/s) that the SDK's jittered retries succeed
    // even on a loaded machine (a 5/s refill once ran out of attempts under parallel tests).
    h.ok(&[
        "sim",
        "config",
        "error_rate=0",
        "throttle_rate=10",
        "throttle_burst=2",
    ]);
    h.install("throttled", &[]);
    let (r, calls) = h.counted(&set_args("throttled"));
    assert!(r.status.success(), "{}", r.stderr);
    // Without faults: 7 observe + switch + poll + 5 re-observe + 2 creates + 1 associate = 17;
    // the throttled ones were retried on top.
    assert!(calls.values().sum::<u64>() > 17, "{calls:?}");
    h.ok(&["sim", "config", "throttle_rate=0"]);
    assert_eq!(
        h.json(&["rack", "auth", "-r", "throttled"])["converged"],
        true
    );
}

/// A conflict in the first plan refuses the change before anything is changed, in AWS or in
/// the store (issue 6, defect 6: it used to store the one-way value and fail the rack); once
/// the user fixes the conflict, the same command goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflict_refuses_with_nothing_stored_and_a_rerun_after_the_fix_succeeds() {
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    let eks = h.eks("us-east-1");
    h.install("clash", &[]);
    set_mode(&eks, "clash", "API_AND_CONFIG_MAP").await;
    // Someone made the nodes role a STANDARD entry: convox must not alter or delete it.
    eks.create_access_entry()
        .cluster_name("clash")
        .principal_arn(nodes_role("clash"))
        .r#type("STANDARD")
        .send()
        .await
        .expect("create conflicting entry");

    let err = h.fails(&set_args("clash"));
    assert!(
        err.contains(&nodes_role("clash")) && err.contains("STANDARD"),
        "{err}"
    );
    assert!(err.contains("EC2_LINUX"), "{err}");
    let rack = h.json(&["rack", "-r", "clash"]);
    assert_eq!(rack["status"], "running");
    assert!(rack["last_error"].is_null(), "{rack}");
    // Refused: nothing stored, so nothing one-way is set.
    assert_eq!(
        h.json(&["rack", "params", "-r", "clash"])["eks_access_entries"],
        "false"
    );
    let got = entries(&eks, "clash").await;
    assert_eq!(
        got[&nodes_role("clash")].entry_type,
        "STANDARD",
        "left alone"
    );
    let err = h.fails(&set_args("clash"));
    assert!(
        err.contains("STANDARD"),
        "a rerun runs (and meets the conflict again): {err}"
    );

    eks.delete_access_entry()
        .cluster_name("clash")
        .principal_arn(nodes_role("clash"))
        .send()
        .await
        .expect("delete");
    h.ok(&set_args("clash"));
    assert_eq!(h.json(&["rack", "-r", "clash"])["status"], "running");
    assert_eq!(
        entries(&eks, "clash").await[&nodes_role("clash")].entry_type,
        "EC2_LINUX"
    );
    h.ok(&[
        "rack",
        "params",
        "set",
        "karpenter_auth_mode=true",
        "-r",
        "clash",
    ]);
    assert!(entries(&eks, "clash")
        .await
        .contains_key(&karpenter_role("clash")));
}

/// What a [`RoundProxy`] saw of the requests through it.
#[derive(Debug, Default)]
struct Rounds {
    /// Requests sent and not answered yet.
    in_flight: usize,
    /// Most requests in flight at once.
    max_in_flight: usize,
    /// Times the number in flight went from 0 to 1: the sequential round trips.
    rounds: usize,
}

/// A TCP proxy in front of the simulator that tells, from the bytes alone, which requests
/// overlapped: a connection's request is in flight from its first byte towards the server
/// until the first byte of the answer comes back (HTTP/1.1, no pipelining). Two calls made
/// one after the other can never overlap, however slow the machine.
struct RoundProxy {
    url: String,
    seen: std::sync::Arc<std::sync::Mutex<Rounds>>,
}

impl RoundProxy {
    fn start(upstream: &str) -> RoundProxy {
        use std::io::{Read, Write};
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::{Arc, Mutex};
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Rounds::default()));
        let shared = seen.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                // Per connection: whether its request is in flight.
                let busy = Arc::new(Mutex::new(false));
                let pump = |mut from: TcpStream, mut to: TcpStream, request: bool| {
                    let (busy, seen) = (busy.clone(), shared.clone());
                    move || {
                        let mut buf = [0u8; 16384];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            {
                                // Marked before the bytes go on, so that an answer can
                                // never be counted before its request.
                                let mut b = busy.lock().expect("busy");
                                let mut s = seen.lock().expect("seen");
                                if request && !*b {
                                    *b = true;
                                    if s.in_flight == 0 {
                                        s.rounds += 1;
                                    }
                                    s.in_flight += 1;
                                    s.max_in_flight = s.max_in_flight.max(s.in_flight);
                                } else if !request && *b {
                                    *b = false;
                                    s.in_flight -= 1;
                                }
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(Shutdown::Write);
                    }
                };
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    continue;
                };
                std::thread::spawn(pump(client, server, true));
                std::thread::spawn(pump(s2, c2, false));
            }
        });
        RoundProxy { url, seen }
    }

    fn rounds(&self) -> (usize, usize) {
        let s = self.seen.lock().expect("seen");
        (s.rounds, s.max_in_flight)
    }
}

#[test]
fn no_op_run_issues_independent_calls_concurrently() {
    // 7 calls one after another would be 7 round trips; issued concurrently they are three
    // (identity, cluster and entries; the caller's role; the caller's entry and policies).
    // Counted at a proxy rather than timed: a loaded machine slows the run, never makes
    // sequential calls overlap.
    let mut h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("conc", &[]);
    let set = set_args("conc");
    h.ok(&set);
    // Latency keeps each request in flight long enough for its siblings to be sent.
    h.ok(&["sim", "config", "latency_ms=250"]);
    let proxy = RoundProxy::start(h.endpoint.as_deref().expect("served"));
    h.env = vec![("CONVOX_SIM_ENDPOINT".into(), proxy.url.clone())];
    let start = std::time::Instant::now();
    let (r, calls) = h.counted(&set);
    let took = start.elapsed();
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(calls.values().sum::<u64>(), 7, "{calls:?}");
    let (rounds, max_in_flight) = proxy.rounds();
    assert!(
        max_in_flight >= 2 && rounds <= 3,
        "no-op run made {rounds} sequential round trips, at most {max_in_flight} calls at once: calls are not concurrent"
    );
    assert!(
        took >= std::time::Duration::from_millis(750),
        "latency setting not applied ({took:?})"
    );
}

#[test]
fn entry_creation_waits_out_propagation_without_fixed_sleeps() {
    // Propagation long enough that the first create after the update is refused even when
    // the re-observation in between is slow (500 ms could leave room for none on a loaded
    // machine).
    let h = Home::served(&[
        "update_ms=200",
        "propagation_ms=2000",
        "bootstrap_creator_admin=false",
        "auto_node_entries=false",
    ]);
    h.install("prop", &[]);
    let start = std::time::Instant::now();
    let (r, calls) = h.counted(&set_args("prop"));
    let took = start.elapsed();
    assert!(r.status.success(), "{}", r.stderr);
    // Refused while propagating, then retried: more attempts than entries.
    let creates = calls.get("eks:CreateAccessEntry").copied().unwrap_or(0);
    assert!(creates > 2, "{calls:?}");
    assert!(
        r.stderr.contains("propagating"),
        "progress shown: {}",
        r.stderr
    );
    // Not before U + P = 2.2 s (the simulator refuses until then). The upper bound only
    // catches a hang: how soon the retries come is the backoff's, checked exactly (not timed)
    // by convox-aws's unit tests.
    assert!(took >= std::time::Duration::from_millis(2200), "{took:?}");
    assert!(took < std::time::Duration::from_secs(30), "{took:?}");
    assert_eq!(h.json(&["rack", "auth", "-r", "prop"])["converged"], true);
}
