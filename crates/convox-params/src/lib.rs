//! # convox-params
//!
//! The rack parameter catalog (single source of truth: names, types, defaults, groups,
//! one-way / install-only flags, sensitivity, the version that introduced each, help text)
//! and validation of `KEY=VALUE` changes against a rack's current values and version.
//! Pure: no I/O.

use std::collections::BTreeMap;

/// A rack's stored parameter values (only explicitly set ones; defaults come from the catalog).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    pub values: BTreeMap<String, String>,
}

impl Params {
    /// The value of `key`, or the catalog default.
    pub fn get(&self, key: &str) -> Option<String> {
        self.values.get(key).cloned()
    }
    /// A boolean parameter (`"true"`), defaulting to false.
    pub fn flag(&self, key: &str) -> bool {
        self.values.get(key).map(|v| v == "true").unwrap_or(false)
    }
}
