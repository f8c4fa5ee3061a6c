//! The host as a client of an upstream OpenID provider (an institution's server, or an
//! identity provider for federated login): discovery, the authorization request, client
//! authentication at the token endpoint, the code exchange, ID token checks and UserInfo.
//! Which hosts may be reached is the caller's rule (`allowed`).

use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::jose::{peek_header, verify_client_jwt, Alg, ClientKeys};
use crate::plugins::UpstreamAuth;
use crate::protocol::jwks_fetch::JwksCache;
use crate::protocol::Ctx;
use crate::secrets;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 256 * 1024;

/// An HTTP client for upstream servers: no redirects, short timeouts, the web PKI plus the
/// CAs in `extra_ca` (PEM; `setting` names it in errors).
pub fn http_client(
    extra_ca: Option<&std::path::Path>,
    setting: &str,
) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = extra_ca {
        let pem = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("{setting} {}: {e}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
            b = b.add_root_certificate(cert);
        }
    }
    Ok(b.build()?)
}

/// How to reach and authenticate to the upstream's token endpoint (the client secret sealed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamClient {
    /// Empty for a plain OAuth 2 server configured by its endpoints (no discovery, no ID token).
    pub issuer: String,
    pub token_endpoint: String,
    #[serde(default)]
    pub jwks_uri: Option<String>,
    pub client_id: String,
    #[serde(default)]
    pub client_secret_sealed: Option<String>,
    pub auth: UpstreamAuth,
    pub redirect_uri: String,
}

/// The interaction a returning `state` names: an interaction's states are made
/// `{interaction id}.{random}` so the callback can find its interaction (a dashboard's sign-in
/// has a state without one: `None`); only the browser cookie and the random part (compared in
/// constant time by the caller) make it trusted.
pub fn interaction_of(state: &str) -> Option<&str> {
    state.split_once('.').map(|(iid, _)| iid)
}

/// `path` on the server's origin (the issuer without its base path): where upstream servers
/// send the browser back.
pub fn return_uri(cx: &Ctx<'_>, path: &str) -> String {
    let origin = cx.issuer.strip_suffix(&cx.base_path).unwrap_or(&cx.issuer);
    format!("{origin}{path}")
}

/// The upstream server failed us (unreachable, malformed, or a check on its answer failed):
/// the user may try again later; `detail` is logged, never shown.
pub fn bad_gateway(detail: impl Into<String>) -> OAuthError {
    OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        503,
        "the upstream server could not be used; try again later",
    )
    .with_detail(detail)
}

/// Reads a JSON body within the size limit.
async fn json_body(res: reqwest::Response, what: &str) -> OAuthResult<(u16, Value)> {
    let status = res.status().as_u16();
    let body = crate::outbound::read_capped(res, MAX_BODY)
        .await
        .map_err(|e| bad_gateway(format!("{what}: {e}")))?;
    let v = serde_json::from_slice(&body).map_err(|e| bad_gateway(format!("{what}: {e}")))?;
    Ok((status, v))
}

/// The provider's discovery document (OpenID Discovery §4), checked to name `issuer`.
pub async fn discover(
    http: &reqwest::Client,
    issuer: &str,
    allowed: &(dyn Fn(&str) -> OAuthResult<url::Url> + Sync),
) -> OAuthResult<Value> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    allowed(&url)?;
    let res = http
        .get(&url)
        .send()
        .await
        .map_err(|e| bad_gateway(format!("{url}: {e}")))?;
    let (status, md) = json_body(res, &url).await?;
    if status != 200 {
        return Err(bad_gateway(format!("{url} answered {status}")));
    }
    // OpenID Discovery §4.3: the document must name the issuer it was fetched for.
    if md["issuer"].as_str() != Some(issuer) {
        return Err(bad_gateway(format!("{url} names issuer {}", md["issuer"])));
    }
    Ok(md)
}

/// A URL the discovery document names, under the caller's host rule.
pub fn endpoint(
    md: &Value,
    name: &str,
    allowed: &(dyn Fn(&str) -> OAuthResult<url::Url> + Sync),
) -> OAuthResult<String> {
    let url = md[name]
        .as_str()
        .ok_or_else(|| bad_gateway(format!("discovery has no {name}")))?;
    allowed(url)?;
    Ok(url.to_string())
}

