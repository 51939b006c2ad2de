//! Shared harness for the end-to-end tests: the real `convox` binary with CONVOX_HOME in a
//! temp dir, optionally a `convox sim serve` child that both the binary and the test's own
//! AWS SDK clients talk to (to look at and tamper with the cluster out of band).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use aws_sdk_eks::types::{AuthenticationMode, UpdateAccessConfigRequest};

pub const BIN: &str = env!("CARGO_BIN_EXE_convox");

/// Settings every test starts from: no waiting anywhere.
pub const FAST: &[&str] = &[
    "cluster_create_ms=0",
    "nodegroup_create_ms=0",
    "update_ms=0",
    "propagation_ms=0",
];

pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts that `convox {args}` failed with exactly one `ERROR: ` line on stderr;
    /// returns that line.
    pub fn error_line(&self, args: &[&str]) -> String {
        assert!(
            !self.status.success(),
            "convox {args:?} should fail, stdout: {}",
            self.stdout
        );
        let errors: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("ERROR: "))
            .collect();
        assert_eq!(errors.len(), 1, "one ERROR line expected: {}", self.stderr);
        errors[0].to_string()
    }
}

/// The calls per operation a run wrote to its CONVOX_CALLS_FILE (none if it wrote none).
pub fn read_calls(file: &Path) -> BTreeMap<String, u64> {
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v.get("calls").cloned())
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            status: o.status,
            stdout: String::from_utf8_lossy(&o.stdout).to_string(),
            stderr: String::from_utf8_lossy(&o.stderr).to_string(),
        }
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Home {
    pub dir: tempfile::TempDir,
    server: Option<Server>,
    pub endpoint: Option<String>,
    /// Extra environment for every command.
    pub env: Vec<(String, String)>,
}

impl Home {
    /// A fresh state dir with the simulator's durations at 0 plus `settings`.
    pub fn new(settings: &[&str]) -> Home {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = Home {
            dir,
            server: None,
            endpoint: None,
            env: Vec::new(),
        };
        let mut args = vec!["sim", "config"];
        args.extend_from_slice(FAST);
        args.extend_from_slice(settings);
        home.ok(&args);
        home
    }

