//! What the engine refuses or fails with, as values a caller can branch on ([`EngineError`],
//! [`ErrorKind`]). Each message is the one line the binary prints after `ERROR: `.

use convox_aws::AwsError;
use convox_params::{ParamError, Version};
use convox_store::StoreError;

use crate::locked::Interrupt;

/// A refused or failed engine call. Nothing was changed unless the variant says so
/// ([`EngineError::Aws`] and [`EngineError::NotConverged`] may come after steps applied).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Refused by the parameter catalog (unknown key, bad value, one-way change, …).
    #[error(transparent)]
    Params(#[from] ParamError),
    /// The rack store failed or refused (unknown rack, locked, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An AWS call failed (after its retries) or a wait gave up.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// The run lost the rack's lock to another run (stopped for longer than the lease).
    #[error("this run was stopped longer than its lock's lease and another run took rack {rack} over; stopped without changing anything more: see `convox rack -r {rack}` for that run's result")]
    LockLost { rack: String },
    /// Bad input, caught offline before any call ([`crate::checks`]).
    #[error(transparent)]
    Input(#[from] InputError),
    /// The plan has conflicts: fixing them would alter what the rack does not own.
    #[error("{}", conflicts_text(.rack, .cluster, .principals, .entries))]
    Conflicts {
        rack: String,
        cluster: String,
        /// Why a rack principal cannot get an entry (e.g. a role in another account).
        principals: Vec<String>,
        /// Entries of the cluster the rack will not change.
        entries: Vec<String>,
    },
    /// A parameter needs a fact the rack does not have (e.g. a Karpenter nodes role).
    #[error("{message}; nothing was changed")]
    Unmet { message: String },
    /// `rack install aws … karpenter_auth_mode=true` without `--karpenter-nodes-role-arn`.
    #[error("karpenter_auth_mode=true needs an access entry for the Karpenter nodes role: pass --karpenter-nodes-role-arn ARN (the IAM role of the nodes Karpenter launches), or install without karpenter_auth_mode")]
    InstallNeedsKarpenterRole,
    /// A node role given at install that IAM does not have.
    #[error("{flag} {arn}: IAM has no role named {name} in this account (iam:GetRole); check the role's name and path (`aws iam get-role --role-name {name}` shows its ARN) and retry")]
    InstallRoleMissing {
        flag: &'static str,
        arn: String,
        name: String,
    },
    /// A node role given at install that IAM spells differently.
    #[error("{flag} {arn}: IAM has this role as {real} (access entries must name a role exactly as IAM does); use {flag} {real}")]
    InstallRoleSpelledAs {
        flag: &'static str,
        arn: String,
        real: String,
    },
    /// A recorded node role that IAM does not have (before a run's first change).
    #[error("the rack's {what} {arn} does not exist in IAM (iam:GetRole found no role named {name}), so EKS would refuse its access entry after the mode switch; nothing was changed: create the role and rerun, or {} ARN", reinstall_fix(.rack, .flag))]
    NodeRoleMissing {
        rack: String,
        what: &'static str,
        flag: &'static str,
        arn: String,
        name: String,
    },
    /// A recorded node role that IAM spells differently.
    #[error("the rack's {what} is recorded as {arn} but IAM has it as {real}, and an access entry must name it as IAM does; nothing was changed: {} {real}", reinstall_fix(.rack, .flag))]
    NodeRoleSpelledAs {
        rack: String,
        what: &'static str,
        flag: &'static str,
        arn: String,
        real: String,
    },
    /// A downgrade that would leave the rack's entries without the aws-auth fallback.
    #[error("not downgrading rack {rack} to {to}: {why}, so once {to} stops managing {keys} an access entry lost would have no fallback; restore aws-auth with the nodes role mapped, stay on {since} or later, or pass --force to accept that risk")]
    DowngradeWithoutFallback {
        rack: String,
        to: Version,
        why: String,
        keys: String,
        since: Version,
    },
    /// A downgrade of a rack whose cluster is (or is becoming) API only.
    #[error("not downgrading rack {rack} to {to}: cluster {cluster} is in API mode{mid_update}, where aws-auth is ignored, and {to} does not manage {keys}; an access entry lost after that would lock everyone out with nothing to restore it. Stay on {since} or later, or pass --force to accept that risk")]
    DowngradeInApiMode {
        rack: String,
        cluster: String,
        to: Version,
        /// Empty, or the update in progress that makes the mode API.
        mid_update: String,
        keys: String,
        since: Version,
    },
    /// `params set` piling new changes on a failed rack without `--force`.
    #[error("rack {rack} is failed ({last_error}); rerun the failed change or `convox rack update -r {rack}` to repair it, or pass --force to change parameters anyway")]
    RackFailed { rack: String, last_error: String },
    /// The reconcile loop ran past its deadline.
    #[error("cluster {cluster} did not converge within {secs}s; rerun the command to continue")]
    NotConverged { cluster: String, secs: u64 },
    /// Re-observations kept finding work without progress until the run's deadline.
    #[error("cluster {cluster} made no progress within {secs}s; rerun the command to continue")]
    NoProgress { cluster: String, secs: u64 },
    /// A signal ended the run; `recorded` says what became of its change (if one was opened).
    #[error("{}", interrupted_text(.signal, .doing, .rack, .recorded.as_deref()))]
    Interrupted {
        signal: Interrupt,
        doing: &'static str,
        rack: String,
        recorded: Option<String>,
    },
    /// A broken invariant of the engine itself.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// What kind of failure, for a caller deciding what to do next (a fleet run: go on with the
/// next rack, retry later, stop everything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input or a refusal before anything changed: fix the command or the rack.
    Refused,
    /// The store failed or refused (a rack locked by another run included).
    Store,
    /// AWS failed or a wait gave up; a rerun continues where this stopped.
    Aws,
    /// The run lost its lock or was interrupted: another run, or a person, stopped it.
    Stopped,
    /// The cluster did not converge in time; a rerun continues.
    Deadline,
    Internal,
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        use EngineError as E;
        match self {
            E::Params(_)
            | E::Input(_)
            | E::Conflicts { .. }
            | E::Unmet { .. }
            | E::InstallNeedsKarpenterRole
            | E::InstallRoleMissing { .. }
            | E::InstallRoleSpelledAs { .. }
            | E::NodeRoleMissing { .. }
            | E::NodeRoleSpelledAs { .. }
            | E::DowngradeWithoutFallback { .. }
            | E::DowngradeInApiMode { .. }
            | E::RackFailed { .. } => ErrorKind::Refused,
            E::Store(_) => ErrorKind::Store,
            E::Aws(_) => ErrorKind::Aws,
            E::LockLost { .. } | E::Interrupted { .. } => ErrorKind::Stopped,
            E::NotConverged { .. } | E::NoProgress { .. } => ErrorKind::Deadline,
            E::Internal(_) => ErrorKind::Internal,
        }
    }

    /// The signal that ended the run, if one did (the binary exits 128 + its number).
    pub fn signal(&self) -> Option<Interrupt> {
        match self {
            EngineError::Interrupted { signal, .. } => Some(*signal),
            _ => None,
        }
    }

    /// A store error of a fenced write: [`StoreError::LockLost`] means this run was fenced out.
    pub fn fenced(e: StoreError) -> EngineError {
        match e {
            StoreError::LockLost(rack) => EngineError::LockLost { rack },
            e => EngineError::Store(e),
        }
    }
}

