//! Executing a plan's steps: the mode switch and the waits for its update and for the
//! cluster, entry creation and policy association, each retried or waited out on the run's
//! one schedule ([`Backoff`]) while EKS propagates a change. EKS's answers are matched by the
//! SDK's generated types (`ClusterStatus`, `UpdateStatus`, each operation's error kinds).

use aws_sdk_eks::operation::associate_access_policy::AssociateAccessPolicyError;
use aws_sdk_eks::operation::create_access_entry::CreateAccessEntryError;
use aws_sdk_eks::operation::update_cluster_config::UpdateClusterConfigError;
use aws_sdk_eks::types::{
    AccessScope, AccessScopeType, AuthenticationMode, ClusterStatus, UpdateAccessConfigRequest,
    UpdateStatus,
};
use convox_planner::{AuthMode, DesiredEntry, PolicyAssociation, Scope, Step, RACK_TAG, ROLE_TAG};

use crate::error::{AwsError, CallError};
use crate::{observe, retry, AfterStep, Aws, Backoff};

impl Aws {
    /// Polls DescribeCluster until ACTIVE.
    pub async fn wait_cluster_active(&self, cluster: &str) -> Result<(), AwsError> {
        self.wait_active_view(cluster).await.map(|_| ())
    }

    /// Polls DescribeCluster until ACTIVE; returns what the ACTIVE answer said (its mode
    /// is the one any finished update left).
    async fn wait_active_view(&self, cluster: &str) -> Result<observe::ClusterView, AwsError> {
        let mut backoff = Backoff::new(&self.timing);
        loop {
            let view = match self.try_cluster_view(cluster).await {
                Ok(Some(view)) => view,
                Ok(None) => return Err(self.not_found(cluster)),
                // Throttled or a 5xx beyond the SDK's retries: the cluster is still changing;
                // poll again (the deadline still bounds the wait). Any other error ends it.
                Err(e) => {
                    self.poll_again_after(e, &mut backoff, cluster).await?;
                    continue;
                }
            };
            match view.status {
                ClusterStatus::Active => return Ok(view),
                ClusterStatus::Failed | ClusterStatus::Deleting => {
                    return Err(AwsError::ClusterBroken {
                        cluster: cluster.to_string(),
                        status: view.status.as_str().to_string(),
                    })
                }
                _ => {}
            }
            self.say(&format!(
                "waiting for cluster {cluster} to be ACTIVE ({})",
                view.status.as_str()
            ));
            if !backoff.wait().await {
                return Err(AwsError::Deadline {
                    cluster: cluster.to_string(),
                    what: "the cluster to become ACTIVE".into(),
                    secs: backoff.deadline_secs(),
                });
            }
        }
    }

    /// A failed poll of a wait: a transient error (throttled, a 5xx beyond the SDK's retries)
    /// is waited out with `backoff` and the caller polls again; any other error, or one
    /// lasting past the deadline, ends the wait.
    async fn poll_again_after(
        &self,
        e: CallError,
        backoff: &mut Backoff,
        cluster: &str,
    ) -> Result<(), AwsError> {
        if !e.is_transient() {
            return Err(self.err(e, cluster, None));
        }
        tracing::warn!("{} (polling again)", e.describe());
        if !backoff.wait().await {
            return Err(self.err(e, cluster, None));
        }
        Ok(())
    }

    /// Executes one plan step. `rack` names the rack in the tags of entries it creates.
    pub async fn apply(
        &self,
        cluster: &str,
        rack: &str,
        step: &Step,
    ) -> Result<AfterStep, AwsError> {
        match step {
            Step::WaitClusterActive => {
                self.wait_cluster_active(cluster).await?;
                Ok(AfterStep::ReObserve)
            }
            Step::SwitchAuthMode { to, .. } => self.switch_mode(cluster, *to).await,
            Step::CreateEntry { entry } => self.create_entry(cluster, rack, entry).await,
            Step::AssociatePolicy {
                principal_arn,
                policy,
                ..
            } => self.associate(cluster, principal_arn, policy).await,
        }
    }

