//! A live interaction as the pages see it: the interaction bound to one browser, its request,
//! client and bank progress, and what the browser is shown or sent to next. Shared by the
//! interaction flow and the bank journey, and importing neither.

use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::authorize::decision::Authentication;
use crate::protocol::authorize::request::AuthorizationRequest;
use crate::protocol::bank::progress::Progress;
use crate::protocol::oidc::response::Delivery;
use crate::protocol::{client_cache, oidc::scopes, Ctx};
use crate::secrets;
use crate::store::interactions::Interaction;
use crate::types::Client;

/// Where the browser goes next.
pub enum Step {
    /// Show the login form.
    Login,
    /// Show the bank chooser with these institutions.
    Chooser(Vec<std::sync::Arc<crate::plugins::Plugin>>),
    /// Show the consent form.
    Consent,
    /// Show a form an institution's script asked for.
    BankForm {
        institution: String,
        form: crate::plugins::Form,
    },
    /// Show the message an institution's script ended its journey on.
    BankMessage {
        institution: String,
        message: crate::plugins::Message,
    },
    /// Leave for the client's redirect_uri (success or error).
    Redirect(Delivery),
}

/// Where the browser is sent after an authorization request or a form post.
pub enum Outcome {
    /// Back to the client's redirect_uri (success or error).
    Deliver(Delivery),
    /// To the page of this interaction, for the user's next step.
    Interaction(String),
    /// Off to the institution's own authorization server.
    Leave(String),
}

/// A live interaction with its request and client, checked against the browser.
pub struct Live {
    pub interaction: Interaction,
    pub request: AuthorizationRequest,
    pub client: std::sync::Arc<Client>,
    /// The bank journey's progress (default for other requests).
    pub progress: Progress,
}

impl Live {
    pub fn client_name(&self) -> String {
        client_name(&self.client)
    }
    pub fn display_uri(&self, name: &str) -> Option<&str> {
        display_uri(&self.client, name)
    }
    /// Scopes with their human descriptions, for the consent page.
    pub fn scope_descriptions(&self) -> Vec<(String, &'static str)> {
        self.request
            .scopes()
            .iter()
            .map(|s| {
                let text = scopes::description(s);
                (s.to_string(), text)
            })
            .collect()
    }
    /// The institution a bank interaction is about, once known.
    pub fn institution_name(&self, cx: &Ctx<'_>) -> Option<String> {
        let id = self.progress.institution.as_deref()?;
        cx.plugins.get(id).map(|i| i.meta.name.clone())
    }
    pub fn authentication(&self) -> Option<Authentication> {
        let i = &self.interaction;
        Some(Authentication {
            user_id: i.user_id.clone()?,
            auth_time: i.auth_time?,
            amr: i.amr.clone()?,
            sid: i.sid.clone()?,
        })
    }
}

/// The client's name as pages show it: its registered `client_name`, else its id.
pub fn client_name(client: &Client) -> String {
    client
        .metadata
        .client_name
        .clone()
        .unwrap_or_else(|| client.id.to_string())
}

/// A registered display URI (`logo_uri`, `policy_uri`, `tos_uri`), when it is https:
/// registration checks these, and pages show nothing else (no `javascript:` or plain http
/// link, whatever an older record holds).
pub fn display_uri<'a>(client: &'a Client, name: &str) -> Option<&'a str> {
    client
        .metadata
        .extra
        .get(name)
        .and_then(|v| v.as_str())
        .filter(|u| u.starts_with("https://"))
}

/// Loads an interaction for the browser that started it; anything else is not found.
pub async fn load(cx: &Ctx<'_>, uid: &str, browser_id: Option<&str>) -> OAuthResult<Live> {
    let gone = || {
        OAuthError::invalid_request(
            "this sign-in request has expired or is unknown; start again from the app",
        )
    };
    let browser_id = browser_id.ok_or_else(gone)?;
    let (id, now) = (uid.to_string(), cx.now);
    let interaction = cx
        .store
        .read(move |tx| tx.interactions().get(&id, now))
        .await?
        .filter(|i| secrets::ct_eq(&i.browser_hash, &secrets::digest(browser_id)))
        .ok_or_else(gone)?;
    let request: AuthorizationRequest = serde_json::from_str(&interaction.request)
        .map_err(|e| OAuthError::server(format!("interaction request: {e}")))?;
    let client = client_cache::client(cx, &request.client_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_request("the client no longer exists"))?;
    let progress = Progress::parse(interaction.journey.as_deref())?;
    Ok(Live {
        interaction,
        request,
        client,
        progress,
    })
}

/// Checks the form's CSRF token against the interaction's, in constant time.
pub fn check_csrf(live: &Live, presented: Option<&str>) -> OAuthResult<()> {
    match presented {
        Some(t) if secrets::ct_eq(t, &live.interaction.csrf_token) => Ok(()),
        _ => Err(OAuthError::new(
            ErrorCode::InvalidRequest,
            403,
            "the form's CSRF token is missing or wrong; reload the page",
        )),
    }
}
