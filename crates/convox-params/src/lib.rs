//! # convox-params
//!
//! The rack parameter catalog (single source of truth: names, types, defaults, groups,
//! one-way / install-only flags, sensitivity, the version that introduced each, help text)
//! and validation of `KEY=VALUE` changes against a rack's current values and version.
//! Pure: no I/O.
//!
//! Typical use by the binary:
//! ```
//! use convox_params::{validate_set, Params, Version};
//! let current = Params::default();
//! let version: Version = "3.24.7".parse().unwrap();
//! let changes = validate_set(&current, &version, &["eks_access_entries=true"]).unwrap();
//! assert_eq!(changes.changed().count(), 1);
//! let next = changes.apply_to(&current);
//! assert!(next.flag("eks_access_entries"));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

mod version;
pub use version::{
    known_versions, latest_version, parse_known, Version, VersionError, KNOWN_VERSIONS,
};

/// Parameter name: migrate cluster auth to EKS access entries (the seed's parameter).
pub const EKS_ACCESS_ENTRIES: &str = "eks_access_entries";
/// Parameter name: the Karpenter-specific auth mode migration.
pub const KARPENTER_AUTH_MODE: &str = "karpenter_auth_mode";
/// Install-only identity parameters (stored as rack columns, listed with the parameters).
pub const REGION: &str = "region";
pub const CLUSTER: &str = "cluster";
pub const NODES_ROLE_ARN: &str = "nodes_role_arn";
pub const KARPENTER_NODES_ROLE_ARN: &str = "karpenter_nodes_role_arn";

/// Value shown instead of a sensitive value unless the caller asks to reveal it.
pub const MASK: &str = "****";

/// Longest string value, in characters: far above any name, token or password the catalog
/// holds, far below what would flood a terminal or a history row.
pub const MAX_VALUE_CHARS: usize = 1024;

/// Characters that must never reach a terminal raw: controls (C0 with ESC, DEL, C1) drive
/// it, and bidirectional overrides/isolates make text read other than it is.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` as it may be printed: every character a terminal would act on (see [`unsafe_char`])
/// shown as its escape (`\u{1b}`), everything else as is. Values are validated on the way
/// in; this is for the way out, whatever the source (older stores, AWS's messages, keys).
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    printable_keeping(s, false)
}

/// [`printable`] that keeps line breaks: for whole outputs and listings.
pub fn printable_text(s: &str) -> std::borrow::Cow<'_, str> {
    printable_keeping(s, true)
}

fn printable_keeping(s: &str, newlines: bool) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| unsafe_char(c) && !(newlines && c == '\n');
    if !s.chars().any(bad) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if bad(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// The type of a parameter's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// Only `true` or `false`.
    Bool,
    /// Any single-line text.
    String,
}

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ParamDef {
    pub name: &'static str,
    pub ty: ParamType,
    /// Default value as text; `""` means "unset".
    pub default: &'static str,
    pub group: &'static str,
    /// Once set to a non-default value it cannot go back (mirrors a one-way AWS change).
    pub one_way: bool,
    /// Fixed when the rack is installed; `params set` refuses it.
    pub install_only: bool,
    /// Masked in listings unless revealed.
    pub sensitive: bool,
    /// Rack version that introduced the parameter (`major.minor.patch`).
    pub since: &'static str,
    pub help: &'static str,
}

impl ParamDef {
    /// The version that introduced this parameter.
    pub fn since_version(&self) -> Version {
        // The catalog is static and covered by a test that parses every `since`.
        self.since.parse().unwrap_or(Version::new(0, 0, 0))
    }
}

