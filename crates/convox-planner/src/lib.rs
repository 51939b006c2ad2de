//! # convox-planner
//!
//! Pure: turns what a rack's parameters ask for ([`Desired`]) and what the cluster looks like
//! ([`Observed`]) into an ordered [`Plan`] of steps, plus the [`Drift`] a user should see.
//! No I/O, no clock, no AWS types: the AWS adapter (`convox-aws`) fills [`Observed`] and
//! executes [`Step`]s; convox-engine's reconciler loops observe → plan → apply → re-observe
//! until the plan is empty (the `kube-runtime` reconcile shape). [`Arn`] and [`Partition`]
//! are the product side's one ARN/partition helper (region → `aws`, `aws-cn`, `aws-us-gov`,
//! `aws-iso`, `aws-iso-b`, `aws-iso-e`, `aws-iso-f`).
//!
//! The seed's Karpenter table is the acceptance table of [`desired`]:
//!
//! | karpenter_auth_mode | eks_access_entries | mode switch | Karpenter node entry | caller entry | nodes entry |
//! |---|---|---|---|---|---|
//! | false | false | No  | No  | No  | No  |
//! | true  | false | Yes | Yes | No  | No  |
//! | false | true  | Yes | No  | Yes | Yes |
//! | true  | true  | Yes | Yes | Yes | Yes |
//!
//! Safety rules the planner enforces (and tests):
//! - the auth mode only ever moves CONFIG_MAP → API_AND_CONFIG_MAP; API or API_AND_CONFIG_MAP
//!   are left alone; nothing ever plans API.
//! - a plan never deletes or alters an entry the rack did not create (tag `convox:rack`);
//!   an existing entry of the wrong type for a principal we need is a [`Conflict`], not a fix.
//! - entries are planned only once the mode includes API (the switch and its wait come first).

mod arn;

pub use arn::{partition_for_region, Arn, Partition};
use serde::{Deserialize, Serialize};

/// Tag key carried by every access entry this tool creates; value is the rack name.
pub const RACK_TAG: &str = "convox:rack";
/// Tag key naming which desired entry the access entry fulfils (`caller`, `nodes`, `karpenter-nodes`).
pub const ROLE_TAG: &str = "convox:entry";
/// The cluster-admin access policy name (ARN is partition-qualified, see [`policy_arn`]).
pub const CLUSTER_ADMIN_POLICY: &str = "AmazonEKSClusterAdminPolicy";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuthMode {
    ConfigMap,
    ApiAndConfigMap,
    Api,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::ConfigMap => "CONFIG_MAP",
            AuthMode::ApiAndConfigMap => "API_AND_CONFIG_MAP",
            AuthMode::Api => "API",
        }
    }
    pub fn parse(s: &str) -> Option<AuthMode> {
        match s {
            "CONFIG_MAP" => Some(AuthMode::ConfigMap),
            "API_AND_CONFIG_MAP" => Some(AuthMode::ApiAndConfigMap),
            "API" => Some(AuthMode::Api),
            _ => None,
        }
    }
    /// Whether access entries exist (and can be listed/created) in this mode.
    pub fn includes_api(self) -> bool {
        !matches!(self, AuthMode::ConfigMap)
    }
}

/// Which of the rack's needs an entry fulfils.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryRole {
    /// The identity managing the rack (STANDARD + cluster admin).
    Caller,
    /// The rack's nodes role (EC2_LINUX).
    Nodes,
    /// The Karpenter nodes role (EC2_LINUX), from `karpenter_auth_mode`.
    KarpenterNodes,
}

impl EntryRole {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryRole::Caller => "caller",
            EntryRole::Nodes => "nodes",
            EntryRole::KarpenterNodes => "karpenter-nodes",
        }
    }
}

/// Access scope of a policy association.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Scope {
    Cluster,
    Namespace { namespaces: Vec<String> },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyAssociation {
    pub policy_arn: String,
    pub scope: Scope,
}

/// One access entry the parameters require.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredEntry {
    pub role: EntryRole,
    /// IAM role ARN (path included) — never an STS assumed-role ARN.
    pub principal_arn: String,
    /// `STANDARD`, `EC2_LINUX`, …
    pub entry_type: String,
    pub policies: Vec<PolicyAssociation>,
}

