//! The login and consent pages of an interaction.

use super::{cookies, params, provider, respond};
use crate::protocol::interaction::{self, Live, LoginFailure, Step};
use crate::provider::Provider;
use crate::views;
use salvo::prelude::*;

async fn live(p: &Provider, req: &Request, res: &mut Response) -> Option<Live> {
    let uid = req.param::<String>("uid").unwrap_or_default();
    match interaction::load(p, &uid, cookies::get(req, cookies::BROWSER)).await {
        Ok(l) => Some(l),
        Err(e) => {
            respond::error_page(res, &e);
            None
        }
    }
}

fn show_step(res: &mut Response, live: &Live, step: Step) {
    let i = &live.interaction;
    match step {
        Step::Login => {
            let hint = live.request.login_hint.clone().unwrap_or_default();
            respond::html(
                res,
                StatusCode::OK,
                views::login(&i.id, &i.csrf_token, &live.client_name(), &hint, None),
            )
        }
        Step::Consent => respond::html(
            res,
            StatusCode::OK,
            views::consent(
                &i.id,
                &i.csrf_token,
                &live.client_name(),
                &live.scope_descriptions(),
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
    match interaction::current_step(&p, &live).await {
        Ok(step) => show_step(res, &live, step),
        Err(e) => respond::error_page(res, &e),
    }
}

/// Reads the posted form and checks its CSRF token.
async fn form(
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
            views::error("Request refused", &e.description),
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
    let ip = params::client_ip(req);
    let i = &live.interaction;
    let page = |msg: &str| {
        views::login(
            &i.id,
            &i.csrf_token,
            &live.client_name(),
            &username,
            Some(msg),
        )
    };
    match interaction::login(&p, &live, &username, &password, &ip).await {
        Ok(cookie) => {
            cookies::set(
                res,
                cookies::SESSION,
                cookie,
                p.config.lifetimes.session_secs,
            );
            respond::redirect(res, &format!("/interaction/{}", i.id));
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
    match interaction::consent(&p, &live, approve).await {
        Ok(d) => respond::deliver(res, d),
        Err(e) => respond::error_page(res, &e),
    }
}
