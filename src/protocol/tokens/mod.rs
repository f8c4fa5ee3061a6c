//! Tokens: issuing them here — RFC 9068 JWT access tokens (their `jti` stored so they can be
//! revoked), opaque rotating refresh tokens (stored as digests), and ID tokens (OIDC Core §2)
//! — and the grants that redeem for them (`grants`), then what takes them: introspection,
//! revocation, the resource check, UserInfo and the scope-checked gateway.

pub mod gateway;
pub mod grants;
pub mod introspection;
pub mod resource;
pub mod revocation;
pub mod userinfo;

use super::oidc::claims::{self, ClaimsRequest};
use crate::error::{OAuthError, OAuthResult};
use crate::jose::{half_hash, Alg};
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::grants as stored;
use crate::types::{Client, ScopeSet};
use serde::Serialize;
use serde_json::{json, Value};

/// The RFC 6749 §5.1 token response.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// What to issue, and on what authority.
pub struct Issue<'a> {
    pub client: &'a Client,
    /// The user's grant; `None` for a client acting for itself (client_credentials).
    pub grant: Option<&'a stored::Grant>,
    /// The user a grant-less token is for (client_credentials with `sub`).
    pub user: Option<String>,
    /// RFC 8707: the resource the token is for (its `aud`); the issuer otherwise.
    pub audience: Option<String>,
    pub scopes: ScopeSet,
    pub nonce: Option<String>,
    pub refresh: bool,
    pub id_token: bool,
    pub binding: Binding,
}

/// What the access token is bound to (its `cnf`): a DPoP key (RFC 9449) and/or a TLS client
/// certificate (RFC 8705).
#[derive(Debug, Clone, Default)]
pub struct Binding {
    pub dpop_jkt: Option<String>,
    pub x5t: Option<String>,
}

/// The algorithm for this client's ID tokens (RS256 unless it registered another).
/// The algorithm for this client's ID tokens: what it registered, else PS256 under a FAPI
/// profile and RS256 otherwise (OIDC Core §3.1.3.7).
pub fn id_token_alg(cx: &Ctx<'_>, client: &Client) -> Alg {
    let default = if super::fapi::profile_of(cx, client).is_some() {
        Alg::PS256
    } else {
        Alg::RS256
    };
    client
        .metadata
        .id_token_signed_response_alg
        .as_deref()
        .and_then(Alg::parse)
        .unwrap_or(default)
}

/// Issues tokens that buy nothing single-use (client_credentials): signs them, then stores them.
pub async fn issue(cx: &Ctx<'_>, req: Issue<'_>) -> OAuthResult<TokenResponse> {
    let Prepared { response, rows } = prepare(cx, req).await?;
    cx.store
        .write(move |tx| tx.grants().insert_issued(&rows))
        .await?;
    Ok(issued(cx, response))
}

/// Tokens signed and ready to hand out, and the rows that make them valid. None of them works
/// until `rows` is stored: a grant that consumes something (a code, a refresh token) stores
/// them in the transaction that consumes it, so a crash leaves either both or neither.
pub struct Prepared {
    pub response: TokenResponse,
    pub rows: stored::Issued,
}

/// The response for tokens whose rows are committed.
pub fn issued(cx: &Ctx<'_>, response: TokenResponse) -> TokenResponse {
    cx.metrics.tokens_issued.inc();
    response
}

