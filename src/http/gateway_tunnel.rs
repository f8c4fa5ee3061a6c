//! WebSocket routes of the gateway (`websocket = true`, RFC 6455). The caller's opening
//! handshake, its token checked like any request's, is forwarded to the upstream with the
//! signed identity; when the upstream switches protocols, the caller's connection and the
//! upstream's are joined and their frames copied both ways untouched. When one side closes,
//! the other's sending half is shut, so closing either side closes the other.
//!
//! A tunnel lives no longer than its token: it ends when the token expires, or when a lookup
//! every `gateway.websocket_recheck_secs` finds it revoked, with a Close frame 1008 (policy
//! violation, RFC 6455 §7.4.1) to both sides; after `gateway.websocket_idle_timeout_secs`
//! without a byte either way, and when the server stops, with 1001 (going away). It keeps its
//! connection's slot in `server.max_connections` and is counted in `consentry_gateway_tunnels`.
use super::gateway_relay::{bad_gateway, forwarded_headers, relay, relay_headers, INTERACTION_ID};
use super::respond;
use super::websocket_frames::{close_frame, FrameCursor};
use crate::config::gateway::Route;
use crate::error::OAuthError;
use crate::origin_pool::OutBody;
use crate::protocol::tokens::gateway::{self as rule, IDENTITY_HEADER};
use crate::tls::{ConnectionHandle, ConnectionSlot};
use crate::Provider;
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::OnUpgrade;
use hyper::Uri;
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::gauge::Gauge;
use salvo::http::header::{self, HeaderValue};
use salvo::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use tokio::time::Instant;

/// How long a side may take to finish the frame it is sending once the gateway ends the
/// tunnel, and then to answer the gateway's Close, before its connection is dropped.
const CLOSING_WAIT: Duration = Duration::from_secs(5);

/// Whether the caller asks for a WebSocket (RFC 6455 §4.1: `Upgrade: websocket`).
pub fn wants_websocket(req: &Request) -> bool {
    req.headers()
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("websocket"))
}

/// The upstream's answer to the forwarded handshake: its refusal relayed as it is, or its
/// `101 Switching Protocols` (with its `Sec-WebSocket-Accept`, protocol and extensions) and
/// then the two connections joined.
pub async fn open(
    p: &Arc<Provider>,
    route: &Route,
    path: &str,
    identity: HeaderValue,
    token: &crate::protocol::tokens::ActiveAccessToken,
    req: &mut Request,
    res: &mut Response,
) {
    if !route.websocket {
        let e =
            OAuthError::invalid_request("this gateway route does not accept WebSocket upgrades");
        return respond::oauth_error(res, &e, "");
    }
    // RFC 6455 §4.1: an HTTP/1.1 GET with a key; HTTP/2 has no Upgrade (RFC 9113 §8.2.2).
    let caller = req.extensions_mut().remove::<OnUpgrade>();
    let (Some(caller), true) = (caller, req.headers().contains_key("sec-websocket-key")) else {
        let e = OAuthError::invalid_request(
            "RFC 6455 §4.1: a WebSocket handshake is an HTTP/1.1 GET with Sec-WebSocket-Key",
        );
        return respond::oauth_error(res, &e, "");
    };
    // Origin-form (RFC 9112 §3.2.1), as for any forwarded request.
    let Ok(target) = Uri::try_from(rule::upstream_target(path, req.uri().query())) else {
        let e = OAuthError::invalid_request("the request target is not a valid URI");
        return respond::oauth_error(res, &e, "");
    };
    let mut outbound = hyper::Request::new(OutBody::new(Empty::new().map_err(|n| match n {})));
    *outbound.uri_mut() = target;
    let headers = outbound.headers_mut();
    *headers = forwarded_headers(req.headers());
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(IDENTITY_HEADER, identity);
    if let Some(id) = res.headers().get(INTERACTION_ID).cloned() {
        headers.insert(INTERACTION_ID, id);
    }
    // The gateway's own connector and policy, on a connection of the tunnel's own.
    let origins = p.gateway_origins.get();
    let mut answer = match origins.open_upgrade(&route.upstream, outbound).await {
        Ok(answer) => answer,
        Err(e) => return bad_gateway(res, &e),
    };
    if answer.status() != StatusCode::SWITCHING_PROTOCOLS {
        return relay(res, answer);
    }
    let upstream = hyper::upgrade::on(&mut answer);
    res.status_code(StatusCode::SWITCHING_PROTOCOLS);
    relay_headers(res, std::mem::take(answer.headers_mut()));
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    let connection = req.extensions().get::<ConnectionHandle>().cloned();
    let tunnel = Tunnel {
        p: p.clone(),
        jti: token.row.jti.clone(),
        expires_at: token.row.expires_at,
        stop: connection.as_ref().map(ConnectionHandle::stopping),
        _slot: connection.and_then(|c| c.take_slot()),
    };
    // The caller's connection is handed over once our 101 is written: join it then.
    tokio::spawn(async move {
        let (caller, upstream) = tokio::join!(caller, upstream);
        match (caller, upstream) {
            (Ok(caller), Ok(upstream)) => {
                tunnel
                    .run(TokioIo::new(caller), TokioIo::new(upstream))
                    .await
            }
            (Err(e), _) => tracing::debug!(error = %e, "gateway WebSocket: caller gone"),
            (_, Err(e)) => tracing::debug!(error = %e, "gateway WebSocket: upstream gone"),
        }
    });
}

