//! Dynamic client registration (RFC 7591) and management (RFC 7592).

use super::{params, provider, respond};
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::registration::{self as reg, Registrar};
use crate::provider::Provider;
use crate::secrets;
use crate::store;
use crate::types::Client;
use salvo::prelude::*;

use params::bearer_token as bearer;

async fn json_body(req: &mut Request) -> OAuthResult<serde_json::Value> {
    params::json_body(req, OAuthError::invalid_client_metadata).await
}

#[handler]
pub async fn register(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    // RFC 7591 §3: registration is protected by the configured initial access token.
    let allowed = match (&p.config.registration_token, bearer(req)) {
        (Some(expected), Some(given)) => secrets::ct_eq(expected, &given),
        _ => false,
    };
    if !allowed {
        let e = OAuthError::invalid_token(
            "a valid initial access token is required (RFC 7591 section 3)",
        );
        return respond::bearer_error(res, &e);
    }
    let result = async {
        let raw = json_body(req).await?;
        let new = reg::new_client(
            raw,
            Registrar::Dynamic,
            p.now(),
            &p.sealer,
            &p.config.outbound,
        )?;
        reg::check_sector_document(&new.client.metadata, None, &p.config.outbound).await?;
        let client = new.client.clone();
        p.store
            .write(move |tx| tx.clients().insert(&client))
            .await?;
        Ok::<_, OAuthError>(new)
    }
    .await;
    match result {
        Ok(n) => {
            let body = reg::response(
                &n.client,
                n.secret.as_deref(),
                n.registration_token.as_deref(),
                &p.endpoints().registration,
            );
            respond::json(res, StatusCode::CREATED, &body)
        }
        Err(e) => respond::oauth_error(res, &e, "Bearer"),
    }
}

/// The client named in the path, if the registration access token is its own (RFC 7592 §3).
async fn managed(p: &Provider, req: &Request) -> OAuthResult<Client> {
    let id = req.param::<String>("client_id").unwrap_or_default();
    let token = bearer(req)
        .ok_or_else(|| OAuthError::invalid_token("the registration access token is required"))?;
    let client = p.store.read(move |tx| tx.clients().get(&id)).await?;
    match client {
        Some(c)
            if c.registration_hash
                .as_deref()
                .is_some_and(|h| secrets::matches_digest(&token, h)) =>
        {
            Ok(c)
        }
        // RFC 7592 §3: an unknown client and a wrong token look the same.
        _ => Err(OAuthError::invalid_token(
            "the registration access token is not valid for this client",
        )),
    }
}

#[handler]
pub async fn read(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    match managed(&p, req).await {
        Ok(c) => respond::json(
            res,
            StatusCode::OK,
            &reg::response(&c, None, None, &p.endpoints().registration),
        ),
        Err(e) => respond::bearer_error(res, &e),
    }
}

#[handler]
pub async fn update(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let client = match managed(&p, req).await {
        Ok(c) => c,
        Err(e) => return respond::bearer_error(res, &e),
    };
    let result = async {
        let raw = json_body(req).await?;
        let (updated, new_secret) =
            reg::updated_client(&client, raw, &p.sealer, &p.config.outbound)?;
        reg::check_sector_document(
            &updated.metadata,
            Some(&client.metadata),
            &p.config.outbound,
        )
        .await?;
        let saved = updated.clone();
        let now = p.now();
        let seen = client.clone();
        p.store
            .write(move |tx| {
                let found = tx.clients().update_if_unchanged(&seen, &saved, now)?;
                if found {
                    tx.clients().set_secret(
                        &saved.id,
                        saved.secret_hash.as_deref(),
                        saved.secret_sealed.as_deref(),
                        now,
                    )?;
                }
                Ok(found)
            })
            .await
            .map_err(|e| match e {
                store::StoreError::Refused(why @ store::Refusal::ClientChanged) => {
                    OAuthError::new(ErrorCode::InvalidRequest, 409, why.message())
                }
                e => e.into(),
            })?;
        Ok((updated, new_secret))
    }
    .await;
    match result {
        Ok((c, secret)) => respond::json(
            res,
            StatusCode::OK,
            &reg::response(&c, secret.as_deref(), None, &p.endpoints().registration),
        ),
        Err(e) => respond::oauth_error(res, &e, "Bearer"),
    }
}

#[handler]
pub async fn delete(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let client = match managed(&p, req).await {
        Ok(c) => c,
        Err(e) => return respond::bearer_error(res, &e),
    };
    let id = client.id.clone();
    match p.store.write(move |tx| tx.clients().delete(&id)).await {
        Ok(_) => {
            respond::no_store(res);
            res.status_code(StatusCode::NO_CONTENT);
        }
        Err(e) => respond::oauth_error(res, &e.into(), "Bearer"),
    }
}
