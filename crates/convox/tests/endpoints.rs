//! What a user is told when the endpoint is not what it should be: an empty cluster name, an
//! HTTP server that is not AWS (a bare 404), and an endpoint that accepts connections but
//! never answers (bounded, and said while waiting). Through the real binary.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use common::*;

/// An `aws` rack's environment: the served simulator's default keys, no config files.
fn aws_env(h: &mut Home) {
    h.use_served_sim_as_aws();
    h.env.push((
        "HOME".into(),
        h.path().join("user-home").to_string_lossy().into_owned(),
    ));
}

fn with_endpoint(h: &Home, url: &str, args: &[&str]) -> std::process::Command {
    let mut c = h.cmd(args);
    c.env("AWS_ENDPOINT_URL", url);
    c
}

/// Serves every request with a bare `404 Not Found` (no AWS error header or body), as a
/// web server or a wrong port would; runs until the test process ends.
fn bare_404_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = vec![0u8; 65536];
                // One read holds a small SDK request; answer and close.
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            });
        }
    });
    url
}

/// Accepts connections and reads requests but never answers.
fn hung_server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in l.incoming().flatten() {
            held.push(s);
        }
    });
    url
}

fn install_args<'a>(name: &'a str, cluster: &'a str, nodes: &'a str) -> Vec<&'a str> {
    vec![
        "rack",
        "install",
        "aws",
        name,
        "--cluster",
        cluster,
        "--region",
        "us-east-1",
        "--nodes-role-arn",
        nodes,
    ]
}

#[test]
fn an_empty_cluster_name_is_refused_before_any_call() {
    let mut h = Home::served(&[]);
    aws_env(&mut h);
    let nodes = nodes_role("x");
    for cluster in ["", "_x", "has space", "a/b"] {
        let args = install_args("e", cluster, &nodes);
        let (r, calls) = h.counted(&args);
        let err = r.error_line(&args);
        assert!(err.contains("invalid --cluster"), "{cluster:?}: {err}");
        assert!(err.contains("letters, digits"), "{err}");
        assert!(!err.contains("failed to construct"), "{err}");
        assert!(calls.is_empty(), "{calls:?}");
    }
    assert_eq!(h.json(&["racks"]).as_array().map(Vec::len), Some(0));
}

#[test]
fn a_bare_404_says_the_endpoint_is_not_aws() {
    let mut h = Home::served(&[]);
    aws_env(&mut h);
    h.install("made", &[]);
    let url = bare_404_server();
    let nodes = nodes_role("made");
    let args = install_args("web", "made", &nodes);
    let r: Run = with_endpoint(&h, &url, &args).output().expect("run").into();
    let err = r.error_line(&args);
    assert!(!err.contains("no message"), "{err}");
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("HTTP 404"), "{err}");
    assert!(err.contains("not an AWS API endpoint"), "{err}");
    assert!(err.contains("AWS_ENDPOINT_URL"), "{err}");
    assert_eq!(h.json(&["racks"]).as_array().map(Vec::len), Some(1));

    // The same for an installed rack's read.
    let args = install_args("prod", "made", &nodes);
    h.ok(&args);
    let args = ["rack", "auth", "-r", "prod"];
    let r: Run = with_endpoint(&h, &url, &args).output().expect("run").into();
    let err = r.error_line(&args);
    assert!(err.contains("not an AWS API endpoint"), "{err}");
}

#[test]
fn a_hung_endpoint_is_waited_for_visibly_and_for_a_bounded_time() {
    let mut h = Home::served(&[]);
    aws_env(&mut h);
    h.install("made", &[]);
    let nodes = nodes_role("made");
    h.ok(&install_args("prod", "made", &nodes));
    let url = hung_server();
    let args = ["rack", "auth", "-r", "prod"];
    let start = Instant::now();
    let r: Run = with_endpoint(&h, &url, &args)
        .env("CONVOX_CALL_TIMEOUT_MS", "3000")
        .output()
        .expect("run")
        .into();
    // Only a hang is caught here: the run ends by itself.
    assert!(start.elapsed() < Duration::from_secs(120), "no bound");
    let err = r.error_line(&args);
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("did not answer"), "{err}");
    assert!(err.contains("within 3 s"), "{err}");
    // While it waited, it said what for and until when (even for the quiet `rack auth`).
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with(&format!("waiting for {url} to answer"))
                && l.contains("giving up after 3 s")),
        "{}",
        r.stderr
    );
}
