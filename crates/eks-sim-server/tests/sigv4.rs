//! SigV4 acceptance and rejection, with the official SDK and with requests signed by the
//! official `aws-sigv4` crate and then altered.

mod support;

use aws_sdk_sts::error::ProvideErrorMetadata;
use std::time::{Duration, SystemTime};
use support::{raw, sign, Signer, TestSim};

const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

fn form_headers() -> Vec<(String, String)> {
    vec![("content-type".into(), FORM.into())]
}

#[tokio::test]
async fn sdk_with_wrong_secret_or_unknown_key_is_refused() {
    let t = TestSim::start().await;
    let wrong = t
        .config_with(
            eks_sim_model::DEFAULT_ACCESS_KEY_ID,
            "not-the-secret",
            Some(eks_sim_model::DEFAULT_SESSION_TOKEN),
            "us-east-1",
        )
        .await;
    let err = aws_sdk_sts::Client::new(&wrong)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("SignatureDoesNotMatch"));
    let err = aws_sdk_eks::Client::new(&wrong)
        .list_clusters()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidSignatureException"));

    let unknown = t
        .config_with("AKIAUNKNOWNUNKNOWN12", "secret", None, "us-east-1")
        .await;
    let err = aws_sdk_sts::Client::new(&unknown)
        .get_caller_identity()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidClientTokenId"));
    let err = aws_sdk_iam::Client::new(&unknown)
        .list_roles()
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&err),
        Some("InvalidClientTokenId")
    );
    let err = aws_sdk_eks::Client::new(&unknown)
        .list_clusters()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
    // Refused requests are not counted as operations.
    assert!(t.handle.request_counts().is_empty());
    t.handle.shutdown().await;
}

#[tokio::test]
async fn missing_and_incomplete_signatures() {
    let t = TestSim::start().await;
    let addr = t.handle.addr();
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let r = raw(addr, "POST", "/", &form_headers(), body).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("<Code>MissingAuthenticationToken</Code>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("<ErrorResponse"));

    let r = raw(addr, "GET", "/clusters", &[], b"").await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("MissingAuthenticationTokenException")
    );
    assert!(r.body.contains("\"message\""));

    let mut h = form_headers();
    h.push((
        "authorization".into(),
        "AWS4-HMAC-SHA256 Credential=ASIASIMULATEDCONVOX1/20260101/us-east-1/sts/aws4_request"
            .into(),
    ));
    h.push(("x-amz-date".into(), "20260101T000000Z".into()));
    let r = raw(addr, "POST", "/", &h, body).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("<Code>IncompleteSignature</Code>"),
        "{}",
        r.body
    );
    t.handle.shutdown().await;
}

#[tokio::test]
async fn signed_by_official_signer_accepted_header_and_presigned() {
    let t = TestSim::start().await;
    let addr = t.handle.addr();
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    let (h, pq) = sign(
        addr,
        "POST",
        "/",
        &form_headers(),
        body,
        &Signer::default_for("sts"),
        false,
    );
    let r = raw(addr, "POST", &pq, &h, body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(
        "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
    ));
    assert!(r
        .body
        .contains("<Arn>arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/convox</Arn>"));

    // Presigned GET (as aws-iam-authenticator tokens are made).
    let (h, pq) = sign(
        addr,
        "GET",
        "/?Action=GetCallerIdentity&Version=2011-06-15",
        &[],
        b"",
        &Signer::default_for("sts"),
        true,
    );
    assert!(pq.contains("X-Amz-Signature="), "{pq}");
    let h: Vec<_> = h
        .into_iter()
        .filter(|(k, _)| k != "authorization")
        .collect();
    let r = raw(addr, "GET", &pq, &h, b"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("<Account>123456789012</Account>"));

    // EKS path with an encoded ARN: the double-encoded canonical path must match.
    let path = "/clusters/nope/access-entries/arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fops%2FConvoxAdmin";
    let (h, pq) = sign(
        addr,
        "GET",
        path,
        &[],
        b"",
        &Signer::default_for("eks"),
        false,
    );
    let r = raw(addr, "GET", &pq, &h, b"").await;
    assert_ne!(r.status, 403, "{} {}", r.status, r.body);
    t.handle.shutdown().await;
}

#[tokio::test]
async fn tampered_body_is_refused_and_changes_nothing() {
    let t = TestSim::start().await;
    let addr = t.handle.addr();
    let signed =
        b"Action=CreateRole&Version=2010-05-08&RoleName=Good&AssumeRolePolicyDocument=%7B%7D";
    let sent =
        b"Action=CreateRole&Version=2010-05-08&RoleName=Evil&AssumeRolePolicyDocument=%7B%7D";
    let (h, pq) = sign(
        addr,
        "POST",
        "/",
        &form_headers(),
        signed,
        &Signer::default_for("iam"),
        false,
    );
    let r = raw(addr, "POST", &pq, &h, sent).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        r.body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{}",
        r.body
    );
    assert!(r
        .body
        .contains("xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\""));
    let found = t
        .sim
        .store
        .read(|c| eks_sim_model::iam::lookup_principal(c, "arn:aws:iam::123456789012:role/Evil"))
        .unwrap();
    assert!(found.is_none());
    // The untampered request goes through.
    let r = raw(addr, "POST", &pq, &h, signed).await;
    assert_eq!(r.status, 200, "{}", r.body);
    t.handle.shutdown().await;
}

