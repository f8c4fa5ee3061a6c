//! The gateway's connections to its origins: HTTP/1.1 over TCP, or TLS for https origins,
//! kept open between requests. One pool per serving thread (`per_core`), so a request, its
//! connection and the answer stay on the caller's thread, and the pool's lock is never
//! contended. Each route's origin is parsed once, when the pool is built; a request only
//! adds its path and query (no URL parsing, no IDNA, per request).
//!
//! The outbound policy holds as for every request the server makes: every address a host
//! name resolves to is checked before connecting (`OutboundPolicy::allows`), no proxy, no
//! redirects followed (the answer is relayed as it is), the web PKI plus `outbound.ca_file`
//! for https. A connection goes back to the pool only once its answer's body has been read to
//! the end, so a request never waits behind another's stream; one the origin closed while
//! idle is dropped, and a request that found it closed before being sent is retried once on a
//! fresh connection.
//!
//! A WebSocket tunnel's upstream half (`open_upgrade`) goes through the same connector, on a
//! fresh connection that is never pooled: once upgraded, it belongs to its tunnel.

use crate::outbound::OutboundPolicy;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{HeaderValue, HOST};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::time::Sleep;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A forwarded request's body, streamed.
pub type OutBody = UnsyncBoxBody<Bytes, BoxError>;

/// Idle connections kept per origin and serving thread; more are closed once answered.
const MAX_IDLE: usize = 32;
/// An idle connection unused for this long is closed rather than reused (origins commonly
/// close theirs after a minute or so).
const IDLE_KEEP: Duration = Duration::from_secs(50);

/// Open connections to the configured origins, for one serving thread.
pub struct OriginPool {
    origins: HashMap<String, Arc<Slot>>,
    policy: Arc<Connector>,
}

/// One origin: where it is, and its idle connections.
struct Slot {
    origin: Origin,
    idle: Mutex<Vec<(SendRequest<OutBody>, Instant)>>,
}

/// An origin (scheme, host, port), parsed once from its configured URL.
#[derive(Debug)]
struct Origin {
    https: bool,
    /// The host to resolve (an IPv6 literal without its brackets).
    host: String,
    port: u16,
    /// The `Host` header (RFC 9110 §7.2): the URL's authority.
    authority: HeaderValue,
    /// What TLS checks the certificate against.
    server_name: rustls_pki_types::ServerName<'static>,
}

struct Connector {
    allow_private: bool,
    tls: tokio_rustls::TlsConnector,
    /// Bounds connecting, the wait for an answer's head, and each wait for a body chunk.
    timeout: Duration,
}

