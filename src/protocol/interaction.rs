//! The user-facing part of an authorization: an interaction bound to one browser carries the
//! validated request through login and consent, then ends in a code or an error redirect.

use super::authorize::{
    self, Authentication, AuthorizationRequest, Completion, ErrorRedirect, NotIssued,
};
use super::login::{self, ThrottleKeys};
use super::response::Delivery;
use super::scopes;
use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::interactions::Interaction;
use crate::store::sessions::Session;
use crate::types::{Client, ScopeSet};

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
    /// Leave for the client's redirect_uri (success or error).
    Redirect(Delivery),
}

/// What a form post leads to.
pub enum Outcome {
    /// Back to the client's redirect_uri.
    Deliver(Delivery),
    /// Back to the interaction page for its next step.
    Continue,
    /// Off to the institution's own authorization server.
    Leave(String),
}

/// A live interaction with its request and client, checked against the browser.
pub struct Live {
    pub interaction: Interaction,
    pub request: AuthorizationRequest,
    pub client: std::sync::Arc<Client>,
    /// The bank journey's progress (default for other requests).
    pub progress: super::bank::Progress,
}

impl Live {
    pub fn client_name(&self) -> String {
        self.client
            .metadata
            .client_name
            .clone()
            .unwrap_or_else(|| self.client.id.to_string())
    }
    /// A registered display URI (`logo_uri`, `policy_uri`, `tos_uri`), when it is https:
    /// registration checks these, and pages show nothing else (no `javascript:` or plain
    /// http link, whatever an older record holds).
    pub fn display_uri(&self, name: &str) -> Option<&str> {
        self.client
            .metadata
            .extra
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|u| u.starts_with("https://"))
    }
    /// Scopes with their human descriptions, for the consent page.
    pub fn scope_descriptions(&self) -> Vec<(String, &'static str)> {
        self.request
            .scopes()
            .iter()
            .map(|s| {
                let text = super::bank::describe(s).unwrap_or_else(|| scopes::description(s));
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

/// The browser's live session for a session-cookie value.
pub async fn session(cx: &Ctx<'_>, cookie: Option<&str>) -> OAuthResult<Option<Session>> {
    let Some(value) = cookie else { return Ok(None) };
    let hash = secrets::digest(value);
    let now = cx.now;
    Ok(cx
        .store
        .read(move |tx| tx.sessions().get(&hash, now))
        .await?)
}

/// Consent already given by this user to this client.
async fn remembered(cx: &Ctx<'_>, user_id: &str, client_id: &str) -> OAuthResult<Option<ScopeSet>> {
    let (u, c) = (user_id.to_string(), client_id.to_string());
    Ok(cx
        .store
        .read(move |tx| tx.consents().get(&u, &c))
        .await?
        .map(|s| ScopeSet::parse(&s)))
}

/// How an authorization request continues.
pub enum Begun {
    /// Nothing to ask the user: straight back to the client (code or error).
    Redirect(Delivery),
    /// The user has to log in or consent in this interaction.
    Interaction(String),
}

/// Decides what an authorization request needs, opening an interaction when the user must
/// log in or consent.
pub async fn begin(
    cx: &Ctx<'_>,
    req: AuthorizationRequest,
    client: &Client,
    browser_id: &str,
    session: Option<Session>,
) -> OAuthResult<Begun> {
    if let Err(e) = authorize::check_managed_user(cx, &req, client).await {
        return refuse(cx, &req, client, e);
    }
    if req.bank.is_some() {
        return begin_bank(cx, req, client, browser_id, session).await;
    }
    let consent = match &session {
        Some(s) => remembered(cx, &s.user_id, &req.client_id).await?,
        None => None,
    };
    let now = cx.now;
    let next = authorize::decide(&req, session.as_ref(), consent.as_ref(), now);
    let user = match next {
        authorize::Next::Fail(e) => return refuse(cx, &req, client, e),
        authorize::Next::Issue => {
            let s = session
                .as_ref()
                .ok_or_else(|| OAuthError::server("issue without a session"))?;
            return finish(cx, &req, client, &from_session(s), Completion::default())
                .await
                .map(Begun::Redirect);
        }
        authorize::Next::Consent => session.as_ref().map(from_session),
        authorize::Next::Login => None,
    };
    open(cx, &req, browser_id, user, None).await
}

fn refuse(
    cx: &Ctx<'_>,
    req: &AuthorizationRequest,
    client: &Client,
    e: OAuthError,
) -> OAuthResult<Begun> {
    authorize::redirect_refusal(cx, req, client, e).map(Begun::Redirect)
}

/// Stores a new interaction for this browser, with whoever is already known to be the user.
async fn open(
    cx: &Ctx<'_>,
    req: &AuthorizationRequest,
    browser_id: &str,
    user: Option<Authentication>,
    journey: Option<String>,
) -> OAuthResult<Begun> {
    let i = Interaction {
        id: secrets::random_token(),
        browser_hash: secrets::digest(browser_id),
        csrf_token: secrets::random_token(),
        request: serde_json::to_string(req).map_err(OAuthError::server)?,
        user_id: user.as_ref().map(|a| a.user_id.clone()),
        auth_time: user.as_ref().map(|a| a.auth_time),
        amr: user.as_ref().map(|a| a.amr.clone()),
        sid: user.map(|a| a.sid),
        expires_at: cx.now + cx.config.lifetimes.interaction_secs,
        journey,
    };
    let id = i.id.clone();
    cx.store
        .write(move |tx| tx.interactions().insert(&i))
        .await?;
    Ok(Begun::Interaction(id))
}

/// A bank request always needs the user (chooser, consent, the institution's own journey);
/// it may start without a login when the client identifies its user or nobody is identified.
async fn begin_bank(
    cx: &Ctx<'_>,
    req: AuthorizationRequest,
    client: &Client,
    browser_id: &str,
    session: Option<Session>,
) -> OAuthResult<Begun> {
    if req.has_prompt("none") {
        let e = OAuthError::new(
            ErrorCode::InteractionRequired,
            400,
            "connecting a bank needs the user (OIDC Core section 3.1.2.6)",
        );
        return refuse(cx, &req, client, e);
    }
    let (identity, progress) =
        match super::journey::identify(cx, &req, client, session.as_ref()).await {
            Ok(v) => v,
            Err(e) => return refuse(cx, &req, client, e),
        };
    let user = match identity {
        super::journey::Identity::Known(a) => Some(a),
        _ => None,
    };
    open(cx, &req, browser_id, user, Some(progress.to_json())).await
}

pub(super) fn from_session(s: &Session) -> Authentication {
    Authentication {
        user_id: s.user_id.clone(),
        auth_time: s.auth_time,
        amr: s.amr.clone(),
        sid: s.sid.clone(),
    }
}

/// Completes the authorization, turning a refusal into an error response to the client.
pub(super) async fn finish(
    cx: &Ctx<'_>,
    req: &AuthorizationRequest,
    client: &Client,
    auth: &Authentication,
    along: Completion,
) -> OAuthResult<Delivery> {
    match authorize::respond(cx, req, client, auth, along).await {
        Ok(d) => Ok(d),
        Err(NotIssued::AlreadyEnded) => Err(OAuthError::invalid_request(
            "this sign-in request was already completed",
        )),
        Err(NotIssued::Refused(e)) => authorize::redirect_refusal(cx, req, client, e),
    }
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
    let client = super::client_cache::client(cx, &request.client_id)
        .await?
        .ok_or_else(|| OAuthError::invalid_request("the client no longer exists"))?;
    let progress = super::bank::Progress::parse(interaction.journey.as_deref())?;
    Ok(Live {
        interaction,
        request,
        client,
        progress,
    })
}

/// What to show for a live interaction: login until someone logged in, then consent unless
/// it is remembered (and not forced by prompt=consent).
pub async fn current_step(cx: &Ctx<'_>, live: &Live) -> OAuthResult<Step> {
    if live.request.bank.is_some() {
        return super::journey::current_step(cx, live);
    }
    let Some(auth) = live.authentication() else {
        return Ok(Step::Login);
    };
    let remembered = remembered(cx, &auth.user_id, &live.client.id).await?;
    let covered = remembered.is_some_and(|r| live.request.scopes().is_subset(&r));
    if covered && !live.request.has_prompt("consent") {
        return complete(cx, live, &auth, false).await.map(Step::Redirect);
    }
    Ok(Step::Consent)
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

/// Why a login did not succeed.
pub enum LoginFailure {
    BadCredentials,
    TooManyAttempts,
    Error(OAuthError),
}

/// A successful login: the new session cookie value, and a known-device value for the
/// browser (it exempts the browser from this account's failure throttle next time).
pub struct LoggedIn {
    pub session: String,
    pub known_device: String,
}

/// Verifies a username and password, throttled per (account, client address) and per address
/// (a browser holding this account's known-device value skips the first), opens a browser
/// session and records the login on the interaction.
pub async fn login(
    cx: &Ctx<'_>,
    live: &Live,
    credentials: (&str, &str),
    address: &str,
    known_device: Option<&str>,
) -> Result<LoggedIn, LoginFailure> {
    let (username, password) = credentials;
    let now = cx.now;
    let name = username.to_string();
    let user = cx
        .store
        .read(move |tx| tx.users().by_username(&name))
        .await
        .map_err(|e| LoginFailure::Error(e.into()))?;
    let known = user.as_ref().is_some_and(|u| {
        known_device.is_some_and(|d| login::is_known_device(&cx.sealer, d, &u.id, now))
    });
    // The attempt is counted as a failure in the transaction that admits it, and forgiven
    // if the password is right: parallel guesses cannot all pass one check.
    let keys = ThrottleKeys::new(username, address);
    let (pair_key, address_key) = (keys.account_address.clone(), keys.address.clone());
    let limits = cx.config.login.clone();
    let admitted = cx
        .store
        .write(move |tx| {
            let pair = tx.login_failures().get(&pair_key, now)?;
            let per_address = tx.login_failures().get(&address_key, now)?;
            if login::refused(&limits, pair, per_address, known, now) {
                return Ok(false);
            }
            tx.login_failures()
                .record(&pair_key, now, limits.window_secs)?;
            tx.login_failures()
                .record(&address_key, now, limits.window_secs)?;
            Ok(true)
        })
        .await
        .map_err(|e| LoginFailure::Error(e.into()))?;
    if !admitted {
        return Err(LoginFailure::TooManyAttempts);
    }
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = cx.passwords.verify(password, stored.as_deref()).await;
    let user = match (ok, user) {
        (true, Some(u)) => u,
        _ => {
            cx.metrics.login_failures.inc();
            tracing::info!(%address, "login failed");
            return Err(LoginFailure::BadCredentials);
        }
    };
    let cookie = secrets::random_token();
    let session = Session {
        sid: uuid::Uuid::new_v4().to_string(),
        user_id: user.id.clone(),
        auth_time: now,
        amr: "pwd".into(),
        expires_at: now + cx.config.lifetimes.session_secs,
    };
    let (hash, iid) = (secrets::digest(&cookie), live.interaction.id.clone());
    cx.store
        .write(move |tx| {
            tx.login_failures().clear(&keys.account_address)?;
            tx.login_failures().forgive(&keys.address)?;
            tx.sessions().insert(&hash, &session)?;
            tx.interactions().set_login(
                &iid,
                &session.user_id,
                session.auth_time,
                &session.amr,
                &session.sid,
            )
        })
        .await
        .map_err(|e| LoginFailure::Error(e.into()))?;
    Ok(LoggedIn {
        session: cookie,
        known_device: login::known_device(&cx.sealer, &user.id, now),
    })
}

/// The user's answer on the consent page. Approval is remembered for this client; in a bank
/// interaction it starts the institution's journey instead.
pub async fn consent(cx: &Ctx<'_>, live: &Live, approve: bool) -> OAuthResult<Outcome> {
    if approve && live.request.bank.is_some() {
        if !matches!(super::journey::current_step(cx, live)?, Step::Consent) {
            return Err(OAuthError::invalid_request(
                "consent is not what this step asks for",
            ));
        }
        return super::journey::start(cx, live).await;
    }
    // The user may cancel at any step, signed in or not, in a bank journey too (the login
    // page's Cancel posts here): the client hears access_denied (OIDC Core §3.1.2.6, RFC 6749
    // §4.1.2.1).
    if !approve {
        let iid = live.interaction.id.clone();
        let now = cx.now;
        cx.store
            .write(move |tx| tx.interactions().complete(&iid, now))
            .await?;
        let e = OAuthError::access_denied("the user declined the request");
        return ErrorRedirect::new(&live.request, e)
            .deliver(cx, &live.client)
            .map(Outcome::Deliver);
    }
    let auth = live
        .authentication()
        .ok_or_else(|| OAuthError::invalid_request("sign in before giving consent"))?;
    complete(cx, live, &auth, true).await.map(Outcome::Deliver)
}

/// Ends the interaction exactly once and issues the code, remembering the approval (when
/// asked) in the same transaction.
async fn complete(
    cx: &Ctx<'_>,
    live: &Live,
    auth: &Authentication,
    remember_consent: bool,
) -> OAuthResult<Delivery> {
    let along = Completion {
        interaction_id: Some(live.interaction.id.clone()),
        remember_consent,
        connection: None,
    };
    finish(cx, &live.request, &live.client, auth, along).await
}
