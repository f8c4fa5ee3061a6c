//! The client side of an institution's own OAuth 2 / OpenID Connect server: discovery, PKCE,
//! state and nonce, PAR when wanted, client authentication, the code exchange with ID token
//! checks, and refresh. Every URL must be on a host the institution's script declares.

use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::jose::{peek_header, verify_client_jwt, Alg, ClientKeys};
use crate::plugins::{OAuthStart, Plugin, UpstreamAuth};
use crate::protocol::Ctx;
use crate::secrets;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 256 * 1024;

/// The HTTP client for institutions' servers: no redirects, short timeouts, the web PKI plus
/// any operator-configured CAs.
pub fn http_client(extra_ca: Option<&std::path::Path>) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = extra_ca {
        let pem = std::fs::read(path)
            .map_err(|e| anyhow::anyhow!("plugins.upstream_ca_file {}: {e}", path.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
            b = b.add_root_certificate(cert);
        }
    }
    Ok(b.build()?)
}

/// An authorization in progress at the institution, kept with the interaction (the client
/// secret sealed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    #[serde(flatten)]
    pub client: UpstreamClient,
}

/// How to reach and authenticate to the institution's token endpoint; kept (sealed) with
/// the connection so its tokens can be refreshed later.
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

/// Tokens the institution issued, stored sealed with the connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamTokens {
    pub client: UpstreamClient,
    pub access_token: String,
    /// As the institution named it (`Bearer` when it did not).
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub scope: Option<String>,
}

fn bad_gateway(detail: impl Into<String>) -> OAuthError {
    OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        503,
        "the institution's server could not be used; try again later",
    )
    .with_detail(detail)
}

