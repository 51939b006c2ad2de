//! End-to-end scenarios of issue 3 through the `convox` binary, on the simulator.

mod basics;
mod callers;
mod calls;
#[path = "../common/mod.rs"]
mod common;
mod table;

use std::collections::BTreeMap;

use common::*;
