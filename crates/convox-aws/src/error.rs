//! Errors of the AWS adapter: one clear line each, saying what to do.

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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallErrorKind {
    /// The service answered with an error code.
    Service,
    /// No credentials, or credentials the service refuses (expired, unknown, bad signature).
    Credentials,
    /// Could not connect / no answer.
    Unreachable,
    /// Anything else (malformed response, construction failure).
    Other,
}

impl CallError {
    pub fn code_is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
    pub fn is_not_found(&self) -> bool {
        self.code_is("ResourceNotFoundException") || self.code_is("NoSuchEntity")
    }
    /// `CODE: message`, or just the message.
    pub fn describe(&self) -> String {
        match &self.code {
            Some(c) => format!("{c}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

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

fn chain_text(e: &(dyn std::error::Error + 'static)) -> (String, bool) {
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
pub(crate) fn classify<E, R>(op: &str, err: SdkError<E, R>) -> CallError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let op = op.to_string();
    match &err {
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
            }
        }
        SdkError::DispatchFailure(df) => {
            let (text, creds) = chain_text(&err);
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
            }
        }
        SdkError::TimeoutError(_) => CallError {
            op,
            kind: CallErrorKind::Unreachable,
            code: None,
            message: chain_text(&err).0,
        },
        _ => {
            let (text, creds) = chain_text(&err);
            CallError {
                op,
                kind: if creds {
                    CallErrorKind::Credentials
                } else {
                    CallErrorKind::Other
                },
                code: None,
                message: text,
            }
        }
    }
}

/// Errors of the adapter as the binary shows them.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("cannot reach {endpoint} ({op}: {detail}); check the endpoint/network (for a local rack, is `convox sim serve` running?)")]
    Unreachable {
        endpoint: String,
        op: String,
        detail: String,
    },
    #[error("AWS credentials missing or refused ({op}: {detail}); configure credentials (aws configure / aws sso login / AWS_PROFILE) and retry")]
    Credentials { op: String, detail: String },
    #[error("cluster {cluster} not found in {region}; check the rack's cluster name and region")]
    ClusterNotFound { cluster: String, region: String },
    #[error("identity {arn} cannot be an access entry principal; run convox with an IAM role (or IAM user) session")]
    UnsupportedPrincipal { arn: String },
    #[error("{op} failed on cluster {cluster}{}: {detail}", principal.as_deref().map(|p| format!(" for {p}")).unwrap_or_default())]
    Api {
        op: String,
        cluster: String,
        principal: Option<String>,
        detail: String,
    },
    #[error("auth mode update {update_id} on cluster {cluster} ended {status}: {errors}")]
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
    #[error("cluster {cluster} is {status}; it cannot become ACTIVE by waiting")]
    ClusterBroken { cluster: String, status: String },
}

impl AwsError {
    /// Maps a classified call error to the user-facing error for `cluster`/`principal`.
    pub fn from_call(
        e: CallError,
        endpoint: &str,
        cluster: &str,
        principal: Option<&str>,
    ) -> AwsError {
        match e.kind {
            CallErrorKind::Unreachable => AwsError::Unreachable {
                endpoint: endpoint.to_string(),
                op: e.op,
                detail: e.message,
            },
            CallErrorKind::Credentials => AwsError::Credentials {
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
