//! The salvo router and thin handlers: parse the request, call `protocol`, write the response.

mod account;
mod admin;
mod admin_webhooks;
pub mod api;
mod authorize;
mod banks;
mod bearer;
mod catcher;
mod ciba;
mod cookies;
mod device;
mod discovery;
mod federation;
mod gateway;
mod gateway_relay;
mod gateway_tunnel;
mod interaction;
mod logout;
mod middleware;
mod ops;
mod page_form;
mod params;
mod partner;
mod registration;
mod respond;
mod saml;
mod token;
mod upstream_sign_in;
mod userinfo;
mod websocket_frames;

use crate::provider::Provider;
use salvo::affix_state;
use salvo::prelude::*;
use std::sync::Arc;

/// The provider every handler runs against, injected into the depot.
fn provider(depot: &Depot) -> Arc<Provider> {
    depot
        .get_typed::<Arc<Provider>>()
        .cloned()
        .expect("the provider is injected by the router")
}

/// The service: the router, with our own answers (security headers, JSON error body) for
/// requests no route takes and for errors nothing wrote a body for.
pub fn service(p: Arc<Provider>) -> salvo::Service {
    salvo::Service::new(router(p))
        .hoop(middleware::security_headers)
        .hoop(middleware::drain_unread_body)
        .hoop(catcher::limit_uri)
        .catcher(catcher::catcher())
}

pub fn router(p: Arc<Provider>) -> Router {
    // Salvo tries routes in order: the busiest endpoints come first.
    let oidc = Router::new()
        .push(Router::with_path("token").post(token::token))
        .push(Router::with_path("token/introspection").post(token::introspection))
        .push(
            Router::with_path(".well-known/openid-configuration")
                .get(discovery::openid_configuration),
        )
        .push(Router::with_path("jwks").get(discovery::jwks))
        .push(
            Router::with_path("auth")
                .get(authorize::authorize)
                .post(authorize::authorize),
        )
        .push(Router::with_path("token/revocation").post(token::revocation))
        .push(Router::with_path("par").post(token::pushed_authorization_request))
        .push(Router::with_path("device/auth").post(token::device_authorization))
        .push(Router::with_path("backchannel").post(ciba::backchannel_authentication))
        .push(
            Router::with_path("me")
                .get(userinfo::userinfo)
                .post(userinfo::userinfo),
        )
        // The scope-checked gateway (`[[gateway.routes]]`), beside UserInfo.
        .push(Router::with_path("gateway/{**rest}").goal(gateway::forward))
        .push(
            Router::with_path("session/end")
                .get(logout::end)
                .post(logout::end),
        )
        .push(Router::with_path("session/end/confirm").post(logout::confirm))
        // SAML 2.0 service provider (federated login): metadata, ACS, the browser's return.
        .push(Router::with_path("saml/metadata").get(saml::metadata))
        .push(Router::with_path("saml/metadata/{provider}").get(saml::metadata))
        .push(Router::with_path("saml/acs").post(saml::acs))
        .push(Router::with_path("saml/continue").get(saml::continue_sign_in))
        .push(Router::with_path("reg").post(registration::register))
        .push(
            Router::with_path("reg/{client_id}")
                .get(registration::read)
                .put(registration::update)
                .delete(registration::delete),
        );
    let base = p.base_path.trim_matches('/').to_string();
    let oidc = if base.is_empty() {
        oidc
    } else {
        Router::with_path(base).push(oidc)
    };
    // RFC 8414 §3: the authorization-server metadata path for an issuer with a path component.
    let rfc8414 = format!(
        ".well-known/oauth-authorization-server{}",
        p.base_path.trim_end_matches('/')
    );
    let api = api::router(&p.base_path);
    Router::new()
        .hoop(affix_state::inject(p))
        .hoop(middleware::metrics)
        .push(oidc)
        // Every sign-in passes here several times; ahead of the REST API's many routes.
        .push(
            Router::with_path("interaction/{uid}")
                .get(interaction::show)
                .push(Router::with_path("login").post(interaction::login))
                .push(Router::with_path("consent").post(interaction::consent))
                .push(Router::with_path("choose").post(interaction::choose))
                .push(Router::with_path("journey").post(interaction::journey_form))
                .push(Router::with_path("federated/{provider}").post(federation::begin)),
        )
        // The CIBA approval page (the demo's and sandbox's stand-in for a bank's app).
        .push(
            Router::with_path("ciba")
                .get(ciba::page)
                .push(Router::with_path("login").post(ciba::login))
                .push(Router::with_path("decide").post(ciba::decide)),
        )
        // The user's own dashboard: the apps and banks they gave access to.
        .push(
            Router::with_path("account")
                .get(account::show)
                .push(Router::with_path("login").post(account::login))
                .push(Router::with_path("federated/{provider}").post(account::begin_federated))
                .push(Router::with_path("apps/revoke").post(account::revoke_app))
                .push(Router::with_path("connections/revoke").post(account::revoke_connection))
                .push(Router::with_path("identities/unlink").post(account::unlink_identity)),
        )
        // The REST API (partner, admin, webhooks, banks, operations): built from its table,
        // which is also its OpenAPI document (`api.rs`).
        .push(api)
        .push(Router::with_path("assets/consentry.css").get(ops::stylesheet))
        .push(Router::with_path(rfc8414).get(discovery::openid_configuration))
        .push(Router::with_path("bank-callback").get(interaction::bank_callback))
        // A bank's backend answering a CIBA request later (its `decoupled_callback` hook).
        .push(Router::with_path("institutions/{institution_id}/decoupled").post(ciba::bank_answer))
        .push(Router::with_path("federated/callback").get(federation::callback))
        // RFC 8628 §3.3: the device verification page.
        .push(
            Router::with_path("device")
                .get(device::show)
                .post(device::enter),
        )
}
