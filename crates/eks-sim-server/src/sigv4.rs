//! SigV4 verification (Authorization header and presigned query), as the AWS SDKs sign
//! non-S3 requests: the path is URI-encoded again (double encoding), the query is sorted,
//! the payload is hashed.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

type HmacSha256 = Hmac<Sha256>;

/// Requests whose date is further than this from the server clock are refused (AWS: 15 min).
pub const MAX_SKEW_MS: i64 = 15 * 60 * 1000;

/// Why a request was refused. The server renders it per protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No Authorization header and no presigned query.
    Missing,
    /// The signature's parts are missing or malformed.
    Incomplete(String),
    /// Unknown access key, or a session token that does not match.
    UnknownKey,
    /// The session credentials have expired.
    ExpiredToken,
    /// The signature does not match, or the request date is outside the allowed skew.
    Mismatch(String),
}

/// The parsed signature of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigParts {
    pub access_key_id: String,
    /// `YYYYMMDD` of the credential scope.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// Lower-case names, in the order given.
    pub signed_headers: Vec<String>,
    pub signature: String,
    /// `YYYYMMDDTHHMMSSZ`.
    pub amz_date: String,
    pub security_token: Option<String>,
    pub presigned: bool,
    /// `X-Amz-Expires` of a presigned request, seconds.
    pub expires_s: Option<i64>,
}

/// Finds and parses the signature of a request (header first, then presigned query).
/// `raw_query` is the still-encoded query string.
pub fn parse(headers: &http::HeaderMap, raw_query: &str) -> Result<SigParts, AuthError> {
    if let Some(auth) = headers.get(http::header::AUTHORIZATION) {
        let auth = auth
            .to_str()
            .map_err(|_| AuthError::Incomplete("Authorization header is not ASCII".into()))?;
        return parse_header(auth, headers);
    }
    if raw_query.contains("X-Amz-Signature=") || raw_query.contains("X-Amz-Credential=") {
        return parse_presigned(raw_query);
    }
    Err(AuthError::Missing)
}

fn header_str<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn parse_header(auth: &str, headers: &http::HeaderMap) -> Result<SigParts, AuthError> {
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256").ok_or_else(|| {
        AuthError::Incomplete(format!(
            "Authorization header requires the AWS4-HMAC-SHA256 algorithm. Authorization={auth}"
        ))
    })?;
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            cred = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v);
        }
    }
    let mut missing = String::new();
    for (name, v) in [
        ("Credential", cred),
        ("Signature", sig),
        ("SignedHeaders", signed),
    ] {
        if v.is_none() {
            let _ = write!(
                missing,
                "Authorization header requires '{name}' parameter. "
            );
        }
    }
    let amz_date = header_str(headers, "x-amz-date");
    if amz_date.is_none() {
        missing.push_str(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ",
        );
    }
    let (Some(cred), Some(signed), Some(sig), Some(amz_date)) = (cred, signed, sig, amz_date)
    else {
        return Err(AuthError::Incomplete(format!(
            "{missing}Authorization={auth}"
        )));
    };
    let (akid, date, region, service) = parse_credential(cred)?;
    Ok(SigParts {
        access_key_id: akid,
        scope_date: date,
        region,
        service,
        signed_headers: signed.split(';').map(|s| s.to_ascii_lowercase()).collect(),
        signature: sig.to_string(),
        amz_date: amz_date.to_string(),
        security_token: header_str(headers, "x-amz-security-token").map(str::to_string),
        presigned: false,
        expires_s: None,
    })
}

fn parse_credential(cred: &str) -> Result<(String, String, String, String), AuthError> {
    let parts: Vec<&str> = cred.split('/').collect();
    match parts.as_slice() {
        [akid, date, region, service, "aws4_request"]
            if !akid.is_empty() && date.len() == 8 && !region.is_empty() && !service.is_empty() =>
        {
            Ok((
                akid.to_string(),
                date.to_string(),
                region.to_string(),
                service.to_string(),
            ))
        }
        _ => Err(AuthError::Incomplete(format!(
            "Credential should be scoped to a valid region, service and terminated by 'aws4_request'. Credential={cred}"
        ))),
    }
}

