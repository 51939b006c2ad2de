//! CreateCluster / DescribeCluster / ListClusters / DeleteCluster, and the stored cluster row
//! that every other EKS operation starts from.

use super::access_entries::enable_api;
use super::errors::{cluster_not_found, in_use, invalid_param};
use super::idempotency::stored_token;
use super::paging::{check_max_results, decode_token, page_from_limited};
use super::principals::is_role_in;
use super::settle::{settle, with_cluster_read, with_cluster_write};
use super::subnets;
use super::types::{
    AccessConfig, Cluster, CreateClusterInput, Page, API, API_AND_CONFIG_MAP, CONFIG_MAP,
};
use super::validate::{
    check_name, check_tags, logging_doc, network_doc, DEFAULT_K8S_VERSION, SUPPORTED_VERSIONS,
};
use super::{hex32, parse_json, tags_json};
use crate::error::SimResult;
use crate::{Ctx, Sim};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use std::collections::BTreeMap;

/// Key in a cluster's stored document: whether CreateCluster named the bootstrap flag.
pub(super) const BOOTSTRAP_GIVEN: &str = "_bootstrapGiven";

/// The cluster's EKS platform version. Access entries need at least the platform versions
/// the EKS User Guide lists per Kubernetes version ("Required platform version"); every
/// simulated cluster supports them, so it reports that version (later Kubernetes versions:
/// any platform version does).
pub(super) fn platform_version(k8s: &str) -> &'static str {
    match k8s {
        "1.23" => "eks.17",
        "1.24" => "eks.15",
        "1.25" => "eks.12",
        "1.26" => "eks.11",
        "1.27" => "eks.10",
        "1.28" => "eks.6",
        "1.29" => "eks.1",
        "1.30" => "eks.2",
        _ => "eks.5",
    }
}

#[derive(Debug, Clone)]
pub(super) struct ClusterRow {
    pub(super) id: i64,
    pub(super) name: String,
    pub(super) arn: String,
    pub(super) region: String,
    pub(super) created_ms: i64,
    pub(super) active_at_ms: i64,
    pub(super) status: String,
    pub(super) version: String,
    pub(super) platform_version: String,
    pub(super) role_arn: String,
    pub(super) auth_mode: String,
    pub(super) bootstrap_admin: bool,
    pub(super) creator_arn: String,
    pub(super) api_ready_at_ms: i64,
    pub(super) settle_at_ms: Option<i64>,
    pub(super) endpoint: String,
    pub(super) tags_json: String,
    pub(super) doc_json: String,
}

pub(super) const CLUSTER_COLS: &str =
    "id, name, arn, region, created_ms, active_at_ms, status, version, \
    platform_version, role_arn, auth_mode, bootstrap_admin, creator_arn, api_ready_at_ms, \
    settle_at_ms, endpoint, tags_json, doc_json";

pub(super) fn cluster_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ClusterRow> {
    Ok(ClusterRow {
        id: r.get(0)?,
        name: r.get(1)?,
        arn: r.get(2)?,
        region: r.get(3)?,
        created_ms: r.get(4)?,
        active_at_ms: r.get(5)?,
        status: r.get(6)?,
        version: r.get(7)?,
        platform_version: r.get(8)?,
        role_arn: r.get(9)?,
        auth_mode: r.get(10)?,
        bootstrap_admin: r.get(11)?,
        creator_arn: r.get(12)?,
        api_ready_at_ms: r.get(13)?,
        settle_at_ms: r.get(14)?,
        endpoint: r.get(15)?,
        tags_json: r.get(16)?,
        doc_json: r.get(17)?,
    })
}

pub(super) fn find_cluster(
    conn: &Connection,
    ctx: &Ctx,
    name: &str,
) -> SimResult<Option<ClusterRow>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {CLUSTER_COLS} FROM eks_clusters WHERE account = ?1 AND region = ?2 AND name = ?3"
    ))?;
    Ok(st
        .query_row(
            params![ctx.caller.account, ctx.region, name],
            cluster_from_row,
        )
        .optional()?)
}

pub(super) fn load_cluster(conn: &Connection, ctx: &Ctx, name: &str) -> SimResult<ClusterRow> {
    find_cluster(conn, ctx, name)?.ok_or_else(|| cluster_not_found(name))
}

