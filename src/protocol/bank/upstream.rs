//! The client side of an institution's own OAuth 2 / OpenID Connect server: discovery, PKCE,
//! state and nonce, PAR when wanted, client authentication, the code exchange with ID token
//! checks, and refresh (the generic parts in [`crate::protocol::upstream_oidc`]). Every URL
//! must be on a host the institution's script declares.

use crate::error::{OAuthError, OAuthResult};
use crate::plugins::{OAuthStart, Plugin};
use crate::protocol::upstream_oidc::{self, bad_gateway};
use crate::protocol::Ctx;
use crate::secrets;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

pub use crate::protocol::upstream_oidc::UpstreamClient;

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

/// Refuses URLs off the institution's hosts, and anything but HTTPS. The hosts are those the
/// script declares plus those the operator adds in its `hosts` setting (comma separated), so
/// a template can be pointed at any server; `host` means port 443, `host:port` that port.
fn allowed(plugin: &Plugin, url: &str) -> OAuthResult<url::Url> {
    crate::plugins::hosts::check(
        url,
        &plugin.meta.hosts,
        &plugin.operator_hosts,
        &plugin.meta.id,
    )
    .map_err(bad_gateway)
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
    let rule = |url: &str| allowed(plugin, url);
    let md = upstream_oidc::discover(&cx.upstream_http, &start.issuer, &rule).await?;
    let authorization = upstream_oidc::endpoint(&md, "authorization_endpoint", &rule)?;
    let token = upstream_oidc::endpoint(&md, "token_endpoint", &rule)?;
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
    let rule = |url: &str| allowed(plugin, url);
    let endpoint = |md: &Value, name: &str| upstream_oidc::endpoint(md, name, &rule);
    let client = UpstreamClient {
        issuer: start.issuer.clone(),
        token_endpoint,
        jwks_uri: md["jwks_uri"]
            .is_string()
            .then(|| endpoint(&md, "jwks_uri"))
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
    let mut params: Vec<(String, String)> = start
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (k, v) in upstream_oidc::authorization_params(
        &start.client_id,
        &pending.client.redirect_uri,
        &start.scope,
        &pending.state,
        &pending.nonce,
        &pending.verifier,
    ) {
        // A nonce is OpenID Connect's; a plain OAuth 2 server gets none.
        if k == "nonce" && start.issuer.is_empty() {
            continue;
        }
        params.retain(|(pk, _)| *pk != k);
        params.push((k, v));
    }
    let push = start.par || md["require_pushed_authorization_requests"] == json!(true);
    let mut url = url::Url::parse(&authorization_endpoint)
        .map_err(|e| bad_gateway(format!("authorization_endpoint: {e}")))?;
    if push {
        let par = endpoint(&md, "pushed_authorization_request_endpoint")?;
        let (status, body) =
            upstream_oidc::post_form(cx, &cx.upstream_http, &pending.client, &par, params).await?;
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

/// Where institutions send the browser back: register this at the institution.
pub fn callback_uri(cx: &Ctx<'_>) -> String {
    upstream_oidc::return_uri(cx, "/bank-callback")
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
    let form = upstream_oidc::code_form(code, &pending.client.redirect_uri, &pending.verifier);
    let out = token_request(cx, plugin, &pending.client, form, Some(&pending.nonce)).await?;
    if let Some(t) = out.tokens.as_ref().filter(|t| t.refresh_token.is_none()) {
        // The connection works until the access token expires, then cannot be refreshed.
        tracing::warn!(
            institution = %plugin.meta.id,
            granted_scope = t.scope.as_deref().unwrap_or_default(),
            "the institution issued no refresh token: the connection cannot be refreshed \
             (ask for offline_access in its scope setting)"
        );
    }
    Ok(out)
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
    let (status, body) =
        upstream_oidc::post_form(cx, &cx.upstream_http, client, &client.token_endpoint, form)
            .await?;
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

/// Why a connection whose institution issued no refresh token cannot be refreshed, and what
/// to change: OpenID Connect Core §11, a refresh token is granted for `offline_access`.
pub const NO_REFRESH_TOKEN: &str = "the institution issued no refresh token for this \
     connection, so its tokens cannot be refreshed: ask the institution for one (add \
     offline_access to the institution's scope setting) and reauthorise the connection";

/// Whether an upstream refresh outcome means the connection's grant at the institution is
/// gone (RFC 6749 §5.2 `invalid_grant`, or no refresh token at all): it needs reauth.
pub fn grant_refused(outcome: &Outcome) -> bool {
    outcome.tokens.is_none() && outcome.result["error"] == "invalid_grant"
}

/// Uses the stored refresh token; the new tokens replace the old (rotation included).
pub async fn refresh(
    cx: &Ctx<'_>,
    plugin: &Plugin,
    stored: &UpstreamTokens,
) -> OAuthResult<Outcome> {
    let Some(rt) = &stored.refresh_token else {
        return Ok(refused("invalid_grant", NO_REFRESH_TOKEN));
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

/// OIDC Core §3.1.3.7, with the key set fetched only from the institution's hosts.
async fn check_id_token(
    cx: &Ctx<'_>,
    plugin: &Plugin,
    client: &UpstreamClient,
    token: &str,
    nonce: Option<&str>,
) -> OAuthResult<Value> {
    if let Some(jwks_uri) = &client.jwks_uri {
        allowed(plugin, jwks_uri)?;
    }
    upstream_oidc::verify_id_token(cx, &cx.upstream_jwks, client, token, nonce).await
}
