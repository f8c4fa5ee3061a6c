//! WebSocket routes of the gateway (`websocket = true`, RFC 6455). The caller's opening
//! handshake, its token checked like any request's, is forwarded to the upstream with the
//! signed identity; when the upstream switches protocols, the caller's connection and the
//! upstream's are joined and their bytes (the frames, untouched) copied both ways. When one
//! side closes, the other's sending half is shut, so closing either side closes the other.

use super::gateway_relay::{bad_gateway, forwarded_headers, relay, relay_headers, INTERACTION_ID};
use super::respond;
use crate::config::gateway::Route;
use crate::error::OAuthError;
use crate::protocol::tokens::gateway::{self as rule, IDENTITY_HEADER};
use crate::Provider;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use salvo::http::header::{self, HeaderValue};
use salvo::prelude::*;

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
    p: &Provider,
    route: &Route,
    path: &str,
    identity: String,
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
    let url = rule::upstream_url(route, path, req.uri().query());
    let mut outbound = p
        .gateway_http
        .get()
        .get(&url)
        .headers(forwarded_headers(req.headers()))
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(IDENTITY_HEADER, identity);
    if let Some(id) = res.headers().get(INTERACTION_ID).cloned() {
        outbound = outbound.header(INTERACTION_ID, id);
    }
    let answer = match outbound.send().await {
        Ok(answer) => answer,
        Err(e) => return bad_gateway(res, &e.to_string()),
    };
    if answer.status() != reqwest::StatusCode::SWITCHING_PROTOCOLS {
        return relay(res, answer);
    }
    res.status_code(StatusCode::SWITCHING_PROTOCOLS);
    relay_headers(res, answer.headers());
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    // The caller's connection is handed over once our 101 is written: join it then.
    tokio::spawn(async move {
        let (caller, upstream) = tokio::join!(caller, answer.upgrade());
        match (caller, upstream) {
            (Ok(caller), Ok(mut upstream)) => {
                let mut caller = TokioIo::new(caller);
                let _ = tokio::io::copy_bidirectional(&mut caller, &mut upstream).await;
            }
            (Err(e), _) => tracing::debug!(error = %e, "gateway WebSocket: caller gone"),
            (_, Err(e)) => tracing::debug!(error = %e, "gateway WebSocket: upstream gone"),
        }
    });
}