impl OriginPool {
    /// A pool for `upstreams` (the routes' origins, checked by the configuration), under
    /// `policy`; `timeout` bounds connecting, the answer's head, and each wait for its body.
    pub fn new<'a>(
        upstreams: impl IntoIterator<Item = &'a str>,
        policy: &OutboundPolicy,
        timeout: Duration,
    ) -> OriginPool {
        let origins = upstreams
            .into_iter()
            .filter_map(|u| {
                let origin = Origin::parse(u)?;
                let slot = Slot {
                    origin,
                    idle: Mutex::new(Vec::new()),
                };
                Some((u.to_string(), Arc::new(slot)))
            })
            .collect();
        OriginPool {
            origins,
            policy: Arc::new(Connector {
                allow_private: policy.allow_private,
                tls: tls_connector(&policy.extra_roots),
                timeout,
            }),
        }
    }

    /// Sends `req` (origin-form URI: path and query) to `upstream`, one of the origins the
    /// pool was built for, and returns the answer once its head has arrived. The error says
    /// why there is no answer.
    pub async fn send(
        &self,
        upstream: &str,
        mut req: Request<OutBody>,
    ) -> Result<Response<Answer>, String> {
        let slot = self.addressed(upstream, &mut req)?;
        let timeout = self.policy.timeout;
        let answer = tokio::time::timeout(timeout, async {
            loop {
                let (mut sender, reused) = match slot.take_idle() {
                    Some(sender) => (sender, true),
                    // Boxed: connecting (TLS's state is large) is rare, and unboxed it would
                    // make every request's future that much bigger to build and move.
                    None => (
                        Box::pin(self.policy.connect(&slot.origin, false)).await?,
                        false,
                    ),
                };
                if reused && sender.ready().await.is_err() {
                    continue; // closed by the origin while idle
                }
                match sender.try_send_request(req).await {
                    Ok(answer) => return Ok((answer, sender)),
                    // Not sent: the pooled connection was closing. A fresh one gets it.
                    Err(mut e) => match e.take_message() {
                        Some(unsent) if reused => req = unsent,
                        _ => return Err(e.into_error().to_string()),
                    },
                }
            }
        })
        .await;
        let (answer, sender) = match answer {
            Ok(sent) => sent?,
            Err(_) => return Err(format!("no answer within {} s", timeout.as_secs())),
        };
        let slot = slot.clone();
        Ok(answer.map(|body| Answer::new(body, sender, slot, timeout)))
    }

    /// Sends `req`, an upgrade request (RFC 9110 §7.8: `Connection: upgrade`, `Upgrade`), to
    /// `upstream` on a fresh connection of its own, and returns the answer once its head has
    /// arrived (within the pool's timeout). On `101 Switching Protocols`,
    /// `hyper::upgrade::on(answer)` yields the connection; any other answer is relayed, and
    /// its connection closes with it.
    pub async fn open_upgrade(
        &self,
        upstream: &str,
        mut req: Request<OutBody>,
    ) -> Result<Response<Answer>, String> {
        let slot = self.addressed(upstream, &mut req)?;
        let timeout = self.policy.timeout;
        let answer = tokio::time::timeout(timeout, async {
            let mut sender = Box::pin(self.policy.connect(&slot.origin, true)).await?;
            sender.send_request(req).await.map_err(|e| e.to_string())
        })
        .await;
        match answer {
            Ok(answer) => Ok(answer?.map(|body| Answer::unpooled(body, timeout))),
            Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
        }
    }
}

impl OriginPool {
    /// `upstream`'s slot, with `req` addressed to it (`Host`, RFC 9110 §7.2).
    fn addressed(&self, upstream: &str, req: &mut Request<OutBody>) -> Result<&Arc<Slot>, String> {
        let slot = self
            .origins
            .get(upstream)
            .ok_or_else(|| format!("{upstream} is not a configured origin"))?;
        req.headers_mut()
            .insert(HOST, slot.origin.authority.clone());
        Ok(slot)
    }
}

impl Slot {
    /// The most recently used idle connection still open (its socket and buffers warmest).
    fn take_idle(&self) -> Option<SendRequest<OutBody>> {
        let mut idle = self.idle.lock();
        while let Some((sender, since)) = idle.pop() {
            if !sender.is_closed() && since.elapsed() < IDLE_KEEP {
                return Some(sender);
            }
        }
        None
    }

    fn give_back(&self, sender: SendRequest<OutBody>) {
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE && !sender.is_closed() {
            idle.push((sender, Instant::now()));
        }
    }
}

impl Origin {
    /// `scheme://host[:port]`, as the configuration checked it (`GatewayConfig::validate`).
    fn parse(upstream: &str) -> Option<Origin> {
        let url = url::Url::parse(upstream).ok()?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let host = match url.host()? {
            url::Host::Domain(d) => d.to_string(),
            url::Host::Ipv4(ip) => ip.to_string(),
            url::Host::Ipv6(ip) => ip.to_string(),
        };
        let port = url.port_or_known_default()?;
        let authority = match url.port() {
            Some(port) => format!("{}:{port}", url.host_str()?),
            None => url.host_str()?.to_string(),
        };
        Some(Origin {
            https,
            server_name: rustls_pki_types::ServerName::try_from(host.clone()).ok()?,
            host,
            port,
            authority: HeaderValue::from_str(&authority).ok()?,
        })
    }
}

