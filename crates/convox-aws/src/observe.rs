//! Observation: DescribeCluster plus the access entries the rack cares about, with the fewest
//! calls and independent calls concurrent. A describe failing for any reason other than
//! "not found" is an error, never "absent" — except InvalidRequestException on a CONFIG_MAP
//! cluster, which is what EKS answers there and agrees with "no entries can exist".

use std::collections::BTreeMap;

use aws_sdk_eks::operation::describe_access_entry::DescribeAccessEntryError;
use aws_sdk_eks::operation::list_associated_access_policies::ListAssociatedAccessPoliciesError;
use aws_sdk_eks::types::{AccessScopeType, ClusterStatus};
use convox_planner::{AuthMode, Observed, ObservedEntry, PolicyAssociation, Scope};
use futures::stream::{self, StreamExt, TryStreamExt};

use crate::error::{AwsError, CallError};
use crate::{Aws, Backoff, CallerIdentity};

/// A principal whose access entry should be observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interest {
    pub principal_arn: String,
    /// Also list its associated policies (STANDARD entries), concurrently with the describe.
    pub with_policies: bool,
}

type EntryResult = Result<Option<ObservedEntry>, CallError>;

/// What convox reads of DescribeCluster.
pub(crate) struct ClusterView {
    pub(crate) status: ClusterStatus,
    pub(crate) mode: AuthMode,
}

impl Aws {
    /// DescribeCluster, reduced to a [`ClusterView`]; `Ok(None)` when the cluster does not
    /// exist. The one place that reads a cluster's status and mode, so that observing,
    /// waiting and switching agree on what they saw.
    pub(crate) async fn try_cluster_view(
        &self,
        cluster: &str,
    ) -> Result<Option<ClusterView>, CallError> {
        let out = self
            .call("eks:DescribeCluster", || {
                self.eks.describe_cluster().name(cluster).send()
            })
            .await;
        let c = match out {
            Ok(o) => o.cluster,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(c.map(|c| ClusterView {
            // No status at all reads as an unknown one (never as ACTIVE).
            status: c
                .status()
                .cloned()
                .unwrap_or_else(|| ClusterStatus::from("")),
            mode: c
                .access_config()
                .and_then(|a| a.authentication_mode())
                .and_then(|m| AuthMode::parse(m.as_str()))
                // The API reports no accessConfig only for clusters predating access entries.
                .unwrap_or(AuthMode::ConfigMap),
        }))
    }

    async fn cluster_view(&self, cluster: &str) -> Result<ClusterView, AwsError> {
        match self.try_cluster_view(cluster).await {
            Ok(Some(view)) => Ok(view),
            Ok(None) => Err(self.not_found(cluster)),
            Err(e) => Err(self.err(e, cluster, None)),
        }
    }

    async fn list_policies(
        &self,
        cluster: &str,
        principal: &str,
    ) -> Result<Vec<PolicyAssociation>, CallError> {
        // The SDK's paginator reads every page; a transient failure retries the listing.
        let pages = self
            .call("eks:ListAssociatedAccessPolicies", || {
                self.eks
                    .list_associated_access_policies()
                    .cluster_name(cluster)
                    .principal_arn(principal)
                    .max_results(100)
                    .into_paginator()
                    .send()
                    .try_collect()
            })
            .await?;
        let mut out = Vec::new();
        for p in pages
            .iter()
            .flat_map(|page| page.associated_access_policies())
        {
            let scope = match p.access_scope() {
                Some(s) if s.r#type() == Some(&AccessScopeType::Namespace) => Scope::Namespace {
                    namespaces: s.namespaces().to_vec(),
                },
                _ => Scope::Cluster,
            };
            out.push(PolicyAssociation {
                policy_arn: p.policy_arn().unwrap_or_default().to_string(),
                scope,
            });
        }
        Ok(out)
    }

