//! # convox-aws
//!
//! Observes and changes a cluster's EKS authentication state through the official AWS SDK for
//! Rust (EKS, STS, IAM) — the one road to AWS for every rack, real or simulated. The binary
//! builds a [`Target`] (the standard AWS configuration chain for `aws` racks; an explicit
//! endpoint and static credentials for `local` racks served by the simulator) and then:
//! - [`Aws::observe`] fills a [`convox_planner::Observed`] with the fewest calls, independent
//!   calls issued concurrently (a no-op run on a converged rack: 7 calls in 3 round trips);
//! - [`Aws::apply`] executes one [`convox_planner::Step`], waiting with backoff (never fixed
//!   sleeps) for updates and propagation, and says what the loop should do next
//!   ([`AfterStep`]);
//! - every HTTP attempt is counted per operation ([`CallCounter`]).
//!
//! A no-op run on a converged rack makes 7 calls, none mutating, in 3 sequential round trips:
//! 1. `sts:GetCallerIdentity` (who is the caller?) ‖ `eks:DescribeCluster` (status, mode) ‖
//!    `eks:DescribeAccessEntry` for the nodes role ‖ for the Karpenter nodes role (both known
//!    from the rack's record, so they need not wait for anything);
//! 2. `iam:GetRole` (a role session's ARN has no path; the entry must name the role ARN with
//!    its path, as Terraform's `aws_iam_session_context` resolves it);
//! 3. `eks:DescribeAccessEntry` ‖ `eks:ListAssociatedAccessPolicies` for that caller role.
//!
//! A cluster that is not ACTIVE also gets ListUpdates and DescribeUpdate (the update in
//! progress and the authentication mode it sets: [`convox_planner::PendingUpdate`]), so
//! nothing judges a mode about to change as the mode; a converged rack never pays for it.
//! [`Aws::iam_role_arn`] proves a node role exists as IAM spells it before an entry names it
//! ([`Aws::iam_principals`] lists them all once, for `rack auth migrate`).
//!
//! On a CONFIG_MAP cluster round 3 is skipped (no entry can exist) and the describes of round
//! 1 answer InvalidRequestException, which agrees with the mode and means "none". Any other
//! describe failure is an error, never "absent" — except that the same refusal on a cluster
//! whose mode already includes API (the change still propagating, or a describe racing
//! someone else's switch) is described again with backoff up to the propagation deadline.
//!
//! One retry schedule for the whole run ([`Backoff`], convox-retry's schedule slept on tokio):
//! every call survives throttling and transient 5xx up to the run's deadline (the SDK's own
//! few attempts are off), and every wait polls on the same jittered backoff. Listings go
//! through the SDK's paginators; EKS's answers are matched by the SDK's generated types
//! (`ClusterStatus`, `UpdateStatus`, and each operation's error kinds through
//! [`CallError::service`]); step execution is `apply.rs`.
//! A fleet run shares [`RateLimits`] ([`Aws::with_rate_limits`]): every call first takes a
//! token from the adaptive bucket of its account and region (cut on throttling, grown slowly
//! on success), and a throttled call is retried when that bucket allows instead of on a
//! backoff of its own.
//!
//! Every call is bounded ([`CallTimeouts`]: 5 s to connect, 20 s per attempt, 60 s for all
//! the attempts of a call that gets no answer); a call still unanswered after 5 s is reported through
//! [`Aws::with_notices`] (which endpoint, which operation, when it gives up), and one never
//! answered fails with [`AwsError::NoAnswer`]. An answer that is not AWS's (no error code or
//! message: a web server's bare 404) is [`AwsError::NotAws`], never "no message".
//! An explicit profile's credentials win over the environment's, and a profile the AWS
//! config files do not define is refused ([`check_profile`]).

mod apply;
mod counter;
mod error;
mod install;
mod kube_api;
mod limiter;
mod migrate;
mod observe;
mod profile;
mod retry;
mod roles;
mod updates;
mod watch;

pub use counter::{is_mutating, CallCounter};
pub use error::{
    credentials_summary, why_not_a_principal, AwsError, CallError, CallErrorKind, ErrorContext,
    RUN_AS,
};
pub use install::{InstallSpec, InstalledRoles};
pub use kube_api::ClusterEndpoint;
pub use limiter::{AdaptiveBucket, LimiterConfig, RateLimits};
pub use migrate::{ClusterAccess, Created, IamPrincipal, NewEntry, POLICY_TAG};
pub use observe::Interest;
pub use profile::check_profile;
pub use retry::{Backoff, Timing};
pub use watch::CallTimeouts;