fn parse_presigned(raw_query: &str) -> Result<SigParts, AuthError> {
    let get = |name: &str| -> Option<String> {
        form_urlencoded::parse(raw_query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let alg = get("X-Amz-Algorithm");
    let cred = get("X-Amz-Credential");
    let date = get("X-Amz-Date");
    let signed = get("X-Amz-SignedHeaders");
    let sig = get("X-Amz-Signature");
    let expires = get("X-Amz-Expires");
    let token = get("X-Amz-Security-Token");
    let (Some(alg), Some(cred), Some(date), Some(signed), Some(sig)) =
        (alg, cred, date, signed, sig)
    else {
        return Err(AuthError::Incomplete(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders'. Re-examine the query-string parameters.".into(),
        ));
    };
    if alg != "AWS4-HMAC-SHA256" {
        return Err(AuthError::Incomplete(format!(
            "Unsupported algorithm {alg}; only AWS4-HMAC-SHA256 is supported."
        )));
    }
    let expires_s = match expires {
        Some(e) => Some(e.parse::<i64>().map_err(|_| {
            AuthError::Incomplete(format!("X-Amz-Expires must be a number, got {e}"))
        })?),
        None => None,
    };
    let (akid, sdate, region, service) = parse_credential(&cred)?;
    Ok(SigParts {
        access_key_id: akid,
        scope_date: sdate,
        region,
        service,
        signed_headers: signed.split(';').map(|s| s.to_ascii_lowercase()).collect(),
        signature: sig,
        amz_date: date,
        security_token: token,
        presigned: true,
        expires_s,
    })
}

/// `YYYYMMDDTHHMMSSZ` → ms since the epoch.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    eks_sim_model::dates::parse_amz_date(s)
}

/// ms since the epoch → `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(ms: i64) -> String {
    eks_sim_model::dates::format_amz_date(ms)
}

/// AWS URI encoding: everything but unreserved characters (and `/` when `keep_slash`) as
/// `%XX` upper-case.
pub fn uri_encode(out: &mut String, s: &[u8], keep_slash: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

fn percent_decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

/// The canonical query string: every parameter (but the signature of a presigned request),
/// decoded and re-encoded, sorted by name then value.
pub fn canonical_query(raw_query: &str, presigned: bool) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        if presigned && k == b"X-Amz-Signature" {
            continue;
        }
        let mut ke = String::with_capacity(k.len());
        uri_encode(&mut ke, &k, false);
        let mut ve = String::with_capacity(v.len());
        uri_encode(&mut ve, &v, false);
        pairs.push((ke, ve));
    }
    pairs.sort();
    let mut out = String::with_capacity(raw_query.len() + 8);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Removes `.` and `..` segments as the SDKs normalize the path before signing.
