//! Rack versions: parse, compare, and the versions this build knows.

use std::fmt;
use std::str::FromStr;

/// Rack versions this build knows, ascending; the last is the newest (what `rack update`
/// moves to by default).
pub const KNOWN_VERSIONS: &[&str] = &[
    "3.23.0", "3.23.1", "3.23.2", "3.23.3", "3.24.0", "3.24.1", "3.24.2", "3.24.3", "3.24.4",
    "3.24.5", "3.24.6", "3.24.7",
];

/// A rack version `MAJOR.MINOR.PATCH` (an optional leading `v` is accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    #[error("invalid rack version `{0}`: expected MAJOR.MINOR.PATCH, e.g. 3.24.7")]
    Invalid(String),
    #[error("unknown rack version {0}; this build knows {known}", known = KNOWN_VERSIONS.join(", "))]
    Unknown(String),
}

impl FromStr for Version {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || VersionError::Invalid(s.to_string());
        let t = s.trim();
        let t = t.strip_prefix('v').unwrap_or(t);
        let mut parts = t.split('.');
        let mut next = || -> Result<u32, VersionError> {
            let p = parts.next().ok_or_else(bad)?;
            // Reject signs, spaces and empty parts that u32::from_str would partly accept.
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let v = Version::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(v)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The known versions, ascending.
pub fn known_versions() -> Vec<Version> {
    KNOWN_VERSIONS
        .iter()
        .filter_map(|v| v.parse().ok())
        .collect()
}

/// The newest version this build knows.
pub fn latest_version() -> Version {
    known_versions()
        .last()
        .copied()
        .unwrap_or(Version::new(3, 24, 7))
}

/// Parses `s` and checks that this build knows it.
pub fn parse_known(s: &str) -> Result<Version, VersionError> {
    let v: Version = s.parse()?;
    if known_versions().contains(&v) {
        Ok(v)
    } else {
        Err(VersionError::Unknown(v.to_string()))
    }
}
