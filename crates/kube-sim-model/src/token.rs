//! The EKS bearer token (`aws eks get-token`, aws-iam-authenticator): `k8s-aws-v1.` and the
//! unpadded base64url of a SigV4-presigned STS `GetCallerIdentity` URL. This module holds
//! the authenticator's checks on the URL itself, in its order; the signature is verified by
//! the wire (`eks-sim-server`), which has the SigV4 code and the simulator's keys.

use std::fmt;

pub const PREFIX: &str = "k8s-aws-v1.";
/// Longest token accepted.
pub const MAX_LEN: usize = 4096;
/// A token is good for this long after its `X-Amz-Date`, whatever `X-Amz-Expires` says.
pub const VALID_MS: i64 = 15 * 60 * 1000;
/// `X-Amz-Expires` must be within 0..=this.
pub const MAX_EXPIRES_S: i64 = 900;
/// The header carrying the cluster name; signed, never sent in the URL.
pub const CLUSTER_ID_HEADER: &str = "x-k8s-aws-id";

/// Query keys a token may carry (lower-case).
const ALLOWED_KEYS: &[&str] = &[
    "action",
    "version",
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-security-token",
    "x-amz-signature",
    "x-amz-signedheaders",
];

/// Why a token was refused (the client only ever sees 401 `Unauthorized`; this goes to the
/// log and the audit trail).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    TooLong,
    NoPrefix,
    NotBase64,
    NotHttps,
    NotSts(String),
    BadPath,
    DuplicateKey(String),
    UnknownKey(String),
    BadAction,
    ClusterIdNotSigned,
    BadExpires,
    BadDate,
    Expired,
    NotYetValid,
    BadCredential,
    /// The signature does not verify as STS would (unknown key, wrong secret, other cluster,
    /// session token missing or wrong, session expired).
    Signature(&'static str),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::TooLong => write!(f, "token is longer than {MAX_LEN} bytes"),
            TokenError::NoPrefix => write!(f, "token does not start with {PREFIX}"),
            TokenError::NotBase64 => write!(f, "token is not unpadded base64url"),
            TokenError::NotHttps => write!(f, "presigned URL is not https"),
            TokenError::NotSts(h) => write!(f, "presigned URL host {h:?} is not an STS endpoint"),
            TokenError::BadPath => write!(f, "presigned URL path is not /"),
            TokenError::DuplicateKey(k) => write!(f, "query key {k:?} appears more than once"),
            TokenError::UnknownKey(k) => write!(f, "query key {k:?} is not allowed"),
            TokenError::BadAction => write!(f, "action is not GetCallerIdentity"),
            TokenError::ClusterIdNotSigned => write!(f, "{CLUSTER_ID_HEADER} is not signed"),
            TokenError::BadExpires => write!(f, "X-Amz-Expires is not within 0..{MAX_EXPIRES_S}"),
            TokenError::BadDate => write!(f, "X-Amz-Date is missing or malformed"),
            TokenError::Expired => write!(f, "token is older than 15 minutes"),
            TokenError::NotYetValid => write!(f, "X-Amz-Date is in the future"),
            TokenError::BadCredential => write!(f, "X-Amz-Credential is malformed"),
            TokenError::Signature(why) => write!(f, "STS refused the signature: {why}"),
        }
    }
}

/// A token's presigned URL that passed every check but the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presigned {
    pub scheme: String,
    /// As in the URL (with a port if any); the value of the signed `host` header.
    pub host: String,
    /// Raw (still encoded) query.
    pub raw_query: String,
    pub access_key_id: String,
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// Lower-case.
    pub signed_headers: Vec<String>,
    pub signature: String,
    pub amz_date: String,
    pub date_ms: i64,
    pub expires_s: i64,
    pub security_token: Option<String>,
}

/// Hosts the simulator itself serves STS on (`127.0.0.1:PORT`), accepted over http too: with
/// `AWS_ENDPOINT_URL` set, `aws eks get-token` presigns for the simulator.
pub type OwnHosts<'a> = &'a [String];

