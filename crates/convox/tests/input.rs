//! Input a user can get wrong and output a terminal must survive: parameter values with
//! control characters or of any length, addresses and settings out of range, help that
//! says what a command takes, and logs without colour codes off a terminal. Through the real
//! binary on the embedded simulator.

mod common;

use common::*;

/// Whether `s` carries an SGR colour/style sequence (`ESC [ … m`).
fn has_sgr(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len()).any(|i| {
        if b[i] != 0x1b || b.get(i + 1) != Some(&b'[') {
            return false;
        }
        let rest = &b[i + 2..];
        let n = rest
            .iter()
            .take_while(|c| c.is_ascii_digit() || **c == b';')
            .count();
        rest.get(n) == Some(&b'm')
    })
}

#[test]
fn logs_carry_no_colour_codes_off_a_terminal_or_with_no_color() {
    let h = Home::new(&[]);
    let r: Run = h
        .cmd(&["rack", "install", "local", "logs"])
        .env("CONVOX_LOG", "debug")
        .output()
        .expect("run")
        .into();
    assert!(r.status.success(), "{}", r.stderr);
    assert!(
        r.stderr.lines().count() > 3,
        "debug logs expected: {}",
        r.stderr
    );
    assert!(!r.stderr.contains('\u{1b}'), "{:?}", r.stderr);

    // On a terminal (util-linux `script`), NO_COLOR turns colours off too.
    let Some(script) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("script"))
        .find(|p| p.is_file())
    else {
        eprintln!("skipping the terminal half: no `script` command");
        return;
    };
    let log = h.path().join("tty.log");
    let out = std::process::Command::new(script)
        .args(["-qec", &format!("{BIN} rack -r logs")])
        .arg(&log)
        .env("CONVOX_HOME", h.path())
        .env("CONVOX_LOG", "debug")
        .env("NO_COLOR", "1")
        .env_remove("CONVOX_SIM_ENDPOINT")
        .env_remove("CONVOX_RACK")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("script");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tty = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(tty.contains("Name"), "{tty:?}");
    assert!(!has_sgr(&tty), "{tty:?}");
}

#[test]
fn params_set_help_is_true_about_output() {
    let h = Home::new(&[]);
    let help = h.ok(&["rack", "params", "set", "--help"]);
    // The --output entry: its line and its wrapped continuation, up to the next option.
    let mut lines = help
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("--output"));
    let first = lines.next().unwrap_or_default().to_string();
    let line = std::iter::once(first)
        .chain(
            lines
                .take_while(|l| !l.trim_start().starts_with('-'))
                .map(str::to_string),
        )
        .collect::<Vec<_>>()
        .join(" ");
    assert!(line.contains("--dry-run"), "{help}");
    // A real run with --output is refused as the help says, before anything changes.
    h.install("help", &[]);
    let before = h.json(&["rack", "-r", "help"]);
    let err = h.fails(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "--output",
        "json",
        "-r",
        "help",
    ]);
    assert!(err.contains("--dry-run"), "{err}");
    assert_eq!(h.json(&["rack", "-r", "help"]), before);
    // With --dry-run it is what it says.
    h.json(&[
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "--dry-run",
        "-r",
        "help",
    ]);
}

#[test]
fn parameter_values_with_escapes_or_of_any_length_are_refused() {
    let h = Home::new(&[]);
    h.install("esc", &[]);
    let before = h.json(&["rack", "params", "-r", "esc"]);
    let long = format!("docker_hub_username={}", "x".repeat(100 * 1024));
    for arg in [
        "docker_hub_username=\u{1b}[31mred",
        "docker_hub_username=\u{1b}]0;owned\u{7}",
        "docker_hub_password=\u{1b}[2J",
        long.as_str(),
        // An unknown key is quoted in the error: never raw.
        "\u{1b}[2Jsneaky=1",
    ] {
        let args = ["rack", "params", "set", arg, "-r", "esc"];
        let r = h.run(&args);
        let err = r.error_line(&args);
        assert!(!r.stderr.contains('\u{1b}'), "{arg:?}: {:?}", r.stderr);
        assert!(err.len() < 300, "{err}");
    }
    assert_eq!(h.json(&["rack", "params", "-r", "esc"]), before);
    // At install too: nothing recorded.
    let args = [
        "rack",
        "install",
        "local",
        "esc2",
        "docker_hub_username=\u{1b}[5mblink",
    ];
    let r = h.run(&args);
    r.error_line(&args);
    assert_eq!(h.json(&["racks"]).as_array().map(Vec::len), Some(1));
}

#[test]
fn sim_env_listen_must_be_a_socket_address() {
    let h = Home::new(&[]);
    for bad in ["foo", "http://foo", "127.0.0.1", "127.0.0.1:0", "h:99999"] {
        let err = h.fails(&["sim", "env", "--listen", bad]);
        assert!(err.contains("invalid --listen address"), "{bad}: {err}");
        assert!(err.contains("HOST:PORT"), "{bad}: {err}");
    }
    let out = h.ok(&["sim", "env", "--listen", "127.0.0.1:4600"]);
    assert!(
        out.contains("export AWS_ENDPOINT_URL=http://127.0.0.1:4600\n"),
        "{out}"
    );
    // The same check for the variable that points local racks at a served simulator.
    h.install("envsim", &[]);
    for bad in ["foo", "http://foo"] {
        let args = ["rack", "auth", "-r", "envsim"];
        let r: Run = h
            .cmd(&args)
            .env("CONVOX_SIM_ENDPOINT", bad)
            .output()
            .expect("run")
            .into();
        let err = r.error_line(&args);
        assert!(err.contains("invalid CONVOX_SIM_ENDPOINT"), "{bad}: {err}");
        let r: Run = h
            .cmd(&["sim", "env"])
            .env("CONVOX_SIM_ENDPOINT", bad)
            .output()
            .expect("run")
            .into();
        let err = r.error_line(&["sim", "env"]);
        assert!(
            err.contains("invalid CONVOX_SIM_ENDPOINT address"),
            "{bad}: {err}"
        );
    }
    let out = h.ok(&["sim", "env", "--listen", "http://localhost:4600/"]);
    assert!(
        out.contains("export AWS_ENDPOINT_URL=http://localhost:4600\n"),
        "{out}"
    );
}

#[test]
fn sim_settings_out_of_range_are_refused() {
    let h = Home::new(&[]);
    let before = h.json(&["sim", "config"]);
    for kv in [
        "max_body_bytes=0",
        "max_body_bytes=99999999999",
        "error_rate=1.5",
        "throttle_rate=-1",
        "latency_ms=99999999999",
    ] {
        let err = h.fails(&["sim", "config", kv]);
        let key = kv.split('=').next().unwrap_or_default();
        assert!(err.contains(key), "{kv}: {err}");
    }
    assert_eq!(h.json(&["sim", "config"]), before);
}
