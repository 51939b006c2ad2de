//! The decoders of the Kubernetes side never panic, on mutated valid inputs (the stable
//! counterpart of `fuzz/fuzz_targets/kube.rs`): tokens, aws-auth YAML, protobuf bodies,
//! patches.

use kube_sim_model::{awsauth, patch, proto, token};
use std::collections::BTreeMap;

/// A small deterministic generator (no dependency needed for a test of this size).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(6) {
        match rng.below(3) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = rng.next() as u8;
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.truncate(i);
            }
            _ => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next() as u8);
            }
        }
    }
    v
}

#[test]
fn mutated_inputs_never_panic() {
    let seeds: &[&[u8]] = &[
        b"k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_QWN0aW9uPUdldENhbGxlcklkZW50aXR5JlZlcnNpb249MjAxMS0wNi0xNSZYLUFtei1TaWduZWRIZWFkZXJzPWhvc3QlM0J4LWs4cy1hd3MtaWQ",
        b"- rolearn: arn:aws:iam::123456789012:role/A\n  username: a\n  groups: [x, y]\n- sso: {permissionSetName: P, accountID: '123456789012'}\n  username: s\n",
        b"k8s\0\x0a\x1b\x0a\x17authorization.k8s.io/v1\x12\x00\x12\x04\x12\x02\x0a\x00",
        br#"[{"op":"add","path":"/data/x","value":"1"},{"op":"move","from":"/data/k","path":"/data/z"}]"#,
        br#"{"data":{"k":null,"n":"v"},"metadata":{"$patch":"replace","name":"a"}}"#,
    ];
    let mut rng = Rng(0x5eed_0008);
    let own = vec!["127.0.0.1:4599".to_string()];
    for round in 0..4000 {
        let data = mutate(&mut rng, seeds[round % seeds.len()]);
        let text = String::from_utf8_lossy(&data);
        let _ = token::parse(&text, "aws", &own, 1_767_225_600_000);
        let mut d = BTreeMap::new();
        d.insert("mapRoles".to_string(), text.to_string());
        d.insert("mapAccounts".to_string(), text.to_string());
        let _ = awsauth::parse(&d);
        let _ = proto::to_json(&data);
        if let Ok(p) = serde_json::from_slice::<serde_json::Value>(&data) {
            let base = serde_json::json!({"metadata": {"name": "a"}, "data": {"k": "v"}, "l": [1]});
            let (mut a, mut b, mut c) = (base.clone(), base.clone(), base);
            patch::merge(&mut a, &p);
            patch::strategic(&mut b, &p);
            let _ = patch::json_patch(&mut c, &p);
        }
    }
}
