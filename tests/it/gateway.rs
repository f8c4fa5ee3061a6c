//! The scope-checked gateway (`[[gateway.routes]]`): tokens checked locally (RFC 6750,
//! RFC 9449, RFC 8705), the request forwarded to a real origin on loopback with a signed
//! identity instead of the caller's credentials.

use crate::fapi_dpop::token_with_proof;
use crate::fapi_mtls::{self_signed, with_cert};
use crate::harness::*;
use crate::keys::DpopKey;
use consentry::config::gateway::Route;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An origin on loopback that records each request it gets (head and body) and answers 201
/// with a JSON body and an `x-origin` header.
pub(crate) struct Origin {
    pub(crate) base: String,
    seen: Arc<Mutex<Vec<(String, String)>>>,
}

impl Origin {
    pub(crate) async fn start() -> Origin {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let (head, body) = read_request(&mut sock).await;
                    log.lock().push((head, body));
                    let text = r#"{"accounts":[]}"#;
                    let res = format!(
                        "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Origin: yes\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = sock.write_all(res.as_bytes()).await;
                });
            }
        });
        Origin { base, seen }
    }

    pub(crate) fn last(&self) -> Option<(String, String)> {
        self.seen.lock().last().cloned()
    }

    pub(crate) fn count(&self) -> usize {
        self.seen.lock().len()
    }
}

