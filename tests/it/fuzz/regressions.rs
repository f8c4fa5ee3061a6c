//! What the fuzz targets found, each kept as a plain test of the rule it broke.

use crate::harness::*;

/// RFC 6749 §5.2 / RFC 7591 §3.2.2: a request refused before its body is read (here: not a
/// form, no initial access token) still gets its OAuth error; the connection is not reset
/// while the client is still sending. Found by `fuzz_http_requests`.
#[tokio::test]
async fn a_refusal_before_the_body_is_read_still_reaches_the_client() {
    let s = TestServer::start().await;
    let body = vec![b'{'; 2 * 1024 * 1024];
    let browser = s.browser();
    for (path, status, error) in [
        ("/par", 400, "invalid_request"),
        ("/reg", 401, "invalid_token"),
    ] {
        let res = browser
            .post(s.url(path))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: no answer: {e:?}"));
        assert_eq!(res.status().as_u16(), status, "{path}");
        let answer: serde_json::Value = res.json().await.expect("a JSON error");
        assert_eq!(answer["error"], error, "{path}");
    }
}
