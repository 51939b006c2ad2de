//! Errors of the AWS adapter: one clear line each, saying what to do.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// One failed API call, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    /// `eks:DescribeCluster`, …
    pub op: String,
    pub kind: CallErrorKind,
    /// AWS error code, when the service answered.
    pub code: Option<String>,
    pub message: String,
    /// The SDK's typed error of the operation, when the service answered with one it models
    /// (see [`CallError::service`]).
    pub service: Option<ServiceError>,
}

/// An operation's modelled error as the SDK generated it (`CreateAccessEntryError`, …),
/// kept so that callers match the SDK's error kinds instead of code strings.
#[derive(Clone)]
pub struct ServiceError(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl std::fmt::Debug for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Two call errors are the same failure whatever the SDK value behind them (compared by
/// operation, kind, code and message).
impl PartialEq for ServiceError {
    fn eq(&self, _: &ServiceError) -> bool {
        true
    }
}

impl Eq for ServiceError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallErrorKind {
    /// The service answered with an error code.
    Service,
    /// No credentials, or credentials the service refuses (expired, unknown, bad signature).
    Credentials,
    /// Could not connect.
    Unreachable,
    /// Connected, but no answer within the time allowed (a hung endpoint).
    TimedOut,
    /// An answer without an AWS error code or message (a bare 404 from a web server):
    /// not an AWS API endpoint.
    NotAws,
    /// Anything else (malformed response, construction failure).
    Other,
}

impl CallError {
    /// The operation's modelled error, typed: `e.service::<CreateAccessEntryError>()
    /// .is_some_and(|s| s.is_resource_in_use_exception())`. `None` when the service did not
    /// answer, or answered with an error the operation's model does not list.
    pub fn service<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.service.as_ref()?.0.downcast_ref::<E>()
    }

    /// The AWS error code as a string: for codes the SDK does not model for the operation
    /// (and codes shared by every operation: throttling, not found).
    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
    pub fn is_not_found(&self) -> bool {
        self.code_is("ResourceNotFoundException") || self.code_is("NoSuchEntity")
    }
    /// Throttling or a server-side failure: the same call may well succeed later. The SDK has
    /// already retried it; waits (idempotent polls while an update runs) keep polling.
    pub fn is_transient(&self) -> bool {
        self.kind == CallErrorKind::Service
            && self
                .code
                .as_deref()
                .is_some_and(|c| TRANSIENT_CODES.contains(&c))
    }
    /// AWS asked us to slow down (not a server failure).
    pub fn is_throttling(&self) -> bool {
        self.kind == CallErrorKind::Service
            && self.code.as_deref().is_some_and(|c| {
                matches!(
                    c,
                    "ThrottlingException"
                        | "Throttling"
                        | "TooManyRequestsException"
                        | "RequestLimitExceeded"
                )
            })
    }
    /// `CODE: message`, or just the message.
    pub fn describe(&self) -> String {
        match &self.code {
            Some(c) => format!("{c}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

/// Error codes of throttling and server-side failures (EKS rest-json and STS/IAM query).
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServerException",
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "ServiceFailure",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

const CREDENTIAL_CODES: &[&str] = &[
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
    "MissingAuthenticationTokenException",
    "IncompleteSignature",
    "RequestExpired",
];

pub(crate) fn chain_text(e: &(dyn std::error::Error + 'static)) -> (String, bool) {
    let mut parts = Vec::new();
    let mut creds = false;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err
            .downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            creds = true;
        }
        let s = err.to_string();
        if !parts.contains(&s) {
            parts.push(s);
        }
        cur = err.source();
    }
    (parts.join(": "), creds)
}

/// Classifies an SDK error of operation `op`.
pub(crate) fn classify<E>(op: &str, err: SdkError<E, HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut out = describe_failure(op.to_string(), &err);
    if let (Some(_), SdkError::ServiceError(se)) = (&out.code, err) {
        // The operation's own error, typed, for the callers to match (`CallError::service`).
        out.service = Some(ServiceError(std::sync::Arc::new(se.into_err())));
    }
    out
}

fn describe_failure<E>(op: String, err: &SdkError<E, HttpResponse>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match err {
        SdkError::ServiceError(se) if se.err().code().is_none() && se.err().message().is_none() => {
            // Neither code nor message: whatever answered is not speaking AWS's protocol.
            let status = se.raw().status();
            CallError {
                op,
                kind: CallErrorKind::NotAws,
                code: None,
                message: format!(
                    "HTTP {} without an AWS error code or message",
                    status.as_u16()
                ),
                service: None,
            }
        }
        SdkError::ServiceError(se) => {
            let e = se.err();
            let code = e.code().map(str::to_string);
            let message = e
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| "no message".to_string());
            let kind = if code
                .as_deref()
                .is_some_and(|c| CREDENTIAL_CODES.contains(&c))
            {
                CallErrorKind::Credentials
            } else {
                CallErrorKind::Service
            };
            CallError {
                op,
                kind,
                code,
                message,
                service: None,
            }
        }
        SdkError::TimeoutError(_) => CallError {
            op,
            kind: CallErrorKind::TimedOut,
            code: None,
            message: chain_text(err).0,
            service: None,
        },
        // An attempt that timed out once connected (no byte of an answer in time).
        SdkError::DispatchFailure(df) if df.is_timeout() && !chain_text(err).1 => CallError {
            op,
            kind: CallErrorKind::TimedOut,
            code: None,
            message: chain_text(err).0,
            service: None,
        },
        SdkError::DispatchFailure(df) => {
            let (text, creds) = chain_text(err);
            let kind = if creds || text.contains("credentials") {
                CallErrorKind::Credentials
            } else if df.is_io() || df.is_timeout() || df.is_other() {
                CallErrorKind::Unreachable
            } else {
                CallErrorKind::Other
            };
            CallError {
                op,
                kind,
                code: None,
                message: text,
                service: None,
            }
        }
        _ => {
            let (text, creds) = chain_text(err);
            CallError {
                op,
                kind: if creds {
                    CallErrorKind::Credentials
                } else {
                    CallErrorKind::Other
                },
                code: None,
                message: text,
                service: None,
            }
        }
    }
}

/// Errors of the adapter as the binary shows them.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("cannot reach {endpoint} ({op}: {detail}); {hint}")]
    Unreachable {
        endpoint: String,
        op: String,
        detail: String,
        /// What to check, for this kind of target.
        hint: String,
    },
    /// `summary` says what is wrong with the credentials and what to do (see
    /// [`credentials_summary`]); `detail` keeps the raw cause for logs.
    #[error("{endpoint} did not answer {op} within {waited}; {hint}, then retry")]
    NoAnswer {
        endpoint: String,
        op: String,
        /// How long was allowed (`60 s`), or `the time allowed`.
        waited: String,
        hint: String,
    },
    #[error("{endpoint} answered {op} with {detail}: it is not an AWS API endpoint; {hint}")]
    NotAws {
        endpoint: String,
        op: String,
        detail: String,
        hint: String,
    },
    #[error("{summary}")]
    Credentials {
        op: String,
        detail: String,
        summary: String,
    },
    #[error("cluster {cluster} not found in {region}; check the rack's cluster name and region")]
    ClusterNotFound { cluster: String, region: String },
    #[error("{}", unsupported_principal_text(arn))]
    UnsupportedPrincipal { arn: String },
    // `cluster` is "-" for calls about no cluster (STS, IAM): then it is not named.
    #[error("{op} failed{}{}: {detail}", Some(cluster.as_str()).filter(|c| *c != "-").map(|c| format!(" on cluster {c}")).unwrap_or_default(), principal.as_deref().map(|p| format!(" for {p}")).unwrap_or_default())]
    Api {
        op: String,
        cluster: String,
        principal: Option<String>,
        detail: String,
    },
    #[error("auth mode update {update_id} on cluster {cluster} ended {status}: {errors}; EKS did not switch the mode (aws-auth still grants access): fix the cause, then rerun the command")]
    UpdateFailed {
        cluster: String,
        update_id: String,
        status: String,
        errors: String,
    },
    #[error("timed out after {secs}s waiting for {what} on cluster {cluster}; rerun the command to continue")]
    Deadline {
        cluster: String,
        what: String,
        secs: u64,
    },
    #[error("a cluster named {cluster} already exists and was not made by a local rack of that name; choose another rack name, or adopt the cluster with `convox rack install aws NAME --cluster {cluster} --region REGION --nodes-role-arn ARN`")]
    ClusterTaken { cluster: String },
    #[error("cluster {cluster} is {status}; it cannot become ACTIVE by waiting")]
    ClusterBroken { cluster: String, status: String },
    // The AWS CLI's own words first, so that a search for them finds the cause.
    #[error("The config profile ({profile}) could not be found: AWS profile `{profile}` is not defined in the AWS config files (AWS_CONFIG_FILE, ~/.aws/config) or the credentials file (AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials); check the profile name (`aws configure list-profiles` lists them)")]
    ProfileNotFound { profile: String },
    #[error("cannot read the AWS config files for profile `{profile}` ({detail}); fix them (`aws configure list-profiles` reads the same files) and retry")]
    ProfileFiles { profile: String, detail: String },
}

/// Why an identity cannot be an access-entry principal, and what to use instead.
fn unsupported_principal_text(arn: &str) -> String {
    format!(
        "the AWS identity {arn} is {}; {RUN_AS}",
        why_not_a_principal(arn)
    )
}

/// What to do instead of acting as an identity that cannot have an access entry.
pub const RUN_AS: &str = "run convox as an IAM role (an SSO or assumed-role session, e.g. AWS_PROFILE=<role profile>) or an IAM user";

/// What the identity `arn` is, and that it cannot be an EKS access entry principal (EKS
/// takes IAM roles and users only), e.g. "the account's root user, which cannot be …".
pub fn why_not_a_principal(arn: &str) -> String {
    let what = if arn.ends_with(":root") {
        "the account's root user"
    } else if arn.contains(":federated-user/") {
        "a federated user (GetFederationToken)"
    } else {
        "not an IAM role or user"
    };
    format!("{what}, which cannot be an EKS access entry principal")
}

/// What the adapter knows about where its calls go, for error messages.
#[derive(Debug, Clone, Default)]
pub struct ErrorContext {
    /// The endpoint as the user knows it (URL, or `AWS (region)`).
    pub endpoint: String,
    /// The AWS profile the rack uses, if any.
    pub profile: Option<String>,
    /// An explicit endpoint (the simulator) rather than the AWS configuration chain.
    pub simulator: bool,
}

impl ErrorContext {
    fn not_aws_hint(&self) -> String {
        if self.simulator {
            "point CONVOX_SIM_ENDPOINT at a `convox sim serve` (the address it printed), or unset it to use the embedded simulator".to_string()
        } else {
            "check AWS_ENDPOINT_URL and any endpoint_url in the AWS config (unset them to use AWS's own endpoints)".to_string()
        }
    }

    fn unreachable_hint(&self) -> String {
        if self.simulator {
            "is the simulator running there? (start it with `convox sim serve`, or unset CONVOX_SIM_ENDPOINT to use the embedded one)".to_string()
        } else {
            "check the network, the rack's region and any AWS_ENDPOINT_URL / endpoint_url in the AWS config".to_string()
        }
    }
}

/// One line saying what is wrong with the credentials and what to do about it. The SDK's own
/// text for a failed credential chain lists every provider it tried; users need the verdict.
pub fn credentials_summary(e: &CallError, ctx: &ErrorContext) -> String {
    let profile_flag = ctx
        .profile
        .as_deref()
        .map(|p| format!(" --profile {p}"))
        .unwrap_or_default();
    let for_profile = ctx
        .profile
        .as_deref()
        .map(|p| format!(" for AWS profile `{p}`"))
        .unwrap_or_default();
    match e.code.as_deref() {
        Some("ExpiredToken" | "ExpiredTokenException" | "RequestExpired") => format!(
            "the AWS credentials{for_profile} have expired ({}: {}); refresh them (`aws sso login{profile_flag}`, or assume the role again) and retry",
            e.op,
            e.describe()
        ),
        // A request signed for a region AWS does not have: not a credentials problem.
        Some(_) if e.message.contains("valid region") => format!(
            "AWS does not know the region in use ({}: {}); check the rack's region",
            e.op,
            e.message.trim()
        ),
        Some(code) => format!(
            "AWS refused the credentials{for_profile} ({}: {code}: {}); check the access key, secret key and session token (and that they belong to this account and partition), then retry",
            e.op, e.message
        ),
        None => {
            let m = &e.message;
            if let Some(name) = undefined_profile(m) {
                format!(
                    "AWS profile `{name}` is not defined in the AWS config files (AWS_CONFIG_FILE, ~/.aws/config); check the profile name (AWS_PROFILE, or --profile at install)"
                )
            } else if m.contains("SSO token") && m.contains("expired") {
                format!(
                    "the AWS SSO session{for_profile} has expired; run `aws sso login{profile_flag}` and retry"
                )
            } else if m.contains("SSO token") {
                format!(
                    "no AWS SSO session{for_profile} (no cached SSO token); run `aws sso login{profile_flag}` and retry"
                )
            } else if m.contains("no credentials found in chain")
                || m.contains("IMDS")
                || m.contains("credential provider was not enabled")
            {
                format!(
                    "no AWS credentials found{for_profile}; configure them (`aws configure`, `aws sso login`, or AWS_PROFILE / AWS_ACCESS_KEY_ID) and retry"
                )
            } else {
                format!(
                    "cannot load the AWS credentials{for_profile} ({}: {m}); fix the AWS configuration (`aws sts get-caller-identity{profile_flag}` shows the same problem) and retry",
                    e.op
                )
            }
        }
    }
}

/// `profile `NAME` was not defined` in the SDK's chain text.
fn undefined_profile(m: &str) -> Option<&str> {
    let i = m.find("profile `")? + "profile `".len();
    let rest = &m[i..];
    let end = rest.find('`')?;
    rest[end..]
        .starts_with("` was not defined")
        .then(|| &rest[..end])
}

impl AwsError {
    /// Maps a classified call error to the user-facing error for `cluster`/`principal`.
    pub fn from_call(
        e: CallError,
        endpoint: &str,
        cluster: &str,
        principal: Option<&str>,
    ) -> AwsError {
        let ctx = ErrorContext {
            endpoint: endpoint.to_string(),
            ..ErrorContext::default()
        };
        AwsError::from_call_in(e, &ctx, cluster, principal)
    }

    /// As [`AwsError::from_call`], with what the adapter knows about the target.
    pub fn from_call_in(
        e: CallError,
        ctx: &ErrorContext,
        cluster: &str,
        principal: Option<&str>,
    ) -> AwsError {
        match e.kind {
            CallErrorKind::Unreachable => AwsError::Unreachable {
                endpoint: ctx.endpoint.clone(),
                hint: ctx.unreachable_hint(),
                op: e.op,
                detail: e.message,
            },
            CallErrorKind::TimedOut => AwsError::NoAnswer {
                endpoint: ctx.endpoint.clone(),
                hint: ctx.unreachable_hint(),
                op: e.op,
                waited: "the time allowed".into(),
            },
            CallErrorKind::NotAws => AwsError::NotAws {
                endpoint: ctx.endpoint.clone(),
                hint: ctx.not_aws_hint(),
                op: e.op,
                detail: e.message,
            },
            CallErrorKind::Credentials => AwsError::Credentials {
                summary: credentials_summary(&e, ctx),
                detail: e.describe(),
                op: e.op,
            },
            _ => AwsError::Api {
                detail: e.describe(),
                op: e.op,
                cluster: cluster.to_string(),
                principal: principal.map(str::to_string),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(code: Option<&str>, message: &str) -> CallError {
        CallError {
            op: "sts:GetCallerIdentity".into(),
            kind: CallErrorKind::Credentials,
            code: code.map(str::to_string),
            message: message.into(),
            service: None,
        }
    }

    fn ctx(profile: Option<&str>) -> ErrorContext {
        ErrorContext {
            endpoint: "AWS (us-east-1)".into(),
            profile: profile.map(str::to_string),
            simulator: false,
        }
    }

    #[test]
    fn credential_failures_say_what_to_do() {
        let cases = [
            (
                call(None, "dispatch failure: other: the credential provider was not enabled: no credentials found in chain. Attempted: Environment: ... Ec2InstanceMetadata: IMDS disabled"),
                None,
                "no AWS credentials found;",
            ),
            (
                call(None, "other: an error occurred while loading credentials: failed to load IMDS session token: service error: request forbidden"),
                None,
                "no AWS credentials found;",
            ),
            (
                call(None, "Profile: the credential provider was not enabled: profile `nosuch` was not defined: could not find source profile nosuch"),
                Some("nosuch"),
                "AWS profile `nosuch` is not defined",
            ),
            (
                call(None, "an error occurred while loading credentials: the SSO token has expired and cannot be refreshed"),
                Some("sso-admin"),
                "run `aws sso login --profile sso-admin`",
            ),
            (
                call(None, "an error occurred while loading an access token: failed to load the cached SSO token"),
                Some("sso-user"),
                "run `aws sso login --profile sso-user`",
            ),
            (
                call(Some("ExpiredToken"), "The security token included in the request is expired"),
                Some("ops"),
                "AWS credentials for AWS profile `ops` have expired",
            ),
            (
                call(Some("SignatureDoesNotMatch"), "Credential should be scoped to a valid region, not 'xx-mars-1'. "),
                None,
                "AWS does not know the region in use",
            ),
            (
                call(Some("InvalidClientTokenId"), "The security token included in the request is invalid."),
                None,
                "AWS refused the credentials",
            ),
        ];
        for (e, profile, want) in cases {
            let got = credentials_summary(&e, &ctx(profile));
            assert!(got.contains(want), "{want:?} not in {got:?}");
            assert!(!got.contains('\n'));
            // The SDK's list of every provider tried is noise for the user.
            assert!(!got.contains("Attempted"), "{got}");
        }
    }

    #[test]
    fn api_errors_name_the_cluster_only_when_there_is_one() {
        let e = |cluster: &str| {
            AwsError::Api {
                op: "iam:GetRole".into(),
                cluster: cluster.into(),
                principal: Some("arn:aws:sts::1:assumed-role/R/s".into()),
                detail: "AccessDenied: no".into(),
            }
            .to_string()
        };
        assert_eq!(
            e("-"),
            "iam:GetRole failed for arn:aws:sts::1:assumed-role/R/s: AccessDenied: no"
        );
        assert!(e("prod").starts_with("iam:GetRole failed on cluster prod for "));
    }

    #[test]
    fn unreachable_hint_depends_on_the_target() {
        let e = || CallError {
            op: "sts:GetCallerIdentity".into(),
            kind: CallErrorKind::Unreachable,
            code: None,
            message: "connection refused".into(),
            service: None,
        };
        let sim = ErrorContext {
            endpoint: "http://127.0.0.1:9".into(),
            profile: None,
            simulator: true,
        };
        let aws = ctx(None);
        let s = AwsError::from_call_in(e(), &sim, "c", None).to_string();
        assert!(s.contains("convox sim serve"), "{s}");
        let a = AwsError::from_call_in(e(), &aws, "c", None).to_string();
        assert!(!a.contains("convox sim serve"), "{a}");
        assert!(a.contains("AWS_ENDPOINT_URL"), "{a}");
    }
}
