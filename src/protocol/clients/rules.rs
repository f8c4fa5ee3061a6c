//! The pure decisions of client management: which members the server owns, what a dynamic
//! client may set compared with the operator, and which secrets a client holds after a
//! change. No storage and no clock: the service (`service.rs`) applies them.

use super::metadata::parse_metadata;
use crate::error::{OAuthError, OAuthResult};
use crate::outbound::OutboundPolicy;
use crate::sealing::Sealer;
use crate::secrets;
use crate::types::{AuthMethod, Client, ClientId, ClientMetadata};
use serde_json::{Map, Value};

/// Who is registering or changing a client. Operators (admin API, CLI) may fix `client_id`
/// and `client_secret` (declarative provisioning) and set what they grant; a client
/// registering or updating itself (RFC 7591 / RFC 7592) gets generated credentials and
/// cannot grant itself anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registrar {
    Operator,
    Dynamic,
}

/// Members the server sets and shows (RFC 7591 §3.2.1, and the admin view's own): the one
/// list, ignored whenever they come back in a body (a read, edited, put back).
pub const SERVER_OWNED: &[&str] = &[
    "registration_access_token",
    "registration_client_uri",
    "client_id_issued_at",
    "client_secret_expires_at",
    "disabled",
    "disabled_at",
    "webhook_secret",
];

/// Metadata only the operator sets (admin API, CLI): which institutions a client may use and
/// where its events go. Clients registering or updating themselves never set them.
pub const OPERATOR_OWNED: &[&str] = &["connection_types", "webhook_url"];

/// A newly made client and the secrets that are shown once and then only kept as digests.
pub struct NewClient {
    pub client: Client,
    pub secret: Option<String>,
    pub registration_token: Option<String>,
}

/// The shortest secret an operator may fix.
const MIN_FIXED_SECRET_LEN: usize = 32;

fn as_object(raw: &mut Value) -> OAuthResult<&mut Map<String, Value>> {
    raw.as_object_mut()
        .ok_or_else(|| OAuthError::invalid_client_metadata("client metadata must be a JSON object"))
}

fn strip_server_owned(obj: &mut Map<String, Value>) {
    for k in SERVER_OWNED {
        obj.remove(*k);
    }
}

/// Validates metadata and makes a client with fresh (or operator-fixed) credentials.
/// `sealer` keeps a recoverable copy of the secret for `client_secret_jwt` clients.
pub fn new_client(
    mut raw: Value,
    registrar: Registrar,
    now: i64,
    sealer: &Sealer,
    outbound: &OutboundPolicy,
) -> OAuthResult<NewClient> {
    let obj = as_object(&mut raw)?;
    let fixed_id = take_string(obj, "client_id")?;
    let fixed_secret = take_string(obj, "client_secret")?;
    strip_server_owned(obj);
    if registrar == Registrar::Dynamic {
        if let Some(k) = OPERATOR_OWNED.iter().find(|k| obj.contains_key(**k)) {
            return Err(OAuthError::invalid_client_metadata(format!(
                "{k} is set by the operator (admin API), not by registration"
            )));
        }
    }
    let metadata = parse_metadata(raw, outbound)?;
    let (id, secret) = match registrar {
        Registrar::Operator => (fixed_id, fixed_secret),
        Registrar::Dynamic => (None, None),
    };
    let id = match id {
        Some(id) => ClientId::parse(&id).map_err(OAuthError::invalid_client_metadata)?,
        None => ClientId::generate(),
    };
    if secret
        .as_ref()
        .is_some_and(|s| s.len() < MIN_FIXED_SECRET_LEN)
    {
        return Err(OAuthError::invalid_client_metadata(
            "client_secret must be at least 32 characters (it is stored as a SHA-256 digest)",
        ));
    }
    // Clients that authenticate with a key (or not at all) get no secret.
    let secret = metadata
        .uses_secret()
        .then(|| secret.unwrap_or_else(secrets::random_token));
    let (secret_hash, secret_sealed) = match &secret {
        Some(s) => {
            let (hash, sealed) = secret_columns(&metadata, s, sealer);
            (Some(hash), sealed)
        }
        None => (None, None),
    };
    let registration_token = secrets::random_token();
    Ok(NewClient {
        client: Client {
            id,
            secret_hash,
            secret_sealed,
            metadata,
            registration_hash: Some(secrets::digest(&registration_token)),
            created_at: now,
            disabled_at: None,
        },
        secret,
        registration_token: Some(registration_token),
    })
}

