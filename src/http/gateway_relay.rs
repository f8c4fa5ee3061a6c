//! The gateway's passing through: the caller's headers less its credentials, the upstream's
//! answer relayed with its body chunk by chunk, and bodies capped while they stream.

use super::respond;
use crate::protocol::tokens::gateway::{self as rule, IDENTITY_HEADER};
use hyper::body::{Body, Bytes, Frame, SizeHint};
use salvo::http::header::{self, HeaderMap};
use salvo::http::ResBody;
use salvo::prelude::*;
use salvo::BoxedError;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

pub const INTERACTION_ID: &str = "x-fapi-interaction-id";

/// Hop-by-hop headers (RFC 9110 §7.6.1) and what the gateway sets itself: never relayed.
/// Nor is any field the message's own `Connection` header names (`named_by_connection`).
const NOT_RELAYED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// The caller's headers without its credentials (`Authorization`, `DPoP`), any identity
/// header it made up, hop-by-hop headers, and `x-fapi-interaction-id` (set below from ours).
pub fn forwarded_headers(from: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(from.len() + 2);
    for (name, value) in from {
        let n = name.as_str();
        let credential = ["authorization", "dpop", IDENTITY_HEADER, INTERACTION_ID].contains(&n);
        if credential || NOT_RELAYED.contains(&n) || named_by_connection(from, n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

/// Whether the message's `Connection` header lists `name` (lower case) as a field for this
/// hop only (RFC 9110 §7.6.1): a proxy removes it before forwarding.
fn named_by_connection(headers: &HeaderMap, name: &str) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .any(|option| option.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
}

/// The upstream's status and headers (less hop-by-hop ones), and its body chunk by chunk as
/// it comes (server-sent events, long downloads), cut off past `MAX_UPSTREAM_BODY`.
pub fn relay<B>(res: &mut Response, answer: hyper::Response<B>)
where
    B: Body<Data = Bytes> + Send + Sync + Unpin + 'static,
    B::Error: Into<BoxedError>,
{
    let (head, body) = answer.into_parts();
    if body
        .size_hint()
        .exact()
        .is_some_and(|n| n > rule::MAX_UPSTREAM_BODY as u64)
    {
        let why = format!("the body is larger than {} bytes", rule::MAX_UPSTREAM_BODY);
        return bad_gateway(res, &why);
    }
    res.status_code(head.status);
    relay_headers(res, head.headers);
    let capped = Capped::new(body, rule::MAX_UPSTREAM_BODY, Default::default());
    res.body(ResBody::Boxed(Box::pin(capped)));
}

/// The upstream's headers onto ours, less hop-by-hop ones (those its `Connection` names too)
/// and the interaction id (ours).
pub fn relay_headers(res: &mut Response, headers: HeaderMap) {
    let ours = res.headers_mut();
    for (name, value) in &headers {
        let n = name.as_str();
        if NOT_RELAYED.contains(&n) || n == INTERACTION_ID || named_by_connection(&headers, n) {
            continue;
        }
        ours.append(name.clone(), value.clone());
    }
}

/// A body passed on frame by frame as it arrives, failing once more than `max` bytes went
/// through (and saying so in `over`): a stream is capped without being held whole. A failed
/// body ends the forwarded request, or the relayed response without its last chunk, so the
/// receiver cannot take a cut body for a whole one.
pub struct Capped<B> {
    inner: B,
    seen: usize,
    max: usize,
    over: Arc<AtomicBool>,
}

impl<B> Capped<B> {
    pub fn new(inner: B, max: usize, over: Arc<AtomicBool>) -> Self {
        Capped {
            inner,
            seen: 0,
            max,
            over,
        }
    }
}

impl<B> Body for Capped<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxedError>,
{
    type Data = Bytes;
    type Error = BoxedError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxedError>>> {
        let this = &mut *self;
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            None => return Poll::Ready(None),
            Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
            Some(Ok(frame)) => frame,
        };
        if let Some(data) = frame.data_ref() {
            this.seen += data.len();
            if this.seen > this.max {
                this.over.store(true, Ordering::Relaxed);
                let why = format!("the body is larger than {} bytes", this.max);
                return Poll::Ready(Some(Err(why.into())));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// RFC 9110 §15.6.3: the upstream could not be reached or gave no usable answer.
pub fn bad_gateway(res: &mut Response, why: &str) {
    tracing::warn!(error = why, "gateway upstream unreachable");
    respond::json(
        res,
        StatusCode::BAD_GATEWAY,
        &serde_json::json!({
            "error": "bad_gateway",
            "error_description": "the upstream server could not be reached",
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn a_capped_body_passes_chunks_and_fails_past_its_cap() {
        let chunks =
            |n: usize| ResBody::Chunks((0..n).map(|_| Bytes::from(vec![7u8; 10])).collect());
        let over = Arc::new(AtomicBool::new(false));
        let whole = Capped::new(chunks(3), 30, over.clone()).collect().await;
        assert_eq!(whole.unwrap().to_bytes().len(), 30);
        assert!(!over.load(Ordering::Relaxed));
        let cut = Capped::new(chunks(4), 30, over.clone()).collect().await;
        assert!(cut.is_err(), "31+ bytes fail");
        assert!(over.load(Ordering::Relaxed));
    }
}
