//! convox-aws
