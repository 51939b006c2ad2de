use super::*;

fn v(s: &str) -> Version {
    s.parse().expect("test version")
}

fn params(pairs: &[(&str, &str)]) -> Params {
    Params {
        values: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

#[test]
fn catalog_is_sorted_unique_and_parses() {
    let names: Vec<_> = CATALOG.iter().map(|d| d.name).collect();
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        names, sorted,
        "catalog must be sorted by name without duplicates"
    );
    for d in CATALOG {
        assert!(
            d.since.parse::<Version>().is_ok(),
            "{}: bad since {}",
            d.name,
            d.since
        );
        if d.ty == ParamType::Bool {
            assert!(d.default == "true" || d.default == "false", "{}", d.name);
        }
        assert!(!d.help.is_empty(), "{} has no help", d.name);
    }
}

#[test]
fn catalog_facts_of_the_acting_params() {
    let e = lookup(EKS_ACCESS_ENTRIES).expect("eks_access_entries");
    assert_eq!(
        (e.ty, e.default, e.one_way, e.install_only, e.since),
        (ParamType::Bool, "false", true, false, "3.24.7")
    );
    let k = lookup(KARPENTER_AUTH_MODE).expect("karpenter_auth_mode");
    assert_eq!(
        (k.ty, k.default, k.one_way, k.install_only),
        (ParamType::Bool, "false", true, false)
    );
    assert!(k.since_version() < e.since_version());
    for name in [REGION, CLUSTER, NODES_ROLE_ARN, KARPENTER_NODES_ROLE_ARN] {
        assert!(lookup(name).expect(name).install_only, "{name}");
    }
}

#[test]
fn versions_parse_compare_and_are_known() {
    let ok = [
        ("3.24.7", Version::new(3, 24, 7)),
        ("v3.24.6", Version::new(3, 24, 6)),
        (" 3.9.10 ", Version::new(3, 9, 10)),
    ];
    for (s, want) in ok {
        assert_eq!(s.parse::<Version>(), Ok(want), "{s}");
    }
    for bad in [
        "", "3", "3.24", "3.24.7.1", "3.x.1", "3.24.-1", "3..7", "+3.24.7",
    ] {
        assert!(bad.parse::<Version>().is_err(), "{bad:?} should not parse");
    }
    assert!(v("3.24.10") > v("3.24.7"));
    assert!(v("3.24.7") > v("3.23.9"));
    assert!(v("4.0.0") > v("3.99.99"));
    let known = known_versions();
    assert_eq!(known.len(), KNOWN_VERSIONS.len());
    assert!(known.windows(2).all(|w| w[0] < w[1]), "ascending");
    assert!(latest_version() >= v("3.24.7"));
    assert_eq!(latest_version(), *known.last().expect("non-empty"));
    assert!(parse_known("3.24.6").is_ok());
    assert!(matches!(
        parse_known("3.24.99"),
        Err(VersionError::Unknown(_))
    ));
    assert_eq!(v("3.24.7").to_string(), "3.24.7");
    let json = serde_json_like(&v("3.24.7"));
    assert_eq!(json, "3.24.7");
}

// Display is what serde uses; keep the test free of a serde_json dependency.
fn serde_json_like(v: &Version) -> String {
    format!("{v}")
}

#[test]
fn params_get_falls_back_to_catalog_default() {
    let p = params(&[("eks_access_entries", "true")]);
    assert_eq!(p.get(EKS_ACCESS_ENTRIES).as_deref(), Some("true"));
    assert_eq!(p.get(KARPENTER_AUTH_MODE).as_deref(), Some("false"));
    assert_eq!(p.get("nope"), None);
    assert_eq!(p.get(REGION), None);
    assert!(p.flag(EKS_ACCESS_ENTRIES));
    assert!(!p.flag(KARPENTER_AUTH_MODE));
}

/// A `validate_set` row: current params, rack version, arguments, expected outcome.
type SetRow<'a> = (
    &'a [(&'a str, &'a str)],
    &'a str,
    &'a [&'a str],
    Result<&'a [&'a str], &'a str>,
);

/// Each row's outcome: the changed keys, or one line containing the expected text.
fn check_set_rows(rows: &[SetRow]) {
    for (i, (cur, ver, args, want)) in rows.iter().enumerate() {
        let got = validate_set(&params(cur), &v(ver), args);
        match (want, got) {
            (Ok(keys), Ok(cs)) => {
                let changed: Vec<&str> = cs.changed().map(|c| c.key.as_str()).collect();
                assert_eq!(&changed[..], *keys, "row {i}: {args:?}");
                assert_eq!(cs.changes.len(), args.len(), "row {i}");
            }
            (Err(sub), Err(e)) => {
                let msg = e.to_string();
                assert!(msg.contains(sub), "row {i}: {msg:?} lacks {sub:?}");
                assert!(!msg.contains('\n'), "row {i}: one line: {msg:?}");
            }
            (want, got) => panic!("row {i} {args:?}: want {want:?}, got {got:?}"),
        }
    }
}

