//! `convox-bench reconcile`: what a migration costs, through the real `convox` binary against a
//! `convox sim serve` whose request log counts every API call.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

#[derive(clap::Args)]
pub struct ReconcileArgs {
    /// Simulated auth-mode update duration U, in ms.
    #[arg(long, default_value_t = 3000)]
    update_ms: u64,
    /// Simulated propagation delay P after the update, in ms.
    #[arg(long, default_value_t = 1000)]
    propagation_ms: u64,
    /// The convox binary (default: next to this binary).
    #[arg(long)]
    convox_bin: Option<PathBuf>,
}

pub(crate) struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Per-operation request counts from the simulator's request log.
pub(crate) async fn counts(addr: SocketAddr) -> Result<BTreeMap<String, u64>, String> {
    let body = http_get(addr, "/_sim/requests").await?;
    let v: serde_json::Value =
        serde_json::from_slice(&body).map_err(|e| format!("/_sim/requests: {e}"))?;
    let obj = v
        .get("counts")
        .unwrap_or(&v)
        .as_object()
        .ok_or("/_sim/requests: not an object")?;
    Ok(obj
        .iter()
        .filter_map(|(k, v)| v.as_u64().map(|n| (k.clone(), n)))
        .collect())
}

async fn http_get(addr: SocketAddr, path: &str) -> Result<Vec<u8>, String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)
        .await
        .map_err(|e| format!("read: {e}"))?;
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("GET {path}: {}", head.lines().next().unwrap_or("")));
    }
    let body = buf[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return Ok(dechunk(&body));
    }
    Ok(body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(nl) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..nl]).trim(), 16).unwrap_or(0);
        if size == 0 || nl + 2 + size > b.len() {
            break;
        }
        out.extend_from_slice(&b[nl + 2..nl + 2 + size]);
        b = &b[(nl + 4 + size).min(b.len())..];
    }
    out
}

pub(crate) fn diff(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0).min(*v);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

fn is_mutating(op: &str) -> bool {
    let name = op.rsplit(':').next().unwrap_or(op);
    [
        "Create",
        "Update",
        "Delete",
        "Associate",
        "Disassociate",
        "Tag",
        "Untag",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

pub(crate) fn convox(
    bin: &Path,
    home: &Path,
    endpoint: &str,
    args: &[&str],
) -> Result<f64, String> {
    let start = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .env("CONVOX_HOME", home)
        .env("CONVOX_SIM_ENDPOINT", endpoint)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("spawn convox: {e}"))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "convox {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(secs)
}

pub(crate) fn show(title: &str, secs: f64, calls: &BTreeMap<String, u64>) {
    let total: u64 = calls.values().sum();
    let mutating: u64 = calls
        .iter()
        .filter(|(k, _)| is_mutating(k))
        .map(|(_, v)| v)
        .sum();
    println!("{title}: {secs:.3} s, {total} API calls ({mutating} mutating)");
    for (op, n) in calls {
        println!("    {n:>4}  {op}");
    }
}

pub async fn run(args: ReconcileArgs) -> Result<(), String> {
    let bin = match &args.convox_bin {
        Some(p) => p.clone(),
        None => crate::sibling("convox")?,
    };
    let u = args.update_ms as f64 / 1000.0;
    let p = args.propagation_ms as f64 / 1000.0;
    println!("reconcile benchmark: U = {u:.3} s, P = {p:.3} s (reference: +45 s of fixed sleeps)");
    // AWS's default: EKS itself creates the node-group and cluster-creator entries when the
    // mode first includes API, so convox only verifies them. With those switched off, convox
    // must create both entries and wait out the propagation delay too.
    scenario(
        &bin,
        &args,
        true,
        "EKS creates its own entries (AWS default)",
    )
    .await?;
    scenario(
        &bin,
        &args,
        false,
        "EKS's own entries off: convox creates both",
    )
    .await
}

async fn scenario(
    bin: &Path,
    args: &ReconcileArgs,
    eks_own_entries: bool,
    title: &str,
) -> Result<(), String> {
    let home = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let own = eks_own_entries.to_string();
    let (server, addr) = serve(
        bin,
        home.path(),
        &[
            format!("update_ms={}", args.update_ms),
            format!("propagation_ms={}", args.propagation_ms),
            format!("auto_node_entries={own}"),
            format!("bootstrap_creator_admin={own}"),
        ],
    )?;
    let endpoint = format!("http://{addr}");
    let h = home.path();

    convox(bin, h, &endpoint, &["rack", "install", "local", "bench"])?;

    let u = args.update_ms as f64 / 1000.0;
    let p = args.propagation_ms as f64 / 1000.0;
    let c0 = counts(addr).await?;
    let set = [
        "rack",
        "params",
        "set",
        "eks_access_entries=true",
        "-r",
        "bench",
    ];
    let migrate = convox(bin, h, &endpoint, &set)?;
    let c1 = counts(addr).await?;
    let noop = convox(bin, h, &endpoint, &set)?;
    let c2 = counts(addr).await?;
    drop(server);

    println!();
    println!("== {title}");
    let goal = 1.1 * (u + p) + 0.3;
    show(
        "full migration (CONFIG_MAP -> API_AND_CONFIG_MAP + 2 entries)",
        migrate,
        &diff(&c0, &c1),
    );
    println!(
        "    converged in {migrate:.3} s; goal <= 1.1 x (U + P) + 0.3 = {goal:.3} s; ratio {:.2}",
        migrate / goal
    );
    let noop_calls = diff(&c1, &c2);
    show("no-op run on the converged rack", noop, &noop_calls);
    println!(
        "    goal: <= 8 API calls, none mutating; measured {} calls",
        noop_calls.values().sum::<u64>()
    );
    Ok(())
}

/// `convox sim serve` on a free loopback port with `sets` (and instant creates); its address.
pub(crate) fn serve(
    bin: &Path,
    home: &Path,
    sets: &[String],
) -> Result<(Server, SocketAddr), String> {
    let mut cmd = Command::new(bin);
    cmd.args(["sim", "serve", "--listen", "127.0.0.1:0", "--state"])
        .arg(home)
        .args([
            "--set",
            "cluster_create_ms=0",
            "--set",
            "nodegroup_create_ms=0",
        ]);
    for s in sets {
        cmd.args(["--set", s]);
    }
    let mut child = cmd
        .env("CONVOX_HOME", home)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn convox sim serve: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("read: {e}"))?;
    let addr: SocketAddr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.trim_end_matches('/').parse().ok())
        .ok_or_else(|| format!("unexpected first line from convox sim serve: {line:?}"))?;
    Ok((server, addr))
}
