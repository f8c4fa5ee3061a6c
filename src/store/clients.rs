//! Client records.

use super::{exec, optional, StoreError, StoreResult};
use crate::types::{Client, ClientMetadata};
use rusqlite::{params, Connection, Row};

const COLUMNS: &str = "id, secret_hash, metadata, registration_hash, created_at, secret_sealed";

fn from_row(r: &Row) -> rusqlite::Result<Client> {
    let metadata: String = r.get(2)?;
    let metadata: ClientMetadata = serde_json::from_str(&metadata).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(Client {
        id: r.get(0)?,
        secret_hash: r.get(1)?,
        metadata,
        registration_hash: r.get(3)?,
        created_at: r.get(4)?,
        secret_sealed: r.get(5)?,
    })
}

pub fn insert(conn: &Connection, c: &Client) -> StoreResult<()> {
    let metadata =
        serde_json::to_string(&c.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    exec(
        conn,
        "INSERT INTO clients (id, secret_hash, metadata, registration_hash, created_at, updated_at, secret_sealed)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
        params![
            c.id,
            c.secret_hash,
            metadata,
            c.registration_hash,
            c.created_at,
            c.secret_sealed
        ],
    )?;
    Ok(())
}

/// Replaces metadata (and the secret digest when given); false when the client does not exist.
pub fn update(conn: &Connection, c: &Client, now: i64) -> StoreResult<bool> {
    let metadata =
        serde_json::to_string(&c.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let n = exec(
        conn,
        "UPDATE clients SET secret_hash = ?2, metadata = ?3, registration_hash = ?4, updated_at = ?5
         WHERE id = ?1",
        params![c.id, c.secret_hash, metadata, c.registration_hash, now],
    )?;
    Ok(n == 1)
}

pub fn get(conn: &Connection, id: &str) -> StoreResult<Option<Client>> {
    optional(
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM clients WHERE id = ?1"))?
            .query_row([id], from_row),
    )
}

pub fn list(conn: &Connection) -> StoreResult<Vec<Client>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM clients ORDER BY created_at, id"
    ))?;
    let clients = stmt
        .query_map([], from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(clients)
}

pub fn delete(conn: &Connection, id: &str) -> StoreResult<bool> {
    Ok(exec(conn, "DELETE FROM clients WHERE id = ?1", [id])? == 1)
}