/// Each row: current params, rack version, arguments, expected outcome (Ok(changed keys) or
/// Err(substring of the one-line message)).
#[test]
fn validate_set_table() {
    let rows: &[SetRow] = &[
        // happy paths
        (&[], "3.24.7", &["eks_access_entries=true"], Ok(&["eks_access_entries"])),
        (
            &[],
            "3.24.7",
            &["eks_access_entries=true", "karpenter_auth_mode=true"],
            Ok(&["eks_access_entries", "karpenter_auth_mode"]),
        ),
        (&[], "3.23.0", &["karpenter_auth_mode=true"], Ok(&["karpenter_auth_mode"])),
        // same value again: fine, no-op
        (&[("eks_access_entries", "true")], "3.24.7", &["eks_access_entries=true"], Ok(&[])),
        (&[], "3.24.7", &["eks_access_entries=false"], Ok(&[])),
        (&[], "3.24.7", &["docker_hub_password=s3cr=t"], Ok(&["docker_hub_password"])),
        (&[], "3.24.7", &["docker_hub_username="], Ok(&[])),
        // malformed
        (&[], "3.24.7", &["eks_access_entries"], Err("malformed parameter `eks_access_entries`")),
        (&[], "3.24.7", &["eks access=true"], Err("malformed parameter")),
        (&[], "3.24.7", &[], Err("no parameters given")),
        // empty key
        (&[], "3.24.7", &["=true"], Err("empty parameter name")),
        (&[], "3.24.7", &["  =true"], Err("empty parameter name")),
        // duplicates in one call
        (
            &[],
            "3.24.7",
            &["eks_access_entries=true", "eks_access_entries=true"],
            Err("eks_access_entries given more than once"),
        ),
        // unknown, with and without suggestion
        (
            &[],
            "3.24.7",
            &["eks_access_entry=true"],
            Err("unknown parameter eks_access_entry (did you mean eks_access_entries?)"),
        ),
        (
            &[],
            "3.24.7",
            &["karpenter_auth=true"],
            Err("(did you mean karpenter_auth_mode?)"),
        ),
        (&[], "3.24.7", &["zzzz=1"], Err("unknown parameter zzzz; run")),
        // newer than the rack
        (
            &[],
            "3.24.6",
            &["eks_access_entries=true"],
            Err("eks_access_entries requires rack version 3.24.7 or later (rack is at 3.24.6); run `convox rack update`"),
        ),
        // bad values
        (&[], "3.24.7", &["eks_access_entries=yes"], Err("invalid value `yes` for eks_access_entries: expected true or false")),
        (&[], "3.24.7", &["eks_access_entries=True"], Err("expected true or false")),
        (&[], "3.24.7", &["karpenter_auth_mode="], Err("expected true or false")),
        (&[], "3.24.7", &["docker_hub_username=a\nb"], Err("single line")),
        // one-way
        (
            &[("eks_access_entries", "true")],
            "3.24.7",
            &["eks_access_entries=false"],
            Err("eks_access_entries cannot be set to false once it is true: it is one-way, like the EKS authentication mode change"),
        ),
        (
            &[("karpenter_auth_mode", "true")],
            "3.24.7",
            &["karpenter_auth_mode=false"],
            Err("one-way"),
        ),
        // install-only
        (&[], "3.24.7", &["region=eu-west-1"], Err("region is fixed at install")),
        (&[], "3.24.7", &["cluster=x"], Err("cluster is fixed at install")),
        (&[], "3.24.7", &["nodes_role_arn=arn:aws:iam::1:role/x"], Err("fixed at install")),
        (&[], "3.24.7", &["karpenter_nodes_role_arn=arn:aws:iam::1:role/x"], Err("fixed at install")),
        // the whole call is refused when any item is bad
        (
            &[],
            "3.24.7",
            &["karpenter_auth_mode=true", "eks_access_entries=maybe"],
            Err("invalid value `maybe`"),
        ),
    ];
    check_set_rows(rows);
}

