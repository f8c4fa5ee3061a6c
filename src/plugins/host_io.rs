//! Host functions that reach outside the script: HTTPS to the institution's own hosts only
//! (no redirects, bounded time and size), and JWTs signed with this provider's keys or
//! verified against a key set the script supplies.

use super::call::{context, fail, remaining, HostResult, Services};
use super::host_fn::host_fn;
use crate::jose::{verify_client_jwt, Alg, ClientKeys};
use rhai::{Dynamic, Engine, Map};
use std::time::Duration;

/// Longest any one request may take, whatever the hook's deadline leaves.
const MAX_REQUEST_TIME: Duration = Duration::from_secs(10);
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// The map every `http_*` call returns, for the reference.
const RESPONSE: &str =
    "Returns `#{ status, headers, body, json }`: `status` the HTTP status (int), \
     `headers` a map of the response's headers (lower-case names, string values; headers that \
     are not text are left out), `body` the body as text (invalid UTF-8 replaced), `json` the \
     body parsed when it is JSON, else `()`. A 4xx or 5xx answer is returned, not thrown.";

/// The errors every `http_*` call can raise, for the reference.
const HTTP_THROWS: &str = "Throws: when `url` is not a URL, not `https`, or not on one of the \
     institution's hosts (`institution().hosts` and the `hosts` setting); when called from \
     `institution()` (no network at load time); when the hook's time is up; on a connection \
     or TLS failure or timeout (10 s at most, less if the hook's deadline is nearer); when the \
     response is larger than 1 MiB. Redirects are not followed (a 3xx is returned).";

pub fn register(e: &mut Engine) {
    let get = format!(
        "HTTPS GET `url`, which must be on one of the institution's hosts.\n{RESPONSE}\n{HTTP_THROWS}"
    );
    let with_headers = "The same, with request `headers` (a map of header name to value, sent as \
         text).";
    let form = format!(
        "HTTPS POST of `form` (a map of name to value, sent as \
         `application/x-www-form-urlencoded`).\n{RESPONSE}\n{HTTP_THROWS}"
    );
    let json = format!(
        "HTTPS POST of `body` (any value JSON can hold) as `application/json`.\n{RESPONSE}\n\
         {HTTP_THROWS} Also when `body` holds something JSON cannot represent."
    );
    host_fn(e, "http_get", ["url"], &get, |url: &str| {
        request("GET", url, Body::None, Map::new())
    });
    host_fn(
        e,
        "http_get",
        ["url", "headers"],
        with_headers,
        |url: &str, headers: Map| request("GET", url, Body::None, headers),
    );
    host_fn(
        e,
        "http_post_form",
        ["url", "form"],
        &form,
        |url: &str, form: Map| request("POST", url, Body::Form(form), Map::new()),
    );
    host_fn(
        e,
        "http_post_form",
        ["url", "form", "headers"],
        with_headers,
        |url: &str, form: Map, headers: Map| request("POST", url, Body::Form(form), headers),
    );
    host_fn(
        e,
        "http_post_json",
        ["url", "body"],
        &json,
        |url: &str, body: Dynamic| request("POST", url, Body::Json(body), Map::new()),
    );
    host_fn(
        e,
        "http_post_json",
        ["url", "body", "headers"],
        with_headers,
        |url: &str, body: Dynamic, headers: Map| request("POST", url, Body::Json(body), headers),
    );
    host_fn(
        e,
        "jwt_sign",
        ["claims"],
        "A compact JWS of `claims` signed PS256 with Consentry's current key, whose public \
         half is in Consentry's `jwks_uri` (so an institution can verify it).\n\
         Throws: when called from `institution()`, or when `claims` cannot be JSON.",
        |claims: Map| jwt_sign(claims, "PS256"),
    );
    host_fn(
        e,
        "jwt_sign",
        ["claims", "alg"],
        "The same, signed with `alg`: `PS256` or `ES256`.\n\
         Throws: for any other `alg`, when called from `institution()`, or when `claims` \
         cannot be JSON.",
        |claims: Map, alg: &str| jwt_sign(claims, alg),
    );
    host_fn(
        e,
        "jwt_verify",
        ["token", "jwks"],
        "The claims (a map) of the JWS `token` once its signature verifies against a key of \
         the JWK set `jwks` (`#{ keys: [...] }`; RS256, PS256 or ES256 only). Checks the \
         signature only: check `iss`, `aud` and `exp` yourself.\n\
         Throws: `jwt_verify: bad key set: …` when `jwks` is not a usable JWK set; \
         `jwt_verify: …` when the token is malformed, uses another algorithm, or its signature \
         does not verify.",
        jwt_verify,
    );
}

