//! Federated login's browser steps: the login page's provider buttons, and the providers'
//! return to `/federated/callback`.

use super::interaction::{answer_sign_in, form, live, login_page};
use super::{cookies, params, provider, respond};
use crate::config::federation::ProviderKind;
use crate::error::OAuthError;
use crate::protocol::federation::{oidc, saml};
use crate::protocol::interaction;
use crate::protocol::oidc::response::Delivery;
use salvo::prelude::*;

/// A provider button (`POST /interaction/{uid}/federated/{provider}`, CSRF-checked): starts
/// the sign-in at the provider.
#[handler]
pub async fn begin(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(live) = live(&p, req, res).await else {
        return;
    };
    if form(req, res, &live).await.is_none() {
        return;
    }
    let id = req.param::<String>("provider").unwrap_or_default();
    let Some(upstream) = p.config.federation.provider(&id) else {
        let e = OAuthError::invalid_request("no identity provider of that name is configured");
        return respond::error_page(res, &e);
    };
    let cx = p.ctx();
    let started = match upstream.kind {
        ProviderKind::Oidc => oidc::begin(&cx, &live, upstream)
            .await
            .map(Delivery::Redirect),
        // HTTP-Redirect, or an HTTP-POST form when that is all the IdP offers.
        ProviderKind::Saml => saml::start(&cx, upstream, &live.interaction.id).await,
    };
    match started {
        Ok(departure) => respond::deliver(res, departure),
        Err(e) => respond::error_page(res, &e),
    }
}

/// An OpenID provider's return (`GET /federated/callback`). The state names the interaction;
/// the browser cookie and the state's digest prove it. A refusal at the provider
/// (`access_denied`) shows the login page again, saying so.
#[handler]
pub async fn callback(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let params = match params::unique(params::query_pairs(req)) {
        Ok(p) => p,
        Err(e) => return respond::error_page(res, &e),
    };
    let uid = params
        .get("state")
        .map(|s| crate::protocol::upstream_oidc::interaction_of(s))
        .unwrap_or_default()
        .to_string();
    let cx = p.ctx();
    let live = match interaction::load(&cx, &uid, cookies::get(req, cookies::BROWSER)).await {
        Ok(l) => l,
        Err(e) => return respond::error_page(res, &e),
    };
    let outcome = oidc::finish(&cx, &live, &p.config.federation, &params).await;
    let page = |msg: &str| login_page(&p, &live, "", Some(msg));
    answer_sign_in(&p, res, outcome, &format!("/interaction/{uid}"), page);
}
