//! Form, query, header and JSON body parsing as the real server does it (`http::params` and
//! the handlers behind it): random and mutated requests to every protocol endpoint of a
//! running provider that trusts the loopback proxy (so the `Client-Cert` header is read too).
//! What must hold: no 5xx for any of them, and the server still serves afterwards.

use super::engine::{run, Rng};
use super::mutate;
use crate::harness::*;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::json;

const PARAM_KEYS: &[&str] = &[
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "client_id",
    "client_secret",
    "client_assertion",
    "client_assertion_type",
    "response_type",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "request",
    "request_uri",
    "claims",
    "prompt",
    "max_age",
    "response_mode",
    "token",
    "token_type_hint",
    "access_token",
    "id_token_hint",
    "login_hint",
    "dpop_jkt",
    "csrf_token",
    "username",
    "password",
    "decision",
];

/// Bytes kept as they are in a query; everything else is percent-encoded. `%`, `&`, `=` and
/// `+` stay raw, so broken escapes and odd separators reach the parser.
fn query_escape(raw: &[u8]) -> String {
    let mut out = String::new();
    for &b in raw {
        if b.is_ascii_alphanumeric() || b"-._~%&=+:/,;!*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Form pairs: a valid-looking base for the endpoint, then pairs added, repeated, garbled or
/// dropped, encoded as a form (sometimes with byte edits after encoding).
fn form_body(rng: &mut Rng, base: &[(&str, &str)]) -> Vec<u8> {
    let mut pairs: Vec<(String, String)> = base
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for _ in 0..rng.below(4) {
        match rng.below(4) {
            0 => pairs.push((rng.pick(PARAM_KEYS).to_string(), mutate::text(rng))),
            1 if !pairs.is_empty() => {
                let p = pairs[rng.below(pairs.len())].clone();
                pairs.push(p);
            }
            2 if !pairs.is_empty() => {
                let i = rng.below(pairs.len());
                pairs[i].1 = mutate::string(rng, &pairs[i].1);
            }
            _ if !pairs.is_empty() => {
                pairs.remove(rng.below(pairs.len()));
            }
            _ => {}
        }
    }
    let mut body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish()
        .into_bytes();
    if rng.one_in(3) {
        mutate::bytes(rng, &mut body);
    }
    body
}

fn content_type(rng: &mut Rng) -> Option<&'static str> {
    rng.pick(&[
        Some("application/x-www-form-urlencoded"),
        Some("application/x-www-form-urlencoded"),
        Some("application/x-www-form-urlencoded"),
        Some("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
        Some("application/json"),
        Some("multipart/form-data; boundary=x"),
        Some("text/plain"),
        None,
    ])
}

/// A header value of odd content (non-UTF-8 included), or nothing when it cannot be sent.
fn header_value(rng: &mut Rng, base: &str) -> Option<HeaderValue> {
    let mut v = base.as_bytes().to_vec();
    if rng.one_in(2) {
        mutate::bytes(rng, &mut v);
    }
    HeaderValue::from_bytes(&v).ok()
}

/// RFC 6749 §5.2, RFC 7591 §3.2.2, RFC 9449 §7, RFC 9440: every bad request gets a 4xx.
#[tokio::test]
async fn fuzz_http_requests() {
    let s = TestServer::start_with(|cfg| cfg.trusted_proxies = vec!["127.0.0.1".parse().unwrap()])
        .await;
    let c = s.client(json!({})).await;
    let browser = s.browser();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", c.id, c.secret))
    );
    let (_, challenge) = pkce();
    let metadata = json!({
        "redirect_uris": [REDIRECT_URI], "grant_types": ["authorization_code"],
        "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
        "scope": "openid profile",
    })
    .to_string();
    run("http_requests", async |case| {
        let rng = &mut case.rng;
        let auth_base: Vec<(&str, &str)> = vec![
            ("client_id", c.id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", REDIRECT_URI),
            ("scope", "openid profile"),
            ("state", "s"),
            ("nonce", "n"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let (method, path, body): (reqwest::Method, String, Vec<u8>) = match rng.below(9) {
            0 | 1 => {
                let base = [
                    ("grant_type", "client_credentials"),
                    ("scope", "accounts:read"),
                ];
                (
                    reqwest::Method::POST,
                    s.url("/token"),
                    form_body(rng, &base),
                )
            }
            2 => {
                let base = [
                    ("grant_type", "authorization_code"),
                    ("code", "x"),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", "v"),
                ];
                (
                    reqwest::Method::POST,
                    s.url("/token"),
                    form_body(rng, &base),
                )
            }
            3 => (
                reqwest::Method::POST,
                s.url("/par"),
                form_body(rng, &auth_base),
            ),
            4 => {
                let query = query_escape(&form_body(rng, &auth_base));
                (
                    reqwest::Method::GET,
                    format!("{}?{query}", s.url("/auth")),
                    Vec::new(),
                )
            }
            5 => (
                reqwest::Method::POST,
                s.url("/auth"),
                form_body(rng, &auth_base),
            ),
            6 => {
                let path = rng.pick(&["/token/introspection", "/token/revocation", "/me"]);
                let base = [("token", "t"), ("token_type_hint", "access_token")];
                (reqwest::Method::POST, s.url(path), form_body(rng, &base))
            }
            7 => {
                let body = if rng.one_in(2) {
                    mutate::json_text(rng, &metadata)
                } else {
                    let mut v: serde_json::Value = serde_json::from_str(&metadata).unwrap();
                    mutate::json(rng, &mut v, PARAM_KEYS);
                    v.to_string()
                };
                (reqwest::Method::POST, s.url("/reg"), body.into_bytes())
            }
            _ => {
                let id = query_escape(mutate::text(rng).as_bytes());
                let path = match rng.below(3) {
                    0 => format!("{}/interaction/{id}", s.base),
                    1 => format!("{}/interaction/{id}/login", s.base),
                    _ => s.url(&format!("/reg/{id}")),
                };
                let method = if rng.one_in(2) {
                    reqwest::Method::GET
                } else {
                    reqwest::Method::POST
                };
                (method, path, form_body(rng, &[("csrf_token", "x")]))
            }
        };
        let mut req = browser.request(method.clone(), &path);
        if method == reqwest::Method::POST {
            if let Some(ct) = content_type(rng) {
                req = req.header("content-type", ct);
            }
            req = req.body(body.clone());
        }
        let authorization = match rng.below(4) {
            0 => Some(basic.clone()),
            1 => Some(format!("Bearer {INITIAL_ACCESS_TOKEN}")),
            2 => Some(mutate::text(rng)),
            _ => None,
        };
        let mut headers = Vec::new();
        if let Some(a) = authorization {
            headers.push(("authorization", a));
        }
        if rng.one_in(4) {
            headers.push(("dpop", mutate::text(rng)));
            if rng.one_in(4) {
                headers.push(("dpop", "second".into()));
            }
        }
        if rng.one_in(4) {
            let cert = rng.bytes(120);
            headers.push(("client-cert", format!(":{}:", STANDARD.encode(cert))));
        }
        for (name, value) in &headers {
            if let Some(v) = header_value(rng, value) {
                req = req.header(HeaderName::from_static(name), v);
            }
        }
        case.inputs
            .note("request", format!("{method} {path} {headers:?}"));
        case.inputs.note("body", &body);
        let res = match req.send().await {
            Ok(res) => res,
            // A URL or header the client library refuses to send never reaches the server.
            Err(e) if e.is_builder() => return,
            Err(e) => panic!("the server does not answer: {:?}", e.without_url()),
        };
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        assert!(
            status < 500,
            "{status} for {method} {}: {text}",
            &path[..path.len().min(300)]
        );
    })
    .await;
    // Still serving, and still issuing tokens.
    let health = browser
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let (status, body) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
