//! The waits of the adapter against a scripted EKS endpoint: answers the simulator cannot be
//! told to give for one operation only (a run of 5xx or throttling on DescribeUpdate longer
//! than the SDK's retries, a Failed update).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use convox_aws::{Aws, AwsError, CallerIdentity, Interest, Target, Timing};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer: status, `x-amzn-ErrorType` (errors only), JSON body.
#[derive(Clone)]
struct Answer {
    status: u16,
    error_type: Option<&'static str>,
    body: String,
}

fn ok(body: &str) -> Answer {
    Answer {
        status: 200,
        error_type: None,
        body: body.to_string(),
    }
}

fn error(status: u16, code: &'static str) -> Answer {
    Answer {
        status,
        error_type: Some(code),
        body: format!(r#"{{"message":"scripted {code}"}}"#),
    }
}

/// Serves `script[i]` to the i-th request (the last one forever after); counts requests.
async fn serve(script: Vec<Answer>) -> (String, Arc<AtomicUsize>) {
    serve_with(move |_, i| script[i.min(script.len() - 1)].clone()).await
}

type Handler = dyn Fn(&str, usize) -> Answer + Send + Sync;

/// Serves `handler(request line, i)` to the i-th request; counts requests.
async fn serve_with(
    handler: impl Fn(&str, usize) -> Answer + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let count = Arc::new(AtomicUsize::new(0));
    let handler: Arc<Handler> = Arc::new(handler);
    let c = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(conn(sock, handler.clone(), c.clone()));
        }
    });
    (url, count)
}

