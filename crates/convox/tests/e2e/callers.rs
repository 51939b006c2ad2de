//! Callers and partitions, pre-created entries, dry runs, one-line errors, sim env, uninstall, aws racks.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_as_an_assumed_role_with_a_path() {
    let h = Home::served(&["bootstrap_creator_admin=false"]);
    let conf = h.sdk_config("us-east-1");
    let iam = aws_sdk_iam::Client::new(&conf);
    let role = iam
        .create_role()
        .role_name("Deployer")
        .path("/team/platform/")
        .assume_role_policy_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}"#,
        )
        .send()
        .await
        .expect("create role")
        .role
        .expect("role");
    let role_arn = role.arn().to_string();
    assert_eq!(
        role_arn,
        "arn:aws:iam::123456789012:role/team/platform/Deployer"
    );
    let sts = aws_sdk_sts::Client::new(&conf);
    let creds = sts
        .assume_role()
        .role_arn(&role_arn)
        .role_session_name("ci-run-42")
        .send()
        .await
        .expect("assume role")
        .credentials
        .expect("creds");
    let mut h = h;
    h.act_as(&creds);
    h.install("pathy", &[]);
    h.ok(&set_args("pathy"));
    let got = entries(&h.eks("us-east-1"), "pathy").await;
    let e = got
        .get(&role_arn)
        .expect("entry for the role with its path");
    assert_eq!(e.entry_type, "STANDARD");
    assert_eq!(
        e.policies,
        vec![(admin_policy("aws"), "cluster".to_string())]
    );
    assert!(!got.contains_key("arn:aws:iam::123456789012:role/Deployer"));
    assert!(
        !got.contains_key(CALLER_ROLE),
        "the default identity was not used"
    );
    // The history's actor is the session.
    let rack = h.json(&["rack", "-r", "pathy"]);
    let last = &rack["history"][0];
    assert_eq!(last["action"], "params set");
    assert_eq!(last["result"], "ok");
    assert!(
        last["actor"]
            .as_str()
            .is_some_and(|a| a.ends_with("assumed-role/Deployer/ci-run-42")),
        "{last}"
    );
    let auth = h.json(&["rack", "auth", "-r", "pathy"]);
    assert_eq!(auth["caller"]["principal_arn"], role_arn.as_str());
    assert!(auth["caller"]["arn"]
        .as_str()
        .is_some_and(|a| a.ends_with("assumed-role/Deployer/ci-run-42")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cn_north_1_rack_gets_aws_cn_policy_arns() {
    let h = Home::served(&["bootstrap_creator_admin=false"]);
    h.install("china", &["--region", "cn-north-1"]);
    h.ok(&set_args("china"));
    let got = entries(&h.eks("cn-north-1"), "china").await;
    let standard: Vec<&Entry> = got
        .values()
        .filter(|e| e.entry_type == "STANDARD")
        .collect();
    assert_eq!(standard.len(), 1, "{got:?}");
    assert_eq!(
        standard[0].policies,
        vec![(admin_policy("aws-cn"), "cluster".to_string())]
    );
    let auth = h.json(&["rack", "auth", "-r", "china"]);
    assert_eq!(auth["converged"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_precreated_by_eks_are_accepted_not_duplicated() {
    // EKS's own behaviour on: creator admin entry + node group role entry appear at the switch.
    let h = Home::served(&[]);
    h.install("eksmade", &[]);
    let (r, calls) = h.counted(&set_args("eksmade"));
    assert!(r.status.success(), "{}", r.stderr);
    assert_eq!(calls.get("eks:UpdateClusterConfig"), Some(&1), "{calls:?}");
    assert_eq!(calls.get("eks:CreateAccessEntry"), None, "{calls:?}");
    assert_eq!(calls.get("eks:AssociateAccessPolicy"), None, "{calls:?}");
    let got = entries(&h.eks("us-east-1"), "eksmade").await;
    assert_eq!(got.len(), 2, "{got:?}");
    for e in got.values() {
        assert!(
            !e.tags.contains_key("convox:rack"),
            "EKS-made entries stay untouched"
        );
    }
    let auth = h.json(&["rack", "auth", "-r", "eksmade"]);
    assert_eq!(auth["converged"], true);
    for e in auth["entries"].as_array().expect("entries") {
        assert_eq!(e["managed_by_rack"], false);
    }
}

#[test]
fn dry_run_prints_the_plan_and_changes_nothing() {
    let h = Home::new(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("dry", &[]);
    let (r, calls) = h.counted(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "--dry-run",
        "-r",
        "dry",
    ]);
    assert!(r.status.success(), "{}", r.stderr);
    assert!(
        r.stdout.contains("CONFIG_MAP -> API_AND_CONFIG_MAP"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("Setting parameters"), "{}", r.stdout);
    assert_eq!(mutating(&calls), 0, "{calls:?}");
    let plan = h.json(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "--dry-run",
        "-r",
        "dry",
    ]);
    let steps = plan["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 4, "{plan}");
    assert_eq!(steps[0]["step"], "switch-auth-mode");
    assert_eq!(
        h.json(&["rack", "params", "-r", "dry"])["eks_access_entries"],
        "false"
    );
    assert_eq!(
        h.json(&["rack", "auth", "-r", "dry"])["auth_mode"],
        "CONFIG_MAP"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_one_line_errors() {
    let h = Home::served(&[]);
    // No rack at all.
    let err = h.fails(&["rack", "params"]);
    assert!(err.contains("no racks yet"), "{err}");
    let err = h.fails(&["rack", "auth", "-r", "nope"]);
    assert!(err.contains("no rack named nope"), "{err}");

    h.install("errs", &[]);
    // Selection by $CONVOX_RACK and by `convox switch`.
    let out = h
        .cmd(&["rack", "--output", "json"])
        .env("CONVOX_RACK", "errs")
        .output()
        .expect("run");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["name"], "errs");
    let err = h.fails(&["switch", "nope"]);
    assert!(err.contains("no rack named nope"), "{err}");
    h.ok(&["switch", "errs"]);
    assert_eq!(h.json(&["rack"])["name"], "errs");

    // Unreachable endpoint.
    let mut bad = h.cmd(&["rack", "auth", "-r", "errs"]);
    bad.env("CONVOX_SIM_ENDPOINT", "http://127.0.0.1:9");
    let out = bad.output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ERROR: cannot reach"), "{stderr}");

    // Credentials the service refuses.
    let mut creds = h.cmd(&["rack", "auth", "-r", "errs"]);
    creds
        .env("CONVOX_SIM_ACCESS_KEY_ID", "AKIAUNKNOWNKEY000000")
        .env("CONVOX_SIM_SECRET_ACCESS_KEY", "nope");
    let out = creds.output().expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ERROR: AWS refused the credentials"),
        "{stderr}"
    );

    // The cluster disappeared.
    let eks = h.eks("us-east-1");
    for ng in eks
        .list_nodegroups()
        .cluster_name("errs")
        .send()
        .await
        .expect("list ng")
        .nodegroups()
    {
        eks.delete_nodegroup()
            .cluster_name("errs")
            .nodegroup_name(ng)
            .send()
            .await
            .expect("delete ng");
    }
    eks.delete_cluster()
        .name("errs")
        .send()
        .await
        .expect("delete cluster");
    let err = h.fails(&set_args("errs"));
    assert!(err.contains("not found"), "{err}");
    // Params were not stored (the failure happened before anything was begun).
    assert_eq!(
        h.json(&["rack", "params", "-r", "errs"])["eks_access_entries"],
        "false"
    );
}

#[test]
fn sim_env_prints_exports() {
    let h = Home::new(&[]);
    let out = h.ok(&["sim", "env"]);
    for k in [
        "AWS_ENDPOINT_URL=http://127.0.0.1:4599",
        "AWS_ACCESS_KEY_ID=ASIASIMULATEDCONVOX1",
        "AWS_SECRET_ACCESS_KEY=",
        "AWS_SESSION_TOKEN=convox-sim-default-session-token",
        "AWS_DEFAULT_REGION=us-east-1",
        "AWS_REGION=us-east-1",
    ] {
        assert!(out.contains(&format!("export {k}")), "{k}: {out}");
    }
    let cfg = h.json(&["sim", "config", "update_ms=1234"]);
    assert_eq!(cfg["update_ms"], 1234);
    assert!(h
        .run(&["sim", "config", "no_such_setting=1"])
        .stderr
        .contains("ERROR:"));
}

#[test]
fn uninstall_forgets_the_rack_and_deletes_its_cluster() {
    let h = Home::new(&[]);
    h.install("gone", &[]);
    h.ok(&["rack", "uninstall", "gone"]);
    let racks = h.json(&["racks"]);
    assert_eq!(racks.as_array().map(Vec::len), Some(0));
    // The name (and the cluster name) can be used again.
    h.install("gone", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_rack_uses_the_standard_chain() {
    // An `aws` rack reads credentials, region and AWS_ENDPOINT_URL exactly as the AWS CLI does;
    // pointed at the simulator, it adopts a cluster made there.
    let mut h = Home::served(&["bootstrap_creator_admin=false", "auto_node_entries=false"]);
    h.install("made", &[]);
    h.use_served_sim_as_aws();
    let nodes = nodes_role("made");
    // A cluster that does not exist is refused and nothing is recorded.
    let err = h.fails(&[
        "rack",
        "install",
        "aws",
        "ghost",
        "--cluster",
        "nope",
        "--region",
        "us-east-1",
        "--nodes-role-arn",
        &nodes,
    ]);
    assert!(err.contains("not found"), "{err}");
    assert_eq!(h.json(&["racks"]).as_array().map(Vec::len), Some(1));

    h.ok(&[
        "rack",
        "install",
        "aws",
        "adopted",
        "--cluster",
        "made",
        "--region",
        "us-east-1",
        "--nodes-role-arn",
        &nodes,
        "eks_access_entries=true",
    ]);
    let r = h.json(&["rack", "-r", "adopted"]);
    assert_eq!(r["provider"], "aws");
    assert_eq!(r["status"], "running");
    let got = entries(&h.eks("us-east-1"), "made").await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(
        got[&nodes].tags.get("convox:rack").map(String::as_str),
        Some("adopted")
    );
    assert_eq!(
        got[CALLER_ROLE].policies,
        vec![(admin_policy("aws"), "cluster".to_string())]
    );
}
