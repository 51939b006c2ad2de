//! ARNs and partitions, the product side's one helper (the simulator keeps its own, on
//! purpose: the two sides stay independent). An ARN is `arn:PARTITION:SERVICE:REGION:ACCOUNT:
//! RESOURCE`; the resource may itself contain `:`. A region's partition follows from its
//! name's prefix, as AWS names them.

use std::fmt;

/// An AWS partition: a group of regions with its own ARNs, endpoints and accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Partition {
    /// The commercial regions.
    Aws,
    /// China (`cn-*`).
    AwsCn,
    /// AWS GovCloud (US) (`us-gov-*`).
    AwsUsGov,
    /// US ISO (`us-iso-*`).
    AwsIso,
    /// US ISOB (`us-isob-*`).
    AwsIsoB,
    /// EU ISOE (`eu-isoe-*`).
    AwsIsoE,
    /// US ISOF (`us-isof-*`).
    AwsIsoF,
}

/// Region name prefixes and their partitions; anything else is `aws`.
const PREFIXES: [(&str, Partition); 6] = [
    ("cn-", Partition::AwsCn),
    ("us-gov-", Partition::AwsUsGov),
    ("us-iso-", Partition::AwsIso),
    ("us-isob-", Partition::AwsIsoB),
    ("eu-isoe-", Partition::AwsIsoE),
    ("us-isof-", Partition::AwsIsoF),
];

impl Partition {
    /// The partition of a region.
    pub fn of_region(region: &str) -> Partition {
        PREFIXES
            .iter()
            .find(|(prefix, _)| region.starts_with(prefix))
            .map(|(_, p)| *p)
            .unwrap_or(Partition::Aws)
    }

    /// As ARNs spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Partition::Aws => "aws",
            Partition::AwsCn => "aws-cn",
            Partition::AwsUsGov => "aws-us-gov",
            Partition::AwsIso => "aws-iso",
            Partition::AwsIsoB => "aws-iso-b",
            Partition::AwsIsoE => "aws-iso-e",
            Partition::AwsIsoF => "aws-iso-f",
        }
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The AWS partition of a region, as ARNs spell it (`cn-*` → `aws-cn`, `us-gov-*` →
/// `aws-us-gov`, `us-iso-*` → `aws-iso`, `us-isob-*` → `aws-iso-b`, `eu-isoe-*` →
/// `aws-iso-e`, `us-isof-*` → `aws-iso-f`, else `aws`).
pub fn partition_for_region(region: &str) -> &'static str {
    Partition::of_region(region).as_str()
}

/// An ARN split into its six fields (borrowed from the string).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    /// `role/path/Name`, `assumed-role/Name/session`, `user/Name`, `root`, …
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// `arn:…` with its six fields, else `None` (fields may be empty: IAM ARNs have no
    /// region).
    pub fn parse(s: &'a str) -> Option<Arn<'a>> {
        let mut f = s.splitn(6, ':');
        if f.next()? != "arn" {
            return None;
        }
        Some(Arn {
            partition: f.next()?,
            service: f.next()?,
            region: f.next()?,
            account: f.next()?,
            resource: f.next()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_partition_from_its_regions() {
        for (region, want) in [
            ("us-east-1", "aws"),
            ("eu-west-1", "aws"),
            ("ap-southeast-5", "aws"),
            ("cn-north-1", "aws-cn"),
            ("cn-northwest-1", "aws-cn"),
            ("us-gov-west-1", "aws-us-gov"),
            ("us-gov-east-1", "aws-us-gov"),
            ("us-iso-east-1", "aws-iso"),
            ("us-iso-west-1", "aws-iso"),
            ("us-isob-east-1", "aws-iso-b"),
            ("eu-isoe-west-1", "aws-iso-e"),
            ("us-isof-south-1", "aws-iso-f"),
            ("us-isof-east-1", "aws-iso-f"),
        ] {
            assert_eq!(partition_for_region(region), want, "{region}");
            assert_eq!(Partition::of_region(region).to_string(), want, "{region}");
        }
    }

    #[test]
    fn arns_split_into_six_fields() {
        let a = Arn::parse("arn:aws-iso-b:iam::123456789012:role/a/b:c").expect("arn");
        assert_eq!(
            (a.partition, a.service, a.region, a.account, a.resource),
            ("aws-iso-b", "iam", "", "123456789012", "role/a/b:c")
        );
        for bad in ["", "arn", "arn:aws:iam::1", "nra:aws:iam::1:role/x"] {
            assert_eq!(Arn::parse(bad), None, "{bad}");
        }
    }
}
