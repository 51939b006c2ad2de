//! Offline checks of what a user types at install, so that a typo never reaches AWS (where
//! it would surface as an SDK construction error or a confusing 4xx).

use crate::Fail;

/// An EKS cluster name as CreateCluster accepts it: 1 to 100 characters, letters, digits,
/// hyphens and underscores, starting with a letter or digit.
pub fn check_cluster_name(name: &str) -> Result<(), Fail> {
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
    Err(Fail::msg(format!(
        "invalid --cluster {shown}: an EKS cluster name is 1 to 100 letters, digits, hyphens and underscores, starting with a letter or digit; `aws eks list-clusters --region REGION` lists the cluster names"
    )))
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
}