/// Refuses URLs off the institution's hosts, and anything but HTTPS. The hosts are those the
/// script declares plus those the operator adds in its `hosts` setting (comma separated), so
/// a template can be pointed at any server.
fn allowed(plugin: &Plugin, url: &str) -> OAuthResult<url::Url> {
    let u = url::Url::parse(url).map_err(|e| bad_gateway(format!("{url}: {e}")))?;
    let host = u.host_str().unwrap_or_default().trim_matches(['[', ']']);
    let declared = plugin.meta.hosts.iter().any(|h| h == host);
    let configured = plugin.operator_hosts.iter().any(|h| h == host);
    if u.scheme() != "https" || !(declared || configured) {
        return Err(bad_gateway(format!(
            "{url} is not https on a host institution {} declares",
            plugin.meta.id
        )));
    }
    Ok(u)
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

async fn discover(cx: &Ctx<'_>, plugin: &Plugin, issuer: &str) -> OAuthResult<Value> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    allowed(plugin, &url)?;
    let res = cx
        .upstream_http
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

fn endpoint(plugin: &Plugin, md: &Value, name: &str) -> OAuthResult<String> {
    let url = md[name]
        .as_str()
        .ok_or_else(|| bad_gateway(format!("discovery has no {name}")))?;
    allowed(plugin, url)?;
    Ok(url.to_string())
}

/// The server's discovery document (empty for a plain OAuth 2 server) with its authorization
/// and token endpoints: discovered from the issuer, or given by the script when it names none.
async fn server_metadata(
    cx: &Ctx<'_>,
    plugin: &Plugin,
    start: &OAuthStart,
) -> OAuthResult<(Value, String, String)> {
    if start.issuer.is_empty() {
        let given = |url: &Option<String>, name: &str| match url {
            Some(u) => allowed(plugin, u).map(|_| u.clone()),
            None => Err(bad_gateway(format!(
                "oauth: without an issuer, {name} must be given"
            ))),
        };
        let authorization = given(&start.authorization_endpoint, "authorization_endpoint")?;
        let token = given(&start.token_endpoint, "token_endpoint")?;
        if start.par {
            return Err(bad_gateway(
                "oauth: par needs an issuer to discover its endpoint",
            ));
        }
        return Ok((json!({}), authorization, token));
    }
    allowed(plugin, &start.issuer)?;
    let md = discover(cx, plugin, &start.issuer).await?;
    let authorization = endpoint(plugin, &md, "authorization_endpoint")?;
    let token = endpoint(plugin, &md, "token_endpoint")?;
    Ok((md, authorization, token))
}

/// Starts the authorization: returns the URL to send the browser to, and what to keep.
pub async fn begin(
    cx: &Ctx<'_>,
    plugin: &Plugin,
    start: &OAuthStart,
    interaction_id: &str,
) -> OAuthResult<(String, Pending)> {
    let (md, authorization_endpoint, token_endpoint) = server_metadata(cx, plugin, start).await?;
    let client = UpstreamClient {
        issuer: start.issuer.clone(),
        token_endpoint,
        jwks_uri: md["jwks_uri"]
            .is_string()
            .then(|| endpoint(plugin, &md, "jwks_uri"))
            .transpose()?,
        client_id: start.client_id.clone(),
        client_secret_sealed: start.client_secret.as_deref().map(|s| cx.sealer.seal(s)),
        auth: start.auth,
        redirect_uri: callback_uri(cx),
    };
    let pending = Pending {
        // The interaction id leads the state so the callback can find its interaction; the
        // random part is what proves it (compared in constant time).
        state: format!("{interaction_id}.{}", secrets::random_token()),
        nonce: secrets::random_token(),
        verifier: secrets::random_token(),
        client,
    };
    let challenge = crate::protocol::pkce::s256(&pending.verifier);
    let mut params: Vec<(String, String)> = start
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in [
        ("response_type", "code"),
        ("client_id", start.client_id.as_str()),
        ("redirect_uri", pending.client.redirect_uri.as_str()),
        ("scope", start.scope.as_str()),
        ("state", pending.state.as_str()),
        ("nonce", pending.nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ] {
        // A nonce is OpenID Connect's; a plain OAuth 2 server gets none.
        if k == "nonce" && start.issuer.is_empty() {
            continue;
        }
        params.retain(|(pk, _)| pk != k);
        params.push((k.into(), v.into()));
    }
    let push = start.par || md["require_pushed_authorization_requests"] == json!(true);
    let mut url = url::Url::parse(&authorization_endpoint)
        .map_err(|e| bad_gateway(format!("authorization_endpoint: {e}")))?;
    if push {
        let par = endpoint(plugin, &md, "pushed_authorization_request_endpoint")?;
        let (status, body) = post_form(cx, &pending.client, &par, params).await?;
        let request_uri = body["request_uri"]
            .as_str()
            .filter(|_| status == 201)
            .ok_or_else(|| bad_gateway(format!("PAR answered {status}: {body}")))?;
        url.query_pairs_mut()
            .append_pair("client_id", &start.client_id)
            .append_pair("request_uri", request_uri);
    } else {
        url.query_pairs_mut().extend_pairs(params);
    }
    Ok((url.to_string(), pending))
}

/// The interaction a returning `state` names (see `begin`); only the browser cookie and the
/// state's random part, checked in `finish`, make it trusted.
pub fn interaction_of(state: &str) -> &str {
    state.split('.').next().unwrap_or_default()
}

/// Where institutions send the browser back: register this at the institution.
pub fn callback_uri(cx: &Ctx<'_>) -> String {
    let origin = cx.issuer.strip_suffix(&cx.base_path).unwrap_or(&cx.issuer);
    format!("{origin}/bank-callback")
}

/// POSTs a form to an upstream endpoint with the client's authentication.
async fn post_form(
    cx: &Ctx<'_>,
    client: &UpstreamClient,
    url: &str,
    mut form: Vec<(String, String)>,
) -> OAuthResult<(u16, Value)> {
    let secret = client
        .client_secret_sealed
        .as_deref()
        .and_then(|s| cx.sealer.open(s));
    let mut req = cx.upstream_http.post(url);
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

/// The outcome of an upstream step, as the script's `callback(ctx, result)` sees it.
pub struct Outcome {
    pub result: Value,
    pub tokens: Option<UpstreamTokens>,
}

fn refused(error: &str, description: &str) -> Outcome {
    Outcome {
        result: json!({"ok": false, "error": error, "error_description": description}),
        tokens: None,
    }
}

/// Handles the browser's return: checks state and issuer, exchanges the code, checks the
/// ID token.
pub async fn finish(
    cx: &Ctx<'_>,
    plugin: &Plugin,
    pending: &Pending,
    params: &HashMap<String, String>,
) -> OAuthResult<Outcome> {
    let get = |k: &str| params.get(k).map(String::as_str);
    if !get("state").is_some_and(|s| secrets::ct_eq(s, &pending.state)) {
        return Err(OAuthError::invalid_request(
            "the institution's answer does not match this sign-in (state)",
        ));
    }
    // RFC 9207: when the institution names itself, it must be the issuer we went to (a
    // server configured without an issuer cannot be checked so).
    if let Some(iss) = get("iss").filter(|_| !pending.client.issuer.is_empty()) {
        if iss != pending.client.issuer {
            return Ok(refused(
                "invalid_request",
                "the response came from another issuer",
            ));
        }
    }
    if let Some(error) = get("error") {
        return Ok(refused(error, get("error_description").unwrap_or_default()));
    }
    let code =
        get("code").ok_or_else(|| OAuthError::invalid_request("no code from the institution"))?;
    let form = vec![
        ("grant_type".into(), "authorization_code".into()),
        ("code".into(), code.to_string()),
        ("redirect_uri".into(), pending.client.redirect_uri.clone()),
        ("code_verifier".into(), pending.verifier.clone()),
    ];
    token_request(cx, plugin, &pending.client, form, Some(&pending.nonce)).await
}

/// A token-endpoint request: a refusal becomes the script's `ok: false` result; an ID token
/// in the answer is checked (with `nonce` for the code grant).
async fn token_request(
    cx: &Ctx<'_>,
    plugin: &Plugin,
    client: &UpstreamClient,
    form: Vec<(String, String)>,
    nonce: Option<&str>,
) -> OAuthResult<Outcome> {
    allowed(plugin, &client.token_endpoint)?;
    let (status, body) = post_form(cx, client, &client.token_endpoint, form).await?;
    if status != 200 {
        return Ok(refused(
            body["error"].as_str().unwrap_or("server_error"),
            body["error_description"].as_str().unwrap_or_default(),
        ));
    }
    let claims = match body["id_token"].as_str() {
        Some(t) => Some(check_id_token(cx, plugin, client, t, nonce).await?),
        None => None,
    };
    Ok(granted(cx, client, &body, claims))
}

/// Uses the stored refresh token; the new tokens replace the old (rotation included).
pub async fn refresh(
    cx: &Ctx<'_>,
    plugin: &Plugin,
    stored: &UpstreamTokens,
) -> OAuthResult<Outcome> {
    let Some(rt) = &stored.refresh_token else {
        return Ok(refused(
            "invalid_grant",
            "the connection holds no refresh token",
        ));
    };
    let form = vec![
        ("grant_type".into(), "refresh_token".into()),
        ("refresh_token".into(), rt.clone()),
    ];
    let mut out = token_request(cx, plugin, &stored.client, form, None).await?;
    // RFC 6749 §6: without a new refresh token, the old one stays usable; §5.1: a scope left
    // out is the one granted before.
    if let Some(t) = out.tokens.as_mut() {
        if t.refresh_token.is_none() {
            t.refresh_token = stored.refresh_token.clone();
        }
        if t.scope.is_none() {
            t.scope = stored.scope.clone();
        }
    }
    Ok(out)
}

fn granted(cx: &Ctx<'_>, client: &UpstreamClient, body: &Value, claims: Option<Value>) -> Outcome {
    let tokens = body["access_token"].as_str().map(|at| UpstreamTokens {
        client: client.clone(),
        access_token: at.to_string(),
        token_type: body["token_type"].as_str().map(String::from),
        refresh_token: body["refresh_token"].as_str().map(String::from),
        expires_at: body["expires_in"].as_i64().map(|e| cx.now + e),
        scope: body["scope"].as_str().map(String::from),
    });
    let Some(t) = &tokens else {
        return refused("server_error", "the institution issued no access token");
    };
    Outcome {
        result: json!({
            "ok": true,
            "access_token": t.access_token,
            "token_type": body["token_type"],
            "expires_in": body["expires_in"],
            "scope": body["scope"],
            "claims": claims.unwrap_or(Value::Object(Map::new())),
        }),
        tokens,
    }
}

/// OIDC Core §3.1.3.7: signature by the issuer's keys, iss, aud, exp, nonce.
async fn check_id_token(
    cx: &Ctx<'_>,
    plugin: &Plugin,
    client: &UpstreamClient,
    token: &str,
    nonce: Option<&str>,
) -> OAuthResult<Value> {
    let jwks_uri = client
        .jwks_uri
        .as_deref()
        .ok_or_else(|| bad_gateway("an ID token but no jwks_uri in discovery"))?;
    allowed(plugin, jwks_uri)?;
    let kid = peek_header(token)
        .ok()
        .and_then(|h| h["kid"].as_str().map(String::from));
    let set = cx
        .upstream_jwks
        .get(jwks_uri, kid.as_deref(), cx.now)
        .await
        .map_err(|e| bad_gateway(format!("jwks: {}", e.description())))?;
    let keys = ClientKeys::from_jwks(&set).map_err(|e| bad_gateway(format!("jwks: {e}")))?;
    let (claims, _) = verify_client_jwt(token, &keys, &Alg::ALL)
        .map_err(|e| bad_gateway(format!("ID token signature: {e}")))?;
    let now = cx.now;
    let aud_ok =
        crate::protocol::client_keys::audience_matches(&claims["aud"], &[&client.client_id]);
    let problem = if claims["iss"].as_str() != Some(client.issuer.as_str()) {
        Some("iss")
    } else if !aud_ok {
        Some("aud")
    } else if claims["exp"].as_i64().is_none_or(|e| e <= now) {
        Some("exp")
    } else if nonce.is_some() && claims["nonce"].as_str() != nonce {
        Some("nonce")
    } else {
        None
    };
    match problem {
        Some(what) => Err(bad_gateway(format!(
            "the institution's ID token has a bad {what}"
        ))),
        None => Ok(claims),
    }
}
