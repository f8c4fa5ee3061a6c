//! The login and consent pages of an interaction.

use super::{cookies, params, provider, respond};
use crate::error::OAuthResult;
use crate::protocol::bank::journey;
use crate::protocol::interaction::{self, Live, LoggedIn, LoginFailure, Outcome, Step};
use crate::provider::Provider;
use crate::views;
use salvo::prelude::*;

pub(super) async fn live(p: &Provider, req: &Request, res: &mut Response) -> Option<Live> {
    let uid = req.param::<String>("uid").unwrap_or_default();
    match interaction::load(&p.ctx(), &uid, cookies::get(req, cookies::BROWSER)).await {
        Ok(l) => Some(l),
        Err(e) => {
            respond::error_page(res, &e);
            None
        }
    }
}

/// The client as the login and consent pages show it.
fn display<'a>(live: &'a Live, name: &'a str) -> views::ClientDisplay<'a> {
    views::ClientDisplay {
        name,
        logo_uri: live.display_uri("logo_uri"),
        policy_uri: live.display_uri("policy_uri"),
        tos_uri: live.display_uri("tos_uri"),
    }
}

/// The interaction's login page: the password form and a button per upstream identity
/// provider; `error` says why the last try failed.
pub(super) fn login_page(p: &Provider, live: &Live, username: &str, error: Option<&str>) -> String {
    let buttons = super::upstream_sign_in::buttons(p);
    let i = &live.interaction;
    views::login(
        &i.id,
        &i.csrf_token,
        &display(live, &live.client_name()),
        username,
        error,
        &buttons,
    )
}

fn show_step(p: &Provider, req: &Request, res: &mut Response, live: &Live, step: Step) {
    let i = &live.interaction;
    match step {
        Step::Chooser(all) => {
            let query = req.query::<String>("q").unwrap_or_default();
            let needle = query.trim().to_lowercase();
            let entries: Vec<views::ChooserEntry> = all
                .iter()
                .filter(|p| {
                    let m = &p.meta;
                    needle.is_empty()
                        || [&m.name, &m.id, &m.bank_ref]
                            .iter()
                            .any(|s| s.to_lowercase().contains(&needle))
                })
                .map(|p| views::ChooserEntry {
                    id: &p.meta.id,
                    name: &p.meta.name,
                    bank_ref: &p.meta.bank_ref,
                    kind: p.meta.kind.as_str(),
                })
                .collect();
            let page = views::chooser(&i.id, &i.csrf_token, &live.client_name(), &query, &entries);
            respond::html(res, StatusCode::OK, page)
        }
        Step::BankForm { institution, form } => respond::html(
            res,
            StatusCode::OK,
            views::bank_form(&i.id, &i.csrf_token, &institution, &form),
        ),
        Step::BankMessage {
            institution,
            message,
        } => respond::html(
            res,
            StatusCode::OK,
            views::bank_message(&i.id, &i.csrf_token, &institution, &message),
        ),
        Step::Login => {
            let hint = live.request.login_hint.clone().unwrap_or_default();
            respond::html(res, StatusCode::OK, login_page(p, live, &hint, None))
        }
        Step::Consent => respond::html(
            res,
            StatusCode::OK,
            views::consent(
                &i.id,
                &i.csrf_token,
                &display(live, &live.client_name()),
                live.institution_name(&p.ctx()).as_deref(),
                &live.scope_descriptions(),
                crate::protocol::device::verification::shown_code(&p.ctx(), &live.request)
                    .as_deref(),
                live.request
                    .budget
                    .as_ref()
                    .map(|b| b.describe())
                    .as_deref(),
            ),
        ),
        Step::Redirect(d) => respond::deliver(res, d),
    }
}

#[handler]
pub async fn show(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(live) = live(&p, req, res).await else {
        return;
    };
    match interaction::current_step(&p.ctx(), &live).await {
        Ok(step) => show_step(&p, req, res, &live, step),
        Err(e) => respond::error_page(res, &e),
    }
}

/// Reads the posted form and checks its CSRF token.
pub(super) async fn form(
    req: &mut Request,
    res: &mut Response,
    live: &Live,
) -> Option<std::collections::HashMap<String, String>> {
    let form = match params::form_pairs(req).await.and_then(params::unique) {
        Ok(f) => f,
        Err(e) => {
            respond::error_page(res, &e);
            return None;
        }
    };
    if let Err(e) = interaction::check_csrf(live, form.get("csrf_token").map(String::as_str)) {
        respond::html(
            res,
            StatusCode::FORBIDDEN,
            views::error("Request refused", e.description()),
        );
        return None;
    }
    Some(form)
}