/// Builds and signs the tokens `req` asks for, writing nothing. Signing runs here, before the
/// write transaction, so the writer never waits for it.
pub async fn prepare(cx: &Ctx<'_>, req: Issue<'_>) -> OAuthResult<Prepared> {
    let now = cx.now;
    let life = &cx.config.lifetimes;
    let keys = cx.keys();
    let user_id = req
        .grant
        .and_then(|g| g.user_id.clone())
        .or_else(|| req.user.clone());
    let sub = match &user_id {
        Some(u) => super::oidc::subject::for_client(cx, req.client, u),
        None => req.client.id.to_string(),
    };
    let jti = ordered_jti(now);
    // Alby's `expires_in`: a grant may ask for shorter-lived access tokens, never longer ones.
    let lifetime = req
        .grant
        .and_then(|g| g.access_token_secs)
        .map_or(life.access_token_secs, |s| s.min(life.access_token_secs));
    let access_exp = now + lifetime;
    let scope = req.scopes.to_string();

    let mut at_claims = json!({
        "iss": cx.issuer, "sub": sub, "aud": req.audience.as_deref().unwrap_or(&cx.issuer), "client_id": req.client.id,
        "iat": now, "exp": access_exp, "jti": jti, "scope": scope,
    });
    if let Some(t) = req.grant.and_then(|g| g.auth_time) {
        at_claims["auth_time"] = json!(t);
    }
    if let Some(jkt) = &req.binding.dpop_jkt {
        at_claims["cnf"]["jkt"] = json!(jkt);
    }
    if let Some(x5t) = &req.binding.x5t {
        at_claims["cnf"]["x5t#S256"] = json!(x5t);
    }
    // ES256 unless the token's resource server asks for another algorithm (RFC 8707).
    let alg = req
        .audience
        .as_deref()
        .and_then(|a| cx.config.resource_servers.get(a))
        .and_then(|rs| Alg::parse(&rs.access_token_signing_alg))
        .unwrap_or(Alg::ES256);
    let access_token = keys
        .sign(alg, Some("at+jwt"), &at_claims)
        .map_err(OAuthError::server)?;

    let id_token = if req.id_token {
        let grant = req
            .grant
            .ok_or_else(|| OAuthError::server("ID token without a user grant"))?;
        let extras = IdTokenExtras {
            access_token: Some(&access_token),
            ..Default::default()
        };
        Some(id_token(cx, req.client, grant, req.nonce.as_deref(), extras, now).await?)
    } else {
        None
    };

    let refresh_token = req.refresh.then(secrets::random_token);
    let access_row = stored::AccessToken {
        jti,
        grant_id: req.grant.map(|g| g.id.clone()),
        client_id: req.client.id.to_string(),
        user_id,
        scopes: scope.clone(),
        expires_at: access_exp,
        token_hash: Some(secrets::digest(&access_token)),
    };
    let refresh_row = match (&refresh_token, req.grant) {
        (Some(t), Some(g)) => Some(stored::RefreshToken {
            token_hash: secrets::digest(t),
            grant_id: g.id.clone(),
            client_id: req.client.id.to_string(),
            // RFC 6749 §6: a rotated refresh token keeps the grant's full scope.
            scopes: g.scopes.clone(),
            expires_at: g.expires_at,
            // Confidential clients prove themselves anyway; only public clients' refresh tokens
            // are bound to the DPoP key (RFC 9449 §5) or certificate (RFC 8705 §4).
            jkt: req
                .binding
                .dpop_jkt
                .clone()
                .filter(|_| req.client.metadata.is_public()),
            x5t: req
                .binding
                .x5t
                .clone()
                .filter(|_| req.client.metadata.is_public()),
        }),
        _ => None,
    };
    let response = TokenResponse {
        access_token,
        token_type: if req.binding.dpop_jkt.is_some() {
            "DPoP"
        } else {
            "Bearer"
        },
        expires_in: access_exp - now,
        scope,
        id_token,
        refresh_token,
    };
    Ok(Prepared {
        response,
        rows: stored::Issued {
            access: access_row,
            refresh: refresh_row,
        },
    })
}

/// Issue time, then this node's issue count, then 256 random bits: each new row lands at the
/// end of the jti index rather than on a random page of it, which keeps inserts cheap however
/// many tokens are stored. Only the random part makes it unique.
fn ordered_jti(now: i64) -> String {
    static ISSUED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = ISSUED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{now:011x}{n:08x}{}", secrets::random_token())
}

/// What an ID token binds beyond the grant: hashes of the artefacts it travels with
/// (`at_hash`, `c_hash`, `s_hash`), and whether scope claims go in it.
#[derive(Default)]
pub struct IdTokenExtras<'a> {
    pub access_token: Option<&'a str>,
    pub code: Option<&'a str>,
    pub state: Option<&'a str>,
    /// OIDC Core §5.4: only when no access token comes with it.
    pub scope_claims: bool,
}

/// Builds and signs an ID token for a user grant.
pub async fn id_token(
    cx: &Ctx<'_>,
    client: &Client,
    grant: &stored::Grant,
    nonce: Option<&str>,
    extras: IdTokenExtras<'_>,
    now: i64,
) -> OAuthResult<String> {
    let user_id = grant
        .user_id
        .clone()
        .ok_or_else(|| OAuthError::server("grant without a user"))?;
    let uid = user_id.clone();
    let user = cx
        .store
        .read(move |tx| tx.users().get(&uid))
        .await?
        .ok_or_else(|| OAuthError::invalid_grant("the user no longer exists"))?;
    let alg = id_token_alg(cx, client);
    let mut c = json!({
        "iss": cx.issuer, "sub": super::oidc::subject::for_client(cx, client, &user_id), "aud": client.id,
        "iat": now, "exp": now + cx.config.lifetimes.id_token_secs,
    });
    if let Some(t) = grant.auth_time {
        c["auth_time"] = json!(t);
    }
    if let Some(n) = nonce {
        c["nonce"] = json!(n);
    }
    // A user identified by the client rather than by a login here has no amr.
    if let Some(amr) = grant.amr.as_deref().filter(|a| !a.is_empty()) {
        c["amr"] = json!(amr.split(' ').collect::<Vec<_>>());
    }
    c["acr"] = json!(acr_of(grant));
    if let Some(sid) = &grant.sid {
        c["sid"] = json!(sid);
    }
    for (claim, value) in [
        ("at_hash", extras.access_token),
        ("c_hash", extras.code),
        ("s_hash", extras.state),
    ] {
        if let Some(v) = value {
            c[claim] = json!(half_hash(alg, v));
        }
    }
    // Scope claims go to userinfo when an access token is issued (OIDC Core §5.4); claims asked
    // for individually in claims.id_token come here.
    if let Some(req) = grant
        .claims
        .as_deref()
        .and_then(|s| serde_json::from_str::<ClaimsRequest>(s).ok())
    {
        for (k, v) in claims::by_request(&user.claims, &req.id_token) {
            c[k] = v;
        }
        // The contract's connection claim, when asked for and the grant made a connection.
        if let (Some(id), Some(_)) = (
            &grant.connection_id,
            req.id_token_request(super::bank::CONNECTION_CLAIM),
        ) {
            c[super::bank::CONNECTION_CLAIM] = json!(id);
        }
    }
    if extras.scope_claims {
        for (k, v) in claims::by_scope(&user.claims, &ScopeSet::parse(&grant.scopes)) {
            c[k] = v;
        }
    }
    let jws = cx.keys().sign(alg, None, &c).map_err(OAuthError::server)?;
    encrypted_like_id_tokens(cx, client, jws).await
}

