//! The conformance runner can fail: a tampering TLS proxy between the runner and an unchanged
//! provider makes the provider look buggy on the wire, and the matching modules must come out
//! FAILED (or WARNING where the suite rules so), while they PASS through the same proxy when it
//! tampers with nothing.

use crate::harness::{TestServer, PASSWORD};
use consentry_conformance::config::{Client, Config, User};
use consentry_conformance::modules::ClientAuth;
use consentry_conformance::{run_module, Entry, ModuleReport, Verdict};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const CALLBACK: &str = "https://rp.conformance.test/callback";
/// The logout client's registered post_logout_redirect_uri (never fetched: the runner's
/// browser stops there).
const POST_LOGOUT: &str = "https://rp.conformance.test/post_logout_redirect";

#[derive(Clone, Copy, PartialEq)]
enum Tamper {
    Nothing,
    /// RFC 9207 §2.4: the authorization response's `iss` names another issuer.
    WrongIssInAuthorizationResponse,
    /// RFC 6749 §4.1.2: a second redemption of a code is answered with the first token
    /// response, as a provider that does not consume codes would.
    AcceptReplayedCode,
    /// RP-Initiated Logout 1.0 §2: the redirect to the post_logout_redirect_uri loses the
    /// `state` the client sent.
    DropPostLogoutState,
    /// RP-Initiated Logout 1.0 §2 and §3.1: the end-session endpoint sends the browser to
    /// whatever `post_logout_redirect_uri` it is given, registered or not.
    RedirectToAnyPostLogoutUri,
    /// Front-Channel Logout 1.0 §2: the logged-out page's iframes load the client's
    /// frontchannel_logout_uri without the `sid` the client asked for.
    DropSidFromFrontchannelFrames,
}

struct Proxy {
    upstream: String,
    tamper: Tamper,
    http: reqwest::Client,
    /// Token responses by the code they were issued for.
    issued: Mutex<HashMap<String, (u16, Bytes)>>,
}

impl Proxy {
    async fn handle(
        self: Arc<Self>,
        req: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
        let (parts, body) = req.into_parts();
        let body = body
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
        let code = (self.tamper == Tamper::AcceptReplayedCode
            && parts.uri.path().ends_with("/token")
            && form.get("grant_type").map(String::as_str) == Some("authorization_code"))
        .then(|| form.get("code").cloned())
        .flatten();
        if let Some((status, cached)) = code
            .as_ref()
            .and_then(|c| self.issued.lock().unwrap().get(c).cloned())
        {
            return Ok(hyper::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(cached))
                .unwrap());
        }
        let mut up = self
            .http
            .request(parts.method.clone(), format!("{}{path}", self.upstream));
        for (name, value) in parts.headers.iter() {
            if name != "host" && name != "content-length" {
                up = up.header(name, value);
            }
        }
        let res = up.body(body).send().await.expect("upstream");
        let status = res.status().as_u16();
        if let Some(to) = self.any_post_logout_redirect(parts.uri.path(), parts.uri.query(), status)
        {
            return Ok(hyper::Response::builder()
                .status(303)
                .header("location", to)
                .body(Full::new(Bytes::new()))
                .unwrap());
        }
        let mut out = hyper::Response::builder().status(status);
        for (name, value) in res.headers() {
            if name == "content-length" || name == "transfer-encoding" || name == "connection" {
                continue;
            }
            let mut value = value.to_str().unwrap_or_default().to_string();
            if name == "location" && self.tamper == Tamper::WrongIssInAuthorizationResponse {
                value = wrong_iss(&value);
            }
            if name == "location" && self.tamper == Tamper::DropPostLogoutState {
                value = without_state(&value);
            }
            out = out.header(name, value);
        }
        let mut bytes = res.bytes().await.unwrap_or_default();
        if self.tamper == Tamper::DropSidFromFrontchannelFrames {
            bytes = Bytes::from(without_frame_sid(&String::from_utf8_lossy(&bytes)));
        }
        if let (Some(code), 200) = (code, status) {
            self.issued
                .lock()
                .unwrap()
                .insert(code, (status, bytes.clone()));
        }
        Ok(out.body(Full::new(bytes)).unwrap())
    }
}

impl Proxy {
    /// RedirectToAnyPostLogoutUri: where the end-session endpoint refused to redirect (an
    /// error or confirmation page), the redirect to the requested post_logout_redirect_uri.
    fn any_post_logout_redirect(
        &self,
        path: &str,
        query: Option<&str>,
        status: u16,
    ) -> Option<String> {
        if self.tamper != Tamper::RedirectToAnyPostLogoutUri
            || !path.ends_with("/session/end")
            || (300..400).contains(&status)
        {
            return None;
        }
        let params: HashMap<String, String> = form_urlencoded::parse(query?.as_bytes())
            .into_owned()
            .collect();
        let mut to = url::Url::parse(params.get("post_logout_redirect_uri")?).ok()?;
        if let Some(state) = params.get("state") {
            to.query_pairs_mut().append_pair("state", state);
        }
        Some(to.to_string())
    }
}

