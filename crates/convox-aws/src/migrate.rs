//! What `rack auth migrate` needs from AWS: the cluster's mode and Kubernetes endpoint in
//! one DescribeCluster, every IAM role and user of the account in one listing each (paths
//! and creation dates: no GetRole per mapping), and the creation of one migrated entry
//! (its token, its tags, its cluster-admin policy).

use aws_sdk_eks::types::{AccessScope, AccessScopeType};
use convox_planner::{policy_arn, AuthMode, CLUSTER_ADMIN_POLICY, RACK_TAG, ROLE_TAG};
use futures::try_join;

use crate::error::AwsError;
use crate::retry::{request_token, Backoff};
use crate::Aws;

/// DescribeCluster, reduced to what a migration needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterAccess {
    pub arn: String,
    pub mode: AuthMode,
    pub endpoint: Option<String>,
    pub ca_data: Option<String>,
}

impl ClusterAccess {
    /// (partition, account) from the cluster's ARN.
    pub fn partition_account(&self) -> (String, String) {
        let f: Vec<&str> = self.arn.split(':').collect();
        let at = |i: usize| f.get(i).copied().unwrap_or_default().to_string();
        (at(1), at(4))
    }
}

/// One IAM role or user as IAM lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamPrincipal {
    pub arn: String,
    pub created_ms: Option<i64>,
}

/// A migrated entry to create (see convox-access's `PlannedEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry<'a> {
    pub principal_arn: &'a str,
    pub entry_type: &'a str,
    pub username: Option<&'a str>,
    pub kubernetes_groups: &'a [String],
    pub cluster_admin: bool,
    /// Already made (by a migration that stopped before its policy): only associate.
    pub exists: bool,
}

/// Tag of a migrated entry that needs `AmazonEKSClusterAdminPolicy` (its value).
pub const POLICY_TAG: &str = "convox:policy";

/// What one create did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    /// Someone made it between our listing and our create: left as it is.
    AlreadyThere,
}

fn millis(t: &aws_sdk_iam::primitives::DateTime) -> Option<i64> {
    t.to_millis().ok()
}

impl Aws {
    pub async fn cluster_access(&self, cluster: &str) -> Result<ClusterAccess, AwsError> {
        let out = self
            .call("eks:DescribeCluster", || {
                self.eks.describe_cluster().name(cluster).send()
            })
            .await;
        let c = match out {
            Ok(o) => o.cluster.ok_or_else(|| self.not_found(cluster))?,
            Err(e) if e.is_not_found() => return Err(self.not_found(cluster)),
            Err(e) => return Err(self.err(e, cluster, None)),
        };
        let mode = c
            .access_config()
            .and_then(|a| a.authentication_mode())
            .and_then(|m| AuthMode::parse(m.as_str()))
            .unwrap_or(AuthMode::ConfigMap);
        Ok(ClusterAccess {
            arn: c.arn().unwrap_or_default().to_string(),
            mode,
            endpoint: c.endpoint().filter(|e| !e.is_empty()).map(str::to_string),
            ca_data: c
                .certificate_authority()
                .and_then(|a| a.data())
                .filter(|d| !d.is_empty())
                .map(str::to_string),
        })
    }

    async fn all_roles(&self) -> Result<Vec<IamPrincipal>, AwsError> {
        let (mut out, mut marker) = (Vec::new(), None::<String>);
        loop {
            let page = self
                .call("iam:ListRoles", || {
                    self.iam
                        .list_roles()
                        .max_items(1000)
                        .set_marker(marker.clone())
                        .send()
                })
                .await
                .map_err(|e| self.err(e, "-", None))?;
            out.extend(page.roles().iter().map(|r| IamPrincipal {
                arn: r.arn().to_string(),
                created_ms: millis(r.create_date()),
            }));
            match page.marker().filter(|_| page.is_truncated()) {
                Some(m) => marker = Some(m.to_string()),
                None => return Ok(out),
            }
        }
    }

