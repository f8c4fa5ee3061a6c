//! Accepts TCP (and TLS) connections and serves them with salvo, putting the peer's TLS
//! certificate into each request's extensions.

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use rustls::ServerConfig;
use salvo::http::uri::Scheme;
use salvo::Service;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::{Cores, PeerCertificate};

/// Serves `service` on `listener` until the task is dropped (which stops `cores` too); TLS when
/// `tls` is set. Accepts here, and serves each connection on one of `cores`.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    tls: Option<Arc<ServerConfig>>,
    cores: Cores,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                continue;
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
        cores.spawn(async move {
            let Ok(stream) = tokio::net::TcpStream::from_std(stream) else {
                return;
            };
            match acceptor {
                Some(acceptor) => {
                    let tls = match acceptor.accept(stream).await {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::debug!(error = %e, %remote, "TLS handshake failed");
                            return;
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
                    serve_connection(
                        TokioIo::new(tls),
                        &service,
                        local,
                        remote,
                        Scheme::HTTPS,
                        peer,
                    )
                    .await;
                }
                None => {
                    serve_connection(
                        TokioIo::new(stream),
                        &service,
                        local,
                        remote,
                        Scheme::HTTP,
                        None,
                    )
                    .await
                }
            }
        });
    }
}

async fn serve_connection<I>(
    io: I,
    service: &Service,
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
    scheme: Scheme,
    peer: Option<PeerCertificate>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let handler = service.hyper_handler(
        local.into(),
        remote.into(),
        scheme,
        None,
        salvo::conn::ConnCtrl::new(),
        None,
    );
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        if let Some(p) = &peer {
            req.extensions_mut().insert(p.clone());
        }
        hyper::service::Service::call(&handler, req)
    });
    if let Err(e) = Builder::new(TokioExecutor::new())
        .serve_connection(io, svc)
        .await
    {
        tracing::debug!(error = %e, "connection ended with an error");
    }
}
