//! Starting a sign-in at an upstream identity provider, shared by every sign-in page (the
//! interaction's login page and the dashboard's): the buttons they show, the provider a
//! button names, and the start itself. The returns are [`super::federation`]'s.

use super::respond;
use crate::config::federation::{ProviderConfig, ProviderKind};
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::federation::{oidc, saml};
use crate::protocol::oidc::response::Delivery;
use crate::protocol::Ctx;
use crate::provider::Provider;
use crate::store::federation::LoginFor;
use crate::views;
use salvo::prelude::*;

/// The configured upstream providers, as the sign-in pages' buttons name them.
pub(super) fn buttons(p: &Provider) -> Vec<views::FederatedButton<'_>> {
    p.config
        .federation
        .providers
        .iter()
        .map(|f| views::FederatedButton {
            id: &f.id,
            name: &f.name,
        })
        .collect()
}

/// The provider a button names (its `{provider}` path segment), or the error page written.
pub(super) fn named_provider<'p>(
    p: &'p Provider,
    req: &Request,
    res: &mut Response,
) -> Option<&'p ProviderConfig> {
    let id = req.param::<String>("provider").unwrap_or_default();
    let found = p.config.federation.provider(&id);
    if found.is_none() {
        let e = OAuthError::invalid_request("no identity provider of that name is configured");
        respond::error_page(res, &e);
    }
    found
}

/// Starts the sign-in at `upstream` for an interaction or the dashboard, until `expires_at`
/// (OpenID Connect; SAML requests keep their own lifetime).
pub(super) async fn start(
    cx: &Ctx<'_>,
    upstream: &ProviderConfig,
    login_for: LoginFor,
    expires_at: i64,
) -> OAuthResult<Delivery> {
    match upstream.kind {
        ProviderKind::Oidc => oidc::begin(cx, login_for, expires_at, upstream)
            .await
            .map(Delivery::Redirect),
        // HTTP-Redirect, or an HTTP-POST form when that is all the IdP offers.
        ProviderKind::Saml => saml::start(cx, upstream, login_for).await,
    }
}
