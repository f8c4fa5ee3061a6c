//! TLS: the development PKI generated on first run, the rustls server configuration, the
//! acceptor that hands each request the peer's certificate (salvo does not expose it), and the
//! serving threads it hands connections to.

mod acceptor;
mod client_cert;
mod cores;
mod dev_pki;

pub use acceptor::{serve, ConnectionHandle, ConnectionSlot, Serving};
pub use client_cert::{from_client_cert_header, normalize_dn, CertificateNames, PeerCertificate};
pub use cores::Cores;
pub use dev_pki::{ensure_dev_pki, DevPki};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// A certificate chain and its private key.
pub type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// A rustls server configuration on the `ring` provider, HTTP/2 and HTTP/1.1 by ALPN: the
/// ECDSA identity for TLS 1.3, the RSA one for TLS 1.2 (see `fapi_provider`).
pub fn server_config(ecdsa: Identity, rsa: Identity) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(fapi_provider());
    let verifier = Arc::new(client_cert::AnyClientCertificate::new(provider.clone()));
    let certs = ByVersion {
        tls13: Arc::new(CertifiedKey::from_der(ecdsa.0, ecdsa.1, &provider)?),
        tls12: Arc::new(CertifiedKey::from_der(rsa.0, rsa.1, &provider)?),
    };
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(certs));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The certificate for the version a client will get: a client that offers any TLS 1.3 suite
/// negotiates TLS 1.3 (we prefer it) and gets the ECDSA certificate, whose handshakes are the
/// cheapest to sign; a TLS 1.2 client gets the RSA one, as its suites require.
#[derive(Debug)]
struct ByVersion {
    tls13: Arc<CertifiedKey>,
    tls12: Arc<CertifiedKey>,
}

impl ResolvesServerCert for ByVersion {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let tls13 = hello.cipher_suites().iter().any(|s| {
            matches!(
                s,
                rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
                    | rustls::CipherSuite::TLS13_AES_256_GCM_SHA384
                    | rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
            )
        });
        Some(if tls13 { &self.tls13 } else { &self.tls12 }.clone())
    }
}

/// The `ring` provider limited to the cipher suites both FAPI profiles permit: every TLS 1.3
/// suite, and on TLS 1.2 only ECDHE_RSA with AES-GCM — the suites FAPI 1 Advanced §8.5 lists
/// (its DHE ones BCP 195 advises against) and FAPI 2 §5.2.2 (BCP 195) allows. FAPI 1 permits
/// no ECDSA suite on TLS 1.2, hence the RSA certificate for TLS 1.2 clients.
fn fapi_provider() -> rustls::crypto::CryptoProvider {
    use rustls::{CipherSuite, SupportedCipherSuite};
    const TLS12_ALLOWED: [CipherSuite; 2] = [
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ];
    let mut provider = rustls::crypto::ring::default_provider();
    provider.cipher_suites.retain(|s| match s {
        SupportedCipherSuite::Tls13(_) => true,
        SupportedCipherSuite::Tls12(_) => TLS12_ALLOWED.contains(&s.suite()),
    });
    provider
}
