//! Federated login: the links from an upstream provider's subject to a local user, and the
//! sign-ins in progress at an upstream provider (`tx.federation()`).

use super::sql::{args, Conn, Dialect};
use super::{exec, StoreResult};

/// Where a sign-in at an upstream provider returns to, and what binds it to the browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginFor {
    /// An authorization request's interaction (which holds the browser binding).
    Interaction(String),
    /// The user's dashboard, for the browser whose binding cookie has this digest.
    Dashboard { browser_hash: String },
}

/// A sign-in in progress at an upstream provider, kept until the browser comes back.
#[derive(Debug, Clone)]
pub struct PendingLogin {
    pub login_for: LoginFor,
    pub provider: String,
    /// Digest of the `state` / RelayState sent upstream.
    pub state_hash: String,
    /// What the return needs, sealed with the data key.
    pub data_sealed: String,
    pub expires_at: i64,
}

fn pending_row(r: &super::sql::Row) -> StoreResult<PendingLogin> {
    let (interaction_id, browser_hash): (Option<String>, Option<String>) = (r.get(0)?, r.get(1)?);
    Ok(PendingLogin {
        login_for: match interaction_id {
            Some(iid) => LoginFor::Interaction(iid),
            None => LoginFor::Dashboard {
                browser_hash: browser_hash.unwrap_or_default(),
            },
        },
        provider: r.get(2)?,
        state_hash: r.get(3)?,
        data_sealed: r.get(4)?,
        expires_at: r.get(5)?,
    })
}

/// An upstream identity linked to a local user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkedIdentity {
    pub provider: String,
    pub subject: String,
    /// When it was linked (its first login).
    pub created_at: i64,
}

/// Federated identities and pending federated logins, as one transaction sees them.
pub struct Federation<'a> {
    pub(super) conn: Conn<'a>,
}

