//! Mutual TLS client authentication and certificate-bound tokens (RFC 8705), with client
//! certificates made in the test.

use crate::harness::*;
use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::{json, Value};

/// A client certificate and its key, as PEM.
pub struct ClientCert {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl ClientCert {
    pub fn thumbprint(&self) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(ring::digest::digest(&ring::digest::SHA256, &self.der))
    }
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }
    fn x5c(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.der)
    }
    /// A JWKS holding this certificate (for self_signed_tls_client_auth).
    pub fn jwks(&self) -> Value {
        json!({"keys": [{"kty": "EC", "crv": "P-256", "use": "sig", "x5c": [self.x5c()],
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})
    }
}

struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl TestCa {
    fn new() -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "Test partner CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn issue(&self, cn: &str, sans: &[&str]) -> ClientCert {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        // The usual order: the organisation, then the common name last (so its RFC 4514
        // string is `CN=...,O=Partner Ltd`).
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "Partner Ltd");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        ClientCert {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

pub fn self_signed(cn: &str) -> ClientCert {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    ClientCert {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
        der: cert.der().to_vec(),
    }
}

/// An HTTPS client presenting `cert`.
pub fn with_cert(s: &TestServer, cert: &ClientCert) -> reqwest::Client {
    let identity =
        reqwest::Identity::from_pem(format!("{}{}", cert.cert_pem, cert.key_pem).as_bytes())
            .unwrap();
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&s.ca_pem).unwrap())
        .identity(identity)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn start_with_ca(ca: &TestCa) -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("partner-ca.pem");
    std::fs::write(&path, &ca.pem).unwrap();
    let s = TestServer::start_with(|c| c.mtls_trust_anchors = Some(path)).await;
    (s, dir)
}

async fn client_credentials(
    s: &TestServer,
    http: &reqwest::Client,
    client_id: &str,
) -> (u16, Value) {
    let res = http
        .post(s.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("scope", "accounts:read"),
        ])
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

fn mtls_meta(extra: Value) -> Value {
    let mut m =
        json!({"grant_types": ["client_credentials"], "response_types": [], "redirect_uris": []});
    for (k, v) in extra.as_object().unwrap() {
        m[k] = v.clone();
    }
    m
}

