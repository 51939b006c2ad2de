//! store (to be implemented)
