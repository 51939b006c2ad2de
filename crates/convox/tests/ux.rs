//! The product as a user meets it: every error path of issue 3 gives one `ERROR:` line that
//! says what to do and changes nothing; JSON output is valid and stable; secrets are never
//! printed; flags go where users put them. Through the real binary, on the simulator.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;

const SSO_PATH: &str = "/aws-reserved/sso.amazonaws.com/eu-west-1/";
const SSO_ROLE: &str = "AWSReservedSSO_AdministratorAccess_0123456789abcdef";
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#;

/// Static credentials for the test's own SDK clients.
fn creds(key: &str, secret: &str, token: Option<&str>) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(key, secret, token.map(str::to_string), None, "test")
}

/// Keys of a JSON object, sorted.
fn keys(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

/// What a refused command must leave alone: the rack's record, parameters and history, and
/// the cluster's mode.
fn rack_state(h: &Home, rack: &str) -> (serde_json::Value, serde_json::Value) {
    (
        h.json(&["rack", "-r", rack]),
        h.json(&["rack", "params", "-r", rack]),
    )
}

/// Runs with an identity given by key (embedded/served simulator) and returns the one ERROR
/// line and the calls made.
fn fails_as(
    h: &Home,
    args: &[&str],
    key: &str,
    secret: &str,
    token: Option<&str>,
) -> (String, std::collections::BTreeMap<String, u64>) {
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
    (r.error_line(args), read_calls(&file))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_and_federated_callers_are_refused_and_nothing_changes() {
    let h = Home::served(&[]);
    h.install("who", &[]);
    let before = rack_state(&h, "who");
    let set = set_args("who");

    // The account's root user (the simulator's documented root key pair).
    let (err, calls) = fails_as(
        &h,
        &set,
        eks_sim_model::ROOT_ACCESS_KEY_ID,
        eks_sim_model::ROOT_SECRET_ACCESS_KEY,
        None,
    );
    assert!(err.contains("arn:aws:iam::123456789012:root"), "{err}");
    assert!(err.contains("root user"), "{err}");
    assert!(err.contains("IAM role"), "{err}");
    assert_eq!(mutating(&calls), 0, "{calls:?}");

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
        creds(key.access_key_id(), key.secret_access_key(), None),
    );
    let fed = aws_sdk_sts::Client::new(&user_cfg)
        .get_federation_token()
        .name("bob")
        .send()
        .await
        .expect("federation token");
    assert_eq!(
        fed.federated_user().map(|u| u.arn()),
        Some("arn:aws:sts::123456789012:federated-user/bob")
    );
    let c = fed.credentials().expect("credentials");
    let (err, calls) = fails_as(
        &h,
        &set,
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token()),
    );
    assert!(err.contains("federated-user/bob"), "{err}");
    assert!(err.contains("federated user"), "{err}");
    assert_eq!(mutating(&calls), 0, "{calls:?}");
    // The secret of the identity in use is never printed.
    assert!(!err.contains(c.secret_access_key()));

    assert_eq!(rack_state(&h, "who"), before);
    assert_eq!(mode(&h.eks("us-east-1"), "who").await, "CONFIG_MAP");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_session_says_to_refresh_and_changes_nothing() {
    let h = Home::served(&[]);
    h.install("late", &[]);
    let before = rack_state(&h, "late");
    let iam = aws_sdk_iam::Client::new(&h.sdk_config("us-east-1"));
    iam.create_role()
        .role_name("Short")
        .path("/ops/")
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .expect("role");
    let out = aws_sdk_sts::Client::new(&h.sdk_config("us-east-1"))
        .assume_role()
        .role_arn("arn:aws:iam::123456789012:role/ops/Short")
        .role_session_name("late")
        .send()
        .await
        .expect("assume");
    let c = out.credentials().expect("credentials");
    // Age the session past its expiry in the state file. The served simulator may have
    // cached the key, so the command below uses the embedded one (a fresh process).
    let store = eks_sim_model::Store::open(&h.path().join("sim.db")).expect("sim store");
    store
        .write(|tx| {
            tx.execute(
                "UPDATE sts_keys SET expires_ms = 1 WHERE access_key_id = ?1",
                [c.access_key_id()],
            )?;
            Ok(())
        })
        .expect("expire");
    let file = h.path().join("calls-late.json");
    let mut cmd = h.cmd(&set_args("late"));
    cmd.env_remove("CONVOX_SIM_ENDPOINT")
        .env_remove("CONVOX_LOG")
        .env_remove("RUST_LOG")
        .env("CONVOX_SIM_ACCESS_KEY_ID", c.access_key_id())
        .env("CONVOX_SIM_SECRET_ACCESS_KEY", c.secret_access_key())
        .env("CONVOX_SIM_SESSION_TOKEN", c.session_token())
        .env("CONVOX_CALLS_FILE", &file);
    let r: Run = cmd.output().expect("run").into();
    assert!(!r.status.success());
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "only the ERROR line: {}", r.stderr);
    assert!(lines[0].starts_with("ERROR: "), "{}", r.stderr);
    assert!(lines[0].contains("have expired"), "{}", lines[0]);
    assert!(lines[0].contains("aws sso login"), "{}", lines[0]);
    assert!(!r.stderr.contains(c.secret_access_key()));
    assert!(!r.stderr.contains(c.session_token()));
    assert_eq!(rack_state(&h, "late"), before);
    assert_eq!(mode(&h.eks("us-east-1"), "late").await, "CONFIG_MAP");
}

