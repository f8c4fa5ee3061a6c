//! Federated login's browser steps: the provider buttons' posts (the login page's and the
//! dashboard's), and the providers' return to `/federated/callback`.

use super::interaction::{answer_sign_in, form, live, login_page};
use super::upstream_sign_in::{named_provider, start};
use super::{account, cookies, params, provider, respond};
use crate::protocol::federation::{dashboard, oidc};
use crate::protocol::interaction;
use crate::store::federation::LoginFor;
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
    let Some(upstream) = named_provider(&p, req, res) else {
        return;
    };
    let i = &live.interaction;
    let login_for = LoginFor::Interaction(i.id.clone());
    match start(&p.ctx(), upstream, login_for, i.expires_at).await {
        Ok(departure) => respond::deliver(res, departure),
        Err(e) => respond::error_page(res, &e),
    }
}

/// An OpenID provider's return (`GET /federated/callback`). An interaction's state names the
/// interaction, whose browser cookie and the state's digest prove it; the dashboard's state is
/// found by its digest and proven by the browser cookie it was started with. A refusal at the
/// provider (`access_denied`) shows the sign-in page again, saying so.
#[handler]
pub async fn callback(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let params = match params::unique(params::query_pairs(req)) {
        Ok(p) => p,
        Err(e) => return respond::error_page(res, &e),
    };
    let state = params.get("state").map(String::as_str).unwrap_or_default();
    let cx = p.ctx();
    let browser = cookies::get(req, cookies::BROWSER);
    let Some(uid) = crate::protocol::upstream_oidc::interaction_of(state).map(String::from) else {
        let outcome = match dashboard::pending(&cx, state, browser).await {
            Ok(pending) => oidc::complete(&cx, &pending, &p.config.federation, &params).await,
            Err(e) => Err(interaction::LoginFailure::Error(e)),
        };
        return account::answer_federated(&p, req, res, outcome);
    };
    let live = match interaction::load(&cx, &uid, browser).await {
        Ok(l) => l,
        Err(e) => return respond::error_page(res, &e),
    };
    let outcome = oidc::finish(&cx, &live, &p.config.federation, &params).await;
    let page = |msg: &str| login_page(&p, &live, "", Some(msg));
    answer_sign_in(&p, res, outcome, &format!("/interaction/{uid}"), page);
}
