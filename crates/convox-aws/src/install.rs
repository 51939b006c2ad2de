//! What `convox rack install local` needs of the (simulated) account: IAM roles, a CONFIG_MAP
//! cluster, a managed node group — all through the SDK, like everything else.

use aws_sdk_eks::types::{
    AuthenticationMode, CreateAccessConfigRequest, NodegroupScalingConfig, VpcConfigRequest,
};

use aws_sdk_eks::operation::create_cluster::CreateClusterError;
use aws_sdk_eks::operation::create_nodegroup::CreateNodegroupError;
use aws_sdk_eks::operation::delete_cluster::DeleteClusterError;
use aws_sdk_iam::operation::create_role::CreateRoleError;

use crate::error::AwsError;
use crate::{Aws, Backoff};
use convox_planner::RACK_TAG;

/// The cluster a local rack gets.
#[derive(Debug, Clone)]
pub struct InstallSpec {
    /// The rack: the cluster is tagged `convox:rack=RACK`, which is how a rerun recognises
    /// its own cluster and `uninstall` knows it may delete it.
    pub rack: String,
    pub cluster: String,
    pub version: Option<String>,
    /// IAM path of the rack's roles, e.g. `/convox/`.
    pub role_path: String,
    pub cluster_role_name: String,
    pub nodes_role_name: String,
    pub karpenter_nodes_role_name: String,
    pub nodegroup: String,
}

/// The roles created for the rack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledRoles {
    pub cluster_role_arn: String,
    pub nodes_role_arn: String,
    pub karpenter_nodes_role_arn: String,
}

fn trust(service: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"Service":"{service}"}},"Action":"sts:AssumeRole"}}]}}"#
    )
}

impl Aws {
    /// CreateRole, or GetRole when it already exists (a rerun of an interrupted install).
    pub async fn ensure_role(
        &self,
        name: &str,
        path: &str,
        service: &str,
    ) -> Result<String, AwsError> {
        let res = self
            .call("iam:CreateRole", || {
                self.iam
                    .create_role()
                    .role_name(name)
                    .path(path)
                    .assume_role_policy_document(trust(service))
                    .send()
            })
            .await;
        match res {
            Ok(o) => Ok(o.role().map(|r| r.arn().to_string()).unwrap_or_default()),
            Err(e)
                if e.service::<CreateRoleError>()
                    .is_some_and(CreateRoleError::is_entity_already_exists_exception) =>
            {
                let out = self
                    .call("iam:GetRole", || self.iam.get_role().role_name(name).send())
                    .await
                    .map_err(|e| self.err(e, "-", None))?;
                Ok(out.role().map(|r| r.arn().to_string()).unwrap_or_default())
            }
            Err(e) => Err(self.err(e, "-", None)),
        }
    }

    /// Roles, cluster (CONFIG_MAP, creator admin bootstrap on), wait ACTIVE, node group.
    pub async fn install_cluster(&self, spec: &InstallSpec) -> Result<InstalledRoles, AwsError> {
        let (cluster_role, nodes_role, karpenter_role) = futures::try_join!(
            self.ensure_role(
                &spec.cluster_role_name,
                &spec.role_path,
                "eks.amazonaws.com"
            ),
            self.ensure_role(&spec.nodes_role_name, &spec.role_path, "ec2.amazonaws.com"),
            self.ensure_role(
                &spec.karpenter_nodes_role_name,
                &spec.role_path,
                "ec2.amazonaws.com"
            ),
        )?;
        self.say(&format!("creating cluster {}", spec.cluster));
        let mut req = self
            .eks
            .create_cluster()
            .name(&spec.cluster)
            .tags(RACK_TAG, &spec.rack)
            .role_arn(&cluster_role)
            .resources_vpc_config(
                VpcConfigRequest::builder()
                    .subnet_ids("subnet-0convox0000000001")
                    .subnet_ids("subnet-0convox0000000002")
                    .build(),
            )
            .access_config(
                CreateAccessConfigRequest::builder()
                    .authentication_mode(AuthenticationMode::ConfigMap)
                    .bootstrap_cluster_creator_admin_permissions(true)
                    .build(),
            );
        if let Some(v) = &spec.version {
            req = req.version(v);
        }
        let req = req.client_request_token(crate::retry::request_token());
        match self.call("eks:CreateCluster", || req.clone().send()).await {
            Ok(_) => {}
            // Rerun of an interrupted install: keep the cluster if it is this rack's; any
            // other cluster of that name is not ours to take over (uninstall would delete it).
            Err(e)
                if e.service::<CreateClusterError>()
                    .is_some_and(CreateClusterError::is_resource_in_use_exception) =>
            {
                if self.cluster_rack_tag(&spec.cluster).await?.as_deref() != Some(&spec.rack) {
                    return Err(AwsError::ClusterTaken {
                        cluster: spec.cluster.clone(),
                    });
                }
                tracing::info!("cluster {} already exists; reusing it", spec.cluster)
            }
            Err(e) => return Err(self.err(e, &spec.cluster, None)),
        }
        self.wait_cluster_active(&spec.cluster).await?;
        // As Convox does: the node group gets its role without the path, because EKS writes
        // that ARN into aws-auth, where a path never matches.
        let given = pathless(&nodes_role);
        let token = crate::retry::request_token();
        let res = self
            .call("eks:CreateNodegroup", || {
                self.eks
                    .create_nodegroup()
                    .client_request_token(&token)
                    .cluster_name(&spec.cluster)
                    .nodegroup_name(&spec.nodegroup)
                    .node_role(&given)
                    .subnets("subnet-0convox0000000001")
                    .scaling_config(
                        NodegroupScalingConfig::builder()
                            .min_size(1)
                            .max_size(3)
                            .desired_size(1)
                            .build(),
                    )
                    .send()
            })
            .await;
        match res {
            Ok(_) => {}
            Err(e)
                if e.service::<CreateNodegroupError>()
                    .is_some_and(CreateNodegroupError::is_resource_in_use_exception) => {}
            Err(e) => return Err(self.err(e, &spec.cluster, Some(&nodes_role))),
        }
        Ok(InstalledRoles {
            cluster_role_arn: cluster_role,
            nodes_role_arn: nodes_role,
            karpenter_nodes_role_arn: karpenter_role,
        })
    }

