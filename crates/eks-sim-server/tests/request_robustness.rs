//! A stable-toolchain stand-in for the `request` fuzz target (fuzz/): mutated, correctly
//! signed requests (signed with the official `aws-sigv4` crate) through the whole server —
//! HTTP, SigV4, routing, decoding, the model, the reserved endpoints — over a socket.
//! Error injection is off, so any 5xx is a bug (a caught panic or an internal error).

mod support;

use rand::{Rng, SeedableRng};
use support::{raw, sign, Signer, TestSim};

const ROLE: &str = "arn:aws:iam::123456789012:role/ops/ConvoxAdmin";
const ENC_ROLE: &str = "arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fops%2FConvoxAdmin";

/// (service, method, path, body) of valid requests; mutations start from these.
fn seeds() -> Vec<(&'static str, &'static str, String, String)> {
    let ae = "/clusters/demo/access-entries".to_string();
    vec![
        ("eks", "POST", "/clusters".into(), format!(
            r#"{{"name":"demo","roleArn":"{ROLE}","resourcesVpcConfig":{{"subnetIds":["s1","s2"]}},"accessConfig":{{"authenticationMode":"API_AND_CONFIG_MAP"}},"tags":{{"a":"b"}}}}"#)),
        ("eks", "POST", ae.clone(), format!(
            r#"{{"principalArn":"{ROLE}","kubernetesGroups":["g"],"type":"STANDARD","username":"u","tags":{{"a":"b"}}}}"#)),
        // Out of range: must be refused, not break the reads that follow.
        ("eks", "POST", "/_sim/settings".into(), r#"{"read_lag_ms":9223372036854775808}"#.into()),
        ("eks", "POST", "/_sim/settings".into(), r#"{"update_ms":18446744073709551615}"#.into()),
        ("eks", "GET", format!("{ae}?maxResults=1&nextToken=x"), String::new()),
        ("eks", "GET", ae.clone(), String::new()),
        ("eks", "GET", format!("{ae}/{ENC_ROLE}"), String::new()),
        ("eks", "POST", format!("{ae}/{ENC_ROLE}/access-policies"),
            r#"{"policyArn":"arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy","accessScope":{"type":"namespace","namespaces":["a"]}}"#.into()),
        ("eks", "POST", "/clusters/demo/update-config".into(),
            r#"{"accessConfig":{"authenticationMode":"API"},"clientRequestToken":"t"}"#.into()),
        ("eks", "POST", "/clusters/demo/node-groups".into(), format!(
            r#"{{"nodegroupName":"ng","subnets":["s"],"nodeRole":"{ROLE}","scalingConfig":{{"minSize":1}}}}"#)),
        ("eks", "POST", format!("{ae}/{ENC_ROLE}"), r#"{"kubernetesGroups":["x"],"username":"v"}"#.into()),
        ("eks", "DELETE", format!("{ae}/{ENC_ROLE}"), String::new()),
        ("eks", "GET", "/clusters/demo/updates?maxResults=5".into(), String::new()),
        ("eks", "GET", "/access-policies".into(), String::new()),
        ("eks", "POST", "/_sim/settings".into(), r#"{"read_lag_ms":0,"seed":3}"#.into()),
        ("sts", "POST", "/".into(), format!(
            "Action=AssumeRole&Version=2011-06-15&RoleArn={ENC_ROLE}&RoleSessionName=s&DurationSeconds=900")),
        ("sts", "POST", "/".into(), "Action=GetCallerIdentity&Version=2011-06-15".into()),
        ("iam", "POST", "/".into(),
            "Action=CreateRole&Version=2010-05-08&RoleName=r1&Path=%2Fa%2F&AssumeRolePolicyDocument=%7B%7D&Tags.member.1.Key=k&Tags.member.1.Value=v".into()),
        ("iam", "POST", "/".into(), "Action=ListRoles&Version=2010-05-08&PathPrefix=%2Fa%2F&MaxItems=1".into()),
        ("iam", "POST", "/".into(), "Action=CreateUser&Version=2010-05-08&UserName=u1".into()),
        ("iam", "POST", "/".into(), "Action=CreateAccessKey&Version=2010-05-08&UserName=u1".into()),
    ]
}

const SNIPPETS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "null",
    "true",
    "-1",
    "1e999",
    "\\u0000",
    "%",
    "%FF",
    "&",
    "=",
    "/",
    "..",
    "arn:aws:iam::",
    "system:",
    "aws:",
    "API",
    "CONFIG_MAP",
    "é",
    "9223372036854775808",
];

fn mutate(rng: &mut rand::rngs::StdRng, s: &str) -> String {
    let mut v: Vec<char> = s.chars().collect();
    for _ in 0..rng.gen_range(0..6) {
        let pos = if v.is_empty() {
            0
        } else {
            rng.gen_range(0..=v.len())
        };
        match rng.gen_range(0..3) {
            0 if pos < v.len() => {
                let end = (pos + rng.gen_range(1..8)).min(v.len());
                v.drain(pos..end);
            }
            1 => {
                let snip = SNIPPETS[rng.gen_range(0..SNIPPETS.len())];
                for (i, c) in snip.chars().enumerate() {
                    v.insert(pos + i, c);
                }
            }
            _ if pos < v.len() => v[pos] = char::from(rng.gen_range(0x20u8..0x7f)),
            _ => {}
        }
    }
    v.into_iter().collect()
}

/// Keeps a mutated path a valid request target (what any client would send).
fn path_safe(p: &str) -> String {
    let mut out = String::new();
    for c in p.chars() {
        if c.is_ascii_alphanumeric() || "-_.~%/:?&=+@,".contains(c) {
            out.push(c);
        } else {
            for b in c.to_string().bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    if out.starts_with('/') {
        out
    } else {
        format!("/{out}")
    }
}

#[tokio::test]
async fn mutated_signed_requests_never_get_a_5xx() {
    let t = TestSim::start().await;
    let addr = t.handle.addr();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let seeds = seeds();
    let mut by_status = std::collections::BTreeMap::<u16, u32>::new();
    for i in 0..1500 {
        let (service, method, path, body) = &seeds[i % seeds.len()];
        let (path, body) = if i < seeds.len() {
            (path.clone(), body.clone())
        } else {
            match rng.gen_range(0..3) {
                0 => (path_safe(&mutate(&mut rng, path)), body.clone()),
                1 => (path.clone(), mutate(&mut rng, body)),
                _ => (path_safe(&mutate(&mut rng, path)), mutate(&mut rng, body)),
            }
        };
        let ctype = if *service == "eks" {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        let headers = vec![("content-type".to_string(), ctype.to_string())];
        let signer = Signer::default_for(service);
        // A target the signer cannot parse is not a request a client could send.
        if http::Uri::try_from(format!("http://{addr}{path}")).is_err() {
            continue;
        }
        let (hs, pq) = sign(
            addr,
            method,
            &path,
            &headers,
            body.as_bytes(),
            &signer,
            false,
        );
        let r = raw(addr, method, &pq, &hs, body.as_bytes()).await;
        assert!(
            r.status < 500,
            "{method} {service} {path} {body:?} → {} {}",
            r.status,
            r.body
        );
        *by_status.entry(r.status).or_default() += 1;
        if path.starts_with("/_sim") {
            // Settings may have been changed (validly). Faults that fail or delay requests by
            // design are switched off again; the rest (durations, lag) stay, so that later
            // requests meet whatever a settings patch could leave behind.
            t.settings(|s| {
                s.error_rate = 0.0;
                s.throttle_rate = 0.0;
                s.latency_ms = 0;
                s.max_body_bytes = 1 << 20;
            });
        }
    }
    // The mix reached the handlers: successes and client errors both.
    assert!(
        by_status.get(&200).copied().unwrap_or(0) > 50,
        "{by_status:?}"
    );
    assert!(
        by_status.range(400..500).map(|(_, n)| n).sum::<u32>() > 300,
        "{by_status:?}"
    );
    t.handle.shutdown().await;
}
