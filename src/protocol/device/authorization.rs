//! RFC 8628 §3.1–3.2: the device authorization endpoint. An authenticated client registered
//! for the device_code grant asks for scopes (checked as the authorization endpoint checks
//! them) and gets a device code to poll with and a user code for the user to enter.

use super::{user_code, GRANT_TYPE};
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::authorize::validate_device;
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::device_authorizations::{DeviceAuthorization, Status};
use crate::store::StoreError;
use crate::types::Client;
use serde::Serialize;

/// RFC 8628 §3.2.
#[derive(Debug, Serialize)]
pub struct DeviceAuthorizationResponse {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: String,
    pub expires_in: i64,
    pub interval: i64,
}

/// Draws user codes until one is free: 20^8 values make a second draw all but unheard of.
const DRAWS: usize = 3;

pub async fn authorize(
    cx: &Ctx<'_>,
    client: &Client,
    raw: &[(String, String)],
) -> OAuthResult<DeviceAuthorizationResponse> {
    if !client.metadata.allows_grant(GRANT_TYPE) {
        return Err(OAuthError::unauthorized_client(format!(
            "the client is not registered for the {GRANT_TYPE} grant (RFC 8628 section 3.1)"
        )));
    }
    let request = validate_device(cx, client, raw)?;
    let request = serde_json::to_string(&request).map_err(OAuthError::server)?;
    let device_code = secrets::random_token();
    let now = cx.now;
    let lifetime = cx.config.lifetimes.device_code_secs;
    let interval = cx.config.lifetimes.poll_interval_secs;
    for _ in 0..DRAWS {
        let code = user_code::generate();
        let row = DeviceAuthorization {
            id: uuid::Uuid::new_v4().to_string(),
            device_code_hash: secrets::digest(&device_code),
            user_code_hash: secrets::digest(&code),
            client_id: client.id.to_string(),
            request: request.clone(),
            interval_secs: interval,
            last_polled_at: None,
            status: Status::Pending,
            grant_id: None,
            created_at: now,
            expires_at: now + lifetime,
        };
        match cx
            .store
            .write(move |tx| tx.device_authorizations().insert(&row))
            .await
        {
            Ok(()) => {
                let shown = user_code::display(&code);
                let uri = super::verification_uri(&cx.issuer);
                let complete = crate::protocol::oidc::response::append_query(
                    &uri,
                    &[("user_code", shown.as_str())],
                );
                return Ok(DeviceAuthorizationResponse {
                    device_code,
                    user_code: shown,
                    verification_uri: uri,
                    verification_uri_complete: complete,
                    expires_in: lifetime,
                    interval,
                });
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OAuthError::server("no free user code after several draws"))
}
