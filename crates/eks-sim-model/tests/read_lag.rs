//! `read_lag_ms`: a change to an access entry reaches list/describe only after the lag. An
//! entry that exists and is updated keeps reading as its previous version meanwhile (it
//! never vanishes); only a new entry is invisible.

use eks_sim_model::eks::{self, *};
use eks_sim_model::iam::{self, CreateRoleInput};
use eks_sim_model::settings::{self, Settings};
use eks_sim_model::{Caller, Ctx, Sim, Store};

const ACCT: &str = "123456789012";
const T0: i64 = 1_700_000_000_000;
const LAG: i64 = 1000;
const ROLE: &str = "arn:aws:iam::123456789012:role/dev";

fn ctx(now_ms: i64) -> Ctx {
    Ctx {
        caller: Caller {
            account: ACCT.into(),
            arn: format!("arn:aws:sts::{ACCT}:assumed-role/ConvoxAdmin/convox"),
            principal_arn: format!("arn:aws:iam::{ACCT}:role/ops/ConvoxAdmin"),
            user_id: "AROASIMULATED:convox".into(),
        },
        region: "us-east-1".into(),
        now_ms,
    }
}

/// A state with no durations but `read_lag_ms`, cluster `c` (mode API) and role `dev`.
fn setup(dir: &std::path::Path) -> Sim {
    let store = Store::open(&dir.join("sim.db")).expect("open store");
    let s = Settings {
        cluster_create_ms: 0,
        nodegroup_create_ms: 0,
        update_ms: 0,
        propagation_ms: 0,
        read_lag_ms: LAG as u64,
        bootstrap_creator_admin: false,
        ..Settings::default()
    };
    store
        .write(|tx| {
            settings::save(tx, &s)?;
            for name in ["cluster", "dev"] {
                iam::create_role_in(
                    tx,
                    &ctx(T0),
                    &CreateRoleInput {
                        role_name: name.into(),
                        assume_role_policy_document: iam::account_trust_policy(ACCT, "aws"),
                        ..Default::default()
                    },
                )?;
            }
            Ok(())
        })
        .expect("seed");
    let sim = Sim::new(store);
    let input = CreateClusterInput {
        name: "c".into(),
        role_arn: format!("arn:aws:iam::{ACCT}:role/cluster"),
        resources_vpc_config: VpcConfigRequest {
            subnet_ids: vec!["subnet-1".into(), "subnet-2".into()],
            ..Default::default()
        },
        access_config: Some(AccessConfig {
            authentication_mode: Some("API".into()),
            bootstrap_cluster_creator_admin_permissions: None,
        }),
        ..Default::default()
    };
    eks::create_cluster(&sim, &ctx(T0), input).expect("create cluster");
    sim
}

fn update(sim: &Sim, at: i64, groups: &[&str]) {
    eks::update_access_entry(
        sim,
        &ctx(at),
        UpdateAccessEntryInput {
            cluster_name: "c".into(),
            principal_arn: ROLE.into(),
            kubernetes_groups: Some(groups.iter().map(|g| g.to_string()).collect()),
            ..Default::default()
        },
    )
    .expect("update");
}

fn groups_at(sim: &Sim, at: i64) -> Vec<String> {
    eks::describe_access_entry(sim, &ctx(at), "c", ROLE)
        .expect("describe")
        .kubernetes_groups
}

fn listed_at(sim: &Sim, at: i64) -> Vec<String> {
    eks::list_access_entries(sim, &ctx(at), "c", None, None, None)
        .expect("list")
        .items
}

fn create(sim: &Sim) {
    let input = CreateAccessEntryInput {
        cluster_name: "c".into(),
        principal_arn: ROLE.into(),
        kubernetes_groups: Some(vec!["v1".into()]),
        ..Default::default()
    };
    eks::create_access_entry(sim, &ctx(T0), input).expect("create entry");
}

#[test]
fn an_updated_entry_reads_as_its_previous_version_until_the_lag_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = setup(dir.path());
    create(&sim);
    // New: invisible until the lag has passed.
    assert!(eks::describe_access_entry(&sim, &ctx(T0 + LAG - 1), "c", ROLE).is_err());
    assert_eq!(groups_at(&sim, T0 + LAG), ["v1"]);

    let t1 = T0 + 5000;
    update(&sim, t1, &["v2"]);
    // Within the lag: the previous version, still listed, still with its policies' listing.
    assert_eq!(groups_at(&sim, t1), ["v1"]);
    assert_eq!(groups_at(&sim, t1 + LAG - 1), ["v1"]);
    let seen = eks::describe_access_entry(&sim, &ctx(t1 + 1), "c", ROLE).expect("describe");
    assert_eq!(seen.modified_at, T0);
    assert_eq!(listed_at(&sim, t1 + 1), [ROLE]);
    assert!(
        eks::list_associated_access_policies(&sim, &ctx(t1 + 1), "c", ROLE, None, None)
            .expect("list policies")
            .items
            .is_empty()
    );
    // After it: the new version.
    assert_eq!(groups_at(&sim, t1 + LAG), ["v2"]);
    assert_eq!(
        eks::describe_access_entry(&sim, &ctx(t1 + LAG), "c", ROLE)
            .expect("describe")
            .modified_at,
        t1
    );
}

#[test]
fn updates_in_quick_succession_read_as_the_last_visible_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = setup(dir.path());
    create(&sim);
    let t1 = T0 + 5000;
    update(&sim, t1, &["v2"]);
    // v2 is not visible yet when v3 lands: readers keep seeing v1, not v2.
    update(&sim, t1 + 10, &["v3"]);
    assert_eq!(groups_at(&sim, t1 + 500), ["v1"]);
    assert_eq!(groups_at(&sim, t1 + 10 + LAG), ["v3"]);
}

#[test]
fn an_entry_updated_right_after_creation_stays_invisible() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = setup(dir.path());
    create(&sim);
    update(&sim, T0 + 10, &["v2"]);
    assert!(eks::describe_access_entry(&sim, &ctx(T0 + 500), "c", ROLE).is_err());
    assert!(listed_at(&sim, T0 + 500).is_empty());
    assert_eq!(groups_at(&sim, T0 + 10 + LAG), ["v2"]);
}

#[test]
fn a_state_file_from_before_the_previous_version_columns_opens_and_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = setup(dir.path());
    create(&sim);
    drop(sim);
    // Make it look like an older file: no prev_* columns.
    let conn = rusqlite::Connection::open(dir.path().join("sim.db")).expect("open");
    for col in ["prev_username", "prev_groups_json", "prev_modified_ms"] {
        conn.execute_batch(&format!("ALTER TABLE eks_access_entries DROP COLUMN {col}"))
            .expect("drop column");
    }
    drop(conn);
    let sim = Sim::new(Store::open(&dir.path().join("sim.db")).expect("reopen"));
    update(&sim, T0 + 5000, &["v2"]);
    assert_eq!(groups_at(&sim, T0 + 5001), ["v1"]);
    assert_eq!(groups_at(&sim, T0 + 5000 + LAG), ["v2"]);
}