async fn conn(mut sock: TcpStream, handler: Arc<Handler>, count: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    loop {
        // Read one request: head, then Content-Length bytes of body.
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p + 4;
            }
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let raw_head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let request_line = raw_head.lines().next().unwrap_or_default().to_string();
        let head = raw_head.to_ascii_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + len {
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + len);
        let i = count.fetch_add(1, Ordering::SeqCst);
        let a = handler(&request_line, i);
        let mut resp = format!(
            "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-amzn-requestid: r{i}\r\n",
            a.status,
            a.body.len()
        );
        if let Some(t) = a.error_type {
            resp.push_str(&format!("x-amzn-errortype: {t}\r\n"));
        }
        resp.push_str("\r\n");
        resp.push_str(&a.body);
        if sock.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn aws(url: String) -> Aws {
    aws_with_deadline(url, Duration::from_secs(60)).await
}

async fn aws_with_deadline(url: String, deadline: Duration) -> Aws {
    Aws::connect(&Target::Endpoint {
        url,
        region: "us-east-1".into(),
        access_key_id: "AKIAEXAMPLE".into(),
        secret_access_key: "secret".into(),
        session_token: None,
    })
    .await
    .with_timing(Timing {
        poll_initial: Duration::from_millis(10),
        poll_factor: 1.5,
        poll_max: Duration::from_millis(50),
        deadline,
        propagation_deadline: deadline,
    })
}

const SUCCESSFUL: &str = r#"{"update":{"id":"u1","status":"Successful","type":"AccessConfigUpdate","params":[],"errors":[]}}"#;
const IN_PROGRESS: &str = r#"{"update":{"id":"u1","status":"InProgress","type":"AccessConfigUpdate","params":[],"errors":[]}}"#;

#[tokio::test]
async fn update_wait_outlasts_5xx_and_throttling_beyond_the_sdk_retries() {
    // The SDK makes 5 attempts per call; 12 failures in a row exhaust two calls' retries.
    let mut script = vec![ok(IN_PROGRESS)];
    for i in 0..12 {
        script.push(if i % 2 == 0 {
            error(500, "ServerException")
        } else {
            error(429, "ThrottlingException")
        });
    }
    script.push(ok(SUCCESSFUL));
    let (url, count) = serve(script).await;
    let aws = aws(url).await;
    aws.wait_update("c1", "u1")
        .await
        .expect("the update succeeded; failed polls are not a failed run");
    assert_eq!(count.load(Ordering::SeqCst), 14);
}

#[tokio::test]
async fn cluster_wait_outlasts_5xx_beyond_the_sdk_retries() {
    let mut script = vec![error(503, "ServiceUnavailableException"); 7];
    script.push(ok(
        r#"{"cluster":{"name":"c1","status":"ACTIVE","accessConfig":{"authenticationMode":"API_AND_CONFIG_MAP"}}}"#,
    ));
    let (url, count) = serve(script).await;
    aws(url)
        .await
        .wait_cluster_active("c1")
        .await
        .expect("ACTIVE after the failures");
    assert_eq!(count.load(Ordering::SeqCst), 8);
}

#[tokio::test]
async fn a_permanent_error_during_a_wait_fails_at_once() {
    let (url, count) = serve(vec![error(400, "InvalidParameterException")]).await;
    let e = aws(url)
        .await
        .wait_update("c1", "u1")
        .await
        .expect_err("not transient");
    assert!(matches!(e, AwsError::Api { .. }), "{e}");
    assert!(e.to_string().contains("InvalidParameterException"), "{e}");
    assert_eq!(
        count.load(Ordering::SeqCst),
        1,
        "no retry of a client error"
    );
}

#[tokio::test]
async fn a_failed_update_says_what_failed_and_what_to_do() {
    let (url, _) = serve(vec![ok(
        r#"{"update":{"id":"u1","status":"Failed","type":"AccessConfigUpdate","params":[],"errors":[{"errorCode":"AccessDenied","errorMessage":"the cluster role lacks permissions"}]}}"#,
    )])
    .await;
    let e = aws(url)
        .await
        .wait_update("c1", "u1")
        .await
        .expect_err("failed update");
    let msg = e.to_string();
    assert!(matches!(e, AwsError::UpdateFailed { .. }), "{msg}");
    for want in [
        "c1",
        "u1",
        "Failed",
        "AccessDenied",
        "lacks permissions",
        "rerun",
    ] {
        assert!(msg.contains(want), "{want} missing from: {msg}");
    }
}

const NODES: &str = "arn:aws:iam::123456789012:role/convox/r-nodes";
const CALLER: &str = "arn:aws:iam::123456789012:role/ops/ConvoxAdmin";

fn caller() -> CallerIdentity {
    CallerIdentity {
        account: "123456789012".into(),
        arn: "arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/convox".into(),
        principal_arn: CALLER.into(),
        partition: "aws".into(),
    }
}

/// An API-mode cluster whose nodes entry EKS refuses to describe `refusals` times (the mode
/// change still propagating), then shows; the caller has no entry.
fn propagating(refusals: usize, nodes_calls: Arc<AtomicUsize>) -> impl Fn(&str, usize) -> Answer {
    move |line: &str, _| {
        let path = line.split(' ').nth(1).unwrap_or_default();
        if path == "/clusters/c1" {
            return ok(
                r#"{"cluster":{"name":"c1","status":"ACTIVE","accessConfig":{"authenticationMode":"API_AND_CONFIG_MAP"}}}"#,
            );
        }
        if path.contains("r-nodes") {
            if nodes_calls.fetch_add(1, Ordering::SeqCst) < refusals {
                return error(400, "InvalidRequestException");
            }
            return ok(&format!(
                r#"{{"accessEntry":{{"clusterName":"c1","principalArn":"{NODES}","type":"EC2_LINUX","tags":{{}}}}}}"#
            ));
        }
        error(404, "ResourceNotFoundException")
    }
}

fn nodes_interest() -> Interest {
    Interest {
        principal_arn: NODES.into(),
        with_policies: false,
    }
}

#[tokio::test]
async fn a_describe_refused_while_the_mode_change_propagates_is_retried_not_fatal() {
    let nodes_calls = Arc::new(AtomicUsize::new(0));
    let (url, _) = serve_with(propagating(3, nodes_calls.clone())).await;
    let (_, observed) = aws(url)
        .await
        .observe("c1", &[nodes_interest()], Some(&caller()))
        .await
        .expect("observed once EKS serves the entry");
    assert_eq!(nodes_calls.load(Ordering::SeqCst), 4);
    let nodes: Vec<_> = observed
        .entries
        .iter()
        .filter(|e| e.principal_arn == NODES)
        .collect();
    assert_eq!(nodes.len(), 1, "{observed:?}");
    assert_eq!(nodes[0].entry_type, "EC2_LINUX");
    assert!(
        !observed.entries.iter().any(|e| e.principal_arn == CALLER),
        "{observed:?}"
    );
}

#[tokio::test]
async fn a_describe_refused_past_the_deadline_is_an_error_never_absent() {
    let nodes_calls = Arc::new(AtomicUsize::new(0));
    let (url, _) = serve_with(propagating(usize::MAX, nodes_calls.clone())).await;
    let e = aws_with_deadline(url, Duration::from_millis(300))
        .await
        .observe("c1", &[nodes_interest()], Some(&caller()))
        .await
        .expect_err("never read as absent");
    assert!(e.to_string().contains("InvalidRequestException"), "{e}");
    assert!(e.to_string().contains(NODES), "{e}");
    assert!(nodes_calls.load(Ordering::SeqCst) > 1, "retried first");
}

#[tokio::test]
async fn an_entry_is_known_by_the_principal_asked_about_whatever_eks_spells() {
    let (url, _) = serve_with(|line: &str, _| {
        let path = line.split(' ').nth(1).unwrap_or_default();
        if path == "/clusters/c1" {
            return ok(
                r#"{"cluster":{"name":"c1","status":"ACTIVE","accessConfig":{"authenticationMode":"API_AND_CONFIG_MAP"}}}"#,
            );
        }
        if path.contains("r-nodes") {
            // The same role, as IAM spells it.
            return ok(
                r#"{"accessEntry":{"clusterName":"c1","principalArn":"arn:aws:iam::123456789012:role/convox/R-Nodes","type":"EC2_LINUX","tags":{}}}"#,
            );
        }
        error(404, "ResourceNotFoundException")
    })
    .await;
    let (_, observed) = aws(url)
        .await
        .observe("c1", &[nodes_interest()], Some(&caller()))
        .await
        .expect("observed");
    assert!(
        observed.entries.iter().any(|e| e.principal_arn == NODES),
        "the planner looks the entry up by the ARN it asked about: {observed:?}"
    );
}

/// EKS refusing entries (the mode change propagating) for longer than the propagation
/// deadline: creation stops with an error naming the principal and saying to rerun, after
/// a handful of attempts with growing gaps, not a tight loop.
#[tokio::test]
async fn propagation_outlasting_its_deadline_is_reported_after_few_attempts() {
    let (url, count) = serve(vec![error(400, "InvalidRequestException")]).await;
    // A deadline long enough that the first attempts (a fresh SDK client's first request
    // included) fit in it on a loaded machine: with 400 ms, two slow round trips could leave
    // room for fewer than 3 attempts.
    let aws = aws_with_deadline(url, Duration::from_millis(1000)).await;
    let entry = convox_planner::DesiredEntry {
        role: convox_planner::EntryRole::Nodes,
        principal_arn: NODES.into(),
        entry_type: "EC2_LINUX".into(),
        policies: vec![],
    };
    let start = std::time::Instant::now();
    let e = aws
        .apply("c1", "r", &convox_planner::Step::CreateEntry { entry })
        .await
        .expect_err("deadline");
    let took = start.elapsed();
    assert!(matches!(e, AwsError::Deadline { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(NODES) && msg.contains("rerun"), "{msg}");
    assert!(took >= Duration::from_millis(1000), "{took:?}");
    // 10 ms growing ×1.5 to 50 ms (a tenth of the time waited past 500 ms), jitter ≥ 0.8:
    // at most 25 attempts fit in 1 s however fast the answers come (slow answers only make
    // fewer); a tight loop would make hundreds.
    let n = count.load(Ordering::SeqCst);
    assert!((3..=30).contains(&n), "{n} attempts");
}

/// Not only waits: any call of a run (here the observation's DescribeCluster) outlasts
/// throttling and 5xx far beyond the few attempts of the SDK's standard retry mode.
#[tokio::test]
async fn every_call_outlasts_throttling_and_5xx_beyond_the_sdk_retries() {
    let cluster_calls = Arc::new(AtomicUsize::new(0));
    let calls = cluster_calls.clone();
    let (url, _) = serve_with(move |line: &str, _| {
        let path = line.split(' ').nth(1).unwrap_or_default();
        if path == "/clusters/c1" {
            return match calls.fetch_add(1, Ordering::SeqCst) {
                n if n < 12 && n % 3 == 2 => error(503, "ServiceUnavailableException"),
                n if n < 12 => error(429, "ThrottlingException"),
                _ => ok(
                    r#"{"cluster":{"name":"c1","status":"ACTIVE","accessConfig":{"authenticationMode":"CONFIG_MAP"}}}"#,
                ),
            };
        }
        // CONFIG_MAP: EKS refuses access-entry calls, which agrees with "none".
        error(400, "InvalidRequestException")
    })
    .await;
    let (_, observed) = aws(url)
        .await
        .observe("c1", &[nodes_interest()], Some(&caller()))
        .await
        .expect("observed once the throttling ends");
    assert_eq!(observed.auth_mode, convox_planner::AuthMode::ConfigMap);
    assert_eq!(cluster_calls.load(Ordering::SeqCst), 13);
}
