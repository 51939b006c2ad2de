//! A stable-toolchain stand-in for the cargo-fuzz target (fuzz/): deterministic random and
//! mutated inputs through the same decoders must never panic.

use eks_sim_model::{Caller, Ctx};
use eks_sim_server::{eks, query, sigv4, wire::WireRequest};
use rand::{Rng, SeedableRng};

const SEEDS: &[&[u8]] = &[
    b"AWS4-HMAC-SHA256 Credential=ASIASIMULATEDCONVOX1/20260101/us-east-1/eks/aws4_request, SignedHeaders=host;x-amz-date, Signature=abcdef",
    b"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=A%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=00&X-Amz-Expires=60",
    b"Action=CreateRole&RoleName=x&Tags.member.1.Key=a&Tags.member.1.Value=b&Tags.member.99999999999.Key=%ZZ",
    b"/clusters/demo/access-entries/arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fops%2FConvoxAdmin",
    b"{\"principalArn\": \"arn:aws:iam::123456789012:role/x\", \"kubernetesGroups\": [1, {}], \"type\": null}",
    b"/clusters",
    b"/clusters/demo/update-config",
    b"/clusters/demo/access-entries/arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fx/access-policies",
    b"{\"name\": \"c\", \"roleArn\": 5, \"accessConfig\": {\"authenticationMode\": []}}",
];

fn mutate(rng: &mut rand::rngs::StdRng, base: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..rng.gen_range(0..8) {
        let op = rng.gen_range(0..4);
        let pos = if v.is_empty() {
            0
        } else {
            rng.gen_range(0..v.len())
        };
        match op {
            0 if !v.is_empty() => v[pos] = rng.gen(),
            1 => v.insert(pos, rng.gen()),
            2 if !v.is_empty() => {
                v.remove(pos);
            }
            _ => {
                let b = *b"%=&/,:;\0{}[]\"\\";
                v.insert(pos, b[rng.gen_range(0..b.len())]);
            }
        }
    }
    v
}

#[test]
fn decoders_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let sim = eks_sim_server::open_sim(dir.path()).unwrap();
    let ctx = Ctx {
        caller: Caller {
            account: eks_sim_model::DEFAULT_ACCOUNT.into(),
            arn: "arn:aws:sts::123456789012:assumed-role/ConvoxAdmin/convox".into(),
            principal_arn: eks_sim_model::DEFAULT_ROLE_ARN.into(),
            user_id: "AROASIMULATEDCONVOXAD:convox".into(),
        },
        region: "us-east-1".into(),
        now_ms: eks_sim_model::store::now_ms(),
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(42);
    for i in 0..4000 {
        let a = mutate(&mut rng, SEEDS[i % SEEDS.len()]);
        let b = mutate(&mut rng, SEEDS[(i / 7) % SEEDS.len()]);
        let a_str = String::from_utf8_lossy(&a).into_owned();
        let b_str = String::from_utf8_lossy(&b).into_owned();

        let mut headers = http::HeaderMap::new();
        if let Ok(v) = http::HeaderValue::from_bytes(&a) {
            headers.insert(http::header::AUTHORIZATION, v);
        }
        headers.insert(
            "x-amz-date",
            http::HeaderValue::from_static("20260101T000000Z"),
        );
        for q in [&a_str, &b_str] {
            if let Ok(parts) = sigv4::parse(&headers, q) {
                let _ = sigv4::check_time(&parts, ctx.now_ms);
                let cr = sigv4::canonical_request("GET", &b_str, q, &headers, &parts, "x");
                let _ = sigv4::string_to_sign(&parts, &cr);
            }
        }
        let p = query::Params::decode(&a_str, &b);
        // Tags (CreateRole) and a number (ListRoles' MaxItems) through the generated decoders.
        let _ = eks_sim_wire::generated::iam::CreateRoleInput::decode(&p);
        let _ = eks_sim_wire::generated::iam::ListRolesInput::decode(&p);

        for method in [http::Method::GET, http::Method::POST, http::Method::DELETE] {
            for path in [&a_str, &b_str] {
                if let Some(route) = eks::route(&method, path) {
                    let req = WireRequest {
                        method: method.clone(),
                        path: path.clone(),
                        query: query::Params::decode(&a_str, b"").0,
                        headers: http::HeaderMap::new(),
                        body: bytes::Bytes::from(b.clone()),
                    };
                    let r = eks::handle(&sim, &ctx, &route, &req);
                    assert!(r.status >= 200 && r.status < 600);
                }
            }
        }
    }
}
