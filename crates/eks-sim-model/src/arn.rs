//! arn (to be implemented)
