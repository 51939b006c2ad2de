//! sts (to be implemented)
