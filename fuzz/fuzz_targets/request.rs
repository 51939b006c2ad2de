//! The whole request path, in-process: fuzz input becomes a correctly SigV4-signed HTTP
//! request (method, path, query, body and content type chosen by the input) sent over a
//! socket to a server started once on loopback with a temp state. Signing with the default
//! key lets the input reach the handlers and the model, not just the signature check.
//!
//! A crash is: a panic anywhere, or any 5xx answer (error injection is off, so a 5xx can
//! only be a handler panic caught by the server or an internal error), or no answer.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run request fuzz/corpus/request fuzz/seeds/request` from
//! the repository root (the seeds are valid requests of every operation; without them the
//! fuzzer spends its first minutes finding the JSON and form shapes).
#![no_main]

use eks_sim_model::{DEFAULT_ACCESS_KEY_ID, DEFAULT_SECRET_ACCESS_KEY, DEFAULT_SESSION_TOKEN};
use eks_sim_server::sigv4;
use libfuzzer_sys::fuzz_target;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::OnceLock;
use std::time::Duration;

struct Server {
    addr: SocketAddr,
    _rt: tokio::runtime::Runtime,
}

static SIM: OnceLock<std::sync::Arc<eks_sim_model::Sim>> = OnceLock::new();

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("eks-sim-fuzz-req-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let sim = eks_sim_server::open_sim(&dir).expect("state");
        sim.store
            .write(|tx| eks_sim_model::settings::save(tx, &baseline()))
            .expect("settings");
        let _ = SIM.set(sim.clone());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let handle = rt
            .block_on(eks_sim_server::start(
                sim,
                "127.0.0.1:0".parse().expect("addr"),
            ))
            .expect("start");
        let addr = handle.addr();
        // The server lives as long as the fuzzer.
        std::mem::forget(handle);
        Server { addr, _rt: rt }
    })
}

const ROLE: &str = "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fops%2FConvoxAdmin";
const POLICY: &str = "arn%3Aaws%3Aeks%3A%3Aaws%3Acluster-access-policy%2FAmazonEKSViewPolicy";

/// EKS paths as the botocore model has them; `{}` is replaced by fuzz input.
const EKS_PATHS: &[&str] = &[
    "/clusters",
    "/clusters/{}",
    "/clusters/{}/update-config",
    "/clusters/{}/updates",
    "/clusters/{}/updates/{}",
    "/clusters/{}/access-entries",
    "/clusters/{}/access-entries/{}",
    "/clusters/{}/access-entries/{}/access-policies",
    "/clusters/{}/access-entries/{}/access-policies/{}",
    "/clusters/{}/node-groups",
    "/clusters/{}/node-groups/{}",
    "/access-policies",
    "{}",
];

const QUERY_ACTIONS: &[&str] = &[
    "GetCallerIdentity",
    "AssumeRole",
    "CreateRole",
    "GetRole",
    "ListRoles",
    "DeleteRole",
    "CreateUser",
    "GetUser",
    "CreateAccessKey",
    "",
];

fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == 0).collect();
    while out.len() < n {
        out.push(b"");
    }
    out
}

