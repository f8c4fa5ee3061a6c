//! The client-management operations, for every caller: dynamic registration (RFC 7591) and
//! its management (RFC 7592), the admin API and the CLI. Each operation checks metadata
//! (`metadata`), applies the bookkeeping rules (`rules`), stores the result, and clears the
//! client cache so the change applies to the very next request. What differs between callers
//! is the [`Registrar`], never the code.

use super::metadata::{check_sector_document, parse_metadata};
use super::rules::{self, new_client, replaced_metadata, secret_for_update, Registrar};
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::outbound::OutboundPolicy;
use crate::protocol::client_cache::ClientCache;
use crate::protocol::Ctx;
use crate::sealing::Sealer;
use crate::secrets;
use crate::store::{Refusal, Store, StoreError};
use crate::types::{Client, ClientId, ClientMetadata};
use serde_json::{json, Value};

/// What client management runs against: the store, the data key, the time, the outbound
/// policy (checked on `jwks_uri`, ...) and, in a running server, its client cache.
pub struct ClientService<'a> {
    store: &'a Store,
    sealer: &'a Sealer,
    now: i64,
    outbound: OutboundPolicy,
    cache: Option<&'a ClientCache>,
}

/// A client as a change left it, with the secrets the change made (each shown once). No
/// `Debug`: the secrets must never reach a log.
#[derive(Clone)]
pub struct Saved {
    pub client: Client,
    pub secret: Option<String>,
    pub registration_token: Option<String>,
    pub webhook_secret: Option<String>,
}

/// A webhook endpoint and the secret its deliveries are signed with (no `Debug`, as above).
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
    /// The client the events go to (its `userId`s are the subjects it knows).
    pub client: Client,
}

/// Another change to the client won the race: the caller reads it again and retries.
fn lost_race(e: StoreError) -> OAuthError {
    match e {
        StoreError::Refused(why @ Refusal::ClientChanged) => {
            OAuthError::new(ErrorCode::InvalidRequest, 409, why.message())
        }
        e => e.into(),
    }
}

fn not_found(id: &str) -> OAuthError {
    OAuthError::not_found(format!("no client {id}"))
}

/// A client id from a path, as a lookup key: an empty one names no client.
pub fn path_id(s: &str) -> OAuthResult<ClientId> {
    // Only emptiness is refused: a client registered before ids were checked must stay
    // reachable (to show, disable or delete it).
    if s.is_empty() {
        return Err(not_found(s));
    }
    Ok(ClientId::from_stored(s.to_string()))
}

impl<'a> ClientService<'a> {
    /// In a running server: changes clear its client cache.
    pub fn of(cx: &Ctx<'a>) -> ClientService<'a> {
        let services = cx.services();
        ClientService {
            store: &services.store,
            sealer: &services.sealer,
            now: cx.now,
            outbound: cx.config.outbound.clone(),
            cache: Some(&services.client_cache),
        }
    }

    /// Offline on the data folder (the CLI): a running server sees the change within its
    /// cache's staleness bound.
    pub fn offline(
        store: &'a Store,
        sealer: &'a Sealer,
        now: i64,
        outbound: OutboundPolicy,
    ) -> ClientService<'a> {
        ClientService {
            store,
            sealer,
            now,
            outbound,
            cache: None,
        }
    }

    fn forget_cached(&self) {
        if let Some(cache) = self.cache {
            cache.clear();
        }
    }

