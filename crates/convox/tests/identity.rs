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

/// `convox {args}` as the identity of the given keys (a local rack's key pair overridden);
/// returns the run and the calls it made.
fn run_as(
    h: &Home,
    args: &[&str],
    key: &str,
    secret: &str,
    token: Option<&str>,
) -> (Run, std::collections::BTreeMap<String, u64>) {
    let file = h.path().join("calls-as.json");
    let _ = std::fs::remove_file(&file);
    let mut c = h.cmd(args);
    c.env("CONVOX_SIM_ACCESS_KEY_ID", key)
        .env("CONVOX_SIM_SECRET_ACCESS_KEY", secret)
        .env("CONVOX_CALLS_FILE", &file);
    match token {
        Some(t) => c.env("CONVOX_SIM_SESSION_TOKEN", t),
        None => c.env_remove("CONVOX_SIM_SESSION_TOKEN"),
    };
    let r: Run = c.output().expect("run").into();
    (r, read_calls(&file))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rack_auth_shows_root_and_federated_callers_the_state_and_why_they_have_no_entry() {
    let h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("who", &["eks_access_entries=true"]);
    // A federated user: an IAM user's long-term key → GetFederationToken.
    let cfg = h.sdk_config("us-east-1");
    let iam = aws_sdk_iam::Client::new(&cfg);
    iam.create_user()
        .user_name("fed-source")
        .send()
        .await
        .expect("user");
    let key = iam
        .create_access_key()
        .user_name("fed-source")
        .send()
        .await
        .expect("key")
        .access_key
        .expect("access key");
    let user_cfg = h.sdk_config_with(
        "us-east-1",
        aws_credential_types::Credentials::new(
            key.access_key_id(),
            key.secret_access_key(),
            None,
            None,
            "test",
        ),
    );
    let fed = aws_sdk_sts::Client::new(&user_cfg)
        .get_federation_token()
        .name("bob")
        .send()
        .await
        .expect("federation token");
    let fc = fed.credentials().expect("credentials");

    let root = (
        eks_sim_model::ROOT_ACCESS_KEY_ID,
        eks_sim_model::ROOT_SECRET_ACCESS_KEY,
        None,
        "arn:aws:iam::123456789012:root",
        "root user",
    );
    let federated = (
        fc.access_key_id(),
        fc.secret_access_key(),
        Some(fc.session_token()),
        "arn:aws:sts::123456789012:federated-user/bob",
        "federated user",
    );
    for (key, secret, token, arn, what) in [root, federated] {
        let (r, calls) = run_as(&h, &["rack", "auth", "-r", "who"], key, secret, token);
        assert!(r.status.success(), "{arn}: {}", r.stderr);
        assert_eq!(mutating(&calls), 0, "{calls:?}");
        let caller = r
            .stdout
            .lines()
            .find(|l| l.starts_with("Caller"))
            .unwrap_or_default();
        assert!(caller.contains(arn), "{}", r.stdout);
        assert!(caller.contains(what), "{}", r.stdout);
        assert!(
            caller.contains("cannot be an EKS access entry principal"),
            "{caller}"
        );
        assert!(r.stdout.contains("API_AND_CONFIG_MAP"), "{}", r.stdout);
        // The entries are shown (the rack's caller and nodes entries).
        assert!(r.stdout.contains(CALLER_ROLE), "{}", r.stdout);
        assert!(r.stdout.contains(&nodes_role("who")), "{}", r.stdout);
        assert!(
            r.stdout.contains("Drift: none"),
            "the rack's entries are in place: {}",
            r.stdout
        );
        assert!(!r.stdout.contains(secret) && !r.stderr.contains(secret));

        let (r, _) = run_as(
            &h,
            &["rack", "auth", "-r", "who", "--output", "json"],
            key,
            secret,
            token,
        );
        assert!(r.status.success(), "{}", r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
        assert_eq!(v["caller"]["arn"], arn, "{v}");
        assert!(v["caller"]["principal_arn"].is_null(), "{v}");
        assert!(
            v["caller"]["no_entry"]
                .as_str()
                .is_some_and(|s| s.contains(what)),
            "{v}"
        );
        assert_eq!(v["entries"].as_array().map(Vec::len), Some(2), "{v}");
        assert_eq!(v["converged"], true, "{v}");
    }
}
