//! CIBA backchannel authentication requests (CIBA Core §7–§11): stored by the digest of their
//! `auth_req_id`, decided once by the user, redeemed once by the client that made them.

use super::grants::Consumed;
use super::sql::{args, Conn, Row};
use super::{exec, StoreResult};

pub const PENDING: &str = "pending";
pub const APPROVED: &str = "approved";
pub const DENIED: &str = "denied";

#[derive(Debug, Clone)]
pub struct CibaRequest {
    /// What the approval page names it by; never the `auth_req_id`.
    pub id: String,
    pub auth_req_hash: String,
    pub client_id: String,
    pub user_id: String,
    pub scopes: String,
    pub acr_values: Option<String>,
    pub binding_message: Option<String>,
    /// `poll` or `ping`.
    pub delivery_mode: String,
    /// Ping mode: the `auth_req_id` and `client_notification_token`, sealed.
    pub ping_sealed: Option<String>,
    /// `pending`, `approved` or `denied`.
    pub status: String,
    pub grant_id: Option<String>,
    pub interval_secs: i64,
    pub last_polled_at: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
    pub consumed_at: Option<i64>,
    /// The budget the grant is to carry, as the `budget` parameter's JSON.
    pub budget: Option<String>,
}

const COLUMNS: &str = "id, auth_req_hash, client_id, user_id, scopes, acr_values, binding_message, delivery_mode, ping_sealed, status, grant_id, interval_secs, last_polled_at, created_at, expires_at, consumed_at, budget";

fn from_row(r: &Row) -> StoreResult<CibaRequest> {
    Ok(CibaRequest {
        id: r.get(0)?,
        auth_req_hash: r.get(1)?,
        client_id: r.get(2)?,
        user_id: r.get(3)?,
        scopes: r.get(4)?,
        acr_values: r.get(5)?,
        binding_message: r.get(6)?,
        delivery_mode: r.get(7)?,
        ping_sealed: r.get(8)?,
        status: r.get(9)?,
        grant_id: r.get(10)?,
        interval_secs: r.get(11)?,
        last_polled_at: r.get(12)?,
        created_at: r.get(13)?,
        expires_at: r.get(14)?,
        consumed_at: r.get(15)?,
        budget: r.get(16)?,
    })
}

/// What one poll of the token endpoint found (CIBA Core §11).
#[derive(Debug)]
pub struct Poll {
    pub request: CibaRequest,
    /// The client polled a pending request sooner than its interval allows: the interval has
    /// grown by `SLOW_DOWN_SECS` (RFC 8628 §3.5, which CIBA §11 refers to).
    pub too_fast: bool,
}

/// How much a `slow_down` adds to the interval (RFC 8628 §3.5).
pub const SLOW_DOWN_SECS: i64 = 5;

/// Backchannel authentication requests, as one transaction sees them (`tx.ciba()`).
pub struct Ciba<'a> {
    pub(super) conn: Conn<'a>,
}

