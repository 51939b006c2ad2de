//! eks (to be implemented by H1; placeholder schema so the store can open)

/// EKS tables (`CREATE TABLE IF NOT EXISTS …`), applied by `Store::open`.
pub const SCHEMA: &str = "";
