//! Actions that change the cluster but not the rack (`auth migrate`): a pending history row
//! opened and closed under the rack's lock, the rack's status and parameters untouched.

use std::time::Duration;

use crate::test_db::Db;
use crate::tests::new_rack_for;
use crate::{ChangeResult, LockOptions, RackStatus, StoreError, LOCAL_ACTOR};

fn opts() -> LockOptions {
    LockOptions {
        wait: Duration::ZERO,
        lease: Duration::from_secs(30),
        purpose: "test".into(),
    }
}

fn an_action_is_recorded_without_touching_the_rack(db: &Db) {
    let s = db.open();
    let (id, _) = s
        .begin_install(&new_rack_for("r1"), &[] as &[&str], LOCAL_ACTOR)
        .expect("install");
    s.finish_change(id, Err("boom")).expect("finish");
    let lock = s.lock_rack("r1", &opts()).expect("lock");
    let f = s.fenced(&lock);
    let planned = serde_json::json!({"summary": "planned"});
    let id = f
        .begin_action("me", "auth migrate", &planned)
        .expect("begin");
    let row = &s.history(Some("r1"), 1).expect("history")[0];
    assert_eq!(
        (row.id, row.result, &row.what),
        (id.0, ChangeResult::Pending, &planned)
    );
    let done = serde_json::json!({"summary": "done"});
    f.finish_action(id, &done, Err("2 failed")).expect("finish");
    let row = &s.history(Some("r1"), 1).expect("history")[0];
    assert_eq!(
        (row.result, row.message.as_deref()),
        (ChangeResult::Failed, Some("2 failed"))
    );
    assert_eq!(row.what, done);
    // The rack is as its last change left it (failed, with that change's error).
    let r = s.get_rack("r1").expect("rack");
    assert_eq!(
        (r.status, r.last_error.as_deref()),
        (RackStatus::Failed, Some("boom"))
    );
    // Closed once only.
    let again = f.finish_action(id, &done, Ok(()));
    assert!(
        matches!(again, Err(StoreError::UnknownChange(_))),
        "{again:?}"
    );
}

crate::tests::on_both_backends!(an_action_is_recorded_without_touching_the_rack);