impl Ciba<'_> {
    pub fn insert(&self, c: &CibaRequest) -> StoreResult<()> {
        exec(
            self.conn,
            &format!(
                "INSERT INTO ciba_requests ({COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
            ),
            args![
                c.id,
                c.auth_req_hash,
                c.client_id,
                c.user_id,
                c.scopes,
                c.acr_values,
                c.binding_message,
                c.delivery_mode,
                c.ping_sealed,
                c.status,
                c.grant_id,
                c.interval_secs,
                c.last_polled_at,
                c.created_at,
                c.expires_at,
                c.consumed_at,
                c.budget
            ],
        )?;
        Ok(())
    }

    pub fn by_hash(&self, auth_req_hash: &str) -> StoreResult<Option<CibaRequest>> {
        self.conn.query_opt(
            &format!("SELECT {COLUMNS} FROM ciba_requests WHERE auth_req_hash = ?1"),
            args![auth_req_hash],
            from_row,
        )
    }

    /// Records a poll of `auth_req_hash` at `now`. A pending request polled within its interval
    /// of the previous poll has its interval grown, for this and every later poll.
    pub fn record_poll(&self, auth_req_hash: &str, now: i64) -> StoreResult<Option<Poll>> {
        let Some(mut request) = self.by_hash(auth_req_hash)? else {
            return Ok(None);
        };
        let too_fast = request.status == PENDING
            && request
                .last_polled_at
                .is_some_and(|last| now - last < request.interval_secs);
        if too_fast {
            request.interval_secs += SLOW_DOWN_SECS;
        }
        request.last_polled_at = Some(now);
        exec(
            self.conn,
            "UPDATE ciba_requests SET last_polled_at = ?2, interval_secs = ?3 WHERE auth_req_hash = ?1",
            args![auth_req_hash, now, request.interval_secs],
        )?;
        Ok(Some(Poll { request, too_fast }))
    }

    /// A user's undecided, unexpired requests, oldest first.
    pub fn pending_for_user(&self, user_id: &str, now: i64) -> StoreResult<Vec<CibaRequest>> {
        self.conn.query_all(
            &format!(
                "SELECT {COLUMNS} FROM ciba_requests
                 WHERE user_id = ?1 AND status = 'pending' AND expires_at > ?2
                 ORDER BY created_at, id LIMIT 50"
            ),
            args![user_id, now],
            from_row,
        )
    }

    /// Records the user's decision on their own pending, unexpired request `id`: `grant_id`
    /// when approved, none when denied. The request as it now stands, or `None` when there was
    /// nothing to decide (unknown, another user's, expired or decided already).
    pub fn decide(
        &self,
        id: &str,
        user_id: &str,
        grant_id: Option<&str>,
        now: i64,
    ) -> StoreResult<Option<CibaRequest>> {
        let status = if grant_id.is_some() { APPROVED } else { DENIED };
        let changed = exec(
            self.conn,
            "UPDATE ciba_requests SET status = ?3, grant_id = ?4
             WHERE id = ?1 AND user_id = ?2 AND status = 'pending' AND expires_at > ?5",
            args![id, user_id, status, grant_id, now],
        )?;
        if changed != 1 {
            return Ok(None);
        }
        self.conn.query_opt(
            &format!("SELECT {COLUMNS} FROM ciba_requests WHERE id = ?1"),
            args![id],
            from_row,
        )
    }

    /// Records that `institution` will answer the pending, unexpired request `id` later, under
    /// its own `reference`. False when the request is no longer pending, or already awaits a
    /// bank; an error when the institution used `reference` before (it must be unique).
    pub fn await_bank(
        &self,
        id: &str,
        institution: &str,
        reference: &str,
        now: i64,
    ) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "UPDATE ciba_requests SET bank_institution = ?2, bank_reference = ?3
             WHERE id = ?1 AND status = 'pending' AND expires_at > ?4 AND bank_reference IS NULL",
            args![id, institution, reference, now],
        )? == 1)
    }

    /// The request `institution` awaits an answer for under `reference`, whatever its state.
    pub fn by_bank_reference(
        &self,
        institution: &str,
        reference: &str,
    ) -> StoreResult<Option<CibaRequest>> {
        self.conn.query_opt(
            &format!(
                "SELECT {COLUMNS} FROM ciba_requests
                 WHERE bank_institution = ?1 AND bank_reference = ?2"
            ),
            args![institution, reference],
            from_row,
        )
    }

    /// Marks an approved request redeemed, if it is unexpired, unused and its grant unrevoked
    /// (else changes nothing). A second use reports `Replayed`.
    pub(super) fn consume(&self, auth_req_hash: &str, now: i64) -> StoreResult<Consumed> {
        let fresh = exec(
            self.conn,
            "UPDATE ciba_requests SET consumed_at = ?2
             WHERE auth_req_hash = ?1 AND consumed_at IS NULL AND status = 'approved' AND expires_at > ?2
               AND EXISTS (SELECT 1 FROM grants WHERE grants.id = ciba_requests.grant_id AND grants.revoked_at IS NULL)",
            args![auth_req_hash, now],
        )? == 1;
        let Some(request) = self.by_hash(auth_req_hash)? else {
            return Ok(Consumed::Invalid);
        };
        Ok(
            match (fresh, request.consumed_at.is_some(), request.grant_id) {
                (true, _, Some(grant_id)) => Consumed::Fresh { grant_id },
                (false, true, Some(grant_id)) => Consumed::Replayed { grant_id },
                _ => Consumed::Invalid,
            },
        )
    }
}