/// Runs the authenticator's checks, in its order, for a cluster in `partition`.
pub fn parse(
    token: &str,
    partition: &str,
    own: OwnHosts<'_>,
    now_ms: i64,
) -> Result<Presigned, TokenError> {
    use base64::Engine as _;
    if token.len() > MAX_LEN {
        return Err(TokenError::TooLong);
    }
    let b64 = token.strip_prefix(PREFIX).ok_or(TokenError::NoPrefix)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .map_err(|_| TokenError::NotBase64)?;
    let url = String::from_utf8(raw).map_err(|_| TokenError::NotBase64)?;
    let (scheme, rest) = url.split_once("://").ok_or(TokenError::NotHttps)?;
    let rest = rest.split('#').next().unwrap_or_default();
    let (authority, path_query) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    let own_host = own.iter().any(|h| h.eq_ignore_ascii_case(authority));
    if scheme != "https" && !(own_host && scheme == "http") {
        return Err(TokenError::NotHttps);
    }
    if !own_host && !is_sts_host(authority, partition) {
        return Err(TokenError::NotSts(authority.to_string()));
    }
    if path != "/" {
        return Err(TokenError::BadPath);
    }
    let params = check_keys(query)?;
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("action") != Some("GetCallerIdentity") {
        return Err(TokenError::BadAction);
    }
    let signed: Vec<String> = get("x-amz-signedheaders")
        .unwrap_or_default()
        .split(';')
        .map(str::to_ascii_lowercase)
        .collect();
    if !signed.iter().any(|h| h == CLUSTER_ID_HEADER) {
        return Err(TokenError::ClusterIdNotSigned);
    }
    let expires_s = get("x-amz-expires")
        .and_then(|e| e.parse::<i64>().ok())
        .filter(|e| (0..=MAX_EXPIRES_S).contains(e))
        .ok_or(TokenError::BadExpires)?;
    let amz_date = get("x-amz-date").ok_or(TokenError::BadDate)?.to_string();
    let date_ms = parse_amz_date(&amz_date).ok_or(TokenError::BadDate)?;
    if now_ms > date_ms + VALID_MS {
        return Err(TokenError::Expired);
    }
    // STS refuses a request dated further in the future than its clock skew allows.
    if date_ms - now_ms > VALID_MS {
        return Err(TokenError::NotYetValid);
    }
    let cred = get("x-amz-credential").ok_or(TokenError::BadCredential)?;
    let parts: Vec<&str> = cred.split('/').collect();
    let [akid, sdate, region, service, "aws4_request"] = parts.as_slice() else {
        return Err(TokenError::BadCredential);
    };
    if akid.is_empty() || sdate.len() != 8 || !amz_date.starts_with(sdate) {
        return Err(TokenError::BadCredential);
    }
    Ok(Presigned {
        scheme: scheme.to_string(),
        host: authority.to_string(),
        raw_query: query.to_string(),
        access_key_id: akid.to_string(),
        scope_date: sdate.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        signed_headers: signed,
        signature: get("x-amz-signature").unwrap_or_default().to_string(),
        amz_date,
        date_ms,
        expires_s,
        security_token: get("x-amz-security-token").map(str::to_string),
    })
}

/// Lower-cased keys with their decoded values; refuses duplicates (case-insensitive) and keys
/// outside the whitelist.
fn check_keys(query: &str) -> Result<Vec<(String, String)>, TokenError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let k = k.to_ascii_lowercase();
        if out.iter().any(|(n, _)| *n == k) {
            return Err(TokenError::DuplicateKey(k));
        }
        if !ALLOWED_KEYS.contains(&k.as_str()) {
            return Err(TokenError::UnknownKey(k));
        }
        out.push((k, v.into_owned()));
    }
    Ok(out)
}

/// Whether `host` is an STS endpoint of `partition`: regional (`sts.REGION.amazonaws.com`),
/// FIPS (`sts-fips.REGION…`), dual-stack (`sts.REGION.api.aws`), and the global
/// `sts.amazonaws.com` in `aws` only. China's domain is `amazonaws.com.cn`.
pub fn is_sts_host(host: &str, partition: &str) -> bool {
    let host = host.to_ascii_lowercase();
    if partition == "aws" && host == "sts.amazonaws.com" {
        return true;
    }
    let suffix = format!(".{}", eks_sim_model::arn::dns_suffix(partition));
    let region = host
        .strip_prefix("sts.")
        .or_else(|| host.strip_prefix("sts-fips."))
        .and_then(|r| {
            r.strip_suffix(suffix.as_str())
                .or_else(|| r.strip_suffix(".api.aws"))
        });
    region.is_some_and(|r| region_shape(r) && eks_sim_model::arn::partition_of(r) == partition)
}

