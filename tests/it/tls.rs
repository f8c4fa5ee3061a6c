//! TLS: FAPI's cipher suites only (FAPI 1 Advanced §8.5, FAPI 2 §5.2.1).

use crate::harness::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::ServerName;
use std::sync::Arc;

async fn handshake(
    s: &TestServer,
    suites: Vec<rustls::SupportedCipherSuite>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> bool {
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites = suites;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&s.ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(s.base.trim_start_matches("https://"))
        .await
        .unwrap();
    connector
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .is_ok()
}

#[tokio::test]
async fn only_fapi_cipher_suites_are_accepted() {
    use rustls::crypto::ring::cipher_suite as cs;
    let s = TestServer::start().await;
    let tls12 = &[&rustls::version::TLS12];
    assert!(
        handshake(
            &s,
            vec![cs::TLS13_AES_128_GCM_SHA256],
            &[&rustls::version::TLS13]
        )
        .await,
        "TLS 1.3"
    );
    // FAPI 1 Advanced §8.5-1 lists only (EC)DHE_RSA suites for TLS 1.2 (the OpenID Foundation
    // suite's DisallowInsecureCipher offers every other suite and fails a server that takes
    // one): TLS 1.2 clients get the RSA certificate and an ECDHE_RSA suite.
    assert!(
        handshake(&s, vec![cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256], tls12).await,
        "TLS 1.2 ECDHE_RSA + AES-GCM"
    );
    assert!(
        !handshake(&s, vec![cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256], tls12).await,
        "TLS 1.2 ECDHE_ECDSA is not among FAPI 1's suites"
    );
    assert!(
        !handshake(
            &s,
            vec![cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256],
            tls12
        )
        .await,
        "TLS 1.2 CHACHA20 is not among FAPI's suites"
    );
}
