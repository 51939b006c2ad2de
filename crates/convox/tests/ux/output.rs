//! JSON outputs, masked secrets, the params listing, flags where users put them, rack auth names.

use super::*;

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
