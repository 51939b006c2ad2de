//! The Kubernetes side's decoders must never panic on any input: bearer tokens (the
//! authenticator's checks), aws-auth's YAML, protobuf request bodies, PATCH bodies applied
//! to an object, request paths.
//!
//! Run: `cargo +nightly fuzz run kube` from the repository root.
#![no_main]

use kube_sim_model::{awsauth, patch, proto, token};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let own = vec!["127.0.0.1:4599".to_string()];
    let _ = token::parse(&text, "aws", &own, 1_767_225_600_000);
    let _ = token::parse(&format!("{}{text}", token::PREFIX), "aws-cn", &own, 0);
    let mut d = BTreeMap::new();
    for k in ["mapRoles", "mapUsers", "mapAccounts"] {
        d.insert(k.to_string(), text.to_string());
    }
    let _ = awsauth::parse(&d);
    let _ = proto::to_json(data);
    let mut framed = proto::MAGIC.to_vec();
    framed.extend_from_slice(data);
    let _ = proto::to_json(&framed);
    if let Ok(p) = serde_json::from_slice::<serde_json::Value>(data) {
        let base = serde_json::json!({"metadata": {"name": "a"}, "data": {"k": "v"}, "list": [1, 2]});
        let mut a = base.clone();
        patch::merge(&mut a, &p);
        let mut b = base.clone();
        patch::strategic(&mut b, &p);
        let mut c = base;
        let _ = patch::json_patch(&mut c, &p);
        let _ = kube_sim_model::validate::check("ConfigMap", &a);
    }
});
