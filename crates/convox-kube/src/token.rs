//! The EKS bearer token, made as `aws eks get-token` and aws-iam-authenticator make it: a
//! SigV4-presigned STS `GetCallerIdentity` URL that signs `x-k8s-aws-id: CLUSTER`, valid 60 s
//! as a URL, accepted by EKS for 15 minutes after its date.

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_sts::config::endpoint::{Params, ResolveEndpoint};
use aws_sigv4::http_request::{
    sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_types::service_config::ServiceConfigKey;
use aws_types::SdkConfig;
use base64::Engine as _;

use crate::KubeError;

/// EKS accepts a token for 15 minutes after its `X-Amz-Date`.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// Clients (the AWS CLI, client-go) report a token as expiring a minute early; convox renews
/// its own before that too.
pub const REPORTED_LIFETIME: Duration = Duration::from_secs(14 * 60);

/// A token and the time it should no longer be used.
#[derive(Clone)]
pub struct Token {
    pub token: String,
    pub expires: SystemTime,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself: it is a credential for 15 minutes.
        f.debug_struct("Token")
            .field("expires", &self.expires)
            .finish()
    }
}

impl Token {
    /// `expirationTimestamp` as the AWS CLI writes it (RFC 3339, seconds, `Z`).
    pub fn expiration_timestamp(&self) -> String {
        let t = time::OffsetDateTime::from(self.expires);
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }

    /// True when the token should be replaced: within a minute of its reported expiry.
    pub fn needs_renewal(&self, now: SystemTime) -> bool {
        now + Duration::from_secs(60) >= self.expires
    }
}

/// The STS URL the token presigns: the endpoint the SDK would call for STS in the cluster's
/// region (its partition's regional host, FIPS/dual-stack as configured), or the endpoint
/// configured for STS (`AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL`, a profile's `endpoint_url`
/// or an explicit one: the simulator's), in the SDK's order of precedence.
pub async fn sts_endpoint(sdk: &SdkConfig, region: &str) -> Result<String, KubeError> {
    let configured = sdk
        .service_config()
        .and_then(|c| {
            ServiceConfigKey::builder()
                .service_id("STS")
                .env("AWS_ENDPOINT_URL")
                .profile("endpoint_url")
                .build()
                .ok()
                .and_then(|k| c.load_config(k))
        })
        .or_else(|| sdk.endpoint_url().map(str::to_string));
    // An endpoint set on the loader itself (the simulator's) wins over the environment's.
    let configured = if sdk.get_origin("endpoint_url").is_client_config() {
        sdk.endpoint_url().map(str::to_string)
    } else {
        configured
    };
    let params = Params::builder()
        .region(region)
        .use_fips(sdk.use_fips().unwrap_or(false))
        .use_dual_stack(sdk.use_dual_stack().unwrap_or(false))
        .use_global_endpoint(false)
        .set_endpoint(configured)
        .build()
        .map_err(|e| KubeError::Other(format!("STS endpoint for {region}: {e}")))?;
    let ep = aws_sdk_sts::config::endpoint::DefaultResolver::new()
        .resolve_endpoint(&params)
        .await
        .map_err(|e| KubeError::Other(format!("STS endpoint for {region}: {e}")))?;
    Ok(ep.url().trim_end_matches('/').to_string())
}

/// A token for `cluster`, signed with the credentials of `sdk` (the same chain the rest of
/// convox uses) at `now`.
pub async fn make_token(
    sdk: &SdkConfig,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> Result<Token, KubeError> {
    let provider = sdk.credentials_provider().ok_or_else(|| {
        KubeError::Unauthorized("no AWS credentials are configured to sign an EKS token".into())
    })?;
    let creds = provider.provide_credentials().await.map_err(|e| {
        KubeError::Unauthorized(format!("no AWS credentials to sign an EKS token: {e}"))
    })?;
    let endpoint = sts_endpoint(sdk, region).await?;
    let url = presign_url(&endpoint, region, cluster, creds, now)?;
    Ok(Token {
        token: format!(
            "k8s-aws-v1.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
        ),
        expires: now + REPORTED_LIFETIME,
    })
}

/// The presigned `GetCallerIdentity` URL (pure: tests check it against known vectors).
pub fn presign_url(
    endpoint: &str,
    region: &str,
    cluster: &str,
    creds: aws_credential_types::Credentials,
    now: SystemTime,
) -> Result<String, KubeError> {
    let identity = creds.into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| KubeError::Other(format!("signing an EKS token: {e}")))?
        .into();
    let base = format!("{endpoint}/?Action=GetCallerIdentity&Version=2011-06-15");
    let headers = [("x-k8s-aws-id", cluster)];
    let req = SignableRequest::new("GET", &base, headers.into_iter(), SignableBody::Bytes(&[]))
        .map_err(|e| KubeError::Other(format!("signing an EKS token: {e}")))?;
    let (instructions, _) = sign(req, &params)
        .map_err(|e| KubeError::Other(format!("signing an EKS token: {e}")))?
        .into_parts();
    // Only the query goes into the URL: the signed header is sent by EKS itself.
    let (_, query) = instructions.into_parts();
    let mut url = base;
    for (k, v) in query {
        url.push_str(&format!("&{k}={}", encode(&v)));
    }
    url.parse::<http::Uri>()
        .map_err(|e| KubeError::Other(format!("STS endpoint {endpoint}: {e}")))?;
    Ok(url)
}

