//! Federated login at an upstream OpenID provider: the authorization code flow with PKCE
//! S256, `state` and `nonce` kept (digested and sealed) with the interaction (or, at the
//! dashboard, with the browser: [`super::dashboard`]), the RFC 9207
//! `iss` check, the code exchange and ID token validation by
//! [`crate::protocol::upstream_oidc`], then [`super::sign_in_federated`].

use super::{FederatedIdentity, FederatedProvider};
use crate::config::federation::{FederationConfig, ProviderConfig, ProviderKind, TokenAuth};
use crate::error::{OAuthError, OAuthResult};
use crate::plugins::UpstreamAuth;
use crate::protocol::interaction::{Live, LoggedIn, LoginFailure};
use crate::protocol::jwks_fetch::JwksCache;
use crate::protocol::upstream_oidc::{self, bad_gateway, UpstreamClient};
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::federation::{LoginFor, PendingLogin};
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::HashMap;

/// How long a provider's discovery document is used before it is read again.
const DISCOVERY_SECS: i64 = 300;

/// One configured OpenID provider's HTTP client (trusting its `ca_file`), key set cache and
/// discovery cache.
struct Upstream {
    http: reqwest::Client,
    jwks: JwksCache,
    discovery: Mutex<Option<(i64, Value)>>,
}

/// The configured OpenID providers' clients and caches, by provider id.
#[derive(Default)]
pub struct Upstreams {
    by_id: HashMap<String, Upstream>,
}

impl Upstreams {
    pub fn build(config: &FederationConfig) -> anyhow::Result<Upstreams> {
        let mut by_id = HashMap::new();
        for p in config
            .providers
            .iter()
            .filter(|p| p.kind == ProviderKind::Oidc)
        {
            let setting = format!("federation.providers {} ca_file", p.id);
            let http = upstream_oidc::http_client(p.ca_file.as_deref(), &setting)?;
            let upstream = Upstream {
                jwks: JwksCache::with_client(http.clone()),
                http,
                discovery: Mutex::new(None),
            };
            by_id.insert(p.id.clone(), upstream);
        }
        Ok(Upstreams { by_id })
    }
}

/// The operator configured the provider; any https URL it names may be used.
fn https_only(url: &str) -> OAuthResult<url::Url> {
    let u = url::Url::parse(url).map_err(|e| bad_gateway(format!("{url}: {e}")))?;
    if u.scheme() != "https" {
        return Err(bad_gateway(format!("{url} is not https")));
    }
    Ok(u)
}

/// The provider's configuration and its clients and caches.
fn upstream<'a>(cx: &Ctx<'a>, provider: &'a ProviderConfig) -> OAuthResult<&'a Upstream> {
    cx.services()
        .federation
        .by_id
        .get(&provider.id)
        .ok_or_else(|| OAuthError::server(format!("no client for provider {}", provider.id)))
}

/// The discovery document, from the cache while younger than `DISCOVERY_SECS`.
async fn metadata(cx: &Ctx<'_>, up: &Upstream, issuer: &str) -> OAuthResult<Value> {
    let cached = up
        .discovery
        .lock()
        .as_ref()
        .filter(|(at, _)| cx.now - at < DISCOVERY_SECS)
        .map(|(_, md)| md.clone());
    if let Some(md) = cached {
        return Ok(md);
    }
    let md = upstream_oidc::discover(&up.http, issuer, &https_only).await?;
    *up.discovery.lock() = Some((cx.now, md.clone()));
    Ok(md)
}

/// Where providers send the browser back: register this at the provider.
pub fn callback_uri(cx: &Ctx<'_>) -> String {
    upstream_oidc::return_uri(cx, "/federated/callback")
}

fn client_of(cx: &Ctx<'_>, p: &ProviderConfig, md: &Value) -> OAuthResult<UpstreamClient> {
    let issuer = p.issuer.clone().unwrap_or_default();
    Ok(UpstreamClient {
        token_endpoint: upstream_oidc::endpoint(md, "token_endpoint", &https_only)?,
        jwks_uri: Some(upstream_oidc::endpoint(md, "jwks_uri", &https_only)?),
        client_id: p.client_id.clone().unwrap_or_default(),
        client_secret_sealed: p.client_secret.as_deref().map(|s| cx.sealer.seal(s)),
        auth: match p.token_endpoint_auth_method {
            TokenAuth::ClientSecretBasic => UpstreamAuth::ClientSecretBasic,
            TokenAuth::ClientSecretPost => UpstreamAuth::ClientSecretPost,
            TokenAuth::PrivateKeyJwt => UpstreamAuth::PrivateKeyJwt,
        },
        redirect_uri: callback_uri(cx),
        issuer,
    })
}