#[tokio::test]
async fn tls_client_auth_by_subject_dn_and_san() {
    // RFC 8705 §2.1: PKI method, certificate chained to a trust anchor with the registered subject.
    let ca = TestCa::new();
    let (s, _dir) = start_with_ca(&ca).await;
    let by_dn = s
        .client(mtls_meta(json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=partner-one, O=Partner Ltd"})))
        .await;
    let by_dns = s
        .client(mtls_meta(json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_san_dns": "api.partner.example"})))
        .await;
    let good = ca.issue("partner-one", &["api.partner.example"]);
    let (status, body) = client_credentials(&s, &with_cert(&s, &good), &by_dn.id).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = client_credentials(&s, &with_cert(&s, &good), &by_dns.id).await;
    assert_eq!(status, 200, "SAN dNSName");
    // RFC 4514 §2.1: the DN string starts with the certificate's last RDN; the sequence order
    // written out (`O=...,CN=...`) is another DN.
    let sequence_order = s
        .client(mtls_meta(json!({"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "O=Partner Ltd,CN=partner-one"})))
        .await;
    let (status, _) = client_credentials(&s, &with_cert(&s, &good), &sequence_order.id).await;
    assert_eq!(status, 401, "RFC 4514 §2.1: RDNs in reverse sequence order");

    let other_subject = ca.issue("partner-two", &["other.partner.example"]);
    let untrusted = self_signed("partner-one");
    for (http, rule) in [
        (
            with_cert(&s, &other_subject),
            "RFC 8705 §2.1.2: the subject must be the registered one",
        ),
        (
            with_cert(&s, &untrusted),
            "RFC 8705 §2.1: the chain must reach a trust anchor",
        ),
        (s.browser(), "no certificate at all"),
    ] {
        let (status, body) = client_credentials(&s, &http, &by_dn.id).await;
        assert_eq!(status, 401, "{rule}");
        assert_eq!(body["error"], "invalid_client", "{rule}");
    }
}

#[tokio::test]
async fn self_signed_tls_client_auth_uses_the_registered_certificate() {
    // RFC 8705 §2.2: the certificate must be in the client's JWKS.
    let s = TestServer::start().await;
    let cert = self_signed("my-client");
    let c = s
        .client(mtls_meta(json!({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": cert.jwks()})))
        .await;
    let (status, body) = client_credentials(&s, &with_cert(&s, &cert), &c.id).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) =
        client_credentials(&s, &with_cert(&s, &self_signed("my-client")), &c.id).await;
    assert_eq!(status, 401, "a different certificate with the same subject");
}

#[tokio::test]
async fn certificate_bound_tokens() {
    // RFC 8705 §3: cnf.x5t#S256, enforced where the token is used.
    let s = TestServer::start().await;
    let c = s
        .client(json!({"tls_client_certificate_bound_access_tokens": true}))
        .await;
    s.user("alice").await;
    let cert = self_signed("rp");
    let http = with_cert(&s, &cert);
    let j = Journey {
        server: &s,
        browser: http.clone(),
    };
    let (verifier, challenge) = pkce();
    let cb = j.complete(&auth_params(&c, &challenge, &[]), "alice").await;
    let code = query(&cb)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier.as_str()),
    ];
    let body: Value = http
        .post(s.url("/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = body["access_token"]
        .as_str()
        .expect("access token")
        .to_string();
    assert_eq!(jwt_claims(&at)["cnf"]["x5t#S256"], cert.thumbprint());
    assert_eq!(
        s.introspect(&c, &at).await["cnf"]["x5t#S256"],
        cert.thumbprint(),
        "RFC 8705 §3.2"
    );

    assert_eq!(
        http.get(s.url("/me"))
            .bearer_auth(&at)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let res = s
        .browser()
        .get(s.url("/me"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "without the certificate");
    let res = with_cert(&s, &self_signed("thief"))
        .get(s.url("/me"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "with another certificate");

    // A bound client asking for tokens without a certificate is refused.
    let (status, body) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
            ],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn client_cert_header_only_from_trusted_proxies() {
    // RFC 9440 §4: the header is trusted only from a configured proxy.
    let cert = self_signed("behind-proxy");
    let header = format!(":{}:", cert.x5c());
    let meta = |s: &ClientCert| {
        mtls_meta(
            json!({"token_endpoint_auth_method": "self_signed_tls_client_auth", "jwks": s.jwks()}),
        )
    };

    let open = TestServer::start().await;
    let c = open.client(meta(&cert)).await;
    let res = open
        .browser()
        .post(open.url("/token"))
        .header("Client-Cert", &header)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        401,
        "the header from an untrusted peer is ignored"
    );

    let proxied =
        TestServer::start_with(|cfg| cfg.trusted_proxies = vec!["127.0.0.1".parse().unwrap()])
            .await;
    let c = proxied.client(meta(&cert)).await;
    let res = proxied
        .browser()
        .post(proxied.url("/token"))
        .header("Client-Cert", &header)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", c.id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "from the trusted proxy");
}

#[tokio::test]
async fn discovery_advertises_mtls() {
    let s = TestServer::start().await;
    let d: Value = s
        .browser()
        .get(s.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["tls_client_certificate_bound_access_tokens"], true);
    assert_eq!(
        d["mtls_endpoint_aliases"]["token_endpoint"],
        s.url("/token")
    );
    let methods = d["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(
        methods.contains(&json!("tls_client_auth"))
            && methods.contains(&json!("self_signed_tls_client_auth"))
    );
}

#[tokio::test]
async fn public_client_refresh_tokens_are_bound_to_the_certificate() {
    // RFC 8705 §4: refresh tokens of public clients are bound to the client certificate.
    let s = TestServer::start().await;
    let c = s
        .client(json!({
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
            "tls_client_certificate_bound_access_tokens": true,
        }))
        .await;
    s.user("alice").await;
    let cert = self_signed("native-app");
    let http = with_cert(&s, &cert);
    let (verifier, challenge) = pkce();
    let cb = Journey {
        server: &s,
        browser: http.clone(),
    }
    .complete(&auth_params(&c, &challenge, &[]), "alice")
    .await;
    let code = query(&cb)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", c.id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier.as_str()),
    ];
    let body: Value = http
        .post(s.url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rt = body["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string();
    let refresh = [
        ("grant_type", "refresh_token"),
        ("client_id", c.id.as_str()),
        ("refresh_token", rt.as_str()),
    ];
    let other = with_cert(&s, &self_signed("thief"));
    let res = other
        .post(s.url("/token"))
        .form(&refresh)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_grant",
        "another certificate"
    );
    let res = http
        .post(s.url("/token"))
        .form(&refresh)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        200,
        "the same certificate, and the failed attempt did not burn the token"
    );
}