/// What the rack's parameters require of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    /// The rack the entries are for: entries carrying [`RACK_TAG`] with this value are ours.
    pub rack: String,
    /// Whether the auth mode must include API (then: at least API_AND_CONFIG_MAP).
    pub api_mode: bool,
    pub entries: Vec<DesiredEntry>,
    /// What the parameters call for that the rack lacks a fact for (a Karpenter node entry
    /// without a Karpenter nodes role): never silently skipped, always a [`Conflict`].
    #[serde(default)]
    pub unmet: Vec<Conflict>,
}

/// Inputs of [`desired`] that are not parameters: the rack's identity in AWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RackIdentity {
    pub rack: String,
    /// `aws`, `aws-cn`, `aws-us-gov`, `aws-iso`, … ([`Partition`]).
    pub partition: String,
    /// IAM role (or user) ARN of the caller, resolved from the STS identity.
    pub caller_principal_arn: String,
    pub nodes_role_arn: String,
    pub karpenter_nodes_role_arn: Option<String>,
}

/// One access entry as observed on the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedEntry {
    pub principal_arn: String,
    pub entry_type: String,
    pub tags: std::collections::BTreeMap<String, String>,
    /// `None` when not fetched (only STANDARD entries have policies).
    pub policies: Option<Vec<PolicyAssociation>>,
    /// The entry's `kubernetesGroups` (what `rack auth` compares with aws-auth's groups).
    #[serde(default)]
    pub kubernetes_groups: Vec<String>,
    /// When EKS made it (ms since the epoch), if known: an entry older than its IAM
    /// principal no longer matches it (EKS binds an entry to the principal's id).
    #[serde(default)]
    pub created_ms: Option<i64>,
}

/// An update still running on the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingUpdate {
    pub id: String,
    pub status: String,
    /// The authentication mode it sets, if it is an auth-mode update: the mode the cluster
    /// is about to be in, whatever DescribeCluster still says.
    #[serde(default)]
    pub auth_mode: Option<AuthMode>,
}

impl PendingUpdate {
    /// Still running (not Successful, Failed or Cancelled).
    pub fn in_progress(&self) -> bool {
        !matches!(self.status.as_str(), "Successful" | "Failed" | "Cancelled")
    }
}

/// The cluster as observed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    /// `ACTIVE`, `UPDATING`, `CREATING`, …
    pub cluster_status: String,
    pub auth_mode: AuthMode,
    /// Set when an update is known to be in progress (e.g. started by a previous run).
    pub pending_update: Option<PendingUpdate>,
    /// Entries for the principals the rack cares about (and, for `rack auth`, all others).
    /// Empty when the mode excludes API (nothing can exist then).
    pub entries: Vec<ObservedEntry>,
}

impl Observed {
    /// The mode an auth-mode update in progress is moving the cluster to, if any differs
    /// from the mode read.
    pub fn pending_auth_mode(&self) -> Option<AuthMode> {
        self.pending_update
            .as_ref()
            .filter(|u| u.in_progress())
            .and_then(|u| u.auth_mode)
            .filter(|m| *m != self.auth_mode)
    }

    /// The mode every decision must be judged by: an update in progress is as good as done
    /// (modes only move forward, so its target is also the stricter of the two).
    pub fn auth_mode_to_come(&self) -> AuthMode {
        self.pending_auth_mode().unwrap_or(self.auth_mode)
    }
}

/// One step of a plan, in execution order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Wait for the cluster to be ACTIVE (an update already in progress, or creating).
    WaitClusterActive,
    /// UpdateClusterConfig accessConfig.authenticationMode = API_AND_CONFIG_MAP, then wait for
    /// the update to succeed.
    SwitchAuthMode { from: AuthMode, to: AuthMode },
    /// CreateAccessEntry (tagged with [`RACK_TAG`] and [`ROLE_TAG`]).
    CreateEntry { entry: DesiredEntry },
    /// AssociateAccessPolicy on an existing (or just created) entry.
    AssociatePolicy {
        role: EntryRole,
        principal_arn: String,
        policy: PolicyAssociation,
    },
}

/// A difference the plan will not fix by itself, because fixing it would alter or delete
/// something the rack does not own. Shown to the user; a reconcile with conflicts fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub role: EntryRole,
    pub principal_arn: String,
    /// What is wrong and what to do about it, without "rerun" (the caller says that once).
    pub message: String,
    pub kind: ConflictKind,
}

/// Where a conflict lies: in the cluster, or in the rack's own principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// An access entry the cluster has and the rack will not alter.
    Entry,
    /// One principal plays two parts that need entries of different types (e.g. the
    /// caller is the nodes role): no entry of the cluster is at fault, maybe none exists.
    Principals,
}

