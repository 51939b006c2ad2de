//! Watches (`?watch=1`): newline-delimited `{"type": …, "object": …}` events. Without a
//! `resourceVersion` (or with `0`) the current objects come first as `ADDED`, then every
//! change; with one, the changes after it (`410 Expired` when older than the event log
//! keeps). The log lives in SQLite, so a change made by any process sharing the state is
//! seen; it is polled every [`POLL`]. A watch ends at `timeoutSeconds` or at shutdown.

use super::api::Req;
use super::{handlers, status_response, KBody};
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use kube_sim_model::objects;
use kube_sim_model::{KubeError, KubeResult};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::mpsc;

pub const POLL: Duration = Duration::from_millis(100);
/// How long a watch lasts when the client names no `timeoutSeconds`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn line(kind: &str, obj: &Value) -> Bytes {
    let mut s = json!({"type": kind, "object": obj}).to_string();
    s.push('\n');
    Bytes::from(s)
}

struct Spec {
    cluster: String,
    store_key: String,
    namespace: Option<String>,
    query: Vec<(String, String)>,
}

impl Spec {
    fn wants(&self, ns: &str, obj: &Value) -> bool {
        self.namespace.as_deref().is_none_or(|n| n == ns)
            && handlers::selected_by(&self.query, obj).unwrap_or(false)
    }
}

/// The starting resourceVersion and the events to send first.
fn start(r: &Req<'_>, spec: &Spec) -> KubeResult<(i64, Vec<Bytes>)> {
    let given = r.q("resourceVersion").unwrap_or("");
    if given.is_empty() || given == "0" {
        let (items, rv) = r.shared.sim.store.read(|c| {
            Ok(objects::list(
                c,
                &spec.cluster,
                &spec.store_key,
                spec.namespace.as_deref(),
            ))
        })??;
        let first = items
            .iter()
            .filter(|o| spec.wants(o["metadata"]["namespace"].as_str().unwrap_or(""), o))
            .map(|o| line("ADDED", o))
            .collect();
        return Ok((rv, first));
    }
    let rv = given
        .parse::<i64>()
        .map_err(|_| KubeError::bad_request(format!("invalid resourceVersion {given:?}")))?;
    // Refuse a version the log no longer covers now rather than in the stream.
    r.shared
        .sim
        .store
        .read(|c| Ok(objects::events_since(c, &spec.cluster, &spec.store_key, rv)))??;
    Ok((rv, Vec::new()))
}

pub(crate) fn serve(r: &Req<'_>) -> http::Response<KBody> {
    let Some(res) = &r.info.resource else {
        return status_response(&KubeError::no_route());
    };
    let Some(kind) = kube_sim_model::resources::find(&res.group, &r.info.version, &res.resource)
        .filter(|k| !k.is_virtual())
    else {
        return status_response(&KubeError::no_route());
    };
    let spec = Spec {
        cluster: r.cluster.endpoint_id.clone(),
        store_key: kind.store_key(),
        namespace: (kind.namespaced && !res.namespace.is_empty()).then(|| res.namespace.clone()),
        query: r.query.clone(),
    };
    let (mut rv, first) = match start(r, &spec) {
        Ok(x) => x,
        Err(e) => return status_response(&e),
    };
    let timeout = r
        .q("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_TIMEOUT);
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let shared = r.shared.clone();
    let mut stop = shared.stop.clone();
    tokio::spawn(async move {
        for b in first {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = tokio::time::sleep_until(deadline) => return,
                _ = stop.wait_for(|s| *s) => return,
                _ = tx.closed() => return,
            }
            let events = shared
                .sim
                .store
                .read(|c| Ok(objects::events_since(c, &spec.cluster, &spec.store_key, rv)));
            let events = match events {
                Ok(Ok(e)) => e,
                Ok(Err(e)) => {
                    let _ = tx.send(line("ERROR", &e.status())).await;
                    return;
                }
                Err(_) => return,
            };
            for e in events {
                rv = e.rv;
                if spec.wants(&e.namespace, &e.object)
                    && tx.send(line(&e.kind, &e.object)).await.is_err()
                {
                    return;
                }
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::convert::Infallible>(Frame::data(b)), rx))
    });
    let mut resp = http::Response::new(StreamBody::new(stream).boxed());
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}
