//! Browser sessions (the login state behind the session cookie).

use super::sql::{args, Conn, Row};
use super::{exec, StoreResult};

#[derive(Debug, Clone)]
pub struct Session {
    pub sid: String,
    pub user_id: String,
    pub auth_time: i64,
    pub amr: String,
    pub expires_at: i64,
}

const COLUMNS: &str = "sid, user_id, auth_time, amr, expires_at";

fn from_row(r: &Row) -> StoreResult<Session> {
    Ok(Session {
        sid: r.get(0)?,
        user_id: r.get(1)?,
        auth_time: r.get(2)?,
        amr: r.get(3)?,
        expires_at: r.get(4)?,
    })
}

/// Sign-in sessions, as one transaction sees them (`tx.sessions()`).
pub struct Sessions<'a> {
    pub(super) conn: Conn<'a>,
}

impl Sessions<'_> {
    pub fn insert(&self, id_hash: &str, s: &Session) -> StoreResult<()> {
        exec(
            self.conn,
            "INSERT INTO sessions (id_hash, sid, user_id, auth_time, amr, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            args![id_hash, s.sid, s.user_id, s.auth_time, s.amr, s.expires_at],
        )?;
        Ok(())
    }

    /// The live session for a cookie digest, if it has not expired.
    pub fn get(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>> {
        self.conn.query_opt(
            &format!("SELECT {COLUMNS} FROM sessions WHERE id_hash = ?1 AND expires_at > ?2"),
            args![id_hash, now],
            from_row,
        )
    }

    /// Ends the session `sid`; the session it ended, if it existed.
    pub fn end(&self, sid: &str) -> StoreResult<Option<Session>> {
        self.conn.query_opt(
            &format!("DELETE FROM sessions WHERE sid = ?1 RETURNING {COLUMNS}"),
            args![sid],
            from_row,
        )
    }

    /// Ends every session of `user_id`; the sessions it ended.
    pub fn end_all_of(&self, user_id: &str) -> StoreResult<Vec<Session>> {
        self.conn.query_all(
            &format!("DELETE FROM sessions WHERE user_id = ?1 RETURNING {COLUMNS}"),
            args![user_id],
            from_row,
        )
    }

    pub fn delete(&self, id_hash: &str) -> StoreResult<()> {
        exec(
            self.conn,
            "DELETE FROM sessions WHERE id_hash = ?1",
            args![id_hash],
        )?;
        Ok(())
    }
}