/// Why the gateway ends a tunnel: the Close frames' status code and reason (RFC 6455 §7.4.1).
#[derive(Clone, Copy, Debug)]
struct Ending {
    code: u16,
    reason: &'static str,
}

const EXPIRED: Ending = Ending {
    code: 1008,
    reason: "the access token expired",
};
const REVOKED: Ending = Ending {
    code: 1008,
    reason: "the access token is no longer active",
};
const UNCHECKED: Ending = Ending {
    code: 1008,
    reason: "the access token could not be checked",
};
const IDLE: Ending = Ending {
    code: 1001,
    reason: "idle timeout",
};
const SHUTDOWN: Ending = Ending {
    code: 1001,
    reason: "the server is shutting down",
};

/// An open tunnel: whose token it runs on, and its connection's slot, held while it lives.
struct Tunnel {
    p: Arc<Provider>,
    jti: String,
    expires_at: i64,
    stop: Option<watch::Receiver<bool>>,
    _slot: Option<ConnectionSlot>,
}

impl Tunnel {
    /// Copies frames both ways until a side closes, or until `ending` says the gateway ends
    /// the tunnel: then each side gets a Close frame between two of its frames.
    async fn run<C, O>(mut self, caller: C, origin: O)
    where
        C: AsyncRead + AsyncWrite + Unpin + Send,
        O: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let _counted = Counted::new(&self.p.metrics.gateway_tunnels);
        let (caller_in, caller_out) = tokio::io::split(caller);
        let (origin_in, origin_out) = tokio::io::split(origin);
        let (end, ended) = watch::channel(None);
        let activity = Activity::new();
        // A client's frames are masked (RFC 6455 §5.3): the gateway is the origin's client.
        let to_origin = pump(caller_in, origin_out, true, ended.clone(), &activity);
        let to_caller = pump(origin_in, caller_out, false, ended, &activity);
        let pumps = async { tokio::join!(to_origin, to_caller) };
        tokio::pin!(pumps);
        let ending = tokio::select! {
            _ = &mut pumps => return,
            ending = self.ending(&activity) => ending,
        };
        tracing::info!(
            code = ending.code,
            reason = ending.reason,
            "gateway WebSocket tunnel ended by the gateway"
        );
        let _ = end.send(Some(ending));
        pumps.await;
    }

    /// Waits for the first reason to end the tunnel.
    async fn ending(&mut self, activity: &Activity) -> Ending {
        let config = &self.p.config.gateway;
        let idle = Duration::from_secs(config.websocket_idle_timeout_secs);
        let mut recheck = tokio::time::interval(Duration::from_secs(config.websocket_recheck_secs));
        recheck.tick().await;
        // Whole seconds, rounded so that this fires at or just after `exp`, never before.
        let left = u64::try_from(self.expires_at - self.p.now()).unwrap_or(0);
        let expiry = tokio::time::sleep(Duration::from_secs(left));
        tokio::pin!(expiry);
        loop {
            let idle_at = activity.last() + idle;
            tokio::select! {
                _ = &mut expiry => return EXPIRED,
                _ = recheck.tick() => match rule::still_active(&self.p.ctx(), &self.jti).await {
                    Ok(true) => {}
                    Ok(false) => return REVOKED,
                    Err(e) => {
                        tracing::warn!(error = %e, "gateway WebSocket: token lookup failed");
                        return UNCHECKED;
                    }
                },
                _ = tokio::time::sleep_until(idle_at) => {
                    if activity.last() + idle <= Instant::now() {
                        return IDLE;
                    }
                }
                _ = stopped(&mut self.stop) => return SHUTDOWN,
            }
        }
    }
}

