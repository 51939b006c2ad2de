//! Offline checks of what a user types at install, so that a typo never reaches AWS (where
//! it would surface as an SDK construction error, a DNS or signature error, or a confusing
//! 4xx half-way through a run).

use convox_planner::{partition_for_region, Arn};
use convox_store::NewRack;

use crate::error::InputError;

/// An EKS cluster name as CreateCluster accepts it: 1 to 100 characters, letters, digits,
/// hyphens and underscores, starting with a letter or digit.
pub fn check_cluster_name(name: &str) -> Result<(), InputError> {
    let ok = (1..=100).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        return Ok(());
    }
    let shown = if name.is_empty() {
        "an empty name".to_string()
    } else {
        format!("`{name}`")
    };
    Err(InputError::ClusterName { shown })
}

/// An AWS region name's shape (`us-east-1`, `cn-north-1`, `us-gov-west-1`, `eu-central-2`).
pub fn check_region(region: &str) -> Result<(), InputError> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts.len() <= 4
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty();
    if ok {
        Ok(())
    } else {
        Err(InputError::Region(region.to_string()))
    }
}

/// A node role ARN as EKS will need it: `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`, in
/// the partition of the cluster's region (EC2_LINUX entries take same-partition roles only).
pub fn check_node_role_arn(arn: &str, region: &str) -> Result<(), InputError> {
    let parsed = Arn::parse(arn).filter(|a| {
        a.service == "iam"
            && a.region.is_empty()
            && a.account.len() == 12
            && a.account.bytes().all(|b| b.is_ascii_digit())
            && a.resource
                .strip_prefix("role/")
                .is_some_and(|n| !n.is_empty() && !n.ends_with('/'))
    });
    let Some(parsed) = parsed else {
        return Err(InputError::RoleArn(arn.to_string()));
    };
    let want = partition_for_region(region);
    if parsed.partition != want {
        return Err(InputError::RolePartition {
            arn: arn.to_string(),
            partition: parsed.partition.to_string(),
            region: region.to_string(),
            want,
        });
    }
    Ok(())
}

/// Node roles must be in the cluster's account: EKS takes EC2_LINUX entries for same-account
/// roles only, so a mismatch would fail later, half-way through a `params set`.
pub fn check_node_role_account(new: &NewRack, account: &str) -> Result<(), InputError> {
    for arn in std::iter::once(&new.nodes_role_arn).chain(new.karpenter_nodes_role_arn.iter()) {
        let role_account = Arn::parse(arn).map(|a| a.account).unwrap_or_default();
        if !account.is_empty() && role_account != account {
            return Err(InputError::RoleAccount {
                arn: arn.clone(),
                role_account: role_account.to_string(),
                cluster: new.cluster.clone(),
                account: account.to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names() {
        for ok in ["a", "prod-eks", "Prod_1", &"x".repeat(100)] {
            assert!(check_cluster_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "_a", "a b", "a/b", "ä", &"x".repeat(101)] {
            assert!(check_cluster_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_role_arns_are_in_the_partition_of_the_region() {
        for (arn, region) in [
            ("arn:aws:iam::123456789012:role/nodes", "us-east-1"),
            ("arn:aws-cn:iam::123456789012:role/p/nodes", "cn-north-1"),
            (
                "arn:aws-iso-b:iam::123456789012:role/nodes",
                "us-isob-east-1",
            ),
            (
                "arn:aws-iso-f:iam::123456789012:role/nodes",
                "us-isof-south-1",
            ),
        ] {
            assert_eq!(check_node_role_arn(arn, region), Ok(()), "{arn} {region}");
        }
        let e = check_node_role_arn("arn:aws:iam::123456789012:role/nodes", "us-isob-east-1");
        assert!(
            matches!(
                &e,
                Err(InputError::RolePartition {
                    want: "aws-iso-b",
                    ..
                })
            ),
            "{e:?}"
        );
        for bad in [
            "arn:aws:iam::123456789012:user/nodes",
            "arn:aws:iam::12345:role/nodes",
            "arn:aws:iam:us-east-1:123456789012:role/nodes",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/path/",
            "arn:aws:sts::123456789012:role/nodes",
            "role/nodes",
        ] {
            let e = check_node_role_arn(bad, "us-east-1");
            assert!(matches!(e, Err(InputError::RoleArn(_))), "{bad}: {e:?}");
        }
    }

    #[test]
    fn region_names() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "cn-north-1",
            "us-gov-west-1",
            "ap-southeast-5",
            "us-isob-east-1",
        ] {
            assert!(check_region(ok).is_ok(), "{ok}");
        }
        for bad in [
            "mars-1",
            "US-EAST-1",
            "us-east",
            "useast1",
            "us-east-1a",
            "",
            "us--1",
        ] {
            assert!(check_region(bad).is_err(), "{bad}");
        }
    }
}
