//! How a client reads back: the RFC 7591 §3.2.1 / RFC 7592 §3 registration response, and the
//! admin view (admin API and CLI). Secrets appear only in the answer that made them.

use super::service::Saved;
use crate::types::Client;
use serde_json::{json, Value};

/// The RFC 7591 §3.2.1 / RFC 7592 §3 response.
pub fn registration_response(
    client: &Client,
    secret: Option<&str>,
    registration_token: Option<&str>,
    registration_uri: &str,
) -> Value {
    let mut out = serde_json::to_value(&client.metadata).unwrap_or_else(|_| json!({}));
    out["client_id"] = json!(client.id);
    out["client_id_issued_at"] = json!(client.created_at);
    if let Some(s) = secret {
        out["client_secret"] = json!(s);
        out["client_secret_expires_at"] = json!(0);
    }
    if let Some(t) = registration_token {
        out["registration_access_token"] = json!(t);
    }
    out["registration_client_uri"] = json!(format!("{registration_uri}/{}", client.id));
    out
}

/// How a client reads in the admin API and the CLI: its metadata, id, issue time and whether
/// it is disabled; never a secret.
pub fn admin(c: &Client) -> Value {
    let mut out = serde_json::to_value(&c.metadata).unwrap_or_else(|_| json!({}));
    out["client_id"] = json!(c.id);
    out["client_id_issued_at"] = json!(c.created_at);
    out["disabled"] = json!(c.disabled_at.is_some());
    if let Some(t) = c.disabled_at {
        out["disabled_at"] = json!(t);
    }
    out
}

/// The admin view of a created or changed client, with the secrets made by the change.
pub fn admin_saved(s: &Saved) -> Value {
    let mut out = admin(&s.client);
    if let Some(secret) = &s.secret {
        out["client_secret"] = json!(secret);
        out["client_secret_expires_at"] = json!(0);
    }
    if let Some(secret) = &s.webhook_secret {
        out["webhook_secret"] = json!(secret);
    }
    out
}