#[test]
fn install_mode_allows_identity_keys() {
    let cs = validate(
        &Params::default(),
        &v("3.24.7"),
        &["region=cn-north-1", "eks_access_entries=true"],
        Mode::Install,
    )
    .expect("install keys allowed at install");
    assert_eq!(cs.changes.len(), 2);
    assert!(validate_set(&Params::default(), &v("3.24.7"), &["region=cn-north-1"]).is_err());
}

#[test]
fn change_set_applies_and_keeps_other_values() {
    let cur = params(&[("docker_hub_username", "me")]);
    let cs = validate_set(&cur, &v("3.24.7"), &["eks_access_entries=true"]).expect("valid");
    let next = cs.apply_to(&cur);
    assert!(next.flag(EKS_ACCESS_ENTRIES));
    assert_eq!(next.get("docker_hub_username").as_deref(), Some("me"));
    assert_eq!(cs.changes[0].old.as_deref(), Some("false"));
    assert!(!cs.is_noop());
    let again = validate_set(&next, &v("3.24.7"), &["eks_access_entries=true"]).expect("valid");
    assert!(again.is_noop());
}

#[test]
fn update_validation() {
    let set = params(&[("eks_access_entries", "true")]);
    let unset = params(&[("eks_access_entries", "false")]);
    let both = params(&[
        ("eks_access_entries", "true"),
        ("karpenter_auth_mode", "true"),
    ]);
    // (params, from, to, Ok(keys left behind) or Err(substring))
    type Row<'a> = (&'a Params, &'a str, &'a str, Result<&'a [&'a str], &'a str>);
    let rows: &[Row] = &[
        (&set, "3.24.6", "3.24.7", Ok(&[])),
        (&set, "3.24.7", "3.24.7", Ok(&[])),
        (&unset, "3.24.7", "3.24.6", Ok(&[])),
        (&Params::default(), "3.24.7", "3.23.0", Ok(&[])),
        (&set, "3.24.7", "3.24.6", Ok(&["eks_access_entries"])),
        (&both, "3.24.7", "3.24.6", Ok(&["eks_access_entries"])),
        (&both, "3.24.7", "3.23.0", Ok(&["eks_access_entries"])),
        // already inactive at `from` (an earlier downgrade): not left behind a second time
        (&set, "3.24.6", "3.23.0", Ok(&[])),
        (&set, "3.24.7", "3.99.0", Err("unknown rack version 3.99.0")),
    ];
    for (i, (p, from, to, want)) in rows.iter().enumerate() {
        let got = validate_update(p, &v(from), &v(to));
        match (want, got) {
            (Ok(keys), Ok(left)) => {
                let got: Vec<&str> = left.iter().map(|l| l.key.as_str()).collect();
                assert_eq!(&got, keys, "row {i}");
                for l in &left {
                    assert_eq!(l.value, "true", "row {i}");
                    assert!(l.since > v(to), "row {i}");
                }
            }
            (Err(sub), Err(e)) => assert!(e.to_string().contains(sub), "row {i}: {e}"),
            (w, g) => panic!("row {i}: want {w:?} got {g:?}"),
        }
    }
}

#[test]
fn effective_and_inactive_parameters_at_a_version() {
    let p = params(&[
        ("eks_access_entries", "true"),
        ("karpenter_auth_mode", "true"),
        ("docker_hub_username", "me"),
    ]);
    let at = |ver: &str| {
        let e = effective_at(&p, &v(ver));
        let mut keys: Vec<String> = e.values.keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(
        at("3.24.7"),
        [
            "docker_hub_username",
            "eks_access_entries",
            "karpenter_auth_mode"
        ]
    );
    assert_eq!(at("3.24.6"), ["docker_hub_username", "karpenter_auth_mode"]);
    assert_eq!(at("3.22.0"), ["docker_hub_username"]);
    let inactive = |ver: &str| -> Vec<String> {
        inactive_at(&p, &v(ver))
            .into_iter()
            .map(|l| l.key)
            .collect()
    };
    assert!(inactive("3.24.7").is_empty());
    assert_eq!(inactive("3.24.6"), ["eks_access_entries"]);
    assert_eq!(
        inactive("3.22.0"),
        ["eks_access_entries", "karpenter_auth_mode"]
    );
}

#[test]
fn listing_sorted_with_defaults_groups_and_masking() {
    let p = params(&[
        ("docker_hub_password", "hunter2"),
        ("eks_access_entries", "true"),
        ("region", "us-east-1"),
    ]);
    let rows = list(&p, &v("3.24.7"), None, false).expect("list");
    let keys: Vec<_> = rows.iter().map(|r| r.key.as_str()).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(keys.len(), CATALOG.len());
    let get = |rows: &[Listed], k: &str| {
        rows.iter()
            .find(|r| r.key == k)
            .map(|r| r.value.clone())
            .unwrap_or_else(|| panic!("{k} listed"))
    };
    assert_eq!(get(&rows, "docker_hub_password"), MASK);
    assert_eq!(get(&rows, "eks_access_entries"), "true");
    assert_eq!(get(&rows, "karpenter_auth_mode"), "false");
    assert_eq!(get(&rows, "region"), "us-east-1");
    assert_eq!(get(&rows, "docker_hub_username"), "");

    let revealed = list(&p, &v("3.24.7"), None, true).expect("list");
    assert_eq!(get(&revealed, "docker_hub_password"), "hunter2");

    let auth = list(&p, &v("3.24.7"), Some("auth"), false).expect("list");
    let keys: Vec<_> = auth.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["eks_access_entries", "karpenter_auth_mode"]);

    // an older rack does not list a parameter it does not have
    let old = list(&p, &v("3.24.6"), Some("auth"), false).expect("list");
    let keys: Vec<_> = old.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["karpenter_auth_mode"]);

    let err = list(&p, &v("3.24.7"), Some("nope"), false).expect_err("unknown group");
    assert!(err.to_string().contains("auth"), "{err}");

    let text = render_listing(&auth);
    assert_eq!(
        text,
        "eks_access_entries   true\nkarpenter_auth_mode  false\n"
    );
}