/// When the server stops (never, for a connection that came without a handle).
async fn stopped(stop: &mut Option<watch::Receiver<bool>>) {
    match stop {
        Some(stop) => {
            let _ = stop.wait_for(|s| *s).await;
        }
        None => std::future::pending().await,
    }
}

/// Copies frames from `from` to `to` as they come, untouched, until `from` ends (then `to` is
/// shut: that side closed). Once the tunnel is `ended`, the frame under way is finished, `to`
/// gets the gateway's Close frame and is shut, and what `from` still sends (its own Close,
/// RFC 6455 §5.5.1) is read and dropped; each step within `CLOSING_WAIT`.
async fn pump<R, W>(
    mut from: R,
    mut to: W,
    masked: bool,
    mut ended: watch::Receiver<Option<Ending>>,
    activity: &Activity,
) where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut cursor = FrameCursor::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut ending: Option<Ending> = None;
    let mut give_up = Instant::now();
    loop {
        if let (Some(ending), true) = (ending, cursor.at_boundary()) {
            return close(from, to, ending, masked).await;
        }
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            e = ended.wait_for(Option::is_some), if ending.is_none() => {
                ending = Some(e.ok().and_then(|e| *e).unwrap_or(SHUTDOWN));
                give_up = Instant::now() + CLOSING_WAIT;
                continue;
            }
            // The frame under way did not end in time: drop the connection.
            _ = tokio::time::sleep_until(give_up), if ending.is_some() => return,
        };
        let n = match read {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => n,
        };
        activity.touch();
        let chunk = &buf[..n];
        // While ending, up to the end of the frame under way only.
        let through = match ending {
            Some(_) => cursor.advance(chunk),
            None => {
                cursor.feed(chunk);
                n
            }
        };
        if to.write_all(&chunk[..through]).await.is_err() || to.flush().await.is_err() {
            return;
        }
    }
}

async fn close<R, W>(mut from: R, mut to: W, ending: Ending, masked: bool)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mask = masked.then(crate::secrets::random_bytes::<4>);
    let frame = close_frame(ending.code, ending.reason, mask);
    let sent = async {
        to.write_all(&frame).await?;
        to.flush().await?;
        to.shutdown().await
    };
    let _ = tokio::time::timeout(CLOSING_WAIT, sent).await;
    let mut buf = [0u8; 4096];
    let drained = async { while matches!(from.read(&mut buf).await, Ok(n) if n > 0) {} };
    let _ = tokio::time::timeout(CLOSING_WAIT, drained).await;
}

/// When a byte last went through either way.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// One open tunnel in the gauge, while it lives.
struct Counted(Gauge);

impl Counted {
    fn new(gauge: &Gauge) -> Counted {
        gauge.inc();
        Counted(gauge.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.dec();
    }
}