fn normalize_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.split('/').any(|s| s == "." || s == "..") {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut segs: Vec<&str> = Vec::new();
    for s in path.split('/').skip(1) {
        match s {
            "." => {}
            ".." => {
                segs.pop();
            }
            other => segs.push(other),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segs.join("/"));
    if (path.ends_with("/.") || path.ends_with("/..")) && !out.ends_with('/') {
        out.push('/');
    }
    std::borrow::Cow::Owned(out)
}

/// The canonical request for `parts`, given the request as received.
pub fn canonical_request(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &http::HeaderMap,
    parts: &SigParts,
    payload_hash: &str,
) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(method);
    out.push('\n');
    let path = if raw_path.is_empty() { "/" } else { raw_path };
    uri_encode(&mut out, normalize_path(path).as_bytes(), true);
    out.push('\n');
    out.push_str(&canonical_query(raw_query, parts.presigned));
    out.push('\n');
    for name in &parts.signed_headers {
        out.push_str(name);
        out.push(':');
        let mut first = true;
        for v in headers.get_all(name.as_str()) {
            if !first {
                out.push(',');
            }
            first = false;
            // Trim and collapse runs of spaces, as the SDKs do.
            let v = String::from_utf8_lossy(v.as_bytes());
            let mut prev_space = false;
            for c in v.trim().chars() {
                if c == ' ' {
                    if !prev_space {
                        out.push(' ');
                    }
                    prev_space = true;
                } else {
                    out.push(c);
                    prev_space = false;
                }
            }
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&parts.signed_headers.join(";"));
    out.push('\n');
    out.push_str(payload_hash);
    out
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(data);
    m.finalize().into_bytes().into()
}

/// The derived signing key for a scope.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

pub fn string_to_sign(parts: &SigParts, canonical_request: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256\n{}\n{}/{}/{}/aws4_request\n{}",
        parts.amz_date,
        parts.scope_date,
        parts.region,
        parts.service,
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Signature over `string_to_sign` with a derived key, hex.
pub fn sign(key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(key, string_to_sign.as_bytes()))
}

/// Whether `signature` (lowercase hex, as clients send it) is the HMAC of `string_to_sign`
/// under `key`, compared in constant time by `hmac`'s `verify_slice`.
pub fn verify(key: &[u8; 32], string_to_sign: &str, signature: &str) -> bool {
    let lower_hex = signature.len() == 64
        && signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let Some(given) = lower_hex.then(|| hex::decode(signature).ok()).flatten() else {
        return false;
    };
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(string_to_sign.as_bytes());
    m.verify_slice(&given).is_ok()
}

/// Date checks: header-signed requests within the skew; presigned ones not yet expired.
pub fn check_time(parts: &SigParts, now_ms: i64) -> Result<(), AuthError> {
    let t = parse_amz_date(&parts.amz_date).ok_or_else(|| {
        AuthError::Incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            parts.amz_date
        ))
    })?;
    if !parts.amz_date.starts_with(&parts.scope_date) {
        return Err(AuthError::Mismatch(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
            parts.scope_date,
            parts.amz_date.get(..8).unwrap_or(""),
            parts.amz_date
        )));
    }
    if parts.presigned {
        let exp = parts.expires_s.unwrap_or(900);
        if now_ms > t + exp * 1000 || t - now_ms > MAX_SKEW_MS {
            return Err(AuthError::Mismatch(format!(
                "Signature expired: {} is now earlier than {} ({} - {} sec.)",
                format_amz_date(t + exp * 1000),
                format_amz_date(now_ms),
                format_amz_date(now_ms),
                exp
            )));
        }
    } else if (now_ms - t).abs() > MAX_SKEW_MS {
        let (cmp, bound) = if t < now_ms {
            ("earlier", format!("{} - 15 min.", format_amz_date(now_ms)))
        } else {
            ("later", format!("{} + 15 min.", format_amz_date(now_ms)))
        };
        let edge = if t < now_ms {
            now_ms - MAX_SKEW_MS
        } else {
            now_ms + MAX_SKEW_MS
        };
        return Err(AuthError::Mismatch(format!(
            "Signature expired: {} is now {cmp} than {} ({bound})",
            parts.amz_date,
            format_amz_date(edge)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_takes_only_the_exact_lowercase_signature() {
        let key = [7u8; 32];
        let good = sign(&key, "to sign");
        assert!(verify(&key, "to sign", &good));
        assert!(!verify(&key, "to sign!", &good));
        assert!(!verify(&key, "to sign", &good.to_uppercase()));
        assert!(!verify(&key, "to sign", &good[..63]));
        assert!(!verify(&key, "to sign", &format!("{good}0")));
        assert!(!verify(&key, "to sign", ""));
        assert!(!verify(&key, "to sign", &"z".repeat(64)));
    }

    // The example of the AWS SigV4 documentation (IAM ListUsers, GET with query).
    #[test]
    fn documented_example() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        h.insert("host", "iam.amazonaws.com".parse().unwrap());
        h.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
                .parse()
                .unwrap(),
        );
        let q = "Action=ListUsers&Version=2010-05-08";
        let p = parse(&h, q).unwrap();
        let cr = canonical_request("GET", "/", q, &h, &p, &sha256_hex(b""));
        assert_eq!(
            sha256_hex(cr.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        assert_eq!(sign(&key, &string_to_sign(&p, &cr)), p.signature);
    }

    #[test]
    fn path_is_double_encoded() {
        let h = http::HeaderMap::new();
        let p = SigParts {
            access_key_id: "A".into(),
            scope_date: "20250101".into(),
            region: "r".into(),
            service: "eks".into(),
            signed_headers: vec![],
            signature: String::new(),
            amz_date: "20250101T000000Z".into(),
            security_token: None,
            presigned: false,
            expires_s: None,
        };
        let cr = canonical_request(
            "GET",
            "/clusters/c/access-entries/arn%3Aaws%3Aiam%3A%3A1%3Arole%2Fa",
            "b=2&a=1",
            &h,
            &p,
            "x",
        );
        assert!(cr.starts_with(
            "GET\n/clusters/c/access-entries/arn%253Aaws%253Aiam%253A%253A1%253Arole%252Fa\na=1&b=2\n"
        ));
    }

    #[test]
    fn malformed_headers_are_incomplete() {
        let mut h = http::HeaderMap::new();
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Signature=abc".parse().unwrap(),
        );
        assert!(matches!(parse(&h, ""), Err(AuthError::Incomplete(_))));
        let h = http::HeaderMap::new();
        assert_eq!(parse(&h, ""), Err(AuthError::Missing));
        assert!(matches!(
            parse(&h, "X-Amz-Credential=a"),
            Err(AuthError::Incomplete(_))
        ));
    }

    #[test]
    fn dates() {
        let t = parse_amz_date("20260102T030405Z").unwrap();
        assert_eq!(format_amz_date(t), "20260102T030405Z");
        assert!(parse_amz_date("2026-01-02").is_none());
        assert!(parse_amz_date("20261302T030405Z").is_none());
    }
}
