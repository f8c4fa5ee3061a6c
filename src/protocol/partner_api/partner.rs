//! The partner API (contract: User Management): clients manage their own users and those
//! users' connections with client-credentials tokens. A client sees only the users it manages;
//! anything else is "not found", never another partner's data.

use crate::error::{OAuthError, OAuthResult};
use crate::protocol::bank::handout::{self, Audit, HandedOut};
use crate::protocol::tokens::resource::{self, Presentation};
use crate::protocol::Ctx;
use crate::store::connections::BankConnection;
use crate::store::users::User;
use crate::types::{Client, ScopeSet};
use serde::Serialize;

/// The client calling, with the scopes of its token.
pub struct Caller {
    pub client_id: String,
    /// The calling client: the user ids it sees are its subjects (OIDC Core §8).
    pub client: Client,
    pub scopes: ScopeSet,
}

/// Accepts a live client-credentials token carrying `needed` (RFC 6750 §3.1 codes).
pub async fn caller(cx: &Ctx<'_>, presented: &Presentation, needed: &str) -> OAuthResult<Caller> {
    let token = resource::authenticate(cx, presented).await?;
    if token.row.user_id.is_some() {
        return Err(OAuthError::insufficient_scope(
            "this API takes a client-credentials token, not one issued for a user",
        ));
    }
    let scopes = ScopeSet::parse(&token.row.scopes);
    if !scopes.contains(needed) {
        return Err(OAuthError::insufficient_scope(format!(
            "the access token lacks the {needed} scope"
        )));
    }
    let id = token.row.client_id.clone();
    let client = cx
        .store
        .read(move |tx| tx.clients().get(&id))
        .await?
        .ok_or_else(|| OAuthError::invalid_token("the client no longer exists"))?;
    Ok(Caller {
        client_id: token.row.client_id,
        client,
        scopes,
    })
}

/// A user as the contract shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_user_id: Option<String>,
    pub client_id: String,
    pub managed_by: &'static str,
    pub created_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<String>,
    /// The user's standard claims (OIDC Core §5.1), as the partner set them.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl UserView {
    fn of(cx: &Ctx<'_>, u: User, client: &Client) -> UserView {
        UserView {
            user_id: crate::protocol::oidc::subject::for_client(cx, client, &u.id),
            client_user_id: u.client_user_id,
            client_id: client.id.to_string(),
            managed_by: "client",
            created_at: u.created_at,
            scopes: None,
            claims: u.claims,
        }
    }
}

