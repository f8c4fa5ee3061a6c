//! Client administration for operators: create, list, show, replace, disable and enable,
//! delete, rotate secrets, grant connection types and scopes, and set webhook endpoints. Shared
//! by the admin API and the CLI; metadata goes through the same checks as dynamic registration
//! (`registration::parse_metadata`).

use super::registration::{self, Registrar};
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::Ctx;
use crate::sealing::Sealer;
use crate::secrets;
use crate::store::{self, Refusal, Store, StoreError};
use crate::types::{Client, ClientMetadata};
use serde_json::{json, Value};

/// Clients per page unless asked otherwise, and the most one page may hold.
pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 500;

/// Members the admin view adds beside registration's server-owned ones
/// (`registration::SERVER_OWNED`): all are ignored when they come back in a body (a read,
/// edited, put back).
const ADMIN_VIEW_ONLY: &[&str] = &["disabled", "disabled_at", "webhook_secret"];

/// What administration runs against: the store, the data key, and the time.
pub struct Admin<'a> {
    pub store: &'a Store,
    pub sealer: &'a Sealer,
    pub now: i64,
    /// Where the server may fetch from on a client's behalf (checked on `jwks_uri`, ...).
    pub outbound: crate::outbound::OutboundPolicy,
}

/// A webhook endpoint and the secret its deliveries are signed with.
#[derive(Debug, Clone)]
pub struct Webhook {
    pub url: String,
    pub secret: String,
    /// The client the events go to (its `userId`s are the subjects it knows).
    pub client: Client,
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

/// How a client reads in the admin API and the CLI: its metadata, id, issue time and whether
/// it is disabled; never a secret.
pub fn view(c: &Client) -> Value {
    let mut out = serde_json::to_value(&c.metadata).unwrap_or_else(|_| json!({}));
    out["client_id"] = json!(c.id);
    out["client_id_issued_at"] = json!(c.created_at);
    out["disabled"] = json!(c.disabled_at.is_some());
    if let Some(t) = c.disabled_at {
        out["disabled_at"] = json!(t);
    }
    out
}

/// Another change to the client won the race: the caller reads it again and retries.
fn changed(e: StoreError) -> OAuthError {
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

fn strip_server_owned(raw: &mut Value) -> OAuthResult<()> {
    let obj = raw.as_object_mut().ok_or_else(|| {
        OAuthError::invalid_client_metadata("client metadata must be a JSON object")
    })?;
    for k in registration::SERVER_OWNED.iter().chain(ADMIN_VIEW_ONLY) {
        obj.remove(*k);
    }
    Ok(())
}

/// Parses `limit` and `offset` (RFC-style bad input is `invalid_request`).
pub fn page_bounds(limit: Option<&str>, offset: Option<&str>) -> OAuthResult<(u32, u64)> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                OAuthError::invalid_request(format!("limit must be a number from 1 to {MAX_LIMIT}"))
            })?,
    };
    let offset = match offset {
        None => 0,
        Some(o) => o.parse::<u64>().map_err(|_| {
            OAuthError::invalid_request("offset must be a number of clients to skip")
        })?,
    };
    Ok((limit, offset))
}

