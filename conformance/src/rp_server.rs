//! The relying party's own small web server (the suite's `handleHttp` for the paths of a
//! module): it serves the request objects that modules pass by reference (`request_uri`,
//! OIDC Core §6.2), and the clients' `jwks_uri` and `sector_identifier_uri` documents of the
//! dynamic registration modules; and it receives the logout notices of the logout plans
//! (`backchannel_logout_uri`, `frontchannel_logout_uri`). Plain HTTP on loopback: the provider fetches it only when started with
//! `outbound.allow_private = true`, as `run.sh` does.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
}

/// Paths whose requests are recorded for the module that waits for them: the back-channel
/// and front-channel logout URIs (OpenID Back-Channel Logout 1.0 §2.5, Front-Channel Logout
/// 1.0 §2), under the runner's base URL or a module's own (`/dynamic/<random>/...`).
pub const RECORDED_PATHS: [&str; 2] = ["/backchannel_logout", "/frontchannel_logout"];

fn recorded(path: &str) -> bool {
    RECORDED_PATHS.iter().any(|p| path.ends_with(p))
}

fn received() -> &'static Mutex<Vec<Received>> {
    static RECEIVED: OnceLock<Mutex<Vec<Received>>> = OnceLock::new();
    RECEIVED.get_or_init(Default::default)
}

/// Takes the requests received so far at `path` (each is handed to one caller).
pub fn take_received(path: &str) -> Vec<Received> {
    let mut all = received().lock().expect("received lock");
    let (mine, rest): (Vec<Received>, Vec<Received>) = std::mem::take(&mut *all)
        .into_iter()
        .partition(|r| r.path == path);
    *all = rest;
    mine
}

/// Waits up to `within` for a request at `path`.
pub async fn wait_received(path: &str, within: std::time::Duration) -> Vec<Received> {
    let until = std::time::Instant::now() + within;
    loop {
        let got = take_received(path);
        if !got.is_empty() || std::time::Instant::now() >= until {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
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

/// Listens on `addr` and answers GETs for published paths (404 otherwise), one request per
/// connection.
pub async fn serve(addr: &str) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("rp server on {addr}: {e}"))?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
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
                    received().lock().expect("received lock").push(Received {
                        method: head.split_whitespace().next().unwrap_or("").to_string(),
                        path,
                        query: pairs(&query),
                        form: pairs(&body),
                    });
                    // Back-Channel Logout 1.0 §2.8 and Front-Channel Logout 1.0 §2: a
                    // successful answer, not cached.
                    let reply = "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
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
            });
        }
    });
    Ok(())
}

/// The body after the head already read into `buf` (up to its Content-Length, at most 64 KiB).
async fn read_body(stream: &mut tokio::net::TcpStream, buf: &[u8]) -> String {
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
