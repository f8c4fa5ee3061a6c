//! Accepts TCP (and TLS) connections and serves them with salvo, putting the peer's TLS
//! certificate into each request's extensions. Bounds what a client can hold: connections at
//! once, time to finish the TLS handshake and to send headers, and time idle between requests.
//! On stop, accepts no more and lets the requests in flight finish.

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use parking_lot::Mutex;
use prometheus_client::metrics::counter::Counter;
use rustls::ServerConfig;
use salvo::http::uri::Scheme;
use salvo::Service;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::{server::TlsStream, TlsAcceptor};

use super::{Cores, PeerCertificate};
use crate::config::ServerLimits;

/// First pause after a failed accept (e.g. at the file-descriptor limit); doubles while
/// accepts keep failing.
const ACCEPT_BACKOFF_FIRST: Duration = Duration::from_millis(50);
const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one warning about failed accepts per this period (the rest are counted).
const ACCEPT_WARNING_EVERY: Duration = Duration::from_secs(10);

/// How the serving loop is bounded and stopped.
pub struct Serving {
    pub limits: ServerLimits,
    /// Counts failed accepts.
    pub accept_errors: Counter,
    /// Becomes `true` to stop: no more accepts, open connections finish what is in flight.
    pub stop: watch::Receiver<bool>,
}

/// Serves `service` on `listener` with TLS when `tls` is set, accepting here and serving each
/// connection on one of `cores`, until `serving.stop` turns true; then stops accepting (new
/// connections are refused), waits up to the grace period for open connections to finish
/// their requests, and returns (dropping `cores`, which ends whatever is left).
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    tls: Option<Arc<ServerConfig>>,
    cores: Cores,
    serving: Serving,
) {
    let Serving {
        limits,
        accept_errors,
        mut stop,
    } = serving;
    let acceptor = tls.map(TlsAcceptor::from);
    let max = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let slots = Arc::new(Semaphore::new(max as usize));
    let mut failures = AcceptFailures::new(accept_errors);
    let limits = Arc::new(limits);
    loop {
        // At the cap, further connections wait in the listen backlog.
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the semaphore is never closed"),
            _ = stop.wait_for(|s| *s) => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (stream, remote) = match accepted {
            Ok(s) => {
                failures.succeeded();
                s
            }
            Err(e) => {
                let pause = failures.failed(&e);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => continue,
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let local = match stream.local_addr() {
            Ok(a) => a,
            Err(_) => continue,
        };
        // Registered with this runtime's I/O driver: move it to the core's.
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        let service = service.clone();
        let acceptor = acceptor.clone();
        let limits = limits.clone();
        let stop = stop.clone();
        cores.spawn(async move {
            // Shared with the connection's requests: an upgraded one takes it over.
            let slot = Arc::new(Mutex::new(Some(slot)));
            let handle = ConnectionHandle {
                slot: slot.clone(),
                stop: stop.clone(),
            };
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                return;
            };
            let conn = Conn {
                service: &service,
                local,
                remote,
                limits: &limits,
                stop,
                handle,
            };
            match acceptor {
                Some(acceptor) => {
                    let timeout = Duration::from_secs(limits.tls_handshake_timeout_secs);
                    if let Some((tls, peer)) = handshake(&acceptor, stream, timeout, remote).await {
                        conn.serve(tls, Scheme::HTTPS, peer).await;
                    }
                }
                None => conn.serve(stream, Scheme::HTTP, None).await,
            }
        });
    }
    drop(listener);
    let grace = Duration::from_secs(limits.shutdown_grace_secs);
    tracing::info!(
        grace_secs = limits.shutdown_grace_secs,
        "no longer accepting; finishing the requests in flight"
    );
    // Every connection holds a slot until it closes: all slots back means all are done.
    if tokio::time::timeout(grace, slots.acquire_many(max))
        .await
        .is_err()
    {
        tracing::warn!(
            open = max as usize - slots.available_permits(),
            "grace period over; closing the connections still open"
        );
    }
}

/// Completes the TLS handshake within `timeout`, with the client's certificate chain if it
/// sent one; `None` (logged) if the handshake failed or took too long.
async fn handshake(
    acceptor: &TlsAcceptor,
    stream: tokio::net::TcpStream,
    timeout: Duration,
    remote: std::net::SocketAddr,
) -> Option<(TlsStream<tokio::net::TcpStream>, Option<PeerCertificate>)> {
    let tls = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, %remote, "TLS handshake failed");
            return None;
        }
        Err(_) => {
            tracing::debug!(%remote, "TLS handshake timed out");
            return None;
        }
    };
    let peer = tls
        .get_ref()
        .1
        .peer_certificates()
        .filter(|c| !c.is_empty())
        .map(|c| PeerCertificate {
            chain: Arc::new(c.iter().map(|d| d.as_ref().to_vec()).collect()),
        });
    Some((tls, peer))
}

