//! Where a subnet is. The simulator has no EC2, so a subnet's Availability Zone follows
//! from its ID by one documented rule: the ID's last character picks the zone letter,
//! cycling `a`, `b`, `c` — `1`, `4`, `7`, `a`, `d`, … are in `REGIONa`; `2`, `5`, `8`, `b`,
//! `e`, … in `REGIONb`; `3`, `6`, `9`, `0`, `c`, `f`, … in `REGIONc`. So `subnet-1` and
//! `subnet-2` (or `…0001` and `…0002`) are in two zones, `subnet-1` and `subnet-4` in one.
//!
//! CreateCluster needs subnets in at least two zones, as EKS does (its control plane spans
//! zones): fewer is InvalidParameterException "Subnets specified must be in at least two
//! different AZs".

use std::collections::BTreeSet;

use crate::error::{SimError, SimResult};

/// The Availability Zone of `subnet_id` in `region` (see the module doc).
pub fn availability_zone(region: &str, subnet_id: &str) -> String {
    let last = subnet_id
        .bytes()
        .last()
        .unwrap_or(b'1')
        .to_ascii_lowercase();
    let letter = [b'a', b'b', b'c'][(i32::from(last) - i32::from(b'1')).rem_euclid(3) as usize];
    format!("{region}{}", char::from(letter))
}

/// CreateCluster's rule: subnets in at least two Availability Zones.
pub fn check_cluster_subnets(region: &str, subnet_ids: &[String]) -> SimResult<()> {
    let zones: BTreeSet<String> = subnet_ids
        .iter()
        .map(|s| availability_zone(region, s))
        .collect();
    if zones.len() < 2 {
        return Err(SimError::new(
            "InvalidParameterException",
            400,
            "Subnets specified must be in at least two different AZs",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_follow_the_last_character() {
        let az = |s| availability_zone("us-east-1", s);
        assert_eq!(az("subnet-1"), "us-east-1a");
        assert_eq!(az("subnet-2"), "us-east-1b");
        assert_eq!(az("subnet-3"), "us-east-1c");
        assert_eq!(az("subnet-4"), "us-east-1a");
        assert_eq!(az("subnet-0"), "us-east-1c");
        assert_eq!(az("subnet-a"), "us-east-1a");
        assert_eq!(az("subnet-B"), "us-east-1b");
        assert_eq!(az("subnet-0convox0000000002"), "us-east-1b");
        let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_cluster_subnets("us-east-1", &ids(&["subnet-1", "subnet-2"])).is_ok());
        for bad in [&[][..], &["subnet-1"], &["subnet-1", "subnet-4"]] {
            let e = check_cluster_subnets("us-east-1", &ids(bad)).expect_err("one zone");
            assert_eq!(e.code, "InvalidParameterException");
            assert_eq!(e.status, 400);
        }
    }
}