enum Body {
    None,
    Form(Map),
    Json(Dynamic),
}

fn services() -> HostResult<Services> {
    match context(|c| c.services.clone()) {
        Some(s) => Ok(s),
        None => fail("network and keys are not available while institution() runs"),
    }
}

/// Checks the URL is HTTPS on one of the institution's `host[:port]`s (see `super::hosts`).
fn allowed(url: &str) -> HostResult<url::Url> {
    context(|c| super::hosts::check(url, &c.hosts, &c.operator_hosts, &c.institution)).or_else(fail)
}

fn request(method: &str, url: &str, body: Body, headers: Map) -> HostResult<Map> {
    let u = allowed(url)?;
    // A rehearsal (`consentry plugins test`) answers from its case, never the network.
    if let Some(stub) = context(|c| c.http_stub.clone()) {
        let canned = stub.answer(method, url).or_else(fail)?;
        return to_script(canned.status, canned.headers, canned.body.as_bytes());
    }
    let s = services()?;
    let left = remaining().unwrap_or(MAX_REQUEST_TIME);
    if left.is_zero() {
        return fail("the hook's time is up");
    }
    let mut req = match method {
        "POST" => s.http.post(u),
        _ => s.http.get(u),
    }
    .timeout(left.min(MAX_REQUEST_TIME));
    for (k, v) in headers {
        req = req.header(k.as_str(), v.to_string());
    }
    req = match body {
        Body::None => req,
        Body::Form(form) => {
            let pairs: Vec<(String, String)> = form
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            req.form(&pairs)
        }
        Body::Json(v) => {
            let json: serde_json::Value = rhai::serde::from_dynamic(&v)?;
            req.header("content-type", "application/json")
                .body(json.to_string())
        }
    };
    let answer = s.runtime.block_on(async move {
        let mut res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let headers: Vec<(String, String)> = res
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let mut body = Vec::new();
        while let Some(chunk) = res.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_RESPONSE_BYTES {
                return Err(format!("response larger than {MAX_RESPONSE_BYTES} bytes"));
            }
        }
        Ok((status, headers, body))
    });
    let (status, headers, body) = match answer {
        Ok(a) => a,
        Err(e) => return fail(format!("{method} {url}: {e}")),
    };
    to_script(status, headers, &body)
}

/// The response as the script sees it: `#{ status, body, json, headers }`.
fn to_script(status: u16, headers: Vec<(String, String)>, body: &[u8]) -> HostResult<Map> {
    let text = String::from_utf8_lossy(body).to_string();
    let mut out = Map::new();
    out.insert("status".into(), Dynamic::from(i64::from(status)));
    let json = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .map(rhai::serde::to_dynamic)
        .transpose()?
        .unwrap_or(Dynamic::UNIT);
    out.insert("json".into(), json);
    out.insert("body".into(), text.into());
    let mut h = Map::new();
    for (k, v) in headers {
        h.insert(k.into(), v.into());
    }
    out.insert("headers".into(), h.into());
    Ok(out)
}

/// Signs claims with this provider's current key (PS256 or ES256): the same keys it publishes,
/// so an institution that registered our jwks_uri can verify them.
fn jwt_sign(claims: Map, alg: &str) -> HostResult<String> {
    let alg = match Alg::parse(alg) {
        Some(a @ (Alg::PS256 | Alg::ES256)) => a,
        _ => return fail("jwt_sign signs with PS256 or ES256"),
    };
    let claims: serde_json::Value = rhai::serde::from_dynamic(&claims.into())?;
    match services()?.keys.sign(alg, None, &claims) {
        Ok(t) => Ok(t),
        Err(e) => fail(format!("jwt_sign: {e}")),
    }
}

/// Verifies a JWS against a JWKS (RS256, PS256 or ES256 only) and returns its claims.
fn jwt_verify(token: &str, jwks: Map) -> HostResult<Dynamic> {
    let set: serde_json::Value = rhai::serde::from_dynamic(&jwks.into())?;
    let keys = match ClientKeys::from_jwks(&set) {
        Ok(k) => k,
        Err(e) => return fail(format!("jwt_verify: bad key set: {e}")),
    };
    match verify_client_jwt(token, &keys, &Alg::ALL) {
        Ok((claims, _)) => rhai::serde::to_dynamic(claims),
        Err(e) => fail(format!("jwt_verify: {e}")),
    }
}
