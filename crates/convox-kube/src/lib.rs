//! # convox-kube
//!
//! The Kubernetes side of a rack's EKS cluster, through kube-rs (rustls, verified against the
//! CA `DescribeCluster` gives). The bearer token is made natively ([`token`]): a presigned STS
//! `GetCallerIdentity` URL signed with the credentials of the same `SdkConfig` the rest of
//! convox uses, renewed before it runs out. No `aws` or `kubectl` is run.
//!
//! Every failure is a [`KubeError`] that says which of unreachable / unauthorized / forbidden
//! / other it is, so that callers show the Kubernetes side as unknown and take the safe branch.

pub mod token;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_types::SdkConfig;
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use tokio::sync::Mutex;

pub use token::{make_token, sts_endpoint, Token};

/// Why the Kubernetes API could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeError {
    /// No answer: private endpoint, network, TLS, timeout, no endpoint yet.
    #[error("the Kubernetes API of cluster is unreachable: {0}")]
    Unreachable(String),
    /// 401: the token was refused (or none could be made).
    #[error("the Kubernetes API refused the caller's token: {0}")]
    Unauthorized(String),
    /// 403: authenticated, not allowed.
    #[error("the Kubernetes API forbids it: {0}")]
    Forbidden(String),
    /// 409 after every retry: someone else kept changing the object.
    #[error("the Kubernetes API kept answering 409 Conflict: {0}")]
    Conflict(String),
    #[error("the Kubernetes API failed: {0}")]
    Other(String),
}

impl KubeError {
    /// A short reason for "unknown (…)".
    pub fn reason(&self) -> String {
        match self {
            KubeError::Unreachable(m) => format!("unreachable: {m}"),
            KubeError::Unauthorized(m) => format!("token refused: {m}"),
            KubeError::Forbidden(m) => format!("forbidden: {m}"),
            KubeError::Conflict(m) => format!("conflict: {m}"),
            KubeError::Other(m) => m.clone(),
        }
    }
}

fn classify(e: kube::Error) -> KubeError {
    match e {
        kube::Error::Api(s) if s.code == 401 => KubeError::Unauthorized(s.message),
        kube::Error::Api(s) if s.code == 403 => KubeError::Forbidden(s.message),
        kube::Error::Api(s) if s.code == 409 => KubeError::Conflict(s.message),
        kube::Error::Api(s) => KubeError::Other(format!("{} ({})", s.message, s.code)),
        kube::Error::HyperError(e) => KubeError::Unreachable(e.to_string()),
        kube::Error::Service(e) => KubeError::Unreachable(e.to_string()),
        other => KubeError::Other(other.to_string()),
    }
}

/// Where a cluster's Kubernetes API is, as DescribeCluster tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterApi {
    pub cluster: String,
    pub region: String,
    /// `https://…`; `None` while EKS has none (creating).
    pub endpoint: Option<String>,
    /// Base64 PEM of the cluster's CA (`certificateAuthority.data`).
    pub ca_data: Option<String>,
}

/// `aws-auth` as read: its data and the version a write must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsAuthObject {
    pub data: BTreeMap<String, String>,
    pub resource_version: Option<String>,
}

/// Who the API says the caller is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WhoAmI {
    pub username: String,
    pub groups: Vec<String>,
}

/// One request's bound: a hung endpoint is unreachable, not a hang.
const CALL_BOUND: Duration = Duration::from_secs(20);

/// A client for one cluster, its token renewed before it expires.
pub struct Kube {
    api: ClusterApi,
    sdk: SdkConfig,
    state: Mutex<Option<(Token, kube::Client)>>,
}

impl Kube {
    pub fn new(sdk: SdkConfig, api: ClusterApi) -> Kube {
        Kube {
            api,
            sdk,
            state: Mutex::new(None),
        }
    }

    /// A kubeconfig's `server` and `certificate-authority-data`, or why there is none.
    pub fn endpoint(&self) -> Result<(&str, &str), KubeError> {
        match (&self.api.endpoint, &self.api.ca_data) {
            (Some(e), Some(c)) if !e.is_empty() && !c.is_empty() => Ok((e, c)),
            _ => Err(KubeError::Unreachable(format!(
                "cluster {} has no Kubernetes endpoint yet",
                self.api.cluster
            ))),
        }
    }

    /// A fresh token for the cluster.
    pub async fn token(&self) -> Result<Token, KubeError> {
        make_token(
            &self.sdk,
            &self.api.region,
            &self.api.cluster,
            SystemTime::now(),
        )
        .await
    }