/// A connection as partners see it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionView {
    pub id: String,
    pub user_id: String,
    /// The institution's id (its `id:` scope).
    pub bank_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bank_ref: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl ConnectionView {
    fn of(cx: &Ctx<'_>, c: BankConnection, client: &Client) -> ConnectionView {
        let institution = cx.plugins.get(&c.institution_id);
        ConnectionView {
            name: institution.as_ref().map(|i| i.meta.name.clone()),
            bank_ref: institution.as_ref().map(|i| i.meta.bank_ref.clone()),
            kind: institution.as_ref().map(|i| i.meta.kind.as_str()),
            id: c.id,
            user_id: crate::protocol::oidc::subject::for_client(cx, client, &c.user_id),
            bank_id: c.institution_id,
            status: c.status,
            consent_expires_at: c.consent_expires_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

const MAX_CLIENT_USER_ID: usize = 256;

/// What `POST /users` may carry.
#[derive(Debug, Default)]
pub struct NewUser {
    pub client_user_id: Option<String>,
    /// Standard claims (OIDC Core §5.1), released by UserInfo and ID tokens by scope.
    pub claims: Option<serde_json::Value>,
}

/// `POST /users`: a new user managed by the calling client.
pub async fn create_user(cx: &Ctx<'_>, caller: &Caller, new: NewUser) -> OAuthResult<UserView> {
    let NewUser {
        client_user_id,
        claims,
    } = new;
    let claims = match &claims {
        None | Some(serde_json::Value::Null) => Default::default(),
        Some(c) => crate::protocol::oidc::user_claims::validate(c)?,
    };
    if let Some(id) = &client_user_id {
        if id.is_empty() || id.len() > MAX_CLIENT_USER_ID {
            return Err(OAuthError::invalid_request(format!(
                "clientUserId must be 1 to {MAX_CLIENT_USER_ID} characters"
            )));
        }
    }
    let user = User {
        id: crate::secrets::random_user_id(),
        username: None,
        password_hash: None,
        claims,
        managed_by_client: Some(caller.client_id.clone()),
        client_user_id,
        created_at: cx.now,
    };
    let stored = user.clone();
    cx.store.write(move |tx| tx.users().insert(&stored)).await?;
    let mut view = UserView::of(cx, user, &caller.client);
    view.scopes = Some(caller.scopes.to_string());
    Ok(view)
}

/// One page of the caller's users, oldest first, with the total.
pub async fn list_users(
    cx: &Ctx<'_>,
    caller: &Caller,
    limit: i64,
    offset: i64,
) -> OAuthResult<(Vec<UserView>, i64)> {
    let cid = caller.client_id.clone();
    let (list, total) = cx
        .store
        .read(move |tx| {
            Ok((
                tx.users().managed_by(&cid, limit, offset)?,
                tx.users().count_managed_by(&cid)?,
            ))
        })
        .await?;
    let views = list
        .into_iter()
        .map(|u| UserView::of(cx, u, &caller.client))
        .collect();
    Ok((views, total))
}

fn not_found() -> OAuthError {
    OAuthError::not_found("no such user")
}

/// One of the caller's users, named by the id the caller knows it by, or not found.
async fn managed(cx: &Ctx<'_>, caller: &Caller, user_id: &str) -> OAuthResult<User> {
    let id = crate::protocol::oidc::subject::user_of(cx, &caller.client, user_id)
        .ok_or_else(not_found)?;
    cx.store
        .read(move |tx| tx.users().get(&id))
        .await?
        .filter(|u| u.managed_by_client.as_deref() == Some(caller.client_id.as_str()))
        .ok_or_else(not_found)
}

pub async fn get_user(cx: &Ctx<'_>, caller: &Caller, user_id: &str) -> OAuthResult<UserView> {
    Ok(UserView::of(
        cx,
        managed(cx, caller, user_id).await?,
        &caller.client,
    ))
}

pub async fn user_connections(
    cx: &Ctx<'_>,
    caller: &Caller,
    user_id: &str,
) -> OAuthResult<Vec<ConnectionView>> {
    let user = managed(cx, caller, user_id).await?;
    let list = cx
        .store
        .read(move |tx| tx.connections().for_user(&user.id))
        .await?;
    Ok(list
        .into_iter()
        .map(|c| ConnectionView::of(cx, c, &caller.client))
        .collect())
}

/// Deletes one of a user's connections: its grants and tokens and its sealed institution
/// tokens go with it.
pub async fn delete_connection(
    cx: &Ctx<'_>,
    caller: &Caller,
    user_id: &str,
    connection_id: &str,
) -> OAuthResult<()> {
    let user = managed(cx, caller, user_id).await?;
    crate::protocol::bank::connection::delete_connection(cx, &user.id, connection_id).await
}

/// Deletes a user with every connection, grant and token of theirs.
pub async fn delete_user(cx: &Ctx<'_>, caller: &Caller, user_id: &str) -> OAuthResult<()> {
    let user = managed(cx, caller, user_id).await?;
    let (client, now) = (caller.client_id.clone(), cx.now);
    cx.store
        .write(move |tx| tx.connections().delete_user(&client, &user.id, now))
        .await?;
    cx.webhook_wake.notify_one();
    Ok(())
}

/// `GET /users/{id}/connections/{connection-id}/token`: a working access token of the
/// connection's institution, refreshed first when needed; every answer is audited. Another
/// client's user or connection is "not found".
pub async fn connection_token(
    cx: &Ctx<'_>,
    caller: &Caller,
    user_id: &str,
    connection_id: &str,
) -> OAuthResult<HandedOut> {
    let mut audit = Audit {
        client_id: caller.client_id.clone(),
        user_id: user_id.to_string(),
        connection_id: connection_id.to_string(),
        institution_id: None,
    };
    let found = match managed(cx, caller, user_id).await {
        Ok(user) => {
            audit.user_id = user.id.clone();
            let id = connection_id.to_string();
            cx.store
                .read(move |tx| tx.connections().get(&id))
                .await?
                .filter(|c| c.user_id == user.id && c.client_id == caller.client_id)
                .ok_or_else(|| OAuthError::not_found("no such connection"))
        }
        Err(e) => Err(e),
    };
    match found {
        Ok(c) => {
            audit.institution_id = Some(c.institution_id.clone());
            handout::hand_out(cx, &audit, c).await
        }
        Err(e) => {
            audit.record(cx, false, Err(&e)).await;
            Err(e)
        }
    }
}

/// A user's grant to the calling client, as the partner sees it, with its budget.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    pub grant_id: String,
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
    /// `{limit, unit, period, currency?, spent, remaining, period_ends_at}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget: Option<serde_json::Value>,
}

/// The user's live grants to the calling client (others' grants are not the caller's to see).
async fn live_grants(
    cx: &Ctx<'_>,
    caller: &Caller,
    user_id: &str,
) -> OAuthResult<Vec<crate::store::grants::Grant>> {
    let user = managed(cx, caller, user_id).await?;
    let (cid, now) = (caller.client_id.clone(), cx.now);
    let grants = cx
        .store
        .read(move |tx| tx.grants().live_of_user_and_client(&user.id, &cid))
        .await?;
    Ok(grants.into_iter().filter(|g| g.expires_at > now).collect())
}

/// `GET /users/{id}/grants`: the user's grants to the caller and what their budgets have left.
pub async fn user_grants(
    cx: &Ctx<'_>,
    caller: &Caller,
    user_id: &str,
) -> OAuthResult<Vec<GrantView>> {
    let mut out = Vec::new();
    for g in live_grants(cx, caller, user_id).await? {
        out.push(GrantView {
            budget: crate::protocol::budget::read(cx, &g.id).await?,
            grant_id: g.id,
            scopes: g.scopes,
            created_at: g.created_at,
            expires_at: g.expires_at,
        });
    }
    Ok(out)
}

/// The user's live grant `grant_id` to the caller; 404 when it is not one.
async fn own_grant(
    cx: &Ctx<'_>,
    caller: &Caller,
    user_id: &str,
    grant_id: &str,
) -> OAuthResult<()> {
    let known = live_grants(cx, caller, user_id)
        .await?
        .iter()
        .any(|g| g.id == grant_id);
    if !known {
        return Err(OAuthError::not_found("no such grant"));
    }
    Ok(())
}

/// `PUT /users/{id}/grants/{grant}/budget`: sets the grant's budget (what this period spent is
/// kept when the unit and period stay the same). Answers the budget as it now stands.
pub async fn set_budget(
    cx: &Ctx<'_>,
    caller: &Caller,
    user_id: &str,
    grant_id: &str,
    body: &serde_json::Value,
) -> OAuthResult<serde_json::Value> {
    let budget = crate::protocol::budget::Budget::from_value(body)?;
    own_grant(cx, caller, user_id, grant_id).await?;
    let (row, now) = (budget.row(grant_id, cx.now), cx.now);
    cx.store
        .write(move |tx| tx.budgets().set(&row, now))
        .await?;
    crate::protocol::budget::read(cx, grant_id)
        .await?
        .ok_or_else(|| OAuthError::server("the budget was not stored"))
}

/// `DELETE /users/{id}/grants/{grant}/budget`: the grant spends without limit from now on.
/// Removing a budget the grant does not have changes nothing and succeeds alike (RFC 9110
/// §9.3.5: DELETE is idempotent).
pub async fn remove_budget(
    cx: &Ctx<'_>,
    caller: &Caller,
    user_id: &str,
    grant_id: &str,
) -> OAuthResult<()> {
    own_grant(cx, caller, user_id, grant_id).await?;
    let id = grant_id.to_string();
    cx.store.write(move |tx| tx.budgets().remove(&id)).await?;
    Ok(())
}
