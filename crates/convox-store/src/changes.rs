//! Changes of a rack made by a locked run: `begin_*` … `finish_change`, `delete_rack` and
//! `record`.
//!
//! Each is fenced by the lock the run holds: the write transaction itself checks that the
//! rack's lock row still carries the run's token before it writes. A run that lost its lock
//! (stopped past its lease while another run took the rack over) therefore writes nothing,
//! whatever it was doing when it stopped; checking the lock first and writing after would
//! leave a window in which the other run takes over. [`StoreError::LockLost`] says so.

use convox_params::{ChangeSet, Params, Version};

use crate::backend::{vals, Tx};
use crate::{
    changes_json, lock, now_rfc3339, validate_rack_name, ChangeId, ChangeResult, NewRack, RackLock,
    RackStatus, Store, StoreError, INTERRUPTED,
};

/// The rack store through a held rack lock: the way a run changes its rack. Every write
/// checks, inside its own transaction, that the lock is still this run's.
#[derive(Debug, Clone, Copy)]
pub struct Fenced<'a> {
    store: &'a Store,
    lock: &'a RackLock,
}

impl Store {
    /// Writes to the rack of `lock`, fenced by it.
    pub fn fenced<'a>(&'a self, lock: &'a RackLock) -> Fenced<'a> {
        Fenced { store: self, lock }
    }

    /// Runs `f` in one write transaction after checking, in that transaction, that `fence`
    /// (when given) still holds `rack`'s lock.
    fn write_fenced<T: Send>(
        &self,
        fence: Option<&RackLock>,
        rack: &str,
        f: impl FnOnce(&mut dyn Tx) -> Result<T, StoreError> + Send,
    ) -> Result<T, StoreError> {
        self.write(|tx| {
            if let Some(l) = fence {
                if l.rack() != rack {
                    return Err(StoreError::NotLocked {
                        rack: rack.to_string(),
                        locked: l.rack().to_string(),
                    });
                }
                let held = lock::holder(tx, rack)?.is_some_and(|h| h.token == l.token());
                if !held {
                    return Err(StoreError::LockLost(rack.to_string()));
                }
            }
            f(tx)
        })
    }
}

