//! The simulator's date formats, all through the `time` crate: AWS's XML timestamps and
//! Kubernetes' (RFC 3339 in whole seconds, `Z`), and SigV4's `X-Amz-Date`.

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

/// `2026-01-02T03:04:05Z`: AWS's query-protocol XML and Kubernetes' timestamps.
const SECONDS_Z: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
/// `20260102T030405Z`: SigV4's `X-Amz-Date`.
const AMZ_DATE: &[BorrowedFormatItem<'_>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");

fn at(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// ms since the epoch → `2026-01-02T03:04:05Z` (whole seconds, UTC).
pub fn iso8601(ms: i64) -> String {
    at(ms).format(SECONDS_Z).unwrap_or_default()
}

/// ms since the epoch → `20260102T030405Z`.
pub fn format_amz_date(ms: i64) -> String {
    at(ms).format(AMZ_DATE).unwrap_or_default()
}

/// `20260102T030405Z` → ms since the epoch.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    if s.len() != 16 {
        return None;
    }
    let dt = PrimitiveDateTime::parse(s, AMZ_DATE).ok()?;
    Some(dt.assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let ms = 1_767_323_045_678; // 2026-01-02T03:04:05.678Z
        assert_eq!(iso8601(ms), "2026-01-02T03:04:05Z");
        assert_eq!(format_amz_date(ms), "20260102T030405Z");
        assert_eq!(parse_amz_date("20260102T030405Z"), Some(ms - 678));
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        for bad in [
            "",
            "2026-01-02",
            "20260102T030405",
            "20261302T030405Z",
            "20260102T250405Z",
            "+0260102T030405Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }
}
