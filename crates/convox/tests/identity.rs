//! Which identity a rack acts as: an explicit `--profile` wins over environment keys (as in
//! the AWS CLI) and must exist; `rack auth` shows the state even to callers that cannot have
//! an access entry. Through the real binary, with a HOME of its own, on the simulator.

mod common;

use std::path::Path;

use common::*;

const CAROL: &str = "arn:aws:iam::123456789012:user/carol";

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Writes the AWS config and credentials files in the home and points every command at them
/// (no IMDS); `env` is added on top.
fn aws_files(h: &mut Home, config: &str, credentials: &str, env: &[(&str, &str)]) {
    let cfg = h.path().join("aws-config");
    let cred = h.path().join("aws-credentials");
    std::fs::write(&cfg, config).expect("config");
    std::fs::write(&cred, credentials).expect("credentials");
    let fake_home = h.path().join("user-home");
    std::fs::create_dir_all(&fake_home).expect("home");
    h.env = vec![
        ("AWS_CONFIG_FILE".into(), path_str(&cfg)),
        ("AWS_SHARED_CREDENTIALS_FILE".into(), path_str(&cred)),
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("HOME".into(), path_str(&fake_home)),
    ];
    h.env
        .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
}

/// The simulator's default key pair (the ConvoxAdmin role session) in the environment, as a
/// user who ran `eval "$(convox sim env)"` earlier in the same shell has it.
fn default_keys_in_env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", eks_sim_model::DEFAULT_ACCESS_KEY_ID),
        (
            "AWS_SECRET_ACCESS_KEY",
            eks_sim_model::DEFAULT_SECRET_ACCESS_KEY,
        ),
        ("AWS_SESSION_TOKEN", eks_sim_model::DEFAULT_SESSION_TOKEN),
    ]
}

/// An IAM user `carol` with a long-term key; returns (key id, secret).
async fn make_carol(h: &Home) -> (String, String) {
    let iam = aws_sdk_iam::Client::new(&h.sdk_config("us-east-1"));
    iam.create_user()
        .user_name("carol")
        .send()
        .await
        .expect("user");
    let key = iam
        .create_access_key()
        .user_name("carol")
        .send()
        .await
        .expect("key")
        .access_key
        .expect("access key");
    (
        key.access_key_id().to_string(),
        key.secret_access_key().to_string(),
    )
}

fn carol_files(endpoint: &str, key: &str, secret: &str) -> (String, String) {
    (
        format!("[profile carol]\nregion = us-east-1\nendpoint_url = {endpoint}\n"),
        format!("[carol]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"),
    )
}

fn install_args<'a>(name: &'a str, cluster: &'a str, nodes: &'a str) -> Vec<&'a str> {
    vec![
        "rack",
        "install",
        "aws",
        name,
        "--cluster",
        cluster,
        "--region",
        "us-east-1",
        "--nodes-role-arn",
        nodes,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_profile_wins_over_environment_keys() {
    let mut h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("made", &[]);
    let endpoint = h.endpoint.clone().expect("served");
    let (key, secret) = make_carol(&h).await;
    let (cfg, cred) = carol_files(&endpoint, &key, &secret);
    aws_files(&mut h, &cfg, &cred, &default_keys_in_env());

    let nodes = nodes_role("made");
    let mut args = install_args("prod", "made", &nodes);
    args.extend(["--profile", "carol", "eks_access_entries=true"]);
    h.ok(&args);
    let got = entries(&h.eks("us-east-1"), "made").await;
    assert_eq!(
        got.get(CAROL).map(|e| e.policies.clone()),
        Some(vec![(admin_policy("aws"), "cluster".to_string())]),
        "carol gets the caller entry: {got:?}"
    );
    assert!(
        !got.contains_key(CALLER_ROLE),
        "the environment's identity got nothing: {got:?}"
    );
    // Later commands act as carol too, whatever the environment says.
    let auth = h.json(&["rack", "auth", "-r", "prod"]);
    assert_eq!(auth["caller"]["principal_arn"], CAROL, "{auth}");
    assert_eq!(auth["converged"], true, "{auth}");
    let info = h.json(&["rack", "-r", "prod"]);
    assert_eq!(info["history"][0]["actor"], CAROL, "{info}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_profile_is_refused_at_install_and_when_it_vanishes() {
    let mut h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("made", &[]);
    let endpoint = h.endpoint.clone().expect("served");
    let (key, secret) = make_carol(&h).await;
    let (cfg, cred) = carol_files(&endpoint, &key, &secret);
    // Working keys in the environment must not make an unknown profile acceptable.
    aws_files(&mut h, &cfg, &cred, &default_keys_in_env());
    let nodes = nodes_role("made");

    let mut args = install_args("nope", "made", &nodes);
    args.extend(["--profile", "nope", "eks_access_entries=true"]);
    let (r, calls) = h.counted(&args);
    let err = r.error_line(&args);
    assert!(
        err.starts_with("ERROR: The config profile (nope) could not be found"),
        "{err}"
    );
    assert!(calls.is_empty(), "nothing called: {calls:?}");
    assert_eq!(h.json(&["racks"]).as_array().map(Vec::len), Some(1));
    assert_eq!(mode(&h.eks("us-east-1"), "made").await, "CONFIG_MAP");

    // A stored profile removed from the files later: the same one line, nothing changed.
    let mut args = install_args("prod", "made", &nodes);
    args.extend(["--profile", "carol"]);
    h.ok(&args);
    std::fs::write(h.path().join("aws-config"), "").expect("config");
    std::fs::write(h.path().join("aws-credentials"), "").expect("credentials");
    let before = h.json(&["rack", "-r", "prod"]);
    for args in [
        vec!["rack", "auth", "-r", "prod"],
        set_args("prod"),
        vec!["rack", "update", "-r", "prod"],
    ] {
        let (r, calls) = h.counted(&args);
        let err = r.error_line(&args);
        assert!(
            err.starts_with("ERROR: The config profile (carol) could not be found"),
            "{args:?}: {err}"
        );
        assert!(calls.is_empty(), "{args:?}: nothing called: {calls:?}");
    }
    assert_eq!(h.json(&["rack", "-r", "prod"]), before);
    assert_eq!(mode(&h.eks("us-east-1"), "made").await, "CONFIG_MAP");
}