/// What differs between desired and observed (for `rack auth`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub conflicts: Vec<Conflict>,
    pub drift: Vec<Drift>,
}

impl Plan {
    /// No steps left to run (there may still be conflicts; see [`Plan::is_converged`]).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
    /// No steps and no conflicts: the cluster is what the parameters ask for.
    pub fn is_converged(&self) -> bool {
        self.steps.is_empty() && self.conflicts.is_empty()
    }
}

/// Partition-qualified ARN of an AWS-managed EKS access policy.
pub fn policy_arn(partition: &str, name: &str) -> String {
    format!("arn:{partition}:eks::aws:cluster-access-policy/{name}")
}

/// Whether this rack created (and so manages) the entry: it carries [`RACK_TAG`] = `rack`.
pub fn is_managed_by(entry: &ObservedEntry, rack: &str) -> bool {
    entry.tags.get(RACK_TAG).is_some_and(|v| v == rack)
}

/// Which row of the seed's Karpenter table a rack's parameters select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableRow {
    pub karpenter_auth_mode: bool,
    pub eks_access_entries: bool,
    pub auth_mode_switch: bool,
    pub karpenter_node_entry: bool,
    pub caller_entry: bool,
    pub nodes_entry: bool,
}

impl TableRow {
    /// The row as the seed prints it (`| true | false | Yes | Yes | No | No |`).
    pub fn render(&self) -> String {
        let b = |x: bool| if x { "true" } else { "false" };
        let y = |x: bool| if x { "Yes" } else { "No" };
        format!(
            "| {} | {} | {} | {} | {} | {} |",
            b(self.karpenter_auth_mode),
            b(self.eks_access_entries),
            y(self.auth_mode_switch),
            y(self.karpenter_node_entry),
            y(self.caller_entry),
            y(self.nodes_entry)
        )
    }
}

/// The seed's Karpenter table row for these parameters.
pub fn table_row(params: &convox_params::Params) -> TableRow {
    let k = params.flag(convox_params::KARPENTER_AUTH_MODE);
    let e = params.flag(convox_params::EKS_ACCESS_ENTRIES);
    TableRow {
        karpenter_auth_mode: k,
        eks_access_entries: e,
        auth_mode_switch: k || e,
        karpenter_node_entry: k,
        caller_entry: e,
        nodes_entry: e,
    }
}

/// What the parameters require (the seed's Karpenter table).
///
/// A Karpenter node entry the rack has no Karpenter nodes role for is [`Desired::unmet`]:
/// a conflict, never a silently skipped row.
/// Entries come in the order caller, nodes, Karpenter nodes, so the identity running the
/// rack gets its access first.
pub fn desired(params: &convox_params::Params, id: &RackIdentity) -> Desired {
    let row = table_row(params);
    let mut entries = Vec::new();
    if row.caller_entry {
        entries.push(DesiredEntry {
            role: EntryRole::Caller,
            principal_arn: id.caller_principal_arn.clone(),
            entry_type: "STANDARD".to_string(),
            policies: vec![PolicyAssociation {
                policy_arn: policy_arn(&id.partition, CLUSTER_ADMIN_POLICY),
                scope: Scope::Cluster,
            }],
        });
    }
    // An empty nodes role (a rack recorded without one) cannot be an entry principal.
    if row.nodes_entry && !id.nodes_role_arn.is_empty() {
        entries.push(DesiredEntry {
            role: EntryRole::Nodes,
            principal_arn: id.nodes_role_arn.clone(),
            entry_type: "EC2_LINUX".to_string(),
            policies: Vec::new(),
        });
    }
    let mut unmet = Vec::new();
    if row.karpenter_node_entry {
        match id
            .karpenter_nodes_role_arn
            .as_ref()
            .filter(|a| !a.is_empty())
        {
            Some(arn) => entries.push(DesiredEntry {
                role: EntryRole::KarpenterNodes,
                principal_arn: arn.clone(),
                entry_type: "EC2_LINUX".to_string(),
                policies: Vec::new(),
            }),
            None => unmet.push(Conflict {
                role: EntryRole::KarpenterNodes,
                principal_arn: String::new(),
                message: no_karpenter_role(&id.rack),
                // A fact the rack lacks about its own principals, not an entry at fault.
                kind: ConflictKind::Principals,
            }),
        }
    }
    Desired {
        rack: id.rack.clone(),
        api_mode: row.auth_mode_switch,
        entries,
        unmet,
    }
}

