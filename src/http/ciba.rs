//! CIBA: the backchannel authentication endpoint, and the approval page where a signed-in user
//! answers the requests waiting for them (`/ciba`).

use super::{cookies, page_form, params, provider, respond};
use crate::protocol::authorize::decision::Authentication;
use crate::protocol::ciba::{approval, bank, request};
use crate::protocol::interaction;
use crate::protocol::page_csrf;
use crate::views;
use salvo::prelude::*;
use std::collections::HashMap;

/// CIBA Core §7: `POST /oidc/backchannel`, client-authenticated as at the token endpoint.
#[handler]
pub async fn backchannel_authentication(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    let (client, form) =
        match super::token::authenticated(&cx, req, &p.endpoints().backchannel).await {
            Ok(v) => v,
            Err((e, scheme)) => return respond::oauth_error(res, &e, scheme),
        };
    let asked: HashMap<String, String> = form
        .into_iter()
        .filter(|(k, _)| !request::CREDENTIALS.contains(&k.as_str()))
        .collect();
    match request::authenticate(&cx, &client, &asked).await {
        Ok(body) => respond::json(res, StatusCode::OK, &body),
        Err(e) => respond::oauth_error(res, &e, "Basic"),
    }
}

/// `GET /ciba`: the sign-in form, or the signed-in user's pending requests.
#[handler]
pub async fn page(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    let csrf = page_form::csrf_token(&p, req, res, page_csrf::CIBA_APPROVAL);
    let session = match interaction::session(&cx, cookies::get(req, cookies::SESSION)).await {
        Ok(s) => s,
        Err(e) => return respond::error_page(res, &e),
    };
    let Some(session) = session else {
        return respond::html(res, StatusCode::OK, views::ciba::sign_in(&csrf, "", None));
    };
    match approval::pending(&cx, &session.user_id).await {
        Ok(list) => respond::html(
            res,
            StatusCode::OK,
            views::ciba::pending(&csrf, &list, cx.now),
        ),
        Err(e) => respond::error_page(res, &e),
    }
}

/// `POST /ciba/login`: the same login, throttling and session as the sign-in pages.
#[handler]
pub async fn login(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    let Some(form) = page_form::checked(&p, req, res, page_csrf::CIBA_APPROVAL).await else {
        return;
    };
    let username = form.get("username").cloned().unwrap_or_default();
    let password = form.get("password").cloned().unwrap_or_default();
    let address = params::client_ip(req);
    let device = cookies::get(req, cookies::KNOWN_DEVICE).map(String::from);
    let csrf = form.get("csrf_token").cloned().unwrap_or_default();
    let again = |msg: &str| views::ciba::sign_in(&csrf, &username, Some(msg));
    let credentials = (username.as_str(), password.as_str());
    let outcome = interaction::sign_in(&cx, credentials, &address, device.as_deref(), None).await;
    super::interaction::answer_sign_in(&p, res, outcome, "/ciba", again);
}

/// `POST /ciba/decide`: approve or deny one of the signed-in user's requests.
#[handler]
pub async fn decide(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    let Some(form) = page_form::checked(&p, req, res, page_csrf::CIBA_APPROVAL).await else {
        return;
    };
    let session = match interaction::session(&cx, cookies::get(req, cookies::SESSION)).await {
        Ok(Some(s)) => s,
        Ok(None) => return respond::redirect(res, "/ciba"),
        Err(e) => return respond::error_page(res, &e),
    };
    let approve = match form.get("decision").map(String::as_str) {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            let e = crate::error::OAuthError::invalid_request("decision must be approve or deny");
            return respond::error_page(res, &e);
        }
    };
    let id = form.get("request").cloned().unwrap_or_default();
    let auth = Authentication::from_session(&session);
    match approval::decide(&cx, &auth, &id, approve).await {
        Ok(()) => respond::html(res, StatusCode::OK, views::ciba::answered(approve)),
        Err(e) => respond::error_page(res, &e),
    }
}

/// The most a bank's callback may send.
const MAX_CALLBACK_BYTES: usize = 64 * 1024;

/// `POST /institutions/{institution_id}/decoupled`: a bank's backend delivers its customer's
/// answer to a request its `decoupled_request` hook left pending. The institution's
/// `decoupled_callback` hook authenticates the call from its headers and raw body.
#[handler]
pub async fn bank_answer(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    let institution = req.param::<String>("institution_id").unwrap_or_default();
    let body = match params::payload(req, MAX_CALLBACK_BYTES).await {
        Ok(b) => b,
        Err(e) => return respond::oauth_error(res, &e, ""),
    };
    let Ok(body) = String::from_utf8(body.to_vec()) else {
        let e = crate::error::OAuthError::invalid_request("the callback's body must be UTF-8");
        return respond::oauth_error(res, &e, "");
    };
    let headers: serde_json::Map<String, serde_json::Value> = req
        .headers()
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.into())))
        .collect();
    let call = serde_json::json!({
        "method": req.method().as_str(),
        "headers": headers,
        "body": body,
    });
    match bank::answer(&cx, &institution, call).await {
        Ok(a) => respond::json(
            res,
            StatusCode::OK,
            &serde_json::json!({ "status": if a.approved { "approved" } else { "denied" } }),
        ),
        Err(e) => respond::oauth_error(res, &e, ""),
    }
}
