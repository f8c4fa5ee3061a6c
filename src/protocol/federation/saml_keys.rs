//! Our SAML SP key: the RSA key that signs AuthnRequests (SAML Bindings 3.4.4.1) and the
//! self-signed certificate of it that our SP metadata publishes (`<KeyDescriptor
//! use="signing">`). The operator's files (`federation.sp_key_file`, `sp_cert_file`) when set
//! (several nodes must share one); otherwise made once and kept in `<data_dir>/keys`.

use crate::config::federation::{FederationConfig, ProviderKind};
use std::path::Path;

/// Where a generated key and its certificate are kept, in the keys directory.
pub const KEY_FILE: &str = "saml-sp.key";
pub const CERT_FILE: &str = "saml-sp.pem";

/// The SP's private key (PKCS #8 PEM; never logged) and its certificate (PEM).
#[derive(Clone)]
pub struct SpKey {
    pub key_pem: String,
    pub cert_pem: String,
}

impl std::fmt::Debug for SpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SpKey(<redacted>)")
    }
}

/// The SP key when a SAML provider is configured: the configured files, else the pair kept in
/// `keys_dir`, made now (RSA 2048, certificate for `host`) if there is none yet.
/// `shared`: the database is shared by several nodes, each with its own keys directory.
pub fn load_or_create(
    config: &FederationConfig,
    keys_dir: &Path,
    host: &str,
    shared: bool,
) -> anyhow::Result<Option<SpKey>> {
    if !config
        .providers
        .iter()
        .any(|p| p.kind == ProviderKind::Saml)
    {
        return Ok(None);
    }
    let read = |path: &Path| {
        std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("SAML SP key: {}: {e}", path.display()))
    };
    if let (Some(key), Some(cert)) = (&config.sp_key_file, &config.sp_cert_file) {
        return Ok(Some(SpKey {
            key_pem: read(key)?,
            cert_pem: read(cert)?,
        }));
    }
    let (key, cert) = (keys_dir.join(KEY_FILE), keys_dir.join(CERT_FILE));
    if key.is_file() && cert.is_file() {
        return Ok(Some(SpKey {
            key_pem: read(&key)?,
            cert_pem: read(&cert)?,
        }));
    }
    if shared {
        // Each node would make a key of its own, and the IdP knows one certificate.
        tracing::warn!("several nodes share the database but federation.sp_key_file is unset: each node makes its own SAML SP key; set sp_key_file and sp_cert_file to one pair");
    }
    let made = generate(host)?;
    std::fs::create_dir_all(keys_dir)?;
    crate::files::write_private(&key, &made.key_pem)?;
    std::fs::write(&cert, &made.cert_pem)?;
    tracing::info!(cert = %cert.display(), "made the SAML SP signing key");
    Ok(Some(made))
}

/// A new RSA 2048 key (rsa-sha256 is what IdPs verify) and a ten-year self-signed
/// certificate: SAML metadata certificates carry a key, not a chain of trust.
fn generate(host: &str) -> anyhow::Result<SpKey> {
    let der = rustls_pki_types::PrivatePkcs8KeyDer::from(crate::jose::new_rsa_2048_pkcs8()?);
    let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&der, &rcgen::PKCS_RSA_SHA256)?;
    let key_pem = pair.serialize_pem();
    let mut params = rcgen::CertificateParams::new(vec![host.to_string()])?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{host} SAML SP"));
    params.not_before = time::OffsetDateTime::now_utc();
    params.not_after = params.not_before + time::Duration::days(3650);
    let cert = params.self_signed(&pair)?;
    Ok(SpKey {
        key_pem,
        cert_pem: cert.pem(),
    })
}