fn region_shape(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// `YYYYMMDDTHHMMSSZ` → ms since the epoch.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    eks_sim_model::dates::parse_amz_date(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

    fn tok(url: &str) -> String {
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url)
        )
    }

    fn url_with(host: &str, extra: &str, date: &str, expires: &str) -> String {
        format!(
            "https://{host}/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256\
             &X-Amz-Credential=ASIAKEY%2F20260101%2Fus-east-1%2Fsts%2Faws4_request&X-Amz-Date={date}\
             &X-Amz-Expires={expires}&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id&X-Amz-Signature=abc{extra}"
        )
    }

    #[test]
    fn refusal_table() {
        let good = url_with("sts.us-east-1.amazonaws.com", "", "20260101T000000Z", "60");
        let own = vec!["127.0.0.1:4599".to_string()];
        let p = parse(&tok(&good), "aws", &own, NOW).unwrap();
        assert_eq!(
            (p.access_key_id.as_str(), p.region.as_str()),
            ("ASIAKEY", "us-east-1")
        );
        let long = format!("{PREFIX}{}", "A".repeat(MAX_LEN));
        let cases: Vec<(&str, String, TokenError)> = vec![
            ("too long", long, TokenError::TooLong),
            ("no prefix", good.clone(), TokenError::NoPrefix),
            (
                "padding",
                format!("{}==", tok(&good)),
                TokenError::NotBase64,
            ),
            (
                "http",
                tok(&good.replacen("https", "http", 1)),
                TokenError::NotHttps,
            ),
            (
                "host",
                tok(&good.replace("sts.us-east-1.amazonaws.com", "evil.com")),
                TokenError::NotSts("evil.com".into()),
            ),
            (
                "china host in aws",
                tok(&good.replace(
                    "sts.us-east-1.amazonaws.com",
                    "sts.cn-north-1.amazonaws.com.cn",
                )),
                TokenError::NotSts("sts.cn-north-1.amazonaws.com.cn".into()),
            ),
            (
                "path",
                tok(&good.replace(".com/?", ".com/x?")),
                TokenError::BadPath,
            ),
            (
                "dup",
                tok(&format!("{good}&action=GetCallerIdentity")),
                TokenError::DuplicateKey("action".into()),
            ),
            (
                "unknown",
                tok(&format!("{good}&Foo=1")),
                TokenError::UnknownKey("foo".into()),
            ),
            (
                "action",
                tok(&good.replace("GetCallerIdentity", "AssumeRole")),
                TokenError::BadAction,
            ),
            (
                "unsigned id",
                tok(&good.replace("host%3Bx-k8s-aws-id", "host")),
                TokenError::ClusterIdNotSigned,
            ),
            (
                "expires",
                tok(&url_with(
                    "sts.amazonaws.com",
                    "",
                    "20260101T000000Z",
                    "901",
                )),
                TokenError::BadExpires,
            ),
            (
                "expires nan",
                tok(&url_with("sts.amazonaws.com", "", "20260101T000000Z", "x")),
                TokenError::BadExpires,
            ),
            (
                "date",
                tok(&url_with("sts.amazonaws.com", "", "2026-01-01", "60")),
                TokenError::BadDate,
            ),
            (
                "old",
                tok(&url_with("sts.amazonaws.com", "", "20251231T234459Z", "60")),
                TokenError::Expired,
            ),
            (
                "future",
                tok(&url_with("sts.amazonaws.com", "", "20260101T001600Z", "60")),
                TokenError::NotYetValid,
            ),
        ];
        for (why, t, want) in cases {
            assert_eq!(parse(&t, "aws", &own, NOW), Err(want), "{why}");
        }
    }

    #[test]
    fn accepted_edges() {
        let good = url_with("sts.us-east-1.amazonaws.com", "", "20260101T000000Z", "60");
        let own = vec!["127.0.0.1:4599".to_string()];
        // 15 minutes old exactly is still good; the simulator's own host over http is too.
        assert!(parse(&tok(&good), "aws", &own, NOW + VALID_MS).is_ok());
        assert_eq!(
            parse(&tok(&good), "aws", &own, NOW + VALID_MS + 1),
            Err(TokenError::Expired)
        );
        let mine = good.replacen(
            "https://sts.us-east-1.amazonaws.com",
            "http://127.0.0.1:4599",
            1,
        );
        assert!(parse(&tok(&mine), "aws", &own, NOW).is_ok());
    }

    #[test]
    fn sts_hosts() {
        for h in [
            "sts.amazonaws.com",
            "sts.eu-west-1.amazonaws.com",
            "sts-fips.us-east-2.amazonaws.com",
            "sts.us-west-2.api.aws",
        ] {
            assert!(is_sts_host(h, "aws"), "{h}");
        }
        assert!(is_sts_host("sts.cn-north-1.amazonaws.com.cn", "aws-cn"));
        assert!(!is_sts_host("sts.amazonaws.com", "aws-cn"));
        assert!(is_sts_host("sts.us-gov-west-1.amazonaws.com", "aws-us-gov"));
        assert!(!is_sts_host("sts.us-gov-west-1.amazonaws.com", "aws"));
    }
}
