//! The user-facing part of an authorization: an interaction bound to one browser carries the
//! validated request through login and consent, then ends in a code or an error redirect.
//! A bank request's interaction runs the bank journey ([`crate::protocol::bank::journey`]).

pub mod live;

pub use live::{check_csrf, load, Live, Outcome, Step};

use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::authorize::decision::{decide, Authentication, Next, SignedIn};
use crate::protocol::authorize::issue::{finish, Completion};
use crate::protocol::authorize::refusal::{redirect_refusal, ReplyTo};
use crate::protocol::authorize::request::AuthorizationRequest;
use crate::protocol::authorize::validate::check_managed_user;
use crate::protocol::bank::journey;
use crate::protocol::login::{self, ThrottleKeys};
use crate::protocol::oidc::response::Delivery;
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::interactions::Interaction;
use crate::store::sessions::Session;
use crate::types::{Client, ScopeSet};

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

/// Decides what an authorization request needs, opening an interaction when the user must
/// log in or consent.
pub async fn begin(
    cx: &Ctx<'_>,
    req: AuthorizationRequest,
    client: &Client,
    browser_id: &str,
    session: Option<Session>,
) -> OAuthResult<Outcome> {
    if let Err(e) = check_managed_user(cx, &req, client).await {
        return refuse(cx, &req, client, e);
    }
    if req.bank.is_some() {
        return begin_bank(cx, req, client, browser_id, session).await;
    }
    let consent = match &session {
        Some(s) => remembered(cx, &s.user_id, &req.client_id).await?,
        None => None,
    };
    let signed_in = match &session {
        Some(s) => SignedIn::Session(s),
        None => SignedIn::Nobody,
    };
    let user = match decide(&req, signed_in, consent.as_ref(), cx.now) {
        Next::Fail(e) => return refuse(cx, &req, client, e),
        Next::Issue(user) => {
            return finish(cx, &req, client, &user, Completion::default())
                .await
                .map(Outcome::Deliver);
        }
        Next::Consent(user) => Some(user),
        Next::Login => None,
    };
    open(cx, &req, browser_id, user, None).await
}

fn refuse(
    cx: &Ctx<'_>,
    req: &AuthorizationRequest,
    client: &Client,
    e: OAuthError,
) -> OAuthResult<Outcome> {
    redirect_refusal(cx, req, client, e).map(Outcome::Deliver)
}

/// Stores a new interaction for this browser, with whoever is already known to be the user.
async fn open(
    cx: &Ctx<'_>,
    req: &AuthorizationRequest,
    browser_id: &str,
    user: Option<Authentication>,
    journey: Option<String>,
) -> OAuthResult<Outcome> {
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
    Ok(Outcome::Interaction(id))
}

/// A bank request always needs the user (chooser, consent, the institution's own journey);
/// it may start without a login when the client identifies its user or nobody is identified.
async fn begin_bank(
    cx: &Ctx<'_>,
    req: AuthorizationRequest,
    client: &Client,
    browser_id: &str,
    session: Option<Session>,
) -> OAuthResult<Outcome> {
    if req.has_prompt("none") {
        let e = OAuthError::new(
            ErrorCode::InteractionRequired,
            400,
            "connecting a bank needs the user (OIDC Core section 3.1.2.6)",
        );
        return refuse(cx, &req, client, e);
    }
    let (user, progress) = match journey::identify(cx, &req, client, session.as_ref()).await {
        Ok(v) => v,
        Err(e) => return refuse(cx, &req, client, e),
    };
    open(cx, &req, browser_id, user, Some(progress.to_json())).await
}

/// What to show for a live interaction: login until someone logged in, then consent unless
/// it is remembered (and not forced by prompt=consent).
pub async fn current_step(cx: &Ctx<'_>, live: &Live) -> OAuthResult<Step> {
    if live.request.bank.is_some() {
        return journey::current_step(cx, live);
    }
    let Some(auth) = live.authentication() else {
        return Ok(Step::Login);
    };
    // prompt=consent asks whatever was remembered (OIDC Core §3.1.2.1): no need to read it.
    let remembered = if live.request.has_prompt("consent") {
        None
    } else {
        remembered(cx, &auth.user_id, &live.client.id).await?
    };
    let signed_in = SignedIn::ThisRequest(&auth);
    match decide(&live.request, signed_in, remembered.as_ref(), cx.now) {
        Next::Issue(auth) => complete(cx, live, &auth, false).await.map(Step::Redirect),
        // Someone logged in here, and prompt=none never opens an interaction: consent it is.
        Next::Consent(_) | Next::Login | Next::Fail(_) => Ok(Step::Consent),
    }
}

