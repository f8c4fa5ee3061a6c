//! Bank connections: one per completed connect journey, renewed by reauth and refresh.

use super::{exec, optional, StoreResult};
use rusqlite::{params, Connection, Row};

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

fn from_row(r: &Row) -> rusqlite::Result<BankConnection> {
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

pub fn insert(conn: &Connection, c: &BankConnection) -> StoreResult<()> {
    exec(
        conn,
        &format!("INSERT INTO connections ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
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

pub fn get(conn: &Connection, id: &str) -> StoreResult<Option<BankConnection>> {
    optional(
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM connections WHERE id = ?1"))?
            .query_row([id], from_row),
    )
}

/// A user's connections, oldest first.
pub fn for_user(conn: &Connection, user_id: &str) -> StoreResult<Vec<BankConnection>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM connections WHERE user_id = ?1 ORDER BY created_at, rowid"
    ))?;
    let rows = stmt.query_map([user_id], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// A reauth or refresh journey succeeded: the connection is active again with fresh data.
pub fn renew(
    conn: &Connection,
    id: &str,
    data_sealed: Option<&str>,
    consent_expires_at: Option<i64>,
    now: i64,
) -> StoreResult<bool> {
    Ok(exec(
        conn,
        "UPDATE connections SET status = 'active', data_sealed = ?2, consent_expires_at = ?3, updated_at = ?4
         WHERE id = ?1",
        params![id, data_sealed, consent_expires_at, now],
    )? == 1)
}

/// Marks connections whose consent has run out as needing reauth; returns them.
pub fn expire_consents(conn: &Connection, now: i64) -> StoreResult<Vec<BankConnection>> {
    let mut stmt = conn.prepare_cached(&format!(
        "UPDATE connections SET status = 'reauth_required', updated_at = ?1
         WHERE status = 'active' AND consent_expires_at IS NOT NULL AND consent_expires_at <= ?1
         RETURNING {COLUMNS}"
    ))?;
    let rows = stmt.query_map([now], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Deletes a connection with its sealed data; its grants and their tokens go with it.
pub fn delete(conn: &Connection, id: &str) -> StoreResult<bool> {
    Ok(exec(conn, "DELETE FROM connections WHERE id = ?1", [id])? == 1)
}
