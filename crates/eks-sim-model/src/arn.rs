//! ARN and partition helpers: the one place the simulator knows which partition a region is
//! in and what DNS suffix its endpoints end with.

/// An AWS partition the simulator serves: its name (the ARN field) and the DNS suffix of
/// its service endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub name: &'static str,
    pub dns_suffix: &'static str,
}

/// The commercial partition: every region no other entry of [`PARTITIONS`] claims.
pub const AWS: Partition = Partition {
    name: "aws",
    dns_suffix: "amazonaws.com",
};

/// Region prefix → partition, for every partition but `aws`. The ISO prefixes are matched
/// before anything shorter could claim them (`us-isob-` is not `us-iso-`: each ends with
/// its own `-`).
pub const PARTITIONS: &[(&str, Partition)] = &[
    (
        "cn-",
        Partition {
            name: "aws-cn",
            dns_suffix: "amazonaws.com.cn",
        },
    ),
    (
        "us-gov-",
        Partition {
            name: "aws-us-gov",
            dns_suffix: "amazonaws.com",
        },
    ),
    (
        "us-iso-",
        Partition {
            name: "aws-iso",
            dns_suffix: "c2s.ic.gov",
        },
    ),
    (
        "us-isob-",
        Partition {
            name: "aws-iso-b",
            dns_suffix: "sc2s.sgov.gov",
        },
    ),
    (
        "eu-isoe-",
        Partition {
            name: "aws-iso-e",
            dns_suffix: "cloud.adc-e.uk",
        },
    ),
    (
        "us-isof-",
        Partition {
            name: "aws-iso-f",
            dns_suffix: "csp.hci.ic.gov",
        },
    ),
];

/// The partition a region is in.
pub fn partition_for(region: &str) -> Partition {
    PARTITIONS
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or(AWS, |(_, p)| *p)
}

/// The partition name of a region (`cn-*` → `aws-cn`, `us-isob-*` → `aws-iso-b`, …, else
/// `aws`).
pub fn partition_of(region: &str) -> &'static str {
    partition_for(region).name
}

/// The DNS suffix of a partition's endpoints (`amazonaws.com` for an unknown name).
pub fn dns_suffix(partition: &str) -> &'static str {
    PARTITIONS
        .iter()
        .map(|(_, p)| p)
        .find(|p| p.name == partition)
        .map_or(AWS.dns_suffix, |p| p.dns_suffix)
}

/// Whether `name` is a partition the simulator knows.
pub fn is_partition(name: &str) -> bool {
    name == AWS.name || PARTITIONS.iter().any(|(_, p)| p.name == name)
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

    #[test]
    fn every_partition_from_its_regions() {
        for (region, name, suffix) in [
            ("us-east-1", "aws", "amazonaws.com"),
            ("eu-west-1", "aws", "amazonaws.com"),
            ("ap-southeast-7", "aws", "amazonaws.com"),
            ("cn-north-1", "aws-cn", "amazonaws.com.cn"),
            ("cn-northwest-1", "aws-cn", "amazonaws.com.cn"),
            ("us-gov-west-1", "aws-us-gov", "amazonaws.com"),
            ("us-gov-east-1", "aws-us-gov", "amazonaws.com"),
            ("us-iso-east-1", "aws-iso", "c2s.ic.gov"),
            ("us-iso-west-1", "aws-iso", "c2s.ic.gov"),
            ("us-isob-east-1", "aws-iso-b", "sc2s.sgov.gov"),
            ("eu-isoe-west-1", "aws-iso-e", "cloud.adc-e.uk"),
            ("us-isof-south-1", "aws-iso-f", "csp.hci.ic.gov"),
            ("us-isof-east-1", "aws-iso-f", "csp.hci.ic.gov"),
        ] {
            assert_eq!(partition_of(region), name, "{region}");
            assert_eq!(partition_for(region).dns_suffix, suffix, "{region}");
            assert_eq!(dns_suffix(name), suffix, "{name}");
            assert!(is_partition(name), "{name}");
        }
        assert!(!is_partition("aws-mars"));
        assert_eq!(dns_suffix("aws-mars"), "amazonaws.com");
    }
}
