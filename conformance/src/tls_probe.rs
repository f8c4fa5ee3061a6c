//! The suite's TLS probes (`EnsureTLS12WithFAPICiphers`, `DisallowTLS10`, `DisallowTLS11`,
//! `EnsureTLS13OrLater`, `EnsureTLS13PreferredOverTLS12`, `DisallowInsecureCipher`,
//! `RequireOnlyBCP195RecommendedCiphersForTLS12`, `CheckForBCP195InsecureFAPICiphers`).
//!
//! The suite offers old protocol versions and weak suites with BouncyCastle and stops at the
//! server's first answer. rustls cannot offer either, so the runner writes the ClientHello
//! itself (RFC 5246 §7.4.1.2, RFC 8446 §4.1.2) and reads the first record back: a ServerHello
//! says what the server agreed to, an alert (or a closed connection) that it refused.

use crate::log::Log;
use crate::report::Outcome;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const TLS10: u16 = 0x0301;
pub const TLS11: u16 = 0x0302;
pub const TLS12: u16 = 0x0303;
pub const TLS13: u16 = 0x0304;

/// TLS 1.3's mandatory suites (FAPITLSClient.TLS_1_3_CIPHERS).
const TLS13_SUITES: [u16; 3] = [0x1302, 0x1303, 0x1301];

/// The four TLS 1.2 suites FAPI 1 Advanced §8.5 permits: DHE_RSA and ECDHE_RSA with AES-GCM.
const FAPI_TLS12_SUITES: [u16; 4] = [0x009e, 0xc02f, 0x009f, 0xc030];

/// BCP 195 (RFC 9325 §4.2) TLS 1.2 suites, and the IANA registry's Recommended ones the suite
/// adds (FAPITLSClient.getTLS12Ciphers(true)).
const BCP195_TLS12_SUITES: [u16; 14] = [
    0xc02f, 0xc030, 0xc02b, 0xc02c, // ECDHE_RSA / ECDHE_ECDSA with AES-GCM
    0x009e, 0x009f, // DHE_RSA with AES-GCM
    0xcca8, 0xcca9, 0xccaa, // ECDHE_RSA, ECDHE_ECDSA, DHE_RSA with CHACHA20_POLY1305
    0x00aa, 0x00ab, 0xccac, 0xccad, 0xd001, // (EC)DHE_PSK AEAD suites
];

/// The DHE suites BCP 195 warns about (CheckForBCP195InsecureFAPICiphers).
const DHE_GCM_SUITES: [u16; 2] = [0x009e, 0x009f];

/// The cipher suites a general TLS library knows (the suite reflects on BouncyCastle's list):
/// AEAD, CBC, RC4, 3DES, NULL and export-grade suites over RSA, DHE, ECDHE, PSK, with RSA and
/// ECDSA certificates. Not exhaustive, as the suite itself says.
const KNOWN_TLS12_SUITES: [u16; 62] = [
    0x0001, 0x0002, 0x0004, 0x0005, 0x000a, 0x0016, 0x0013, 0x002f, 0x0033, 0x0032, 0x0035, 0x0039,
    0x0038, 0x003c, 0x003d, 0x0067, 0x006b, 0x0040, 0x006a, 0x009c, 0x009d, 0x009e, 0x009f, 0x00a2,
    0x00a3, 0x0041, 0x0084, 0x00ba, 0x00c0, 0xc006, 0xc007, 0xc008, 0xc009, 0xc00a, 0xc010, 0xc011,
    0xc012, 0xc013, 0xc014, 0xc023, 0xc024, 0xc027, 0xc028, 0xc02b, 0xc02c, 0xc02f, 0xc030, 0xcca8,
    0xcca9, 0xccaa, 0xc09c, 0xc09d, 0xc0ac, 0xc0ad, 0xc0ae, 0xc0af, 0x008c, 0x008d, 0x00a8, 0x00a9,
    0xc072, 0xc076,
];

/// Where the probes connect: an endpoint's host and port.
#[derive(Debug, Clone)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

impl Target {
    pub fn of(url: &str) -> Option<Target> {
        let u = url::Url::parse(url).ok()?;
        (u.scheme() == "https").then_some(())?;
        Some(Target {
            host: u.host_str()?.trim_matches(['[', ']']).to_string(),
            port: u.port_or_known_default()?,
        })
    }
    fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// What the server answered a ClientHello with.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// It agreed: the negotiated version and suite.
    Hello { version: u16, suite: u16 },
    /// A fatal alert (40 handshake_failure, 70 protocol_version, ...).
    Alert(u8),
    /// The connection was closed or reset without an answer.
    Closed,
    /// Anything else (no connection, garbage): the probe could not tell.
    Broken(String),
}