    /// The `convox:rack` tag of a cluster (`None` if untagged or missing).
    async fn cluster_rack_tag(&self, cluster: &str) -> Result<Option<String>, AwsError> {
        match self
            .call("eks:DescribeCluster", || {
                self.eks.describe_cluster().name(cluster).send()
            })
            .await
        {
            Ok(o) => Ok(o
                .cluster
                .and_then(|c| c.tags.and_then(|t| t.get(RACK_TAG).cloned()))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(self.err(e, cluster, None)),
        }
    }

    /// Deletes a local rack's cluster if the rack made it (tagged `convox:rack=RACK`); a
    /// cluster made by anyone else is left in place. Returns whether it was deleted.
    pub async fn delete_rack_cluster(&self, cluster: &str, rack: &str) -> Result<bool, AwsError> {
        if self.cluster_rack_tag(cluster).await?.as_deref() != Some(rack) {
            return Ok(false);
        }
        self.delete_cluster(cluster).await?;
        Ok(true)
    }

    /// Deletes the cluster's node groups, then the cluster (a missing cluster is fine).
    pub async fn delete_cluster(&self, cluster: &str) -> Result<(), AwsError> {
        let ngs = match self
            .call("eks:ListNodegroups", || {
                self.eks.list_nodegroups().cluster_name(cluster).send()
            })
            .await
        {
            Ok(o) => o.nodegroups().to_vec(),
            Err(e) if e.is_not_found() => return Ok(()),
            Err(e) => return Err(self.err(e, cluster, None)),
        };
        for ng in &ngs {
            match self
                .call("eks:DeleteNodegroup", || {
                    self.eks
                        .delete_nodegroup()
                        .cluster_name(cluster)
                        .nodegroup_name(ng)
                        .send()
                })
                .await
            {
                Ok(_) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(self.err(e, cluster, None)),
            }
        }
        let mut backoff = Backoff::new(&self.timing);
        loop {
            match self
                .call("eks:DeleteCluster", || {
                    self.eks.delete_cluster().name(cluster).send()
                })
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if e.is_not_found() => return Ok(()),
                // Node groups still deleting.
                Err(e)
                    if e.service::<DeleteClusterError>()
                        .is_some_and(DeleteClusterError::is_resource_in_use_exception) =>
                {
                    self.say(&format!(
                        "waiting for node groups of {cluster} to be deleted"
                    ));
                    if !backoff.wait().await {
                        return Err(self.err(e, cluster, None));
                    }
                }
                Err(e) => return Err(self.err(e, cluster, None)),
            }
        }
    }
}

/// `arn:P:iam::A:role/path/NAME` → `arn:P:iam::A:role/NAME`.
fn pathless(role_arn: &str) -> String {
    match role_arn.split_once(":role/") {
        Some((head, rest)) => format!("{head}:role/{}", rest.rsplit('/').next().unwrap_or(rest)),
        None => role_arn.to_string(),
    }
}