    async fn switch_mode(&self, cluster: &str, to: AuthMode) -> Result<AfterStep, AwsError> {
        self.say(&format!(
            "switching cluster {cluster} authentication mode to {}",
            to.as_str()
        ));
        let token = retry::request_token();
        let res = self
            .call("eks:UpdateClusterConfig", || {
                self.eks
                    .update_cluster_config()
                    .name(cluster)
                    .client_request_token(&token)
                    .access_config(
                        UpdateAccessConfigRequest::builder()
                            .authentication_mode(AuthenticationMode::from(to.as_str()))
                            .build(),
                    )
                    .send()
            })
            .await;
        let update = match res {
            Ok(o) => o.update,
            Err(e) if switch_error(&e, UpdateClusterConfigError::is_resource_in_use_exception) => {
                // Another update is running (maybe another run's switch): wait, then replan.
                tracing::info!("an update is already running on {cluster}; waiting for it");
                self.wait_cluster_active(cluster).await?;
                return Ok(AfterStep::ReObserve);
            }
            Err(e)
                if switch_error(&e, UpdateClusterConfigError::is_invalid_parameter_exception)
                    || switch_error(&e, UpdateClusterConfigError::is_invalid_request_exception) =>
            {
                // Possibly switched meanwhile by someone else: only then is this fine.
                let view = self.wait_active_view(cluster).await?;
                if view.mode.includes_api() {
                    return Ok(AfterStep::ReObserve);
                }
                return Err(self.err(e, cluster, None));
            }
            Err(e) => return Err(self.err(e, cluster, None)),
        };
        let Some(id) = update.and_then(|u| u.id) else {
            // No update id: fall back to waiting for the cluster.
            self.wait_cluster_active(cluster).await?;
            return Ok(AfterStep::ReObserve);
        };
        self.wait_update(cluster, &id).await?;
        Ok(AfterStep::ReObserve)
    }