/// RFC 3986 unreserved characters kept, everything else percent-encoded (as SigV4 does).
fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds(token: Option<&str>) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            token.map(str::to_string),
            None,
            "test",
        )
    }

    fn query(url: &str) -> Vec<(String, String)> {
        let q = url.split_once('?').map(|(_, q)| q).unwrap_or("");
        q.split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    #[test]
    fn the_url_has_what_eks_checks() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let url = presign_url(
            "https://sts.us-east-1.amazonaws.com",
            "us-east-1",
            "demo",
            creds(Some("TOKEN/+=")),
            now,
        )
        .unwrap();
        assert!(
            url.starts_with("https://sts.us-east-1.amazonaws.com/?"),
            "{url}"
        );
        let q = query(&url);
        let get = |k: &str| {
            q.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or_else(|| panic!("{k} missing in {url}"))
        };
        assert_eq!(get("Action"), "GetCallerIdentity");
        assert_eq!(get("Version"), "2011-06-15");
        assert_eq!(get("X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
        assert_eq!(get("X-Amz-Expires"), "60");
        assert_eq!(get("X-Amz-Date"), "20231114T221320Z");
        assert_eq!(get("X-Amz-SignedHeaders"), "host%3Bx-k8s-aws-id");
        assert_eq!(get("X-Amz-Security-Token"), "TOKEN%2F%2B%3D");
        assert_eq!(
            get("X-Amz-Credential"),
            "AKIDEXAMPLE%2F20231114%2Fus-east-1%2Fsts%2Faws4_request"
        );
        assert_eq!(get("X-Amz-Signature").len(), 64);
        // No key twice, and the cluster name is signed, never sent.
        let mut keys: Vec<_> = q.iter().map(|(k, _)| k.to_ascii_lowercase()).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), q.len());
        assert!(!url.contains("demo"));
    }

    #[test]
    fn another_cluster_another_signature() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let sig = |c: &str| {
            let u = presign_url(
                "https://sts.us-east-1.amazonaws.com",
                "us-east-1",
                c,
                creds(None),
                now,
            )
            .unwrap();
            query(&u)
                .into_iter()
                .find(|(k, _)| k == "X-Amz-Signature")
                .map(|(_, v)| v)
                .unwrap()
        };
        assert_ne!(sig("a"), sig("b"));
        assert_eq!(sig("a"), sig("a"));
    }

    #[test]
    fn expiry_as_the_cli_writes_it() {
        let t = Token {
            token: String::new(),
            expires: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        };
        assert_eq!(t.expiration_timestamp(), "2023-11-14T22:13:20Z");
        assert!(!t.needs_renewal(t.expires - Duration::from_secs(120)));
        assert!(t.needs_renewal(t.expires - Duration::from_secs(30)));
    }

    #[tokio::test]
    async fn sts_host_of_the_partition_or_the_configured_endpoint() {
        let sdk = SdkConfig::builder().build();
        assert_eq!(
            sts_endpoint(&sdk, "us-east-1").await.unwrap(),
            "https://sts.us-east-1.amazonaws.com"
        );
        assert_eq!(
            sts_endpoint(&sdk, "cn-north-1").await.unwrap(),
            "https://sts.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            sts_endpoint(&sdk, "us-gov-west-1").await.unwrap(),
            "https://sts.us-gov-west-1.amazonaws.com"
        );
        let local = SdkConfig::builder()
            .endpoint_url("http://127.0.0.1:4599")
            .build();
        assert_eq!(
            sts_endpoint(&local, "us-east-1").await.unwrap(),
            "http://127.0.0.1:4599"
        );
    }
}
