//! Who signed a request: SigV4 verified against the state's keys, with AWS's refusals.

use crate::shared::Shared;
use crate::sigv4::{self, AuthError};
use eks_sim_model::sts::KeyRecord;
use std::sync::Arc;

/// Whether `r` has the shape of an AWS region name (`us-east-1`, `us-gov-west-1`,
/// `ap-southeast-5`, `us-isob-east-1`): two letters, one or more words, a number. A shape,
/// not a list, so that regions AWS adds later keep working.
fn valid_region(r: &str) -> bool {
    let mut parts = r.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_lowercase()));
    let rest: Vec<&str> = parts.collect();
    let Some((num, words)) = rest.split_last() else {
        return false;
    };
    first_ok
        && !words.is_empty()
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && (1..=2).contains(&num.len())
        && num.bytes().all(|b| b.is_ascii_digit())
}

impl Shared {
    /// Verifies the request's signature and returns the caller's key and parsed signature.
    pub(crate) fn authenticate(
        &self,
        method: &http::Method,
        raw_path: &str,
        raw_query: &str,
        headers: &http::HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<(Arc<KeyRecord>, sigv4::SigParts), (Option<String>, AuthError)> {
        let parts = sigv4::parse(headers, raw_query).map_err(|e| (None, e))?;
        let svc = Some(parts.service.clone());
        // One endpoint serves every region, so a typo in the region must not open an empty
        // world of its own: AWS refuses a scope that names no region.
        if !valid_region(&parts.region) {
            return Err((
                svc,
                AuthError::Mismatch(format!(
                    "Credential should be scoped to a valid region, not '{}'. ",
                    parts.region
                )),
            ));
        }
        let rec = match self.key(&parts.access_key_id) {
            Ok(Some(r)) => r,
            Ok(None) => return Err((svc, AuthError::UnknownKey)),
            Err(e) => {
                tracing::error!("key lookup: {e}");
                return Err((svc, AuthError::UnknownKey));
            }
        };
        if rec.session_token.as_deref() != parts.security_token.as_deref() {
            return Err((svc, AuthError::UnknownKey));
        }
        sigv4::check_time(&parts, now).map_err(|e| (svc.clone(), e))?;
        if rec.expires_ms.is_some_and(|x| x <= now) {
            return Err((svc, AuthError::ExpiredToken));
        }
        let key = self.signing_key(&rec, &parts);
        // Non-S3 services hash the body themselves; a client's x-amz-content-sha256 (or
        // UNSIGNED-PAYLOAD) cannot exempt the body from the signature.
        let body_hash = sigv4::sha256_hex(body);
        let check = |payload: &str| {
            let cr = sigv4::canonical_request(
                method.as_str(),
                raw_path,
                raw_query,
                headers,
                &parts,
                payload,
            );
            sigv4::verify(&key, &sigv4::string_to_sign(&parts, &cr), &parts.signature)
        };
        // Some presigners sign an empty body as UNSIGNED-PAYLOAD.
        let ok =
            check(&body_hash) || (parts.presigned && body.is_empty() && check("UNSIGNED-PAYLOAD"));
        if !ok {
            return Err((svc, AuthError::Mismatch(String::new())));
        }
        Ok((rec, parts))
    }
}

#[cfg(test)]
mod tests {
    use super::valid_region;

    #[test]
    fn region_shapes() {
        for ok in [
            "us-east-1",
            "eu-west-1",
            "ap-southeast-5",
            "cn-north-1",
            "cn-northwest-1",
            "us-gov-west-1",
            "us-isob-east-1",
            "il-central-1",
            "me-south-1",
        ] {
            assert!(valid_region(ok), "{ok}");
        }
        for bad in [
            "",
            "x",
            "us-east-1x",
            "mars-1",
            "us-east",
            "us--east-1",
            "US-EAST-1",
            "aws-global",
            "us-east-123",
            "us-east-1/../",
        ] {
            assert!(!valid_region(bad), "{bad}");
        }
    }
}
