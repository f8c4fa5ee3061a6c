//! Bank connections: one per completed connect journey, renewed by reauth and refresh.

use super::sql::{args, Conn, Row};
use super::users::User;
use super::{exec, Refusal, StoreError, StoreResult, Tx};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct BankConnection {
    /// `<institution hash>:<uuid>`, the contract's connection id form.
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub institution_id: String,
    /// `active` or `reauth_required`.
    pub status: String,
    /// The script's data, sealed (AES-256-GCM).
    pub data_sealed: Option<String>,
    pub consent_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

pub const ACTIVE: &str = "active";
pub const REAUTH_REQUIRED: &str = "reauth_required";

const COLUMNS: &str = "id, user_id, client_id, institution_id, status, data_sealed, consent_expires_at, created_at, updated_at";

fn from_row(r: &Row) -> StoreResult<BankConnection> {
    Ok(BankConnection {
        id: r.get(0)?,
        user_id: r.get(1)?,
        client_id: r.get(2)?,
        institution_id: r.get(3)?,
        status: r.get(4)?,
        data_sealed: r.get(5)?,
        consent_expires_at: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
    })
}

/// Bank connections, as one transaction sees them (`tx.connections()`).
pub struct Connections<'a> {
    pub(super) conn: Conn<'a>,
}

impl Connections<'_> {
    fn tx(&self) -> Tx<'_> {
        Tx { conn: self.conn }
    }

    pub fn insert(&self, c: &BankConnection) -> StoreResult<()> {
        exec(
            self.conn,
            &format!(
                "INSERT INTO connections ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            args![
                c.id,
                c.user_id,
                c.client_id,
                c.institution_id,
                c.status,
                c.data_sealed,
                c.consent_expires_at,
                c.created_at,
                c.updated_at
            ],
        )?;
        Ok(())
    }

    pub fn get(&self, id: &str) -> StoreResult<Option<BankConnection>> {
        self.conn.query_opt(
            &format!("SELECT {COLUMNS} FROM connections WHERE id = ?1"),
            args![id],
            from_row,
        )
    }

    /// A user's connections, oldest first.
    pub fn for_user(&self, user_id: &str) -> StoreResult<Vec<BankConnection>> {
        self.conn.query_all(
            &format!(
                "SELECT {COLUMNS} FROM connections WHERE user_id = ?1 ORDER BY created_at, rowid"
            ),
            args![user_id],
            from_row,
        )
    }

    /// Records a connection event for the client that made the connection.
    fn event(&self, c: &BankConnection, event_type: &str, now: i64) -> StoreResult<()> {
        let payload = json!({"connectionId": c.id, "bankId": c.institution_id});
        self.tx()
            .outbox()
            .enqueue(&c.client_id, event_type, &c.user_id, payload, now)?;
        Ok(())
    }

    /// Marks connections whose consent has run out as needing reauth (with a
    /// `connectionReauthRequired` event each); returns them.
    pub fn expire_consents(&self, now: i64) -> StoreResult<Vec<BankConnection>> {
        let lapsed = self.conn.query_all(
            &format!(
                "UPDATE connections SET status = 'reauth_required', updated_at = ?1
                 WHERE status = 'active' AND consent_expires_at IS NOT NULL AND consent_expires_at <= ?1
                 RETURNING {COLUMNS}"
            ),
            args![now],
            from_row,
        )?;
        for c in &lapsed {
            self.event(c, "connectionReauthRequired", now)?;
        }
        Ok(lapsed)
    }

    /// Marks an active connection as needing reauth (its institution refused to refresh its
    /// tokens, or issued none to refresh with), with a `connectionReauthRequired` event;
    /// false when it was not active.
    pub fn require_reauth(&self, id: &str, now: i64) -> StoreResult<bool> {
        let marked = self.conn.query_opt(
            &format!(
                "UPDATE connections SET status = 'reauth_required', updated_at = ?2
                 WHERE id = ?1 AND status = 'active'
                 RETURNING {COLUMNS}"
            ),
            args![id, now],
            from_row,
        )?;
        match marked {
            Some(c) => self
                .event(&c, "connectionReauthRequired", now)
                .map(|_| true),
            None => Ok(false),
        }
    }

    /// Replaces a connection's sealed data if it is still `old` (nothing renewed it since it
    /// was read); whether it was replaced.
    pub fn replace_sealed(&self, id: &str, old: &str, new: &str, now: i64) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "UPDATE connections SET data_sealed = ?3, updated_at = ?4 WHERE id = ?1 AND data_sealed = ?2",
            args![id, old, new, now],
        )? == 1)
    }

    /// Deletes one of `user_id`'s connections with its sealed data (its grants and their tokens go
    /// with it) and records `connectionDeleted`; false when the user has no such connection.
    pub fn delete(&self, user_id: &str, id: &str, now: i64) -> StoreResult<bool> {
        match self.get(id)? {
            Some(c) if c.user_id == user_id => {
                self.event(&c, "connectionDeleted", now)?;
                Ok(exec(
                    self.conn,
                    "DELETE FROM connections WHERE id = ?1",
                    args![id],
                )? == 1)
            }
            _ => Ok(false),
        }
    }

    /// Deletes a user with every connection (`connectionDeleted` each), their data-access tokens,
    /// and records `userDeleted` for the client that manages them.
    pub fn delete_user(&self, client_id: &str, user_id: &str, now: i64) -> StoreResult<bool> {
        for c in self.for_user(user_id)? {
            self.event(&c, "connectionDeleted", now)?;
        }
        self.tx()
            .outbox()
            .enqueue(client_id, "userDeleted", user_id, json!({}), now)?;
        self.tx().grants().revoke_user_access_tokens(user_id, now)?;
        self.tx().users().delete(user_id)
    }
}