    /// Also serve the simulator (`convox sim serve`) for the binary and the test's clients.
    pub fn served(settings: &[&str]) -> Home {
        let mut home = Home::new(settings);
        let mut child = Command::new(BIN)
            .args(["sim", "serve", "--listen", "127.0.0.1:0", "--state"])
            .arg(home.dir.path())
            .env_remove("CONVOX_SIM_ENDPOINT")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sim serve");
        let stdout = child.stdout.take().expect("stdout");
        let server = Server(child);
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("first line");
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        home.server = Some(server);
        home.endpoint = Some(url);
        home
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Process id of the served simulator (tests stop it to hold a run at its next call).
    pub fn server_pid(&self) -> u32 {
        self.server.as_ref().expect("Home::served").0.id()
    }

    /// `convox {args}` in this home, isolated from the environment the tests run in: no
    /// AWS_* variable of the caller's (a profile, region, endpoint or FIPS switch of the
    /// machine's would reach the SDK) and a HOME of its own (no ~/.aws of the machine's);
    /// `self.env` is applied last.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_") {
                c.env_remove(&k);
            }
        }
        c.args(args)
            .env("HOME", self.dir.path().join("user-home"))
            .env("CONVOX_HOME", self.dir.path())
            .env_remove("CONVOX_RACK")
            .env_remove("CONVOX_STORE")
            .env_remove("CONVOX_HOST_ID")
            .env_remove("CONVOX_SIM_ENDPOINT")
            .env_remove("CONVOX_SIM_ACCESS_KEY_ID")
            .env_remove("CONVOX_SIM_SECRET_ACCESS_KEY")
            .env_remove("CONVOX_SIM_SESSION_TOKEN")
            .env_remove("CONVOX_CALLS_FILE")
            .env("CONVOX_LOG", "warn")
            .stdin(Stdio::null());
        if let Some(e) = &self.endpoint {
            c.env("CONVOX_SIM_ENDPOINT", e);
        }
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.cmd(args).output().expect("run convox").into()
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert!(
            r.status.success(),
            "convox {args:?} failed: {}\n{}",
            r.stderr,
            r.stdout
        );
        r.stdout
    }

    /// Runs and asserts failure with exactly one `ERROR: ` line on stderr; returns it.
    pub fn fails(&self, args: &[&str]) -> String {
        self.run(args).error_line(args)
    }

    /// Runs with CONVOX_CALLS_FILE and returns (run, calls per operation).
    pub fn counted(&self, args: &[&str]) -> (Run, BTreeMap<String, u64>) {
        let file = self.dir.path().join("calls.json");
        let _ = std::fs::remove_file(&file);
        let r: Run = self
            .cmd(args)
            .env("CONVOX_CALLS_FILE", &file)
            .output()
            .expect("run convox")
            .into();
        let calls = read_calls(&file);
        (r, calls)
    }

    /// Runs every argument list as its own `convox` process, all at once, each with its own
    /// CONVOX_CALLS_FILE; asserts that each succeeded. Returns their stdouts (in order) and
    /// the calls of all of them added up.
    pub fn run_concurrently(&self, runs: &[Vec<&str>]) -> (Vec<String>, BTreeMap<String, u64>) {
        let files: Vec<_> = (0..runs.len())
            .map(|i| self.dir.path().join(format!("calls-{i}.json")))
            .collect();
        let children: Vec<_> = runs
            .iter()
            .zip(&files)
            .map(|(args, f)| {
                self.cmd(args)
                    .env("CONVOX_CALLS_FILE", f)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn")
            })
            .collect();
        let mut stdouts = Vec::new();
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        for (c, f) in children.into_iter().zip(&files) {
            let out = c.wait_with_output().expect("wait");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            stdouts.push(String::from_utf8_lossy(&out.stdout).to_string());
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(f).expect("calls file"))
                    .expect("json");
            for (k, n) in v["calls"].as_object().expect("calls") {
                *totals.entry(k.clone()).or_default() += n.as_u64().unwrap_or(0);
            }
        }
        (stdouts, totals)
    }

    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend_from_slice(&["--output", "json"]);
        let out = self.ok(&a);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad json from {args:?}: {e}\n{out}"))
    }

    /// Installs a local rack.
    pub fn install(&self, name: &str, extra: &[&str]) {
        let mut a = vec!["rack", "install", "local", name];
        a.extend_from_slice(extra);
        self.ok(&a);
    }

    /// Points the AWS standard chain of every command at the served simulator with its
    /// default key (environment credentials, no config files, no IMDS), for `aws` racks.
    pub fn use_served_sim_as_aws(&mut self) {
        let endpoint = self.endpoint.clone().expect("Home::served");
        self.env = vec![
            ("AWS_ENDPOINT_URL".into(), endpoint),
            (
                "AWS_ACCESS_KEY_ID".into(),
                eks_sim_model::DEFAULT_ACCESS_KEY_ID.into(),
            ),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                eks_sim_model::DEFAULT_SECRET_ACCESS_KEY.into(),
            ),
            (
                "AWS_SESSION_TOKEN".into(),
                eks_sim_model::DEFAULT_SESSION_TOKEN.into(),
            ),
            ("AWS_CONFIG_FILE".into(), "/dev/null".into()),
            ("AWS_SHARED_CREDENTIALS_FILE".into(), "/dev/null".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ];
    }

    /// Every command acts as the given STS session (a local rack's key pair overridden).
    pub fn act_as(&mut self, creds: &aws_sdk_sts::types::Credentials) {
        self.env = vec![
            (
                "CONVOX_SIM_ACCESS_KEY_ID".into(),
                creds.access_key_id().to_string(),
            ),
            (
                "CONVOX_SIM_SECRET_ACCESS_KEY".into(),
                creds.secret_access_key().to_string(),
            ),
            (
                "CONVOX_SIM_SESSION_TOKEN".into(),
                creds.session_token().to_string(),
            ),
        ];
    }

    pub fn sdk_config(&self, region: &str) -> aws_config::SdkConfig {
        self.sdk_config_with(
            region,
            aws_credential_types::Credentials::new(
                eks_sim_model::DEFAULT_ACCESS_KEY_ID,
                eks_sim_model::DEFAULT_SECRET_ACCESS_KEY,
                Some(eks_sim_model::DEFAULT_SESSION_TOKEN.to_string()),
                None,
                "test",
            ),
        )
    }

    pub fn sdk_config_with(
        &self,
        region: &str,
        creds: aws_credential_types::Credentials,
    ) -> aws_config::SdkConfig {
        let endpoint = self.endpoint.clone().expect("Home::served");
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .endpoint_url(endpoint)
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(creds),
            )
            .build()
    }

    pub fn eks(&self, region: &str) -> aws_sdk_eks::Client {
        aws_sdk_eks::Client::new(&self.sdk_config(region))
    }
}

