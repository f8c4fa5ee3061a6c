//! The relying party's own small web server (the suite's `handleHttp` for the paths of a
//! module): it serves the request objects that modules pass by reference (`request_uri`,
//! OIDC Core §6.2), and the clients' `jwks_uri` and `sector_identifier_uri` documents of the
//! dynamic registration modules; and it receives the logout notices of the logout plans
//! (`backchannel_logout_uri`, `frontchannel_logout_uri`) and the CIBA pings
//! (`backchannel_client_notification_endpoint`). On loopback, so the provider reaches it only
//! when started with `outbound.allow_private = true`; https with the certificate of `--rp-tls-cert`,
//! whose CA `run.sh` gives the provider as `outbound.ca_file`, and plain http on the same port.

use crate::config::RpTlsConfig;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Path → (content type, body).
type Documents = HashMap<String, (&'static str, String)>;

fn documents() -> &'static Mutex<Documents> {
    static DOCS: OnceLock<Mutex<Documents>> = OnceLock::new();
    DOCS.get_or_init(Default::default)
}

/// Serves the request object `body` at the path of `url` from now on (replacing what was
/// there).
pub fn publish(url: &str, body: &str) -> Result<(), String> {
    publish_as(url, "application/oauth-authz-req+jwt", body)
}

/// Serves `body` as `content_type` at the path of `url` (its query and fragment are not part
/// of what an HTTP client asks for).
pub fn publish_as(url: &str, content_type: &'static str, body: &str) -> Result<(), String> {
    let path = url::Url::parse(url)
        .map_err(|e| format!("{url}: {e}"))?
        .path()
        .to_string();
    documents()
        .lock()
        .expect("documents lock")
        .insert(path, (content_type, body.to_string()));
    Ok(())
}

/// A request the relying party received at a logout URI (the suite's `requestParts`).
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// `query_string_params`.
    pub query: BTreeMap<String, String>,
    /// `body_form_params` (application/x-www-form-urlencoded bodies).
    pub form: BTreeMap<String, String>,
    /// `headers`, names in lower case.
    pub headers: BTreeMap<String, String>,
    /// `body`, as received.
    pub body: String,
    /// The connection's TLS (none: plain http).
    pub tls: Option<Tls>,
}

/// A TLS connection's parameters (the suite's `x-ssl-protocol` and `x-ssl-cipher` headers).
#[derive(Clone, Debug)]
pub struct Tls {
    /// `TLSv1.3`, `TLSv1.2`.
    pub protocol: String,
    /// The cipher suite (OpenSSL's name for the TLS 1.2 suites BCP 195 recommends).
    pub cipher: String,
}

/// Paths whose requests are recorded for the module that waits for them: the back-channel
/// and front-channel logout URIs (OpenID Back-Channel Logout 1.0 §2.5, Front-Channel Logout
/// 1.0 §2), under the runner's base URL or a module's own (`/dynamic/<random>/...`), and the
/// CIBA client notification endpoint (CIBA §10.2) with the one a module redirects it to.
pub const RECORDED_PATHS: [&str; 4] = [
    "/backchannel_logout",
    "/frontchannel_logout",
    "/ciba-notification-endpoint",
    "/invalid-ciba-notification-endpoint",
];

fn recorded(path: &str) -> bool {
    RECORDED_PATHS.iter().any(|p| path.ends_with(p))
}

/// An answer of the relying party to a notification.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    /// A `Location` header (a redirect).
    pub location: Option<String>,
    pub body: String,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            location: None,
            body: String::new(),
        }
    }
}

/// Answers planned by bearer token: the first to the first request, the last one repeats.
fn planned() -> &'static Mutex<HashMap<String, Vec<Reply>>> {
    static PLANNED: OnceLock<Mutex<HashMap<String, Vec<Reply>>>> = OnceLock::new();
    PLANNED.get_or_init(Default::default)
}

/// Answers the requests carrying `Authorization: Bearer <token>` (a CIBA
/// client_notification_token, unique to one module's request) with `replies`, in turn.
pub fn plan_replies(token: &str, replies: Vec<Reply>) {
    planned()
        .lock()
        .expect("planned lock")
        .insert(token.to_string(), replies);
}