/// The catalog, sorted by name.
pub static CATALOG: &[ParamDef] = &[
    ParamDef {
        name: CLUSTER,
        ty: ParamType::String,
        default: "",
        group: "identity",
        one_way: false,
        install_only: true,
        sensitive: false,
        since: "3.0.0",
        help: "Name of the rack's EKS cluster.",
    },
    ParamDef {
        name: "docker_hub_password",
        ty: ParamType::String,
        default: "",
        group: "registry",
        one_way: false,
        install_only: false,
        sensitive: true,
        since: "3.0.0",
        help: "Docker Hub password or access token used for authenticated image pulls.",
    },
    ParamDef {
        name: "docker_hub_username",
        ty: ParamType::String,
        default: "",
        group: "registry",
        one_way: false,
        install_only: false,
        sensitive: false,
        since: "3.0.0",
        help: "Docker Hub user name used for authenticated image pulls.",
    },
    ParamDef {
        name: EKS_ACCESS_ENTRIES,
        ty: ParamType::Bool,
        default: "false",
        group: "auth",
        one_way: true,
        install_only: false,
        sensitive: false,
        since: "3.24.7",
        help: "Move cluster authentication from the aws-auth ConfigMap to EKS access entries: \
               switches the cluster to API_AND_CONFIG_MAP and adds a cluster-admin entry for the \
               role managing the rack plus an EC2_LINUX entry for the nodes role. Cannot be \
               turned off once on.",
    },
    ParamDef {
        name: KARPENTER_AUTH_MODE,
        ty: ParamType::Bool,
        default: "false",
        group: "auth",
        one_way: true,
        install_only: false,
        sensitive: false,
        // Assumption: the seed does not say when karpenter_auth_mode appeared, only that it
        // predates eks_access_entries (3.24.7); we take 3.23.0, the oldest version we know.
        since: "3.23.0",
        help: "Switch the cluster to API_AND_CONFIG_MAP and add an EC2_LINUX access entry for \
               the Karpenter nodes role. Cannot be turned off once on.",
    },
    ParamDef {
        name: KARPENTER_NODES_ROLE_ARN,
        ty: ParamType::String,
        default: "",
        group: "identity",
        one_way: false,
        install_only: true,
        sensitive: false,
        since: "3.0.0",
        help: "IAM role ARN of the nodes Karpenter launches.",
    },
    ParamDef {
        name: NODES_ROLE_ARN,
        ty: ParamType::String,
        default: "",
        group: "identity",
        one_way: false,
        install_only: true,
        sensitive: false,
        since: "3.0.0",
        help: "IAM role ARN of the rack's managed node group.",
    },
    ParamDef {
        name: REGION,
        ty: ParamType::String,
        default: "",
        group: "identity",
        one_way: false,
        install_only: true,
        sensitive: false,
        since: "3.0.0",
        help: "AWS region of the rack's cluster.",
    },
];

/// The catalog entry of `name`.
pub fn lookup(name: &str) -> Option<&'static ParamDef> {
    CATALOG.iter().find(|d| d.name == name)
}

/// Parameter groups, sorted.
pub fn groups() -> Vec<&'static str> {
    let set: BTreeSet<&'static str> = CATALOG.iter().map(|d| d.group).collect();
    set.into_iter().collect()
}

/// A rack's stored parameter values (only explicitly set ones; defaults come from the catalog).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    pub values: BTreeMap<String, String>,
}

impl Params {
    /// The value of `key`, or the catalog default (`None` for unknown keys and for keys
    /// whose default is unset).
    pub fn get(&self, key: &str) -> Option<String> {
        if let Some(v) = self.values.get(key) {
            return Some(v.clone());
        }
        lookup(key)
            .filter(|d| !d.default.is_empty())
            .map(|d| d.default.to_string())
    }
    /// A boolean parameter (`"true"`), defaulting to the catalog default (false if unknown).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key).map(|v| v == "true").unwrap_or(false)
    }
}

/// Why a `params set` (or install / update) was refused. Every message is one line that says
/// what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    #[error("malformed parameter `{0}`: expected KEY=VALUE")]
    Malformed(String),
    #[error("empty parameter name in `{0}`: expected KEY=VALUE")]
    EmptyKey(String),
    #[error("no parameters given: expected KEY=VALUE")]
    NoParams,
    #[error("parameter {0} given more than once; set each parameter once per call")]
    Duplicate(String),
    #[error("unknown parameter {key}{}; run `convox rack params` to list parameters",
        .suggestion.as_ref().map(|s| format!(" (did you mean {s}?)")).unwrap_or_default())]
    Unknown {
        key: String,
        suggestion: Option<String>,
    },
    #[error("{key} requires rack version {since} or later (rack is at {rack}); run `convox rack update`")]
    TooNew {
        key: String,
        since: Version,
        rack: Version,
    },
    #[error("invalid value `{value}` for {key}: expected {expected}")]
    BadValue {
        key: String,
        value: String,
        expected: String,
    },
    #[error("{key} cannot be set to {value} once it is {current}: it is one-way, like the EKS authentication mode change it drives (EKS never moves back to CONFIG_MAP)")]
    OneWay {
        key: String,
        current: String,
        value: String,
    },
    #[error("{0} is fixed at install and cannot be changed with `params set`; install a new rack to use a different value")]
    InstallOnly(String),
    // The value is not echoed: it may be sensitive, and it is what cannot be printed.
    #[error("invalid value for {key}: character {position} is {code}, a control character; values must be printable text (no terminal escape sequences, tabs or invisible direction overrides)")]
    ControlChar {
        key: String,
        position: usize,
        code: String,
    },
    #[error("invalid value for {key}: it is {len} characters long, at most {max} are allowed")]
    TooLong { key: String, len: usize, max: usize },
    #[error(transparent)]
    Version(#[from] VersionError),
}

/// One validated change.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    pub key: String,
    /// Effective value before (stored or default; `None` if unset).
    pub old: Option<String>,
    pub new: String,
}