    async fn client(&self) -> Result<kube::Client, KubeError> {
        let mut st = self.state.lock().await;
        if let Some((t, c)) = st.as_ref() {
            if !t.needs_renewal(SystemTime::now()) {
                return Ok(c.clone());
            }
        }
        let (server, ca) = self.endpoint()?;
        let token = self.token().await?;
        let kc: kube::config::Kubeconfig = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": server, "certificate-authority-data": ca}}],
            "users": [{"name": "u", "user": {"token": token.token}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
        }))
        .map_err(|e| KubeError::Other(format!("kubeconfig: {e}")))?;
        let mut cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .map_err(|e| KubeError::Other(format!("kubeconfig: {e}")))?;
        cfg.connect_timeout = Some(Duration::from_secs(5));
        cfg.read_timeout = Some(CALL_BOUND);
        // The AWS SDK links a second rustls provider; without a process default rustls
        // cannot choose. An already installed default is kept.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = kube::Client::try_from(cfg).map_err(|e| KubeError::Other(e.to_string()))?;
        *st = Some((token, client.clone()));
        Ok(client)
    }

    async fn bounded<T>(
        &self,
        f: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, KubeError> {
        match tokio::time::timeout(CALL_BOUND, f).await {
            Ok(r) => r.map_err(classify),
            Err(_) => Err(KubeError::Unreachable(format!(
                "no answer within {} s",
                CALL_BOUND.as_secs()
            ))),
        }
    }

    /// `kube-system/aws-auth`, or `None` when it does not exist.
    pub async fn aws_auth(&self) -> Result<Option<AwsAuthObject>, KubeError> {
        let cms = Api::<ConfigMap>::namespaced(self.client().await?, "kube-system");
        let cm = self.bounded(cms.get_opt("aws-auth")).await?;
        Ok(cm.map(|cm| AwsAuthObject {
            data: cm.data.unwrap_or_default(),
            resource_version: cm.metadata.resource_version,
        }))
    }

    /// Adds `add`'s mappings (each key a YAML list) to aws-auth, after those already there,
    /// creating it if needed. Every write names the `resourceVersion` read: a 409 (someone
    /// changed it in between) re-reads and retries (five attempts, paused on convox's one
    /// schedule), so nobody's mapping is overwritten.
    pub async fn add_to_aws_auth(&self, add: &BTreeMap<String, String>) -> Result<(), KubeError> {
        let cms = Api::<ConfigMap>::namespaced(self.client().await?, "kube-system");
        let mut last = String::new();
        // Between attempts, a pause on convox's one schedule (someone else is writing it).
        let mut schedule = convox_retry::Schedule::until(
            &convox_retry::Timing::default(),
            std::time::Duration::from_secs(10),
        );
        for attempt in 0..5 {
            if attempt > 0 {
                if let Some(pause) = schedule.next_pause() {
                    tokio::time::sleep(pause).await;
                }
            }
            let current = self.bounded(cms.get_opt("aws-auth")).await?;
            let res = match current {
                None => {
                    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
                        "metadata": {"name": "aws-auth", "namespace": "kube-system"},
                        "data": add,
                    }))
                    .map_err(|e| KubeError::Other(e.to_string()))?;
                    self.bounded(cms.create(&PostParams::default(), &cm))
                        .await
                        .map(|_| ())
                }
                Some(mut cm) => {
                    let data = cm.data.get_or_insert_with(BTreeMap::new);
                    for (k, v) in add {
                        let merged = match data.get(k) {
                            Some(old) => concat_yaml_lists(old, v)?,
                            None => v.clone(),
                        };
                        data.insert(k.clone(), merged);
                    }
                    self.bounded(cms.replace("aws-auth", &PostParams::default(), &cm))
                        .await
                        .map(|_| ())
                }
            };
            match res {
                Err(KubeError::Conflict(m)) => last = m,
                other => return other,
            }
        }
        Err(KubeError::Conflict(last))
    }

    /// `kubectl auth whoami`.
    pub async fn whoami(&self) -> Result<WhoAmI, KubeError> {
        let client = self.client().await?;
        let api = Api::<SelfSubjectReview>::all(client);
        let review = SelfSubjectReview::default();
        let out = self
            .bounded(api.create(&PostParams::default(), &review))
            .await?;
        let user = out.status.and_then(|s| s.user_info).unwrap_or_default();
        Ok(WhoAmI {
            username: user.username.unwrap_or_default(),
            groups: user.groups.unwrap_or_default(),
        })
    }

    /// `kubectl auth can-i VERB RESOURCE` (every namespace when `namespace` is `None`).
    pub async fn can_i(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<bool, KubeError> {
        let client = self.client().await?;
        let api = Api::<SelfSubjectAccessReview>::all(client);
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(verb.into()),
                    group: Some(group.into()),
                    resource: Some(resource.into()),
                    namespace: namespace.map(str::to_string),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let out = self
            .bounded(api.create(&PostParams::default(), &review))
            .await?;
        Ok(out.status.map(|s| s.allowed).unwrap_or(false))
    }

    /// Cluster admin: every verb on every resource of every group.
    pub async fn is_admin(&self) -> Result<bool, KubeError> {
        self.can_i("*", "*", "*", None).await
    }
}

/// Two YAML lists as one (the first's items first).
fn concat_yaml_lists(a: &str, b: &str) -> Result<String, KubeError> {
    let list = |s: &str| -> Result<Vec<serde_yaml::Value>, KubeError> {
        match serde_yaml::from_str::<serde_yaml::Value>(s) {
            Ok(serde_yaml::Value::Sequence(v)) => Ok(v),
            Ok(serde_yaml::Value::Null) => Ok(Vec::new()),
            _ => Err(KubeError::Other(
                "aws-auth holds a key that is not a YAML list; fix it before adding mappings"
                    .into(),
            )),
        }
    };
    let mut all = list(a)?;
    all.extend(list(b)?);
    serde_yaml::to_string(&all).map_err(|e| KubeError::Other(e.to_string()))
}
