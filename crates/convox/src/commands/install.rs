//! `convox rack install local|aws` and `convox rack uninstall`: input checked offline first
//! (convox-engine's checks), then the engine installs under the new rack's lock.

use std::collections::BTreeMap;

use convox_engine::checks;
use convox_store::{NewRack, Provider};

use super::params::parse_version;
use super::wiring::{connect_provider, engine};
use super::{connect, open_store};
use crate::cli::InstallKind;
use crate::kube_cmds;
use crate::progress::Progress;
use crate::render::print;
use crate::sim;
use crate::Fail;

pub(super) async fn install(kind: InstallKind) -> Result<(), Fail> {
    let progress = Progress::new(false);
    let res = install_inner(kind, &progress).await;
    progress.finish();
    res
}

/// The rack to record, the parameters to set, the profile to connect with, and (local
/// racks) aws-auth mappings to add: everything checked before AWS is touched.
struct Request {
    new: NewRack,
    params: Vec<String>,
    profile: Option<String>,
    seed: Option<BTreeMap<String, String>>,
}

fn request(kind: InstallKind) -> Result<Request, Fail> {
    let (InstallKind::Local {
        name,
        region,
        version,
        ..
    }
    | InstallKind::Aws {
        name,
        region,
        version,
        ..
    }) = &kind;
    convox_store::validate_rack_name(name)?;
    checks::check_region(region).map_err(convox_engine::EngineError::from)?;
    let version = parse_version(version.as_deref())?;
    Ok(match kind {
        InstallKind::Local {
            name,
            region,
            params,
            aws_auth_file,
            ..
        } => Request {
            new: NewRack {
                cluster: name.clone(),
                // Filled in once the roles exist.
                nodes_role_arn: String::new(),
                karpenter_nodes_role_arn: None,
                name,
                provider: Provider::Local,
                version,
                region,
                endpoint: None,
                profile: None,
            },
            params,
            profile: None,
            // Read and checked before anything is made: a bad file installs nothing.
            seed: aws_auth_file
                .map(|f| kube_cmds::read_aws_auth_file(&f))
                .transpose()?,
        },
        InstallKind::Aws {
            name,
            cluster,
            region,
            nodes_role_arn,
            karpenter_nodes_role_arn,
            profile,
            params,
            ..
        } => {
            checks::check_cluster_name(&cluster).map_err(convox_engine::EngineError::from)?;
            for arn in std::iter::once(&nodes_role_arn).chain(karpenter_nodes_role_arn.iter()) {
                checks::check_node_role_arn(arn, &region)
                    .map_err(convox_engine::EngineError::from)?;
            }
            Request {
                new: NewRack {
                    name,
                    provider: Provider::Aws,
                    version,
                    region,
                    cluster,
                    nodes_role_arn,
                    karpenter_nodes_role_arn,
                    endpoint: None,
                    profile: profile.clone(),
                },
                params,
                profile,
                seed: None,
            }
        }
    })
}

async fn install_inner(kind: InstallKind, progress: &Progress) -> Result<(), Fail> {
    let store = open_store()?;
    // Everything that can be checked offline is checked before AWS is touched.
    let Request {
        mut new,
        params,
        profile,
        seed,
    } = request(kind)?;
    let planned = convox_engine::install_params(&new.version, &params)?;
    if new.provider == Provider::Aws {
        convox_engine::gates::check_install_needs(&new, &planned)?;
    }
    if store.rack(&new.name)?.is_some() {
        return Err(convox_store::StoreError::RackExists(new.name.clone()).into());
    }
    if new.provider == Provider::Local && store.is_shared() {
        // Every machine of the team must find the rack's cluster where it was made.
        new.endpoint = Some(sim::shared_endpoint(&new.name)?);
    }
    let sim = new.endpoint.as_deref().map(|u| (new.name.as_str(), u));
    let conn = connect_provider(new.provider, &new.region, profile, sim, progress).await?;
    let name = new.name.clone();
    let mut res = engine(&store, &conn, progress)
        .install(new, &params, &planned)
        .await
        .map_err(Fail::from)
        .map(|set| {
            progress.finish();
            print(&format!("Installing rack {name}... OK\n"));
            if set {
                print("Setting parameters... OK\n");
            }
        });
    if let (Ok(()), Some(data)) = (&res, seed) {
        res = kube_cmds::seed_aws_auth(&store, &conn, &name, &data).await;
    }
    conn.close().await;
    res
}

/// `convox rack uninstall NAME`: a local rack's simulated cluster goes (when tagged as the
/// rack's); an adopted cluster and its entries are left as they are; the record goes last.
pub(super) async fn uninstall(name: &str) -> Result<(), Fail> {
    let store = open_store()?;
    let r = store.get_rack(name)?;
    let progress = Progress::new(false);
    let lock = convox_engine::take_lock(
        &store,
        name,
        "uninstall",
        &convox_engine::RunOptions::from_env(),
        &progress,
    )
    .await?;
    if r.provider == Provider::Local {
        let conn = connect(&r, &progress).await?;
        let res = match convox_engine::still_held(&store, &lock) {
            Ok(()) => conn
                .aws
                .delete_rack_cluster(&r.cluster, &r.name)
                .await
                .map_err(Fail::aws),
            Err(e) => Err(e.into()),
        };
        if let Ok(false) = res {
            // Not ours (e.g. a rack installed before clusters were tagged): leave it.
            progress.say(&format!(
                "cluster {} is not tagged convox:rack={}; leaving it in place",
                r.cluster, r.name
            ));
        }
        conn.close().await;
        progress.finish();
        res?;
    } else {
        // An adopted cluster is not the rack's to delete: only the record goes.
        progress.say(&format!(
            "forgetting rack {name}; cluster {} ({}) and its access entries are left as they are",
            r.cluster, r.region
        ));
    }
    // Fenced: a run stopped past its lease while another took the rack over forgets nothing.
    store
        .fenced(&lock)
        .delete_rack(convox_store::LOCAL_ACTOR)
        .map_err(convox_engine::EngineError::fenced)?;
    print(&format!("Uninstalling rack {name}... OK\n"));
    Ok(())
}