const HANDSHAKE_FAILURE: u8 = 40;
const PROTOCOL_VERSION: u8 = 70;

fn refused(a: &Answer) -> bool {
    matches!(
        a,
        Answer::Alert(HANDSHAKE_FAILURE | PROTOCOL_VERSION) | Answer::Closed
    )
}

/// Offers `versions` (highest first) and `suites`; reads the server's first answer.
pub async fn hello(target: &Target, versions: &[u16], suites: &[u16]) -> Answer {
    let attempt = async {
        let mut tcp = tokio::net::TcpStream::connect(target.addr()).await?;
        tcp.write_all(&client_hello(&target.host, versions, suites))
            .await?;
        read_answer(&mut tcp).await
    };
    match tokio::time::timeout(Duration::from_secs(15), attempt).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) if is_reset(&e) => Answer::Closed,
        Ok(Err(e)) => Answer::Broken(e.to_string()),
        Err(_) => Answer::Broken("no answer within 15 s".into()),
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe
    )
}

async fn read_answer(tcp: &mut tokio::net::TcpStream) -> std::io::Result<Answer> {
    let mut head = [0u8; 5];
    tcp.read_exact(&mut head).await?;
    let len = u16::from_be_bytes([head[3], head[4]]) as usize;
    let mut body = vec![0u8; len];
    tcp.read_exact(&mut body).await?;
    Ok(match head[0] {
        21 if body.len() >= 2 => Answer::Alert(body[1]),
        22 => parse_server_hello(&body)
            .unwrap_or_else(|| Answer::Broken("an unreadable ServerHello".into())),
        t => Answer::Broken(format!("a record of type {t}")),
    })
}

/// The version and suite of a ServerHello (RFC 8446 §4.1.3: the `supported_versions`
/// extension, when present, holds the real version).
fn parse_server_hello(b: &[u8]) -> Option<Answer> {
    let mut r = Reader(b);
    (r.u8()? == 2).then_some(())?;
    r.take(3)?;
    let legacy = r.u16()?;
    r.take(32)?;
    let sid = r.u8()? as usize;
    r.take(sid)?;
    let suite = r.u16()?;
    r.u8()?;
    let mut version = legacy;
    if let Some(ext_len) = r.u16() {
        let mut ext = Reader(r.take(ext_len as usize)?);
        while let (Some(kind), Some(len)) = (ext.u16(), ext.u16()) {
            let data = ext.take(len as usize)?;
            if kind == 0x002b && data.len() == 2 {
                version = u16::from_be_bytes([data[0], data[1]]);
            }
        }
    }
    Some(Answer::Hello { version, suite })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        (self.0.len() >= n).then(|| {
            let (a, b) = self.0.split_at(n);
            self.0 = b;
            a
        })
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

fn with_u16_len(body: Vec<u8>) -> Vec<u8> {
    let mut out = (body.len() as u16).to_be_bytes().to_vec();
    out.extend(body);
    out
}

fn extension(kind: u16, body: Vec<u8>) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend(with_u16_len(body));
    out
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .expect("the system random source works");
    b
}

/// A ClientHello record offering `versions` (highest first) and `suites`.
fn client_hello(host: &str, versions: &[u16], suites: &[u16]) -> Vec<u8> {
    let tls13 = versions.contains(&TLS13);
    let legacy_version = versions.iter().copied().filter(|v| *v <= TLS12).max();
    let mut ext = Vec::new();
    // RFC 6066 §3: SNI carries DNS names only, never an address literal.
    if host.parse::<std::net::IpAddr>().is_err() {
        let mut name = vec![0u8];
        name.extend(with_u16_len(host.as_bytes().to_vec()));
        ext.extend(extension(0x0000, with_u16_len(name)));
    }
    // supported_groups x25519, secp256r1, secp384r1; ec_point_formats uncompressed.
    let groups: Vec<u8> = [0x001du16, 0x0017, 0x0018]
        .iter()
        .flat_map(|g| g.to_be_bytes())
        .collect();
    ext.extend(extension(0x000a, with_u16_len(groups)));
    ext.extend(extension(0x000b, vec![1, 0]));
    let schemes: Vec<u8> = [
        0x0403u16, 0x0503, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0807,
    ]
    .iter()
    .flat_map(|s| s.to_be_bytes())
    .collect();
    ext.extend(extension(0x000d, with_u16_len(schemes)));
    if tls13 {
        let list: Vec<u8> = versions.iter().flat_map(|v| v.to_be_bytes()).collect();
        let mut sv = vec![list.len() as u8];
        sv.extend(list);
        ext.extend(extension(0x002b, sv));
        // Any 32 bytes are an X25519 public key; the probe never finishes the handshake.
        let mut share = 0x001du16.to_be_bytes().to_vec();
        share.extend(with_u16_len(random_bytes(32)));
        ext.extend(extension(0x0033, with_u16_len(share)));
    }
    let mut hello = legacy_version.unwrap_or(TLS12).to_be_bytes().to_vec();
    hello.extend(random_bytes(32));
    hello.push(32);
    hello.extend(random_bytes(32));
    hello.extend(with_u16_len(
        suites.iter().flat_map(|s| s.to_be_bytes()).collect(),
    ));
    hello.extend([1, 0]);
    hello.extend(with_u16_len(ext));
    let mut handshake = vec![1u8];
    handshake.extend(&(hello.len() as u32).to_be_bytes()[1..]);
    handshake.extend(hello);
    let mut record = vec![22u8];
    // RFC 8446 §5.1: the first record says TLS 1.0 for the sake of old middleboxes.
    record.extend(TLS10.to_be_bytes());
    record.extend(with_u16_len(handshake));
    record
}

