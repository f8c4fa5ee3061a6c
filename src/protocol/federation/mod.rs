//! Federated login: signing in with an upstream identity provider. Each protocol (OpenID
//! Connect in [`oidc`], SAML 2.0) verifies the upstream's answer its own way, then calls
//! [`sign_in_federated`], which finds or makes the local user by the provider's link rule and
//! opens the session, like a password sign-in does.

pub mod dashboard;
pub mod links;
pub mod saml;
pub mod saml_keys;
pub mod saml_metadata;

use crate::config::federation::{LinkRule, ProviderConfig};
use crate::error::OAuthError;
use crate::protocol::interaction::{LoggedIn, LoginFailure};
use crate::protocol::login;
use crate::protocol::oidc::user_claims;
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::federation::{LoginFor, PendingLogin};
use crate::store::sessions::Session;
use crate::store::users::User;
use crate::store::{StoreResult, Tx};
use serde_json::Value;

pub mod oidc;

/// The `amr` of a session opened by an upstream provider's sign-in.
pub const AMR: &str = "fed";

/// An upstream provider as linking sees it.
#[derive(Debug, Clone)]
pub struct FederatedProvider {
    pub id: String,
    pub name: String,
    pub link: LinkRule,
}

impl From<&ProviderConfig> for FederatedProvider {
    fn from(p: &ProviderConfig) -> Self {
        FederatedProvider {
            id: p.id.clone(),
            name: p.name.clone(),
            link: p.link,
        }
    }
}

/// Who the upstream provider says signed in, once its answer has been verified.
#[derive(Debug, Clone)]
pub struct FederatedIdentity {
    /// The provider's stable identifier for the user (OIDC `sub`, SAML NameID).
    pub subject: String,
    pub email: Option<String>,
    /// Whether the provider vouches for the e-mail (OIDC `email_verified`).
    pub email_verified: bool,
    pub name: Option<String>,
    /// Everything the provider asserted; its standard claims are copied to a new user.
    pub claims: Value,
}

/// What a first login from an identity does, by the provider's link rule.
enum Link {
    To(String),
    Create,
    Refuse(&'static str),
}

const NO_ACCOUNT: &str = "No account here has this verified e-mail address. Sign in with your password, or ask the operator to create your account.";
const SEVERAL_ACCOUNTS: &str = "Several accounts here have this e-mail address, so it cannot choose one. Sign in with your password.";

/// Signs in as the local user linked to `identity` at `provider`, linking (or creating) one
/// on the first login by the provider's rule, and opens a browser session with `amr` "fed".
/// The sign-in in progress (`pending`, an interaction's or the dashboard's) is consumed (single
/// use) and, for an interaction, the login recorded on it, in the transaction that links,
/// creates and opens the session.
pub async fn sign_in_federated(
    cx: &Ctx<'_>,
    provider: &FederatedProvider,
    identity: FederatedIdentity,
    pending: &PendingLogin,
) -> Result<LoggedIn, LoginFailure> {
    if identity.subject.is_empty() {
        return Err(LoginFailure::Error(OAuthError::invalid_request(
            "the identity provider named no subject",
        )));
    }
    let now = cx.now;
    let (provider, session_secs) = (provider.clone(), cx.config.lifetimes.session_secs);
    let cookie = secrets::random_token();
    let hash = secrets::digest(&cookie);
    let sid = uuid::Uuid::new_v4().to_string();
    let (state_hash, login_for) = (pending.state_hash.clone(), pending.login_for.clone());
    let outcome = cx
        .store
        .write(move |tx| {
            if !tx.federation().take_login(&state_hash, &provider.id)? {
                return Ok(Err(LoginFailure::Error(OAuthError::invalid_request(
                    "this sign-in at the identity provider was already used or has expired",
                ))));
            }
            let user_id = match user_for(tx, &provider, &identity, now)? {
                Ok(u) => u,
                Err(why) => return Ok(Err(LoginFailure::Refused(why.into()))),
            };
            let session = Session {
                sid: sid.clone(),
                user_id,
                auth_time: now,
                amr: AMR.into(),
                expires_at: now + session_secs,
            };
            tx.sessions().insert(&hash, &session)?;
            if let LoginFor::Interaction(iid) = &login_for {
                tx.interactions().set_login(
                    iid,
                    &session.user_id,
                    now,
                    &session.amr,
                    &session.sid,
                )?;
            }
            Ok(Ok(session.user_id))
        })
        .await
        .map_err(|e| LoginFailure::Error(e.into()))?;
    let user_id = outcome?;
    Ok(LoggedIn {
        session: cookie,
        known_device: login::known_device(&cx.sealer, &user_id, now),
    })
}

/// The local user the identity signs in as: its link, or a new link by the provider's rule.
fn user_for(
    tx: &Tx<'_>,
    provider: &FederatedProvider,
    identity: &FederatedIdentity,
    now: i64,
) -> StoreResult<Result<String, &'static str>> {
    let fed = tx.federation();
    if let Some(user_id) = fed.linked_user(&provider.id, &identity.subject)? {
        return Ok(Ok(user_id));
    }
    let user_id = match first_login(tx, provider.link, identity)? {
        Link::To(user_id) => user_id,
        Link::Create => {
            let user = new_user(identity, now);
            tx.users().insert(&user)?;
            tracing::info!(provider = %provider.id, user = %user.id, "federated login created a user");
            user.id
        }
        Link::Refuse(why) => {
            tracing::info!(provider = %provider.id, "federated login refused by the link rule");
            return Ok(Err(why));
        }
    };
    fed.link(&provider.id, &identity.subject, &user_id, now)?;
    Ok(Ok(user_id))
}

/// Applies the link rule to an identity seen for the first time. Only an e-mail the provider
/// verified may reach an existing account, and only one account.
fn first_login(tx: &Tx<'_>, rule: LinkRule, identity: &FederatedIdentity) -> StoreResult<Link> {
    if rule == LinkRule::Create {
        return Ok(Link::Create);
    }
    let verified = identity
        .email
        .as_deref()
        .filter(|_| identity.email_verified);
    let matches = match verified {
        Some(email) => tx.federation().users_with_verified_email(email, 2)?,
        None => Vec::new(),
    };
    Ok(match (rule, matches.as_slice()) {
        (_, [one]) => Link::To(one.clone()),
        (_, [_, _, ..]) => Link::Refuse(SEVERAL_ACCOUNTS),
        (LinkRule::Existing, []) => Link::Refuse(NO_ACCOUNT),
        (_, []) => Link::Create,
    })
}

/// A local user for a new identity: no username or password, the provider's standard claims.
fn new_user(identity: &FederatedIdentity, now: i64) -> User {
    let mut claims = user_claims::standard_only(&identity.claims);
    if let Some(name) = identity.name.as_ref().filter(|n| !n.is_empty()) {
        claims
            .entry("name")
            .or_insert_with(|| Value::String(name.clone()));
    }
    if let Some(email) = &identity.email {
        claims.insert("email".into(), Value::String(email.clone()));
        claims.insert(
            "email_verified".into(),
            Value::Bool(identity.email_verified),
        );
    }
    User {
        id: secrets::random_user_id(),
        username: None,
        password_hash: None,
        claims,
        managed_by_client: None,
        client_user_id: None,
        created_at: now,
    }
}