    /// A client whether enabled or not.
    pub async fn get(&self, id: &ClientId) -> OAuthResult<Client> {
        let key = id.clone();
        self.store
            .read(move |tx| tx.clients().get_any(&key))
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// The enabled client named in an RFC 7592 path, if `token` is its registration access
    /// token (RFC 7592 §3); an unknown client and a wrong token look the same.
    pub async fn by_registration_token(&self, id: &str, token: &str) -> OAuthResult<Client> {
        let key = id.to_string();
        let client = self.store.read(move |tx| tx.clients().get(&key)).await?;
        match client {
            Some(c)
                if c.registration_hash
                    .as_deref()
                    .is_some_and(|h| secrets::matches_digest(token, h)) =>
            {
                Ok(c)
            }
            _ => Err(OAuthError::invalid_token(
                "the registration access token is not valid for this client",
            )),
        }
    }

    /// A page of clients, oldest first, and how many there are.
    pub async fn page(&self, limit: u32, offset: u64) -> OAuthResult<(Vec<Client>, u64)> {
        Ok(self
            .store
            .read(move |tx| tx.clients().page(limit, offset))
            .await?)
    }

    /// Every client, oldest first.
    pub async fn all(&self) -> OAuthResult<Vec<Client>> {
        Ok(self.store.read(|tx| tx.clients().list()).await?)
    }

    /// Registers a client from RFC 7591 metadata. The answer carries its secret, its
    /// registration access token and (when it has a webhook_url) its webhook secret, once.
    pub async fn register(&self, raw: Value, registrar: Registrar) -> OAuthResult<Saved> {
        let new = new_client(raw, registrar, self.now, self.sealer, &self.outbound)?;
        check_sector_document(&new.client.metadata, None, &self.outbound).await?;
        let webhook_secret =
            rules::needs_webhook_secret(&new.client.metadata, false).then(secrets::random_token);
        let sealed = webhook_secret.as_deref().map(|s| self.sealer.seal(s));
        let client = new.client.clone();
        let now = self.now;
        self.store
            .write(move |tx| {
                tx.clients().insert(&client)?;
                if let Some(s) = &sealed {
                    tx.clients().set_webhook_secret(&client.id, Some(s), now)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict => OAuthError::invalid_client_metadata(format!(
                    "client_id {} is already registered",
                    new.client.id
                )),
                e => e.into(),
            })?;
        self.forget_cached();
        Ok(Saved {
            client: new.client,
            secret: new.secret,
            registration_token: new.registration_token,
            webhook_secret,
        })
    }

    /// Replaces the metadata as a whole (RFC 7592 §2.2 update, the operator's replace),
    /// checked as registration checks it (`rules::replaced_metadata`). The secret is kept
    /// unless the new authentication method needs one the client lacks; then a new one is
    /// made and returned once (as is a first webhook secret).
    pub async fn replace(
        &self,
        id: &ClientId,
        raw: Value,
        registrar: Registrar,
    ) -> OAuthResult<Saved> {
        let client = self.get(id).await?;
        let metadata = replaced_metadata(&client, raw, registrar, &self.outbound)?;
        check_sector_document(&metadata, Some(&client.metadata), &self.outbound).await?;
        self.save(client, metadata).await
    }

    /// Sets the connection types the client may use beyond `test` (body `["api", "legacy"]`).
    pub async fn grant_connection_types(&self, id: &ClientId, raw: Value) -> OAuthResult<Saved> {
        let types: Vec<String> = serde_json::from_value(raw).map_err(|_| {
            OAuthError::invalid_client_metadata(
                "connection_types must be a JSON array of strings such as [\"api\", \"legacy\"]",
            )
        })?;
        self.grant(id, Some(types), None).await
    }

    /// Sets the scopes the client may be granted (`{"scope": "openid accounts:read"}`; a null
    /// scope lifts the restriction).
    pub async fn set_scope(&self, id: &ClientId, raw: Value) -> OAuthResult<Saved> {
        let scope = match raw.get("scope") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) => None,
            _ => {
                return Err(OAuthError::invalid_client_metadata(
                    "the body must be {\"scope\": \"space-separated scopes\"}",
                ))
            }
        };
        self.grant(id, None, Some(scope)).await
    }

