//! The rack's cluster's Kubernetes API, as the engine needs it: a client signed with the
//! connection's own credentials, and aws-auth as a fact for the downgrade gate.

use convox_access::AwsAuthFact;
use convox_aws::Aws;
use convox_kube::{ClusterApi, Kube};
use convox_store::Rack;

use crate::error::EngineError;

/// A client for the rack's cluster: endpoint and CA from DescribeCluster, tokens signed with
/// the connection's own credentials.
pub async fn kube_client(aws: &Aws, r: &Rack) -> Result<Kube, EngineError> {
    let ep = aws.cluster_endpoint(&r.cluster).await?;
    Ok(Kube::new(
        aws.sdk_config().clone(),
        ClusterApi {
            cluster: r.cluster.clone(),
            region: r.region.clone(),
            endpoint: ep.endpoint,
            ca_data: ep.ca_data,
        },
    ))
}

/// aws-auth as read, or why it could not be. An AWS failure to find the endpoint is a reason
/// too: the Kubernetes side is then unknown, never guessed.
pub async fn read_aws_auth(aws: &Aws, r: &Rack) -> AwsAuthFact {
    let kube = match kube_client(aws, r).await {
        Ok(k) => k,
        // As the binary would print it: one line, nothing a terminal acts on.
        Err(e) => return AwsAuthFact::Unknown(crate::one_line(&e.to_string())),
    };
    match kube.aws_auth().await {
        Ok(Some(o)) => AwsAuthFact::Present(convox_access::parse_aws_auth(&o.data)),
        Ok(None) => AwsAuthFact::Absent,
        Err(e) => AwsAuthFact::Unknown(e.reason()),
    }
}
