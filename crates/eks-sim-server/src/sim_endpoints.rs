//! The reserved `/_sim/` endpoints (see the crate doc).

use crate::answers::json_error;
use crate::kube;
use crate::shared::Shared;
use crate::wire::WireResponse;
use eks_sim_model::SimError;

/// Body limit of the reserved `/_sim/` endpoints (settings patches are tiny).
pub(crate) const SIM_ENDPOINT_MAX_BODY: u64 = 64 * 1024;

impl Shared {
    pub(crate) fn sim_endpoint(
        &self,
        method: &http::Method,
        path: &str,
        body: &[u8],
    ) -> WireResponse {
        let ok_json = |v: serde_json::Value| WireResponse::json(200, v.to_string());
        let fail = |e: SimError| json_error(e.status, &e.code, &e.message);
        match (method.as_str(), path.trim_end_matches('/')) {
            ("GET", "requests") => ok_json(serde_json::json!(self.counts_snapshot())),
            ("GET", "answers") => ok_json(serde_json::json!(self.counts.answers())),
            ("DELETE", "requests") | ("DELETE", "answers") => {
                self.counts.clear();
                ok_json(serde_json::json!({}))
            }
            ("GET", p) if p.starts_with("kube/audit/") => kube::audit_endpoint(self, p),
            ("GET", "settings") => match self.settings() {
                Ok(s) => ok_json(serde_json::json!(*s)),
                Err(e) => fail(e),
            },
            ("POST", "settings") | ("PUT", "settings") | ("PATCH", "settings") => {
                let patch: serde_json::Value = match serde_json::from_slice(body) {
                    Ok(v) => v,
                    Err(e) => return json_error(400, "ValidationError", &format!("bad JSON: {e}")),
                };
                let r = self.sim.store.write(|tx| {
                    let cur = eks_sim_model::settings::load(tx)?;
                    let new = eks_sim_model::settings::merge(&cur, &patch)?;
                    eks_sim_model::settings::save(tx, &new)?;
                    Ok(new)
                });
                match r {
                    Ok(s) => ok_json(serde_json::json!(s)),
                    Err(e) => fail(e),
                }
            }
            ("POST", "reset") => match self.sim.store.reset() {
                Ok(()) => {
                    self.forget_keys();
                    self.faults.reset();
                    if let Some(k) = &self.kube {
                        k.audit.clear();
                    }
                    self.counts.clear();
                    ok_json(serde_json::json!({"reset": true}))
                }
                Err(e) => fail(e),
            },
            _ => json_error(
                404,
                "NotFound",
                &format!("no simulator endpoint {method} /_sim/{path}"),
            ),
        }
    }
}