use std::sync::Arc;
use std::time::Instant;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;

/// Where the SDK clients go.
#[derive(Debug, Clone)]
pub enum Target {
    /// Real AWS through the standard configuration chain (env, profiles, SSO,
    /// `AWS_ENDPOINT_URL`, …) exactly as the AWS CLI reads it; the rack's region wins. A
    /// named profile's credentials win over the environment's (see [`check_profile`]).
    Aws {
        region: String,
        profile: Option<String>,
    },
    /// An explicit endpoint (the simulator) with static credentials.
    Endpoint {
        url: String,
        region: String,
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
    },
}

impl Target {
    pub fn region(&self) -> &str {
        match self {
            Target::Aws { region, .. } | Target::Endpoint { region, .. } => region,
        }
    }
    fn endpoint_label(&self) -> String {
        match self {
            Target::Aws { region, .. } => {
                std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| format!("AWS ({region})"))
            }
            Target::Endpoint { url, .. } => url.clone(),
        }
    }
}

/// What the reconcile loop should do after a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterStep {
    /// The step is done; continue with the plan.
    Done,
    /// The world changed under us (the mode switched, EKS or someone else made an entry):
    /// observe again and replan before going on.
    ReObserve,
}

/// The identity of the credentials in use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CallerIdentity {
    pub account: String,
    /// As STS reports it (`…:assumed-role/NAME/SESSION` for role sessions).
    pub arn: String,
    /// The IAM principal an access entry must name: the role ARN with its path, or the user.
    pub principal_arn: String,
    pub partition: String,
}

/// Progress callback: a short "waiting for …" line for spinners/logs.
pub type ProgressCallback = Arc<dyn Fn(&str) + Send + Sync>;

/// SDK clients for one target plus the call counter.
#[derive(Clone)]
pub struct Aws {
    pub(crate) eks: aws_sdk_eks::Client,
    pub(crate) sts: aws_sdk_sts::Client,
    pub(crate) iam: aws_sdk_iam::Client,
    pub(crate) counter: CallCounter,
    pub(crate) timing: Timing,
    pub(crate) region: String,
    /// Where the calls go (endpoint, profile, simulator or not), as errors name it.
    pub(crate) error_ctx: ErrorContext,
    pub(crate) progress: ProgressCallback,
    /// When the clients were built: the run's deadline counts from here.
    pub(crate) started: Instant,
    /// Where "still waiting for an answer" notices go (see [`Aws::with_notices`]).
    notices: watch::Notices,
    call_timeouts: CallTimeouts,
    pub(crate) sdk: aws_types::SdkConfig,
    /// The fleet's shared rate limits and this client's scope in them (account and region).
    pub(crate) limits: Option<(RateLimits, String)>,
}

impl std::fmt::Debug for Aws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws")
            .field("region", &self.region)
            .field("endpoint", &self.error_ctx.endpoint)
            .finish()
    }
}

impl Aws {
    /// Builds the clients with the default [`CallTimeouts`]. The SDK's retries are off:
    /// every call goes through [`Aws::call`](retry), the run's one retry schedule.
    pub async fn connect(target: &Target) -> Aws {
        Aws::connect_with(target, CallTimeouts::default()).await
    }