impl Federation<'_> {
    /// The local user `subject` at `provider` is linked to.
    pub fn linked_user(&self, provider: &str, subject: &str) -> StoreResult<Option<String>> {
        self.conn.query_opt(
            "SELECT user_id FROM federated_identities WHERE provider = ?1 AND subject = ?2",
            args![provider, subject],
            |r| r.get(0),
        )
    }

    /// Links `subject` at `provider` to `user_id`; a subject already linked is a `Conflict`.
    pub fn link(&self, provider: &str, subject: &str, user_id: &str, now: i64) -> StoreResult<()> {
        exec(
            self.conn,
            "INSERT INTO federated_identities (provider, subject, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            args![provider, subject, user_id, now],
        )?;
        Ok(())
    }

    /// The identities linked to `user_id`, oldest first.
    pub fn links_of(&self, user_id: &str) -> StoreResult<Vec<LinkedIdentity>> {
        self.conn.query_all(
            "SELECT provider, subject, created_at FROM federated_identities WHERE user_id = ?1
             ORDER BY created_at, provider, subject",
            args![user_id],
            |r| {
                Ok(LinkedIdentity {
                    provider: r.get(0)?,
                    subject: r.get(1)?,
                    created_at: r.get(2)?,
                })
            },
        )
    }

    /// Removes the link of `subject` at `provider` if it is `user_id`'s: false when it is not.
    pub fn unlink(&self, provider: &str, subject: &str, user_id: &str) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "DELETE FROM federated_identities WHERE provider = ?1 AND subject = ?2 AND user_id = ?3",
            args![provider, subject, user_id],
        )? == 1)
    }

    /// Local users (not a partner's managed users) whose e-mail claim is `email` (compared
    /// without case) and marked verified; at most `limit` of them.
    pub fn users_with_verified_email(&self, email: &str, limit: i64) -> StoreResult<Vec<String>> {
        let sql = match self.conn.dialect() {
            Dialect::Sqlite => {
                "SELECT id FROM users WHERE lower(json_extract(claims, '$.email')) = lower(?1)
                 AND json_extract(claims, '$.email_verified') = 1
                 AND managed_by_client IS NULL ORDER BY created_at, id LIMIT ?2"
            }
            Dialect::Postgres => {
                "SELECT id FROM users WHERE lower(claims::jsonb ->> 'email') = lower(?1)
                 AND (claims::jsonb -> 'email_verified') = 'true'::jsonb
                 AND managed_by_client IS NULL ORDER BY created_at, id LIMIT ?2"
            }
        };
        self.conn.query_all(sql, args![email, limit], |r| r.get(0))
    }

    /// Records a sign-in in progress; an interaction's replaces its earlier one.
    pub fn begin_login(&self, p: &PendingLogin) -> StoreResult<()> {
        let (interaction_id, browser_hash) = match &p.login_for {
            LoginFor::Interaction(iid) => (Some(iid.as_str()), None),
            LoginFor::Dashboard { browser_hash } => (None, Some(browser_hash.as_str())),
        };
        exec(
            self.conn,
            "INSERT INTO federated_logins (interaction_id, browser_hash, provider, state_hash, data_sealed, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (interaction_id) DO UPDATE SET provider = excluded.provider,
               state_hash = excluded.state_hash, data_sealed = excluded.data_sealed,
               expires_at = excluded.expires_at",
            args![interaction_id, browser_hash, p.provider, p.state_hash, p.data_sealed, p.expires_at],
        )?;
        Ok(())
    }

    /// The live sign-in in progress whose `state` / RelayState has this digest, left in place.
    pub fn pending_by_state(
        &self,
        state_hash: &str,
        now: i64,
    ) -> StoreResult<Option<PendingLogin>> {
        self.conn.query_opt(
            "SELECT interaction_id, browser_hash, provider, state_hash, data_sealed, expires_at
             FROM federated_logins WHERE state_hash = ?1 AND expires_at > ?2",
            args![state_hash, now],
            pending_row,
        )
    }

    /// Ends the sign-in in progress with this state digest at `provider`: false when there is
    /// none (it was used already: single use; or replaced by a newer one).
    pub fn take_login(&self, state_hash: &str, provider: &str) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "DELETE FROM federated_logins WHERE state_hash = ?1 AND provider = ?2",
            args![state_hash, provider],
        )? == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::{LoginFor, PendingLogin};
    use crate::store::users::User;
    use crate::store::{Store, StoreError};
    use serde_json::json;

    fn user(id: &str, claims: serde_json::Value, managed: Option<&str>) -> User {
        User {
            id: id.into(),
            username: None,
            password_hash: None,
            claims: claims.as_object().cloned().unwrap(),
            managed_by_client: managed.map(String::from),
            client_user_id: None,
            created_at: 1,
        }
    }

    /// A link reads back and is unique per (provider, subject); e-mail lookup finds only
    /// local users whose e-mail is verified, without case; a pending login is taken once.
    #[tokio::test]
    async fn links_email_lookup_and_pending_logins() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        store
            .write(|tx| {
                let u = tx.users();
                u.insert(&user(
                    "u1",
                    json!({"email": "Ann@Example.com", "email_verified": true}),
                    None,
                ))?;
                u.insert(&user(
                    "u2",
                    json!({"email": "ann@example.com", "email_verified": false}),
                    None,
                ))?;
                u.insert(&user(
                    "u3",
                    json!({"email": "ann@example.com", "email_verified": true}),
                    Some("c"),
                ))?;
                tx.federation().link("up", "sub-1", "u1", 5)
            })
            .await
            .unwrap();
        let (linked, found, links) = store
            .read(|tx| {
                let f = tx.federation();
                Ok((
                    f.linked_user("up", "sub-1")?,
                    f.users_with_verified_email("ANN@example.com", 2)?,
                    f.links_of("u1")?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(linked.as_deref(), Some("u1"));
        assert_eq!(found, vec!["u1".to_string()]);
        assert_eq!(
            links,
            vec![super::LinkedIdentity {
                provider: "up".into(),
                subject: "sub-1".into(),
                created_at: 5
            }]
        );
        let again = store
            .write(|tx| tx.federation().link("up", "sub-1", "u2", 6))
            .await
            .unwrap_err();
        assert!(matches!(again, StoreError::Conflict), "{again:?}");
        let unlinks = store
            .write(|tx| {
                let f = tx.federation();
                Ok((
                    f.unlink("up", "sub-1", "u2")?,
                    f.unlink("up", "sub-1", "u1")?,
                    f.linked_user("up", "sub-1")?,
                ))
            })
            .await
            .unwrap();
        assert_eq!(
            unlinks,
            (false, true, None),
            "only the owner's link is removed"
        );

        let interaction = crate::store::interactions::Interaction {
            id: "i1".into(),
            browser_hash: "b".into(),
            csrf_token: "c".into(),
            request: "{}".into(),
            user_id: None,
            auth_time: None,
            amr: None,
            sid: None,
            expires_at: 100,
            journey: None,
        };
        let pending = PendingLogin {
            login_for: LoginFor::Interaction("i1".into()),
            provider: "up".into(),
            state_hash: "h".into(),
            data_sealed: "sealed".into(),
            expires_at: 100,
        };
        let dashboard = PendingLogin {
            login_for: LoginFor::Dashboard {
                browser_hash: "b".into(),
            },
            state_hash: "d".into(),
            ..pending.clone()
        };
        store
            .write(move |tx| {
                tx.interactions().insert(&interaction)?;
                tx.federation().begin_login(&pending)?;
                tx.federation().begin_login(&dashboard)
            })
            .await
            .unwrap();
        let live = store
            .read(|tx| tx.federation().pending_by_state("h", 50))
            .await
            .unwrap();
        assert_eq!(
            live.map(|p| p.login_for),
            Some(LoginFor::Interaction("i1".into()))
        );
        let expired = store
            .read(|tx| tx.federation().pending_by_state("h", 100))
            .await
            .unwrap();
        assert!(expired.is_none());
        let takes = store
            .write(|tx| {
                let f = tx.federation();
                Ok((f.take_login("h", "up")?, f.take_login("h", "up")?))
            })
            .await
            .unwrap();
        assert_eq!(takes, (true, false), "a pending login is single use");
        let at_dashboard = store
            .read(|tx| tx.federation().pending_by_state("d", 50))
            .await
            .unwrap();
        assert_eq!(
            at_dashboard.map(|p| p.login_for),
            Some(LoginFor::Dashboard {
                browser_hash: "b".into()
            }),
            "a dashboard's sign-in in progress is found by its state and carries its browser"
        );
    }
}