    /// Polls DescribeUpdate until the update leaves InProgress.
    pub async fn wait_update(&self, cluster: &str, id: &str) -> Result<(), AwsError> {
        let mut backoff = Backoff::new(&self.timing);
        loop {
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
                // The update runs on whether or not we can see it: a throttled or failed poll
                // (beyond the SDK's retries) is polled again, not reported as a failed run.
                Err(e) => {
                    self.poll_again_after(e, &mut backoff, cluster).await?;
                    continue;
                }
            };
            let update = out.update;
            let status = update.as_ref().and_then(|u| u.status());
            match status {
                Some(UpdateStatus::Successful) => return Ok(()),
                Some(UpdateStatus::Failed | UpdateStatus::Cancelled) => {
                    let errors = update
                        .as_ref()
                        .map(|u| {
                            u.errors()
                                .iter()
                                .map(|e| {
                                    format!(
                                        "{}: {}",
                                        e.error_code().map(|c| c.as_str()).unwrap_or("Error"),
                                        e.error_message().unwrap_or_default()
                                    )
                                })
                                .collect::<Vec<_>>()
                                .join("; ")
                        })
                        .unwrap_or_default();
                    return Err(AwsError::UpdateFailed {
                        cluster: cluster.to_string(),
                        update_id: id.to_string(),
                        status: status.map(|s| s.as_str()).unwrap_or_default().to_string(),
                        errors: if errors.is_empty() {
                            "no errors reported".into()
                        } else {
                            errors
                        },
                    });
                }
                _ => {}
            }
            self.say(&format!("waiting for auth mode update {id} on {cluster}"));
            if !backoff.wait().await {
                return Err(AwsError::Deadline {
                    cluster: cluster.to_string(),
                    what: format!("update {id}"),
                    secs: backoff.deadline_secs(),
                });
            }
        }
    }

    async fn create_entry(
        &self,
        cluster: &str,
        rack: &str,
        entry: &DesiredEntry,
    ) -> Result<AfterStep, AwsError> {
        let mut backoff = Backoff::until(&self.timing, self.timing.propagation_deadline);
        self.say(&format!(
            "creating {} access entry for {}",
            entry.entry_type, entry.principal_arn
        ));
        loop {
            // One token per create: reused by the retries of this attempt, not by the next
            // attempt after EKS refused this one.
            let token = retry::request_token();
            let res = self
                .call("eks:CreateAccessEntry", || {
                    self.eks
                        .create_access_entry()
                        .cluster_name(cluster)
                        .client_request_token(&token)
                        .principal_arn(&entry.principal_arn)
                        .r#type(&entry.entry_type)
                        .tags(RACK_TAG, rack)
                        .tags(ROLE_TAG, entry.role.as_str())
                        .send()
                })
                .await;
            match res {
                Ok(_) => return Ok(AfterStep::Done),
                Err(e)
                    if create_error(&e, CreateAccessEntryError::is_resource_in_use_exception) =>
                {
                    // Created concurrently (another run, EKS, a person): accept, then replan
                    // so its type/policies are checked.
                    tracing::info!(
                        "access entry for {} already exists; re-observing",
                        entry.principal_arn
                    );
                    return Ok(AfterStep::ReObserve);
                }
                Err(e)
                    if create_error(&e, CreateAccessEntryError::is_invalid_request_exception) =>
                {
                    // Right after the mode switch EKS still refuses entries for a while.
                    self.say(&format!(
                        "waiting for EKS to accept access entries on {cluster} (auth mode change propagating)"
                    ));
                    if !backoff.wait().await {
                        return Err(AwsError::Deadline {
                            cluster: cluster.to_string(),
                            what: format!(
                                "EKS to accept the access entry for {} (last error: {})",
                                entry.principal_arn,
                                e.describe()
                            ),
                            secs: backoff.deadline_secs(),
                        });
                    }
                }
                Err(e) => return Err(self.err(e, cluster, Some(&entry.principal_arn))),
            }
        }
    }

    async fn associate(
        &self,
        cluster: &str,
        principal: &str,
        policy: &PolicyAssociation,
    ) -> Result<AfterStep, AwsError> {
        self.say(&format!(
            "associating {} with {principal}",
            policy
                .policy_arn
                .rsplit('/')
                .next()
                .unwrap_or(&policy.policy_arn)
        ));
        let scope = match &policy.scope {
            Scope::Cluster => AccessScope::builder()
                .r#type(AccessScopeType::Cluster)
                .build(),
            Scope::Namespace { namespaces } => AccessScope::builder()
                .r#type(AccessScopeType::Namespace)
                .set_namespaces(Some(namespaces.clone()))
                .build(),
        };
        let mut backoff = Backoff::until(&self.timing, self.timing.propagation_deadline);
        loop {
            let res = self
                .call("eks:AssociateAccessPolicy", || {
                    self.eks
                        .associate_access_policy()
                        .cluster_name(cluster)
                        .principal_arn(principal)
                        .policy_arn(&policy.policy_arn)
                        .access_scope(scope.clone())
                        .send()
                })
                .await;
            match res {
                Ok(_) => return Ok(AfterStep::Done),
                Err(e) if e.is_not_found() => {
                    // The entry vanished (deleted concurrently): replan recreates it.
                    return Ok(AfterStep::ReObserve);
                }
                Err(e)
                    if e.service::<AssociateAccessPolicyError>()
                        .is_some_and(AssociateAccessPolicyError::is_invalid_request_exception) =>
                {
                    self.say(&format!(
                        "waiting for EKS to accept policy associations on {cluster}"
                    ));
                    if !backoff.wait().await {
                        return Err(self.err(e, cluster, Some(principal)));
                    }
                }
                Err(e) => return Err(self.err(e, cluster, Some(principal))),
            }
        }
    }
}

/// Whether UpdateClusterConfig failed with the SDK's error kind `is`.
fn switch_error(e: &CallError, is: fn(&UpdateClusterConfigError) -> bool) -> bool {
    e.service::<UpdateClusterConfigError>().is_some_and(is)
}

/// Whether CreateAccessEntry failed with the SDK's error kind `is`.
fn create_error(e: &CallError, is: fn(&CreateAccessEntryError) -> bool) -> bool {
    e.service::<CreateAccessEntryError>().is_some_and(is)
}
