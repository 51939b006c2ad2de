//! Clusters a local rack did not make, busy ports, mistyped regions, role profiles, progress output.

use super::*;

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
