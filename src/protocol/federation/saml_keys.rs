//! Our SAML SP key: the RSA key that signs AuthnRequests (SAML Bindings 3.4.4.1) and the
//! self-signed certificate of it that our SP metadata publishes (`<KeyDescriptor
//! use="signing">`). The operator's files (`federation.sp_key_file`, `sp_cert_file`) when set;
//! otherwise one pair in the database (table `saml_sp_key`), the private key sealed with the
//! data key as the signing keys are (`keys`), so that every node over the database publishes
//! the one certificate the IdP registered and signs with its key.

use crate::config::federation::{FederationConfig, ProviderKind};
use crate::sealing::Sealer;
use crate::store::saml_sp_key::SealedSpKey;
use crate::store::Store;
use std::path::Path;

/// Where an earlier version kept the generated key and its certificate, in the keys directory.
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

/// The SP key when a SAML provider is configured: the configured files, else the database's
/// pair, stored now if there is none yet (the first node to store one wins; the others read
/// it).
pub async fn load_or_create(
    config: &FederationConfig,
    store: &Store,
    sealer: &Sealer,
    keys_dir: &Path,
    host: &str,
    now: i64,
) -> anyhow::Result<Option<SpKey>> {
    if !config
        .providers
        .iter()
        .any(|p| p.kind == ProviderKind::Saml)
    {
        return Ok(None);
    }
    if let (Some(key), Some(cert)) = (&config.sp_key_file, &config.sp_cert_file) {
        return Ok(Some(SpKey {
            key_pem: read(key)?,
            cert_pem: read(cert)?,
        }));
    }
    if let Some(key) = load(store, sealer).await? {
        return Ok(Some(key));
    }
    // An installation of an earlier version made its pair in the keys directory, and its IdP
    // registered that certificate: store that pair rather than a new one, so the registration
    // stays valid. The files are not read again once the database holds the key.
    let (key_file, cert_file) = (keys_dir.join(KEY_FILE), keys_dir.join(CERT_FILE));
    let (key, imported) = if key_file.is_file() && cert_file.is_file() {
        let key = SpKey {
            key_pem: read(&key_file)?,
            cert_pem: read(&cert_file)?,
        };
        (key, true)
    } else {
        (generate(host)?, false)
    };
    let sealed = SealedSpKey {
        sealed_key: sealer.seal(&key.key_pem),
        cert_pem: key.cert_pem,
    };
    let stored = store
        .write(move |tx| tx.saml_sp_key().insert_if_absent(&sealed, now))
        .await?;
    if stored && imported {
        tracing::info!(
            file = %key_file.display(),
            "SAML SP key imported into the database; the file is no longer read"
        );
    } else if stored {
        tracing::info!("SAML SP key generated and stored in the database");
    }
    // Ours, or the one another node stored first.
    load(store, sealer)
        .await?
        .map(Some)
        .ok_or_else(|| anyhow::anyhow!("the SAML SP key was stored but cannot be read back"))
}

/// The key the database holds, if any.
async fn load(store: &Store, sealer: &Sealer) -> anyhow::Result<Option<SpKey>> {
    let Some(row) = store.read(|tx| tx.saml_sp_key().get()).await? else {
        return Ok(None);
    };
    let key_pem = sealer.open(&row.sealed_key).ok_or_else(|| {
        anyhow::anyhow!(
            "the SAML SP key in the database is sealed under another data key: give this node \
             the data key of the others (--data-key FILE, or keys/data.key)"
        )
    })?;
    Ok(Some(SpKey {
        key_pem,
        cert_pem: row.cert_pem,
    }))
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("SAML SP key: {}: {e}", path.display()))
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