/// A page whose front-channel logout iframes (`src` on a `/frontchannel_logout` path) have
/// lost their `sid` parameter.
fn without_frame_sid(html: &str) -> String {
    let mut out = String::new();
    let mut rest = html;
    while let Some(at) = rest.find("src=\"") {
        let (head, tail) = rest.split_at(at + 5);
        out.push_str(head);
        let end = tail.find('"').unwrap_or(tail.len());
        let src = tail[..end].replace("&amp;", "&");
        let src = match url::Url::parse(&src) {
            Ok(mut u) if u.path().ends_with("/frontchannel_logout") => {
                let pairs: Vec<(String, String)> = u
                    .query_pairs()
                    .filter(|(k, _)| k != "sid")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                u.query_pairs_mut().clear().extend_pairs(pairs);
                u.to_string()
            }
            _ => src,
        };
        out.push_str(&src.replace('&', "&amp;"));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A redirect to the post_logout_redirect_uri without its `state`.
fn without_state(location: &str) -> String {
    let Ok(mut url) = url::Url::parse(location) else {
        return location.to_string();
    };
    if !url.path().ends_with("/post_logout_redirect") {
        return location.to_string();
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "state")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_query(None);
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    url.to_string()
}

/// The redirect with its `iss` parameter replaced by another issuer.
fn wrong_iss(location: &str) -> String {
    let Ok(mut url) = url::Url::parse(location) else {
        return location.to_string();
    };
    if !url.query_pairs().any(|(k, _)| k == "iss") {
        return location.to_string();
    }
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                "https://attacker.example/oidc".to_string()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

/// A provider reached only through a proxy: its issuer is the proxy's address, and the proxy
/// serves TLS with the provider's own development certificate.
struct Setup {
    _server: TestServer,
    cfg: Config,
    ca: reqwest::Certificate,
    _ca_file: tempfile::NamedTempFile,
}

async fn setup(tamper: Tamper) -> Setup {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy_base = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let issuer = format!("{proxy_base}/oidc");
    // The runner's own server receives the front-channel logout requests (plain http on
    // loopback, which the provider accepts in development).
    let rp_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let rp_base = format!("http://{}", rp_listener.local_addr().unwrap());
    drop(rp_listener);
    consentry_conformance::rp_server::serve(rp_base.trim_start_matches("http://"))
        .await
        .unwrap();
    let server = TestServer::start_with(|c| {
        c.issuer = Some(issuer.clone());
        c.outbound.allow_private = true;
    })
    .await;
    let client = server.client(json!({ "redirect_uris": [CALLBACK] })).await;
    let logout_client = server
        .client(json!({ "redirect_uris": [CALLBACK], "post_logout_redirect_uris": [POST_LOGOUT] }))
        .await;
    let frontchannel_uri = format!("{rp_base}/frontchannel_logout");
    let frontchannel_client = server
        .client(json!({
            "redirect_uris": [CALLBACK],
            "post_logout_redirect_uris": [POST_LOGOUT],
            "frontchannel_logout_uri": frontchannel_uri,
            "frontchannel_logout_session_required": true,
        }))
        .await;
    server.user("conformance").await;

    let keys = server._dir.path().join("keys");
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(keys.join("server.pem"))
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
    let key = PrivateKeyDer::from_pem_file(keys.join("server.key")).unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let ca = reqwest::Certificate::from_pem(&server.ca_pem).unwrap();
    let proxy = Arc::new(Proxy {
        upstream: server.base.clone(),
        tamper,
        http: reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(ca.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        issued: Mutex::new(HashMap::new()),
    });
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, proxy) = (acceptor.clone(), proxy.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(move |req| proxy.clone().handle(req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });

    let ca_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(ca_file.path(), &server.ca_pem).unwrap();
    let cfg = Config {
        discovery_url: format!("{issuer}/.well-known/openid-configuration"),
        ca_file: Some(ca_file.path().to_path_buf()),
        user: User {
            username: "conformance".into(),
            password: PASSWORD.into(),
        },
        clients: [
            (
                "client_secret_basic".to_string(),
                Client {
                    client_id: client.id,
                    client_secret: Some(client.secret),
                    redirect_uri: CALLBACK.into(),
                    redirect_uri2: None,
                    request_uri: None,
                    post_logout_redirect_uri: None,
                    backchannel_logout_uri: None,
                    frontchannel_logout_uri: None,
                    signing_key: None,
                    tls: None,
                },
            ),
            (
                "logout".to_string(),
                Client {
                    client_id: logout_client.id,
                    client_secret: Some(logout_client.secret),
                    redirect_uri: CALLBACK.into(),
                    redirect_uri2: None,
                    request_uri: None,
                    post_logout_redirect_uri: Some(POST_LOGOUT.into()),
                    backchannel_logout_uri: None,
                    frontchannel_logout_uri: None,
                    signing_key: None,
                    tls: None,
                },
            ),
            (
                "logout_frontchannel".to_string(),
                Client {
                    client_id: frontchannel_client.id,
                    client_secret: Some(frontchannel_client.secret),
                    redirect_uri: CALLBACK.into(),
                    redirect_uri2: None,
                    request_uri: None,
                    post_logout_redirect_uri: Some(POST_LOGOUT.into()),
                    backchannel_logout_uri: None,
                    frontchannel_logout_uri: Some(frontchannel_uri),
                    signing_key: None,
                    tls: None,
                },
            ),
        ]
        .into(),
        rp_listen: None,
        rp_rsa_key_file: None,
        rp_kid: None,
        registration_token: None,
        rotate_keys_command: None,
        resource_url: None,
    };
    Setup {
        _server: server,
        cfg,
        ca,
        _ca_file: ca_file,
    }
}

async fn run(s: &Setup, module: &'static str) -> ModuleReport {
    let entry = Entry::oidcc(module, ClientAuth::ClientSecretBasic, "code", "default");
    run_module(&s.cfg, Some(s.ca.clone()), &entry).await
}

/// A module of the RP-Initiated Logout plan, as the plan lists it (its own client).
async fn run_logout(s: &Setup, module: &'static str) -> ModuleReport {
    let role = if module.contains("frontchannel") {
        "logout_frontchannel"
    } else {
        "logout"
    };
    let entry = Entry {
        client_role: Some(role),
        ..Entry::oidcc(module, ClientAuth::ClientSecretBasic, "code", "default")
    };
    run_module(&s.cfg, Some(s.ca.clone()), &entry).await
}

fn failed_on(report: &ModuleReport, condition: &str) -> bool {
    report
        .failures
        .iter()
        .any(|f| f.starts_with(&format!("{condition}:")))
}

/// RFC 9207 §2.4: a client must refuse an authorization response whose `iss` is not the
/// issuer; oidcc-server checks it (ValidateIssIfPresentInAuthorizationResponse).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidcc_server_fails_when_the_authorization_response_names_another_issuer() {
    let honest = setup(Tamper::Nothing).await;
    let report = run(&honest, "oidcc-server").await;
    assert_eq!(report.verdict, Verdict::Passed, "{report:#?}");

    let tampered = setup(Tamper::WrongIssInAuthorizationResponse).await;
    let report = run(&tampered, "oidcc-server").await;
    assert_eq!(report.verdict, Verdict::Failed, "{report:#?}");
    assert!(
        failed_on(&report, "ValidateIssIfPresentInAuthorizationResponse"),
        "{:?}",
        report.failures
    );
}

/// RFC 6749 §4.1.2: a code is single-use. The suite's oidcc-codereuse only warns when a code
/// is redeemed twice (ServerAllowedReusingAuthorizationCode); oidcc-codereuse-30seconds fails
/// (CheckTokenEndpointHttpStatus400).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codereuse_modules_catch_a_provider_that_accepts_a_replayed_code() {
    let honest = setup(Tamper::Nothing).await;
    let tampered = setup(Tamper::AcceptReplayedCode).await;
    let (honest_report, reuse, reuse_30s) = tokio::join!(
        run(&honest, "oidcc-codereuse"),
        run(&tampered, "oidcc-codereuse"),
        run(&tampered, "oidcc-codereuse-30seconds"),
    );
    assert_eq!(honest_report.verdict, Verdict::Passed, "{honest_report:#?}");
    assert_eq!(reuse.verdict, Verdict::Warning, "{reuse:#?}");
    assert!(reuse
        .warnings
        .iter()
        .any(|w| w.starts_with("ServerAllowedReusingAuthorizationCode:")));
    assert_eq!(reuse_30s.verdict, Verdict::Failed, "{reuse_30s:#?}");
    assert!(
        failed_on(&reuse_30s, "CheckTokenEndpointHttpStatus400"),
        "{:?}",
        reuse_30s.failures
    );
}

/// FAPI 1 Advanced §8.5-1: on TLS 1.2 only the four (EC)DHE_RSA AES-GCM suites are permitted.
/// The TLS probes of the FAPI modules (DisallowInsecureCipher) fail a server that takes an
/// ECDSA suite on TLS 1.2 — the tampering proxy's stock rustls configuration does — and pass
/// the provider itself, which also refuses TLS 1.0 and 1.1 and prefers TLS 1.3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fapi1_tls_probes_fail_a_server_taking_an_ecdsa_tls12_suite() {
    use consentry_conformance::log::Log;
    use consentry_conformance::report::Outcome;
    use consentry_conformance::tls_probe::{check_endpoint, Ciphers, Target};
    let proxied = setup(Tamper::Nothing).await;
    let probe = |url: String| async move {
        let mut log = Log::default();
        let target = Target::of(&url).unwrap();
        check_endpoint(
            &mut log,
            &target,
            Ciphers::Fapi1,
            &["FAPI1-ADV-8.5-2"],
            Some("DisallowInsecureCipher"),
            true,
        )
        .await;
        log.steps
            .into_iter()
            .map(|s| (s.condition, s.outcome))
            .collect::<Vec<_>>()
    };
    let stock = probe(proxied.cfg.discovery_url.clone()).await;
    assert!(
        stock.contains(&("DisallowInsecureCipher".to_string(), Outcome::Failure)),
        "{stock:?}"
    );
    let ours = probe(proxied._server.base.clone()).await;
    assert_eq!(ours.len(), 7, "{ours:?}");
    assert!(ours.iter().all(|(_, o)| *o == Outcome::Success), "{ours:?}");
}

/// RP-Initiated Logout 1.0 §2: the OP passes the client's `state` back on the redirect to the
/// post_logout_redirect_uri; oidcc-rp-initiated-logout fails when it is lost
/// (CheckPostLogoutState), and passes (ending with the prompt=none check) when it is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rp_initiated_logout_fails_when_the_post_logout_redirect_loses_state() {
    let honest = setup(Tamper::Nothing).await;
    let tampered = setup(Tamper::DropPostLogoutState).await;
    let (honest_report, report) = tokio::join!(
        run_logout(&honest, "oidcc-rp-initiated-logout"),
        run_logout(&tampered, "oidcc-rp-initiated-logout"),
    );
    assert_eq!(honest_report.verdict, Verdict::Passed, "{honest_report:#?}");
    assert!(honest_report.steps.iter().any(
        |s| s.condition == "CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface"
    ));
    assert_eq!(report.verdict, Verdict::Failed, "{report:#?}");
    assert!(
        failed_on(&report, "CheckPostLogoutState"),
        "{:?}",
        report.failures
    );
}

