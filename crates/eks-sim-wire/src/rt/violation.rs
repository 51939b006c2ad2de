//! A broken rule of the model, and how each protocol words it (the simulator's words so far:
//! botocore's for a body's types and required members on rest-json, AWS's validation
//! messages for bounds and for the query services).

use std::fmt;

/// What the model's rules refused in an input; `member` is the path to it (`accessScope.type`,
/// `tags.member.key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    Missing {
        member: String,
    },
    WrongType {
        member: String,
        expected: &'static str,
        got: &'static str,
    },
    /// A number written as text (a query string, a query parameter) that is not one.
    NotANumber {
        member: String,
        value: String,
    },
    Enum {
        member: String,
        value: String,
        allowed: &'static [&'static str],
    },
    Range {
        member: String,
        value: i64,
        min: Option<i64>,
        max: Option<i64>,
    },
    Length {
        member: String,
        value: String,
        min: Option<i64>,
        max: Option<i64>,
    },
    Count {
        member: String,
        len: i64,
        min: Option<i64>,
        max: Option<i64>,
    },
    /// The body is not a JSON object.
    Body(String),
}

/// `Member must have {what} …`: the bound crossed.
fn crossed(what: &str, n: i64, min: Option<i64>, max: Option<i64>) -> String {
    match (min, max) {
        (Some(m), _) if n < m => format!("Member must have {what} greater than or equal to {m}"),
        (_, Some(m)) => format!("Member must have {what} less than or equal to {m}"),
        _ => format!(
            "Member must have {what} greater than or equal to {}",
            min.unwrap_or(0)
        ),
    }
}

fn validation(value: &str, member: &str, constraint: &str) -> String {
    format!("1 validation error detected: Value {value} at '{member}' failed to satisfy constraint: {constraint}")
}

impl Violation {
    /// The member's path.
    pub fn member(&self) -> &str {
        match self {
            Violation::Missing { member }
            | Violation::WrongType { member, .. }
            | Violation::NotANumber { member, .. }
            | Violation::Enum { member, .. }
            | Violation::Range { member, .. }
            | Violation::Length { member, .. }
            | Violation::Count { member, .. } => member,
            Violation::Body(_) => "",
        }
    }

    /// The message of EKS's `InvalidParameterException` (rest-json).
    pub fn rest_message(&self) -> String {
        match self {
            Violation::Missing { member } => format!("Missing required parameter: {member}"),
            Violation::WrongType {
                member,
                expected,
                got,
            } => {
                format!("Invalid type for parameter {member}: expected {expected}, got {got}")
            }
            Violation::NotANumber { member, value } => {
                format!("Invalid value for parameter {member}: '{value}' is not an integer")
            }
            Violation::Enum {
                member,
                value,
                allowed,
            } => {
                let last = member.rsplit('.').next().unwrap_or(member);
                format!(
                    "The {last} '{value}' is invalid. Valid values: {}.",
                    allowed.join(", ")
                )
            }
            Violation::Range {
                member,
                value,
                min: Some(lo),
                max: Some(hi),
            } => validation(
                &format!("'{value}'"),
                member,
                &format!("Member must have value between {lo} and {hi}"),
            ),
            Violation::Body(m) => m.clone(),
            other => other.query_message(),
        }
    }

    /// The message of a query service's `ValidationError`.
    pub fn query_message(&self) -> String {
        match self {
            Violation::Missing { member } => {
                validation("null", member, "Member must not be null")
            }
            Violation::WrongType { member, expected, .. } => {
                validation("null", member, &format!("Member must be a {expected}"))
            }
            Violation::NotANumber { member, value } => format!(
                "Value '{value}' at '{member}' failed to satisfy constraint: Member must be a number"
            ),
            Violation::Enum { member, value, allowed } => validation(
                &format!("'{value}'"),
                member,
                &format!("Member must satisfy enum value set: [{}]", allowed.join(", ")),
            ),
            Violation::Range { member, value, min, max } => {
                validation(&format!("'{value}'"), member, &crossed("value", *value, *min, *max))
            }
            Violation::Length { member, value, min, max } => validation(
                &format!("'{value}'"),
                member,
                &crossed("length", value.chars().count() as i64, *min, *max),
            ),
            Violation::Count { member, len, min, max } => {
                validation(&format!("of {len} items"), member, &crossed("length", *len, *min, *max))
            }
            Violation::Body(m) => m.clone(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.query_message())
    }
}
