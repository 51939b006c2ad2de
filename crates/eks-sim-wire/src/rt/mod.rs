//! The hand-written runtime of the generated wire: what every service shares (validation
//! errors and their wording, timestamps), per protocol: [`rest`] and [`json`] (rest-json),
//! [`query`] and [`xml`] (query), [`text`] (values read from text).

pub mod json;
pub mod query;
pub mod rest;
pub mod text;
pub mod xml;

mod violation;

pub use violation::Violation;

/// Why a request was not answered with its output.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure<E> {
    /// The input broke the model's rules (decoding, before the service ran).
    Invalid(Violation),
    /// The service refused or failed.
    Service(E),
    /// The output could not be encoded.
    Encode(String),
}

/// An error the model does not declare for the service (signature, throttling, a
/// query service's `ValidationError`): code, status and message as AWS answers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherError {
    pub code: String,
    pub status: u16,
    pub message: String,
}

/// A point in time, in milliseconds since the Unix epoch (the simulator's clock). rest-json
/// writes it as epoch seconds, XML as ISO 8601.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// `2026-01-02T03:04:05Z`, as AWS's XML carries it.
    pub fn iso8601(&self) -> String {
        let fmt =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        time::OffsetDateTime::from_unix_timestamp(self.0.div_euclid(1000))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
            .format(&fmt)
            .unwrap_or_default()
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0 as f64 / 1000.0)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Rounded: seconds with a fraction do not always hold the milliseconds exactly.
        let secs = f64::deserialize(d)?;
        Ok(Timestamp((secs * 1000.0).round() as i64))
    }
}

/// Checks of the model's bounds (`min`, `max`).
pub mod check {
    use super::Violation;

    /// A string's length, in characters.
    pub fn length(
        path: &str,
        v: &str,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Result<(), Violation> {
        let n = v.chars().count() as i64;
        if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
            return Err(Violation::Length {
                member: path.to_string(),
                value: v.to_string(),
                min,
                max,
            });
        }
        Ok(())
    }

    /// A list's or map's number of items.
    pub fn count(
        path: &str,
        n: usize,
        min: Option<i64>,
        max: Option<i64>,
    ) -> Result<(), Violation> {
        let n = n as i64;
        if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
            return Err(Violation::Count {
                member: path.to_string(),
                len: n,
                min,
                max,
            });
        }
        Ok(())
    }

    pub fn range(path: &str, v: i64, min: Option<i64>, max: Option<i64>) -> Result<(), Violation> {
        if min.is_some_and(|m| v < m) || max.is_some_and(|m| v > m) {
            return Err(Violation::Range {
                member: path.to_string(),
                value: v,
                min,
                max,
            });
        }
        Ok(())
    }

    /// An `integer` member: a 32-bit value.
    pub fn int32(path: &str, v: i64) -> Result<i32, Violation> {
        i32::try_from(v).map_err(|_| Violation::Range {
            member: path.to_string(),
            value: v,
            min: Some(i32::MIN.into()),
            max: Some(i32::MAX.into()),
        })
    }
}