/// What a finished journey writes, in the same transaction as its grant and code. Each change
/// records its webhook event (contract: Webhooks) in that transaction too.
#[derive(Debug, Clone)]
pub enum JourneyWrite {
    /// A connect journey: a new connection, and a new user when nobody was identified.
    Create {
        new_user: Option<Box<User>>,
        connection: Box<BankConnection>,
    },
    /// A reauth or refresh journey makes an existing connection active again.
    Renew {
        id: String,
        data_sealed: Option<String>,
        consent_expires_at: Option<i64>,
        /// `newTransactions` payloads (refresh journeys only, per the contract).
        new_transactions: Vec<Value>,
    },
}

impl JourneyWrite {
    pub fn connection_id(&self) -> &str {
        match self {
            JourneyWrite::Create { connection, .. } => &connection.id,
            JourneyWrite::Renew { id, .. } => id,
        }
    }

    /// Writes the journey's outcome in `tx`, the transaction that issues its grant.
    pub fn apply(&self, tx: &Tx, now: i64) -> StoreResult<()> {
        let connections = tx.connections();
        match self {
            JourneyWrite::Create {
                new_user,
                connection,
            } => {
                if let Some(u) = new_user {
                    tx.users().insert(u)?;
                }
                connections.insert(connection)?;
                connections.event(connection, "connectionCreated", now)
            }
            JourneyWrite::Renew {
                id,
                data_sealed,
                consent_expires_at,
                new_transactions,
            } => {
                let c = connections
                    .get(id)?
                    .ok_or(StoreError::Refused(Refusal::ConnectionGone))?;
                exec(
                    tx.conn,
                    "UPDATE connections SET status = 'active', data_sealed = ?2, consent_expires_at = ?3, updated_at = ?4
                     WHERE id = ?1",
                    args![id, data_sealed, consent_expires_at, now],
                )?;
                for payload in new_transactions {
                    tx.outbox().enqueue(
                        &c.client_id,
                        "newTransactions",
                        &c.user_id,
                        payload.clone(),
                        now,
                    )?;
                }
                Ok(())
            }
        }
    }
}
