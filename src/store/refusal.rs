//! Why a write job refused its own work. A refusal rolls back everything the job wrote; the
//! protocol layer tells clients its message (so each message is worded for them).

/// One variant per case a store operation or a protocol step refuses inside a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// RFC 9126 §4: a pushed request is good for one authorization.
    PushedRequestUsed,
    /// The tokens handed to `grants().redeem` belong to a grant other than the one the code or
    /// refresh token redeemed was issued from.
    TokensForAnotherGrant,
    /// A reauth or refresh journey names a bank connection deleted meanwhile.
    ConnectionGone,
    /// Another change to the client committed between reading it and writing it back.
    ClientChanged,
    /// RFC 8628: the device authorization expired or was answered before this sign-in ended.
    DeviceAuthorizationEnded,
}

impl Refusal {
    /// The text clients see in `error_description` (unchanged from earlier releases).
    pub fn message(self) -> &'static str {
        match self {
            Refusal::PushedRequestUsed => "pushed request already used",
            Refusal::TokensForAnotherGrant => "tokens for another grant",
            Refusal::ConnectionGone => "the connection no longer exists",
            Refusal::ClientChanged => "the client changed while this update was made",
            Refusal::DeviceAuthorizationEnded => {
                "the device authorization has expired or was already answered"
            }
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::Refusal;
    use crate::store::sql::args;
    use crate::store::users::User;
    use crate::store::{exec, Store, StoreError};

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            username: Some(format!("{id}-name")),
            password_hash: None,
            claims: serde_json::Map::new(),
            managed_by_client: None,
            client_user_id: None,
            created_at: 1,
        }
    }

    /// A job that refuses its work (here: a pushed request used twice, RFC 9126 §4) hands the
    /// caller the typed refusal, and nothing it wrote before refusing is kept: neither the
    /// user it inserted nor its first use of the request.
    #[tokio::test]
    async fn a_refusal_rolls_back_everything_the_job_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        store
            .write(|tx| {
                // The request's client, written directly: only its id matters here.
                exec(
                    tx.conn,
                    "INSERT INTO clients (id, metadata, created_at, updated_at)
                     VALUES ('client-1', '{}', 1, 1)",
                    args![],
                )?;
                tx.pushed().insert("uri-hash", "client-1", "{}", 100)
            })
            .await
            .unwrap();
        let refused = store
            .write(|tx| {
                tx.users().insert(&user("u1"))?;
                assert!(tx.pushed().mark_used("uri-hash", 10)?, "first use");
                if !tx.pushed().mark_used("uri-hash", 10)? {
                    return Err(StoreError::Refused(Refusal::PushedRequestUsed));
                }
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(
            matches!(refused, StoreError::Refused(Refusal::PushedRequestUsed)),
            "{refused:?}"
        );
        let (user, request) = store
            .read(|tx| {
                Ok((
                    tx.users().get("u1")?,
                    tx.pushed().get("uri-hash", "client-1", 10)?,
                ))
            })
            .await
            .unwrap();
        assert!(user.is_none(), "the user the refused job inserted is gone");
        assert_eq!(
            request.as_deref(),
            Some("{}"),
            "the request is still unused"
        );
    }

    /// What clients read in `error_description` stays as it was when refusals were text.
    #[test]
    fn refusal_messages_are_the_ones_clients_saw_before() {
        assert_eq!(
            Refusal::ClientChanged.to_string(),
            "the client changed while this update was made"
        );
        assert_eq!(
            Refusal::PushedRequestUsed.to_string(),
            "pushed request already used"
        );
        assert_eq!(
            Refusal::TokensForAnotherGrant.to_string(),
            "tokens for another grant"
        );
        assert_eq!(
            Refusal::ConnectionGone.to_string(),
            "the connection no longer exists"
        );
    }
}
