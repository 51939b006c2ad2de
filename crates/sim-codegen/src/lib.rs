//! # sim-codegen
//!
//! Writes the simulator's AWS wire, `crates/eks-sim-wire/src/generated/{eks,sts,iam}.rs`,
//! from the `service-2.json(.gz)` models of the botocore that the test environment installs
//! (`tests/requirements.txt` pins it). Only the operations listed in [`SERVICES`] are
//! generated: adding one is "add its name here, run `cargo run -p sim-codegen`, implement
//! one trait method".
//!
//! Per service the output has: an operation enum and its router (method + URI template for
//! rest-json, `Action=` for query), typed inputs whose decoding gives AWS's validation
//! errors (missing required members, wrong types, enum values, ranges, lengths), typed
//! outputs (serde for rest-json, XML writers for query), the enums, the modelled errors with
//! their HTTP status, one trait per service and a dispatcher from the router's answer to it.
//! The code relies on the small hand-written runtime `eks_sim_wire::rt`.

mod decode;
pub mod model;
mod names;
mod ops;
mod types;

use std::io::Read as _;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("botocore model: {0}")]
    Model(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "botocore's models not found (looked in {0}); create the test venv (scripts/test) or set CONVOX_BOTOCORE_DATA"
    )]
    NoBotocore(String),
}

/// One service to generate.
#[derive(Debug, Clone, Copy)]
pub struct Service {
    /// Module (file) name and botocore's service directory.
    pub module: &'static str,
    /// botocore's API version directory.
    pub version: &'static str,
    /// The trait and type prefix (`Eks` → `trait Eks`, `EksOperation`, `EksError`).
    pub prefix: &'static str,
    /// The operations the simulator serves (botocore names).
    pub operations: &'static [&'static str],
    /// URI labels that also match a value with unencoded `/` (the rest of the path): a
    /// client that leaves an ARN's `/` unencoded in `/tags/{resourceArn}` is served too.
    pub greedy_labels: &'static [&'static str],
}

pub const SERVICES: &[Service] = &[
    Service {
        module: "eks",
        version: "2017-11-01",
        prefix: "Eks",
        operations: &[
            "CreateCluster",
            "DescribeCluster",
            "ListClusters",
            "DeleteCluster",
            "UpdateClusterConfig",
            "DescribeUpdate",
            "ListUpdates",
            "CreateAccessEntry",
            "DescribeAccessEntry",
            "ListAccessEntries",
            "UpdateAccessEntry",
            "DeleteAccessEntry",
            "AssociateAccessPolicy",
            "DisassociateAccessPolicy",
            "ListAssociatedAccessPolicies",
            "ListAccessPolicies",
            "CreateNodegroup",
            "DescribeNodegroup",
            "ListNodegroups",
            "DeleteNodegroup",
            "TagResource",
            "UntagResource",
            "ListTagsForResource",
            "UpdateNodegroupConfig",
        ],
        greedy_labels: &["resourceArn"],
    },
    Service {
        module: "sts",
        version: "2011-06-15",
        prefix: "Sts",
        operations: &["GetCallerIdentity", "AssumeRole", "GetFederationToken"],
        greedy_labels: &[],
    },
    Service {
        module: "iam",
        version: "2010-05-08",
        prefix: "Iam",
        operations: &[
            "CreateRole",
            "GetRole",
            "ListRoles",
            "DeleteRole",
            "CreateUser",
            "GetUser",
            "ListUsers",
            "CreateAccessKey",
        ],
        greedy_labels: &[],
    },
];

/// botocore's `data` directory: `$CONVOX_BOTOCORE_DATA`, else the workspace's test venv
/// (`<workspace>/.venv/lib/python3.*/site-packages/botocore/data`).
pub fn find_botocore(workspace: &Path) -> Result<PathBuf, Error> {
    if let Some(d) = std::env::var_os("CONVOX_BOTOCORE_DATA") {
        let d = PathBuf::from(d);
        return if d.is_dir() {
            Ok(d)
        } else {
            Err(Error::NoBotocore(d.display().to_string()))
        };
    }
    let lib = workspace.join(".venv").join("lib");
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(&lib) {
        for e in entries.flatten() {
            let d = e.path().join("site-packages/botocore/data");
            if e.file_name().to_string_lossy().starts_with("python") && d.is_dir() {
                found.push(d);
            }
        }
    }
    // Several interpreters in one venv is unusual; the newest is the one pip used last.
    found.sort();
    found.pop().ok_or_else(|| {
        Error::NoBotocore(
            lib.join("python3*/site-packages/botocore/data")
                .display()
                .to_string(),
        )
    })
}

/// The service's model from botocore's data directory (gzipped or not).
pub fn load(data: &Path, svc: &Service) -> Result<model::Model, Error> {
    let dir = data.join(svc.module).join(svc.version);
    let plain = dir.join("service-2.json");
    let gz = dir.join("service-2.json.gz");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let bytes = if plain.is_file() {
        std::fs::read(&plain).map_err(io(&plain))?
    } else {
        let f = std::fs::File::open(&gz).map_err(io(&gz))?;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(f)
            .read_to_end(&mut out)
            .map_err(io(&gz))?;
        out
    };
    model::Model::parse(&bytes)
}

/// The generated Rust of one service.
pub fn generate(svc: &Service, model: &model::Model) -> Result<String, Error> {
    let plan = names::Plan::new(svc, model)?;
    let mut out = String::with_capacity(256 * 1024);
    out.push_str(&format!(
        "// @generated by sim-codegen from botocore's {}/{}/service-2.json: do not edit.\n\
         // Regenerate with `cargo run -p sim-codegen` (a test fails when this file is stale).\n\
         //! {} wire ({} protocol), generated: see the crate docs.\n\
         #![allow(clippy::all, non_snake_case, unused_imports, unused_variables, unreachable_patterns)]\n\n\
         use crate::rt::{{self, Violation}};\n\
         use std::collections::BTreeMap;\n\n",
        svc.module, svc.version, svc.prefix, model.protocol
    ));
    ops::emit(&plan, &mut out)?;
    types::emit(&plan, &mut out)?;
    decode::emit(&plan, &mut out)?;
    Ok(out)
}

/// Where the generated files live, relative to the workspace root.
pub fn output_path(workspace: &Path, svc: &Service) -> PathBuf {
    workspace
        .join("crates/eks-sim-wire/src/generated")
        .join(format!("{}.rs", svc.module))
}
