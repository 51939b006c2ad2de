//! Updates in flight. While an UpdateClusterConfig runs, DescribeCluster still reports the
//! old authentication mode (and status UPDATING): the mode it is about to be in is read from
//! ListUpdates and DescribeUpdate, so no decision takes a mode about to change for the mode.

use convox_planner::{AuthMode, PendingUpdate};
use futures::stream::{self, StreamExt};

use crate::error::CallError;
use crate::Aws;

/// Pages of ListUpdates read at most (100 ids each); EKS runs one update at a time.
const MAX_PAGES: usize = 10;

impl Aws {
    /// The update in progress on `cluster`, preferring an auth-mode update (with the mode it
    /// sets); `None` when none is in progress. Only asked when the cluster is not ACTIVE,
    /// so a converged rack's no-op run pays nothing for it.
    pub(crate) async fn pending_update(
        &self,
        cluster: &str,
    ) -> Result<Option<PendingUpdate>, CallError> {
        let mut ids: Vec<String> = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .call("eks:ListUpdates", || {
                    self.eks
                        .list_updates()
                        .name(cluster)
                        .max_results(100)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            ids.extend(page.update_ids().iter().cloned());
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        let described: Vec<Result<Option<PendingUpdate>, CallError>> = stream::iter(ids)
            .map(|id| async move { self.describe_pending(cluster, &id).await })
            .buffer_unordered(8)
            .collect()
            .await;
        let mut found: Option<PendingUpdate> = None;
        for d in described {
            if let Some(u) = d? {
                if found.as_ref().is_none_or(|f| f.auth_mode.is_none()) {
                    found = Some(u);
                }
            }
        }
        Ok(found)
    }

    /// One update, if it is in progress.
    async fn describe_pending(
        &self,
        cluster: &str,
        id: &str,
    ) -> Result<Option<PendingUpdate>, CallError> {
        let out = match self
            .call("eks:DescribeUpdate", || {
                self.eks
                    .describe_update()
                    .name(cluster)
                    .update_id(id)
                    .send()
            })
            .await
        {
            Ok(o) => o,
            // Gone between the list and the describe: not in progress.
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(u) = out.update else {
            return Ok(None);
        };
        let status = u.status().map(|s| s.as_str()).unwrap_or_default();
        if status != "InProgress" {
            return Ok(None);
        }
        let auth_mode = u
            .params()
            .iter()
            .find(|p| p.r#type().map(|t| t.as_str()) == Some("AuthenticationMode"))
            .and_then(|p| p.value())
            .and_then(AuthMode::parse);
        Ok(Some(PendingUpdate {
            id: u.id().unwrap_or(id).to_string(),
            status: status.to_string(),
            auth_mode,
        }))
    }
}