impl Change {
    /// Whether this change alters the effective value.
    pub fn is_change(&self) -> bool {
        // Unset and empty are the same effective value.
        self.old.as_deref().unwrap_or("") != self.new
    }
}

/// The validated change set of one call, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChangeSet {
    pub changes: Vec<Change>,
}

impl ChangeSet {
    /// The entries that alter an effective value (setting the same value again is a no-op).
    pub fn changed(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.is_change())
    }
    /// True when no entry alters anything.
    pub fn is_noop(&self) -> bool {
        self.changed().next().is_none()
    }
    /// `current` with every entry of this set stored (no-ops included, so an explicit
    /// `KEY=default` is remembered as set).
    pub fn apply_to(&self, current: &Params) -> Params {
        let mut next = current.clone();
        for c in &self.changes {
            next.values.insert(c.key.clone(), c.new.clone());
        }
        next
    }
}

/// Splits `KEY=VALUE` arguments, refusing malformed ones, empty keys and duplicates.
pub fn parse_assignments<S: AsRef<str>>(args: &[S]) -> Result<Vec<(String, String)>, ParamError> {
    if args.is_empty() {
        return Err(ParamError::NoParams);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(args.len());
    for arg in args {
        let arg = arg.as_ref();
        let Some((key, value)) = arg.split_once('=') else {
            return Err(ParamError::Malformed(arg.to_string()));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(ParamError::EmptyKey(arg.to_string()));
        }
        if key.chars().any(char::is_whitespace) {
            return Err(ParamError::Malformed(arg.to_string()));
        }
        if !seen.insert(key.to_string()) {
            return Err(ParamError::Duplicate(key.to_string()));
        }
        out.push((key.to_string(), value.to_string()));
    }
    Ok(out)
}

fn suggest(key: &str) -> Option<String> {
    CATALOG
        .iter()
        .map(|d| (strsim::jaro_winkler(key, d.name), d.name))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n.to_string())
}

fn check_value(def: &ParamDef, value: &str) -> Result<(), ParamError> {
    match def.ty {
        ParamType::Bool if value != "true" && value != "false" => Err(ParamError::BadValue {
            key: def.name.to_string(),
            value: printable(&truncated(value)).into_owned(),
            expected: "true or false".to_string(),
        }),
        ParamType::String if value.contains(['\n', '\r']) => Err(ParamError::BadValue {
            key: def.name.to_string(),
            value: if def.sensitive {
                MASK.to_string()
            } else {
                printable(&truncated(value)).into_owned()
            },
            expected: "a single line of text".to_string(),
        }),
        ParamType::String => check_text(def.name, value),
        _ => Ok(()),
    }
}

/// A string value's length and characters (see [`MAX_VALUE_CHARS`], [`printable`]).
fn check_text(key: &str, value: &str) -> Result<(), ParamError> {
    let len = value.chars().count();
    if len > MAX_VALUE_CHARS {
        return Err(ParamError::TooLong {
            key: key.to_string(),
            len,
            max: MAX_VALUE_CHARS,
        });
    }
    match value.chars().enumerate().find(|(_, c)| unsafe_char(*c)) {
        Some((i, c)) => Err(ParamError::ControlChar {
            key: key.to_string(),
            position: i + 1,
            code: format!("U+{:04X}", u32::from(c)),
        }),
        None => Ok(()),
    }
}

/// The first 40 characters of `value` (an error line quotes no more).
fn truncated(value: &str) -> String {
    let mut t: String = value.chars().take(40).collect();
    if t.len() < value.len() {
        t.push('…');
    }
    t
}

/// Which kind of call is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `convox rack params set`: install-only keys are refused.
    Set,
    /// `convox rack install … KEY=VALUE`: install-only keys are allowed.
    Install,
}

/// Validates a `params set` call before anything is stored and returns the change set.
pub fn validate_set<S: AsRef<str>>(
    current: &Params,
    rack_version: &Version,
    args: &[S],
) -> Result<ChangeSet, ParamError> {
    validate(current, rack_version, args, Mode::Set)
}

/// Validates `KEY=VALUE` arguments in the given mode.
pub fn validate<S: AsRef<str>>(
    current: &Params,
    rack_version: &Version,
    args: &[S],
    mode: Mode,
) -> Result<ChangeSet, ParamError> {
    let pairs = parse_assignments(args)?;
    let mut changes = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        let Some(def) = lookup(&key) else {
            return Err(ParamError::Unknown {
                suggestion: suggest(&key),
                key,
            });
        };
        if def.install_only && mode == Mode::Set {
            return Err(ParamError::InstallOnly(key));
        }
        let since = def.since_version();
        if *rack_version < since {
            return Err(ParamError::TooNew {
                key,
                since,
                rack: *rack_version,
            });
        }
        check_value(def, &value)?;
        let old = current.get(&key);
        if def.one_way {
            let old_eff = old.as_deref().unwrap_or(def.default);
            if old_eff != def.default && value != old_eff {
                return Err(ParamError::OneWay {
                    key,
                    current: old_eff.to_string(),
                    value,
                });
            }
        }
        changes.push(Change {
            key,
            old,
            new: value,
        });
    }
    Ok(ChangeSet { changes })
}