#[handler]
pub async fn login(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(live) = live(&p, req, res).await else {
        return;
    };
    let Some(form) = form(req, res, &live).await else {
        return;
    };
    let username = form.get("username").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let address = params::client_ip(req);
    let device = cookies::get(req, cookies::KNOWN_DEVICE).map(String::from);
    let i = &live.interaction;
    let page = |msg: &str| login_page(&p, &live, &username, Some(msg));
    let credentials = (username.as_str(), password.as_str());
    let outcome =
        interaction::login(&p.ctx(), &live, credentials, &address, device.as_deref()).await;
    answer_sign_in(&p, res, outcome, &format!("/interaction/{}", i.id), page);
}

/// Answers a sign-in form (the login page's, the dashboard's, the CIBA approval page's): on
/// success sets the session and known-device cookies and goes on to `next`; otherwise shows
/// the form again (`page`) saying why, 401 for wrong credentials, 429 when throttled.
pub(super) fn answer_sign_in(
    p: &Provider,
    res: &mut Response,
    outcome: Result<LoggedIn, LoginFailure>,
    next: &str,
    page: impl Fn(&str) -> String,
) {
    match outcome {
        Ok(done) => {
            cookies::set(
                res,
                cookies::SESSION,
                done.session,
                p.config.lifetimes.session_secs,
            );
            cookies::set(
                res,
                cookies::KNOWN_DEVICE,
                done.known_device,
                crate::protocol::login::KNOWN_DEVICE_SECS,
            );
            respond::redirect(res, next);
        }
        Err(LoginFailure::BadCredentials) => respond::html(
            res,
            StatusCode::UNAUTHORIZED,
            page("Wrong username or password."),
        ),
        Err(LoginFailure::TooManyAttempts) => respond::html(
            res,
            StatusCode::TOO_MANY_REQUESTS,
            page("Too many failed attempts. Wait a few minutes and try again."),
        ),
        Err(LoginFailure::Refused(why)) => respond::html(res, StatusCode::FORBIDDEN, page(&why)),
        Err(LoginFailure::Error(e)) => respond::error_page(res, &e),
    }
}

#[handler]
pub async fn consent(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(live) = live(&p, req, res).await else {
        return;
    };
    let Some(form) = form(req, res, &live).await else {
        return;
    };
    let approve = match form.get("decision").map(String::as_str) {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            let e = crate::error::OAuthError::invalid_request("decision must be approve or deny");
            return respond::error_page(res, &e);
        }
    };
    let outcome = interaction::consent(&p.ctx(), &live, approve).await;
    respond_outcome(res, outcome);
}

fn respond_outcome(res: &mut Response, outcome: OAuthResult<Outcome>) {
    match outcome {
        Ok(Outcome::Deliver(d)) => respond::deliver(res, d),
        Ok(Outcome::Interaction(uid)) => respond::redirect(res, &format!("/interaction/{uid}")),
        Ok(Outcome::Leave(url)) => respond::redirect(res, &url),
        Err(e) => respond::error_page(res, &e),
    }
}

/// The user picked an institution in the chooser.
#[handler]
pub async fn choose(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(live) = live(&p, req, res).await else {
        return;
    };
    let Some(form) = form(req, res, &live).await else {
        return;
    };
    let institution = form.get("institution").cloned().unwrap_or_default();
    let outcome = journey::choose(&p.ctx(), &live, &institution)
        .await
        .map(|()| Outcome::Interaction(live.interaction.id.clone()));
    respond_outcome(res, outcome);
}

/// The user answered (or cancelled) an institution's form.
#[handler]
pub async fn journey_form(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let Some(live) = live(&p, req, res).await else {
        return;
    };
    let Some(form) = form(req, res, &live).await else {
        return;
    };
    let outcome = if form.get("action").map(String::as_str) == Some("cancel") {
        journey::cancel(&p.ctx(), &live).await.map(Outcome::Deliver)
    } else {
        journey::submit(&p.ctx(), &live, &form).await
    };
    respond_outcome(res, outcome);
}

/// The browser back from an institution's authorization server (`/bank-callback`). The state
/// names the interaction; the browser cookie and the state's random part prove it.
#[handler]
pub async fn bank_callback(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let params = match params::unique(params::query_pairs(req)) {
        Ok(p) => p,
        Err(e) => return respond::error_page(res, &e),
    };
    let uid = params
        .get("state")
        .and_then(|s| crate::protocol::upstream_oidc::interaction_of(s))
        .unwrap_or_default()
        .to_string();
    let live = match interaction::load(&p.ctx(), &uid, cookies::get(req, cookies::BROWSER)).await {
        Ok(l) => l,
        Err(e) => return respond::error_page(res, &e),
    };
    let outcome = journey::upstream_return(&p.ctx(), &live, &params).await;
    respond_outcome(res, outcome);
}