/// Starts the sign-in at the provider for an interaction or the dashboard (`login_for`, until
/// `expires_at`): keeps the state's digest and the sealed nonce and PKCE verifier with it, and
/// returns the URL to send the browser to.
pub async fn begin(
    cx: &Ctx<'_>,
    login_for: LoginFor,
    expires_at: i64,
    provider: &ProviderConfig,
) -> OAuthResult<String> {
    let up = upstream(cx, provider)?;
    let md = metadata(cx, up, provider.issuer.as_deref().unwrap_or_default()).await?;
    let authorization_endpoint =
        upstream_oidc::endpoint(&md, "authorization_endpoint", &https_only)?;
    // An interaction's id leads the state so the callback finds its interaction; the
    // dashboard's state is found by its digest alone.
    let state = match &login_for {
        LoginFor::Interaction(iid) => format!("{iid}.{}", secrets::random_token()),
        LoginFor::Dashboard { .. } => secrets::random_token(),
    };
    let (nonce, verifier) = (secrets::random_token(), secrets::random_token());
    let sealed = cx
        .sealer
        .seal(&json!({"nonce": nonce, "verifier": verifier}).to_string());
    let pending = PendingLogin {
        login_for,
        provider: provider.id.clone(),
        state_hash: secrets::digest(&state),
        data_sealed: sealed,
        expires_at,
    };
    cx.store
        .write(move |tx| tx.federation().begin_login(&pending))
        .await?;
    let scope = scope_of(provider);
    let params = upstream_oidc::authorization_params(
        provider.client_id.as_deref().unwrap_or_default(),
        &callback_uri(cx),
        &scope,
        &state,
        &nonce,
        &verifier,
    );
    let mut url = url::Url::parse(&authorization_endpoint)
        .map_err(|e| bad_gateway(format!("authorization_endpoint: {e}")))?;
    url.query_pairs_mut().extend_pairs(params);
    Ok(url.to_string())
}

/// The configured scopes, with `openid` always asked for (OIDC Core §3.1.2.1).
fn scope_of(p: &ProviderConfig) -> String {
    let configured = p.scope.as_deref().unwrap_or("openid email profile");
    if configured.split_whitespace().any(|s| s == "openid") {
        configured.to_string()
    } else {
        format!("openid {configured}")
    }
}

/// Handles the browser's return to its interaction: the sign-in in progress the state's digest
/// finds must be this interaction's, then [`complete`].
pub async fn finish(
    cx: &Ctx<'_>,
    live: &Live,
    config: &FederationConfig,
    params: &HashMap<String, String>,
) -> Result<LoggedIn, LoginFailure> {
    let fail = LoginFailure::Error;
    let get = |k: &str| params.get(k).map(String::as_str);
    let (state_hash, now) = (
        get("state").map(secrets::digest).unwrap_or_default(),
        cx.now,
    );
    let pending = cx
        .store
        .read(move |tx| tx.federation().pending_by_state(&state_hash, now))
        .await
        .map_err(|e| fail(e.into()))?;
    let ours = LoginFor::Interaction(live.interaction.id.clone());
    let pending = pending
        .filter(|p| p.login_for == ours)
        .ok_or_else(|| {
            fail(OAuthError::invalid_request(
                "the identity provider's answer does not match a sign-in in progress here (state, RFC 6749 10.12)",
            ))
        })?;
    complete(cx, &pending, config, params).await
}