/// An AWS config dir for `aws` racks: AWS_CONFIG_FILE / AWS_SHARED_CREDENTIALS_FILE in the
/// home, no IMDS, no environment credentials.
fn aws_env(h: &mut Home, config: &str, credentials: &str) {
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
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `convox` for an `aws` rack, with no AWS_* variables but those of `h.env`.
fn aws_cmd(h: &Home, args: &[&str]) -> Run {
    let mut c = h.cmd(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") {
            c.env_remove(&k);
        }
    }
    for (k, v) in &h.env {
        c.env(k, v);
    }
    // The default log filter, as a user has it.
    c.env_remove("CONVOX_LOG").env_remove("RUST_LOG");
    c.output().expect("run").into()
}

fn one_error(r: &Run) -> String {
    assert!(!r.status.success(), "should fail: {}", r.stdout);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line on stderr: {}", r.stderr);
    assert!(lines[0].starts_with("ERROR: "), "{}", r.stderr);
    lines[0].to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_rack_error_paths_are_one_line_and_record_nothing() {
    let mut h = Home::served(&[]);
    h.install("made", &[]);
    let endpoint = h.endpoint.clone().expect("served");
    let nodes = nodes_role("made");
    let install = |name: &str, cluster: &str, region: &str, extra: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = [
            "rack",
            "install",
            "aws",
            name,
            "--cluster",
            cluster,
            "--region",
            region,
            "--nodes-role-arn",
            &nodes,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let run = |h: &Home, a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        aws_cmd(h, &a)
    };
    let sso_cfg = format!(
        "[profile sso-user]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Admin\nregion = us-east-1\nendpoint_url = {endpoint}\n\n[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\nsso_region = eu-west-1\n\n[profile keys]\nregion = us-east-1\nendpoint_url = {endpoint}\n"
    );
    let keys_cred = format!(
        "[keys]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
        eks_sim_model::DEFAULT_ACCESS_KEY_ID,
        eks_sim_model::DEFAULT_SECRET_ACCESS_KEY,
        eks_sim_model::DEFAULT_SESSION_TOKEN
    );
    aws_env(&mut h, &sso_cfg, &keys_cred);

    // No credentials anywhere in the chain: the verdict, not the SDK's list of providers,
    // and none of the SDK's warnings.
    let err = one_error(&run(&h, install("a1", "made", "us-east-1", &[])));
    assert!(err.contains("no AWS credentials found"), "{err}");
    assert!(err.contains("aws configure"), "{err}");
    // A profile that does not exist.
    let err = one_error(&run(
        &h,
        install("a2", "made", "us-east-1", &["--profile", "nosuch"]),
    ));
    assert!(err.contains("AWS profile `nosuch` is not defined"), "{err}");
    // An SSO profile never logged in.
    let err = one_error(&run(
        &h,
        install("a3", "made", "us-east-1", &["--profile", "sso-user"]),
    ));
    assert!(err.contains("aws sso login --profile sso-user"), "{err}");
    // Unreachable endpoint (AWS_ENDPOINT_URL wins over the profile's endpoint_url).
    let mut h2_env = h.env.clone();
    h2_env.push(("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into()));
    let saved = std::mem::replace(&mut h.env, h2_env);
    let err = one_error(&run(
        &h,
        install("a4", "made", "us-east-1", &["--profile", "keys"]),
    ));
    h.env = saved;
    assert!(err.contains("cannot reach http://127.0.0.1:9"), "{err}");
    assert!(err.contains("AWS_ENDPOINT_URL"), "{err}");
    assert!(
        !err.contains("convox sim serve"),
        "not a simulator rack: {err}"
    );
    // The cluster is in us-east-1, the rack says eu-west-1.
    let err = one_error(&run(
        &h,
        install("a5", "made", "eu-west-1", &["--profile", "keys"]),
    ));
    assert!(err.contains("cluster made not found in eu-west-1"), "{err}");
    // A cluster that does not exist.
    let err = one_error(&run(
        &h,
        install("a6", "ghost", "us-east-1", &["--profile", "keys"]),
    ));
    assert!(
        err.contains("cluster ghost not found in us-east-1"),
        "{err}"
    );

    // Node roles EKS could not take: malformed, another partition, another account.
    for (arn, region, says) in [
        (
            "arn:aws:iam::123456789012:user/nodes",
            "us-east-1",
            "invalid role ARN",
        ),
        (
            "arn:aws:iam::1234:role/nodes",
            "us-east-1",
            "invalid role ARN",
        ),
        ("nodes", "us-east-1", "invalid role ARN"),
        (
            "arn:aws:iam::123456789012:role/nodes",
            "cn-north-1",
            "partition aws, but region cn-north-1 is in aws-cn",
        ),
        (
            "arn:aws:iam::111122223333:role/nodes",
            "us-east-1",
            "in account 111122223333, but the credentials",
        ),
    ] {
        let a = vec![
            "rack",
            "install",
            "aws",
            "a8",
            "--cluster",
            "made",
            "--region",
            region,
            "--nodes-role-arn",
            arn,
            "--profile",
            "keys",
        ];
        let err = one_error(&aws_cmd(&h, &a));
        assert!(err.contains(says), "{arn}: {err}");
    }

    // Nothing was recorded by any of them; the cluster was not touched.
    let racks = h.json(&["racks"]);
    assert_eq!(racks.as_array().map(Vec::len), Some(1), "{racks}");
    assert_eq!(mode(&h.eks("us-east-1"), "made").await, "CONFIG_MAP");

    // And the working profile adopts the cluster.
    let r = run(
        &h,
        install("a7", "made", "us-east-1", &["--profile", "keys"]),
    );
    assert!(r.status.success(), "{}", r.stderr);
    // Uninstalling an adopted rack forgets it and leaves the cluster alone, and says so.
    let r = h.run(&["rack", "uninstall", "a7"]);
    assert!(r.status.success(), "{}", r.stderr);
    assert!(r.stderr.contains("left as they are"), "{}", r.stderr);
    assert_eq!(mode(&h.eks("us-east-1"), "made").await, "CONFIG_MAP");
    assert!(h
        .eks("us-east-1")
        .describe_cluster()
        .name("made")
        .send()
        .await
        .is_ok());
    // Unknown rack.
    let r: Run = h.run(&["rack", "auth", "-r", "nope"]);
    let err = one_error(&r);
    assert!(err.contains("no rack named nope"), "{err}");
    assert!(err.contains("convox racks"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sso_role_with_a_path_through_a_profile_gets_its_entry() {
    let mut h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("sso", &[]);
    let endpoint = h.endpoint.clone().expect("served");
    let cfg = h.sdk_config("us-east-1");
    aws_sdk_iam::Client::new(&cfg)
        .create_role()
        .role_name(SSO_ROLE)
        .path(SSO_PATH)
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .expect("role");
    let role_arn = format!("arn:aws:iam::123456789012:role{SSO_PATH}{SSO_ROLE}");
    let out = aws_sdk_sts::Client::new(&cfg)
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("alice@example.com")
        .send()
        .await
        .expect("assume");
    let c = out.credentials().expect("credentials");
    aws_env(
        &mut h,
        &format!("[profile sso-admin]\nregion = us-east-1\nendpoint_url = {endpoint}\n"),
        &format!(
            "[sso-admin]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            c.access_key_id(),
            c.secret_access_key(),
            c.session_token()
        ),
    );
    let nodes = nodes_role("sso");
    let r = aws_cmd(
        &h,
        &[
            "rack",
            "install",
            "aws",
            "prod",
            "--cluster",
            "sso",
            "--region",
            "us-east-1",
            "--nodes-role-arn",
            &nodes,
            "--profile",
            "sso-admin",
            "eks_access_entries=true",
        ],
    );
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "Installing rack prod... OK\nSetting parameters... OK\n"
    );
    let got = entries(&h.eks("us-east-1"), "sso").await;
    assert_eq!(
        got.get(&role_arn).map(|e| e.policies.clone()),
        Some(vec![(admin_policy("aws"), "cluster".to_string())]),
        "{got:?}"
    );
    // The profile is the rack's: later commands find the same identity without --profile.
    let r = aws_cmd(&h, &["rack", "auth", "-r", "prod", "--output", "json"]);
    assert!(r.status.success(), "{}", r.stderr);
    let auth: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(auth["caller"]["principal_arn"], role_arn.as_str());
    let info = aws_cmd(&h, &["rack", "-r", "prod"]);
    assert!(
        info.stdout
            .lines()
            .any(|l| l.starts_with("AWS profile") && l.ends_with("sso-admin")),
        "{}",
        info.stdout
    );
    assert_eq!(auth["converged"], true);
    // No secret of the profile ever reaches the output.
    for text in [&r.stdout, &r.stderr] {
        assert!(!text.contains(c.secret_access_key()));
        assert!(!text.contains(c.session_token()));
    }
}

#[test]
fn json_outputs_are_valid_and_stable() {
    let h = Home::new(&[]);
    h.install("js", &[]);
    let racks = h.json(&["racks"]);
    assert_eq!(
        keys(&racks[0]),
        set(&["current", "name", "provider", "status", "version"])
    );
    let rack = h.json(&["rack", "-r", "js"]);
    assert_eq!(
        keys(&rack),
        set(&[
            "cluster",
            "created_at",
            "history",
            "inactive_params",
            "karpenter_nodes_role_arn",
            "last_error",
            "name",
            "nodes_role_arn",
            "profile",
            "provider",
            "region",
            "status",
            "updated_at",
            "version"
        ])
    );
    let params = h.json(&["rack", "params", "-r", "js"]);
    assert_eq!(params["eks_access_entries"], "false");
    assert!(params
        .as_object()
        .is_some_and(|o| o.values().all(|v| v.is_string())));
    // Same answer twice, and -r before the subcommand is the same rack.
    assert_eq!(h.json(&["rack", "-r", "js", "params"]), params);
    let dry = h.json(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "docker_hub_password=hunter2",
        "--dry-run",
        "-r",
        "js",
    ]);
    assert_eq!(
        keys(&dry),
        set(&[
            "auth_mode",
            "changes",
            "cluster",
            "conflicts",
            "drift",
            "dry_run",
            "rack",
            "steps"
        ])
    );
    // Sensitive values never appear in a plan.
    assert!(!dry.to_string().contains("hunter2"), "{dry}");
    let auth = h.json(&["rack", "auth", "-r", "js"]);
    assert_eq!(
        keys(&auth),
        set(&[
            "auth_mode",
            "caller",
            "cluster",
            "cluster_status",
            "conflicts",
            "converged",
            "drift",
            "entries",
            "inactive_params",
            "kubernetes",
            "rack",
            "region",
            "table_row"
        ])
    );
    // The Kubernetes side, read with the caller's own token from the embedded simulator.
    assert_eq!(
        keys(&auth["kubernetes"]),
        set(&[
            "aws_auth",
            "identities",
            "map_accounts",
            "mappings",
            "scenarios",
            "unknown_reason",
            "warnings"
        ])
    );
    assert_eq!(auth["kubernetes"]["aws_auth"], "present", "{auth}");
    let cfg = h.json(&["sim", "config"]);
    assert!(cfg.get("update_ms").is_some_and(|v| v.is_u64()), "{cfg}");
    // Nothing was changed by the dry run.
    assert_eq!(h.json(&["rack", "params", "-r", "js"]), params);
}

#[test]
fn secrets_are_masked_and_sim_env_prints_only_the_documented_keys() {
    let h = Home::new(&[]);
    h.install("sec", &["docker_hub_password=hunter2"]);
    // Dry run (text), the listing, the rack's history: masked.
    let plan = h.ok(&[
        "rack",
        "params",
        "set",
        "docker_hub_password=swordfish",
        "--dry-run",
        "-r",
        "sec",
    ]);
    assert!(
        plan.contains("set docker_hub_password **** -> ****"),
        "{plan}"
    );
    assert!(
        !plan.contains("swordfish") && !plan.contains("hunter2"),
        "{plan}"
    );
    let listing = h.ok(&["rack", "params", "-r", "sec"]);
    assert!(!listing.contains("hunter2"), "{listing}");
    let info = h.ok(&["rack", "-r", "sec"]);
    assert!(!info.contains("hunter2"), "{info}");
    // History in words, not raw JSON; times to the second.
    assert!(
        info.contains(
            "local rack, cluster sec (us-east-1), version 3.24.7, docker_hub_password=****"
        ),
        "{info}"
    );
    assert!(!info.contains("{\""), "{info}");
    let when = info
        .lines()
        .find(|l| l.starts_with("20"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default();
    assert!(when.ends_with('Z') && !when.contains('.'), "{when}");
    // --reveal shows it.
    let revealed = h.ok(&["rack", "params", "-g", "registry", "--reveal", "-r", "sec"]);
    assert!(
        revealed.contains("docker_hub_password  hunter2"),
        "{revealed}"
    );

    let env = h.ok(&["sim", "env"]);
    let names: Vec<&str> = env
        .lines()
        .map(|l| {
            l.strip_prefix("export ")
                .and_then(|l| l.split_once('='))
                .map(|(k, _)| k)
                .unwrap_or_else(|| panic!("not an export line: {l}"))
        })
        .collect();
    assert_eq!(
        names,
        [
            "AWS_ENDPOINT_URL",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_REGION",
            "AWS_REGION"
        ]
    );
    // The keys are the simulator's documented defaults, never anything from the
    // environment (e.g. real AWS credentials of the user).
    let out = h
        .cmd(&["sim", "env"])
        .env("AWS_ACCESS_KEY_ID", "AKIAREALUSERKEY00000")
        .env("AWS_SECRET_ACCESS_KEY", "real/secret/of/the/user")
        .output()
        .expect("run");
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains(&format!(
        "export AWS_ACCESS_KEY_ID={}",
        eks_sim_model::DEFAULT_ACCESS_KEY_ID
    )));
    assert!(
        !s.contains("AKIAREALUSERKEY00000") && !s.contains("real/secret"),
        "{s}"
    );
}

#[test]
fn params_listing_matches_the_reference_shape() {
    let h = Home::new(&[]);
    h.install("ls", &[]);
    let out = h.ok(&["rack", "params", "-r", "ls"]);
    let lines: Vec<&str> = out.lines().collect();
    // Sorted keys, two columns separated by at least two blanks, values aligned, no
    // trailing blanks.
    let mut sorted: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap_or_default())
        .collect();
    let before = sorted.clone();
    sorted.sort_unstable();
    assert_eq!(before, sorted);
    let col = lines
        .iter()
        .filter(|l| l.split_whitespace().count() == 2)
        .map(|l| l.len() - l.split_whitespace().nth(1).unwrap_or_default().len())
        .collect::<BTreeSet<_>>();
    assert_eq!(col.len(), 1, "values start in one column: {out}");
    for l in &lines {
        assert_eq!(l.trim_end(), *l, "trailing blanks in {l:?}");
    }
    assert!(out.contains("eks_access_entries        false\n"), "{out}");
    // Only the group; an unknown group names the known ones.
    let g = h.ok(&["rack", "params", "-g", "auth", "-r", "ls"]);
    assert_eq!(
        g,
        "eks_access_entries   false\nkarpenter_auth_mode  false\n"
    );
    assert_eq!(h.ok(&["rack", "params", "-g", "AUTH", "-r", "ls"]), g);
    let err = h.fails(&["rack", "params", "-g", "nope", "-r", "ls"]);
    assert!(err.contains("auth") && err.contains("registry"), "{err}");
}

#[test]
fn switch_and_rack_flags_where_users_put_them() {
    let h = Home::new(&[]);
    let err = h.fails(&["switch"]);
    assert!(err.contains("no current rack"), "{err}");
    let err = h.fails(&["rack", "params"]);
    assert!(err.contains("no racks yet"), "{err}");
    assert!(err.contains("convox rack install local NAME"), "{err}");
    h.install("one", &[]);
    h.install("two", &[]);
    // Racks exist but none is chosen.
    let err = h.fails(&["rack", "params"]);
    assert!(err.contains("no rack selected"), "{err}");
    h.ok(&["switch", "one"]);
    assert_eq!(h.ok(&["switch"]), "one\n");
    // -r before or after the subcommand; the innermost wins.
    assert_eq!(h.json(&["rack", "-r", "two"])["name"], "two");
    assert_eq!(h.json(&["rack", "-r", "two", "auth"])["rack"], "two");
    assert_eq!(h.json(&["rack", "auth", "-r", "two"])["rack"], "two");
    assert_eq!(
        h.json(&["rack", "-r", "one", "auth", "-r", "two"])["rack"],
        "two"
    );
    assert_eq!(h.json(&["rack", "auth"])["rack"], "one");
    // $CONVOX_RACK beats `switch`; a bad one is named as such.
    let r: Run = h
        .cmd(&["rack", "--output", "json"])
        .env("CONVOX_RACK", "two")
        .output()
        .expect("run")
        .into();
    assert!(r.stdout.contains("\"name\": \"two\""), "{}", r.stdout);
    let r: Run = h
        .cmd(&["rack", "params"])
        .env("CONVOX_RACK", "nope")
        .output()
        .expect("run")
        .into();
    let err = one_error(&r);
    assert!(
        err.contains("no rack named nope (chosen by $CONVOX_RACK)"),
        "{err}"
    );
    // Misplaced flags are refused, not ignored.
    let err = h.fails(&["rack", "-r", "one", "install", "local", "three"]);
    assert!(err.contains("NAME"), "{err}");
    assert!(!h
        .run(&["rack", "update", "--output", "json"])
        .status
        .success());
    let err = h.fails(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "--output",
        "json",
    ]);
    assert!(err.contains("--dry-run"), "{err}");
    assert_eq!(h.json(&["racks"]).as_array().map(Vec::len), Some(2));
    // Exit codes: usage errors 2, failures 1, success 0.
    assert_eq!(h.run(&["rack", "nosuchcommand"]).status.code(), Some(2));
    assert_eq!(
        h.run(&["rack", "auth", "-r", "nope"]).status.code(),
        Some(1)
    );
    assert_eq!(h.run(&["racks"]).status.code(), Some(0));
}

#[test]
fn rack_auth_names_each_entry_by_its_part_for_the_rack() {
    // Defaults as in AWS: EKS makes the node group's entry itself when the API is enabled.
    let h = Home::new(&["auto_node_entries=true"]);
    h.install("parts", &["karpenter_auth_mode=true"]);
    let auth = h.json(&["rack", "auth", "-r", "parts"]);
    let by_arn = |arn: &str| {
        auth["entries"]
            .as_array()
            .and_then(|es| es.iter().find(|e| e["principal_arn"] == arn))
            .cloned()
            .unwrap_or_else(|| panic!("no entry for {arn}: {auth}"))
    };
    // The nodes role's entry is the rack's nodes entry even though eks_access_entries=false
    // does not require it; EKS made it, so the rack does not manage it.
    let nodes = by_arn(&nodes_role("parts"));
    assert_eq!(nodes["rack_role"], "nodes");
    assert_eq!(nodes["managed_by_rack"], false);
    let karpenter = by_arn(&karpenter_role("parts"));
    assert_eq!(karpenter["rack_role"], "karpenter-nodes");
    assert_eq!(karpenter["managed_by_rack"], true);
    let text = h.ok(&["rack", "auth", "-r", "parts"]);
    assert!(text.contains("MANAGED: created by rack parts"), "{text}");
    assert!(
        text.contains(
            "auth mode switch: yes, Karpenter node entry: yes, caller entry: no, nodes entry: no"
        ),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_rack_never_takes_over_or_deletes_a_cluster_it_did_not_make() {
    let h = Home::served(&[]);
    let eks = h.eks("us-east-1");
    // Someone else's cluster, same name as the rack about to be installed.
    eks.create_cluster()
        .name("theirs")
        .role_arn("arn:aws:iam::123456789012:role/ops/ConvoxAdmin")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-1")
                .subnet_ids("subnet-2")
                .build(),
        )
        .send()
        .await
        .expect("create cluster");
    let err = h.fails(&["rack", "install", "local", "theirs"]);
    assert!(err.contains("already exists"), "{err}");
    assert!(err.contains("convox rack install aws"), "{err}");
    assert_eq!(h.json(&["racks"]).as_array().map(Vec::len), Some(0));
    // A rack's own cluster carries its tag, and uninstall deletes only that one.
    h.install("mine", &[]);
    let tags = eks
        .describe_cluster()
        .name("mine")
        .send()
        .await
        .expect("describe")
        .cluster
        .and_then(|c| c.tags)
        .unwrap_or_default();
    assert_eq!(tags.get("convox:rack").map(String::as_str), Some("mine"));
    h.ok(&["rack", "uninstall", "mine"]);
    let listed = eks.list_clusters().send().await.expect("list");
    assert_eq!(listed.clusters(), ["theirs".to_string()]);
}

#[test]
fn sim_serve_on_a_busy_port_says_so_once() {
    let h = Home::served(&[]);
    let addr = h
        .endpoint
        .clone()
        .expect("served")
        .trim_start_matches("http://")
        .to_string();
    let err = h.fails(&[
        "sim",
        "serve",
        "--listen",
        &addr,
        "--state",
        &path_str(h.path()),
    ]);
    assert_eq!(err.matches("cannot listen").count(), 1, "{err}");
    assert!(err.contains("another `convox sim serve`"), "{err}");
    let err = h.fails(&[
        "sim",
        "serve",
        "--listen",
        "nowhere",
        "--state",
        &path_str(h.path()),
    ]);
    assert!(err.contains("expected IP:PORT"), "{err}");
}

#[test]
fn a_mistyped_region_is_refused_before_anything_happens() {
    let h = Home::new(&[]);
    for region in ["mars-1", "US-EAST-1", "us-east-1a"] {
        let err = h.fails(&["rack", "install", "local", "typo", "--region", region]);
        assert!(err.contains(&format!("invalid region `{region}`")), "{err}");
        let (r, calls) = h.counted(&[
            "rack",
            "install",
            "aws",
            "typo",
            "--cluster",
            "c",
            "--region",
            region,
            "--nodes-role-arn",
            "arn:aws:iam::123456789012:role/n",
        ]);
        assert!(r.stderr.contains("invalid region"), "{}", r.stderr);
        assert!(calls.is_empty(), "no AWS call for a typo: {calls:?}");
    }
    assert_eq!(h.json(&["racks"]).as_array().map(Vec::len), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_profile_with_source_profile_is_assumed_through_the_chain() {
    // `role_arn` + `source_profile`, as engineers configure their admin role: the SDK's
    // chain calls sts:AssumeRole itself; convox names the role (with its path) in the entry.
    let mut h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("chain", &[]);
    let endpoint = h.endpoint.clone().expect("served");
    aws_sdk_iam::Client::new(&h.sdk_config("us-east-1"))
        .create_role()
        .role_name(SSO_ROLE)
        .path(SSO_PATH)
        .assume_role_policy_document(TRUST)
        .send()
        .await
        .expect("role");
    let role_arn = format!("arn:aws:iam::123456789012:role{SSO_PATH}{SSO_ROLE}");
    aws_env(
        &mut h,
        &format!(
            "[profile base]\nregion = us-east-1\nendpoint_url = {endpoint}\n\n[profile admin]\nrole_arn = {role_arn}\nsource_profile = base\nrole_session_name = bob@example.com\nregion = us-east-1\nendpoint_url = {endpoint}\n"
        ),
        &format!(
            "[base]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
            eks_sim_model::DEFAULT_ACCESS_KEY_ID,
            eks_sim_model::DEFAULT_SECRET_ACCESS_KEY,
            eks_sim_model::DEFAULT_SESSION_TOKEN
        ),
    );
    let nodes = nodes_role("chain");
    let r = aws_cmd(
        &h,
        &[
            "rack",
            "install",
            "aws",
            "adm",
            "--cluster",
            "chain",
            "--region",
            "us-east-1",
            "--nodes-role-arn",
            &nodes,
            "--profile",
            "admin",
            "eks_access_entries=true",
        ],
    );
    assert!(r.status.success(), "{}", r.stderr);
    let got = entries(&h.eks("us-east-1"), "chain").await;
    assert_eq!(
        got.get(&role_arn).map(|e| e.policies.clone()),
        Some(vec![(admin_policy("aws"), "cluster".to_string())]),
        "{got:?}"
    );
    // The history names the session that did it.
    let r = aws_cmd(&h, &["rack", "-r", "adm", "--output", "json"]);
    let info: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    assert_eq!(
        info["history"][0]["actor"],
        format!("arn:aws:sts::123456789012:assumed-role/{SSO_ROLE}/bob@example.com")
    );
}

#[test]
fn progress_is_plain_lines_off_a_terminal_and_a_spinner_on_one() {
    let h = Home::new(&["update_ms=400", "propagation_ms=200"]);
    h.install("prog", &[]);
    let r = h.run(&set_args("prog"));
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(r.stdout, "Setting parameters... OK\n");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("waiting for auth mode update")),
        "{}",
        r.stderr
    );
    // Each message once, no terminal control codes in logs.
    let distinct: BTreeSet<&str> = lines.iter().copied().collect();
    assert_eq!(distinct.len(), lines.len(), "{}", r.stderr);
    assert!(!r.stderr.contains('\u{1b}'), "{}", r.stderr);

    // On a terminal (util-linux `script` gives the command one): a spinner that redraws its
    // line, cleared before the result.
    let Ok(script) = which("script") else {
        eprintln!("skipping the terminal half: no `script` command");
        return;
    };
    let log = h.path().join("tty.log");
    let cmd = format!("{} rack params set karpenter_auth_mode=true -r prog", BIN);
    let out = std::process::Command::new(script)
        .args(["-qec", &cmd])
        .arg(&log)
        .env("CONVOX_HOME", h.path())
        .env_remove("CONVOX_SIM_ENDPOINT")
        .env_remove("CONVOX_RACK")
        .env_remove("CONVOX_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tty = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(tty.contains("\u{1b}[2K"), "spinner redraws: {tty:?}");
    assert!(tty.contains("Setting parameters... OK"), "{tty:?}");
}

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
