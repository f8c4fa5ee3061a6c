//! The user's dashboard at `/account`: sign in (the login pages' own sign-in, throttle and
//! CSRF rules, or an upstream identity provider), see the apps and bank connections, revoke
//! either, and unlink an upstream identity the user signs in with.

use super::{cookies, page_form, params, provider, respond};
use crate::error::OAuthError;
use crate::protocol::account;
use crate::protocol::federation::dashboard;
use crate::protocol::federation::links::{self, Unlinked};
use crate::protocol::interaction::{self, LoggedIn, LoginFailure};
use crate::protocol::page_csrf;
use crate::provider::Provider;
use crate::store::sessions::Session;
use crate::views::{self, Notice};
use salvo::prelude::*;

/// The signed-in user's session, if any.
async fn session(p: &Provider, req: &Request) -> Result<Option<Session>, OAuthError> {
    interaction::session(&p.ctx(), cookies::get(req, cookies::SESSION)).await
}

/// What a revoke left the page saying.
fn notice(req: &Request) -> Option<Notice<'static>> {
    match req.query::<String>("revoked").as_deref() {
        Some("app") => Some(Notice::Done("The app's access has ended.")),
        Some("connection") => Some(Notice::Done("The bank connection has been removed.")),
        Some("identity") => Some(Notice::Done(
            "The sign-in method has been unlinked: it no longer signs you in to this account.",
        )),
        _ => None,
    }
}

/// The signed-in user's dashboard, with `status` and what the last action left it saying.
async fn dashboard_page(
    p: &Provider,
    req: &Request,
    res: &mut Response,
    user: &str,
    status: StatusCode,
    notice: Option<Notice<'_>>,
) {
    let csrf = page_form::csrf_token(p, req, res, page_csrf::ACCOUNT);
    match account::dashboard(&p.ctx(), user).await {
        Ok(d) => respond::html(
            res,
            status,
            views::dashboard(&csrf, &d, notice, &p.endpoints().end_session),
        ),
        Err(e) => respond::error_page(res, &e),
    }
}

#[handler]
pub async fn show(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let user = match session(&p, req).await {
        Ok(Some(s)) => s.user_id,
        Ok(None) => {
            let csrf = page_form::csrf_token(&p, req, res, page_csrf::ACCOUNT);
            let page = sign_in_page(&p, &csrf, "", None);
            return respond::html(res, StatusCode::OK, page);
        }
        Err(e) => return respond::error_page(res, &e),
    };
    dashboard_page(&p, req, res, &user, StatusCode::OK, notice(req)).await;
}

#[handler]
pub async fn login(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(form) = page_form::checked(&p, req, res, page_csrf::ACCOUNT).await else {
        return;
    };
    let csrf = form.get("csrf_token").cloned().unwrap_or_default();
    let username = form.get("username").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let address = params::client_ip(req);
    let device = cookies::get(req, cookies::KNOWN_DEVICE).map(String::from);
    let credentials = (username.as_str(), password.as_str());
    let page = |msg: &str| sign_in_page(&p, &csrf, &username, Some(msg));
    let outcome =
        interaction::sign_in(&p.ctx(), credentials, &address, device.as_deref(), None).await;
    super::interaction::answer_sign_in(&p, res, outcome, "/account", page);
}

/// The dashboard's sign-in page: the password form and a button per upstream provider.
fn sign_in_page(p: &Provider, csrf: &str, username: &str, error: Option<&str>) -> String {
    let buttons = super::upstream_sign_in::buttons(p);
    views::account_login(csrf, username, error, &buttons)
}

