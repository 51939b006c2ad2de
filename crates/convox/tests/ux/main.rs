//! The product as a user meets it: every error path of issue 3 gives one `ERROR:` line that
//! says what to do and changes nothing; JSON output is valid and stable; secrets are never
//! printed; flags go where users put them. Through the real binary, on the simulator.

mod cli;
#[path = "../common/mod.rs"]
mod common;
mod output;
mod refusals;

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

fn which(name: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or(())
}
