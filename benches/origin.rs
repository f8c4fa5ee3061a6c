//! A minimal upstream for `benches/gateway.sh`: answers every request `200` with a small JSON
//! body, on one thread, so the gateway's overhead is measured against a direct call to it.
//!
//!   cargo bench --bench origin -- PORT

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

const BODY: &[u8] = br#"{"accounts":[{"id":"1","balance":"100.00"}]}"#;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("usage: origin PORT");
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the port is free");
    loop {
        let Ok((sock, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let answer = service_fn(|_req| async {
                let res = hyper::Response::builder()
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(BODY)))
                    .expect("a static response");
                Ok::<_, Infallible>(res)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(sock), answer)
                .await;
        });
    }
}
