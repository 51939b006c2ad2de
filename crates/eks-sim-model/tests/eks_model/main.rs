//! Table-driven tests of the simulated EKS rules, against the model directly (no network).
//! Time is the `Ctx::now_ms` the tests pass, so durations are checked exactly.

mod clusters;
mod entries;
mod inputs;
mod mode;
mod nodegroups;
mod policies;

use eks_sim_model::eks::{self, *};
use eks_sim_model::iam::{self, CreateRoleInput};
use eks_sim_model::settings::{self, Settings};
use eks_sim_model::{Caller, Ctx, Sim, SimError, Store};

const ACCT: &str = "123456789012";
const T0: i64 = 1_700_000_000_000;
const CLUSTER_ROLE: &str = "arn:aws:iam::123456789012:role/eks-cluster";
const NODE_ROLE: &str = "arn:aws:iam::123456789012:role/nodes";
const KARPENTER_ROLE: &str = "arn:aws:iam::123456789012:role/karpenter-nodes";
const PATH_ROLE: &str = "arn:aws:iam::123456789012:role/development/apps/my-role";
const USER: &str = "arn:aws:iam::123456789012:user/alice";
const ADMIN: &str = "arn:aws:iam::123456789012:role/ops/ConvoxAdmin";
const ADMIN_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy";
const VIEW_POLICY: &str = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
const MODE_MSG: &str = "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this operation.";
const DUP_MSG: &str = "The specified access entry resource is already in use on this cluster.";
const STD_MSG: &str =
    "This operation can only be performed on Access Entries with a type of \"STANDARD\".";

struct Env {
    _dir: tempfile::TempDir,
    sim: Sim,
}

fn ctx_at(region: &str, now_ms: i64) -> Ctx {
    // As the server builds it: identities are shown in the region's partition.
    let part = eks_sim_model::arn::partition_of(region);
    Ctx {
        caller: Caller {
            account: ACCT.into(),
            arn: format!("arn:{part}:sts::{ACCT}:assumed-role/ConvoxAdmin/convox"),
            principal_arn: ADMIN.replace("arn:aws:", &format!("arn:{part}:")),
            user_id: "AROASIMULATED:convox".into(),
        },
        region: region.into(),
        now_ms,
    }
}

fn ctx(now_ms: i64) -> Ctx {
    ctx_at("us-east-1", now_ms)
}

/// A fresh state with all durations 0 unless `tweak` says otherwise, and the IAM
/// principals the tests use.
fn env_with(tweak: impl FnOnce(&mut Settings)) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("sim.db")).expect("open store");
    let mut s = Settings {
        cluster_create_ms: 0,
        nodegroup_create_ms: 0,
        update_ms: 0,
        propagation_ms: 0,
        ..Settings::default()
    };
    tweak(&mut s);
    let c = ctx(T0);
    store
        .write(|tx| {
            settings::save(tx, &s)?;
            for (name, path) in [
                ("eks-cluster", None),
                ("nodes", None),
                ("karpenter-nodes", None),
                ("my-role", Some("/development/apps/")),
                (
                    "AWSServiceRoleForAmazonEKS",
                    Some("/aws-service-role/eks.amazonaws.com/"),
                ),
            ] {
                iam::create_role_in(
                    tx,
                    &c,
                    &CreateRoleInput {
                        role_name: name.into(),
                        path: path.map(str::to_string),
                        assume_role_policy_document: iam::account_trust_policy(ACCT, "aws"),
                        ..Default::default()
                    },
                )?;
            }
            iam::create_user_in(tx, &c, "alice", None, &[])?;
            Ok(())
        })
        .expect("seed");
    Env {
        _dir: dir,
        sim: Sim::new(store),
    }
}

fn env() -> Env {
    env_with(|_| {})
}

fn cluster_input(name: &str, mode: Option<&str>) -> CreateClusterInput {
    CreateClusterInput {
        name: name.into(),
        role_arn: CLUSTER_ROLE.into(),
        resources_vpc_config: VpcConfigRequest {
            subnet_ids: vec!["subnet-1".into(), "subnet-2".into()],
            ..Default::default()
        },
        access_config: mode.map(|m| AccessConfig {
            authentication_mode: Some(m.into()),
            bootstrap_cluster_creator_admin_permissions: None,
        }),
        ..Default::default()
    }
}

fn mk_cluster(e: &Env, name: &str, mode: &str) -> Cluster {
    eks::create_cluster(&e.sim, &ctx(T0), cluster_input(name, Some(mode))).expect("create cluster")
}

fn entry_input(cluster: &str, principal: &str, kind: Option<&str>) -> CreateAccessEntryInput {
    CreateAccessEntryInput {
        cluster_name: cluster.into(),
        principal_arn: principal.into(),
        kind: kind.map(str::to_string),
        ..Default::default()
    }
}

fn set_mode(e: &Env, cluster: &str, mode: &str, now: i64) -> Result<Update, SimError> {
    eks::update_cluster_config(
        &e.sim,
        &ctx(now),
        UpdateClusterConfigInput {
            name: cluster.into(),
            authentication_mode: Some(mode.into()),
            access_config_present: true,
            ..Default::default()
        },
    )
}

fn assert_err<T: std::fmt::Debug>(
    r: Result<T, SimError>,
    code: &str,
    status: u16,
    msg: Option<&str>,
) {
    let e = r.expect_err("expected an error");
    assert_eq!(e.code, code, "{e:?}");
    assert_eq!(e.status, status, "{e:?}");
    if let Some(m) = msg {
        assert_eq!(e.message, m);
    }
}

fn nodegroup(
    e: &Env,
    cluster: &str,
    name: &str,
    role: &str,
    now: i64,
) -> Result<Nodegroup, SimError> {
    eks::create_nodegroup(
        &e.sim,
        &ctx(now),
        CreateNodegroupInput {
            cluster_name: cluster.into(),
            nodegroup_name: name.into(),
            subnets: vec!["subnet-1".into()],
            node_role: role.into(),
            ..Default::default()
        },
    )
}
