//! SAML 2.0 AuthnRequests in flight: sent to an identity provider for one interaction (or the
//! dashboard), answered once by a verified Response, then read by the browser that started it.

use super::sql::{args, Conn};
use super::{exec, StoreResult};

/// An AuthnRequest we sent.
#[derive(Debug, Clone)]
pub struct SamlRequest {
    pub relay_hash: String,
    pub request_id: String,
    pub provider: String,
    /// `None` for a sign-in at the dashboard.
    pub interaction_id: Option<String>,
    pub expires_at: i64,
}

/// SAML requests, as one transaction sees them (`tx.saml_requests()`).
pub struct SamlRequests<'a> {
    pub(super) conn: Conn<'a>,
}

impl SamlRequests<'_> {
    pub fn insert(&self, r: &SamlRequest) -> StoreResult<()> {
        exec(
            self.conn,
            "INSERT INTO saml_requests (relay_hash, request_id, provider, interaction_id, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            args![r.relay_hash, r.request_id, r.provider, r.interaction_id, r.expires_at],
        )?;
        Ok(())
    }

    /// The unexpired request sent with this RelayState (answered or not).
    pub fn get(&self, relay_hash: &str, now: i64) -> StoreResult<Option<SamlRequest>> {
        self.conn.query_opt(
            "SELECT relay_hash, request_id, provider, interaction_id, expires_at FROM saml_requests
             WHERE relay_hash = ?1 AND expires_at > ?2",
            args![relay_hash, now],
            |r| {
                Ok(SamlRequest {
                    relay_hash: r.get(0)?,
                    request_id: r.get(1)?,
                    provider: r.get(2)?,
                    interaction_id: r.get(3)?,
                    expires_at: r.get(4)?,
                })
            },
        )
    }

    /// Records the verified identity answering the request; false when it was already
    /// answered (an AuthnRequest is answered once) or has expired.
    pub fn answer(&self, relay_hash: &str, identity: &str, now: i64) -> StoreResult<bool> {
        let n = exec(
            self.conn,
            "UPDATE saml_requests SET answered_at = ?2, identity = ?3
             WHERE relay_hash = ?1 AND answered_at IS NULL AND expires_at > ?2",
            args![relay_hash, now, identity],
        )?;
        Ok(n == 1)
    }

    /// The identity that answered the request.
    pub fn identity(&self, relay_hash: &str, now: i64) -> StoreResult<Option<String>> {
        self.conn.query_opt(
            "SELECT identity FROM saml_requests
             WHERE relay_hash = ?1 AND identity IS NOT NULL AND expires_at > ?2",
            args![relay_hash, now],
            |r| r.get(0),
        )
    }
}