#[tokio::test]
async fn expired_or_future_dates_are_refused() {
    let t = TestSim::start().await;
    let addr = t.handle.addr();
    let body = b"Action=GetCallerIdentity&Version=2011-06-15";
    for time in [
        SystemTime::now() - Duration::from_secs(20 * 60),
        SystemTime::now() + Duration::from_secs(20 * 60),
    ] {
        let signer = Signer {
            time,
            ..Signer::default_for("sts")
        };
        let (h, pq) = sign(addr, "POST", "/", &form_headers(), body, &signer, false);
        let r = raw(addr, "POST", &pq, &h, body).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(
            r.body.contains("<Code>SignatureDoesNotMatch</Code>"),
            "{}",
            r.body
        );
        assert!(r.body.contains("Signature expired"), "{}", r.body);
    }
    // Within the skew is fine.
    let signer = Signer {
        time: SystemTime::now() - Duration::from_secs(5 * 60),
        ..Signer::default_for("sts")
    };
    let (h, pq) = sign(addr, "POST", "/", &form_headers(), body, &signer, false);
    assert_eq!(raw(addr, "POST", &pq, &h, body).await.status, 200);
    t.handle.shutdown().await;
}

#[tokio::test]
async fn oversized_bodies_and_garbage_do_not_hurt() {
    let t = TestSim::start().await;
    let addr = t.handle.addr();
    let r = raw(
        addr,
        "POST",
        "/_sim/settings",
        &[],
        br#"{"max_body_bytes": 200}"#,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let big = vec![b'a'; 1000];
    let r = raw(addr, "POST", "/", &form_headers(), &big).await;
    assert_eq!(r.status, 413, "{}", r.body);
    let r = raw(addr, "POST", "/clusters", &[], &big).await;
    assert_eq!(r.status, 413);
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("RequestEntityTooLargeException")
    );
    // Garbage on the socket: the server answers 400 or closes, and keeps serving.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    s.write_all(b"\x00\xffGARBAGE / HTTP/9.9\r\n\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf).await;
    let sts = aws_sdk_sts::Client::new(&t.config().await);
    sts.get_caller_identity().send().await.unwrap();
    t.handle.shutdown().await;
}

#[tokio::test]
async fn sim_endpoints_on_loopback() {
    let t = TestSim::start().await;
    let addr = t.handle.addr();
    let sts = aws_sdk_sts::Client::new(&t.config().await);
    sts.get_caller_identity().send().await.unwrap();
    let r = raw(addr, "GET", "/_sim/requests", &[], b"").await;
    assert_eq!(r.status, 200);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["sts:GetCallerIdentity"], 1);
    let r = raw(addr, "POST", "/_sim/settings", &[], br#"{"nope": 1}"#).await;
    assert_eq!(r.status, 400);
    let r = raw(
        addr,
        "POST",
        "/_sim/settings",
        &[],
        br#"{"read_lag_ms": 5}"#,
    )
    .await;
    assert_eq!(r.status, 200);
    let r = raw(addr, "GET", "/_sim/settings", &[], b"").await;
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["read_lag_ms"], 5);
    // Reset drops a created role and keeps settings.
    let iam = aws_sdk_iam::Client::new(&t.config().await);
    iam.create_role()
        .role_name("Temp")
        .assume_role_policy_document("{}")
        .send()
        .await
        .unwrap();
    let r = raw(addr, "POST", "/_sim/reset", &[], b"").await;
    assert_eq!(r.status, 200);
    let err = iam.get_role().role_name("Temp").send().await.unwrap_err();
    assert_eq!(
        aws_sdk_iam::error::ProvideErrorMetadata::code(&err),
        Some("NoSuchEntity")
    );
    assert_eq!(t.sim.store.settings().unwrap().read_lag_ms, 5);
    t.handle.shutdown().await;
}

#[tokio::test]
async fn sim_endpoints_need_a_signature_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let sim = eks_sim_server::open_sim(dir.path()).unwrap();
    let h = eks_sim_server::start(sim, "0.0.0.0:0".parse().unwrap())
        .await
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", h.addr().port()).parse().unwrap();
    let r = raw(addr, "GET", "/_sim/requests", &[], b"").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        r.header("x-amzn-errortype"),
        Some("MissingAuthenticationTokenException")
    );
    let r = raw(addr, "POST", "/_sim/reset", &[], b"").await;
    assert_eq!(r.status, 403);
    let (hs, pq) = sign(
        addr,
        "GET",
        "/_sim/requests",
        &[],
        b"",
        &Signer::default_for("eks"),
        false,
    );
    let r = raw(addr, "GET", &pq, &hs, b"").await;
    assert_eq!(r.status, 200, "{}", r.body);
    h.shutdown().await;
}

#[tokio::test]
async fn expired_presigned_url_is_refused() {
    let t = TestSim::start().await;
    let addr = t.handle.addr();
    // Signed 10 minutes ago, valid for 5 (the helper presigns for 300 s).
    let signer = Signer {
        time: SystemTime::now() - Duration::from_secs(600),
        ..Signer::default_for("sts")
    };
    let (h, pq) = sign(
        addr,
        "GET",
        "/?Action=GetCallerIdentity&Version=2011-06-15",
        &[],
        b"",
        &signer,
        true,
    );
    let h: Vec<_> = h
        .into_iter()
        .filter(|(k, _)| k != "authorization")
        .collect();
    let r = raw(addr, "GET", &pq, &h, b"").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("Signature expired"), "{}", r.body);
    // A tampered presigned query is refused too.
    let (h, pq) = sign(
        addr,
        "GET",
        "/?Action=GetCallerIdentity&Version=2011-06-15",
        &[],
        b"",
        &Signer::default_for("sts"),
        true,
    );
    let tampered = pq.replace("Version=2011-06-15", "Version=2011-06-16");
    let r = raw(addr, "GET", &tampered, &h, b"").await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("SignatureDoesNotMatch"));
    t.handle.shutdown().await;
}