impl<'a> Admin<'a> {
    pub fn of(cx: &Ctx<'a>) -> Admin<'a> {
        let services = cx.services();
        Admin {
            store: &services.store,
            sealer: &services.sealer,
            now: cx.now,
            outbound: cx.config.outbound,
        }
    }

    async fn load(&self, id: &str) -> OAuthResult<Client> {
        let key = id.to_string();
        self.store
            .read(move |tx| tx.clients().get_any(&key))
            .await?
            .ok_or_else(|| not_found(id))
    }

    /// Registers a client from RFC 7591 metadata; the operator may fix `client_id` and
    /// `client_secret`. The answer carries the secrets once.
    pub async fn create(&self, mut raw: Value) -> OAuthResult<Value> {
        strip_server_owned(&mut raw)?;
        let new = registration::new_client(
            raw,
            Registrar::Operator,
            self.now,
            self.sealer,
            &self.outbound,
        )?;
        registration::check_sector_document(&new.client.metadata, None, &self.outbound).await?;
        let webhook_secret = new
            .client
            .metadata
            .webhook_url
            .is_some()
            .then(secrets::random_token);
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
        let mut out = view(&new.client);
        if let Some(s) = &new.secret {
            out["client_secret"] = json!(s);
            out["client_secret_expires_at"] = json!(0);
        }
        if let Some(s) = webhook_secret {
            out["webhook_secret"] = json!(s);
        }
        Ok(out)
    }

    /// A page of clients, oldest first: `{"clients": [...], "total": N}`.
    pub async fn list(&self, limit: u32, offset: u64) -> OAuthResult<Value> {
        let (clients, total) = self
            .store
            .read(move |tx| tx.clients().page(limit, offset))
            .await?;
        Ok(json!({
            "clients": clients.iter().map(view).collect::<Vec<_>>(),
            "total": total,
        }))
    }

    pub async fn show(&self, id: &str) -> OAuthResult<Value> {
        Ok(view(&self.load(id).await?))
    }

    /// Replaces the metadata as a whole, checked as registration checks it. The secret is kept
    /// unless the new authentication method needs one the client lacks; then a new one is
    /// made and returned once (as is a first webhook secret).
    pub async fn replace(&self, id: &str, mut raw: Value) -> OAuthResult<Value> {
        strip_server_owned(&mut raw)?;
        let obj = raw.as_object_mut().expect("checked to be an object");
        match obj.remove("client_id") {
            None => {}
            Some(Value::String(s)) if s == id => {}
            Some(_) => {
                return Err(OAuthError::invalid_request(
                    "client_id in the body must match the client",
                ))
            }
        }
        let client = self.load(id).await?;
        if let Some(given) = obj.remove("client_secret") {
            let same = given.as_str().is_some_and(|s| {
                client
                    .secret_hash
                    .as_deref()
                    .is_some_and(|h| secrets::matches_digest(s, h))
            });
            if !same {
                return Err(OAuthError::invalid_request(
                    "client_secret cannot be changed here: rotate it with POST /admin/clients/{id}/secret",
                ));
            }
        }
        let metadata = registration::parse_metadata(raw, &self.outbound)?;
        registration::check_sector_document(&metadata, Some(&client.metadata), &self.outbound)
            .await?;
        self.save(client, metadata).await
    }

    /// Sets the connection types the client may use beyond `test` (body `["api", "legacy"]`).
    pub async fn grant_connection_types(&self, id: &str, raw: Value) -> OAuthResult<Value> {
        let types: Vec<String> = serde_json::from_value(raw).map_err(|_| {
            OAuthError::invalid_client_metadata(
                "connection_types must be a JSON array of strings such as [\"api\", \"legacy\"]",
            )
        })?;
        self.grant(id, Some(types), None).await
    }

    /// Sets the scopes the client may be granted (`{"scope": "openid accounts:read"}`; a null
    /// scope lifts the restriction).
    pub async fn set_scope(&self, id: &str, raw: Value) -> OAuthResult<Value> {
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
        id: &str,
        connection_types: Option<Vec<String>>,
        scope: Option<Option<String>>,
    ) -> OAuthResult<Value> {
        let client = self.load(id).await?;
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
        let metadata = registration::parse_metadata(m, &self.outbound)?;
        self.save(client, metadata).await
    }

    /// Points the client's webhook at `{"url": "..."}` and makes a new signing secret (32
    /// random bytes, base64url), returned once: `{"url", "secret"}`.
    pub async fn set_webhook(&self, id: &str, raw: Value) -> OAuthResult<Value> {
        let Some(url) = raw.get("url").and_then(Value::as_str).map(String::from) else {
            return Err(OAuthError::invalid_client_metadata(
                "the body must be {\"url\": \"https://...\"}",
            ));
        };
        let client = self.load(id).await?;
        let mut m = metadata_value(&client)?;
        m["webhook_url"] = json!(url);
        let metadata = registration::parse_metadata(m, &self.outbound)?;
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
            .map_err(changed)?;
        if !saved {
            return Err(not_found(id));
        }
        Ok(json!({ "client_id": id, "url": url, "secret": secret }))
    }

    /// Removes the webhook endpoint and its secret.
    pub async fn remove_webhook(&self, id: &str) -> OAuthResult<()> {
        let client = self.load(id).await?;
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
            .map_err(changed)?;
        if !saved {
            return Err(not_found(id));
        }
        Ok(())
    }

    /// Disables or enables the client. A disabled client cannot authenticate, its
    /// authorization requests are refused, and its tokens are not active until it is enabled.
    pub async fn set_disabled(&self, id: &str, disabled: bool) -> OAuthResult<Value> {
        let key = id.to_string();
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
        Ok(view(&client))
    }

    /// Deletes the client and everything issued to it.
    pub async fn delete(&self, id: &str) -> OAuthResult<()> {
        let key = id.to_string();
        if self
            .store
            .write(move |tx| tx.clients().delete(&key))
            .await?
        {
            Ok(())
        } else {
            Err(not_found(id))
        }
    }

    /// A new 256-bit client secret, returned once; the old one stops working at once.
    pub async fn rotate_secret(&self, id: &str) -> OAuthResult<Value> {
        let client = self.load(id).await?;
        if !client.metadata.uses_secret() {
            return Err(OAuthError::invalid_request(format!(
                "client {id} authenticates with {} and has no secret",
                client.metadata.token_endpoint_auth_method
            )));
        }
        let secret = secrets::random_token();
        let (hash, sealed) = self.secret_columns(&client.metadata, &secret);
        let key = id.to_string();
        let now = self.now;
        let saved = self
            .store
            .write(move |tx| {
                tx.clients()
                    .set_secret(&key, Some(&hash), sealed.as_deref(), now)
            })
            .await?;
        if !saved {
            return Err(not_found(id));
        }
        Ok(json!({ "client_id": id, "client_secret": secret, "client_secret_expires_at": 0 }))
    }

    /// The digest and (for `client_secret_jwt`) sealed copy of a secret.
    fn secret_columns(&self, m: &ClientMetadata, secret: &str) -> (String, Option<String>) {
        let sealed = (m.token_endpoint_auth_method == crate::types::AuthMethod::ClientSecretJwt)
            .then(|| self.sealer.seal(secret));
        (secrets::digest(secret), sealed)
    }

    /// Saves checked metadata, keeping credentials consistent with it: a secret only for
    /// secret methods (a new one, returned once, when one is needed and missing), a sealed copy
    /// only for `client_secret_jwt`, and a webhook secret exactly when there is a webhook_url.
    async fn save(&self, client: Client, metadata: ClientMetadata) -> OAuthResult<Value> {
        let (new_secret, hash, sealed) =
            registration::secret_for_update(&client, &metadata, self.sealer);
        let id = client.id.clone();
        let has_webhook = {
            let key = id.clone();
            self.store
                .read(move |tx| tx.clients().webhook_secret_sealed(&key))
                .await?
                .is_some()
        };
        let new_webhook_secret =
            (metadata.webhook_url.is_some() && !has_webhook).then(secrets::random_token);
        let webhook_sealed = new_webhook_secret.as_deref().map(|s| self.sealer.seal(s));
        let updated = Client {
            metadata,
            secret_hash: hash.clone(),
            secret_sealed: sealed.clone(),
            ..client.clone()
        };
        let saved = updated.clone();
        let now = self.now;
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
            .map_err(changed)?;
        if !found {
            return Err(not_found(&id));
        }
        let mut out = view(&updated);
        if let Some(s) = new_secret {
            out["client_secret"] = json!(s);
            out["client_secret_expires_at"] = json!(0);
        }
        if let Some(s) = new_webhook_secret {
            out["webhook_secret"] = json!(s);
        }
        Ok(out)
    }
}

fn metadata_value(client: &Client) -> OAuthResult<Value> {
    serde_json::to_value(&client.metadata).map_err(OAuthError::server)
}

/// Dead webhook events, newest first (`GET /admin/webhooks/dead`), optionally for one client.
pub async fn dead_events(
    cx: &Ctx<'_>,
    client_id: Option<String>,
    limit: Option<&str>,
) -> OAuthResult<Value> {
    let (limit, _) = page_bounds(limit, None)?;
    let events = cx
        .store
        .read(move |tx| tx.outbox().dead(client_id.as_deref(), i64::from(limit)))
        .await?;
    let view = |e: &store::outbox::Event| {
        json!({
            "id": e.id, "clientId": e.client_id, "eventType": e.event_type, "status": e.status,
            "attempts": e.attempts, "lastError": e.last_error, "createdAt": e.created_at,
            "body": serde_json::from_str::<Value>(&e.body).unwrap_or(Value::Null),
        })
    };
    Ok(json!({ "events": events.iter().map(view).collect::<Vec<_>>() }))
}

/// Puts a dead event back in the queue and wakes the worker; not found unless it is dead.
pub async fn redeliver(cx: &Ctx<'_>, event_id: &str) -> OAuthResult<()> {
    let (id, now) = (event_id.to_string(), cx.now);
    if !cx
        .store
        .write(move |tx| tx.outbox().redeliver(&id, now))
        .await?
    {
        return Err(OAuthError::not_found("no dead event with that id"));
    }
    cx.webhook_wake.notify_one();
    Ok(())
}