#[test]
fn string_values_are_printable_and_bounded() {
    let cur = Params::default();
    let ver = v("3.24.7");
    for (arg, want) in [
        ("docker_hub_username=\u{1b}[31mred", "character 1 is U+001B"),
        ("docker_hub_username=a\u{7}", "character 2 is U+0007"),
        ("docker_hub_username=tab\there", "U+0009"),
        ("docker_hub_username=\u{9b}2J", "U+009B"),
        ("docker_hub_username=abc\u{202e}gpj", "U+202E"),
        ("docker_hub_password=\u{1b}]0;pwned\u{7}", "U+001B"),
    ] {
        let e = validate_set(&cur, &ver, &[arg]).expect_err(arg);
        let msg = e.to_string();
        assert!(msg.contains(want), "{arg:?}: {msg}");
        assert!(!msg.chars().any(|c| c.is_control()), "{arg:?}: {msg:?}");
    }
    // The value of a sensitive parameter is never echoed.
    let e = validate_set(&cur, &ver, &["docker_hub_password=hunter2\u{1b}"]).expect_err("esc");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    let e = validate_set(&cur, &ver, &["docker_hub_password=hunter2\nx"]).expect_err("nl");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    // A bool's bad value is quoted printable and short.
    let e = validate_set(&cur, &ver, &["eks_access_entries=\u{1b}[2J"]).expect_err("bool");
    assert!(e.to_string().contains("\\u{1b}[2J"), "{e}");
    // Length: the cap holds, the value is not echoed.
    let long = format!("docker_hub_username={}", "x".repeat(100 * 1024));
    let e = validate_set(&cur, &ver, &[long.as_str()]).expect_err("long");
    assert_eq!(
        e.to_string(),
        "invalid value for docker_hub_username: it is 102400 characters long, at most 1024 are allowed"
    );
    let ok = format!("docker_hub_username={}", "é".repeat(MAX_VALUE_CHARS));
    assert!(validate_set(&cur, &ver, &[ok.as_str()]).is_ok());
    // Unicode text that is not a control is fine.
    assert!(validate_set(&cur, &ver, &["docker_hub_username=zoë-日本"]).is_ok());
}

#[test]
fn rendering_never_prints_control_characters() {
    assert_eq!(printable("plain"), "plain");
    assert_eq!(printable("a\u{1b}[31mb"), "a\\u{1b}[31mb");
    assert_eq!(printable("x\ny"), "x\\u{a}y");
    assert_eq!(printable_text("x\ny\u{7}\n"), "x\ny\\u{7}\n");
    // A value stored before validation existed is escaped in the listing.
    let mut p = Params::default();
    p.values
        .insert("docker_hub_username".into(), "\u{1b}[2Jboo".into());
    let rows = list(&p, &v("3.24.7"), Some("registry"), false).expect("list");
    let text = render_listing(&rows);
    assert!(!text.contains('\u{1b}'), "{text:?}");
    assert!(text.contains("\\u{1b}[2Jboo"), "{text:?}");
    assert!(rows.iter().all(|r| !r.to_string().contains('\u{1b}')));
}
