//! Client certificates (RFC 8705) and the RFC 9440 `Client-Cert` header: the header value
//! (`tls::from_client_cert_header`), and the DER certificate under it as the protocol reads it
//! (`PeerCertificate::names`, `chains_to`, `thumbprint`, `x5c`).

use super::engine::{run, Rng};
use super::mutate;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use consentry::tls::{from_client_cert_header, PeerCertificate};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use std::sync::Arc;

/// A CA and a client certificate it issued (with every SAN type the provider reads), as DER.
fn pki() -> (rustls::RootCertStore, Vec<u8>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name.push(DnType::CommonName, "Fuzz CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["client.example.test".to_string()]).unwrap();
    leaf.subject_alt_names.extend([
        SanType::URI("https://client.example.test/".try_into().unwrap()),
        SanType::Rfc822Name("ops@example.test".try_into().unwrap()),
        SanType::IpAddress("192.0.2.7".parse().unwrap()),
        SanType::IpAddress("2001:db8::7".parse().unwrap()),
    ]);
    leaf.distinguished_name
        .push(DnType::CommonName, "client, \"quoted\"");
    leaf.distinguished_name
        .push(DnType::OrganizationName, "Partner Ltd");
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let der = leaf
        .signed_by(&KeyPair::generate().unwrap(), &issuer)
        .unwrap()
        .der()
        .to_vec();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_cert.der().clone()).unwrap();
    (roots, der)
}

/// DER edits that keep the structure plausible: a length byte made huge or zero, a tag
/// changed, bytes flipped, truncated, or extended.
fn mutate_der(rng: &mut Rng, der: &mut Vec<u8>) {
    match rng.below(4) {
        0 if der.len() > 4 => {
            let at = rng.below(der.len() - 4);
            let len: &[u8] = rng.pick(&[
                &[0x84, 0xFF, 0xFF, 0xFF, 0xFF][..],
                &[0x80],
                &[0x00],
                &[0x81, 0x01],
                &[0xFF],
            ]);
            der.splice(at..at + 1, len.iter().copied());
        }
        1 if !der.is_empty() => {
            let at = rng.below(der.len());
            der[at] = rng.pick(&[
                0x30, 0x31, 0x02, 0x03, 0x04, 0x05, 0x06, 0x0c, 0x13, 0x17, 0xa0, 0xa3, 0x81, 0x82,
                0x86, 0x87,
            ]);
        }
        _ => mutate::bytes(rng, der),
    }
}

/// RFC 9440 §2 and RFC 8705: a malformed header is ignored (no certificate), a malformed or
/// altered certificate names nothing and chains to nothing; neither ever panics.
#[tokio::test]
async fn fuzz_client_certificates() {
    let (roots, der) = pki();
    let original = PeerCertificate {
        chain: Arc::new(vec![der.clone()]),
    };
    assert!(original.chains_to(&roots), "the valid certificate chains");
    assert!(original
        .names()
        .is_some_and(|n| n.ip.len() == 2 && n.email.len() == 1));
    run("client_certificates", async |case| {
        let rng = &mut case.rng;
        let mut cert = der.clone();
        if !rng.one_in(8) {
            for _ in 0..1 + rng.below(3) {
                mutate_der(rng, &mut cert);
            }
        }
        if rng.one_in(10) {
            cert = rng.bytes(300);
        }
        let mut header = format!(":{}:", STANDARD.encode(&cert));
        if rng.one_in(4) {
            header = mutate::string(rng, &header);
        }
        case.inputs.note("Client-Cert", &header);
        let Some(peer) = from_client_cert_header(&header) else {
            return;
        };
        let _ = peer.thumbprint();
        let _ = peer.x5c();
        let _ = peer.names();
        // A second, intermediate certificate: the mutated one after the valid leaf.
        let chained = PeerCertificate {
            chain: Arc::new(vec![der.clone(), peer.leaf().to_vec()]),
        };
        let _ = chained.chains_to(&roots);
        if peer.leaf() != der.as_slice() {
            assert!(
                !peer.chains_to(&roots),
                "an altered certificate chains to the trust anchor"
            );
        }
    })
    .await;
}
