//! The AWS-managed access policies (ListAccessPolicies), as the EKS User Guide lists them.
//! Their ARNs are global to a partition: `arn:PARTITION:eks::aws:cluster-access-policy/NAME`.

/// Names, in the (alphabetical) order ListAccessPolicies returns them.
pub const ACCESS_POLICY_NAMES: &[&str] = &[
    "AmazonAIOpsAssistantPolicy",
    "AmazonARCRegionSwitchScalingPolicy",
    "AmazonEKSAdminPolicy",
    "AmazonEKSAdminViewPolicy",
    "AmazonEKSAutoNodePolicy",
    "AmazonEKSBlockStorageClusterPolicy",
    "AmazonEKSBlockStoragePolicy",
    "AmazonEKSClusterAdminPolicy",
    "AmazonEKSClusterInsightsPolicy",
    "AmazonEKSComputeClusterPolicy",
    "AmazonEKSComputePolicy",
    "AmazonEKSEditPolicy",
    "AmazonEKSHybridPolicy",
    "AmazonEKSLoadBalancingClusterPolicy",
    "AmazonEKSLoadBalancingPolicy",
    "AmazonEKSNetworkingClusterPolicy",
    "AmazonEKSNetworkingPolicy",
    "AmazonEKSSecretReaderPolicy",
    "AmazonEKSViewPolicy",
];

/// The admin policy EKS gives a cluster's creator.
pub const CLUSTER_ADMIN_POLICY: &str = "AmazonEKSClusterAdminPolicy";
/// The only policy an `EC2` (Auto Mode node) entry can take.
pub const AUTO_NODE_POLICY: &str = "AmazonEKSAutoNodePolicy";

pub fn policy_arn(partition: &str, name: &str) -> String {
    format!("arn:{partition}:eks::aws:cluster-access-policy/{name}")
}

/// The policy name of `arn` if it is a known policy ARN in `partition`.
pub fn policy_name<'a>(partition: &str, arn: &'a str) -> Option<&'a str> {
    let rest = arn.strip_prefix("arn:")?;
    let rest = rest.strip_prefix(partition)?;
    let name = rest.strip_prefix(":eks::aws:cluster-access-policy/")?;
    ACCESS_POLICY_NAMES.contains(&name).then_some(name)
}
