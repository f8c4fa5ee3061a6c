//! Device authorizations (RFC 8628): found by the digest of their device code (the client's
//! polls) or of their user code (the verification page); nothing else of either is kept.

use super::sql::{args, Conn, Row};
use super::{exec, StoreResult};

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the user (RFC 8628 §3.5 `authorization_pending`).
    Pending,
    /// The user approved: the grant is written, tokens wait for the next poll.
    Approved,
    /// The user denied, or the sign-in ended without approval (`access_denied`).
    Denied,
    /// Its tokens were issued; the device code is spent.
    Used,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Denied => "denied",
            Status::Used => "used",
        }
    }
    fn parse(s: &str) -> Status {
        match s {
            "pending" => Status::Pending,
            "approved" => Status::Approved,
            "used" => Status::Used,
            _ => Status::Denied,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    pub id: String,
    pub device_code_hash: String,
    pub user_code_hash: String,
    pub client_id: String,
    /// The validated request, as JSON.
    pub request: String,
    pub interval_secs: i64,
    pub last_polled_at: Option<i64>,
    pub status: Status,
    pub grant_id: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

const COLUMNS: &str = "id, device_code_hash, user_code_hash, client_id, request, interval_secs, \
                       last_polled_at, status, grant_id, created_at, expires_at";

fn row(r: &Row) -> StoreResult<DeviceAuthorization> {
    Ok(DeviceAuthorization {
        id: r.get(0)?,
        device_code_hash: r.get(1)?,
        user_code_hash: r.get(2)?,
        client_id: r.get(3)?,
        request: r.get(4)?,
        interval_secs: r.get(5)?,
        last_polled_at: r.get(6)?,
        status: Status::parse(&r.get::<String>(7)?),
        grant_id: r.get(8)?,
        created_at: r.get(9)?,
        expires_at: r.get(10)?,
    })
}

/// Device authorizations, as one transaction sees them (`tx.device_authorizations()`).
pub struct DeviceAuthorizations<'a> {
    pub(super) conn: Conn<'a>,
}

impl DeviceAuthorizations<'_> {
    /// Stores a new, pending authorization; a user code digest already taken is
    /// [`super::StoreError::Conflict`] (the caller draws another code).
    pub fn insert(&self, d: &DeviceAuthorization) -> StoreResult<()> {
        exec(
            self.conn,
            &format!(
                "INSERT INTO device_authorizations ({COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ),
            args![
                d.id,
                d.device_code_hash,
                d.user_code_hash,
                d.client_id,
                d.request,
                d.interval_secs,
                d.last_polled_at,
                d.status.as_str(),
                d.grant_id,
                d.created_at,
                d.expires_at
            ],
        )?;
        Ok(())
    }

    /// The authorization a device code names, in whatever state (expired too, until swept).
    pub fn by_device_code(&self, hash: &str) -> StoreResult<Option<DeviceAuthorization>> {
        self.conn.query_opt(
            &format!("SELECT {COLUMNS} FROM device_authorizations WHERE device_code_hash = ?1"),
            args![hash],
            row,
        )
    }

    /// The live, pending authorization a user code names.
    pub fn pending_by_user_code(
        &self,
        hash: &str,
        now: i64,
    ) -> StoreResult<Option<DeviceAuthorization>> {
        self.conn.query_opt(
            &format!(
                "SELECT {COLUMNS} FROM device_authorizations
                 WHERE user_code_hash = ?1 AND status = 'pending' AND expires_at > ?2"
            ),
            args![hash, now],
            row,
        )
    }

    /// Records a poll at `now`; with `slow_down`, the interval grows by `step` seconds
    /// (RFC 8628 §3.5), counted in the database so every node sees it.
    pub fn polled(&self, id: &str, now: i64, slow_down: bool, step: i64) -> StoreResult<()> {
        let grow = if slow_down { step } else { 0 };
        exec(
            self.conn,
            "UPDATE device_authorizations SET last_polled_at = ?2, interval_secs = interval_secs + ?3
             WHERE id = ?1",
            args![id, now, grow],
        )?;
        Ok(())
    }

    /// The user approved: links the grant. False when the authorization is no longer pending
    /// and live (denied meanwhile, expired, or approved by another sign-in).
    pub fn approve(&self, id: &str, grant_id: &str, now: i64) -> StoreResult<bool> {
        Ok(exec(
            self.conn,
            "UPDATE device_authorizations SET status = 'approved', grant_id = ?2
             WHERE id = ?1 AND status = 'pending' AND expires_at > ?3",
            args![id, grant_id, now],
        )? == 1)
    }

    /// The user denied (or the sign-in ended without approval) while it was pending.
    pub fn deny(&self, id: &str) -> StoreResult<()> {
        exec(
            self.conn,
            "UPDATE device_authorizations SET status = 'denied' WHERE id = ?1 AND status = 'pending'",
            args![id],
        )?;
        Ok(())
    }

    /// Spends an approved device code of `client_id` whose grant is unrevoked, once: the
    /// grant, or `None` when another poll spent it first (or it lapsed).
    pub fn consume(&self, hash: &str, client_id: &str, now: i64) -> StoreResult<Option<String>> {
        let spent = exec(
            self.conn,
            "UPDATE device_authorizations SET status = 'used'
             WHERE device_code_hash = ?1 AND client_id = ?2 AND status = 'approved' AND expires_at > ?3
               AND EXISTS (SELECT 1 FROM grants WHERE grants.id = device_authorizations.grant_id AND grants.revoked_at IS NULL)",
            args![hash, client_id, now],
        )? == 1;
        if !spent {
            return Ok(None);
        }
        Ok(self.by_device_code(hash)?.and_then(|d| d.grant_id))
    }
}
