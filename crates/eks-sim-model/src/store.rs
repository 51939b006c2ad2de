//! The SQLite store (placeholder until implemented).

pub struct Store {}