/// RP-Initiated Logout 1.0 §3.1: the OP must not redirect to a post_logout_redirect_uri the
/// client did not register; the bad-post-logout-redirect-uri module fails an OP that does
/// (the suite's handleHttp: "OP has incorrectly called ..."), and records a REVIEW of the
/// error page of one that does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_post_logout_redirect_uri_module_fails_an_op_redirecting_to_an_unregistered_uri() {
    const MODULE: &str = "oidcc-rp-initiated-logout-bad-post-logout-redirect-uri";
    let honest = setup(Tamper::Nothing).await;
    let tampered = setup(Tamper::RedirectToAnyPostLogoutUri).await;
    let (honest_report, report) =
        tokio::join!(run_logout(&honest, MODULE), run_logout(&tampered, MODULE));
    assert_eq!(honest_report.verdict, Verdict::Passed, "{honest_report:#?}");
    assert!(
        honest_report
            .reviews
            .iter()
            .any(|r| r.starts_with("ExpectPostLogoutRedirectUriNotRegisteredErrorPage:")),
        "{:?}",
        honest_report.reviews
    );
    assert_eq!(report.verdict, Verdict::Failed, "{report:#?}");
    assert!(
        failed_on(&report, "handlePostLogoutRedirect"),
        "{:?}",
        report.failures
    );
}

/// Front-Channel Logout 1.0 §2-3: with `frontchannel_logout_session_required`, the OP adds `iss`
/// and `sid` to the frontchannel_logout_uri its logged-out page loads. The front-channel
/// module sees the request on the runner's server and fails when `sid` is missing
/// (CheckIdTokenSidMatchesFrontChannelLogoutRequest).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frontchannel_logout_fails_when_the_logout_frame_omits_sid() {
    const MODULE: &str = "oidcc-frontchannel-rp-initiated-logout";
    // One after the other: the runner keeps one record of received requests per process,
    // by path, and each module takes what arrived at its client's path.
    let honest = setup(Tamper::Nothing).await;
    let honest_report = run_logout(&honest, MODULE).await;
    assert_eq!(honest_report.verdict, Verdict::Passed, "{honest_report:#?}");
    let tampered = setup(Tamper::DropSidFromFrontchannelFrames).await;
    let report = run_logout(&tampered, MODULE).await;
    assert_eq!(report.verdict, Verdict::Failed, "{report:#?}");
    assert!(
        failed_on(&report, "CheckIdTokenSidMatchesFrontChannelLogoutRequest"),
        "{:?}",
        report.failures
    );
}
