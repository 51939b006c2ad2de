//! Updates in flight. While an UpdateClusterConfig runs, DescribeCluster still reports the
//! old authentication mode (and status UPDATING): the mode it is about to be in is read from
//! ListUpdates and DescribeUpdate, so no decision takes a mode about to change for the mode.

use aws_sdk_eks::types::{UpdateParamType, UpdateStatus};
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
        // The SDK's paginator, at most MAX_PAGES pages; a transient failure retries the
        // listing.
        let pages = self
            .call("eks:ListUpdates", || async {
                let mut stream = self
                    .eks
                    .list_updates()
                    .name(cluster)
                    .max_results(100)
                    .into_paginator()
                    .send();
                let mut pages = Vec::new();
                while pages.len() < MAX_PAGES {
                    match stream.next().await {
                        Some(page) => pages.push(page?),
                        None => break,
                    }
                }
                Ok(pages)
            })
            .await?;
        let ids: Vec<String> = pages
            .iter()
            .flat_map(|page| page.update_ids().iter().cloned())
            .collect();
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
        if u.status() != Some(&UpdateStatus::InProgress) {
            return Ok(None);
        }
        let status = UpdateStatus::InProgress.as_str();
        let auth_mode = u
            .params()
            .iter()
            .find(|p| p.r#type() == Some(&UpdateParamType::AuthenticationMode))
            .and_then(|p| p.value())
            .and_then(AuthMode::parse);
        Ok(Some(PendingUpdate {
            id: u.id().unwrap_or(id).to_string(),
            status: status.to_string(),
            auth_mode,
        }))
    }
}