impl ClusterRow {
    pub(super) fn partition(&self) -> &'static str {
        crate::arn::partition_of(&self.region)
    }
    pub(super) fn includes_api(&self) -> bool {
        self.auth_mode != CONFIG_MAP
    }
    pub(super) fn due(&self, now: i64) -> bool {
        self.settle_at_ms.is_some_and(|t| t <= now)
    }
    pub(super) fn to_cluster(&self) -> Cluster {
        let mut extra: BTreeMap<String, Box<serde_json::value::RawValue>> =
            serde_json::from_str(&self.doc_json).unwrap_or_default();
        let creating = self.status == "CREATING";
        // EKS echoes bootstrapClusterCreatorAdminPermissions only when CreateCluster was
        // given it (Terraform and Pulumi read it back as absent otherwise).
        let bootstrap_given = extra
            .remove(BOOTSTRAP_GIVEN)
            .is_some_and(|v| v.get() == "true");
        if creating {
            // AWS has no endpoint or certificate before the control plane is up.
            extra.remove("certificateAuthority");
        }
        Cluster {
            name: self.name.clone(),
            arn: self.arn.clone(),
            created_at: self.created_ms,
            version: self.version.clone(),
            endpoint: (!creating).then(|| self.endpoint.clone()),
            role_arn: self.role_arn.clone(),
            status: self.status.clone(),
            access_config: AccessConfig {
                bootstrap_cluster_creator_admin_permissions: bootstrap_given
                    .then_some(self.bootstrap_admin),
                authentication_mode: Some(self.auth_mode.clone()),
            },
            platform_version: self.platform_version.clone(),
            tags: parse_json(&self.tags_json),
            extra,
        }
    }
}

/// What CreateCluster takes from its input, checked before its transaction opens.
struct CheckedCreate {
    mode: String,
    bootstrap: bool,
    version: String,
    network: Value,
    logging: Value,
}

fn check_create(input: &CreateClusterInput) -> SimResult<CheckedCreate> {
    check_name("Cluster", &input.name)?;
    let mode = input
        .access_config
        .as_ref()
        .and_then(|a| a.authentication_mode.clone())
        .unwrap_or_else(|| CONFIG_MAP.to_string());
    if ![CONFIG_MAP, API_AND_CONFIG_MAP, API].contains(&mode.as_str()) {
        return Err(invalid_param(format!(
            "The authenticationMode '{mode}' is invalid. Valid values: API, API_AND_CONFIG_MAP, CONFIG_MAP."
        )));
    }
    let bootstrap = input
        .access_config
        .as_ref()
        .and_then(|a| a.bootstrap_cluster_creator_admin_permissions)
        .unwrap_or(true);
    if mode == CONFIG_MAP && !bootstrap {
        return Err(invalid_param(
            "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication \
             mode is set to CONFIG_MAP",
        ));
    }
    let version = input
        .version
        .clone()
        .unwrap_or_else(|| DEFAULT_K8S_VERSION.to_string());
    if !SUPPORTED_VERSIONS.contains(&version.as_str()) {
        return Err(invalid_param(format!(
            "unsupported Kubernetes version {version}"
        )));
    }
    check_tags(&input.tags)?;
    let network = network_doc(input.kubernetes_network_config.as_ref())?;
    let logging = logging_doc(input.logging.as_ref())?;
    Ok(CheckedCreate {
        mode,
        bootstrap,
        version,
        network,
        logging,
    })
}

/// The rest of AWS's cluster object (stored as `doc_json`), for a control plane whose
/// endpoint host id is `host`.
fn cluster_doc(
    input: &CreateClusterInput,
    checked: &CheckedCreate,
    region: &str,
    host: &str,
    suffix: &str,
) -> Value {
    let vpc = &input.resources_vpc_config;
    let mut doc = serde_json::json!({
        "resourcesVpcConfig": {
            "subnetIds": vpc.subnet_ids,
            "securityGroupIds": vpc.security_group_ids,
            "clusterSecurityGroupId": format!("sg-{}", &hex32()[..17].to_lowercase()),
            "vpcId": format!("vpc-{}", &hex32()[..17].to_lowercase()),
            "endpointPublicAccess": vpc.endpoint_public_access.unwrap_or(true),
            "endpointPrivateAccess": vpc.endpoint_private_access.unwrap_or(false),
            "publicAccessCidrs": vpc.public_access_cidrs.clone().unwrap_or_else(|| vec!["0.0.0.0/0".into()]),
        },
        "kubernetesNetworkConfig": checked.network,
        "logging": checked.logging,
        "identity": {"oidc": {"issuer": format!("https://oidc.eks.{region}.{suffix}/id/{host}")}},
        "certificateAuthority": {"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUNTSU1VTEFURUQKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="},
        "health": {"issues": []},
        "upgradePolicy": {"supportType": "EXTENDED"},
    });
    let bootstrap_given = input
        .access_config
        .as_ref()
        .is_some_and(|a| a.bootstrap_cluster_creator_admin_permissions.is_some());
    if let Some(obj) = doc.as_object_mut() {
        obj.insert(BOOTSTRAP_GIVEN.into(), Value::Bool(bootstrap_given));
    }
    if let (Some(t), Some(obj)) = (&input.client_request_token, doc.as_object_mut()) {
        obj.insert("clientRequestToken".into(), Value::String(t.clone()));
    }
    doc
}

