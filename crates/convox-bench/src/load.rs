//! Signed request templates and a closed-loop load generator over keep-alive connections.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// A request signed once, replayed many times.
#[derive(Clone)]
pub struct Template {
    method: http::Method,
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Template {
    fn build(&self) -> http::Request<Full<Bytes>> {
        let mut req = http::Request::new(Full::new(self.body.clone()));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }
}

/// Credentials the requests are signed with (the simulator's documented default key pair).
pub struct Signer {
    identity: aws_smithy_runtime_api::client::identity::Identity,
    region: String,
}

impl Signer {
    pub fn default_sim() -> Signer {
        let creds = aws_credential_types::Credentials::new(
            eks_sim_model::DEFAULT_ACCESS_KEY_ID,
            eks_sim_model::DEFAULT_SECRET_ACCESS_KEY,
            Some(eks_sim_model::DEFAULT_SESSION_TOKEN.to_string()),
            None,
            "convox-bench",
        );
        Signer {
            identity: creds.into(),
            region: eks_sim_model::DEFAULT_REGION.to_string(),
        }
    }

    /// Sign `method path` for `service` at `addr`; `form` selects the query protocol's
    /// content type, else JSON.
    pub fn sign(
        &self,
        addr: SocketAddr,
        service: &str,
        method: &str,
        path_and_query: &str,
        body: &str,
        form: bool,
    ) -> Result<Template, String> {
        use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
        let uri: http::Uri = format!("http://{addr}{path_and_query}")
            .parse()
            .map_err(|e| format!("uri: {e}"))?;
        let mut headers = http::HeaderMap::new();
        let host = addr.to_string();
        headers.insert(
            http::header::HOST,
            host.parse().map_err(|e| format!("{e}"))?,
        );
        let ct = if form {
            "application/x-www-form-urlencoded; charset=utf-8"
        } else {
            "application/json"
        };
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(ct),
        );
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&self.identity)
            .region(&self.region)
            .name(service)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| format!("signing params: {e}"))?
            .into();
        let header_pairs: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let signable = SignableRequest::new(
            method,
            uri.to_string(),
            header_pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| format!("signable: {e}"))?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| format!("sign: {e}"))?
            .into_parts();
        let mut req = http::Request::builder()
            .method(method)
            .uri(uri.clone())
            .body(())
            .map_err(|e| format!("request: {e}"))?;
        *req.headers_mut() = headers;
        instructions.apply_to_request_http1x(&mut req);
        Ok(Template {
            method: req.method().clone(),
            uri,
            headers: req.headers().clone(),
            body: Bytes::from(body.to_string()),
        })
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Send one request, reconnecting if the server closed the connection (HTTP/1.0 servers).
async fn send(addr: SocketAddr, sender: &mut Sender, t: &Template) -> Result<(u16, Bytes), String> {
    if sender.ready().await.is_err() {
        *sender = connect(addr).await?;
    }
    let resp = sender
        .send_request(t.build())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok((status, body))
}

pub struct LoadResult {
    pub ok: u64,
    pub failed: u64,
    pub elapsed: Duration,
    pub first_failure: Option<String>,
}

impl LoadResult {
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// Closed loop: `conns` connections cycle through `templates` until `dur` has passed.
pub async fn run_for(
    addr: SocketAddr,
    templates: Arc<Vec<Template>>,
    conns: usize,
    dur: Duration,
) -> Result<LoadResult, String> {
    let start = Instant::now();
    let deadline = start + dur;
    run(
        addr,
        templates,
        conns,
        move |_| Instant::now() < deadline,
        true,
    )
    .await
}

/// Every template exactly once, spread over `conns` connections.
pub async fn run_each(
    addr: SocketAddr,
    templates: Arc<Vec<Template>>,
    conns: usize,
) -> Result<LoadResult, String> {
    let n = templates.len();
    run(addr, templates, conns, move |i| i < n, false).await
}

async fn run(
    addr: SocketAddr,
    templates: Arc<Vec<Template>>,
    conns: usize,
    keep_going: impl Fn(usize) -> bool + Send + Sync + 'static,
    cycle: bool,
) -> Result<LoadResult, String> {
    let next = Arc::new(AtomicUsize::new(0));
    let keep_going = Arc::new(keep_going);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns.max(1) {
        let templates = templates.clone();
        let next = next.clone();
        let keep_going = keep_going.clone();
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(addr).await?;
            let (mut ok, mut failed, mut first) = (0u64, 0u64, None);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if !keep_going(i) {
                    break;
                }
                let t = if cycle {
                    &templates[i % templates.len()]
                } else {
                    &templates[i]
                };
                match send(addr, &mut sender, t).await {
                    Ok((s, _)) if (200..300).contains(&s) => ok += 1,
                    Ok((s, body)) => {
                        failed += 1;
                        first.get_or_insert_with(|| {
                            format!("HTTP {s}: {}", String::from_utf8_lossy(&body))
                        });
                    }
                    Err(e) => {
                        failed += 1;
                        first.get_or_insert(e);
                        sender = connect(addr).await?;
                    }
                }
            }
            Ok::<_, String>((ok, failed, first))
        }));
    }
    let mut res = LoadResult {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        first_failure: None,
    };
    for t in tasks {
        let (ok, failed, first) = t.await.map_err(|e| format!("task: {e}"))??;
        res.ok += ok;
        res.failed += failed;
        if res.first_failure.is_none() {
            res.first_failure = first;
        }
    }
    res.elapsed = start.elapsed();
    Ok(res)
}

/// One request, checked for success.
pub async fn one(addr: SocketAddr, t: &Template) -> Result<Bytes, String> {
    let mut sender = connect(addr).await?;
    let (status, body) = send(addr, &mut sender, t).await?;
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)))
    }
}
