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

/// `arn` with its partition field set to `partition` (unchanged if it already is, or if
/// `arn` is not an ARN).
///
/// The simulated account exists in every partition: IAM/STS state is stored with `aws`
/// ARNs and shown in the partition of the request's region, as a real account of that
/// partition would see it.
pub fn with_partition<'a>(arn: &'a str, partition: &str) -> std::borrow::Cow<'a, str> {
    let Some(rest) = arn.strip_prefix("arn:") else {
        return std::borrow::Cow::Borrowed(arn);
    };
    let Some((current, tail)) = rest.split_once(':') else {
        return std::borrow::Cow::Borrowed(arn);
    };
    if current == partition {
        std::borrow::Cow::Borrowed(arn)
    } else {
        std::borrow::Cow::Owned(format!("arn:{partition}:{tail}"))
    }
}

/// The stored (canonical, `aws`-partition) form of an IAM/STS ARN.
pub fn canonical(arn: &str) -> std::borrow::Cow<'_, str> {
    with_partition(arn, "aws")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions() {
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
        assert_eq!(partition_of("eu-west-1"), "aws");
        assert_eq!(
            with_partition("arn:aws:iam::1:role/a/b", "aws-cn"),
            "arn:aws-cn:iam::1:role/a/b"
        );
        assert_eq!(
            canonical("arn:aws-us-gov:iam::1:user/u"),
            "arn:aws:iam::1:user/u"
        );
        assert_eq!(with_partition("not-an-arn", "aws-cn"), "not-an-arn");
        assert_eq!(with_partition("arn:aws:x", "aws"), "arn:aws:x");
    }
}