/// The rest of the return, once the state found `pending` and it is this browser's: RFC 9207
/// `iss`, an upstream error, the code exchange and ID token, UserInfo; then signs in.
pub async fn complete(
    cx: &Ctx<'_>,
    pending: &PendingLogin,
    config: &FederationConfig,
    params: &HashMap<String, String>,
) -> Result<LoggedIn, LoginFailure> {
    let fail = LoginFailure::Error;
    let get = |k: &str| params.get(k).map(String::as_str);
    let provider = config
        .provider(&pending.provider)
        .filter(|p| p.kind == ProviderKind::Oidc)
        .ok_or_else(|| {
            fail(OAuthError::invalid_request(
                "the identity provider is no longer configured",
            ))
        })?;
    let issuer = provider.issuer.as_deref().unwrap_or_default();
    let up = upstream(cx, provider).map_err(fail)?;
    let md = metadata(cx, up, issuer).await.map_err(fail)?;
    // RFC 9207 §2.4: an `iss` must be the issuer we went to; required when it says it sends one.
    let iss_required = md["authorization_response_iss_parameter_supported"] == json!(true);
    match get("iss") {
        Some(iss) if iss != issuer => {
            return Err(fail(OAuthError::invalid_request(
                "the answer names another issuer than the identity provider (RFC 9207 2.4)",
            )))
        }
        None if iss_required => {
            return Err(fail(OAuthError::invalid_request(
                "the identity provider's answer lacks iss (RFC 9207 2.4)",
            )))
        }
        _ => {}
    }
    if let Some(error) = get("error") {
        tracing::info!(provider = %provider.id, %error, "identity provider refused the sign-in");
        let why = if error == "access_denied" {
            format!("{} did not sign you in (access denied).", provider.name)
        } else {
            format!("{} could not sign you in ({error}).", provider.name)
        };
        return Err(LoginFailure::Refused(why));
    }
    let code = get("code").ok_or_else(|| {
        fail(OAuthError::invalid_request(
            "no code from the identity provider",
        ))
    })?;
    let secrets_json = cx
        .sealer
        .open(&pending.data_sealed)
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .ok_or_else(|| {
            fail(OAuthError::server(
                "a pending federated login could not be opened",
            ))
        })?;
    let (nonce, verifier) = (
        secrets_json["nonce"].as_str().unwrap_or_default(),
        secrets_json["verifier"].as_str().unwrap_or_default(),
    );
    let identity = redeem(cx, up, provider, &md, code, nonce, verifier).await?;
    let fp = FederatedProvider::from(provider);
    super::sign_in_federated(cx, &fp, identity, pending).await
}

/// The code exchange, the ID token's checks, and UserInfo's claims (OIDC Core §3.1.3, §5.3).
async fn redeem(
    cx: &Ctx<'_>,
    up: &Upstream,
    provider: &ProviderConfig,
    md: &Value,
    code: &str,
    nonce: &str,
    verifier: &str,
) -> Result<FederatedIdentity, LoginFailure> {
    let client = client_of(cx, provider, md).map_err(LoginFailure::Error)?;
    let form = upstream_oidc::code_form(code, &client.redirect_uri, verifier);
    let (status, body) =
        upstream_oidc::post_form(cx, &up.http, &client, &client.token_endpoint, form)
            .await
            .map_err(LoginFailure::Error)?;
    // RFC 6749 §5.2: the provider does not know this server as its client (a secret or, for
    // private_key_jwt, a key it has not registered): the operator must mend the registration.
    if body["error"] == "invalid_client" {
        tracing::warn!(provider = %provider.id, "the identity provider refused our client authentication (invalid_client)");
        return Err(LoginFailure::Refused(format!(
            "{} refused this server's client authentication (invalid_client, RFC 6749 5.2); the operator must check this server's registration there.",
            provider.name
        )));
    }
    identity_of(cx, up, &client, md, status, body, nonce)
        .await
        .map_err(LoginFailure::Error)
}

/// The ID token's checks and UserInfo's claims of a token response.
async fn identity_of(
    cx: &Ctx<'_>,
    up: &Upstream,
    client: &UpstreamClient,
    md: &Value,
    status: u16,
    body: Value,
    nonce: &str,
) -> OAuthResult<FederatedIdentity> {
    if status != 200 {
        return Err(bad_gateway(format!(
            "token endpoint answered {status}: {}",
            body["error"]
        )));
    }
    let id_token = body["id_token"]
        .as_str()
        .ok_or_else(|| bad_gateway("the token response has no id_token (OIDC Core 3.1.3.3)"))?;
    let mut claims =
        upstream_oidc::verify_id_token(cx, &up.jwks, client, id_token, Some(nonce)).await?;
    let sub = claims["sub"].as_str().unwrap_or_default().to_string();
    let userinfo_endpoint = md["userinfo_endpoint"].as_str();
    if let (Some(url), Some(at)) = (userinfo_endpoint, body["access_token"].as_str()) {
        https_only(url)?;
        let more = upstream_oidc::userinfo(&up.http, url, at, &sub).await?;
        if let (Some(all), Some(more)) = (claims.as_object_mut(), more.as_object()) {
            for (k, v) in more {
                all.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
    Ok(FederatedIdentity {
        subject: sub,
        email: claims["email"].as_str().map(String::from),
        email_verified: claims["email_verified"] == json!(true),
        name: claims["name"].as_str().map(String::from),
        claims,
    })
}