pub fn create_cluster(sim: &Sim, ctx: &Ctx, input: CreateClusterInput) -> SimResult<Cluster> {
    let checked = check_create(&input)?;
    let now = ctx.now_ms;
    let partition = ctx.partition();
    let account = ctx.caller.account.clone();
    sim.store.write(|tx| {
        let settings = crate::settings::load(tx)?;
        let role_ok = is_role_in(tx, &input.role_arn, partition)?;
        if !role_ok {
            // AWS's wording (it cannot tell a missing role from an untrusting one).
            return Err(invalid_param(format!(
                "Role with arn: {}, could not be assumed because it does not exist or the \
                 trusted entity is not correct",
                input.role_arn
            )));
        }
        subnets::check_cluster_subnets(&ctx.region, &input.resources_vpc_config.subnet_ids)?;
        if let Some(existing) = find_cluster(tx, ctx, &input.name)? {
            // A retry of the call that made it (SDKs fill clientRequestToken in, and resend
            // it when an answer was lost) gets the cluster, not a conflict.
            if input.client_request_token.is_some()
                && stored_token(&existing.doc_json) == input.client_request_token
            {
                return Ok(settle(tx, &settings, existing, now)?.to_cluster());
            }
            return Err(in_use(format!(
                "Cluster already exists with name: {}",
                input.name
            )));
        }
        let arn = format!(
            "arn:{partition}:eks:{}:{account}:cluster/{}",
            ctx.region, input.name
        );
        let host = hex32();
        let suffix = crate::arn::dns_suffix(partition);
        let endpoint = format!("https://{host}.gr7.{}.eks.{suffix}", ctx.region);
        let doc = cluster_doc(&input, &checked, &ctx.region, &host, suffix);
        let active_at = now + settings.cluster_create_ms as i64;
        let status = if active_at > now { "CREATING" } else { "ACTIVE" };
        tx.prepare_cached(
            "INSERT INTO eks_clusters (account, region, name, arn, created_ms, active_at_ms, status, \
             version, platform_version, role_arn, auth_mode, bootstrap_admin, creator_arn, \
             api_ready_at_ms, settle_at_ms, endpoint, tags_json, doc_json) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)",
        )?
        .execute(params![
            account,
            ctx.region,
            input.name,
            arn,
            now,
            active_at,
            status,
            checked.version,
            platform_version(&checked.version),
            input.role_arn,
            checked.mode,
            checked.bootstrap,
            ctx.caller.principal_arn,
            now,
            (active_at > now).then_some(active_at),
            endpoint,
            tags_json(&input.tags),
            doc.to_string(),
        ])?;
        let c = load_cluster(tx, ctx, &input.name)?;
        if c.includes_api() {
            enable_api(tx, &settings, &c, now)?;
        }
        Ok(c.to_cluster())
    })
}

pub fn describe_cluster(sim: &Sim, ctx: &Ctx, name: &str) -> SimResult<Cluster> {
    with_cluster_read(sim, ctx, name, false, |_, _, c| Ok(c.to_cluster()))
}

pub fn list_clusters(
    sim: &Sim,
    ctx: &Ctx,
    max_results: Option<i32>,
    next_token: Option<&str>,
) -> SimResult<Page<String>> {
    let max = check_max_results(max_results)?;
    let after = decode_token(next_token)?;
    sim.store.read(|conn| {
        let mut st = conn.prepare_cached(
            "SELECT name FROM eks_clusters WHERE account = ?1 AND region = ?2 AND name > ?3 \
             ORDER BY name LIMIT ?4",
        )?;
        let rows = st.query_map(
            params![
                ctx.caller.account,
                ctx.region,
                after.as_deref().unwrap_or(""),
                (max + 1) as i64
            ],
            |r| r.get::<_, String>(0),
        )?;
        let names: Vec<String> = rows.collect::<Result<_, _>>()?;
        Ok(page_from_limited(names, max))
    })
}

pub fn delete_cluster(sim: &Sim, ctx: &Ctx, name: &str) -> SimResult<Cluster> {
    with_cluster_write(sim, ctx, name, |tx, _, c| {
        let ngs: i64 = tx
            .prepare_cached("SELECT COUNT(*) FROM eks_nodegroups WHERE cluster_id = ?1")?
            .query_row(params![c.id], |r| r.get(0))?;
        if ngs > 0 {
            return Err(in_use("Cluster has nodegroups attached"));
        }
        let mut out = c.to_cluster();
        out.status = "DELETING".into();
        tx.prepare_cached("DELETE FROM eks_policy_assocs WHERE cluster_id = ?1")?
            .execute(params![c.id])?;
        tx.prepare_cached("DELETE FROM eks_clusters WHERE id = ?1")?
            .execute(params![c.id])?;
        Ok(out)
    })
}