/// Paces the accept loop while accepts fail: at the file-descriptor limit every retry fails at
/// once, and retrying (and logging) in a tight loop burnt a core and flooded the log.
struct AcceptFailures {
    counter: Counter,
    pause: Duration,
    last_warning: Option<Instant>,
    unreported: u64,
}

impl AcceptFailures {
    fn new(counter: Counter) -> AcceptFailures {
        AcceptFailures {
            counter,
            pause: Duration::ZERO,
            last_warning: None,
            unreported: 0,
        }
    }

    fn succeeded(&mut self) {
        self.pause = Duration::ZERO;
    }

    /// Counts the failure, warns unless it warned recently, and says how long to pause.
    fn failed(&mut self, e: &std::io::Error) -> Duration {
        use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
        self.counter.inc();
        // One client's connection went away before it was accepted: nothing to wait for.
        if matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted) {
            return Duration::ZERO;
        }
        self.unreported += 1;
        if self
            .last_warning
            .is_none_or(|t| t.elapsed() >= ACCEPT_WARNING_EVERY)
        {
            tracing::warn!(
                error = %e,
                failures = self.unreported,
                "accepting connections failed; pausing (further failures are counted in consentry_accept_errors_total)"
            );
            self.last_warning = Some(Instant::now());
            self.unreported = 0;
        }
        self.pause = (self.pause * 2).clamp(ACCEPT_BACKOFF_FIRST, ACCEPT_BACKOFF_MAX);
        self.pause
    }
}

/// One accepted connection and what it needs to serve it.
struct Conn<'a> {
    service: &'a Service,
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
    limits: &'a ServerLimits,
    stop: watch::Receiver<bool>,
    handle: ConnectionHandle,
}

/// Put into each request's extensions: what a request that takes its connection over (a
/// gateway WebSocket tunnel, RFC 6455) needs to stay within the server's bounds, namely the
/// connection's slot in `server.max_connections` and the server's stop signal.
#[derive(Clone)]
pub struct ConnectionHandle {
    slot: Arc<Mutex<Option<OwnedSemaphorePermit>>>,
    stop: watch::Receiver<bool>,
}