    /// Grants connection types and/or scopes in one checked change (`Some(None)` for the
    /// scope lifts the restriction).
    pub async fn grant(
        &self,
        id: &ClientId,
        connection_types: Option<Vec<String>>,
        scope: Option<Option<String>>,
    ) -> OAuthResult<Saved> {
        let client = self.get(id).await?;
        let mut m = metadata_value(&client)?;
        let obj = m
            .as_object_mut()
            .ok_or_else(|| OAuthError::server("stored metadata is not an object"))?;
        if let Some(types) = connection_types {
            let mut unique: Vec<String> = Vec::new();
            for t in types {
                if !unique.contains(&t) {
                    unique.push(t);
                }
            }
            obj.insert("connection_types".into(), json!(unique));
        }
        match scope {
            Some(Some(s)) => {
                obj.insert("scope".into(), json!(s));
            }
            Some(None) => {
                obj.remove("scope");
            }
            None => {}
        }
        let metadata = parse_metadata(m, &self.outbound)?;
        self.save(client, metadata).await
    }

    /// Points the client's webhook at `{"url": "..."}` and makes a new signing secret (32
    /// random bytes, base64url), returned once: `{"client_id", "url", "secret"}`.
    pub async fn set_webhook(&self, id: &ClientId, raw: Value) -> OAuthResult<Value> {
        let Some(url) = raw.get("url").and_then(Value::as_str).map(String::from) else {
            return Err(OAuthError::invalid_client_metadata(
                "the body must be {\"url\": \"https://...\"}",
            ));
        };
        let client = self.get(id).await?;
        let mut m = metadata_value(&client)?;
        m["webhook_url"] = json!(url);
        let metadata = parse_metadata(m, &self.outbound)?;
        let secret = secrets::random_token();
        let sealed = self.sealer.seal(&secret);
        let updated = Client {
            metadata,
            ..client.clone()
        };
        let now = self.now;
        let saved = self
            .store
            .write(move |tx| {
                Ok(tx.clients().update_if_unchanged(&client, &updated, now)?
                    && tx
                        .clients()
                        .set_webhook_secret(&updated.id, Some(&sealed), now)?)
            })
            .await
            .map_err(lost_race)?;
        if !saved {
            return Err(not_found(id));
        }
        self.forget_cached();
        Ok(json!({ "client_id": id, "url": url, "secret": secret }))
    }

    /// Removes the webhook endpoint and its secret.
    pub async fn remove_webhook(&self, id: &ClientId) -> OAuthResult<()> {
        let client = self.get(id).await?;
        let mut metadata = client.metadata.clone();
        metadata.webhook_url = None;
        let updated = Client {
            metadata,
            ..client.clone()
        };
        let now = self.now;
        // `update` drops the secret of metadata without a webhook_url.
        let saved = self
            .store
            .write(move |tx| tx.clients().update_if_unchanged(&client, &updated, now))
            .await
            .map_err(lost_race)?;
        if !saved {
            return Err(not_found(id));
        }
        self.forget_cached();
        Ok(())
    }

    /// Disables or enables the client. A disabled client cannot authenticate, its
    /// authorization requests are refused, and its tokens are not active until it is enabled.
    pub async fn set_disabled(&self, id: &ClientId, disabled: bool) -> OAuthResult<Client> {
        let key = id.clone();
        let now = self.now;
        let client = self
            .store
            .write(move |tx| {
                let Some(client) = tx.clients().get_any(&key)? else {
                    return Ok(None);
                };
                // Disabling twice keeps the first time.
                let at = if disabled {
                    Some(client.disabled_at.unwrap_or(now))
                } else {
                    None
                };
                tx.clients().set_disabled(&key, at, now)?;
                Ok(Some(Client {
                    disabled_at: at,
                    ..client
                }))
            })
            .await?
            .ok_or_else(|| not_found(id))?;
        self.forget_cached();
        Ok(client)
    }

    /// Deletes the client and everything issued to it.
    pub async fn delete(&self, id: &ClientId) -> OAuthResult<()> {
        let key = id.clone();
        let deleted = self
            .store
            .write(move |tx| tx.clients().delete(&key))
            .await?;
        self.forget_cached();
        if deleted {
            Ok(())
        } else {
            Err(not_found(id))
        }
    }

