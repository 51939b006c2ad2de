//! `convox-bench sim`: the simulator against moto, and its memory at scale.

use crate::load::{self, Signer, Template};
use crate::SimArgs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A server process, killed on drop.
struct Proc {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// (current RSS, peak RSS) in MiB, from /proc.
    fn memory_mib(&self) -> Option<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| -> Option<f64> {
            let line = status.lines().find(|l| l.starts_with(name))?;
            let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb / 1024.0)
        };
        Some((field("VmRSS:")?, field("VmHWM:")?))
    }
}

fn spawn_sim(bin: &Path, state: &Path) -> Result<Proc, String> {
    let mut child = Command::new(bin)
        .args(["serve", "--listen", "127.0.0.1:0", "--state"])
        .arg(state)
        .args(["--set", "cluster_create_ms=0", "--set", "update_ms=0"])
        .args(["--set", "propagation_ms=0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("read sim stdout: {e}"))?;
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("unexpected first line from eks-sim: {line:?}"))?;
    Ok(Proc { child, addr })
}

fn spawn_moto(bin: &Path) -> Result<Proc, String> {
    // Reserve a free port, release it, and hand it to moto.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("free port: {e}"))?
        .port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", bin.display()))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let proc = Proc { child, addr };
    // moto prints nothing machine-readable: poll until it accepts connections.
    let start = Instant::now();
    while TcpStream::connect(addr).is_err() {
        if start.elapsed() > Duration::from_secs(30) {
            return Err("moto_server did not start within 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(proc)
}

const ACCOUNT: &str = eks_sim_model::DEFAULT_ACCOUNT;
const TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"eks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

pub(crate) fn create_role(
    s: &Signer,
    addr: SocketAddr,
    name: &str,
    path: &str,
) -> Result<Template, String> {
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={}&Path={}&AssumeRolePolicyDocument={}",
        enc(name),
        enc(path),
        enc(TRUST)
    );
    s.sign(addr, "iam", "POST", "/", &body, true)
}

fn create_cluster(s: &Signer, addr: SocketAddr, name: &str) -> Result<Template, String> {
    let body = serde_json::json!({
        "name": name,
        "roleArn": format!("arn:aws:iam::{ACCOUNT}:role/bench/bench-cluster"),
        "resourcesVpcConfig": {"subnetIds": ["subnet-0bench1", "subnet-0bench2"]},
        "accessConfig": {
            "authenticationMode": "API_AND_CONFIG_MAP",
            "bootstrapClusterCreatorAdminPermissions": false
        }
    });
    s.sign(addr, "eks", "POST", "/clusters", &body.to_string(), false)
}

fn cluster_name(i: usize) -> String {
    format!("bench-{i:04}")
}

fn rate(x: f64) -> String {
    format!("{x:>10.0}/s")
}

pub async fn run_sim_bench(args: SimArgs) -> Result<(), String> {
    let sim_bin = match &args.sim_bin {
        Some(p) => p.clone(),
        None => crate::sibling("eks-sim")?,
    };
    let signer = Signer::default_sim();
    let dur = Duration::from_secs_f64(args.seconds);
    let state = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let sim = spawn_sim(&sim_bin, state.path())?;
    let a = sim.addr;
    println!(
        "simulator benchmark: {} connections, {:.1} s per figure, {} cores",
        args.connections,
        args.seconds,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    if let Some((rss, _)) = sim.memory_mib() {
        println!("eks-sim started: {rss:.1} MiB RSS");
    }
    populate(&signer, a, &args).await?;
    let (sim_describe, sim_list) = sim_rates(&signer, a, &args, dur).await?;
    let mem = sim.memory_mib();
    drop(sim);
    let moto_describe = moto_rate(&signer, &args, dur).await?;
    print_figures(&args, sim_describe, sim_list, moto_describe, mem);
    Ok(())
}

/// Populates the simulator through the wire, as a client would: roles, clusters, entries.
async fn populate(signer: &Signer, a: SocketAddr, args: &SimArgs) -> Result<(), String> {
    // Populate through the wire, as a client would: roles, clusters, entries.
    let t0 = Instant::now();
    load::one(a, &create_role(signer, a, "bench-cluster", "/bench/")?).await?;
    let mut roles = Vec::new();
    for r in 0..args.entries {
        roles.push(create_role(
            signer,
            a,
            &format!("bench-principal-{r:03}"),
            "/bench/team/",
        )?);
    }
    check(
        load::run_each(a, Arc::new(roles), args.connections).await?,
        "CreateRole",
    )?;
    let mut clusters = Vec::new();
    for c in 0..args.clusters {
        clusters.push(create_cluster(signer, a, &cluster_name(c))?);
    }
    check(
        load::run_each(a, Arc::new(clusters), args.connections).await?,
        "CreateCluster",
    )?;
    let mut entries = Vec::with_capacity(args.clusters * args.entries);
    for c in 0..args.clusters {
        for r in 0..args.entries {
            let body = serde_json::json!({
                "principalArn": format!("arn:aws:iam::{ACCOUNT}:role/bench/team/bench-principal-{r:03}"),
                "type": "STANDARD",
            });
            entries.push(signer.sign(
                a,
                "eks",
                "POST",
                &format!("/clusters/{}/access-entries", cluster_name(c)),
                &body.to_string(),
                false,
            )?);
        }
    }
    let n_entries = entries.len();
    let res = load::run_each(a, Arc::new(entries), args.connections).await?;
    let populate_rate = res.rate();
    check(res, "CreateAccessEntry")?;
    println!(
        "state: {} clusters x {} access entries ({} entries) populated in {:.1} s \
         (CreateAccessEntry at {populate_rate:.0}/s)",
        args.clusters,
        args.entries,
        n_entries,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// DescribeCluster and ListAccessEntries per second on the populated state, spread over 64
/// clusters.
async fn sim_rates(
    signer: &Signer,
    a: SocketAddr,
    args: &SimArgs,
    dur: Duration,
) -> Result<(f64, f64), String> {
    // Throughput on the populated state, spread over 64 clusters.
    let spread = args.clusters.clamp(1, 64);
    let describe: Vec<Template> = (0..spread)
        .map(|c| {
            signer.sign(
                a,
                "eks",
                "GET",
                &format!("/clusters/{}", cluster_name(c)),
                "",
                false,
            )
        })
        .collect::<Result<_, _>>()?;
    let list: Vec<Template> = (0..spread)
        .map(|c| {
            signer.sign(
                a,
                "eks",
                "GET",
                &format!("/clusters/{}/access-entries", cluster_name(c)),
                "",
                false,
            )
        })
        .collect::<Result<_, _>>()?;
    let sim_describe = checked_rate(
        load::run_for(a, Arc::new(describe), args.connections, dur).await?,
        "eks-sim DescribeCluster",
    )?;
    let sim_list = checked_rate(
        load::run_for(a, Arc::new(list), args.connections, dur).await?,
        "eks-sim ListAccessEntries",
    )?;
    Ok((sim_describe, sim_list))
}

/// moto, same client, same requests (DescribeCluster only); `None` without moto.
async fn moto_rate(signer: &Signer, args: &SimArgs, dur: Duration) -> Result<Option<f64>, String> {
    Ok(if args.moto_bin.exists() {
        let moto = spawn_moto(&args.moto_bin)?;
        let m = moto.addr;
        load::one(m, &create_role(signer, m, "bench-cluster", "/bench/")?).await?;
        load::one(m, &create_cluster(signer, m, &cluster_name(0))?).await?;
        let t = signer.sign(
            m,
            "eks",
            "GET",
            &format!("/clusters/{}", cluster_name(0)),
            "",
            false,
        )?;
        Some(checked_rate(
            load::run_for(m, Arc::new(vec![t]), args.connections, dur).await?,
            "moto DescribeCluster",
        )?)
    } else {
        println!(
            "(moto not found at {}: moto figures skipped)",
            args.moto_bin.display()
        );
        None
    })
}

fn print_figures(
    args: &SimArgs,
    sim_describe: f64,
    sim_list: f64,
    moto_describe: Option<f64>,
    mem: Option<(f64, f64)>,
) {
    println!();
    println!(
        "{:<20} {:>12} {:>12} {:>8}",
        "operation", "eks-sim", "moto", "ratio"
    );
    match moto_describe {
        Some(m) => println!(
            "{:<20} {} {} {:>7.1}x   (goal >= 50x)",
            "DescribeCluster",
            rate(sim_describe),
            rate(m),
            sim_describe / m
        ),
        None => println!(
            "{:<20} {} {:>12}",
            "DescribeCluster",
            rate(sim_describe),
            "-"
        ),
    }
    println!(
        "{:<20} {} {:>12}   (moto has no access entries)",
        "ListAccessEntries",
        rate(sim_list),
        "n/a"
    );
    if let Some((rss, peak)) = mem {
        println!(
            "eks-sim memory with {} clusters x {} entries: {rss:.1} MiB RSS, {peak:.1} MiB peak \
             (goal < 200 MB)",
            args.clusters, args.entries
        );
    }
}

pub(crate) fn check(res: load::LoadResult, what: &str) -> Result<(), String> {
    if res.failed > 0 {
        return Err(format!(
            "{what}: {} of {} failed; first: {}",
            res.failed,
            res.failed + res.ok,
            res.first_failure.unwrap_or_default()
        ));
    }
    Ok(())
}

fn checked_rate(res: load::LoadResult, what: &str) -> Result<f64, String> {
    let r = res.rate();
    check(res, what)?;
    Ok(r)
}
