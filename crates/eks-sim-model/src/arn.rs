//! ARN and partition helpers.

/// The partition of a region: `cn-*` → `aws-cn`, `us-gov-*` → `aws-us-gov`, else `aws`.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}