/// Input refused offline, before any AWS call or store write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("invalid --cluster {shown}: an EKS cluster name is 1 to 100 letters, digits, hyphens and underscores, starting with a letter or digit; `aws eks list-clusters --region REGION` lists the cluster names")]
    ClusterName {
        /// `` `NAME` `` or "an empty name".
        shown: String,
    },
    #[error("invalid region `{0}`: expected an AWS region name such as us-east-1 or eu-west-1")]
    Region(String),
    #[error("invalid role ARN `{0}`: expected arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME")]
    RoleArn(String),
    #[error("role ARN `{arn}` is in partition {partition}, but region {region} is in {want}; use arn:{want}:iam::…")]
    RolePartition {
        arn: String,
        partition: String,
        region: String,
        want: &'static str,
    },
    #[error("role ARN `{arn}` is in account {role_account}, but the credentials (and so the cluster {cluster}) are in account {account}; node roles must be in the cluster's account")]
    RoleAccount {
        arn: String,
        role_account: String,
        cluster: String,
        account: String,
    },
}

fn conflicts_text(rack: &str, cluster: &str, principals: &[String], entries: &[String]) -> String {
    let mut parts = Vec::new();
    if !principals.is_empty() {
        parts.push(format!(
            "rack {rack} cannot give each of its principals an access entry: {}",
            principals.join("; ")
        ));
    }
    if !entries.is_empty() {
        parts.push(format!(
            "cluster {cluster} has access entries the rack will not change: {}",
            entries.join("; ")
        ));
    }
    format!("{}, then rerun", parts.join("; "))
}

fn reinstall_fix(rack: &str, flag: &str) -> String {
    format!(
        "a rack's node roles are set at install only, so to use another role `convox rack uninstall {rack}` (an aws rack's cluster and access entries are left as they are) and install it again with {flag}"
    )
}

fn interrupted_text(sig: &Interrupt, doing: &str, rack: &str, recorded: Option<&str>) -> String {
    match recorded {
        None => format!(
            "interrupted by {} while {doing} rack {rack}, before anything was changed; rerun the command to make the change",
            sig.name
        ),
        Some(recorded) => format!(
            "interrupted by {} while {doing} rack {rack}; {recorded}. An AWS update already started goes on by itself: rerun the command to finish the change",
            sig.name
        ),
    }
}