/// `jws` encrypted to the client as its ID tokens are, when it registered
/// `id_token_encrypted_response_alg` (OIDC Core §10.2); else as it is.
pub async fn encrypted_like_id_tokens(
    cx: &Ctx<'_>,
    client: &Client,
    jws: String,
) -> OAuthResult<String> {
    let Some(enc_alg) = client.metadata.id_token_encrypted_response_alg.as_deref() else {
        return Ok(jws);
    };
    let enc = client
        .metadata
        .id_token_encrypted_response_enc
        .as_deref()
        .unwrap_or("A128CBC-HS256");
    let keys = super::client_keys::encryption_keys(cx, client).await?;
    crate::jose::encrypt::nested_jwt(&jws, &keys, enc_alg, enc).map_err(OAuthError::server)
}

/// The authentication context class we assert for password logins.
pub const DEFAULT_ACR: &str = "urn:consentry:acr:password";

/// The class for journeys with no login here: the user was authenticated by their
/// institution's own journey (or named by the client), never by a password typed here.
pub const BANK_ACR: &str = "urn:consentry:acr:bank";

/// Every class discovery advertises (`acr_values_supported`).
pub const ACR_VALUES: &[&str] = &[DEFAULT_ACR, BANK_ACR];

/// OIDC Core §2 `acr`: what the grant recorded, else what its authentication methods show
/// (a password only when `pwd` is among them).
fn acr_of(grant: &stored::Grant) -> &str {
    if let Some(acr) = grant.acr.as_deref() {
        return acr;
    }
    let password = grant
        .amr
        .as_deref()
        .is_some_and(|amr| amr.split(' ').any(|m| m == "pwd"));
    if password {
        DEFAULT_ACR
    } else {
        BANK_ACR
    }
}

/// A verified access token of ours that is still active in the store.
pub struct ActiveAccessToken {
    pub claims: Value,
    pub row: stored::AccessToken,
}

/// Finds one of our access tokens that is still active in the store (revoked or unknown tokens
/// are inactive). The store keeps each token's digest: a presented token whose digest matches
/// (compared in constant time) is byte for byte one we signed, so its signature needs no
/// second check; tokens stored without a digest are verified by signature.
pub async fn active_access_token(
    cx: &Ctx<'_>,
    token: &str,
) -> OAuthResult<Option<ActiveAccessToken>> {
    let Some(unverified) = unverified_claims(token) else {
        return Ok(None);
    };
    let Some(jti) = unverified["jti"].as_str().map(String::from) else {
        return Ok(None);
    };
    let now = cx.now;
    let Some(row) = cx
        .store
        .read(move |tx| tx.grants().active_access_token(&jti, now))
        .await?
    else {
        return Ok(None);
    };
    let claims = match &row.token_hash {
        // Byte for byte the token we stored: what it says is what we signed.
        Some(hash) if secrets::ct_eq(hash, &secrets::digest(token)) => Some(unverified),
        Some(_) => None,
        None => cx
            .keys()
            .verify_own(token)
            .ok()
            .filter(|(_, typ)| typ.as_deref() == Some("at+jwt"))
            .map(|(claims, _)| claims),
    };
    let Some(claims) = claims else {
        return Ok(None);
    };
    if claims["iss"].as_str() != Some(cx.issuer.as_str())
        || claims["exp"].as_i64().is_none_or(|e| e <= now)
        || claims["jti"].as_str() != Some(row.jti.as_str())
    {
        return Ok(None);
    }
    Ok(Some(ActiveAccessToken { claims, row }))
}

/// The payload of a compact JWS, read without checking anything.
fn unverified_claims(token: &str) -> Option<Value> {
    use base64::Engine;
    let mut parts = token.split('.');
    let (_, payload, _, None) = (parts.next()?, parts.next()?, parts.next()?, parts.next()) else {
        return None;
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}