/// Percent-encodes what cannot appear raw in a request line (keeps `%` so the input can
/// write its own escapes).
fn path_safe(s: &[u8]) -> String {
    let mut out = String::new();
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-_.~%:/+=@,".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn query_safe(s: &[u8]) -> String {
    let mut out = String::new();
    for &b in s {
        if b.is_ascii_alphanumeric() || b"-_.~%=&".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn substitute(template: &str, parts: &[String]) -> String {
    let mut out = String::new();
    let mut i = 0;
    let mut rest = template;
    while let Some(p) = rest.find("{}") {
        out.push_str(&rest[..p]);
        let fill = match parts.get(i) {
            Some(s) if !s.is_empty() => s.clone(),
            // Known-good values reach deeper handlers.
            _ => ["demo", ROLE, POLICY][i.min(2)].to_string(),
        };
        out.push_str(&fill);
        i += 1;
        rest = &rest[p + 2..];
    }
    out.push_str(rest);
    out
}

/// Faults back to the fuzzing baseline, after an input reached the reserved
/// `/_sim/` endpoints (they are fuzzed too: a settings patch must be validated, never break
/// the server; but injected faults would make later inputs fail for no fault of theirs).
fn restore_settings() {
    let Some(sim) = SIM.get() else { return };
    let r = sim.store.write(|tx| {
        let mut s = eks_sim_model::settings::load(tx)?;
        let base = baseline();
        // Durations and lag stay as the input left them: later inputs meet them.
        s.throttle_rate = base.throttle_rate;
        s.error_rate = base.error_rate;
        s.latency_ms = base.latency_ms;
        s.max_body_bytes = base.max_body_bytes;
        eks_sim_model::settings::save(tx, &s)
    });
    if let Err(e) = r {
        panic!("cannot restore settings: {e}");
    }
}

fn baseline() -> eks_sim_model::Settings {
    eks_sim_model::Settings {
        cluster_create_ms: 0,
        nodegroup_create_ms: 0,
        update_ms: 0,
        propagation_ms: 0,
        ..Default::default()
    }
}

fn send(addr: SocketAddr, req: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(req).expect("write");
    let mut buf = Vec::new();
    if let Err(e) = s.read_to_end(&mut buf) {
        panic!("no answer: {e}");
    }
    buf
}

fuzz_target!(|data: &[u8]| {
    let srv = server();
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let f = fields(rest, 5);
    let (service, method, path, query, body, ctype) = match sel % 3 {
        0 => {
            let method = ["GET", "POST", "DELETE", "PUT"][(sel as usize / 3) % 4];
            let template = EKS_PATHS[f[0].first().copied().unwrap_or(0) as usize % EKS_PATHS.len()];
            let parts: Vec<String> = f[1].split(|b| *b == b'|').map(path_safe).collect();
            let path = substitute(template, &parts);
            let path = if path.starts_with('/') {
                path
            } else {
                format!("/{path}")
            };
            (
                "eks",
                method,
                path,
                query_safe(f[2]),
                f[3].to_vec(),
                "application/json",
            )
        }
        n => {
            let service = if n == 1 { "sts" } else { "iam" };
            let action =
                QUERY_ACTIONS[f[0].first().copied().unwrap_or(0) as usize % QUERY_ACTIONS.len()];
            let version = if n == 1 { "2011-06-15" } else { "2010-05-08" };
            let mut body = format!("Action={action}&Version={version}&").into_bytes();
            body.extend_from_slice(f[3]);
            let method = if sel & 0x80 != 0 { "GET" } else { "POST" };
            let (query, body) = if method == "GET" {
                (query_safe(&body), Vec::new())
            } else {
                (query_safe(f[2]), body)
            };
            (
                service,
                method,
                "/".to_string(),
                query,
                body,
                "application/x-www-form-urlencoded",
            )
        }
    };
    let ctype = if f[4].is_empty() {
        ctype.to_string()
    } else {
        String::from_utf8_lossy(f[4])
            .chars()
            .filter(|c| c.is_ascii_graphic() || *c == ' ')
            .collect()
    };

    // Sign as the SDKs do, with the default key of the simulator.
    let now = eks_sim_model::store::now_ms();
    let amz_date = sigv4::format_amz_date(now);
    let scope_date = amz_date[..8].to_string();
    let host = srv.addr.to_string();
    let mut headers = http::HeaderMap::new();
    headers.insert("host", http::HeaderValue::from_str(&host).expect("host"));
    headers.insert(
        "x-amz-date",
        http::HeaderValue::from_str(&amz_date).expect("date"),
    );
    headers.insert(
        "x-amz-security-token",
        http::HeaderValue::from_static(DEFAULT_SESSION_TOKEN),
    );
    let mut signed = vec!["host", "x-amz-date", "x-amz-security-token"];
    if let Ok(v) = http::HeaderValue::from_str(&ctype) {
        if !ctype.is_empty() {
            headers.insert("content-type", v);
            signed.insert(0, "content-type");
        }
    }
    let mut parts = sigv4::SigParts {
        access_key_id: DEFAULT_ACCESS_KEY_ID.into(),
        scope_date,
        region: "us-east-1".into(),
        service: service.into(),
        signed_headers: signed.iter().map(|s| s.to_string()).collect(),
        signature: String::new(),
        amz_date,
        security_token: Some(DEFAULT_SESSION_TOKEN.into()),
        presigned: false,
        expires_s: None,
    };
    let cr = sigv4::canonical_request(
        method,
        &path,
        &query,
        &headers,
        &parts,
        &sigv4::sha256_hex(&body),
    );
    let key = sigv4::signing_key(
        DEFAULT_SECRET_ACCESS_KEY,
        &parts.scope_date,
        "us-east-1",
        service,
    );
    parts.signature = sigv4::sign(&key, &sigv4::string_to_sign(&parts, &cr));

    let target = if query.is_empty() {
        path.clone()
    } else {
        format!("{path}?{query}")
    };
    let mut req = format!("{method} {target} HTTP/1.1\r\n");
    for (k, v) in &headers {
        req.push_str(k.as_str());
        req.push_str(": ");
        req.push_str(v.to_str().unwrap_or(""));
        req.push_str("\r\n");
    }
    req.push_str(&format!(
        "authorization: AWS4-HMAC-SHA256 Credential={}/{}/us-east-1/{}/aws4_request, SignedHeaders={}, Signature={}\r\n",
        parts.access_key_id,
        parts.scope_date,
        service,
        parts.signed_headers.join(";"),
        parts.signature
    ));
    req.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(&body);

    let resp = send(srv.addr, &bytes);
    if target.starts_with("/_sim") {
        restore_settings();
    }
    let status = resp
        .split(|b| *b == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(s) if s < 500 => {}
        _ => panic!(
            "answer {status:?} to {method} {service}:\n{}",
            String::from_utf8_lossy(&resp[..resp.len().min(2000)])
        ),
    }
});