    async fn all_users(&self) -> Result<Vec<IamPrincipal>, AwsError> {
        let (mut out, mut marker) = (Vec::new(), None::<String>);
        loop {
            let page = self
                .call("iam:ListUsers", || {
                    self.iam
                        .list_users()
                        .max_items(1000)
                        .set_marker(marker.clone())
                        .send()
                })
                .await
                .map_err(|e| self.err(e, "-", None))?;
            out.extend(page.users().iter().map(|u| IamPrincipal {
                arn: u.arn().to_string(),
                created_ms: millis(u.create_date()),
            }));
            match page.marker().filter(|_| page.is_truncated()) {
                Some(m) => marker = Some(m.to_string()),
                None => return Ok(out),
            }
        }
    }

    /// Every role and every user of the caller's account (ListRoles ‖ ListUsers, paginated).
    pub async fn iam_principals(&self) -> Result<(Vec<IamPrincipal>, Vec<IamPrincipal>), AwsError> {
        try_join!(self.all_roles(), self.all_users())
    }

    /// CreateAccessEntry tagged `convox:rack=RACK`, `convox:entry=ROLE`, with its own request
    /// token, then the cluster-admin policy if asked. A refusal while the mode change still propagates is retried with backoff.
    pub async fn create_migrated_entry(
        &self,
        cluster: &str,
        partition: &str,
        rack: &str,
        role: &str,
        e: &NewEntry<'_>,
    ) -> Result<Created, AwsError> {
        if e.exists {
            self.associate_admin(cluster, partition, e.principal_arn)
                .await?;
            return Ok(Created::Created);
        }
        let mut backoff = Backoff::until(&self.timing, self.timing.propagation_deadline);
        let made = loop {
            // One token per attempt: kept across the SDK-level retries of this attempt, new
            // after EKS refused it (as the rack's own entries are created).
            let token = request_token();
            let res = self
                .call("eks:CreateAccessEntry", || {
                    let mut req = self
                        .eks
                        .create_access_entry()
                        .cluster_name(cluster)
                        .client_request_token(&token)
                        .principal_arn(e.principal_arn)
                        .r#type(e.entry_type)
                        .set_username(e.username.map(str::to_string))
                        .tags(RACK_TAG, rack)
                        .tags(ROLE_TAG, role);
                    if e.cluster_admin {
                        // Says what the entry must also have, so that a later run checks
                        // the policies of these entries only.
                        req = req.tags(POLICY_TAG, CLUSTER_ADMIN_POLICY);
                    }
                    if !e.kubernetes_groups.is_empty() {
                        req = req.set_kubernetes_groups(Some(e.kubernetes_groups.to_vec()));
                    }
                    req.send()
                })
                .await;
            match res {
                Ok(_) => break Created::Created,
                Err(err) if err.code_is("ResourceInUseException") => break Created::AlreadyThere,
                Err(err) if err.code_is("InvalidRequestException") && backoff.wait().await => {}
                Err(err) => return Err(self.err(err, cluster, Some(e.principal_arn))),
            }
        };
        if e.cluster_admin && made == Created::Created {
            self.associate_admin(cluster, partition, e.principal_arn)
                .await?;
        }
        Ok(made)
    }

    async fn associate_admin(
        &self,
        cluster: &str,
        partition: &str,
        principal: &str,
    ) -> Result<(), AwsError> {
        let policy = policy_arn(partition, CLUSTER_ADMIN_POLICY);
        let scope = AccessScope::builder()
            .r#type(AccessScopeType::Cluster)
            .build();
        let mut backoff = Backoff::until(&self.timing, self.timing.propagation_deadline);
        loop {
            let res = self
                .call("eks:AssociateAccessPolicy", || {
                    self.eks
                        .associate_access_policy()
                        .cluster_name(cluster)
                        .principal_arn(principal)
                        .policy_arn(&policy)
                        .access_scope(scope.clone())
                        .send()
                })
                .await;
            match res {
                Ok(_) => return Ok(()),
                Err(err) if err.code_is("InvalidRequestException") && backoff.wait().await => {}
                Err(err) => return Err(self.err(err, cluster, Some(principal))),
            }
        }
    }
}