/// The metadata a replacing body asks for (RFC 7592 §2.2 update by the client, or the
/// operator's replace), checked as registration checks it:
/// - `client_id`: the client must name itself (RFC 7592 §2.2 "MUST include"); the operator
///   may leave it out;
/// - `client_secret`: when present it must be the current secret (RFC 7592 §2.2), it is
///   never changed here (the operator rotates it);
/// - members the server owns are ignored; for a dynamic client what the operator granted
///   stays as it was, and it stays public or confidential.
pub fn replaced_metadata(
    client: &Client,
    mut raw: Value,
    registrar: Registrar,
    outbound: &OutboundPolicy,
) -> OAuthResult<ClientMetadata> {
    let given_id = raw.as_object_mut().and_then(|o| o.remove("client_id"));
    let names_itself = match given_id {
        None => registrar == Registrar::Operator,
        Some(Value::String(s)) => client.id == s,
        Some(_) => false,
    };
    if !names_itself {
        return Err(OAuthError::invalid_request(
            "client_id in the body must match the client",
        ));
    }
    let obj = as_object(&mut raw)?;
    strip_server_owned(obj);
    if let Some(given) = obj.remove("client_secret") {
        check_body_secret(client, &given, registrar)?;
    }
    let mut metadata = parse_metadata(raw, outbound)?;
    if registrar == Registrar::Dynamic {
        keep_operator_owned(&mut metadata, &client.metadata);
        if metadata.is_public() != client.metadata.is_public() {
            return Err(OAuthError::invalid_client_metadata(
                "a client cannot switch between public and confidential",
            ));
        }
    }
    Ok(metadata)
}

/// RFC 7592 §2.2: a `client_secret` in an update must match the current one; the client
/// cannot choose its own. The operator reads the same rule (and rotates secrets elsewhere).
fn check_body_secret(client: &Client, given: &Value, registrar: Registrar) -> OAuthResult<()> {
    let same = given.as_str().is_some_and(|s| {
        client
            .secret_hash
            .as_deref()
            .is_some_and(|h| secrets::matches_digest(s, h))
    });
    match (same, registrar) {
        (true, _) => Ok(()),
        (false, Registrar::Operator) => Err(OAuthError::invalid_request(
            "client_secret cannot be changed here: rotate it with POST /admin/clients/{id}/secret",
        )),
        (false, Registrar::Dynamic) => Err(OAuthError::invalid_request(
            "client_secret must be the client's current secret; a client cannot choose its own (RFC 7592 section 2.2)",
        )),
    }
}

/// What the operator granted stays as it was.
fn keep_operator_owned(updated: &mut ClientMetadata, stored: &ClientMetadata) {
    updated.connection_types = stored.connection_types.clone();
    updated.webhook_url = stored.webhook_url.clone();
}

/// The secret columns after a metadata change: none for methods without a secret; the
/// stored ones when still usable; otherwise a new secret, returned once, as registration
/// issues one (a client switched to a secret method would else have none and be locked out;
/// one switched to `client_secret_jwt` needs the sealed copy HMAC verification reads).
pub fn secret_for_update(
    client: &Client,
    metadata: &ClientMetadata,
    sealer: &Sealer,
) -> SecretColumns {
    let jwt = metadata.token_endpoint_auth_method == AuthMethod::ClientSecretJwt;
    let usable = client.secret_hash.is_some() && (!jwt || client.secret_sealed.is_some());
    match (metadata.uses_secret(), usable) {
        (false, _) => SecretColumns::default(),
        (true, true) => SecretColumns {
            new_secret: None,
            hash: client.secret_hash.clone(),
            sealed: client.secret_sealed.clone().filter(|_| jwt),
        },
        (true, false) => {
            let secret = secrets::random_token();
            let (hash, sealed) = secret_columns(metadata, &secret, sealer);
            SecretColumns {
                new_secret: Some(secret),
                hash: Some(hash),
                sealed,
            }
        }
    }
}

/// A client's secret columns, and the new secret when one was made (shown once).
#[derive(Default, Clone, PartialEq)]
pub struct SecretColumns {
    pub new_secret: Option<String>,
    pub hash: Option<String>,
    pub sealed: Option<String>,
}

/// Which columns are set, never their values: the secret must not reach a log.
impl std::fmt::Debug for SecretColumns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretColumns")
            .field(
                "new_secret",
                &self.new_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("hash", &self.hash.as_ref().map(|_| "[redacted]"))
            .field("sealed", &self.sealed.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The digest and (for `client_secret_jwt`, whose HMAC needs the secret itself) sealed copy
/// of a secret.
pub fn secret_columns(
    m: &ClientMetadata,
    secret: &str,
    sealer: &Sealer,
) -> (String, Option<String>) {
    let sealed =
        (m.token_endpoint_auth_method == AuthMethod::ClientSecretJwt).then(|| sealer.seal(secret));
    (secrets::digest(secret), sealed)
}

/// A webhook secret is made exactly when a webhook_url is set and none exists yet.
pub fn needs_webhook_secret(metadata: &ClientMetadata, has_secret: bool) -> bool {
    metadata.webhook_url.is_some() && !has_secret
}

fn take_string(obj: &mut Map<String, Value>, key: &str) -> OAuthResult<Option<String>> {
    match obj.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(OAuthError::invalid_client_metadata(format!(
            "{key} must be a non-empty string"
        ))),
    }
}
