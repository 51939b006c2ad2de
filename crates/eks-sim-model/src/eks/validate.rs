//! Checks of EKS inputs. Structured inputs that EKS answers back (network config, logging,
//! scaling, enums) are validated against the botocore model's enums and ranges and rebuilt
//! from the members AWS defines, so an answer never carries a value or key AWS would not.

use super::errors::invalid_param;
use super::types::TagMap;
use crate::error::SimResult;
use eks_sim_wire::generated::eks as gen;
use serde_json::Value;

/// Kubernetes version a cluster gets when CreateCluster names none.
pub const DEFAULT_K8S_VERSION: &str = "1.33";
pub(super) const SUPPORTED_VERSIONS: &[&str] = &[
    "1.23", "1.24", "1.25", "1.26", "1.27", "1.28", "1.29", "1.30", "1.31", "1.32", "1.33", "1.34",
];

// ---------------------------------------------------------------------------------------
// Structured inputs that EKS answers back: validated against the model's enums and rebuilt
// from the members AWS defines, so an answer never carries a value or key AWS would not.

// The enums are botocore's, from the generated wire (no hand-copied lists to go stale).
pub(super) const LOG_TYPES: &[&str] = gen::LogType::VALUES;
pub(super) const IP_FAMILIES: &[&str] = gen::IpFamily::VALUES;
pub(super) const CAPACITY_TYPES: &[&str] = gen::CapacityTypes::VALUES;
pub(super) const AMI_TYPES: &[&str] = gen::AMITypes::VALUES;

pub(super) fn check_enum(member: &str, value: &str, allowed: &[&str]) -> SimResult<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(invalid_param(format!(
            "The {member} '{value}' is invalid. Valid values: {}.",
            allowed.join(", ")
        )))
    }
}

pub(super) fn member<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.get(k).filter(|x| !x.is_null())
}

pub(super) fn str_member(v: &Value, k: &str, label: &str) -> SimResult<Option<String>> {
    match member(v, k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid_param(format!("{label} must be a string."))),
    }
}

/// `logging` as DescribeCluster shows it: one group of enabled types and one of disabled
/// types, in AWS's order (all disabled when CreateCluster names none).
pub(super) fn logging_doc(input: Option<&Value>) -> SimResult<Value> {
    let mut enabled: Vec<&'static str> = Vec::new();
    if let Some(l) = input {
        let setups = match member(l, "clusterLogging") {
            None => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(invalid_param("logging.clusterLogging must be a list.")),
        };
        for setup in &setups {
            let on = match member(setup, "enabled") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(invalid_param(
                        "logging.clusterLogging.enabled must be a boolean.",
                    ))
                }
            };
            let types = match member(setup, "types") {
                None => Vec::new(),
                Some(Value::Array(a)) => a.clone(),
                Some(_) => {
                    return Err(invalid_param(
                        "logging.clusterLogging.types must be a list.",
                    ))
                }
            };
            for t in &types {
                let t = t.as_str().ok_or_else(|| {
                    invalid_param("logging.clusterLogging.types must hold strings.")
                })?;
                check_enum("log type", t, LOG_TYPES)?;
                let Some(canon) = LOG_TYPES.iter().find(|x| **x == t).copied() else {
                    continue; // unreachable: check_enum passed
                };
                enabled.retain(|x| *x != canon);
                if on {
                    enabled.push(canon);
                }
            }
        }
    }
    let on: Vec<&str> = LOG_TYPES
        .iter()
        .copied()
        .filter(|t| enabled.contains(t))
        .collect();
    let off: Vec<&str> = LOG_TYPES
        .iter()
        .copied()
        .filter(|t| !enabled.contains(t))
        .collect();
    let mut groups = Vec::new();
    if !on.is_empty() {
        groups.push(serde_json::json!({"types": on, "enabled": true}));
    }
    if !off.is_empty() {
        groups.push(serde_json::json!({"types": off, "enabled": false}));
    }
    Ok(serde_json::json!({ "clusterLogging": groups }))
}

/// `kubernetesNetworkConfig` as DescribeCluster shows it, with AWS's defaults.
pub(super) fn network_doc(input: Option<&Value>) -> SimResult<Value> {
    let empty = Value::Object(Default::default());
    let i = input.unwrap_or(&empty);
    let family = str_member(i, "ipFamily", "kubernetesNetworkConfig.ipFamily")?
        .unwrap_or_else(|| "ipv4".into());
    check_enum("ipFamily", &family, IP_FAMILIES)?;
    let cidr = str_member(
        i,
        "serviceIpv4Cidr",
        "kubernetesNetworkConfig.serviceIpv4Cidr",
    )?
    .unwrap_or_else(|| "10.100.0.0/16".into());
    let elb = match member(i, "elasticLoadBalancing").and_then(|e| member(e, "enabled")) {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(invalid_param(
                "kubernetesNetworkConfig.elasticLoadBalancing.enabled must be a boolean.",
            ))
        }
    };
    let mut out = serde_json::json!({
        "serviceIpv4Cidr": cidr,
        "ipFamily": family,
        "elasticLoadBalancing": {"enabled": elb},
    });
    if family == "ipv6" {
        if let Some(o) = out.as_object_mut() {
            o.insert(
                "serviceIpv6Cidr".into(),
                Value::String("fd00:ec2::/108".into()),
            );
        }
    }
    Ok(out)
}

pub(super) fn size_member(v: &Value, k: &str) -> SimResult<Option<i64>> {
    match member(v, k) {
        None => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(_) => Err(invalid_param(format!(
            "scalingConfig.{k} must be an integer."
        ))),
    }
}

/// `scalingConfig` with AWS's defaults (min 1, max 2, desired 2), checked as AWS checks it.
pub(super) fn scaling_doc(input: Option<&Value>) -> SimResult<Value> {
    let empty = Value::Object(Default::default());
    let i = input.unwrap_or(&empty);
    let min = size_member(i, "minSize")?.unwrap_or(1);
    let max = size_member(i, "maxSize")?.unwrap_or(2.max(min));
    let desired = size_member(i, "desiredSize")?.unwrap_or(min.max(2).min(max));
    if min < 0 || max < 1 || desired < 0 {
        return Err(invalid_param(
            "scalingConfig: minSize and desiredSize must be at least 0 and maxSize at least 1.",
        ));
    }
    if min > max {
        return Err(invalid_param(format!(
            "Minimum capacity {min} can't be greater than maximum capacity {max}."
        )));
    }
    if desired > max || desired < min {
        return Err(invalid_param(format!(
            "Desired capacity {desired} must be between minimum capacity {min} and maximum capacity {max}."
        )));
    }
    Ok(serde_json::json!({"minSize": min, "maxSize": max, "desiredSize": desired}))
}

// ---------------------------------------------------------------------------------------
// Validation helpers.

/// AWS's cluster/node-group name pattern: `^[0-9A-Za-z][A-Za-z0-9\-_]*`, 1..=100 chars.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 100
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
}

pub(super) fn check_name(what: &str, name: &str) -> SimResult<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(invalid_param(format!(
            "{what} name '{name}' is invalid: it must be 1-100 characters, start with a letter \
             or digit, and contain only letters, digits, hyphens and underscores."
        )))
    }
}

pub(super) fn check_tags(tags: &TagMap) -> SimResult<()> {
    if tags.len() > 50 {
        return Err(invalid_param("Too many tags: at most 50 tags are allowed."));
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || v.chars().count() > 256 {
            return Err(invalid_param(format!("The tag '{k}' is invalid.")));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(invalid_param(
                "Tag keys starting with 'aws:' are reserved for AWS use.",
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