    /// A new 256-bit client secret, returned once; the old one stops working at once.
    pub async fn rotate_secret(&self, id: &ClientId) -> OAuthResult<String> {
        let client = self.get(id).await?;
        if !client.metadata.uses_secret() {
            return Err(OAuthError::invalid_request(format!(
                "client {id} authenticates with {} and has no secret",
                client.metadata.token_endpoint_auth_method
            )));
        }
        let secret = secrets::random_token();
        let (hash, sealed) = rules::secret_columns(&client.metadata, &secret, self.sealer);
        let now = self.now;
        let saved = self
            .store
            .write(move |tx| {
                tx.clients()
                    .set_secret_if_unchanged(&client, &hash, sealed.as_deref(), now)
            })
            .await
            .map_err(lost_race)?;
        if !saved {
            return Err(not_found(id));
        }
        self.forget_cached();
        Ok(secret)
    }

    /// Saves checked metadata, keeping credentials consistent with it
    /// (`rules::secret_for_update`, `rules::needs_webhook_secret`).
    async fn save(&self, client: Client, metadata: ClientMetadata) -> OAuthResult<Saved> {
        let columns = secret_for_update(&client, &metadata, self.sealer);
        let id = client.id.clone();
        let has_webhook = {
            let key = id.clone();
            self.store
                .read(move |tx| tx.clients().webhook_secret_sealed(&key))
                .await?
                .is_some()
        };
        let new_webhook_secret =
            rules::needs_webhook_secret(&metadata, has_webhook).then(secrets::random_token);
        let webhook_sealed = new_webhook_secret.as_deref().map(|s| self.sealer.seal(s));
        let updated = Client {
            metadata,
            secret_hash: columns.hash.clone(),
            secret_sealed: columns.sealed.clone(),
            ..client.clone()
        };
        let saved = updated.clone();
        let now = self.now;
        let (hash, sealed) = (columns.hash, columns.sealed);
        let found = self
            .store
            .write(move |tx| {
                if !tx.clients().update_if_unchanged(&client, &saved, now)? {
                    return Ok(false);
                }
                tx.clients()
                    .set_secret(&saved.id, hash.as_deref(), sealed.as_deref(), now)?;
                if let Some(s) = &webhook_sealed {
                    tx.clients().set_webhook_secret(&saved.id, Some(s), now)?;
                }
                Ok(true)
            })
            .await
            .map_err(lost_race)?;
        if !found {
            return Err(not_found(&id));
        }
        self.forget_cached();
        Ok(Saved {
            client: updated,
            secret: columns.new_secret,
            registration_token: None,
            webhook_secret: new_webhook_secret,
        })
    }
}

fn metadata_value(client: &Client) -> OAuthResult<Value> {
    serde_json::to_value(&client.metadata).map_err(OAuthError::server)
}

/// The client's webhook, when it is enabled and has both an endpoint and a secret: for the
/// worker that delivers events.
pub async fn webhook(cx: &Ctx<'_>, client_id: &str) -> OAuthResult<Option<Webhook>> {
    let id = client_id.to_string();
    let found = cx
        .store
        .read(move |tx| {
            let Some(client) = tx.clients().get(&id)? else {
                return Ok(None);
            };
            let sealed = tx.clients().webhook_secret_sealed(&id)?;
            Ok(client
                .metadata
                .webhook_url
                .clone()
                .zip(sealed)
                .map(|w| (w, client)))
        })
        .await?;
    let Some(((url, sealed), client)) = found else {
        return Ok(None);
    };
    let secret = cx.sealer.open(&sealed).ok_or_else(|| {
        OAuthError::server(format!("webhook secret of {client_id} is unreadable"))
    })?;
    Ok(Some(Webhook {
        url,
        secret,
        client,
    }))
}

/// The client's webhook signing secret, unsealed (see `webhook`).
pub async fn webhook_secret(cx: &Ctx<'_>, client_id: &str) -> OAuthResult<Option<String>> {
    Ok(webhook(cx, client_id).await?.map(|w| w.secret))
}