/// Why a login did not succeed.
pub enum LoginFailure {
    BadCredentials,
    TooManyAttempts,
    /// Refused for a reason the user should read on the login page (e.g. a federated
    /// identity the operator's link rule does not let in).
    Refused(String),
    Error(OAuthError),
}

/// A successful login: the new session cookie value, and a known-device value for the
/// browser (it exempts the browser from this account's failure throttle next time).
pub struct LoggedIn {
    pub session: String,
    pub known_device: String,
}

/// Signs in on an interaction's login page: [`sign_in`], recording the login on the
/// interaction in the transaction that opens the session.
pub async fn login(
    cx: &Ctx<'_>,
    live: &Live,
    credentials: (&str, &str),
    address: &str,
    known_device: Option<&str>,
) -> Result<LoggedIn, LoginFailure> {
    let on = Some(live.interaction.id.clone());
    sign_in(cx, credentials, address, known_device, on).await
}

/// Verifies a username and password, throttled per (account, client address) and per address
/// (a browser holding this account's known-device value skips the first), and opens a browser
/// session; with `interaction`, the login is recorded on it in the same transaction. Every
/// login page (interactions, the user's dashboard) signs in through this.
pub async fn sign_in(
    cx: &Ctx<'_>,
    credentials: (&str, &str),
    address: &str,
    known_device: Option<&str>,
    interaction: Option<String>,
) -> Result<LoggedIn, LoginFailure> {
    let (username, password) = credentials;
    let now = cx.now;
    let name = username.to_string();
    let device_user = known_device.and_then(|d| login::known_device_user(&cx.sealer, d, now));
    // The attempt is counted as a failure in the transaction that admits it, and forgiven
    // if the password is right: parallel guesses cannot all pass one check. The account is
    // looked up in that transaction too (one round trip to the store, not two).
    let keys = ThrottleKeys::new(username, address);
    let (pair_key, address_key) = (keys.account_address.clone(), keys.address.clone());
    let limits = cx.config.login.clone();
    let (admitted, user) = cx
        .store
        .write(move |tx| {
            tx.login_failures().hold_all(&[&pair_key, &address_key])?;
            let user = tx.users().by_username(&name)?;
            let known = user.as_ref().is_some_and(|u| {
                device_user
                    .as_deref()
                    .is_some_and(|d| secrets::ct_eq(d, &u.id))
            });
            let pair = tx.login_failures().get(&pair_key, now)?;
            let per_address = tx.login_failures().get(&address_key, now)?;
            if login::refused(&limits, pair, per_address, known, now) {
                return Ok((false, user));
            }
            tx.login_failures()
                .record(&pair_key, now, limits.window_secs)?;
            tx.login_failures()
                .record(&address_key, now, limits.window_secs)?;
            Ok((true, user))
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
    let hash = secrets::digest(&cookie);
    cx.store
        .write(move |tx| {
            tx.login_failures().clear(&keys.account_address)?;
            tx.login_failures().forgive(&keys.address)?;
            tx.sessions().insert(&hash, &session)?;
            match &interaction {
                Some(iid) => tx.interactions().set_login(
                    iid,
                    &session.user_id,
                    session.auth_time,
                    &session.amr,
                    &session.sid,
                ),
                None => Ok(()),
            }
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
        if !matches!(journey::current_step(cx, live)?, Step::Consent) {
            return Err(OAuthError::invalid_request(
                "consent is not what this step asks for",
            ));
        }
        return journey::start(cx, live).await;
    }
    // The user may cancel at any step, signed in or not, in a bank journey too (the login
    // page's Cancel posts here): the client hears access_denied (OIDC Core §3.1.2.6, RFC 6749
    // §4.1.2.1).
    if !approve {
        let iid = live.interaction.id.clone();
        let (now, device) = (cx.now, live.request.device_id());
        // RFC 8628 §3.5: the device hears access_denied, decided in the same transaction.
        cx.store
            .write(move |tx| {
                tx.interactions().complete(&iid, now)?;
                if let Some(d) = &device {
                    tx.device_authorizations().deny(d)?;
                }
                Ok(())
            })
            .await?;
        let e = OAuthError::access_denied("the user declined the request");
        return ReplyTo::of(&live.request)
            .deliver(cx, &live.client, &e)
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
