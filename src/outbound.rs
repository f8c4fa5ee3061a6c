//! The one policy for requests the server makes on a client's behalf (`jwks_uri`,
//! `request_uris`, `sector_identifier_uri`): https only, and never to a loopback, private,
//! link-local or otherwise internal address unless the operator allows it for development.
//! Without it, anyone able to register a client could make the server probe the internal
//! network (a blind port scan through `jwks_uri`).
//!
//! The address is checked twice: on the URL's host when it is an IP literal (registration and
//! before each request), and on every address a host name resolves to, inside the HTTP
//! client's resolver, so the address actually connected to is the one that was checked (a
//! name that resolves to 127.0.0.1, or starts to later, is refused too).
//!
//! Servers are authenticated by the web PKI, plus the CAs of `ca_file` when the operator gives
//! one (clients whose receivers use a private CA).

use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundPolicy {
    /// Development only: allow plain http and loopback / private / link-local targets.
    pub allow_private: bool,
    /// Least time between two fetches of one `jwks_uri` forced by a JWT its cached set cannot
    /// verify (a new `kid`): a client's key rotation is seen on first use, while JWTs with
    /// made-up `kid`s make us contact that server at most once per interval.
    pub jwks_refetch_interval_secs: u64,
    /// A PEM bundle of CAs trusted besides the web PKI for these requests (`load_ca_file`).
    pub ca_file: Option<PathBuf>,
    /// The certificates of `ca_file` (DER), read once at startup and shared by every client.
    #[serde(skip)]
    pub extra_roots: Arc<Vec<Vec<u8>>>,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        OutboundPolicy {
            allow_private: false,
            jwks_refetch_interval_secs: 10,
            ca_file: None,
            extra_roots: Default::default(),
        }
    }
}

impl OutboundPolicy {
    /// Reads `ca_file`'s certificates, once at startup: a file that is missing, unreadable or
    /// holds no certificate is an error naming the setting.
    pub fn load_ca_file(&mut self) -> Result<(), String> {
        let Some(path) = self.ca_file.as_deref() else {
            return Ok(());
        };
        self.extra_roots = Arc::new(read_pem_certificates(path)?);
        Ok(())
    }

    /// Why `uri` may not be fetched, checked on its text alone (scheme, IP-literal host).
    pub fn check_uri(&self, uri: &str) -> Result<url::Url, String> {
        let url = url::Url::parse(uri).map_err(|_| "not an absolute URL".to_string())?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain credentials".into());
        }
        match url.scheme() {
            "https" => {}
            "http" if self.allow_private => {}
            _ => return Err("must be https".into()),
        }
        let ip = match url.host() {
            None => return Err("has no host".into()),
            Some(url::Host::Domain(_)) => None,
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        };
        if let Some(ip) = ip.filter(|ip| !self.allows(*ip)) {
            return Err(format!("{ip} is not a public address"));
        }
        Ok(url)
    }

    /// Whether the server may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// An HTTP client that resolves names through this policy, follows no redirects and
    /// ignores proxy settings (a proxy would connect on our behalf, unchecked).
    pub fn http_client(&self, timeout: Duration) -> reqwest::Client {
        self.client_builder()
            .timeout(timeout)
            .build()
            .expect("an HTTP client with static settings")
    }

    fn client_builder(&self) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(PolicyResolver {
                allow_private: self.allow_private,
            }));
        for der in self.extra_roots.iter() {
            let cert = reqwest::Certificate::from_der(der).expect("checked by load_ca_file");
            builder = builder.add_root_certificate(cert);
        }
        builder
    }
}

/// The certificates (DER) of the PEM bundle at `path`; an error names `outbound.ca_file`.
fn read_pem_certificates(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    use rustls_pki_types::pem::PemObject;
    let bad = |e: String| format!("outbound.ca_file {}: {e}", path.display());
    let mut certs = Vec::new();
    for cert in
        rustls_pki_types::CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))?
    {
        let der = cert.map_err(|e| bad(e.to_string()))?.to_vec();
        reqwest::Certificate::from_der(&der).map_err(|e| bad(e.to_string()))?;
        certs.push(der);
    }
    if certs.is_empty() {
        return Err(bad("holds no certificate".into()));
    }
    Ok(certs)
}

/// The body of `res`, read chunk by chunk and refused as soon as it passes `max` bytes, so a
/// hostile or broken server cannot make us buffer without bound. The error says what failed.
pub async fn read_capped(mut res: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
        body.extend_from_slice(&chunk);
        if body.len() > max {
            return Err(format!("the body is larger than {max} bytes"));
        }
    }
    Ok(body)
}

/// Resolves host names and keeps only the addresses the policy allows.
struct PolicyResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = OutboundPolicy {
            allow_private: self.allow_private,
            ..Default::default()
        };
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                all.into_iter().filter(|a| policy.allows(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A globally routable unicast address: not loopback, private (RFC 1918, ULA fc00::/7),
/// link-local, unspecified, multicast, broadcast, CGNAT (RFC 6598), benchmarking,
/// documentation or reserved; IPv6 forms that reach an IPv4 address are judged by it.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0 // "this network", with the unspecified 0.0.0.0
        || (a == 100 && (64..128).contains(&b)) // CGNAT, RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240) // reserved
}

/// The IPv4 address an IPv6 address delivers to: IPv4-mapped (::ffff:0:0/96),
/// IPv4-compatible (::/96, deprecated; `::1` and `::` fall in 0.0.0.0/8), NAT64 (64:ff9b::/96,
/// RFC 6052) and 6to4 (2002::/16, RFC 3056).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0, 0, 0, 0, 0, 0 | 0xffff, hi, lo] | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => {
            Some(v4(hi, lo))
        }
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local, RFC 4193
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x64 && s[1] == 0xff9b) // rest of 64:ff9b::/32: NAT64 local use (RFC 8215)
        || (s[0] == 0x2001 && s[1] == 0) // Teredo (RFC 4380): a tunnel to an IPv4 host
        || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn uris_are_checked_on_scheme_and_literal_host() {
        let strict = OutboundPolicy::default();
        assert!(strict.check_uri("https://rp.example.test/jwks").is_ok());
        for bad in [
            "http://rp.example.test/jwks",
            "https://127.0.0.1/jwks",
            "https://[::1]:8443/jwks",
            "https://[::ffff:192.168.0.1]/jwks",
            "https://169.254.169.254/latest",
            "https://user:pw@rp.example.test/jwks",
            "file:///etc/passwd",
            "not a url",
        ] {
            assert!(strict.check_uri(bad).is_err(), "{bad}");
        }
        let dev = OutboundPolicy {
            allow_private: true,
            ..Default::default()
        };
        assert!(dev.check_uri("http://127.0.0.1:9/jwks").is_ok());
        assert!(dev.check_uri("ftp://127.0.0.1/jwks").is_err());
    }

    #[test]
    fn a_ca_file_that_is_missing_or_holds_no_certificate_is_an_error_naming_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        for path in [dir.path().join("missing.pem"), empty] {
            let mut policy = OutboundPolicy {
                ca_file: Some(path.clone()),
                ..Default::default()
            };
            let e = policy.load_ca_file().unwrap_err();
            assert!(e.starts_with("outbound.ca_file"), "{}: {e}", path.display());
        }
    }
}