impl Connector {
    /// A new HTTP/1.1 connection to `origin`; with `upgrades`, one that can be taken over by
    /// the protocol its answer switches to (RFC 9110 §7.8).
    async fn connect(
        &self,
        origin: &Origin,
        upgrades: bool,
    ) -> Result<SendRequest<OutBody>, String> {
        let addrs = self.resolve(origin).await?;
        let mut last = format!("{} has no address", origin.host);
        for addr in addrs {
            let tcp = match TcpStream::connect(addr).await {
                Ok(tcp) => tcp,
                Err(e) => {
                    last = format!("{addr}: {e}");
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            return if origin.https {
                let tls = self
                    .tls
                    .connect(origin.server_name.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS to {}: {e}", origin.host))?;
                handshake(tls, upgrades).await
            } else {
                handshake(tcp, upgrades).await
            };
        }
        Err(last)
    }

    /// The origin's addresses the policy allows (an IP literal is not looked up).
    async fn resolve(&self, origin: &Origin) -> Result<Vec<SocketAddr>, String> {
        let policy = OutboundPolicy {
            allow_private: self.allow_private,
            ..Default::default()
        };
        let all = tokio::net::lookup_host((origin.host.as_str(), origin.port))
            .await
            .map_err(|e| format!("{}: {e}", origin.host))?;
        let allowed: Vec<SocketAddr> = all.filter(|a| policy.allows(a.ip())).collect();
        if allowed.is_empty() {
            return Err(format!("{} resolves to no public address", origin.host));
        }
        Ok(allowed)
    }
}

/// HTTP/1.1 over `io`, its connection driven by a task on the calling thread's runtime; with
/// `upgrades`, the task hands the connection over once an answer switches protocols.
async fn handshake<T>(io: T, upgrades: bool) -> Result<SendRequest<OutBody>, String>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let ended = match upgrades {
            true => connection.with_upgrades().await,
            false => connection.await,
        };
        if let Err(e) = ended {
            tracing::debug!(error = %e, "gateway origin connection ended");
        }
    });
    Ok(sender)
}

/// TLS to https origins: the web PKI and `outbound.ca_file`'s CAs; HTTP/1.1 only.
fn tls_connector(extra_roots: &[Vec<u8>]) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for der in extra_roots {
        // Checked as certificates by `OutboundPolicy::load_ca_file`.
        let _ = roots.add(rustls_pki_types::CertificateDer::from(der.clone()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// An origin's answer body, passed on frame by frame. Read to its end, it gives its
/// connection back to the pool (unless it is `unpooled`); a wait of more than the pool's
/// timeout for the next frame fails it.
pub struct Answer {
    body: Incoming,
    back: Option<(SendRequest<OutBody>, Arc<Slot>)>,
    timeout: Duration,
    waiting: Option<Pin<Box<Sleep>>>,
}

impl Answer {
    fn new(
        body: Incoming,
        sender: SendRequest<OutBody>,
        slot: Arc<Slot>,
        timeout: Duration,
    ) -> Self {
        let mut answer = Answer {
            body,
            back: Some((sender, slot)),
            timeout,
            waiting: None,
        };
        // No body to read (HEAD, 204, Content-Length: 0): the connection is free now.
        if answer.body.is_end_stream() {
            answer.give_back();
        }
        answer
    }

    /// The body of an answer on a connection that never goes back to the pool.
    fn unpooled(body: Incoming, timeout: Duration) -> Self {
        Answer {
            body,
            back: None,
            timeout,
            waiting: None,
        }
    }

    fn give_back(&mut self) {
        if let Some((sender, slot)) = self.back.take() {
            slot.give_back(sender);
        }
    }
}

impl Body for Answer {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.waiting = None;
                if this.body.is_end_stream() {
                    this.give_back();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(None) => {
                this.give_back();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.back = None;
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Pending => {
                let timeout = this.timeout;
                let waiting = this
                    .waiting
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if waiting.as_mut().poll(cx).is_ready() {
                    this.back = None;
                    let why = format!("no data from the origin within {} s", timeout.as_secs());
                    return Poll::Ready(Some(Err(why.into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_parsed_once_into_host_port_and_authority() {
        let o = Origin::parse("https://api.example.com").unwrap();
        assert!(o.https);
        assert_eq!((o.host.as_str(), o.port), ("api.example.com", 443));
        assert_eq!(o.authority, "api.example.com");
        let o = Origin::parse("http://127.0.0.1:9000/").unwrap();
        assert!(!o.https);
        assert_eq!((o.host.as_str(), o.port), ("127.0.0.1", 9000));
        assert_eq!(o.authority, "127.0.0.1:9000");
        let o = Origin::parse("http://[::1]:9000").unwrap();
        assert_eq!((o.host.as_str(), o.port), ("::1", 9000));
        assert_eq!(o.authority, "[::1]:9000");
        assert!(Origin::parse("ftp://example.com").is_none());
    }
}