impl Fenced<'_> {
    /// The locked rack.
    pub fn rack(&self) -> &str {
        self.lock.rack()
    }

    /// Records a new rack with status `installing` and its initial parameters (validated in
    /// install mode against the rack's version), and opens an `install` history row.
    /// Finish with [`Fenced::finish_change`]. The lock must be `new.name`'s.
    pub fn begin_install<S: AsRef<str> + Sync>(
        &self,
        new: &NewRack,
        param_args: &[S],
        actor: &str,
    ) -> Result<(ChangeId, ChangeSet), StoreError> {
        self.store
            .begin_install_in(Some(self.lock), new, param_args, actor)
    }

    /// Validates `KEY=VALUE` arguments against the rack's current parameters and version
    /// *inside* the write transaction (no window between reading and storing), then stores
    /// them, sets the rack `updating` and opens a `params set` history row. A refusal
    /// ([`StoreError::Invalid`]) stores nothing.
    pub fn begin_params_set<S: AsRef<str> + Sync>(
        &self,
        args: &[S],
        actor: &str,
    ) -> Result<(ChangeId, ChangeSet), StoreError> {
        self.store
            .begin_params_set_in(Some(self.lock), self.rack(), args, actor)
    }

    /// Stores an already validated change set, sets the rack `updating` and opens a
    /// `params set` history row; returns its id.
    pub fn begin_change(&self, changes: &ChangeSet, actor: &str) -> Result<ChangeId, StoreError> {
        self.store
            .begin_change_in(Some(self.lock), self.rack(), changes, actor)
    }

    /// `rack update`: checks the move with [`convox_params::validate_update`] (a known
    /// version; whether a downgrade is safe depends on the cluster and is the caller's call),
    /// stores the new version, sets the rack `updating` and opens an `update` history row. A
    /// refusal stores nothing. The history row names the parameters a downgrade leaves
    /// behind, and whether it was `forced` past the caller's safety check: an audit question.
    pub fn begin_update(
        &self,
        to: &Version,
        forced: bool,
        actor: &str,
    ) -> Result<ChangeId, StoreError> {
        self.store
            .begin_update_in(Some(self.lock), self.rack(), to, forced, None, actor)
    }

    /// [`Self::begin_update`] that also records which row of the seed's downgrade table
    /// applied (`downgrade_row` in the history note).
    pub fn begin_update_in_row(
        &self,
        to: &Version,
        forced: bool,
        row: Option<&str>,
        actor: &str,
    ) -> Result<ChangeId, StoreError> {
        self.store
            .begin_update_in(Some(self.lock), self.rack(), to, forced, row, actor)
    }

    /// Closes a change opened by a `begin_*` call: the history row gets the result, the rack
    /// becomes `running` (last error cleared) or `failed` (with the message). Requested
    /// parameters are kept either way, so a failed change can be rerun.
    pub fn finish_change(&self, id: ChangeId, result: Result<(), &str>) -> Result<(), StoreError> {
        self.store.finish_change_in(Some(self.lock), id, result)
    }

    /// Forgets the rack: its record, parameters and lock (history stays, plus an
    /// `uninstall` row). Clears the current rack if it was this one.
    pub fn delete_rack(&self, actor: &str) -> Result<(), StoreError> {
        self.store
            .delete_rack_in(Some(self.lock), self.rack(), actor)
    }

    /// Opens a pending history row for an action that changes the cluster but not the
    /// rack's parameters or status (e.g. `auth migrate`); close it with
    /// [`Fenced::finish_action`]. A change left pending by a run that lost the lock is
    /// closed as interrupted first, as every `begin_*` does.
    pub fn begin_action(
        &self,
        actor: &str,
        action: &str,
        what: &serde_json::Value,
    ) -> Result<ChangeId, StoreError> {
        let now = now_rfc3339();
        let rack = self.rack();
        self.store.write_fenced(Some(self.lock), rack, |tx| {
            if self.store.rack_in(tx, rack)?.is_none() {
                return Err(StoreError::UnknownRack(rack.to_string()));
            }
            self.store.close_interrupted_in(tx, rack, &now)?;
            self.store.history_in(
                tx,
                rack,
                actor,
                action,
                what,
                ChangeResult::Pending,
                None,
                &now,
            )
        })
    }

    /// Closes a row opened by [`Fenced::begin_action`] with its result and final `what`;
    /// the rack's status is left as it is.
    pub fn finish_action(
        &self,
        id: ChangeId,
        what: &serde_json::Value,
        result: Result<(), &str>,
    ) -> Result<(), StoreError> {
        let now = now_rfc3339();
        let (outcome, message) = match result {
            Ok(()) => (ChangeResult::Ok, None),
            Err(m) => (ChangeResult::Failed, Some(m)),
        };
        self.store.write_fenced(Some(self.lock), self.rack(), |tx| {
            let n = tx.exec(
                "UPDATE history SET result = ?2, message = ?3, finished_at = ?4, what = ?5 \
                 WHERE id = ?1 AND rack = ?6 AND result = 'pending'",
                vals![
                    id.0,
                    outcome.as_str(),
                    message,
                    &now,
                    what.to_string(),
                    self.rack()
                ],
            )?;
            if n == 0 {
                return Err(StoreError::UnknownChange(id.0));
            }
            Ok(())
        })
    }

    /// Records a finished action in one row (e.g. a refused `rack update` a user should see).
    pub fn record(
        &self,
        actor: &str,
        action: &str,
        what: &serde_json::Value,
        result: Result<(), &str>,
    ) -> Result<ChangeId, StoreError> {
        self.store
            .record_in(Some(self.lock), self.rack(), actor, action, what, result)
    }
}

