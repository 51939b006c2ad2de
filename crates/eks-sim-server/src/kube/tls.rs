//! TLS for the clusters' Kubernetes API: one CA per state directory (generated at first
//! use, persisted beside `sim.db` as `kube-ca.pem`, mode 0600, so a restart keeps it and
//! kubeconfigs written earlier still verify), and a server certificate for `127.0.0.1`,
//! `::1` and `localhost` signed by it at each start.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;
use std::sync::Arc;

/// File (in the state directory) holding the CA certificate and its key, PEM.
pub const CA_FILE: &str = "kube-ca.pem";
const CA_NAME: &str = "convox-sim-kubernetes-ca";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("Kubernetes CA {path}: {msg}")]
    Ca { path: String, msg: String },
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The CA clients trust and the server configuration that presents a certificate it signed.
pub struct Tls {
    /// PEM of the CA certificate (`certificateAuthority.data` is its base64).
    pub ca_pem: String,
    pub config: Arc<rustls::ServerConfig>,
}

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_NAME);
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(3650);
    Ok(p)
}

fn setup(e: impl std::fmt::Display) -> TlsError {
    TlsError::Setup(e.to_string())
}

/// Reads the CA of `dir`, creating it if there is none (several processes may race: the
/// first file linked into place wins and the others read it).
fn load_or_create_ca(dir: &Path) -> Result<(String, KeyPair), TlsError> {
    let path = dir.join(CA_FILE);
    let ca_err = |msg: String| TlsError::Ca {
        path: path.display().to_string(),
        msg,
    };
    if !path.exists() {
        let key = KeyPair::generate().map_err(setup)?;
        let cert = ca_params()
            .and_then(|p| p.self_signed(&key))
            .map_err(setup)?;
        let text = format!("{}{}", cert.pem(), key.serialize_pem());
        let tmp = dir.join(format!("{CA_FILE}.{}.tmp", std::process::id()));
        write_private(&tmp, &text).map_err(|e| ca_err(e.to_string()))?;
        // A link fails if another process got there first; theirs is then the CA.
        let _ = std::fs::hard_link(&tmp, &path);
        let _ = std::fs::remove_file(&tmp);
    }
    let text = std::fs::read_to_string(&path).map_err(|e| ca_err(e.to_string()))?;
    let cert_end = "-----END CERTIFICATE-----";
    let i = text
        .find(cert_end)
        .ok_or_else(|| ca_err("no certificate in the file".into()))?;
    let (cert_pem, key_pem) = text.split_at(i + cert_end.len());
    let key = KeyPair::from_pem(key_pem.trim()).map_err(|e| ca_err(format!("bad key: {e}")))?;
    Ok((format!("{}\n", cert_pem.trim()), key))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// The CA of the state directory `dir` and a fresh server certificate signed by it.
pub fn load(dir: &Path) -> Result<Tls, TlsError> {
    let (ca_pem, ca_key) = load_or_create_ca(dir)?;
    // The issuer is rebuilt from the same name and key: a leaf it signs names the persisted
    // CA as issuer (same subject, same key identifier) and verifies against it.
    let issuer = ca_params()
        .and_then(|p| p.self_signed(&ca_key))
        .map_err(setup)?;
    let leaf_key = KeyPair::generate().map_err(setup)?;
    let mut p = CertificateParams::new(vec!["localhost".to_string()]).map_err(setup)?;
    p.subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    p.subject_alt_names
        .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "kube-apiserver");
    p.distinguished_name = dn;
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.use_authority_key_identifier_extension = true;
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(365);
    let leaf = p.signed_by(&leaf_key, &issuer, &ca_key).map_err(setup)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![leaf.der().clone()];
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(setup)?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(setup)?;
    // HTTP/1.1 only: clients offering h2 fall back to it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem,
        config: Arc::new(config),
    })
}
