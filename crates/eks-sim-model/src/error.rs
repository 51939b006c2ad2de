//! AWS-shaped errors: code, message, HTTP status. The wire renders them per protocol
//! (rest-json `x-amzn-ErrorType` + JSON body for EKS; XML `ErrorResponse` for STS/IAM).

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct SimError {
    /// AWS error code, e.g. `ResourceInUseException`, `NoSuchEntity`.
    pub code: String,
    pub message: String,
    /// HTTP status AWS answers with.
    pub status: u16,
    /// `Sender` (client fault) vs `Receiver` (server fault) for query-protocol XML errors.
    pub sender_fault: bool,
}

impl SimError {
    pub fn new(code: impl Into<String>, status: u16, message: impl Into<String>) -> SimError {
        SimError {
            code: code.into(),
            message: message.into(),
            status,
            sender_fault: status < 500,
        }
    }
    /// Internal failure (store I/O and the like): AWS's 500.
    pub fn internal(message: impl Into<String>) -> SimError {
        SimError::new("ServerException", 500, message)
    }
}

impl From<rusqlite::Error> for SimError {
    fn from(e: rusqlite::Error) -> SimError {
        SimError::internal(format!("store: {e}"))
    }
}

pub type SimResult<T> = Result<T, SimError>;
