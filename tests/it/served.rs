//! A loopback HTTP server standing in for a client's own web server (its `jwks_uri`, its
//! `request_uris`): serves one mutable body and counts the requests it answers.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Served {
    /// `http://127.0.0.1:{port}` — append any path.
    pub base: String,
    body: Arc<Mutex<(String, String)>>,
    hits: Arc<AtomicUsize>,
}

impl Served {
    /// Starts serving `body` with `content_type` at every path.
    pub async fn start(content_type: &str, body: String) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let body = Arc::new(Mutex::new((content_type.to_string(), body)));
        let hits = Arc::new(AtomicUsize::new(0));
        let (b, h) = (body.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (b, h) = (b.clone(), h.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = sock.read(&mut buf).await;
                    h.fetch_add(1, Ordering::SeqCst);
                    let (ct, text) = b.lock().clone();
                    let res = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    );
                    let _ = sock.write_all(res.as_bytes()).await;
                });
            }
        });
        Served { base, body, hits }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Serves `body` from now on.
    pub fn set(&self, body: String) {
        self.body.lock().1 = body;
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