/// The answer to `r`: its planned one, else 204 at the CIBA notification endpoint (the
/// suite's), else 200 not cached (Back-Channel Logout 1.0 §2.8, Front-Channel Logout 1.0 §2).
fn reply_to(r: &Received) -> String {
    let token = bearer(r).unwrap_or("");
    let planned = {
        let mut all = planned().lock().expect("planned lock");
        all.get_mut(token).and_then(|replies| {
            if replies.len() > 1 {
                Some(replies.remove(0))
            } else {
                replies.first().cloned()
            }
        })
    };
    let reply = planned.unwrap_or_else(|| {
        Reply::status(if r.path.ends_with("/ciba-notification-endpoint") {
            204
        } else {
            200
        })
    });
    let reason = match reply.status {
        200 => "OK",
        204 => "No Content",
        301 => "Moved Permanently",
        401 => "Unauthorized",
        403 => "Forbidden",
        _ => "Status",
    };
    let location = reply
        .location
        .map(|l| format!("Location: {l}\r\n"))
        .unwrap_or_default();
    format!(
        "HTTP/1.1 {} {reason}\r\nCache-Control: no-store\r\n{location}Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        reply.status,
        reply.body.len(),
        reply.body
    )
}

fn received() -> &'static Mutex<Vec<Received>> {
    static RECEIVED: OnceLock<Mutex<Vec<Received>>> = OnceLock::new();
    RECEIVED.get_or_init(Default::default)
}

/// Takes the requests received so far at `path` (each is handed to one caller).
pub fn take_received(path: &str) -> Vec<Received> {
    take_received_where(path, |_| true)
}

/// Takes the requests received so far at `path` that `mine` picks (modules that run at once
/// share the CIBA notification endpoint: each picks its own by its bearer token).
pub fn take_received_where(path: &str, mine: impl Fn(&Received) -> bool) -> Vec<Received> {
    let mut all = received().lock().expect("received lock");
    let (mine, rest): (Vec<Received>, Vec<Received>) = std::mem::take(&mut *all)
        .into_iter()
        .partition(|r| r.path == path && mine(r));
    *all = rest;
    mine
}

/// Waits up to `within` for a request at `path`.
pub async fn wait_received(path: &str, within: std::time::Duration) -> Vec<Received> {
    wait_received_where(path, within, |_| true).await
}

