//! What the Kubernetes side needs from the AWS side: the cluster's endpoint and CA, and the
//! SDK configuration whose credentials sign the EKS token (the same chain as every call).

use crate::error::AwsError;
use crate::Aws;

/// `DescribeCluster`'s `endpoint` and `certificateAuthority.data`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEndpoint {
    /// `None` while EKS has none (a cluster still creating).
    pub endpoint: Option<String>,
    pub ca_data: Option<String>,
}

impl Aws {
    /// The configuration the clients were built from (credentials, region, endpoints).
    pub fn sdk_config(&self) -> &aws_types::SdkConfig {
        &self.sdk
    }

    /// The cluster's Kubernetes endpoint and CA.
    pub async fn cluster_endpoint(&self, cluster: &str) -> Result<ClusterEndpoint, AwsError> {
        let out = self
            .call("eks:DescribeCluster", || {
                self.eks.describe_cluster().name(cluster).send()
            })
            .await;
        let c = match out {
            Ok(o) => o.cluster,
            Err(e) if e.is_not_found() => return Err(self.not_found(cluster)),
            Err(e) => return Err(self.err(e, cluster, None)),
        };
        let c = c.ok_or_else(|| self.not_found(cluster))?;
        Ok(ClusterEndpoint {
            endpoint: c.endpoint().filter(|e| !e.is_empty()).map(str::to_string),
            ca_data: c
                .certificate_authority()
                .and_then(|a| a.data())
                .filter(|d| !d.is_empty())
                .map(str::to_string),
        })
    }
}