/// A connection's slot in `server.max_connections`, given back when dropped; a graceful stop
/// waits (within its grace period) for every slot to be given back.
pub struct ConnectionSlot(#[allow(dead_code)] OwnedSemaphorePermit);

impl ConnectionHandle {
    /// Takes the connection's slot over, so it stays taken after the HTTP connection has
    /// handed its bytes over; `None` if another request took it.
    pub fn take_slot(&self) -> Option<ConnectionSlot> {
        self.slot.lock().take().map(ConnectionSlot)
    }

    /// Becomes `true` when the server stops.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }
}

impl Conn<'_> {
    async fn serve<S>(mut self, stream: S, scheme: Scheme, peer: Option<PeerCertificate>)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let handler = self.service.hyper_handler(
            self.local.into(),
            self.remote.into(),
            scheme,
            None,
            salvo::conn::ConnCtrl::new(),
            None,
        );
        let activity = Arc::new(Activity::new());
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
            first_read: true,
        });
        let seen = activity.clone();
        let handle = self.handle.clone();
        let svc =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                if let Some(p) = &peer {
                    req.extensions_mut().insert(p.clone());
                }
                req.extensions_mut().insert(handle.clone());
                let busy = seen.begin();
                let answer = hyper::service::Service::call(&handler, req);
                async move {
                    let out = answer.await;
                    drop(busy);
                    out
                }
            });
        let mut builder = Builder::new(TokioExecutor::new());
        // hyper's own header timeout also runs while a kept-alive connection waits for its
        // next request, so it would close idle connections long before the idle timeout;
        // both bounds are kept here instead (`Activity`).
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(None);
        // With upgrades: a gateway WebSocket route takes the connection over (RFC 6455).
        let conn = builder.serve_connection_with_upgrades(io, svc);
        tokio::pin!(conn);
        let limits = Limits {
            idle: Duration::from_secs(self.limits.idle_timeout_secs),
            head: Duration::from_secs(self.limits.header_read_timeout_secs),
        };
        let mut closing = false;
        loop {
            // Bytes that start a head arrive while this waits: look again at least once per
            // header read timeout.
            let wake_at = activity
                .next_check(&limits)
                .min(Instant::now() + limits.head);
            tokio::select! {
                ended = conn.as_mut() => {
                    if let Err(e) = ended {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                    return;
                }
                // Closes an idle connection at once; a busy one after its request.
                _ = self.stop.wait_for(|s| *s), if !closing => {
                    closing = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = tokio::time::sleep_until(wake_at.into()), if !closing => {
                    match activity.expired(&limits) {
                        // Slowloris: the headers did not all come in time; drop the connection.
                        Some(Expired::Head) => return,
                        Some(Expired::Idle) => {
                            closing = true;
                            conn.as_mut().graceful_shutdown();
                        }
                        None => {}
                    }
                }
            }
        }
    }
}

/// How long a connection may wait between requests, and take to send a request's headers.
struct Limits {
    idle: Duration,
    head: Duration,
}

/// Which bound a connection went past.
enum Expired {
    Head,
    Idle,
}

/// Requests in flight on a connection, when it last started or finished one, and when the
/// first bytes of the next request's head arrived.
struct Activity {
    in_flight: AtomicUsize,
    last: Mutex<Instant>,
    head_since: Mutex<Option<Instant>>,
    /// HTTP/2: frames (settings, pings, window updates) come and go between requests, so
    /// only the idle timeout applies, as hyper applies its header timeout to HTTP/1 only.
    http2: std::sync::atomic::AtomicBool,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            in_flight: AtomicUsize::new(0),
            last: Mutex::new(Instant::now()),
            head_since: Mutex::new(None),
            http2: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        *self.last.lock() = Instant::now();
        // The whole head is in: the header read timeout ends here.
        *self.head_since.lock() = None;
        InFlight(self.clone())
    }

    /// Bytes came in: with no request in flight they start the next request's head.
    fn bytes_arrived(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0 && !self.http2.load(Ordering::Relaxed) {
            self.head_since.lock().get_or_insert_with(Instant::now);
        }
    }

    /// When to look again whether a bound has passed.
    fn next_check(&self, limits: &Limits) -> Instant {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return Instant::now() + limits.idle;
        }
        match *self.head_since.lock() {
            Some(t) => t + limits.head,
            None => *self.last.lock() + limits.idle,
        }
    }

    fn expired(&self, limits: &Limits) -> Option<Expired> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        match *self.head_since.lock() {
            Some(t) if t.elapsed() >= limits.head => Some(Expired::Head),
            Some(_) => None,
            None if self.last.lock().elapsed() >= limits.idle => Some(Expired::Idle),
            None => None,
        }
    }
}

/// The connection's stream, telling `Activity` when bytes arrive.
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
    /// Whether nothing has been read yet: the first bytes tell HTTP/2 (its preface) apart.
    first_read: bool,
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            if std::mem::take(&mut self.first_read)
                && buf.filled()[before..].starts_with(b"PRI * HTTP/2.0")
            {
                self.activity.http2.store(true, Ordering::Relaxed);
            }
            self.activity.bytes_arrived();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// One request in flight; finished when dropped (also when the request is cancelled).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        *self.0.last.lock() = Instant::now();
    }
}