/// A provider button on the dashboard's sign-in page (`POST /account/federated/{provider}`,
/// the page's CSRF rule): starts the sign-in at the provider, bound to this browser.
#[handler]
pub async fn begin_federated(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    if page_form::checked(&p, req, res, page_csrf::ACCOUNT)
        .await
        .is_none()
    {
        return;
    }
    // The CSRF check passed, so the browser holds a cookie this server minted.
    let Some(browser) = cookies::minted_browser_id(&p, req).map(String::from) else {
        return respond::error_page(
            res,
            &OAuthError::server("no browser cookie after its check"),
        );
    };
    let Some(upstream) = super::upstream_sign_in::named_provider(&p, req, res) else {
        return;
    };
    let cx = p.ctx();
    let login_for = dashboard::login_for(&browser);
    match super::upstream_sign_in::start(&cx, upstream, login_for, dashboard::expires_at(&cx)).await
    {
        Ok(departure) => respond::deliver(res, departure),
        Err(e) => respond::error_page(res, &e),
    }
}

/// Answers an upstream provider's return to a sign-in started at the dashboard: on to the
/// dashboard (303) with the session, or the sign-in page again saying why, never a bare error.
pub(super) fn answer_federated(
    p: &Provider,
    req: &Request,
    res: &mut Response,
    outcome: Result<LoggedIn, LoginFailure>,
) {
    let csrf = page_form::csrf_token(p, req, res, page_csrf::ACCOUNT);
    let page = |why: &str| sign_in_page(p, &csrf, "", Some(why));
    match outcome {
        Err(LoginFailure::Error(e)) => respond::error_in_page(res, &e, page),
        outcome => super::interaction::answer_sign_in(p, res, outcome, "/account", page),
    }
}

/// A revoke form's field and the signed-in user, or the answer already written: 403 for a
/// bad CSRF token, back to the sign-in form without a session.
async fn revoke_request(
    p: &Provider,
    req: &mut Request,
    res: &mut Response,
    field: &str,
) -> Option<(String, String)> {
    let form = page_form::checked(p, req, res, page_csrf::ACCOUNT).await?;
    let user = match session(p, req).await {
        Ok(Some(s)) => s.user_id,
        Ok(None) => {
            respond::redirect(res, "/account");
            return None;
        }
        Err(e) => {
            respond::error_page(res, &e);
            return None;
        }
    };
    Some((user, form.get(field).cloned().unwrap_or_default()))
}

/// After a revoke: back to the dashboard, or 404 when the id is not one of the user's.
fn after_revoke(res: &mut Response, outcome: Result<(), OAuthError>, what: &str) {
    match outcome {
        Ok(()) => respond::redirect(res, &format!("/account?revoked={what}")),
        Err(e) if e.status == 404 => respond::html(
            res,
            StatusCode::NOT_FOUND,
            views::error("Not found", e.description()),
        ),
        Err(e) => respond::error_page(res, &e),
    }
}

#[handler]
pub async fn revoke_app(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some((user, client_id)) = revoke_request(&p, req, res, "client_id").await else {
        return;
    };
    let outcome = account::revoke_app(&p.ctx(), &user, &client_id).await;
    after_revoke(res, outcome, "app");
}

#[handler]
pub async fn revoke_connection(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some((user, id)) = revoke_request(&p, req, res, "connection_id").await else {
        return;
    };
    // The partner API's own deletion (its grants, tokens and webhook); another user's
    // connection is not found.
    let outcome = crate::protocol::bank::connection::delete_connection(&p.ctx(), &user, &id).await;
    after_revoke(res, outcome, "connection");
}

/// `POST /account/identities/unlink`: ends the link of an upstream identity to the user. The
/// last way to sign in is refused with the dashboard saying why (409, nothing deleted).
#[handler]
pub async fn unlink_identity(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some((user, id)) = revoke_request(&p, req, res, "identity_id").await else {
        return;
    };
    match links::unlink(&p.ctx(), &user, &id).await {
        Ok(Unlinked::LastSignInMethod { provider }) => {
            let why = format!(
                "{provider} is the only way you can sign in: this account has no password, so \
                 unlinking it would lock you out. It stays linked."
            );
            let notice = Some(Notice::Refused(&why));
            dashboard_page(&p, req, res, &user, StatusCode::CONFLICT, notice).await;
        }
        outcome => after_revoke(res, outcome.map(|_| ()), "identity"),
    }
}