/// `convox rack params set eks_access_entries=true -r RACK`: the change most tests make.
pub fn set_args(rack: &str) -> Vec<&str> {
    vec![
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "-r",
        rack,
    ]
}

pub const CALLER_ROLE: &str = "arn:aws:iam::123456789012:role/ops/ConvoxAdmin";

pub fn nodes_role(rack: &str) -> String {
    format!("arn:aws:iam::123456789012:role/convox/{rack}-nodes")
}

pub fn karpenter_role(rack: &str) -> String {
    format!("arn:aws:iam::123456789012:role/convox/{rack}-karpenter-nodes")
}

/// One observed entry: type, tags, policies (ARN, scope type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub entry_type: String,
    pub tags: BTreeMap<String, String>,
    pub policies: Vec<(String, String)>,
}

pub async fn mode(eks: &aws_sdk_eks::Client, cluster: &str) -> String {
    let c = eks
        .describe_cluster()
        .name(cluster)
        .send()
        .await
        .expect("describe cluster")
        .cluster
        .expect("cluster");
    c.access_config()
        .and_then(|a| a.authentication_mode())
        .map(|m| m.as_str().to_string())
        .unwrap_or_default()
}

/// Every access entry of the cluster (empty in CONFIG_MAP mode).
pub async fn entries(eks: &aws_sdk_eks::Client, cluster: &str) -> BTreeMap<String, Entry> {
    let mut out = BTreeMap::new();
    if mode(eks, cluster).await == "CONFIG_MAP" {
        return out;
    }
    let list = eks
        .list_access_entries()
        .cluster_name(cluster)
        .send()
        .await
        .expect("list entries");
    for p in list.access_entries() {
        let e = eks
            .describe_access_entry()
            .cluster_name(cluster)
            .principal_arn(p)
            .send()
            .await
            .expect("describe entry")
            .access_entry
            .expect("entry");
        let entry_type = e.r#type().unwrap_or_default().to_string();
        let mut policies = Vec::new();
        if entry_type == "STANDARD" {
            let ps = eks
                .list_associated_access_policies()
                .cluster_name(cluster)
                .principal_arn(p)
                .send()
                .await
                .expect("list policies");
            for a in ps.associated_access_policies() {
                policies.push((
                    a.policy_arn().unwrap_or_default().to_string(),
                    a.access_scope()
                        .and_then(|s| s.r#type())
                        .map(|t| t.as_str().to_string())
                        .unwrap_or_default(),
                ));
            }
        }
        out.insert(
            p.clone(),
            Entry {
                entry_type,
                tags: e
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
                policies,
            },
        );
    }
    out
}

/// Moves the cluster's mode forward out of band and waits until it is ACTIVE again.
pub async fn set_mode(eks: &aws_sdk_eks::Client, cluster: &str, to: &str) {
    eks.update_cluster_config()
        .name(cluster)
        .access_config(
            UpdateAccessConfigRequest::builder()
                .authentication_mode(AuthenticationMode::from(to))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("switch {cluster} to {to}: {e:?}"));
    wait_status(eks, cluster, "ACTIVE").await;
}

/// Polls DescribeCluster until the cluster's status is `want` (at most 20 s).
pub async fn wait_status(eks: &aws_sdk_eks::Client, cluster: &str, want: &str) {
    let start = std::time::Instant::now();
    loop {
        let c = eks
            .describe_cluster()
            .name(cluster)
            .send()
            .await
            .expect("describe")
            .cluster
            .expect("cluster");
        if c.status().map(|s| s.as_str()) == Some(want) {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "{cluster} never became {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

pub fn admin_policy(partition: &str) -> String {
    format!("arn:{partition}:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy")
}

pub fn mutating(calls: &BTreeMap<String, u64>) -> u64 {
    calls
        .iter()
        .filter(|(k, _)| {
            let n = k.split(':').nth(1).unwrap_or(k);
            !(n.starts_with("Describe") || n.starts_with("List") || n.starts_with("Get"))
        })
        .map(|(_, v)| v)
        .sum()
}
