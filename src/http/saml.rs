//! SAML 2.0 service-provider endpoints: our metadata, the ACS (HTTP-POST binding), and the
//! browser's return to its interaction (or the dashboard) once the Response was verified.

use super::{cookies, params, provider, respond};
use crate::error::OAuthError;
use crate::protocol::federation::{self, saml};
use crate::protocol::interaction;
use crate::views;
use salvo::http::header::{self, HeaderValue};
use salvo::prelude::*;

fn metadata_response(res: &mut Response, xml: String) {
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/samlmetadata+xml"),
    );
    let _ = res.write_body(xml);
}

/// `GET /saml/metadata`: the SP metadata of our default entity id (`{issuer}/saml/metadata`);
/// `GET /saml/metadata/{provider}`: the one a provider with its own `sp_entity_id` registers.
#[handler]
pub async fn metadata(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    let wanted = req.param::<String>("provider");
    let found = match &wanted {
        Some(id) => cx
            .config
            .federation
            .provider(id)
            .filter(|c| c.kind == crate::config::federation::ProviderKind::Saml),
        None => {
            let default = format!("{}{}", cx.issuer, saml::METADATA_PATH);
            saml::providers_with_entity_id(&cx, &default)
                .first()
                .copied()
        }
    };
    let Some(found) = found else {
        res.status_code(StatusCode::NOT_FOUND);
        return;
    };
    match saml::sp_metadata(&cx, found).await {
        Ok(xml) => metadata_response(res, xml),
        Err(e) => respond::error_page(res, &e),
    }
}

/// `POST /saml/acs`: the IdP's Response (HTTP-POST binding). Verified here; the browser then
/// comes back by GET, with its SameSite=Lax cookies, to sign in to its interaction.
#[handler]
pub async fn acs(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    let form = match params::form_pairs(req).await.and_then(params::unique) {
        Ok(f) => f,
        Err(e) => return respond::error_page(res, &e),
    };
    let Some(response) = form.get("SAMLResponse") else {
        let e = OAuthError::invalid_request(
            "SAMLResponse is missing (SAML Bindings 3.5.4: the HTTP-POST binding's form field)",
        );
        return respond::error_page(res, &e);
    };
    match saml::accept(&cx, response, form.get("RelayState").map(String::as_str)).await {
        Ok(answered) => {
            let query = form_urlencoded::Serializer::new(String::new())
                .append_pair("state", &answered.relay_state)
                .finish();
            let base = cx.base_path.trim_end_matches('/');
            respond::redirect(res, &format!("{base}{}?{query}", saml::CONTINUE_PATH));
        }
        Err(e) => respond::error_page(res, &e),
    }
}

/// `GET /saml/continue?state=`: the browser that started the sign-in signs in as the verified
/// identity (linked or created by the provider's rule), then goes on to consent, or to the
/// dashboard when it started there.
#[handler]
pub async fn continue_sign_in(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    let cx = p.ctx();
    let state = req.query::<String>("state").unwrap_or_default();
    let mut returned = match saml::finish(&cx, &state).await {
        Ok(v) => v,
        Err(e) => return respond::error_page(res, &e),
    };
    let upstream = federation::FederatedProvider::from(returned.provider);
    let browser = cookies::get(req, cookies::BROWSER);
    // The sign-in must be this browser's: the Response alone proves nothing about who holds it.
    let Some(interaction_id) = returned.interaction_id.clone() else {
        let outcome = match returned.dashboards(browser) {
            Ok(pending) => {
                federation::sign_in_federated(&cx, &upstream, returned.identity, &pending).await
            }
            Err(e) => Err(interaction::LoginFailure::Error(e)),
        };
        return super::account::answer_federated(&p, req, res, outcome);
    };
    let live = match interaction::load(&cx, &interaction_id, browser).await {
        Ok(l) => l,
        Err(e) => return respond::error_page(res, &e),
    };
    let iid = live.interaction.id.clone();
    let pending = match returned.interactions(&iid) {
        Ok(pending) => pending,
        Err(e) => return respond::error_page(res, &e),
    };
    let outcome = federation::sign_in_federated(&cx, &upstream, returned.identity, &pending).await;
    super::interaction::answer_sign_in(&p, res, outcome, &format!("/interaction/{iid}"), |why| {
        views::error("Sign-in refused", why)
    });
}