    /// [`Aws::connect`] with explicit per-call bounds. A call unanswered after
    /// `notice_after` is reported to [`Aws::with_notices`]; one unanswered after `operation`
    /// (all its attempts) fails with [`AwsError::NoAnswer`].
    pub async fn connect_with(target: &Target, call_timeouts: CallTimeouts) -> Aws {
        let retry = RetryConfig::disabled();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(call_timeouts.connect)
            .operation_attempt_timeout(call_timeouts.attempt)
            .operation_timeout(call_timeouts.operation)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry)
            .timeout_config(timeouts)
            .region(aws_config::Region::new(target.region().to_string()));
        match target {
            Target::Aws { profile, region } => {
                if let Some(p) = profile {
                    // An explicit profile wins over environment keys, as in the AWS CLI: the
                    // default chain would read AWS_ACCESS_KEY_ID first.
                    loader = loader
                        .profile_name(p)
                        .credentials_provider(profile::credentials_for(p, region));
                }
            }
            Target::Endpoint {
                url,
                access_key_id,
                secret_access_key,
                session_token,
                ..
            } => {
                loader = loader.endpoint_url(url).credentials_provider(
                    aws_credential_types::Credentials::new(
                        access_key_id,
                        secret_access_key,
                        session_token.clone(),
                        None,
                        "convox-simulator",
                    ),
                );
            }
        }
        let shared = loader.load().await;
        // The endpoint the chain settled on (AWS_ENDPOINT_URL or a profile's endpoint_url).
        let endpoint = match (target, shared.endpoint_url()) {
            (Target::Aws { .. }, Some(url)) => url.to_string(),
            _ => target.endpoint_label(),
        };
        let counter = CallCounter::new();
        let notices = watch::Notices::default();
        let watcher = || watch::WatchInterceptor {
            endpoint: endpoint.clone(),
            timeouts: call_timeouts,
            notices: notices.clone(),
        };
        let eks = aws_sdk_eks::Client::from_conf(
            aws_sdk_eks::config::Builder::from(&shared)
                .interceptor(counter::CountingInterceptor {
                    counter: counter.clone(),
                })
                .interceptor(watcher())
                .build(),
        );
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&shared)
                .interceptor(counter::CountingInterceptor {
                    counter: counter.clone(),
                })
                .interceptor(watcher())
                .build(),
        );
        let iam = aws_sdk_iam::Client::from_conf(
            aws_sdk_iam::config::Builder::from(&shared)
                .interceptor(counter::CountingInterceptor {
                    counter: counter.clone(),
                })
                .interceptor(watcher())
                .build(),
        );
        Aws {
            eks,
            sts,
            iam,
            counter,
            timing: Timing::default(),
            region: target.region().to_string(),
            error_ctx: ErrorContext {
                endpoint,
                profile: match target {
                    Target::Aws { profile, .. } => profile.clone(),
                    Target::Endpoint { .. } => None,
                },
                simulator: matches!(target, Target::Endpoint { .. }),
            },
            progress: Arc::new(|_: &str| {}),
            started: Instant::now(),
            notices,
            call_timeouts,
            sdk: shared,
            limits: None,
        }
    }

    /// Where to say that a call is still waiting for its answer (and when it will give up):
    /// a message a person must see even when progress is quiet.
    pub fn with_notices(self, notices: ProgressCallback) -> Aws {
        self.notices.set(notices);
        self
    }

    /// Every call of this client takes a token from `limits` first, in the bucket of
    /// `scope` (name the account and region: clients with one scope share its buckets).
    pub fn with_rate_limits(mut self, limits: RateLimits, scope: &str) -> Aws {
        self.limits = Some((limits, format!("{scope} {}", self.region)));
        self
    }

    pub fn with_timing(mut self, timing: Timing) -> Aws {
        self.timing = timing;
        self
    }

    pub fn with_progress(mut self, progress: ProgressCallback) -> Aws {
        self.progress = progress;
        self
    }

    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    pub fn counter(&self) -> &CallCounter {
        &self.counter
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    pub(crate) fn err(&self, e: CallError, cluster: &str, principal: Option<&str>) -> AwsError {
        match AwsError::from_call_in(e, &self.error_ctx, cluster, principal) {
            AwsError::NoAnswer {
                endpoint, op, hint, ..
            } => AwsError::NoAnswer {
                endpoint,
                op,
                hint,
                waited: format!(
                    "{} s (the most convox waits for an answer to one call, retries included)",
                    watch::secs(self.call_timeouts.operation)
                ),
            },
            other => other,
        }
    }

    pub(crate) fn not_found(&self, cluster: &str) -> AwsError {
        AwsError::ClusterNotFound {
            cluster: cluster.to_string(),
            region: self.region.clone(),
        }
    }

    pub(crate) fn say(&self, what: &str) {
        tracing::debug!("{what}");
        (self.progress)(what);
    }

    /// STS GetCallerIdentity, resolved to the IAM principal as Terraform's
    /// `aws_iam_session_context` does: an assumed-role session becomes its role's ARN with
    /// the path recovered from IAM GetRole. Root and federated users are refused.
    pub async fn identity(&self) -> Result<CallerIdentity, AwsError> {
        let raw = self
            .sts_identity()
            .await
            .map_err(|e| self.err(e, "-", None))?;
        self.resolve_identity(raw).await
    }

    pub(crate) async fn sts_identity(&self) -> Result<(String, String), CallError> {
        let out = self
            .call("sts:GetCallerIdentity", || {
                self.sts.get_caller_identity().send()
            })
            .await?;
        Ok((
            out.arn().unwrap_or_default().to_string(),
            out.account().unwrap_or_default().to_string(),
        ))
    }

    pub(crate) async fn resolve_identity(
        &self,
        (arn, account): (String, String),
    ) -> Result<CallerIdentity, AwsError> {
        let unsupported = || AwsError::UnsupportedPrincipal { arn: arn.clone() };
        let Some(parsed) = convox_planner::Arn::parse(&arn) else {
            return Err(unsupported());
        };
        let (partition, service, acct, resource) = (
            parsed.partition,
            parsed.service,
            parsed.account,
            parsed.resource,
        );
        let account = if account.is_empty() {
            acct.to_string()
        } else {
            account
        };
        let principal_arn = match (service, resource.split_once('/')) {
            ("sts", Some(("assumed-role", rest))) => {
                let role_name = rest.split('/').next().unwrap_or_default();
                if role_name.is_empty() {
                    return Err(unsupported());
                }
                let out = self
                    .call("iam:GetRole", || {
                        self.iam.get_role().role_name(role_name).send()
                    })
                    .await
                    .map_err(|e| match e.kind {
                        CallErrorKind::Service => AwsError::Api {
                            op: e.op.clone(),
                            cluster: "-".into(),
                            principal: Some(arn.clone()),
                            detail: format!(
                                "{} (needed to recover the role's path for its access entry; allow iam:GetRole on {role_name})",
                                e.describe()
                            ),
                        },
                        _ => self.err(e, "-", Some(&arn)),
                    })?;
                match out.role() {
                    Some(r) => r.arn().to_string(),
                    None => return Err(unsupported()),
                }
            }
            ("iam", Some(("user", _))) => arn.clone(),
            ("iam", Some(("role", _))) => arn.clone(),
            _ => return Err(unsupported()),
        };
        Ok(CallerIdentity {
            account,
            arn: arn.clone(),
            principal_arn,
            partition: partition.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn offline() -> Aws {
        // Nothing listens on port 9: any call that reaches the network fails.
        Aws::connect(&Target::Endpoint {
            url: "http://127.0.0.1:9".into(),
            region: "us-east-1".into(),
            access_key_id: "AKIAEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: None,
        })
        .await
        .with_timing(Timing {
            deadline: Duration::from_millis(200),
            propagation_deadline: Duration::from_millis(200),
            ..Timing::default()
        })
    }

    #[tokio::test]
    async fn root_and_federated_users_cannot_be_principals() {
        let aws = offline().await;
        for arn in [
            "arn:aws:iam::123456789012:root",
            "arn:aws:sts::123456789012:federated-user/bob",
            "not-an-arn",
        ] {
            let e = aws
                .resolve_identity((arn.to_string(), "123456789012".into()))
                .await
                .expect_err(arn);
            assert!(
                matches!(e, AwsError::UnsupportedPrincipal { .. }),
                "{arn}: {e}"
            );
            assert!(e.to_string().contains("use") || e.to_string().contains("role"));
        }
        assert_eq!(aws.counter().total(), 0, "refused without calling AWS");
    }

    #[tokio::test]
    async fn iam_users_are_taken_as_is() {
        let aws = offline().await;
        let arn = "arn:aws-cn:iam::123456789012:user/ops/alice";
        let id = aws
            .resolve_identity((arn.to_string(), "123456789012".into()))
            .await
            .expect("user");
        assert_eq!(id.principal_arn, arn);
        assert_eq!(id.partition, "aws-cn");
        assert_eq!(aws.counter().total(), 0);
    }

    #[tokio::test]
    async fn assumed_role_needs_get_role_and_reports_unreachable() {
        let aws = offline().await;
        let e = aws
            .resolve_identity((
                "arn:aws:sts::123456789012:assumed-role/Admin/me".into(),
                "123456789012".into(),
            ))
            .await
            .expect_err("no network");
        assert!(matches!(e, AwsError::Unreachable { .. }), "{e}");
        assert!(aws.counter().snapshot().contains_key("iam:GetRole"));
    }
}