/// Why `karpenter_auth_mode=true` cannot be met by a rack without a Karpenter nodes role,
/// and what to do (the role is fixed at install).
pub fn no_karpenter_role(rack: &str) -> String {
    format!(
        "karpenter_auth_mode=true needs an access entry for the Karpenter nodes role, but rack {rack} has no Karpenter nodes role (it is set at install only): `convox rack uninstall {rack}` (an aws rack's cluster and entries are left as they are) and install it again with --karpenter-nodes-role-arn ARN"
    )
}

impl EntryRole {
    /// Plain words for messages.
    pub fn describe(self) -> &'static str {
        match self {
            EntryRole::Caller => "caller role",
            EntryRole::Nodes => "nodes role",
            EntryRole::KarpenterNodes => "Karpenter nodes role",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Cluster => write!(f, "cluster scope"),
            Scope::Namespace { namespaces } => {
                write!(f, "namespace scope ({})", namespaces.join(", "))
            }
        }
    }
}

/// The short name of a policy ARN (`…/AmazonEKSClusterAdminPolicy` → `AmazonEKSClusterAdminPolicy`).
pub fn policy_name(policy_arn: &str) -> &str {
    policy_arn.rsplit('/').next().unwrap_or(policy_arn)
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::WaitClusterActive => write!(f, "wait for the cluster to be ACTIVE"),
            Step::SwitchAuthMode { from, to } => write!(
                f,
                "switch authentication mode {} -> {} and wait for the update",
                from.as_str(),
                to.as_str()
            ),
            Step::CreateEntry { entry } => write!(
                f,
                "create {} access entry for the {} {}",
                entry.entry_type,
                entry.role.describe(),
                entry.principal_arn
            ),
            Step::AssociatePolicy {
                role,
                principal_arn,
                policy,
            } => write!(
                f,
                "associate {} at {} with the {} {}",
                policy_name(&policy.policy_arn),
                policy.scope,
                role.describe(),
                principal_arn
            ),
        }
    }
}

fn same_scope(a: &Scope, b: &Scope) -> bool {
    match (a, b) {
        (Scope::Cluster, Scope::Cluster) => true,
        (Scope::Namespace { namespaces: x }, Scope::Namespace { namespaces: y }) => {
            // Order of namespaces carries no meaning.
            let mut x = x.clone();
            let mut y = y.clone();
            x.sort();
            x.dedup();
            y.sort();
            y.dedup();
            x == y
        }
        _ => false,
    }
}

/// Cluster statuses a wait can never get out of: reported as drift (the wait will fail).
const DEAD_STATUSES: &[&str] = &["DELETING", "FAILED"];

