//! OpenID Back-Channel Logout 1.0: the logout token (§2.4) and its delivery (§2.5). A notice
//! is written to the outbox by [`super::end`]; the outbox worker calls [`deliver`] for each
//! attempt, which signs a fresh token (its `exp` is short, so a retry must not reuse an old
//! one) and POSTs it under the outbound policy, as `jwks_uri` fetches go.

use crate::error::OAuthError;
use crate::protocol::oidc::subject;
use crate::protocol::tokens::id_token_alg;
use crate::protocol::Ctx;
use crate::secrets;
use crate::types::Client;
use serde_json::{json, Value};
use std::time::Duration;

/// §2.4: the member of `events` that makes a JWT a logout token.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid: long enough to cross the network, no longer (§2.6).
pub const LIFETIME_SECS: i64 = 120;

/// The logout token for `client` about the user `user_id` and the session `sid`: signed like
/// the client's ID tokens, `typ` `logout+jwt` (§2.4), with the `sub` the client knows the user
/// by (pairwise or public), `sid` when known, and never a `nonce` (§2.4).
pub async fn logout_token(
    cx: &Ctx<'_>,
    client: &Client,
    user_id: &str,
    sid: Option<&str>,
) -> Result<String, OAuthError> {
    let mut claims = json!({
        "iss": cx.issuer,
        "aud": client.id,
        "iat": cx.now,
        "exp": cx.now + LIFETIME_SECS,
        "jti": secrets::random_token(),
        "sub": subject::for_client(cx, client, user_id),
        "events": { EVENT: {} },
    });
    if let Some(sid) = sid {
        claims["sid"] = json!(sid);
    }
    let jws = cx
        .keys()
        .sign(id_token_alg(cx, client), Some("logout+jwt"), &claims)
        .map_err(OAuthError::server)?;
    // §2.4: encrypted as the client's ID tokens are, when it asked for that.
    let Some(alg) = client.metadata.id_token_encrypted_response_alg.as_deref() else {
        return Ok(jws);
    };
    let enc = client
        .metadata
        .id_token_encrypted_response_enc
        .as_deref()
        .unwrap_or("A128CBC-HS256");
    let keys = crate::protocol::client_keys::encryption_keys(cx, client).await?;
    crate::jose::encrypt::nested_jwt(&jws, &keys, alg, enc).map_err(OAuthError::server)
}

/// One delivery attempt of an outbox notice (`body`: `{userId, sid}`) to its client: `Ok`
/// when the client's `backchannel_logout_uri` answered 2xx (§2.8), else why not.
pub async fn deliver(
    cx: &Ctx<'_>,
    http: &reqwest::Client,
    client_id: &str,
    body: &str,
) -> Result<(), String> {
    let notice: Value = serde_json::from_str(body).map_err(|e| format!("bad notice: {e}"))?;
    let user_id = notice["userId"].as_str().ok_or("notice without a user")?;
    let client = crate::protocol::client_cache::client(cx, client_id)
        .await
        .map_err(|e| e.description().to_string())?
        .ok_or("the client is gone or disabled")?;
    let uri = client
        .metadata
        .backchannel_logout_uri
        .as_deref()
        .ok_or("the client no longer has a backchannel_logout_uri")?;
    let url = cx.config.outbound.check_uri(uri)?;
    let token = logout_token(cx, &client, user_id, notice["sid"].as_str())
        .await
        .map_err(|e| e.description().to_string())?;
    let res = http
        .post(url)
        .form(&[("logout_token", token.as_str())])
        .send()
        .await
        .map_err(|e| format!("{uri}: {e}"))?;
    if res.status().is_success() {
        Ok(())
    } else {
        Err(format!("{uri} answered {}", res.status()))
    }
}

/// The HTTP client for deliveries: the outbound policy's (checked addresses, no redirects,
/// no proxy).
pub fn http_client(cx: &Ctx<'_>, timeout: Duration) -> reqwest::Client {
    cx.config.outbound.http_client(timeout)
}
