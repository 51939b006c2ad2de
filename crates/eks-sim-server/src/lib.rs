//! # eks-sim-server
//!
//! The wire of the simulated control plane (after s3s / moto's `responses.py`): one HTTP/1.1
//! server on loopback that serves EKS (rest-json), STS and IAM (query protocol, XML
//! responses), routing each request by the service name in its SigV4 credential scope as AWS
//! endpoints do. Every request is SigV4-verified before anything is decoded; the model
//! (`eks-sim-model`) does the rest.

pub mod eks;
pub mod wire;