/// The parameters of a code-flow authorization request with PKCE S256, state and nonce
/// (OIDC Core §3.1.2.1, RFC 7636 §4.3).
pub fn authorization_params(
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    state: &str,
    nonce: &str,
    verifier: &str,
) -> Vec<(String, String)> {
    let challenge = crate::protocol::pkce::s256(verifier);
    [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("scope", scope),
        ("state", state),
        ("nonce", nonce),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The token request form that redeems `code` (RFC 6749 §4.1.3, RFC 7636 §4.5).
pub fn code_form(code: &str, redirect_uri: &str, verifier: &str) -> Vec<(String, String)> {
    vec![
        ("grant_type".into(), "authorization_code".into()),
        ("code".into(), code.to_string()),
        ("redirect_uri".into(), redirect_uri.to_string()),
        ("code_verifier".into(), verifier.to_string()),
    ]
}

/// POSTs a form to an upstream endpoint with the client's authentication.
pub async fn post_form(
    cx: &Ctx<'_>,
    http: &reqwest::Client,
    client: &UpstreamClient,
    url: &str,
    mut form: Vec<(String, String)>,
) -> OAuthResult<(u16, Value)> {
    let secret = client
        .client_secret_sealed
        .as_deref()
        .and_then(|s| cx.sealer.open(s));
    let mut req = http.post(url);
    match client.auth {
        UpstreamAuth::ClientSecretBasic => {
            let secret =
                secret.ok_or_else(|| bad_gateway("client_secret_basic without a secret"))?;
            // RFC 6749 §2.3.1: both parts form-encoded before Basic.
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            req = req.basic_auth(enc(&client.client_id), Some(enc(&secret)));
        }
        UpstreamAuth::ClientSecretPost => {
            let secret =
                secret.ok_or_else(|| bad_gateway("client_secret_post without a secret"))?;
            form.push(("client_secret".into(), secret));
        }
        UpstreamAuth::PrivateKeyJwt => {
            let now = cx.now;
            // RFC 7523 §3: the audience is the issuer, or the token endpoint without one.
            let aud = match client.issuer.as_str() {
                "" => &client.token_endpoint,
                issuer => issuer,
            };
            let claims = json!({
                "iss": client.client_id, "sub": client.client_id, "aud": aud,
                "iat": now, "exp": now + 60, "jti": secrets::random_token(),
            });
            let assertion = cx
                .keys()
                .sign(Alg::PS256, None, &claims)
                .map_err(OAuthError::server)?;
            form.push((
                "client_assertion_type".into(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
            ));
            form.push(("client_assertion".into(), assertion));
        }
        UpstreamAuth::None => {}
    }
    // Every method but Basic names the client in the body (once: a PAR body already does).
    let basic = client.auth == UpstreamAuth::ClientSecretBasic;
    if !basic && !form.iter().any(|(k, _)| k == "client_id") {
        form.push(("client_id".into(), client.client_id.clone()));
    }
    let res = req
        .form(&form)
        .send()
        .await
        .map_err(|e| bad_gateway(format!("{url}: {e}")))?;
    json_body(res, url).await
}

/// OIDC Core §3.1.3.7: the ID token's signature by the issuer's keys (from `jwks`), then iss,
/// aud, azp, exp and (for the code grant) nonce. Returns its claims.
pub async fn verify_id_token(
    cx: &Ctx<'_>,
    jwks: &JwksCache,
    client: &UpstreamClient,
    token: &str,
    nonce: Option<&str>,
) -> OAuthResult<Value> {
    let jwks_uri = client
        .jwks_uri
        .as_deref()
        .ok_or_else(|| bad_gateway("an ID token but no jwks_uri in discovery"))?;
    let kid = peek_header(token)
        .ok()
        .and_then(|h| h["kid"].as_str().map(String::from));
    let set = jwks
        .get(jwks_uri, kid.as_deref(), cx.now)
        .await
        .map_err(|e| bad_gateway(format!("jwks: {}", e.description())))?;
    let keys = ClientKeys::from_jwks(&set).map_err(|e| bad_gateway(format!("jwks: {e}")))?;
    let (claims, _) = verify_client_jwt(token, &keys, &Alg::ALL)
        .map_err(|e| bad_gateway(format!("ID token signature: {e}")))?;
    match id_token_problem(&claims, client, nonce, cx.now) {
        Some(what) => Err(bad_gateway(format!(
            "the upstream's ID token has a bad {what} (OIDC Core 3.1.3.7)"
        ))),
        None => Ok(claims),
    }
}

/// The first claim of a signature-checked ID token that OIDC Core §3.1.3.7 refuses.
fn id_token_problem(
    claims: &Value,
    client: &UpstreamClient,
    nonce: Option<&str>,
    now: i64,
) -> Option<&'static str> {
    let id = client.client_id.as_str();
    let aud_ok = crate::protocol::client_keys::audience_matches(&claims["aud"], &[id]);
    // §3.1.3.7 steps 4-5: with several audiences azp must be present; when present it is us.
    let several = claims["aud"].as_array().is_some_and(|a| a.len() > 1);
    let azp_ok = match claims.get("azp") {
        Some(azp) => azp.as_str() == Some(id),
        None => !several,
    };
    if claims["iss"].as_str() != Some(client.issuer.as_str()) {
        Some("iss")
    } else if !aud_ok {
        Some("aud")
    } else if !azp_ok {
        Some("azp")
    } else if claims["exp"].as_i64().is_none_or(|e| e <= now) {
        Some("exp")
    } else if nonce.is_some() && claims["nonce"].as_str() != nonce {
        Some("nonce")
    } else {
        None
    }
}

/// The UserInfo claims for `access_token` (OIDC Core §5.3), refused unless their `sub` is the
/// ID token's (§5.3.2).
pub async fn userinfo(
    http: &reqwest::Client,
    url: &str,
    access_token: &str,
    sub: &str,
) -> OAuthResult<Value> {
    let res = http
        .get(url)
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|e| bad_gateway(format!("{url}: {e}")))?;
    let (status, claims) = json_body(res, url).await?;
    if status != 200 {
        return Err(bad_gateway(format!("{url} answered {status}")));
    }
    if claims["sub"].as_str() != Some(sub) {
        return Err(bad_gateway(
            "UserInfo names another subject than the ID token (OIDC Core 5.3.2)",
        ));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> UpstreamClient {
        UpstreamClient {
            issuer: "https://idp.example".into(),
            token_endpoint: "https://idp.example/token".into(),
            jwks_uri: None,
            client_id: "us".into(),
            client_secret_sealed: None,
            auth: UpstreamAuth::ClientSecretBasic,
            redirect_uri: "https://rp.example/cb".into(),
        }
    }

    /// OIDC Core §3.1.3.7: each refused claim is named; several audiences need azp = us.
    #[test]
    fn oidc_core_3_1_3_7_id_token_claim_checks() {
        let ok = json!({"iss": "https://idp.example", "aud": "us", "exp": 200, "nonce": "n"});
        assert_eq!(id_token_problem(&ok, &client(), Some("n"), 100), None);
        let cases = [
            ("iss", json!({"iss": "https://other.example"})),
            ("aud", json!({"aud": "someone-else"})),
            ("azp", json!({"aud": ["us", "them"]})),
            ("azp", json!({"azp": "them"})),
            ("exp", json!({"exp": 100})),
            ("nonce", json!({"nonce": "m"})),
        ];
        for (what, change) in cases {
            let mut claims = ok.clone();
            for (k, v) in change.as_object().unwrap() {
                claims[k] = v.clone();
            }
            assert_eq!(
                id_token_problem(&claims, &client(), Some("n"), 100),
                Some(what),
                "{claims}"
            );
        }
        let mut several = ok.clone();
        several["aud"] = json!(["us", "them"]);
        several["azp"] = json!("us");
        assert_eq!(id_token_problem(&several, &client(), Some("n"), 100), None);
    }
}
