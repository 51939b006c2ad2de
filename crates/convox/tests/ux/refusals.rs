//! Refused callers and aws-rack error paths: one ERROR line, nothing recorded; SSO roles with paths.

use super::*;

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

/// `rack install aws NAME` of CLUSTER in REGION with rack `made`'s nodes role, plus `extra`.
fn aws_install(h: &Home, name: &str, cluster: &str, region: &str, extra: &[&str]) -> Run {
    let nodes = nodes_role("made");
    let mut a = vec![
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
    ];
    a.extend_from_slice(extra);
    aws_cmd(h, &a)
}

/// An SSO profile never logged in (`sso-user`) and one with the simulator's keys (`keys`).
fn profiles(h: &mut Home, endpoint: &str) {
    let sso_cfg = format!(
        "[profile sso-user]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Admin\nregion = us-east-1\nendpoint_url = {endpoint}\n\n[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\nsso_region = eu-west-1\n\n[profile keys]\nregion = us-east-1\nendpoint_url = {endpoint}\n"
    );
    let keys_cred = format!(
        "[keys]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = {}\n",
        eks_sim_model::DEFAULT_ACCESS_KEY_ID,
        eks_sim_model::DEFAULT_SECRET_ACCESS_KEY,
        eks_sim_model::DEFAULT_SESSION_TOKEN
    );
    aws_env(h, &sso_cfg, &keys_cred);
}

/// Node roles EKS could not take: malformed, another partition, another account.
fn assert_bad_node_roles_refused(h: &Home) {
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
        let err = one_error(&aws_cmd(h, &a));
        assert!(err.contains(says), "{arn}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_rack_error_paths_are_one_line_and_record_nothing() {
    let mut h = Home::served(&[]);
    h.install("made", &[]);
    let endpoint = h.endpoint.clone().expect("served");
    profiles(&mut h, &endpoint);

    // No credentials anywhere in the chain: the verdict, not the SDK's list of providers,
    // and none of the SDK's warnings.
    let err = one_error(&aws_install(&h, "a1", "made", "us-east-1", &[]));
    assert!(err.contains("no AWS credentials found"), "{err}");
    assert!(err.contains("aws configure"), "{err}");
    // A profile that does not exist.
    let err = one_error(&aws_install(
        &h,
        "a2",
        "made",
        "us-east-1",
        &["--profile", "nosuch"],
    ));
    assert!(err.contains("AWS profile `nosuch` is not defined"), "{err}");
    // An SSO profile never logged in.
    let err = one_error(&aws_install(
        &h,
        "a3",
        "made",
        "us-east-1",
        &["--profile", "sso-user"],
    ));
    assert!(err.contains("aws sso login --profile sso-user"), "{err}");
    // Unreachable endpoint (AWS_ENDPOINT_URL wins over the profile's endpoint_url).
    let mut h2_env = h.env.clone();
    h2_env.push(("AWS_ENDPOINT_URL".into(), "http://127.0.0.1:9".into()));
    let saved = std::mem::replace(&mut h.env, h2_env);
    let err = one_error(&aws_install(
        &h,
        "a4",
        "made",
        "us-east-1",
        &["--profile", "keys"],
    ));
    h.env = saved;
    assert!(err.contains("cannot reach http://127.0.0.1:9"), "{err}");
    assert!(err.contains("AWS_ENDPOINT_URL"), "{err}");
    assert!(
        !err.contains("convox sim serve"),
        "not a simulator rack: {err}"
    );
    // The cluster is in us-east-1, the rack says eu-west-1.
    let err = one_error(&aws_install(
        &h,
        "a5",
        "made",
        "eu-west-1",
        &["--profile", "keys"],
    ));
    assert!(err.contains("cluster made not found in eu-west-1"), "{err}");
    // A cluster that does not exist.
    let err = one_error(&aws_install(
        &h,
        "a6",
        "ghost",
        "us-east-1",
        &["--profile", "keys"],
    ));
    assert!(
        err.contains("cluster ghost not found in us-east-1"),
        "{err}"
    );

    assert_bad_node_roles_refused(&h);

    // Nothing was recorded by any of them; the cluster was not touched.
    let racks = h.json(&["racks"]);
    assert_eq!(racks.as_array().map(Vec::len), Some(1), "{racks}");
    assert_eq!(mode(&h.eks("us-east-1"), "made").await, "CONFIG_MAP");

    // And the working profile adopts the cluster.
    let r = aws_install(&h, "a7", "made", "us-east-1", &["--profile", "keys"]);
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