/// The ordered plan from desired + observed.
///
/// - Nothing desired → an empty plan, whatever the cluster looks like (we touch nothing).
/// - Cluster not `ACTIVE` or an update pending → [`Step::WaitClusterActive`] first (only
///   when there is something to do). The rest of such a plan is a preview: the executor
///   must re-observe after the wait (a pending update may be the very mode switch planned
///   next) and replan.
/// - An auth-mode update in progress counts as done ([`Observed::auth_mode_to_come`]): a
///   switch already under way is waited for, never planned again, and reported as drift.
/// - Mode `CONFIG_MAP` and API needed → [`Step::SwitchAuthMode`] to `API_AND_CONFIG_MAP`,
///   then creation of every desired entry (none can exist yet). The executor must re-observe
///   after the switch and replan: EKS itself may have created node entries meanwhile.
/// - Mode `API_AND_CONFIG_MAP` / `API`: never a switch. Per desired entry: absent → create
///   then associate its policies; right type → associate only missing policies (a
///   STANDARD entry observed with `policies: None` counts as having none; associating is
///   idempotent); a desired policy present at another scope → re-associate if the entry is
///   ours (tagged [`RACK_TAG`] = rack), else a [`Conflict`]; wrong type → a [`Conflict`].
/// - Never a delete, never `API`, never a downgrade. Conflicting entries get no steps; the
///   other entries still do, so a caller may apply them and then report the conflicts.
pub fn plan(desired: &Desired, observed: &Observed) -> Plan {
    let mut out = Plan::default();
    if !desired.api_mode && desired.entries.is_empty() {
        return out;
    }
    let mut steps = Vec::new();
    for u in &desired.unmet {
        out.drift.push(Drift {
            what: u.message.clone(),
        });
        out.conflicts.push(u.clone());
    }

    let wanted = one_per_principal(desired, &mut out);

    pending_drift(observed, &mut out);
    if !observed.auth_mode.includes_api() && observed.auth_mode_to_come().includes_api() {
        // The switch is already under way (another run's, or someone else's): wait for it
        // (the plan starts with WaitClusterActive below) rather than start another. No entry
        // can exist yet.
        for w in &wanted {
            plan_absent(w, &mut steps, &mut out.drift);
        }
    } else if !observed.auth_mode.includes_api() {
        out.drift.push(Drift {
            what: format!(
                "authentication mode is {}; the parameters need {}",
                observed.auth_mode.as_str(),
                AuthMode::ApiAndConfigMap.as_str()
            ),
        });
        steps.push(Step::SwitchAuthMode {
            from: observed.auth_mode,
            to: AuthMode::ApiAndConfigMap,
        });
        // No entry can exist in CONFIG_MAP mode, whatever was observed.
        for w in &wanted {
            plan_absent(w, &mut steps, &mut out.drift);
        }
    } else {
        for w in &wanted {
            let found = observed
                .entries
                .iter()
                .find(|o| o.principal_arn == w.principal_arn);
            match found {
                None => plan_absent(w, &mut steps, &mut out.drift),
                Some(o) if !o.entry_type.eq_ignore_ascii_case(&w.entry_type) => {
                    let whose = if is_managed_by(o, &desired.rack) {
                        "was created by this rack with another type"
                    } else {
                        "was not created by this rack"
                    };
                    let message = format!(
                        "access entry for the {} {} has type {} but the rack needs {}; it {whose}, and fixing it would mean deleting it, which convox never does: delete it yourself (aws eks delete-access-entry)",
                        w.role.describe(),
                        w.principal_arn,
                        o.entry_type,
                        w.entry_type
                    );
                    push_conflict(&mut out, w, message, ConflictKind::Entry);
                }
                Some(o) => plan_policies(desired, w, o, &mut steps, &mut out),
            }
        }
    }

    wait_first(observed, &mut steps, &mut out);
    out.steps = steps;
    out
}

/// Desired entries, one per principal: a principal wanted twice with different types can
/// never be satisfied (one entry per principal), which is a conflict of the parameters.
fn one_per_principal(desired: &Desired, out: &mut Plan) -> Vec<DesiredEntry> {
    let mut wanted: Vec<DesiredEntry> = Vec::new();
    for e in &desired.entries {
        match wanted
            .iter_mut()
            .find(|w| w.principal_arn == e.principal_arn)
        {
            None => wanted.push(e.clone()),
            Some(w) if w.entry_type.eq_ignore_ascii_case(&e.entry_type) => {
                for p in &e.policies {
                    if !w.policies.contains(p) {
                        w.policies.push(p.clone());
                    }
                }
            }
            Some(w) => {
                // The caller is whoever runs convox; the node roles are fixed at install.
                let fix = match (w.role, e.role) {
                    (EntryRole::Caller, other) | (other, EntryRole::Caller) => format!(
                        ": run convox as another identity than the {}",
                        other.describe()
                    ),
                    _ => String::new(),
                };
                let message = format!(
                    "{} is both the {} ({}) and the {} ({}), and one principal can have only one access entry{fix}",
                    e.principal_arn,
                    w.role.describe(),
                    w.entry_type,
                    e.role.describe(),
                    e.entry_type
                );
                push_conflict(out, e, message, ConflictKind::Principals);
            }
        }
    }
    wanted
}

/// An auth-mode update in progress is drift: the cluster is changing under the rack.
fn pending_drift(observed: &Observed, out: &mut Plan) {
    if let (Some(to), Some(u)) = (observed.pending_auth_mode(), &observed.pending_update) {
        out.drift.push(Drift {
            what: format!(
                "authentication mode is {}, changing to {} (update {} in progress)",
                observed.auth_mode.as_str(),
                to.as_str(),
                u.id
            ),
        });
    }
}

/// Work to do on a cluster that is not ACTIVE (or has an update running) starts with waiting.
fn wait_first(observed: &Observed, steps: &mut Vec<Step>, out: &mut Plan) {
    if !steps.is_empty() {
        let pending = observed
            .pending_update
            .as_ref()
            .is_some_and(PendingUpdate::in_progress);
        if observed.cluster_status != "ACTIVE" || pending {
            if DEAD_STATUSES.contains(&observed.cluster_status.as_str()) {
                out.drift.push(Drift {
                    what: format!(
                        "cluster is {}; it will not become ACTIVE",
                        observed.cluster_status
                    ),
                });
            }
            steps.insert(0, Step::WaitClusterActive);
        }
    }
}