impl Store {
    fn begin_install_in<S: AsRef<str> + Sync>(
        &self,
        fence: Option<&RackLock>,
        new: &NewRack,
        param_args: &[S],
        actor: &str,
    ) -> Result<(ChangeId, ChangeSet), StoreError> {
        validate_rack_name(&new.name)?;
        let changes = if param_args.is_empty() {
            ChangeSet::default()
        } else {
            convox_params::validate(
                &Params::default(),
                &new.version,
                param_args,
                convox_params::Mode::Set,
            )?
        };
        let now = now_rfc3339();
        let id = self.write_fenced(fence, &new.name, |tx| {
            if self.rack_in(tx, &new.name)?.is_some() {
                return Err(StoreError::RackExists(new.name.clone()));
            }
            tx.exec(
                "INSERT INTO racks (name, provider, version, status, region, cluster, \
                 nodes_role_arn, karpenter_nodes_role_arn, endpoint, profile, created_at, \
                 updated_at, last_error) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?11,NULL)",
                vals![
                    &new.name,
                    new.provider.as_str(),
                    new.version.to_string(),
                    RackStatus::Installing.as_str(),
                    &new.region,
                    &new.cluster,
                    &new.nodes_role_arn,
                    new.karpenter_nodes_role_arn.as_deref(),
                    new.endpoint.as_deref(),
                    new.profile.as_deref(),
                    &now
                ],
            )?;
            self.store_params_in(tx, &new.name, &changes, &now)?;
            let what = serde_json::json!({
                "provider": new.provider.as_str(),
                "version": new.version.to_string(),
                "region": new.region,
                "cluster": new.cluster,
                "nodes_role_arn": new.nodes_role_arn,
                "karpenter_nodes_role_arn": new.karpenter_nodes_role_arn,
                "params": changes_json(&changes),
            });
            self.history_in(
                tx,
                &new.name,
                actor,
                "install",
                &what,
                ChangeResult::Pending,
                None,
                &now,
            )
        })?;
        tracing::debug!(rack = %new.name, change = id.0, "install begun");
        Ok((id, changes))
    }

    fn begin_params_set_in<S: AsRef<str> + Sync>(
        &self,
        fence: Option<&RackLock>,
        rack: &str,
        args: &[S],
        actor: &str,
    ) -> Result<(ChangeId, ChangeSet), StoreError> {
        let now = now_rfc3339();
        self.write_fenced(fence, rack, |tx| {
            let r = self
                .rack_in(tx, rack)?
                .ok_or_else(|| StoreError::UnknownRack(rack.to_string()))?;
            let current = self.params_in(tx, rack)?;
            let changes = convox_params::validate_set(&current, &r.version, args)?;
            let id = self.begin_in(tx, rack, "params set", &changes, None, actor, &now)?;
            Ok((id, changes))
        })
    }

    fn begin_change_in(
        &self,
        fence: Option<&RackLock>,
        rack: &str,
        changes: &ChangeSet,
        actor: &str,
    ) -> Result<ChangeId, StoreError> {
        let now = now_rfc3339();
        self.write_fenced(fence, rack, |tx| {
            if self.rack_in(tx, rack)?.is_none() {
                return Err(StoreError::UnknownRack(rack.to_string()));
            }
            self.begin_in(tx, rack, "params set", changes, None, actor, &now)
        })
    }

    fn begin_update_in(
        &self,
        fence: Option<&RackLock>,
        rack: &str,
        to: &Version,
        forced: bool,
        row: Option<&str>,
        actor: &str,
    ) -> Result<ChangeId, StoreError> {
        let now = now_rfc3339();
        self.write_fenced(fence, rack, |tx| {
            let r = self
                .rack_in(tx, rack)?
                .ok_or_else(|| StoreError::UnknownRack(rack.to_string()))?;
            let current = self.params_in(tx, rack)?;
            let left = convox_params::validate_update(&current, &r.version, to)?;
            let mut note = serde_json::Map::new();
            if !left.is_empty() {
                note.insert(
                    "left_behind".into(),
                    left.iter().map(|l| l.key.clone()).collect(),
                );
            }
            if forced {
                note.insert("forced".into(), true.into());
            }
            if let Some(row) = row {
                note.insert("downgrade_row".into(), row.into());
            }
            self.begin_in(
                tx,
                rack,
                "update",
                &ChangeSet::default(),
                Some((&r.version, to, note)),
                actor,
                &now,
            )
        })
    }