/// A parameter a downgrade leaves behind: set (non-default) and acting at the rack's version,
/// but unknown to the target version. It stays stored, so that it acts again (and stays
/// one-way) once the rack is back at `since` or later.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LeftBehind {
    pub key: String,
    pub value: String,
    pub since: Version,
}

/// Checks a `rack update` from `from` to `to`: `to` must be a version this build knows.
/// Returns the parameters a downgrade leaves behind (empty for an upgrade or a rerun). Whether
/// leaving them is safe depends on the cluster, not on the parameters (the seed's downgrade
/// table), so the caller decides that once it has observed the cluster.
pub fn validate_update(
    current: &Params,
    from: &Version,
    to: &Version,
) -> Result<Vec<LeftBehind>, ParamError> {
    if !known_versions().contains(to) {
        return Err(VersionError::Unknown(to.to_string()).into());
    }
    // Only what acts now and would stop acting: a parameter already inactive at `from` (left
    // behind by an earlier downgrade) is not left behind again.
    Ok(inactive_at(current, to)
        .into_iter()
        .filter(|l| *from >= l.since)
        .collect())
}

/// The parameters that act at `version`: values of parameters the version does not have
/// (left behind by a downgrade) are dropped. The store keeps them; this is what a reconcile
/// at `version` must see.
pub fn effective_at(params: &Params, version: &Version) -> Params {
    let mut out = params.clone();
    out.values
        .retain(|k, _| lookup(k).is_none_or(|d| *version >= d.since_version()));
    out
}

/// Parameters stored with a non-default value that `version` does not have: what an earlier
/// downgrade left behind, shown so that nobody mistakes them for acting.
pub fn inactive_at(params: &Params, version: &Version) -> Vec<LeftBehind> {
    CATALOG
        .iter()
        .filter(|d| *version < d.since_version())
        .filter_map(|d| {
            params
                .values
                .get(d.name)
                .filter(|v| v.as_str() != d.default)
                .map(|v| LeftBehind {
                    key: d.name.to_string(),
                    value: v.clone(),
                    since: d.since_version(),
                })
        })
        .collect()
}

/// One row of `convox rack params`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Listed {
    pub key: String,
    /// Effective value (stored or default), masked when sensitive and not revealed.
    pub value: String,
    pub group: String,
    /// True when the value is stored explicitly (not the default).
    pub set: bool,
    pub masked: bool,
}

/// The listing for `convox rack params`: every catalog parameter that exists at
/// `rack_version`, sorted by key, with defaults; filtered by `group` (an unknown group is an
/// error naming the known ones); sensitive non-empty values masked unless `reveal`.
/// Install-only parameters show whatever `params` carries for them (the binary puts the
/// rack's identity columns there), else nothing.
pub fn list(
    params: &Params,
    rack_version: &Version,
    group: Option<&str>,
    reveal: bool,
) -> Result<Vec<Listed>, ParamError> {
    if let Some(g) = group {
        if !groups().contains(&g) {
            return Err(ParamError::BadValue {
                key: "group".to_string(),
                value: g.to_string(),
                expected: format!("one of {}", groups().join(", ")),
            });
        }
    }
    let mut out: Vec<Listed> = CATALOG
        .iter()
        .filter(|d| group.is_none_or(|g| d.group == g))
        .filter(|d| *rack_version >= d.since_version())
        .map(|d| {
            let stored = params.values.get(d.name);
            let value = stored.cloned().unwrap_or_else(|| d.default.to_string());
            let masked = d.sensitive && !reveal && !value.is_empty();
            Listed {
                key: d.name.to_string(),
                value: if masked { MASK.to_string() } else { value },
                group: d.group.to_string(),
                set: stored.is_some(),
                masked,
            }
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(out)
}

impl fmt::Display for Listed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}  {}", self.key, printable(&self.value))
    }
}

/// Renders a listing as the two-column `key  value` text, keys padded to one width.
pub fn render_listing(rows: &[Listed]) -> String {
    let width = rows.iter().map(|r| r.key.len()).max().unwrap_or(0);
    let mut s = String::new();
    for r in rows {
        s.push_str(&format!(
            "{:<width$}  {}\n",
            r.key,
            printable(&r.value),
            width = width
        ));
    }
    s
}

#[cfg(test)]
mod tests;
