//! # eks-sim-model
//!
//! The simulated AWS control plane's *model*: state and AWS's rules for the slices of EKS,
//! STS and IAM that EKS authentication needs. No HTTP here (that is `eks-sim-server`, the
//! wire); the only I/O is the SQLite [`store::Store`].
//!
//! Design (after moto: one module per service, model separate from wire responses):
//! - every operation is a plain function taking the [`Sim`] (store + settings), a [`Ctx`]
//!   (who calls, in which region, at what time) and typed input, returning typed output or
//!   a [`SimError`] carrying AWS's error code, message and HTTP status;
//! - all state lives in one SQLite file, changed only inside transactions, so several
//!   processes (a `convox sim serve` and CLI processes running the simulator in-process)
//!   share it safely and a half-applied change is impossible;
//! - one rule for transactions: **every operation opens its own**, through the [`Sim`] it
//!   is given — a read transaction for reads, a write transaction (`BEGIN IMMEDIATE`) for
//!   changes — so a failed operation leaves nothing behind and no operation sees another's
//!   uncommitted state. The wire never opens one for an operation. Steps that run inside
//!   a transaction the caller holds take the open `&Connection` / `&Transaction` and say so
//!   (`iam::create_role_in`, `sts::lookup_key`, `settings::load`, …): for lookups inside an
//!   operation and for seeding several things at once;
//! - time-based behaviour (cluster creation, updates, propagation) is derived from stored
//!   timestamps against `Ctx::now_ms`, so there is no background thread and every process
//!   sees the same truth.
//!
//! Rooms: [`eks`] (one module per resource, the settling clock, the schema), [`iam`],
//! [`sts`], [`settings`], [`store`]; [`arn`] is the one region → partition table (DNS
//! suffixes included) and [`dates`] the one place dates are formatted and parsed.

pub mod arn;
pub mod dates;
pub mod eks;
pub mod error;
pub mod iam;
pub mod settings;
pub mod store;
pub mod sts;

pub use error::SimError;
pub use settings::Settings;
pub use store::Store;

/// Who is calling, as resolved from the request's access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    /// As STS GetCallerIdentity reports it (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`
    /// for role sessions, `arn:aws:iam::ACCOUNT:user/PATH/NAME` for users).
    pub arn: String,
    /// The IAM principal behind it (role ARN with path for sessions; the user ARN for users).
    pub principal_arn: String,
    /// STS `UserId` (`AROA…:session` or `AIDA…`).
    pub user_id: String,
}

/// Per-request context.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub caller: Caller,
    /// Region from the SigV4 credential scope.
    pub region: String,
    /// Wall clock, milliseconds since the Unix epoch.
    pub now_ms: i64,
}

impl Ctx {
    pub fn partition(&self) -> &'static str {
        arn::partition_of(&self.region)
    }
}

/// The model: the store (settings live in it). Cheap to share across threads (`Store` pools
/// connections).
pub struct Sim {
    pub store: Store,
}

impl Sim {
    pub fn new(store: Store) -> Sim {
        Sim { store }
    }
}

/// The account a fresh state starts with.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
/// Default region (used by `convox sim env` and local racks).
pub const DEFAULT_REGION: &str = "us-east-1";
/// The documented default key pair of a fresh state. Its identity is an assumed-role session
/// of a role *with a path*, so clients meet the hard case (path recovery) first.
pub const DEFAULT_ACCESS_KEY_ID: &str = "ASIASIMULATEDCONVOX1";
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "c0nv0xSimulatorDefaultSecretKey/EXAMPLE1";
pub const DEFAULT_SESSION_TOKEN: &str = "convox-sim-default-session-token";
pub const DEFAULT_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/ops/ConvoxAdmin";
pub const DEFAULT_SESSION_NAME: &str = "convox";
/// RoleId (`AROA…`) of the default role.
pub const DEFAULT_ROLE_ID: &str = "AROASIMULATEDCONVOXAD";
/// A documented long-term key pair of the default account's *root user* (identity
/// `arn:aws:iam::123456789012:root`), so that clients can meet an identity that cannot be an
/// access-entry principal. Like every simulator key it only works against the simulator.
pub const ROOT_ACCESS_KEY_ID: &str = "AKIASIMULATEDROOT001";
pub const ROOT_SECRET_ACCESS_KEY: &str = "c0nv0xSimulatorRootUserSecretKey/EXAMPLE";
