//! Request decoding must never panic: SigV4 parsing and canonicalisation, query/form
//! decoding of the query protocol, and EKS rest-json routing and body decoding.
//!
//! Run: `cargo +nightly fuzz run decode` from the repository root.
#![no_main]

use eks_sim_model::{Caller, Ctx, Sim};
use eks_sim_server::{eks, query, sigv4, wire::WireRequest};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// One state shared by all runs (a temp dir that lives as long as the fuzzer).
fn sim() -> &'static Sim {
    static SIM: OnceLock<(tempdir::Dir, Sim)> = OnceLock::new();
    &SIM.get_or_init(|| {
        let dir = tempdir::Dir::new();
        let store = eks_sim_model::Store::open(&dir.0.join("sim.db")).expect("state");
        (dir, Sim::new(store))
    })
    .1
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Dir {
            let p = std::env::temp_dir().join(format!("eks-sim-fuzz-{}", std::process::id()));
            std::fs::create_dir_all(&p).expect("temp dir");
            Dir(p)
        }
    }
}

fn ctx() -> Ctx {
    Ctx {
        caller: Caller {
            account: eks_sim_model::DEFAULT_ACCOUNT.into(),
            arn: "arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/convox".into(),
            principal_arn: eks_sim_model::DEFAULT_ROLE_ARN.into(),
            user_id: "AROASIMULATEDCONVOXAD:convox".into(),
        },
        region: "us-east-1".into(),
        now_ms: 1_700_000_000_000,
    }
}

/// Splits the input at the first few NUL bytes into fields.
fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == 0).collect();
    while out.len() < n {
        out.push(b"");
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            // SigV4: Authorization header / presigned query parsing and canonicalisation.
            let f = fields(rest, 4);
            let mut headers = http::HeaderMap::new();
            if let Ok(v) = http::HeaderValue::from_bytes(f[0]) {
                headers.insert(http::header::AUTHORIZATION, v);
            }
            if let Ok(v) = http::HeaderValue::from_bytes(f[1]) {
                headers.insert("x-amz-date", v);
            }
            let q = String::from_utf8_lossy(f[2]);
            let path = String::from_utf8_lossy(f[3]);
            if let Ok(parts) = sigv4::parse(&headers, &q) {
                let _ = sigv4::check_time(&parts, 1_700_000_000_000);
                let cr = sigv4::canonical_request("GET", &path, &q, &headers, &parts, "x");
                let _ = sigv4::string_to_sign(&parts, &cr);
            }
        }
        1 => {
            // Query protocol: form/query decoding and tag lists.
            let f = fields(rest, 2);
            let p = query::Params::decode(&String::from_utf8_lossy(f[0]), f[1]);
            let _ = eks_sim_wire::generated::iam::CreateRoleInput::decode(&p);
            let _ = eks_sim_wire::generated::iam::ListRolesInput::decode(&p);
        }
        _ => {
            // EKS rest-json: route + handle with an arbitrary path, query and body.
            let f = fields(rest, 4);
            let method = match f[0].first().copied().unwrap_or(0) % 4 {
                0 => http::Method::GET,
                1 => http::Method::POST,
                2 => http::Method::DELETE,
                _ => http::Method::PUT,
            };
            let path = String::from_utf8_lossy(f[1]).into_owned();
            if let Some(route) = eks::route(&method, &path) {
                let req = WireRequest {
                    method,
                    path,
                    query: query::Params::decode(&String::from_utf8_lossy(f[2]), b"").0,
                    headers: http::HeaderMap::new(),
                    body: bytes::Bytes::copy_from_slice(f[3]),
                };
                let _ = eks::handle(sim(), &ctx(), &route, &req);
            }
        }
    }
});