/// A difference convox will not fix: reported as drift and as a conflict, with one message.
fn push_conflict(out: &mut Plan, w: &DesiredEntry, message: String, kind: ConflictKind) {
    out.drift.push(Drift {
        what: message.clone(),
    });
    out.conflicts.push(Conflict {
        role: w.role,
        principal_arn: w.principal_arn.clone(),
        message,
        kind,
    });
}

fn plan_absent(w: &DesiredEntry, steps: &mut Vec<Step>, drift: &mut Vec<Drift>) {
    drift.push(Drift {
        what: format!(
            "no access entry for the {} {} ({})",
            w.role.describe(),
            w.principal_arn,
            w.entry_type
        ),
    });
    steps.push(Step::CreateEntry { entry: w.clone() });
    for p in &w.policies {
        steps.push(Step::AssociatePolicy {
            role: w.role,
            principal_arn: w.principal_arn.clone(),
            policy: p.clone(),
        });
    }
}

fn plan_policies(
    desired: &Desired,
    w: &DesiredEntry,
    o: &ObservedEntry,
    steps: &mut Vec<Step>,
    out: &mut Plan,
) {
    let have: &[PolicyAssociation] = o.policies.as_deref().unwrap_or(&[]);
    for p in &w.policies {
        let same_arn: Vec<&PolicyAssociation> = have
            .iter()
            .filter(|h| h.policy_arn == p.policy_arn)
            .collect();
        if same_arn.iter().any(|h| same_scope(&h.scope, &p.scope)) {
            continue;
        }
        let associate = Step::AssociatePolicy {
            role: w.role,
            principal_arn: w.principal_arn.clone(),
            policy: p.clone(),
        };
        match same_arn.first() {
            None => {
                out.drift.push(Drift {
                    what: format!(
                        "access entry for the {} {} lacks {} at {}",
                        w.role.describe(),
                        w.principal_arn,
                        policy_name(&p.policy_arn),
                        p.scope
                    ),
                });
                steps.push(associate);
            }
            Some(h) if is_managed_by(o, &desired.rack) => {
                out.drift.push(Drift {
                    what: format!(
                        "access entry for the {} {} has {} at {} instead of {}",
                        w.role.describe(),
                        w.principal_arn,
                        policy_name(&p.policy_arn),
                        h.scope,
                        p.scope
                    ),
                });
                steps.push(associate);
            }
            Some(h) => {
                let message = format!(
                    "access entry for the {} {} has {} at {} but the rack needs {}; the entry was not created by this rack, so convox leaves it alone: associate the policy at {} yourself (aws eks associate-access-policy)",
                    w.role.describe(),
                    w.principal_arn,
                    policy_name(&p.policy_arn),
                    h.scope,
                    p.scope,
                    p.scope
                );
                push_conflict(out, w, message, ConflictKind::Entry);
            }
        }
    }
}

/// The seed's downgrade table, as far as the cluster shows it. A downgrade to a version
/// without `eks_access_entries` (or `karpenter_auth_mode`) leaves their access entries in AWS,
/// unmanaged: nothing restores one that is removed. Whether that can lock anyone out depends
/// on the fallback left, which is the `aws-auth` ConfigMap, and only the mode says whether it
/// still counts; whether it still exists is a Kubernetes fact the AWS API cannot show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DowngradeSafety {
    /// `CONFIG_MAP`: the parameters never took effect; no entry exists to lose.
    Safe,
    /// `API_AND_CONFIG_MAP`: safe while `aws-auth` is kept (the seed's "Yes" row); risky if
    /// it was deleted (the "Risky" row), which only the user can know.
    SafeWhileAwsAuthKept,
    /// `API`: `aws-auth` is ignored, so losing an unmanaged entry loses the cluster.
    NotSafe,
}

/// [`downgrade_safety`] of the mode the cluster is in or about to be in: a downgrade judged
/// on a cluster in mid-update is judged by where the update goes.
pub fn downgrade_safety_of(observed: &Observed) -> DowngradeSafety {
    downgrade_safety(observed.auth_mode_to_come())
}

pub fn downgrade_safety(mode: AuthMode) -> DowngradeSafety {
    match mode {
        AuthMode::ConfigMap => DowngradeSafety::Safe,
        AuthMode::ApiAndConfigMap => DowngradeSafety::SafeWhileAwsAuthKept,
        AuthMode::Api => DowngradeSafety::NotSafe,
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_matrix;
#[cfg(test)]
mod tests_pending;
