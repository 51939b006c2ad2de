//! EKS's errors, with AWS's codes, statuses and (where known) messages.

use crate::error::SimError;

// ---------------------------------------------------------------------------------------
// Errors, with AWS's codes, statuses and (where known) messages.

pub(super) fn invalid_param(msg: impl Into<String>) -> SimError {
    SimError::new("InvalidParameterException", 400, msg)
}
pub(super) fn invalid_request(msg: impl Into<String>) -> SimError {
    SimError::new("InvalidRequestException", 400, msg)
}
pub(super) fn in_use(msg: impl Into<String>) -> SimError {
    SimError::new("ResourceInUseException", 409, msg)
}
pub(super) fn not_found(msg: impl Into<String>) -> SimError {
    SimError::new("ResourceNotFoundException", 404, msg)
}
pub(super) fn cluster_not_found(name: &str) -> SimError {
    not_found(format!("No cluster found for name: {name}."))
}
pub(super) fn entry_not_found() -> SimError {
    not_found(
        "The specified principalArn could not be found. You can view your available access \
         entries with 'list-access-entries'.",
    )
}
pub(super) fn mode_refused() -> SimError {
    invalid_request(
        "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] \
         to perform this operation.",
    )
}
pub(super) fn invalid_principal() -> SimError {
    invalid_param("The specified principalArn is invalid: invalid principal.")
}
pub(super) fn standard_only() -> SimError {
    invalid_param(
        "This operation can only be performed on Access Entries with a type of \"STANDARD\".",
    )
}

pub(super) fn nodegroup_not_found(name: &str) -> SimError {
    not_found(format!("No node group found for name: {name}."))
}
