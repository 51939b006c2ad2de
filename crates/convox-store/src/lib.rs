//! convox-store
