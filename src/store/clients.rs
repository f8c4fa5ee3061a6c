//! Client records.

use super::sql::{args, Conn, Dialect, Row};
use super::{exec, Refusal, StoreError, StoreResult};
use crate::types::{Client, ClientId, ClientMetadata};

const COLUMNS: &str =
    "id, secret_hash, metadata, registration_hash, created_at, secret_sealed, disabled_at";

fn from_row(r: &Row) -> StoreResult<Client> {
    let metadata: String = r.get(2)?;
    let metadata: ClientMetadata = serde_json::from_str(&metadata)
        .map_err(|e| StoreError::Corrupt(format!("client metadata: {e}")))?;
    Ok(Client {
        id: ClientId::from_stored(r.get(0)?),
        secret_hash: r.get(1)?,
        metadata,
        registration_hash: r.get(3)?,
        created_at: r.get(4)?,
        secret_sealed: r.get(5)?,
        disabled_at: r.get(6)?,
    })
}

/// Clients, as one transaction sees them (`tx.clients()`).
pub struct Clients<'a> {
    pub(super) conn: Conn<'a>,
}

impl Clients<'_> {
    pub fn insert(&self, c: &Client) -> StoreResult<()> {
        let metadata =
            serde_json::to_string(&c.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        exec(
            self.conn,
            "INSERT INTO clients (id, secret_hash, metadata, registration_hash, created_at, updated_at, secret_sealed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
            args![
                c.id.as_str(),
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
    /// Metadata without a `webhook_url` drops the webhook secret with it.
    pub fn update(&self, c: &Client, now: i64) -> StoreResult<bool> {
        let metadata =
            serde_json::to_string(&c.metadata).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let n = exec(
            self.conn,
            "UPDATE clients SET secret_hash = ?2, metadata = ?3, registration_hash = ?4, updated_at = ?5,
                 webhook_secret_sealed = CASE WHEN ?6 THEN webhook_secret_sealed END
             WHERE id = ?1",
            args![
                c.id.as_str(),
                c.secret_hash,
                metadata,
                c.registration_hash,
                now,
                c.metadata.webhook_url.is_some()
            ],
        )?;
        Ok(n == 1)
    }

    /// An enabled client: a disabled one looks absent to everything that authenticates clients or
    /// serves their requests.
    pub fn get(&self, id: &str) -> StoreResult<Option<Client>> {
        self.conn.query_opt(
            &format!("SELECT {COLUMNS} FROM clients WHERE id = ?1 AND disabled_at IS NULL"),
            args![id],
            from_row,
        )
    }

    /// A client whether enabled or not, for administration.
    pub fn get_any(&self, id: &str) -> StoreResult<Option<Client>> {
        self.conn.query_opt(
            &format!("SELECT {COLUMNS} FROM clients WHERE id = ?1"),
            args![id],
            from_row,
        )
    }

    /// Whether the client exists and is enabled (tokens of any other client are not active).
    pub fn is_enabled(&self, id: &str) -> StoreResult<bool> {
        Ok(self
            .conn
            .query_opt(
                "SELECT 1 FROM clients WHERE id = ?1 AND disabled_at IS NULL",
                args![id],
                |r| r.get::<i64>(0),
            )?
            .is_some())
    }

    /// One page of clients in a stable order (oldest first), and how many there are in all.
    pub fn page(&self, limit: u32, offset: u64) -> StoreResult<(Vec<Client>, u64)> {
        let total: i64 = self
            .conn
            .query_one("SELECT COUNT(*) FROM clients", args![], |r| r.get(0))?;
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let clients = self.conn.query_all(
            &format!("SELECT {COLUMNS} FROM clients ORDER BY created_at, id LIMIT ?1 OFFSET ?2"),
            args![limit, offset],
            from_row,
        )?;
        Ok((clients, total.max(0) as u64))
    }

    /// Disables (`Some(time)`) or enables (`None`) a client; false when it does not exist.
    pub fn set_disabled(&self, id: &str, disabled_at: Option<i64>, now: i64) -> StoreResult<bool> {
        let n = exec(
            self.conn,
            "UPDATE clients SET disabled_at = ?2, updated_at = ?3 WHERE id = ?1",
            args![id, disabled_at, now],
        )?;
        Ok(n == 1)
    }

    /// Replaces the client secret: its digest, and the sealed copy `client_secret_jwt` needs.
    pub fn set_secret(
        &self,
        id: &str,
        secret_hash: Option<&str>,
        secret_sealed: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let n = exec(
            self.conn,
            "UPDATE clients SET secret_hash = ?2, secret_sealed = ?3, updated_at = ?4 WHERE id = ?1",
            args![id, secret_hash, secret_sealed, now],
        )?;
        Ok(n == 1)
    }

    /// The client's webhook signing secret, sealed (see `crate::sealing`).
    pub fn webhook_secret_sealed(&self, id: &str) -> StoreResult<Option<String>> {
        Ok(self
            .conn
            .query_opt(
                "SELECT webhook_secret_sealed FROM clients WHERE id = ?1",
                args![id],
                |r| r.get::<Option<String>>(0),
            )?
            .flatten())
    }

    /// Sets (sealed) or removes the webhook signing secret; false when the client does not exist.
    pub fn set_webhook_secret(
        &self,
        id: &str,
        sealed: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        let n = exec(
            self.conn,
            "UPDATE clients SET webhook_secret_sealed = ?2, updated_at = ?3 WHERE id = ?1",
            args![id, sealed, now],
        )?;
        Ok(n == 1)
    }

    pub fn list(&self) -> StoreResult<Vec<Client>> {
        self.conn.query_all(
            &format!("SELECT {COLUMNS} FROM clients ORDER BY created_at, id"),
            args![],
            from_row,
        )
    }

    pub fn delete(&self, id: &str) -> StoreResult<bool> {
        Ok(exec(self.conn, "DELETE FROM clients WHERE id = ?1", args![id])? == 1)
    }

    /// `update`, only if the client is still as `seen` (same secret, metadata and state) — two
    /// administrators' changes never silently undo each other, and a rotated secret never comes
    /// back. `Refusal::ClientChanged` when it changed meanwhile; false when it is gone.
    pub fn update_if_unchanged(
        &self,
        seen: &Client,
        updated: &Client,
        now: i64,
    ) -> StoreResult<bool> {
        Ok(self.still_as(seen)? && self.update(updated, now)?)
    }

    /// `set_secret`, only if the client is still as `seen`: a secret made for one
    /// authentication method never lands on a client that changed to another meanwhile.
    pub fn set_secret_if_unchanged(
        &self,
        seen: &Client,
        secret_hash: &str,
        secret_sealed: Option<&str>,
        now: i64,
    ) -> StoreResult<bool> {
        Ok(self.still_as(seen)?
            && self.set_secret(&seen.id, Some(secret_hash), secret_sealed, now)?)
    }

    /// Whether the client exists and is as `seen`; `Refusal::ClientChanged` when it changed.
    /// On PostgreSQL the row stays locked until the transaction ends, so a change another node
    /// commits meanwhile is waited for and then seen (SQLite's single writer gives the same).
    fn still_as(&self, seen: &Client) -> StoreResult<bool> {
        let lock = match self.conn.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        };
        let Some(current) = self.conn.query_opt(
            &format!("SELECT {COLUMNS} FROM clients WHERE id = ?1{lock}"),
            args![seen.id.as_str()],
            from_row,
        )?
        else {
            return Ok(false);
        };
        let unchanged = current.secret_hash == seen.secret_hash
            && current.secret_sealed == seen.secret_sealed
            && current.metadata == seen.metadata
            && current.disabled_at == seen.disabled_at;
        if !unchanged {
            return Err(StoreError::Refused(Refusal::ClientChanged));
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::sql::args;
    use crate::store::{exec, Refusal, Store, StoreError};

    /// A secret made for the client as it was read never lands on a client that changed
    /// meanwhile (e.g. to another authentication method): the change is refused, whole.
    #[tokio::test]
    async fn a_secret_is_set_only_on_the_client_as_it_was_seen() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let seen = store
            .write(|tx| {
                exec(
                    tx.conn,
                    "INSERT INTO clients (id, secret_hash, metadata, created_at, updated_at)
                     VALUES ('c1', 'old', '{}', 1, 1)",
                    args![],
                )?;
                Ok(tx.clients().get_any("c1")?.expect("inserted"))
            })
            .await
            .unwrap();
        let unchanged = seen.clone();
        let set = store
            .write(move |tx| {
                tx.clients()
                    .set_secret_if_unchanged(&unchanged, "new", None, 2)
            })
            .await
            .unwrap();
        assert!(set);
        // `seen` is now stale: its secret digest is the old one.
        let refused = store
            .write(move |tx| {
                tx.clients()
                    .set_secret_if_unchanged(&seen, "newer", None, 3)
            })
            .await
            .unwrap_err();
        assert!(
            matches!(refused, StoreError::Refused(Refusal::ClientChanged)),
            "{refused:?}"
        );
        let now = store
            .read(|tx| tx.clients().get_any("c1"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(now.secret_hash.as_deref(), Some("new"));
    }
}