    fn close_interrupted_in(
        &self,
        tx: &mut dyn Tx,
        rack: &str,
        now: &str,
    ) -> Result<(), StoreError> {
        let n = tx.exec(
            "UPDATE history SET result = 'failed', message = ?2, finished_at = ?3 \
                 WHERE rack = ?1 AND result = 'pending'",
            vals![rack, INTERRUPTED, now],
        )?;
        if n > 0 {
            tracing::warn!(
                rack,
                changes = n,
                "closed changes left pending by an interrupted run"
            );
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn begin_in(
        &self,
        tx: &mut dyn Tx,
        rack: &str,
        action: &str,
        changes: &ChangeSet,
        version: Option<(
            &Version,
            &Version,
            serde_json::Map<String, serde_json::Value>,
        )>,
        actor: &str,
        now: &str,
    ) -> Result<ChangeId, StoreError> {
        // Callers hold the rack lock, so a change still pending belongs to a run that lost
        // it (died, or stopped past its lease): fenced out, it can never close the change
        // itself, so close it here rather than let history show it running.
        self.close_interrupted_in(tx, rack, now)?;
        self.store_params_in(tx, rack, changes, now)?;
        let mut what = serde_json::json!({ "params": changes_json(changes) });
        if let Some((from, to, note)) = version {
            tx.exec(
                "UPDATE racks SET version = ?2 WHERE name = ?1",
                vals![rack, to.to_string()],
            )?;
            what["from"] = from.to_string().into();
            what["to"] = to.to_string().into();
            for (k, v) in note {
                what[k] = v;
            }
        }
        // The previous error stays visible until this change finishes.
        let last_error =
            match tx.query_opt("SELECT last_error FROM racks WHERE name = ?1", vals![rack])? {
                Some(r) => r.opt_text(0)?,
                None => return Err(StoreError::UnknownRack(rack.to_string())),
            };
        self.set_status_in(tx, rack, RackStatus::Updating, last_error.as_deref(), now)?;
        let id = self.history_in(
            tx,
            rack,
            actor,
            action,
            &what,
            ChangeResult::Pending,
            None,
            now,
        )?;
        tracing::debug!(rack, action, change = id.0, "change begun");
        Ok(id)
    }

    fn finish_change_in(
        &self,
        fence: Option<&RackLock>,
        id: ChangeId,
        result: Result<(), &str>,
    ) -> Result<(), StoreError> {
        let now = now_rfc3339();
        // The fence names the rack; without one (the unit tests) the row does.
        let rack = match fence {
            Some(l) => l.rack().to_string(),
            None => self
                .read(|c| self.change_rack_in(c, id))?
                .ok_or(StoreError::UnknownChange(id.0))?,
        };
        self.write_fenced(fence, &rack, |tx| {
            let row = tx
                .query_opt(
                    "SELECT result FROM history WHERE id = ?1 AND rack = ?2",
                    vals![id.0, &rack],
                )?
                .map(|r| r.text(0))
                .transpose()?;
            if row.as_deref() != Some(ChangeResult::Pending.as_str()) {
                return Err(StoreError::UnknownChange(id.0));
            }
            let (outcome, message) = match result {
                Ok(()) => (ChangeResult::Ok, None),
                Err(m) => (ChangeResult::Failed, Some(m)),
            };
            tx.exec(
                "UPDATE history SET result = ?2, message = ?3, finished_at = ?4 WHERE id = ?1",
                vals![id.0, outcome.as_str(), message, &now],
            )?;
            // The rack may have been uninstalled meanwhile; the history row still closes.
            if self.rack_in(tx, &rack)?.is_some() {
                let status = if outcome == ChangeResult::Ok {
                    RackStatus::Running
                } else {
                    RackStatus::Failed
                };
                self.set_status_in(tx, &rack, status, message, &now)?;
            }
            tracing::debug!(
                rack,
                change = id.0,
                ok = outcome == ChangeResult::Ok,
                "change finished"
            );
            Ok(())
        })
    }

    fn change_rack_in(&self, c: &mut dyn Tx, id: ChangeId) -> Result<Option<String>, StoreError> {
        c.query_opt("SELECT rack FROM history WHERE id = ?1", vals![id.0])?
            .map(|r| r.text(0))
            .transpose()
    }

    fn record_in(
        &self,
        fence: Option<&RackLock>,
        rack: &str,
        actor: &str,
        action: &str,
        what: &serde_json::Value,
        result: Result<(), &str>,
    ) -> Result<ChangeId, StoreError> {
        let now = now_rfc3339();
        let (outcome, message) = match result {
            Ok(()) => (ChangeResult::Ok, None),
            Err(m) => (ChangeResult::Failed, Some(m)),
        };
        self.write_fenced(fence, rack, |tx| {
            self.history_in(tx, rack, actor, action, what, outcome, message, &now)
        })
    }

    fn delete_rack_in(
        &self,
        fence: Option<&RackLock>,
        name: &str,
        actor: &str,
    ) -> Result<(), StoreError> {
        let now = now_rfc3339();
        self.write_fenced(fence, name, |tx| {
            if self.rack_in(tx, name)?.is_none() {
                return Err(StoreError::UnknownRack(name.to_string()));
            }
            self.close_interrupted_in(tx, name, &now)?;
            for sql in [
                "DELETE FROM params WHERE rack = ?1",
                "DELETE FROM locks WHERE rack = ?1",
                "DELETE FROM racks WHERE name = ?1",
                "DELETE FROM meta WHERE key = 'current_rack' AND value = ?1",
            ] {
                tx.exec(sql, vals![name])?;
            }
            self.history_in(
                tx,
                name,
                actor,
                "uninstall",
                &serde_json::json!({}),
                ChangeResult::Ok,
                None,
                &now,
            )?;
            Ok(())
        })
    }
}

/// Unfenced forms of the changes, for the unit tests of what they store (validation,
/// history, statuses); the product writes through [`Fenced`] only.
#[cfg(test)]
impl Store {
    pub(crate) fn begin_install<S: AsRef<str> + Sync>(
        &self,
        new: &NewRack,
        param_args: &[S],
        actor: &str,
    ) -> Result<(ChangeId, ChangeSet), StoreError> {
        self.begin_install_in(None, new, param_args, actor)
    }

    pub(crate) fn begin_params_set<S: AsRef<str> + Sync>(
        &self,
        rack: &str,
        args: &[S],
        actor: &str,
    ) -> Result<(ChangeId, ChangeSet), StoreError> {
        self.begin_params_set_in(None, rack, args, actor)
    }

    pub(crate) fn begin_change(
        &self,
        rack: &str,
        changes: &ChangeSet,
        actor: &str,
    ) -> Result<ChangeId, StoreError> {
        self.begin_change_in(None, rack, changes, actor)
    }

    pub(crate) fn begin_update(
        &self,
        rack: &str,
        to: &Version,
        forced: bool,
        actor: &str,
    ) -> Result<ChangeId, StoreError> {
        self.begin_update_in(None, rack, to, forced, None, actor)
    }

    pub(crate) fn finish_change(
        &self,
        id: ChangeId,
        result: Result<(), &str>,
    ) -> Result<(), StoreError> {
        self.finish_change_in(None, id, result)
    }

    pub(crate) fn delete_rack(&self, name: &str, actor: &str) -> Result<(), StoreError> {
        self.delete_rack_in(None, name, actor)
    }

    pub(crate) fn record(
        &self,
        rack: &str,
        actor: &str,
        action: &str,
        what: &serde_json::Value,
        result: Result<(), &str>,
    ) -> Result<ChangeId, StoreError> {
        self.record_in(None, rack, actor, action, what, result)
    }
}
