//! End-user records.

use super::sql::{args, Conn, Dialect, Row};
use super::{exec, StoreError, StoreResult};

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub username: Option<String>,
    /// argon2id PHC string; `None` for users who never log in with a password.
    pub password_hash: Option<String>,
    /// Standard claims (name, email, …) as a JSON object.
    pub claims: serde_json::Map<String, serde_json::Value>,
    pub managed_by_client: Option<String>,
    pub client_user_id: Option<String>,
    pub created_at: i64,
}

const COLUMNS: &str =
    "id, username, password_hash, claims, managed_by_client, client_user_id, created_at";

fn from_row(r: &Row) -> StoreResult<(User, String)> {
    Ok((
        User {
            id: r.get(0)?,
            username: r.get(1)?,
            password_hash: r.get(2)?,
            claims: serde_json::Map::new(),
            managed_by_client: r.get(4)?,
            client_user_id: r.get(5)?,
            created_at: r.get(6)?,
        },
        r.get(3)?,
    ))
}

fn finish((mut user, claims): (User, String)) -> StoreResult<User> {
    user.claims = serde_json::from_str(&claims)
        .map_err(|e| StoreError::Corrupt(format!("user {} claims: {e}", user.id)))?;
    Ok(user)
}

/// Users, as one transaction sees them (`tx.users()`).
pub struct Users<'a> {
    pub(super) conn: Conn<'a>,
}

impl Users<'_> {
    pub fn insert(&self, u: &User) -> StoreResult<()> {
        let claims = serde_json::Value::Object(u.claims.clone()).to_string();
        exec(
            self.conn,
            "INSERT INTO users (id, username, password_hash, claims, managed_by_client, client_user_id, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            args![u.id, u.username, u.password_hash, claims, u.managed_by_client, u.client_user_id, u.created_at],
        )?;
        Ok(())
    }

    pub fn get(&self, id: &str) -> StoreResult<Option<User>> {
        self.conn
            .query_opt(
                &format!("SELECT {COLUMNS} FROM users WHERE id = ?1"),
                args![id],
                from_row,
            )?
            .map(finish)
            .transpose()
    }

    pub fn by_username(&self, username: &str) -> StoreResult<Option<User>> {
        self.conn
            .query_opt(
                &format!("SELECT {COLUMNS} FROM users WHERE username = ?1"),
                args![username],
                from_row,
            )?
            .map(finish)
            .transpose()
    }

    /// The users a client manages, oldest first, one page at a time.
    pub fn managed_by(&self, client_id: &str, limit: i64, offset: i64) -> StoreResult<Vec<User>> {
        let rows = self.conn.query_all(
            &format!(
                "SELECT {COLUMNS} FROM users WHERE managed_by_client = ?1
                 ORDER BY created_at, rowid LIMIT ?2 OFFSET ?3"
            ),
            args![client_id, limit, offset],
            from_row,
        )?;
        rows.into_iter().map(finish).collect()
    }

    pub fn count_managed_by(&self, client_id: &str) -> StoreResult<i64> {
        self.conn.query_one(
            "SELECT COUNT(*) FROM users WHERE managed_by_client = ?1",
            args![client_id],
            |r| r.get(0),
        )
    }

    /// The user, its row locked until the transaction ends on PostgreSQL (SQLite's single
    /// writer gives the same): what is decided from it cannot be raced by another writer.
    pub fn get_locked(&self, id: &str) -> StoreResult<Option<User>> {
        let lock = match self.conn.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        };
        self.conn
            .query_opt(
                &format!("SELECT {COLUMNS} FROM users WHERE id = ?1{lock}"),
                args![id],
                from_row,
            )?
            .map(finish)
            .transpose()
    }

    /// Deletes a user; their sessions, consents, connections and grants go with them.
    pub fn delete(&self, id: &str) -> StoreResult<bool> {
        Ok(exec(self.conn, "DELETE FROM users WHERE id = ?1", args![id])? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::User;
    use crate::store::{Store, StoreError};
    use serde_json::json;

    /// A user written through `tx.users()` reads back whole (by id and by username), a
    /// second user with the same id is a `Conflict`, and a deleted user is gone.
    #[tokio::test]
    async fn a_user_round_trips_through_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let alice = User {
            id: "u-alice".into(),
            username: Some("alice".into()),
            password_hash: Some("$argon2id$stub".into()),
            claims: json!({"name": "Alice", "email": "alice@example.com"})
                .as_object()
                .cloned()
                .unwrap(),
            managed_by_client: Some("client-1".into()),
            client_user_id: Some("partner-7".into()),
            created_at: 42,
        };
        let stored = alice.clone();
        store
            .write(move |tx| tx.users().insert(&stored))
            .await
            .unwrap();
        let (by_id, by_name, managed) = store
            .read(|tx| {
                let users = tx.users();
                Ok((
                    users.get("u-alice")?.expect("by id"),
                    users.by_username("alice")?.expect("by username"),
                    users.count_managed_by("client-1")?,
                ))
            })
            .await
            .unwrap();
        for read in [&by_id, &by_name] {
            assert_eq!(read.id, alice.id);
            assert_eq!(read.username, alice.username);
            assert_eq!(read.password_hash, alice.password_hash);
            assert_eq!(read.claims, alice.claims);
            assert_eq!(read.managed_by_client, alice.managed_by_client);
            assert_eq!(read.client_user_id, alice.client_user_id);
            assert_eq!(read.created_at, alice.created_at);
        }
        assert_eq!(managed, 1);
        let again = alice.clone();
        let conflict = store
            .write(move |tx| tx.users().insert(&again))
            .await
            .unwrap_err();
        assert!(matches!(conflict, StoreError::Conflict), "{conflict:?}");
        assert!(store
            .write(|tx| tx.users().delete("u-alice"))
            .await
            .unwrap());
        assert!(store
            .read(|tx| tx.users().get("u-alice"))
            .await
            .unwrap()
            .is_none());
    }
}