fn name(version: u16) -> &'static str {
    match version {
        TLS10 => "TLS 1.0",
        TLS11 => "TLS 1.1",
        TLS12 => "TLS 1.2",
        TLS13 => "TLS 1.3",
        _ => "an unknown version",
    }
}

/// Which TLS 1.2 suites a profile permits.
#[derive(Clone, Copy, PartialEq)]
pub enum Ciphers {
    /// FAPI 1 Advanced §8.5.
    Fapi1,
    /// FAPI 2 §5.2.2: BCP 195.
    Bcp195,
}

impl Ciphers {
    fn tls12(self) -> &'static [u16] {
        match self {
            Ciphers::Fapi1 => &FAPI_TLS12_SUITES,
            Ciphers::Bcp195 => &BCP195_TLS12_SUITES,
        }
    }
    fn offered(self) -> Vec<u16> {
        let mut v = self.tls12().to_vec();
        v.extend(TLS13_SUITES);
        v
    }
}

/// The suite's checkEndpointTLS block for one endpoint, with the requirement each check names.
/// `insecure_check` is the FAPI 1 `DisallowInsecureCipher` or the FAPI 2
/// `RequireOnlyBCP195RecommendedCiphersForTLS12`; `None` where the suite runs neither (the FAPI 2
/// authorization endpoint).
pub async fn check_endpoint(
    log: &mut Log,
    target: &Target,
    ciphers: Ciphers,
    reqs: &[&str],
    insecure_check: Option<&str>,
    bcp195_warning: bool,
) {
    let (ensure, version_reqs) = match ciphers {
        Ciphers::Fapi1 => ("EnsureTLS12WithFAPICiphers", reqs),
        Ciphers::Bcp195 => ("EnsureTLS12RequireBCP195Ciphers", reqs),
    };
    let a = hello(target, &[TLS13, TLS12], &ciphers.offered()).await;
    log.check(
        ensure,
        Outcome::Failure,
        version_reqs,
        match a {
            Answer::Hello { version, .. } if version == TLS12 || version == TLS13 => {
                Ok(format!("Server agreed to {}", name(version)))
            }
            other => Err(format!(
                "Failed to make a TLS 1.2 or 1.3 connection: {other:?}"
            )),
        },
    );
    for (condition, version) in [("DisallowTLS10", TLS10), ("DisallowTLS11", TLS11)] {
        let mut offered = ciphers.offered();
        offered.extend(KNOWN_TLS12_SUITES);
        let a = hello(target, &[version], &offered).await;
        log.check(
            condition,
            Outcome::Failure,
            version_reqs,
            disallowed(&a, version),
        );
    }
    let a = hello(target, &[TLS13], &TLS13_SUITES).await;
    let tls13 = matches!(a, Answer::Hello { version: TLS13, .. });
    log.check(
        "EnsureTLS13OrLater",
        Outcome::Warning,
        &["RFC9325-3.1.1"],
        if tls13 {
            Ok("Server agreed to TLS 1.3".into())
        } else {
            Err(format!("Server does not support TLS 1.3: {a:?}"))
        },
    );
    if tls13 {
        let a = hello(target, &[TLS13, TLS12], &ciphers.offered()).await;
        log.check(
            "EnsureTLS13PreferredOverTLS12",
            Outcome::Failure,
            &["RFC9325-3.1.1"],
            match a {
                Answer::Hello { version: TLS13, .. } => Ok("Server agreed to TLS 1.3".into()),
                other => Err(format!(
                    "Server negotiated TLS 1.2 when TLS 1.3 was available: {other:?}"
                )),
            },
        );
    }
    if let Some(condition) = insecure_check {
        let allowed = ciphers.tls12();
        let insecure: Vec<u16> = KNOWN_TLS12_SUITES
            .into_iter()
            .filter(|s| !allowed.contains(s))
            .collect();
        let r = only_permitted_suites(target, &insecure).await;
        log.check(condition, Outcome::Failure, reqs, r);
    }
    if bcp195_warning {
        let r = only_permitted_suites(target, &DHE_GCM_SUITES).await;
        log.check(
            "CheckForBCP195InsecureFAPICiphers",
            Outcome::Warning,
            &["RFC9325A-A", "RFC9325-4.2"],
            r,
        );
    }
}

