//! Pushed authorization requests (RFC 9126): the client posts its authorization parameters
//! first and gets a short-lived, single-use request_uri bound to it.

use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::authorize::{self, PAR_URN_PREFIX};
use crate::protocol::Ctx;
use crate::secrets;
use crate::types::Client;
use serde_json::{json, Value};

/// Validates and stores the request; returns the RFC 9126 §2.2 response.
/// `dpop_jkt` is the key of a DPoP proof sent with the push: the code will be bound to it
/// (RFC 9449 §10.1).
pub async fn push(
    cx: &Ctx<'_>,
    client: &Client,
    raw: &[(String, String)],
    dpop_jkt: Option<String>,
) -> OAuthResult<Value> {
    let mut request = authorize::validate_pushed(cx, client, raw).await?;
    if let Some(jkt) = dpop_jkt {
        if request.dpop_jkt.as_ref().is_some_and(|j| j != &jkt) {
            return Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                400,
                "dpop_jkt does not match the DPoP proof's key (RFC 9449 section 10.1)",
            ));
        }
        request.dpop_jkt = Some(jkt);
    }
    let uri = format!("{PAR_URN_PREFIX}{}", secrets::random_token());
    let life = cx.config.lifetimes.par_secs;
    let (hash, cid, expires_at) = (secrets::digest(&uri), client.id.clone(), cx.now + life);
    let text = serde_json::to_string(&request).map_err(OAuthError::server)?;
    cx.store
        .write(move |tx| tx.pushed().insert(&hash, &cid, &text, expires_at))
        .await?;
    Ok(json!({ "request_uri": uri, "expires_in": life }))
}
