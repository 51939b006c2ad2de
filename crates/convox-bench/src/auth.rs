//! `convox-bench auth`: what `rack auth` and `rack auth migrate` cost with a realistic
//! aws-auth of N people and CI roles, through the real `convox` binary against a
//! `convox sim serve` whose request log counts every API call (the Kubernetes API's reads
//! are counted by the simulator under `kube:`, when it logs them).

use std::path::PathBuf;
use std::sync::Arc;

use crate::load::{self, Signer};
use crate::reconcile::{convox, counts, diff, serve, show};
use crate::server::{check, create_role};

#[derive(clap::Args)]
pub struct AuthArgs {
    /// aws-auth mappings (each an IAM role with a path, mapped without it).
    #[arg(long, default_value_t = 200)]
    mappings: usize,
    /// The convox binary (default: next to this binary).
    #[arg(long)]
    convox_bin: Option<PathBuf>,
}

pub async fn run(args: AuthArgs) -> Result<(), String> {
    let bin = match &args.convox_bin {
        Some(p) => p.clone(),
        None => crate::sibling("convox")?,
    };
    let home = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let h = home.path();
    let sets = ["update_ms=0".to_string(), "propagation_ms=0".to_string()];
    let (server, addr) = serve(&bin, h, &sets)?;
    let endpoint = format!("http://{addr}");
    let n = args.mappings;
    let signer = Signer::default_sim();
    let roles = (0..n)
        .map(|i| create_role(&signer, addr, &format!("person-{i:03}"), "/team/"))
        .collect::<Result<Vec<_>, _>>()?;
    check(
        load::run_each(addr, Arc::new(roles), 8).await?,
        "CreateRole",
    )?;
    let mut file = String::from("mapRoles:\n");
    for i in 0..n {
        let groups = if i % 10 == 0 {
            "[system:masters]"
        } else {
            "[developers]"
        };
        file.push_str(&format!(
            "- rolearn: arn:aws:iam::{}:role/person-{i:03}\n  username: person-{i:03}\n  groups: {groups}\n",
            eks_sim_model::DEFAULT_ACCOUNT
        ));
    }
    let path = h.join("aws-auth.yaml");
    std::fs::write(&path, file).map_err(|e| format!("write aws-auth file: {e}"))?;
    let file_arg = path.to_string_lossy().to_string();
    convox(
        &bin,
        h,
        &endpoint,
        &[
            "rack",
            "install",
            "local",
            "bench",
            "--aws-auth-file",
            &file_arg,
        ],
    )?;
    convox(
        &bin,
        h,
        &endpoint,
        &[
            "rack",
            "params",
            "set",
            "eks_access_entries=true",
            "-r",
            "bench",
        ],
    )?;
    let auth = ["rack", "auth", "-r", "bench", "--output", "json"];
    let migrate = ["rack", "auth", "migrate", "-r", "bench"];
    let c0 = counts(addr).await?;
    let before = convox(&bin, h, &endpoint, &auth)?;
    let c1 = counts(addr).await?;
    let made = convox(&bin, h, &endpoint, &migrate)?;
    let c2 = counts(addr).await?;
    let after = convox(&bin, h, &endpoint, &auth)?;
    let c3 = counts(addr).await?;
    let again = convox(&bin, h, &endpoint, &migrate)?;
    let c4 = counts(addr).await?;
    drop(server);
    println!("auth benchmark: {n} aws-auth mappings (roles with a path, mapped without it)");
    show(
        &format!("rack auth: {n} mappings, 2 entries"),
        before,
        &diff(&c0, &c1),
    );
    show(
        &format!("rack auth migrate: {n} mappings -> {n} entries"),
        made,
        &diff(&c1, &c2),
    );
    show(
        &format!("rack auth: {n} mappings, {} entries", n + 2),
        after,
        &diff(&c2, &c3),
    );
    show(
        "rack auth migrate again (nothing to do)",
        again,
        &diff(&c3, &c4),
    );
    Ok(())
}
