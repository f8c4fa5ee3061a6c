//! A development CA (`ca.pem`, kept across runs) and a server certificate it signs for the
//! local names and the issuer's host (re-issued on every start, so a changed issuer just works).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};

pub struct DevPki {
    pub ca_path: PathBuf,
    /// The ECDSA P-256 server certificate (TLS 1.3) and its chain.
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The same names under an RSA key, for TLS 1.2 clients: FAPI 1 Advanced §8.5 permits
    /// only RSA suites on TLS 1.2. Kept in memory only; re-issued on every start.
    pub rsa_chain: Vec<CertificateDer<'static>>,
    pub rsa_key: PrivateKeyDer<'static>,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The CA's common name: unique to this data dir, so two instances' CAs in one trust bundle
/// are told apart by name as well as by key identifier.
fn new_ca_name() -> String {
    let suffix: [u8; 8] = rand_bytes();
    let hex: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    format!("Consentry development CA {hex}")
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    use ring::rand::SecureRandom;
    let mut out = [0u8; N];
    ring::rand::SystemRandom::new()
        .fill(&mut out)
        .expect("the system random source works");
    out
}

/// A CA certificate's common name (CAs made before names were unique all share one).
fn common_name(der: &[u8]) -> Result<String, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(err)?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or("the certificate has no common name")?;
    Ok(cn.to_string())
}

/// The CA's parameters; with the stored name, what it signs chains to the stored certificate.
/// Its subject key identifier (SHA-256 of the key) is what leaves name as their authority key.
fn ca_params(name: &str) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_identifier_method = KeyIdMethod::Sha256;
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
    let (ca_der, ca_key, ca_name) = if ca_path.exists() && ca_key_path.exists() {
        // A damaged stored CA is a clear start-up error naming the file, never a panic.
        let in_file = |path: &Path| {
            let path = path.display().to_string();
            move |e: String| {
                format!("{path}: {e} (remove ca.pem and ca.key to make a new development CA)")
            }
        };
        let key = std::fs::read_to_string(&ca_key_path)
            .map_err(err)
            .and_then(|pem| KeyPair::from_pem(&pem).map_err(err))
            .map_err(in_file(&ca_key_path))?;
        let der = CertificateDer::from_pem_file(&ca_path)
            .map_err(err)
            .map_err(in_file(&ca_path))?;
        let name = common_name(&der).map_err(in_file(&ca_path))?;
        (der, key, name)
    } else {
        let key = KeyPair::generate().map_err(err)?;
        let name = new_ca_name();
        let cert = ca_params(&name)?.self_signed(&key).map_err(err)?;
        crate::files::write_private(&ca_key_path, &key.serialize_pem()).map_err(err)?;
        std::fs::write(&ca_path, cert.pem()).map_err(err)?;
        (cert.der().clone(), key, name)
    };
    // The same subject and key as the stored CA certificate, so what it signs chains to it.
    let issuer = Issuer::new(ca_params(&ca_name)?, ca_key);

    let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for h in hosts {
        if !names.contains(h) {
            names.push(h.clone());
        }
    }
    let server_key = KeyPair::generate().map_err(err)?;
    let cert = server_params(&names)?
        .signed_by(&server_key, &issuer)
        .map_err(err)?;
    crate::files::write_private(&dir.join("server.key"), &server_key.serialize_pem())
        .map_err(err)?;
    std::fs::write(dir.join("server.pem"), cert.pem()).map_err(err)?;
    let key = PrivateKeyDer::from_pem_slice(server_key.serialize_pem().as_bytes()).map_err(err)?;

    let rsa_der = crate::jose::new_rsa_2048_pkcs8().map_err(err)?;
    let rsa_pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(rsa_der);
    let rsa_pair =
        KeyPair::from_pkcs8_der_and_sign_algo(&rsa_pkcs8, &rcgen::PKCS_RSA_SHA256).map_err(err)?;
    let rsa_cert = server_params(&names)?
        .signed_by(&rsa_pair, &issuer)
        .map_err(err)?;
    Ok(DevPki {
        ca_path,
        chain: vec![cert.der().clone(), ca_der.clone()],
        key,
        rsa_chain: vec![rsa_cert.der().clone(), ca_der],
        rsa_key: PrivateKeyDer::Pkcs8(rsa_pkcs8),
    })
}

/// A server certificate's fields for `names`.
fn server_params(names: &[String]) -> Result<CertificateParams, String> {
    let mut params = CertificateParams::new(names.to_vec()).map_err(err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Consentry server");
    params.distinguished_name = dn;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    // RFC 5280 §4.2.1.1-2: key identifiers, so a verifier finds this CA among others.
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_identifier_method = KeyIdMethod::Sha256;
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_damaged_stored_ca_is_an_error_naming_the_file() {
        for (file, text) in [
            ("ca.pem", "not a certificate"),
            (
                "ca.pem",
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            ),
            ("ca.key", "not a key"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            ensure_dev_pki(dir.path(), &[]).unwrap();
            std::fs::write(dir.path().join(file), text).unwrap();
            let e = ensure_dev_pki(dir.path(), &[]).err().expect(file);
            assert!(e.contains(file), "{e}");
        }
    }
}