    async fn describe_entry(&self, cluster: &str, principal: &str) -> EntryResult {
        let res = self
            .call("eks:DescribeAccessEntry", || {
                self.eks
                    .describe_access_entry()
                    .cluster_name(cluster)
                    .principal_arn(principal)
                    .send()
            })
            .await;
        match res {
            Ok(o) => Ok(o.access_entry.map(|e| ObservedEntry {
                // Keyed by the principal asked about: EKS answered with that principal's
                // entry, even if it spells the ARN differently (IAM names are unique without
                // regard to case). Keying by its spelling would make the planner miss the
                // entry and create it again, forever refused as already existing.
                principal_arn: principal.to_string(),
                entry_type: e.r#type().unwrap_or("STANDARD").to_string(),
                tags: e
                    .tags()
                    .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_else(BTreeMap::new),
                policies: None,
                kubernetes_groups: e.kubernetes_groups().to_vec(),
                created_ms: e.created_at().map(|t| t.to_millis().unwrap_or_default()),
            })),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Describe (and, if asked, list policies of) one entry, both calls concurrently.
    async fn entry(&self, cluster: &str, interest: &Interest) -> EntryResult {
        if !interest.with_policies {
            return self.describe_entry(cluster, &interest.principal_arn).await;
        }
        let (d, p) = futures::join!(
            self.describe_entry(cluster, &interest.principal_arn),
            self.list_policies(cluster, &interest.principal_arn)
        );
        let Some(mut entry) = d? else {
            return Ok(None);
        };
        entry.policies = match p {
            Ok(p) => Some(p),
            // Non-STANDARD entries have no policies (EKS: InvalidParameterException, a code
            // the SDK's model does not list for this operation, so matched as a string).
            Err(e) if entry.entry_type != "STANDARD" && e.code_is("InvalidParameterException") => {
                None
            }
            // Deleted between the two calls: it is gone.
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(entry))
    }

    /// Describes again, with backoff up to the propagation deadline, the entries EKS refused
    /// with InvalidRequestException although the cluster's mode includes API: the mode change
    /// is still propagating, or our describe raced someone else's switch. Such a refusal says
    /// nothing about the entry, so it is neither "absent" nor a reason to fail the run yet;
    /// a refusal outlasting the deadline stays in `results` and is reported.
    /// `results[i]` belongs to `interests[i]`.
    async fn redescribe_refused(
        &self,
        cluster: &str,
        interests: &[Interest],
        results: &mut [(String, EntryResult)],
    ) {
        let refused = |results: &[(String, EntryResult)]| -> Vec<usize> {
            results
                .iter()
                .enumerate()
                .filter(|(_, (_, r))| matches!(r, Err(e) if describe_refused(e)))
                .map(|(i, _)| i)
                .collect()
        };
        let mut todo = refused(results);
        if todo.is_empty() {
            return;
        }
        let mut backoff = Backoff::until(&self.timing, self.timing.propagation_deadline);
        while !todo.is_empty() {
            self.say(&format!(
                "waiting for EKS to serve access entries on {cluster} (auth mode change propagating)"
            ));
            if !backoff.wait().await {
                return;
            }
            let again = futures::future::join_all(
                todo.iter()
                    .filter_map(|&i| interests.get(i))
                    .map(|interest| self.entry(cluster, interest)),
            )
            .await;
            for (&i, r) in todo.iter().zip(again) {
                if let Some(slot) = results.get_mut(i) {
                    slot.1 = r;
                }
            }
            todo = refused(results);
        }
    }

    /// Folds per-entry results into the entry list, given the mode.
    fn fold_entries(
        &self,
        cluster: &str,
        mode: AuthMode,
        results: Vec<(String, EntryResult)>,
        into: &mut Vec<ObservedEntry>,
    ) -> Result<(), AwsError> {
        for (principal, r) in results {
            match r {
                Ok(Some(e)) => {
                    if !into.iter().any(|x| x.principal_arn == e.principal_arn) {
                        into.push(e);
                    }
                }
                Ok(None) => {}
                Err(e) if !mode.includes_api() && describe_refused(&e) => {}
                Err(e) => return Err(self.err(e, cluster, Some(&principal))),
            }
        }
        Ok(())
    }

    /// Observes the cluster and the entries of `others` plus the caller's (with policies).
    /// Without a known `caller`, the identity is resolved too: round 1 GetCallerIdentity ‖
    /// DescribeCluster ‖ describes of `others`; round 2 GetRole (role sessions only); round 3
    /// DescribeAccessEntry(caller) ‖ ListAssociatedAccessPolicies(caller). With a known caller
    /// everything is one concurrent round.
    pub async fn observe(
        &self,
        cluster: &str,
        others: &[Interest],
        caller: Option<&CallerIdentity>,
    ) -> Result<(CallerIdentity, Observed), AwsError> {
        let mut interests: Vec<Interest> = others.to_vec();
        if let Some(c) = caller {
            merge_interest(
                &mut interests,
                Interest {
                    principal_arn: c.principal_arn.clone(),
                    with_policies: true,
                },
            );
        }
        let identity_fut = async {
            match caller {
                Some(_) => None,
                None => Some(self.sts_identity().await),
            }
        };
        let entries_fut = futures::future::join_all(
            interests
                .iter()
                .map(|i| async move { (i.principal_arn.clone(), self.entry(cluster, i).await) }),
        );
        let (ident, view, results) =
            futures::join!(identity_fut, self.cluster_view(cluster), entries_fut);

        // Identity errors first: bad credentials explain everything else failing too.
        let identity = match (caller, ident) {
            (Some(c), _) => c.clone(),
            (None, Some(Ok(raw))) => self.resolve_identity(raw).await?,
            (None, Some(Err(e))) => return Err(self.err(e, cluster, None)),
            (None, None) => unreachable_identity(),
        };
        let view = view?;
        // Not ACTIVE: an update may be moving the mode; what it moves it to is part of what
        // the cluster is (never on a converged rack's no-op path, which sees ACTIVE).
        let pending_update = if view.status == ClusterStatus::Active {
            None
        } else {
            self.pending_update(cluster)
                .await
                .map_err(|e| self.err(e, cluster, None))?
        };
        let mut results = results;
        if view.mode.includes_api() {
            self.redescribe_refused(cluster, &interests, &mut results)
                .await;
        }
        let mut entries = Vec::new();
        self.fold_entries(cluster, view.mode, results, &mut entries)?;

        let caller_seen_with_policies = interests
            .iter()
            .any(|i| i.principal_arn == identity.principal_arn && i.with_policies);
        if !caller_seen_with_policies && view.mode.includes_api() {
            let i = Interest {
                principal_arn: identity.principal_arn.clone(),
                with_policies: true,
            };
            let mut r = vec![(i.principal_arn.clone(), self.entry(cluster, &i).await)];
            self.redescribe_refused(cluster, std::slice::from_ref(&i), &mut r)
                .await;
            entries.retain(|e| e.principal_arn != identity.principal_arn);
            self.fold_entries(cluster, view.mode, r, &mut entries)?;
        }
        if !view.mode.includes_api() {
            entries.clear();
        }
        Ok((
            identity,
            Observed {
                cluster_status: view.status.as_str().to_string(),
                auth_mode: view.mode,
                pending_update,
                entries,
            },
        ))
    }

    /// The cluster and the entries of `others`, without the caller: for reading the state
    /// as an identity that cannot be an access entry principal (root, a federated user),
    /// which [`Aws::observe`] refuses. DescribeCluster ‖ the describes of `others`.
    pub async fn observe_without_caller(
        &self,
        cluster: &str,
        others: &[Interest],
    ) -> Result<Observed, AwsError> {
        let entries_fut = futures::future::join_all(
            others
                .iter()
                .map(|i| async move { (i.principal_arn.clone(), self.entry(cluster, i).await) }),
        );
        let (view, results) = futures::join!(self.cluster_view(cluster), entries_fut);
        let view = view?;
        // As in `observe`: an update moving the mode is part of what the cluster is.
        let pending_update = if view.status == ClusterStatus::Active {
            None
        } else {
            self.pending_update(cluster)
                .await
                .map_err(|e| self.err(e, cluster, None))?
        };
        let mut results = results;
        if view.mode.includes_api() {
            self.redescribe_refused(cluster, others, &mut results).await;
        }
        let mut entries = Vec::new();
        self.fold_entries(cluster, view.mode, results, &mut entries)?;
        if !view.mode.includes_api() {
            entries.clear();
        }
        Ok(Observed {
            cluster_status: view.status.as_str().to_string(),
            auth_mode: view.mode,
            pending_update,
            entries,
        })
    }

    /// Every access entry of the cluster (for `rack auth`, on a cluster whose mode includes
    /// API, as an [`Aws::observe`] saw it): ListAccessEntries (paginated), then each entry
    /// described and STANDARD entries' policies listed, a few at a time.
    pub async fn all_entries(&self, cluster: &str) -> Result<Vec<ObservedEntry>, AwsError> {
        self.all_entries_with(cluster, |_| true).await
    }

    /// [`Aws::all_entries`], listing the policies only of the STANDARD entries `policies_of`
    /// picks (the others read `policies: None`): one call fewer per entry left out.
    pub async fn all_entries_with(
        &self,
        cluster: &str,
        policies_of: impl Fn(&ObservedEntry) -> bool,
    ) -> Result<Vec<ObservedEntry>, AwsError> {
        // The SDK's paginator reads every page; a transient failure retries the listing.
        let pages = self
            .call("eks:ListAccessEntries", || {
                self.eks
                    .list_access_entries()
                    .cluster_name(cluster)
                    .max_results(100)
                    .into_paginator()
                    .send()
                    .try_collect()
            })
            .await
            .map_err(|e| self.err(e, cluster, None))?;
        let principals: Vec<String> = pages
            .iter()
            .flat_map(|page| page.access_entries().iter().cloned())
            .collect();
        let policies_of = &policies_of;
        let described: Vec<Option<ObservedEntry>> = stream::iter(principals)
            .map(|p| async move {
                let mut entry = match self.describe_entry(cluster, &p).await {
                    Ok(e) => e,
                    Err(e) => return Err(self.err(e, cluster, Some(&p))),
                };
                if let Some(en) = entry.as_mut() {
                    if en.entry_type == "STANDARD" && policies_of(en) {
                        en.policies = Some(
                            self.list_policies(cluster, &p)
                                .await
                                .map_err(|e| self.err(e, cluster, Some(&p)))?,
                        );
                    }
                }
                Ok::<_, AwsError>(entry)
            })
            .buffered(8)
            .try_collect()
            .await?;
        Ok(described.into_iter().flatten().collect())
    }
}

/// An entry's describe (DescribeAccessEntry, or the ListAssociatedAccessPolicies read with
/// it) refused with the SDK's InvalidRequestException: what EKS answers while the mode
/// excludes API, or while a switch to it propagates.
fn describe_refused(e: &CallError) -> bool {
    e.service::<DescribeAccessEntryError>()
        .is_some_and(DescribeAccessEntryError::is_invalid_request_exception)
        || e.service::<ListAssociatedAccessPoliciesError>()
            .is_some_and(ListAssociatedAccessPoliciesError::is_invalid_request_exception)
}

fn merge_interest(list: &mut Vec<Interest>, i: Interest) {
    match list.iter_mut().find(|x| x.principal_arn == i.principal_arn) {
        Some(x) => x.with_policies |= i.with_policies,
        None => list.push(i),
    }
}

// `identity_fut` returns Some exactly when `caller` is None.
fn unreachable_identity() -> CallerIdentity {
    CallerIdentity {
        account: String::new(),
        arn: String::new(),
        principal_arn: String::new(),
        partition: String::new(),
    }
}