/// One of the suite's "... endpoint TLS test" blocks; an endpoint the server does not have is
/// skipped with an INFO, as `skipIfMissing` does.
pub async fn endpoint_block(
    log: &mut Log,
    block: &str,
    url: Option<String>,
    ciphers: Ciphers,
    reqs: &[&str],
    insecure_check: Option<&str>,
    bcp195_warning: bool,
) {
    log.block(block);
    match url.as_deref().and_then(Target::of) {
        Some(t) => check_endpoint(log, &t, ciphers, reqs, insecure_check, bcp195_warning).await,
        None => log.info(
            "ExtractTLSTestValuesFromServerConfiguration",
            format!("no https endpoint to probe ({url:?}): skipped"),
        ),
    }
}

fn disallowed(a: &Answer, version: u16) -> Result<String, String> {
    match a {
        Answer::Hello { version: v, .. } if *v == version => Err(format!(
            "The server accepted a {} connection. This is not permitted by the specification.",
            name(version)
        )),
        Answer::Hello { version: v, .. } => Err(format!(
            "Server used different TLS version than requested: {}",
            name(*v)
        )),
        a if refused(a) => Ok(format!(
            "Server refused {} handshake ({a:?})",
            name(version)
        )),
        a => Err(format!(
            "Failed to make TLS connection, but in a different way than expected: {a:?}"
        )),
    }
}

/// AbstractCheckInsecureCiphers: when the server speaks TLS 1.2 at all, a TLS 1.2 hello
/// offering only `insecure` suites must be refused.
async fn only_permitted_suites(target: &Target, insecure: &[u16]) -> Result<String, String> {
    let mut defaults = KNOWN_TLS12_SUITES.to_vec();
    defaults.retain(|s| !DHE_GCM_SUITES.contains(s));
    match hello(target, &[TLS12], &defaults).await {
        Answer::Hello { .. } => {}
        a if refused(&a) => {
            return Ok(
                "Server does not support TLS 1.2; insecure-cipher check is not applicable.".into(),
            )
        }
        a => return Err(format!("Failed to probe TLS 1.2 support: {a:?}")),
    }
    match hello(target, &[TLS12], insecure).await {
        Answer::Hello { suite, .. } => Err(format!(
            "Server accepted a cipher that is not on the list of permitted ciphers: 0x{suite:04x}"
        )),
        a if refused(&a) => Ok(
            "The TLS handshake was rejected when trying to connect with disallowed ciphers.".into(),
        ),
        a => Err(format!(
            "Failed to make TLS connection, but in a different way than expected: {a:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls13_server_hello_is_read_from_its_supported_versions() {
        let mut b = vec![2u8, 0, 0, 0];
        b.extend([0x03, 0x03]);
        b.extend([7u8; 32]);
        b.push(0);
        b.extend([0x13, 0x01]);
        b.push(0);
        b.extend(with_u16_len(extension(0x002b, vec![0x03, 0x04])));
        assert_eq!(
            parse_server_hello(&b),
            Some(Answer::Hello {
                version: TLS13,
                suite: 0x1301
            })
        );
    }

    #[test]
    fn the_client_hello_offers_what_it_is_asked_to() {
        let h = client_hello("example.com", &[TLS11], &[0x002f]);
        assert_eq!(h[0], 22);
        // Handshake ClientHello with client_version TLS 1.1 and the one suite.
        assert_eq!(h[5], 1);
        assert_eq!(&h[9..11], &[0x03, 0x02]);
        let suites_at = 9 + 2 + 32 + 1 + 32;
        assert_eq!(&h[suites_at..suites_at + 4], &[0, 2, 0x00, 0x2f]);
        assert!(!client_hello("127.0.0.1", &[TLS12], &[0xc02f])
            .windows(11)
            .any(|w| w == b"127.0.0.1\0\0"));
    }
}