/// Waits up to `within` for a request at `path` that `mine` picks.
pub async fn wait_received_where(
    path: &str,
    within: std::time::Duration,
    mine: impl Fn(&Received) -> bool,
) -> Vec<Received> {
    let until = std::time::Instant::now() + within;
    loop {
        let got = take_received_where(path, &mine);
        if !got.is_empty() || std::time::Instant::now() >= until {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The bearer token of `r`'s `Authorization` header.
pub fn bearer(r: &Received) -> Option<&str> {
    let (scheme, token) = r.headers.get("authorization")?.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn pairs(s: &str) -> BTreeMap<String, String> {
    form_urlencoded::parse(s.as_bytes()).into_owned().collect()
}

/// The protected resource the plain OAuth variants reach through the provider's gateway
/// (`resource_url`): paths under it answer any method.
pub const RESOURCE_PATH: &str = "/resource";

/// The resource's answer: 200 with a JSON body when the gateway passed the caller's identity
/// (a `Consentry-Identity` JWT), 403 otherwise, so a module fails unless the request came
/// through the gateway's token check.
fn resource_reply(head: &str) -> String {
    let identity = head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("consentry-identity")
            .then(|| v.trim().to_string())
    });
    let (status, body) = match identity {
        Some(jwt) if jwt.split('.').count() == 3 => ("200 OK", r#"{"resource":"ok"}"#),
        _ => (
            "403 Forbidden",
            r#"{"error":"the gateway's identity header is missing"}"#,
        ),
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The TLS server configuration of `tls` (PEM certificate chain and PKCS#8 key).
fn tls_acceptor(tls: &RpTlsConfig) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&tls.cert_file)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("rp_tls {}: {e}", tls.cert_file.display()))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key_file)
        .map_err(|e| format!("rp_tls {}: {e}", tls.key_file.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
    .map_err(|e| format!("rp_tls: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// The negotiated protocol and cipher suite as the suite's proxy reports them
/// (`x-ssl-protocol`, `x-ssl-cipher`: Apache mod_ssl's names).
fn tls_params(conn: &rustls::ServerConnection) -> Tls {
    use rustls::CipherSuite::*;
    let protocol = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "unknown",
    };
    let cipher = conn.negotiated_cipher_suite().map(|c| match c.suite() {
        TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 => "ECDHE-RSA-AES128-GCM-SHA256".to_string(),
        TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 => "ECDHE-RSA-AES256-GCM-SHA384".to_string(),
        other => format!("{other:?}"),
    });
    Tls {
        protocol: protocol.to_string(),
        cipher: cipher.unwrap_or_default(),
    }
}

/// Listens on `addr` and answers GETs for published paths (404 otherwise), one request per
/// connection, in plain http.
pub async fn serve(addr: &str) -> Result<(), String> {
    serve_with_tls(addr, None).await
}

/// `https` once the server answers TLS, else `http`: the scheme of the URIs the provider
/// calls on the runner (logout and notification URIs).
pub fn scheme() -> &'static str {
    if HTTPS.get().is_some() {
        "https"
    } else {
        "http"
    }
}

static HTTPS: OnceLock<()> = OnceLock::new();

/// `serve`; with `tls`, a connection that opens with a TLS handshake is served over TLS
/// (the logout and CIBA notification URIs are https), others in plain http (request objects,
/// documents and the gateway's upstream).
pub async fn serve_with_tls(addr: &str, tls: Option<&RpTlsConfig>) -> Result<(), String> {
    let acceptor = tls.map(tls_acceptor).transpose()?;
    if let Some(tls) = tls {
        let pem = std::fs::read(&tls.ca_file)
            .map_err(|e| format!("rp_tls {}: {e}", tls.ca_file.display()))?;
        let ca = reqwest::Certificate::from_pem(&pem)
            .map_err(|e| format!("rp_tls {}: {e}", tls.ca_file.display()))?;
        crate::browser::trust_also(ca);
        let _ = HTTPS.set(());
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("rp server on {addr}: {e}"))?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut first = [0u8; 1];
                // A TLS connection opens with a handshake record (content type 22).
                let is_tls = matches!(stream.peek(&mut first).await, Ok(1) if first[0] == 22);
                match acceptor.filter(|_| is_tls) {
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream).await {
                            let tls = tls_params(stream.get_ref().1);
                            handle(stream, Some(tls)).await;
                        }
                    }
                    None => handle(stream, None).await,
                }
            });
        }
    });
    Ok(())
}

/// Answers one request on `stream`.
async fn handle<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, tls: Option<Tls>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target.clone(), String::new()),
    };
    if recorded(&path) {
        let body = read_body(&mut stream, &buf).await;
        let headers = head_headers(&head);
        let r = Received {
            method: head.split_whitespace().next().unwrap_or("").to_string(),
            path,
            query: pairs(&query),
            form: pairs(&body),
            headers,
            body,
            tls,
        };
        let reply = reply_to(&r);
        received().lock().expect("received lock").push(r);
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
        return;
    }
    if path.starts_with(RESOURCE_PATH) {
        let reply = resource_reply(&head);
        let _ = stream.write_all(reply.as_bytes()).await;
        let _ = stream.shutdown().await;
        return;
    }
    let body = documents()
        .lock()
        .expect("documents lock")
        .get(&path)
        .cloned();
    let reply = match body {
        Some((content_type, b)) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
            b.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
    };
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// The header lines of `head`, names in lower case.
fn head_headers(head: &str) -> BTreeMap<String, String> {
    head.split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect()
}

/// The body after the head already read into `buf` (up to its Content-Length, at most 64 KiB).
async fn read_body<S: AsyncRead + Unpin>(stream: &mut S, buf: &[u8]) -> String {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return String::new();
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0)
        .min(64 * 1024);
    let mut body = buf[end + 4..].to_vec();
    let mut chunk = [0u8; 2048];
    while body.len() < len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(len);
    String::from_utf8_lossy(&body).to_string()
}
