//! Client certificates (RFC 8705). The TLS layer accepts any certificate the client proves it
//! holds; whether it authenticates a client is decided per client after the handshake: chained
//! to a configured trust anchor with a matching subject (`tls_client_auth`), or registered in
//! the client's JWKS (`self_signed_tls_client_auth`).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use std::sync::Arc;

/// Asks for a client certificate, accepts any whose key signed the handshake.
#[derive(Debug)]
pub struct AnyClientCertificate {
    provider: Arc<CryptoProvider>,
}

impl AnyClientCertificate {
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        AnyClientCertificate { provider }
    }
}

impl ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        false
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The certificate chain a client presented (leaf first), from the handshake or from a
/// trusted proxy's `Client-Cert` header (RFC 9440).
#[derive(Clone, Debug)]
pub struct PeerCertificate {
    pub chain: Arc<Vec<Vec<u8>>>,
}

impl PeerCertificate {
    pub fn leaf(&self) -> &[u8] {
        self.chain.first().map(Vec::as_slice).unwrap_or_default()
    }

    /// RFC 8705 §3.1: `x5t#S256`, the base64url SHA-256 of the DER certificate.
    pub fn thumbprint(&self) -> String {
        URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, self.leaf()))
    }

    /// The leaf as it appears in a JWK's `x5c` (standard base64 DER).
    pub fn x5c(&self) -> String {
        STANDARD.encode(self.leaf())
    }

    /// Whether the chain leads to one of `roots` (RFC 8705 §2.1.1, PKI method).
    pub fn chains_to(&self, roots: &RootCertStore) -> bool {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let Ok(verifier) =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots.clone()), provider).build()
        else {
            return false;
        };
        let leaf = CertificateDer::from(self.leaf().to_vec());
        let intermediates: Vec<CertificateDer> = self
            .chain
            .iter()
            .skip(1)
            .map(|c| CertificateDer::from(c.clone()))
            .collect();
        verifier
            .verify_client_cert(&leaf, &intermediates, UnixTime::now())
            .is_ok()
    }

    /// The subject DN (RFC 4514 string) and subject alternative names of the leaf.
    pub fn names(&self) -> Option<CertificateNames> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(self.leaf()).ok()?;
        let mut names = CertificateNames {
            subject_dn: rfc4514_subject(cert.subject())?,
            ..Default::default()
        };
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for n in &san.value.general_names {
                match n {
                    GeneralName::DNSName(d) => names.dns.push(d.to_string()),
                    GeneralName::URI(u) => names.uri.push(u.to_string()),
                    GeneralName::RFC822Name(e) => names.email.push(e.to_string()),
                    GeneralName::IPAddress(ip) => {
                        if let Some(addr) = ip_from_bytes(ip) {
                            names.ip.push(addr);
                        }
                    }
                    _ => {}
                }
            }
        }
        Some(names)
    }
}

#[derive(Debug, Default)]
pub struct CertificateNames {
    pub subject_dn: String,
    pub dns: Vec<String>,
    pub uri: Vec<String>,
    pub ip: Vec<String>,
    pub email: Vec<String>,
}

/// The subject as RFC 4514 §2.1 writes a DN: the last RDN of the certificate's sequence first
/// (a certificate issued for `/O=Bank/CN=app` is `CN=app,O=Bank`), the form
/// `tls_client_auth_subject_dn` is registered in (RFC 8705 §2.1.2).
fn rfc4514_subject(subject: &x509_parser::x509::X509Name<'_>) -> Option<String> {
    let mut reversed: Vec<_> = subject.iter_rdn().cloned().collect();
    reversed.reverse();
    let name = x509_parser::x509::X509Name::new(reversed, subject.as_raw());
    Some(normalize_dn(
        &name
            .to_string_with_registry(x509_parser::objects::oid_registry())
            .ok()?,
    ))
}

/// DNs compare without the spaces around separators (`CN=a, O=b` equals `CN=a,O=b`, and
/// `A=1 + B=2` equals `A=1+B=2`).
pub fn normalize_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| rdn.split('+').map(str::trim).collect::<Vec<_>>().join("+"))
        .collect::<Vec<_>>()
        .join(",")
}

fn ip_from_bytes(b: &[u8]) -> Option<String> {
    match b.len() {
        4 => Some(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
        16 => {
            let arr: [u8; 16] = b.try_into().ok()?;
            Some(std::net::Ipv6Addr::from(arr).to_string())
        }
        _ => None,
    }
}

/// Reads an RFC 9440 `Client-Cert` header value (`:base64-DER:`).
pub fn from_client_cert_header(value: &str) -> Option<PeerCertificate> {
    let inner = value.trim().strip_prefix(':')?.strip_suffix(':')?;
    let der = STANDARD.decode(inner).ok()?;
    Some(PeerCertificate {
        chain: Arc::new(vec![der]),
    })
}
