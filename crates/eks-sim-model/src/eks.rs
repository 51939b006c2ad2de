//! eks (to be implemented)