/// A message's head (lower-cased if the peer closed before it ended) and its body, by
/// Content-Length: a request at an origin, or an answer at a caller.
pub(crate) async fn read_request<S>(sock: &mut S) -> (String, String)
where
    S: tokio::io::AsyncRead + Unpin,
{
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let split = loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return (String::from_utf8_lossy(&buf).to_lowercase(), String::new());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = buf[split + 4..].to_vec();
    while body.len() < length {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    (head, String::from_utf8_lossy(&body).to_string())
}

/// The value of header `name` in a recorded request head.
pub(crate) fn header_of(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

pub(crate) fn route(method: &str, path: &str, scopes: &[&str], upstream: &str) -> Route {
    Route {
        method: method.into(),
        path: path.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        upstream: upstream.into(),
        cost: None,
        cost_from: None,
        websocket: false,
    }
}

/// A provider with two routes to `upstream`: `GET /accounts/{id}` (accounts:read) and
/// `POST /payments` (accounts:write).
async fn start(upstream: &str) -> TestServer {
    let routes = vec![
        route("GET", "/accounts/{id}", &["accounts:read"], upstream),
        route("POST", "/payments", &["accounts:write"], upstream),
    ];
    // The origin is the operator's own, on loopback: `gateway.private_origins`, while what
    // clients can make the server fetch stays under the strict outbound policy.
    TestServer::start_with(|c| {
        c.gateway.private_origins = true;
        c.gateway.routes = routes;
    })
    .await
}

pub(crate) async fn client_token(s: &TestServer, c: &TestClient, scope: &str) -> String {
    let (status, body) = s
        .token(c, &[("grant_type", "client_credentials"), ("scope", scope)])
        .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

fn challenge(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn forwards_with_a_signed_identity_and_without_the_callers_credentials() {
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    let c = s
        .client(json!({"scope": "openid accounts:read accounts:write"}))
        .await;
    let at = client_token(&s, &c, "accounts:read").await;
    let res = s
        .browser()
        .get(s.url("/gateway/accounts/42?page=2"))
        .bearer_auth(&at)
        .header("consentry-identity", "forged")
        .header("x-custom", "kept")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "the origin's status comes back");
    assert_eq!(res.headers()["x-origin"], "yes", "and its headers");
    assert!(res.headers().contains_key("x-fapi-interaction-id"));
    assert_eq!(res.text().await.unwrap(), r#"{"accounts":[]}"#);

    let (head, _) = origin.last().expect("the origin got the request");
    assert!(head.starts_with("GET /accounts/42?page=2 "), "{head}");
    assert!(
        header_of(&head, "authorization").is_none(),
        "no token: {head}"
    );
    assert_eq!(header_of(&head, "x-custom").as_deref(), Some("kept"));
    let identity = header_of(&head, "consentry-identity").expect("identity header");
    assert_ne!(identity, "forged", "the caller's own header is dropped");
    assert_eq!(jwt_header(&identity)["typ"], "consentry-identity+jwt");
    let claims = verify_with_jwks(&s, &identity).await;
    assert_eq!(claims["iss"], s.issuer);
    assert_eq!(claims["aud"], origin.base);
    assert_eq!(claims["client_id"], c.id);
    assert_eq!(claims["scope"], "accounts:read");
    assert!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 60);

    // The method and body are forwarded.
    let at = client_token(&s, &c, "accounts:write").await;
    let res = s
        .browser()
        .post(s.url("/gateway/payments"))
        .bearer_auth(&at)
        .header("content-type", "application/json")
        .body(r#"{"amount":5}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let (head, body) = origin.last().unwrap();
    assert!(head.starts_with("POST /payments "), "{head}");
    assert_eq!(body, r#"{"amount":5}"#);
}

#[tokio::test]
async fn an_identity_serves_one_tokens_requests_for_half_its_life_then_is_signed_again() {
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    let c = s.client(json!({})).await;
    let identity_for = |token: String| {
        let s = &s;
        let origin = &origin;
        async move {
            let res = s
                .browser()
                .get(s.url("/gateway/accounts/1"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            let (head, _) = origin.last().unwrap();
            header_of(&head, "consentry-identity").expect("identity header")
        }
    };
    let at = client_token(&s, &c, "accounts:read").await;
    let first = identity_for(at.clone()).await;
    assert_eq!(
        identity_for(at.clone()).await,
        first,
        "reused for the same token"
    );
    let other = identity_for(client_token(&s, &c, "accounts:read").await).await;
    assert_ne!(other, first, "another token has its own identity");

    s.provider.clock.advance(31);
    let later = identity_for(at).await;
    assert_ne!(
        later, first,
        "past half its 60 s life a fresh identity is signed"
    );
    let (old, new) = (
        verify_with_jwks(&s, &first).await,
        verify_with_jwks(&s, &later).await,
    );
    assert_ne!(old["jti"], new["jti"]);
    assert!(
        new["exp"].as_i64().unwrap() >= s.provider.now() + 59,
        "{new}"
    );
}

#[tokio::test]
async fn tokens_missing_invalid_expired_or_revoked_get_401() {
    // RFC 6750 §3 / §3.1: a challenge, and invalid_token for a token that is not good.
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    let c = s.client(json!({})).await;
    let get = |token: Option<String>| {
        let mut req = s.browser().get(s.url("/gateway/accounts/1"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let res = get(None).await.unwrap();
    assert_eq!(res.status(), 401, "no token");
    assert_eq!(challenge(&res), "Bearer realm=\"consentry\"");
    let res = get(Some("not-a-token".into())).await.unwrap();
    assert_eq!(res.status(), 401, "invalid token");
    assert!(challenge(&res).contains("error=\"invalid_token\""));

    let at = client_token(&s, &c, "accounts:read").await;
    assert_eq!(get(Some(at.clone())).await.unwrap().status(), 201);
    s.browser()
        .post(s.url("/token/revocation"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[("token", at.as_str())])
        .send()
        .await
        .unwrap();
    let res = get(Some(at)).await.unwrap();
    assert_eq!(res.status(), 401, "revoked token");
    assert!(challenge(&res).contains("error=\"invalid_token\""));

    let at = client_token(&s, &c, "accounts:read").await;
    s.provider
        .clock
        .advance(s.provider.config.lifetimes.access_token_secs + 5);
    let res = get(Some(at)).await.unwrap();
    assert_eq!(res.status(), 401, "expired token");
    assert!(challenge(&res).contains("error=\"invalid_token\""));
    assert_eq!(origin.count(), 1, "only the good token reached the origin");
}

#[tokio::test]
async fn a_missing_scope_gets_403_insufficient_scope_naming_it() {
    // RFC 6750 §3.1: insufficient_scope (403), and §3: the scope parameter says what is needed.
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    let c = s
        .client(json!({"scope": "openid accounts:read accounts:write"}))
        .await;
    let at = client_token(&s, &c, "accounts:read").await;
    let res = s
        .browser()
        .post(s.url("/gateway/payments"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let ch = challenge(&res);
    assert!(ch.starts_with("Bearer "), "{ch}");
    assert!(ch.contains("error=\"insufficient_scope\""), "{ch}");
    assert!(ch.contains("scope=\"accounts:write\""), "{ch}");
    assert_eq!(origin.count(), 0);
    // No route for this method and path.
    let res = s
        .browser()
        .delete(s.url("/gateway/payments"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn dpop_bound_tokens_need_a_proof_of_their_key() {
    // RFC 9449 §7.1: the proof's key must be the token's (cnf.jkt), its htu the gateway URL.
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    let c = s.client(json!({})).await;
    let key = DpopKey::new();
    let other = DpopKey::new();
    let proof = key.proof("POST", &s.url("/token"), None, s.provider.now());
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "accounts:read"),
    ];
    let (_, body) = token_with_proof(&s, &c, &form, Some(&proof)).await;
    let at = body["access_token"].as_str().unwrap().to_string();
    let url = s.url("/gateway/accounts/7");
    let call = |scheme: &'static str, proof: Option<String>| {
        let mut req = s
            .browser()
            .get(&url)
            .header("Authorization", format!("{scheme} {at}"));
        if let Some(p) = proof {
            req = req.header("DPoP", p);
        }
        req.send()
    };
    let now = s.provider.now();
    let res = call("DPoP", None).await.unwrap();
    assert_eq!(res.status(), 401, "no proof");
    assert!(challenge(&res).starts_with("DPoP"));
    let res = call("Bearer", None).await.unwrap();
    assert_eq!(
        res.status(),
        401,
        "RFC 9449 §7.2: a bound token as a bearer token"
    );
    let res = call("DPoP", Some(other.proof("GET", &url, Some(&at), now)))
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "a proof by another key");
    assert!(challenge(&res).starts_with("DPoP"));
    assert_eq!(origin.count(), 0);
    let res = call("DPoP", Some(key.proof("GET", &url, Some(&at), now)))
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "its own key");
    let (head, _) = origin.last().unwrap();
    assert!(
        header_of(&head, "dpop").is_none(),
        "the proof is not forwarded"
    );
    assert!(header_of(&head, "authorization").is_none());
}

#[tokio::test]
async fn certificate_bound_tokens_need_their_certificate() {
    // RFC 8705 §3: a certificate-bound token only with the certificate it is bound to.
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    let c = s
        .client(json!({"tls_client_certificate_bound_access_tokens": true}))
        .await;
    let http = with_cert(&s, &self_signed("rp"));
    let res: Value = http
        .post(s.url("/token"))
        .basic_auth(&c.id, Some(&c.secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "accounts:read"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let at = res["access_token"].as_str().unwrap().to_string();
    assert!(jwt_claims(&at)["cnf"]["x5t#S256"].is_string(), "{res}");
    let url = s.url("/gateway/accounts/7");
    let res = s.browser().get(&url).bearer_auth(&at).send().await.unwrap();
    assert_eq!(res.status(), 401, "without the certificate");
    let res = with_cert(&s, &self_signed("other"))
        .get(&url)
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401, "with another certificate");
    assert_eq!(origin.count(), 0);
    let res = http.get(&url).bearer_auth(&at).send().await.unwrap();
    assert_eq!(res.status(), 201, "with its certificate");
}

#[tokio::test]
async fn an_unreachable_upstream_gets_502() {
    // RFC 9110 §15.6.3: Bad Gateway, with a JSON error.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let s = start(&closed).await;
    let c = s.client(json!({})).await;
    let at = client_token(&s, &c, "accounts:read").await;
    let res = s
        .browser()
        .get(s.url("/gateway/accounts/1"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"], "bad_gateway");
}

#[test]
fn routes_to_private_upstreams_need_private_origins_or_allow_private() {
    // The outbound policy: no loopback upstream unless the operator says the origins are
    // private (`gateway.private_origins`) or allows private addresses everywhere.
    let mut config = consentry::config::Config::default();
    config.gateway.routes = vec![route("GET", "/a", &[], "http://127.0.0.1:9")];
    let refused = config.validate().unwrap_err().to_string();
    assert!(refused.contains("upstream"), "{refused}");
    config.gateway.private_origins = true;
    assert!(config.validate().is_ok(), "{:?}", config.validate());
    // Only the gateway's origins: the policy for what clients register stays strict.
    assert!(!config.outbound.allow_private);
    assert!(config
        .outbound
        .check_uri("http://127.0.0.1:9/jwks")
        .is_err());
    assert!(config
        .gateway
        .origin_policy(&config.outbound)
        .check_uri("http://127.0.0.1:9")
        .is_ok());
    config.gateway.private_origins = false;
    config.outbound.allow_private = true;
    assert!(config.validate().is_ok(), "{:?}", config.validate());
}

/// With `gateway.private_origins` alone, a client still cannot make the server fetch a
/// loopback `jwks_uri` (RFC 7591 §2 metadata under the outbound policy): the gateway's
/// exception is for the operator's origins only.
#[tokio::test]
async fn private_origins_do_not_open_client_registered_urls() {
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    let res = s
        .browser()
        .post(s.url("/reg"))
        .bearer_auth(INITIAL_ACCESS_TOKEN)
        .json(&json!({
            "redirect_uris": ["https://rp.example.test/cb"],
            "token_endpoint_auth_method": "private_key_jwt",
            "jwks_uri": format!("{}/jwks", origin.base),
        }))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_client_metadata", "{body}");
}

#[tokio::test]
async fn a_token_in_the_body_is_not_accepted_nor_forwarded() {
    // RFC 6750 §2.1 only: a form-body token (§2.2) would reach the origin with the body.
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    let c = s
        .client(json!({"scope": "openid accounts:read accounts:write"}))
        .await;
    let at = client_token(&s, &c, "accounts:write").await;
    let res = s
        .browser()
        .post(s.url("/gateway/payments"))
        .form(&[("access_token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    assert_eq!(origin.count(), 0);
}

/// RFC 9110 §7.6.1: a proxy forwards no hop-by-hop field, in either direction: not
/// `Connection`, `Keep-Alive`, `TE`, nor any field a `Connection` header names. The caller's
/// request is written byte for byte (a client library would not send these as given), and
/// the origin's answer carries its own.
#[tokio::test]
async fn rfc9110_7_6_1_hop_by_hop_fields_cross_the_gateway_in_neither_direction() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let (head, _) = read_request(&mut sock).await;
        *record.lock() = Some(head);
        let text = r#"{"accounts":[]}"#;
        let answer = format!(
            "HTTP/1.1 200 OK\r\nConnection: x-origin-private\r\nX-Origin-Private: 1\r\n\
             Keep-Alive: timeout=5\r\nX-Origin: yes\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        sock.write_all(answer.as_bytes()).await.unwrap();
    });
    let s = start(&base).await;
    let c = s.client(json!({"scope": "openid accounts:read"})).await;
    let at = client_token(&s, &c, "accounts:read").await;

    let mut tls = tls_stream(&s).await;
    let request = format!(
        "GET /oidc/gateway/accounts/42 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {at}\r\n\
         Connection: x-secret, keep-alive\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\n\
         TE: trailers\r\nX-Custom: kept\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let (answer, body) =
        tokio::time::timeout(std::time::Duration::from_secs(10), read_request(&mut tls))
            .await
            .expect("the gateway answers");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(body, r#"{"accounts":[]}"#);
    assert_eq!(
        header_of(&answer, "x-origin").as_deref(),
        Some("yes"),
        "end-to-end fields cross: {answer}"
    );
    assert_no_hop_by_hop(&answer, &["x-origin-private", "keep-alive"], "the origin's");

    let head = seen.lock().clone().expect("the origin got the request");
    assert_eq!(
        header_of(&head, "x-custom").as_deref(),
        Some("kept"),
        "end-to-end fields cross: {head}"
    );
    assert_no_hop_by_hop(&head, &["x-secret", "keep-alive", "te"], "the caller's");
}

/// RFC 9110 §7.6.1: none of `fields` (hop-by-hop, the first one named by the sender's
/// `Connection`) crossed the gateway into `head`, nor the sender's `Connection` itself.
fn assert_no_hop_by_hop(head: &str, fields: &[&str], sender: &str) {
    for field in fields {
        assert!(
            header_of(head, field).is_none(),
            "RFC 9110 §7.6.1: {sender} hop-by-hop {field} does not cross: {head}"
        );
    }
    let connection = header_of(head, "connection").unwrap_or_default();
    assert!(
        !connection.contains(fields[0]),
        "RFC 9110 §7.6.1: {sender} Connection does not cross: {head}"
    );
}

/// RFC 3986 §5.2.4: a `{name}` segment of `..` would make the upstream URL climb out of the
/// route (`/accounts/..` resolves to `/`), reaching a path no route allows with a token
/// scoped for this one: such paths match no route and nothing is forwarded. Sent as raw
/// HTTP, since an HTTP client library resolves dot segments before sending.
#[tokio::test]
async fn a_dot_segment_cannot_leave_the_route() {
    let origin = Origin::start().await;
    let s = start(&origin.base).await;
    let c = s.client(json!({"scope": "openid accounts:read"})).await;
    let at = client_token(&s, &c, "accounts:read").await;
    for path in ["/accounts/..", "/accounts/%2e%2e", "/accounts/.%2E"] {
        let status = raw_get_status(&s, &format!("/oidc/gateway{path}"), &at).await;
        assert!(status.starts_with("HTTP/1.1 404"), "{path}: {status}");
    }
    assert!(origin.last().is_none(), "nothing reached the origin");
}

/// The status line of a GET for `target`, written byte for byte over TLS.
async fn raw_get_status(s: &TestServer, target: &str, token: &str) -> String {
    let mut tls = tls_stream(s).await;
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    status_line(&mut tls).await
}

/// The first line of what the server sends back, read to the end.
pub(crate) async fn status_line(
    tls: &mut tokio_rustls::client::TlsStream<tokio::net::TcpStream>,
) -> String {
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_string()
}

/// A TLS connection to the test server (HTTP/1.1: no ALPN), trusting its CA.
pub(crate) async fn tls_stream(
    s: &TestServer,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&s.ca_pem) {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(s.base.trim_start_matches("https://"))
        .await
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(name, tcp)
        .await
        .unwrap()
}
