//! A development CA (`ca.pem`, kept across runs) and a server certificate it signs for the
//! local names and the issuer's host (re-issued on every start, so a changed issuer just works).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};

pub struct DevPki {
    pub ca_path: PathBuf,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn ca_params() -> Result<CertificateParams, String> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Consentry development CA");
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(params)
}

/// Ensures `dir/ca.pem` + `dir/ca.key` exist and issues a server certificate for `hosts`.
pub fn ensure_dev_pki(dir: &Path, hosts: &[String]) -> Result<DevPki, String> {
    std::fs::create_dir_all(dir).map_err(err)?;
    let ca_path = dir.join("ca.pem");
    let ca_key_path = dir.join("ca.key");
    let (ca_pem, ca_key) = if ca_path.exists() && ca_key_path.exists() {
        let key =
            KeyPair::from_pem(&std::fs::read_to_string(&ca_key_path).map_err(err)?).map_err(err)?;
        (std::fs::read_to_string(&ca_path).map_err(err)?, key)
    } else {
        let key = KeyPair::generate().map_err(err)?;
        let cert = ca_params()?.self_signed(&key).map_err(err)?;
        crate::files::write_private(&ca_key_path, &key.serialize_pem()).map_err(err)?;
        std::fs::write(&ca_path, cert.pem()).map_err(err)?;
        (cert.pem(), key)
    };
    // The same subject and key as the stored CA certificate, so what it signs chains to it.
    let issuer = Issuer::new(ca_params()?, ca_key);

    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for h in hosts {
        if !names.contains(h) {
            names.push(h.clone());
        }
    }
    let server_key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(names).map_err(err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Consentry server");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let cert = params.signed_by(&server_key, &issuer).map_err(err)?;
    crate::files::write_private(&dir.join("server.key"), &server_key.serialize_pem())
        .map_err(err)?;
    std::fs::write(dir.join("server.pem"), cert.pem()).map_err(err)?;

    let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes()).map_err(err)?;
    let key = PrivateKeyDer::from_pem_slice(server_key.serialize_pem().as_bytes()).map_err(err)?;
    Ok(DevPki {
        ca_path,
        chain: vec![cert.der().clone(), ca_der],
        key,
    })
}
