//! iam (to be implemented)
