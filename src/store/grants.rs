//! Grants and the artefacts issued from them: authorization codes, access tokens (by `jti`)
//! and refresh tokens (by digest). Revoking a grant revokes everything issued from it.

use super::sql::{args, Conn, Row};
use super::{exec, Refusal, StoreError, StoreResult, Tx};

#[derive(Debug, Clone)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub scopes: String,
    /// The OIDC claims request (§5.5) as JSON, when one was made.
    pub claims: Option<String>,
    pub auth_time: Option<i64>,
    pub amr: Option<String>,
    pub acr: Option<String>,
    pub sid: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// The bank connection this grant was made for, if any.
    pub connection_id: Option<String>,
    /// A shorter access-token lifetime the client asked for (`expires_in` at authorization).
    pub access_token_secs: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct AuthorizationCode {
    pub code_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub nonce: Option<String>,
    /// RFC 9449 §10: the DPoP key the code must be redeemed with.
    pub dpop_jkt: Option<String>,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct AccessToken {
    pub jti: String,
    pub grant_id: Option<String>,
    pub client_id: String,
    pub user_id: Option<String>,
    pub scopes: String,
    pub expires_at: i64,
    /// SHA-256 digest of the whole JWT (absent for tokens issued before it was kept).
    pub token_hash: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub token_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub scopes: String,
    pub expires_at: i64,
    /// RFC 9449 §5: a public client's refresh token is bound to its DPoP key.
    pub jkt: Option<String>,
    /// RFC 8705 §4: … or to its TLS client certificate.
    pub x5t: Option<String>,
}

/// What consuming a single-use artefact found.
#[derive(Debug)]
pub(super) enum Consumed {
    /// Consumed now: tokens for this grant may be stored with it.
    Fresh { grant_id: String },
    /// Used before: the grant it belongs to, so the caller can revoke it.
    Replayed { grant_id: String },
    /// Unknown, expired, or its grant is revoked: nothing was changed.
    Invalid,
}

/// A single-use artefact that buys tokens, by digest.
#[derive(Debug, Clone)]
pub enum SingleUse {
    Code(String),
    RefreshToken(String),
    /// An approved CIBA request, by the digest of its `auth_req_id` (CIBA Core §10.1).
    AuthReqId(String),
    /// A confidential client's retry of a rotation of `token` whose answer it never received:
    /// the unused refresh token that rotation issued (`successor`) is replaced.
    LostAnswerRetry {
        token: String,
        successor: String,
    },
    /// RFC 8628 §3.5: an approved device code, spent by the client it was issued to.
    DeviceCode {
        hash: String,
        client_id: String,
    },
}

/// What redeeming a single-use artefact did.
#[derive(Debug)]
pub enum Redeemed {
    /// Consumed, and the tokens it bought stored with it.
    Issued,
    /// Used before (by a request that got there first): the grant is now revoked.
    Replayed { grant_id: String },
    /// Unknown, expired, or its grant is revoked: nothing was stored.
    Invalid,
}

/// Grants and their codes and tokens, as one transaction sees them (`tx.grants()`).
pub struct Grants<'a> {
    pub(super) conn: Conn<'a>,
}

impl Grants<'_> {
    fn tx(&self) -> Tx<'_> {
        Tx { conn: self.conn }
    }

    /// Consumes `what` and stores the tokens it buys (`rows`, which must be for its grant) in the
    /// caller's transaction, so a crash leaves both or neither: never a used code or rotated
    /// refresh token without what it bought. Zero rows consumed means someone used it first: a
    /// replay, and the grant is revoked (RFC 6749 section 4.1.2, RFC 9700 section 4.14.2).
    pub fn redeem(&self, what: &SingleUse, rows: &Issued, now: i64) -> StoreResult<Redeemed> {
        let consumed = match what {
            SingleUse::Code(hash) => self.consume_code(hash, now)?,
            SingleUse::RefreshToken(hash) => self.rotate_refresh_token(hash, rows, now)?,
            SingleUse::AuthReqId(hash) => self.tx().ciba().consume(hash, now)?,
            SingleUse::LostAnswerRetry { token, successor } => {
                return self.redeem_retry(token, successor, rows, now)
            }
            // A spent device code is refused, not a reason to revoke: the poll that spent it
            // holds the tokens.
            SingleUse::DeviceCode { hash, client_id } => {
                match self
                    .tx()
                    .device_authorizations()
                    .consume(hash, client_id, now)?
                {
                    Some(grant_id) => Consumed::Fresh { grant_id },
                    None => Consumed::Invalid,
                }
            }
        };
        match consumed {
            Consumed::Fresh { grant_id } => {
                if rows.access.grant_id.as_deref() != Some(grant_id.as_str()) {
                    return Err(StoreError::Refused(Refusal::TokensForAnotherGrant));
                }
                self.insert_issued(rows)?;
                Ok(Redeemed::Issued)
            }
            Consumed::Replayed { grant_id } => {
                self.revoke_grant(&grant_id, now)?;
                Ok(Redeemed::Replayed { grant_id })
            }
            Consumed::Invalid => Ok(Redeemed::Invalid),
        }
    }

    pub fn insert_grant(&self, g: &Grant) -> StoreResult<()> {
        exec(
            self.conn,
            "INSERT INTO grants (id, client_id, user_id, scopes, claims, auth_time, amr, acr, sid, created_at, expires_at, connection_id, access_token_secs)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            args![g.id, g.client_id, g.user_id, g.scopes, g.claims, g.auth_time, g.amr, g.acr, g.sid, g.created_at, g.expires_at, g.connection_id, g.access_token_secs],
        )?;
        Ok(())
    }

    pub fn get_grant(&self, id: &str) -> StoreResult<Option<Grant>> {
        self.conn.query_opt(
            &format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = ?1"),
            args![id],
            grant_row,
        )
    }

    /// Revokes a grant and every token issued from it.
    pub fn revoke_grant(&self, grant_id: &str, now: i64) -> StoreResult<()> {
        exec(
            self.conn,
            "UPDATE grants SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            args![grant_id, now],
        )?;
        exec(
            self.conn,
            "UPDATE access_tokens SET revoked_at = ?2 WHERE grant_id = ?1 AND revoked_at IS NULL",
            args![grant_id, now],
        )?;
        exec(
            self.conn,
            "DELETE FROM refresh_tokens WHERE grant_id = ?1",
            args![grant_id],
        )?;
        Ok(())
    }

    pub fn insert_code(&self, c: &AuthorizationCode) -> StoreResult<()> {
        exec(
            self.conn,
            "INSERT INTO authorization_codes (code_hash, grant_id, client_id, redirect_uri, code_challenge, nonce, dpop_jkt, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            args![c.code_hash, c.grant_id, c.client_id, c.redirect_uri, c.code_challenge, c.nonce, c.dpop_jkt, c.expires_at],
        )?;
        Ok(())
    }

    /// A code as stored, and whether it was used; changes nothing.
    pub fn find_code(&self, code_hash: &str) -> StoreResult<Option<(AuthorizationCode, bool)>> {
        self.conn.query_opt(
            "SELECT code_hash, grant_id, client_id, redirect_uri, code_challenge, nonce, expires_at, dpop_jkt, consumed_at
                 FROM authorization_codes WHERE code_hash = ?1",
            args![code_hash],
            |r| {
                let code = AuthorizationCode {
                    code_hash: r.get(0)?,
                    grant_id: r.get(1)?,
                    client_id: r.get(2)?,
                    redirect_uri: r.get(3)?,
                    code_challenge: r.get(4)?,
                    nonce: r.get(5)?,
                    expires_at: r.get(6)?,
                    dpop_jkt: r.get(7)?,
                };
                Ok((code, r.get::<Option<i64>>(8)?.is_some()))
            })
    }

    /// Marks a code used if it is unexpired and its grant unrevoked (else changes nothing). A
    /// second use reports `Replayed` (the row is kept until it expires so that replays are
    /// recognised).
    fn consume_code(&self, code_hash: &str, now: i64) -> StoreResult<Consumed> {
        let fresh = exec(
            self.conn,
            "UPDATE authorization_codes SET consumed_at = ?2
             WHERE code_hash = ?1 AND consumed_at IS NULL AND expires_at > ?2
               AND EXISTS (SELECT 1 FROM grants WHERE grants.id = authorization_codes.grant_id AND grants.revoked_at IS NULL)",
            args![code_hash, now],
        )? == 1;
        let Some((code, used)) = self.find_code(code_hash)? else {
            return Ok(Consumed::Invalid);
        };
        Ok(match (fresh, used) {
            (true, _) => Consumed::Fresh {
                grant_id: code.grant_id,
            },
            (false, true) => Consumed::Replayed {
                grant_id: code.grant_id,
            },
            (false, false) => Consumed::Invalid,
        })
    }

    pub fn insert_access_token(&self, t: &AccessToken) -> StoreResult<()> {
        exec(
            self.conn,
            "INSERT INTO access_tokens (jti, grant_id, client_id, user_id, scopes, expires_at, token_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            args![t.jti, t.grant_id, t.client_id, t.user_id, t.scopes, t.expires_at, t.token_hash],
        )?;
        Ok(())
    }

    /// A live access token: known, unexpired, not revoked, and its client enabled.
    pub fn active_access_token(&self, jti: &str, now: i64) -> StoreResult<Option<AccessToken>> {
        self.conn.query_opt(
            "SELECT jti, grant_id, client_id, user_id, scopes, expires_at, token_hash FROM access_tokens
                 WHERE jti = ?1 AND revoked_at IS NULL AND expires_at > ?2
                   AND EXISTS (SELECT 1 FROM clients WHERE clients.id = access_tokens.client_id AND clients.disabled_at IS NULL)",
            args![jti, now],
            |r| {
                Ok(AccessToken {
                    jti: r.get(0)?,
                    grant_id: r.get(1)?,
                    client_id: r.get(2)?,
                    user_id: r.get(3)?,
                    scopes: r.get(4)?,
                    expires_at: r.get(5)?,
                    token_hash: r.get(6)?,
                })
            })
    }

    pub fn revoke_access_token(&self, jti: &str, now: i64) -> StoreResult<()> {
        exec(
            self.conn,
            "UPDATE access_tokens SET revoked_at = ?2 WHERE jti = ?1 AND revoked_at IS NULL",
            args![jti, now],
        )?;
        Ok(())
    }

    pub fn insert_refresh_token(&self, t: &RefreshToken) -> StoreResult<()> {
        exec(
            self.conn,
            "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scopes, expires_at, jkt, x5t) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            args![t.token_hash, t.grant_id, t.client_id, t.scopes, t.expires_at, t.jkt, t.x5t],
        )?;
        Ok(())
    }

    pub fn insert_issued(&self, rows: &Issued) -> StoreResult<()> {
        self.insert_access_token(&rows.access)?;
        if let Some(r) = &rows.refresh {
            self.insert_refresh_token(r)?;
        }
        Ok(())
    }

    fn refresh_row(&self, token_hash: &str) -> StoreResult<Option<RefreshRow>> {
        self.conn.query_opt(
            "SELECT t.token_hash, t.grant_id, t.client_id, t.scopes, t.expires_at, t.rotated_at, t.jkt, t.x5t,
                        t.successor_hash, t.successor_jti, s.token_hash IS NOT NULL
                 FROM refresh_tokens t
                 LEFT JOIN refresh_tokens s ON s.token_hash = t.successor_hash AND s.rotated_at IS NULL
                 WHERE t.token_hash = ?1",
            args![token_hash],
            |r| {
                Ok(RefreshRow {
                    token: RefreshToken {
                        token_hash: r.get(0)?,
                        grant_id: r.get(1)?,
                        client_id: r.get(2)?,
                        scopes: r.get(3)?,
                        expires_at: r.get(4)?,
                        jkt: r.get(6)?,
                        x5t: r.get(7)?,
                    },
                    rotated_at: r.get(5)?,
                    successor_hash: r.get(8)?,
                    successor_jti: r.get(9)?,
                    successor_unused: r.get(10)?,
                })
            })
    }

    /// A refresh token as stored, and its rotation if it was rotated (used); changes nothing.
    pub fn find_refresh_token(
        &self,
        token_hash: &str,
    ) -> StoreResult<Option<(RefreshToken, Option<Rotation>)>> {
        Ok(self.refresh_row(token_hash)?.map(|row| {
            let rotation = row.rotated_at.map(|rotated_at| Rotation {
                rotated_at,
                unused_successor: row.successor_hash.filter(|_| row.successor_unused),
            });
            (row.token, rotation)
        }))
    }

    /// Marks a refresh token rotated (used) if it is unexpired and its grant unrevoked (else
    /// changes nothing), recording the refresh token and access token `jti` the rotation issues.
    /// A second use reports `Replayed`.
    fn rotate_refresh_token(
        &self,
        token_hash: &str,
        rows: &Issued,
        now: i64,
    ) -> StoreResult<Consumed> {
        let successor = rows.refresh.as_ref().map(|r| r.token_hash.as_str());
        let fresh = exec(
            self.conn,
            "UPDATE refresh_tokens SET rotated_at = ?2, successor_hash = ?3, successor_jti = ?4
             WHERE token_hash = ?1 AND rotated_at IS NULL AND expires_at > ?2
               AND EXISTS (SELECT 1 FROM grants WHERE grants.id = refresh_tokens.grant_id AND grants.revoked_at IS NULL)",
            args![token_hash, now, successor, rows.access.jti],
        )? == 1;
        let Some(RefreshRow {
            token, rotated_at, ..
        }) = self.refresh_row(token_hash)?
        else {
            return Ok(Consumed::Invalid);
        };
        let grant_id = token.grant_id;
        Ok(match (fresh, rotated_at.is_some()) {
            (true, _) => Consumed::Fresh { grant_id },
            (false, true) => Consumed::Replayed { grant_id },
            (false, false) => Consumed::Invalid,
        })
    }

    /// A confidential client retries a rotation of `token_hash` whose answer it never received
    /// (RFC 9700 §4.14.2 allows a retry that cannot be a theft): in the caller's transaction the
    /// pair that rotation issued (`successor_hash` and its access token) is revoked, the successor
    /// marked superseded (presenting it later is a reuse), and `rows` stored in its place. If the
    /// successor was used meanwhile, this is a reuse after all: the grant is revoked.
    fn redeem_retry(
        &self,
        token_hash: &str,
        successor_hash: &str,
        rows: &Issued,
        now: i64,
    ) -> StoreResult<Redeemed> {
        let Some(old) = self.refresh_row(token_hash)? else {
            return Ok(Redeemed::Invalid);
        };
        let grant_id = old.token.grant_id.clone();
        let live_grant = self
            .get_grant(&grant_id)?
            .is_some_and(|g| g.revoked_at.is_none());
        if old.token.expires_at <= now || !live_grant {
            return Ok(Redeemed::Invalid);
        }
        if rows.access.grant_id.as_deref() != Some(grant_id.as_str()) {
            return Err(StoreError::Refused(Refusal::TokensForAnotherGrant));
        }
        let superseded = old.successor_hash.as_deref() == Some(successor_hash)
            && exec(
                self.conn,
                "UPDATE refresh_tokens SET rotated_at = ?2, superseded_at = ?2
                 WHERE token_hash = ?1 AND rotated_at IS NULL",
                args![successor_hash, now],
            )? == 1;
        if !superseded {
            self.revoke_grant(&grant_id, now)?;
            return Ok(Redeemed::Replayed { grant_id });
        }
        if let Some(jti) = &old.successor_jti {
            self.revoke_access_token(jti, now)?;
        }
        let successor = rows.refresh.as_ref().map(|r| r.token_hash.as_str());
        exec(
            self.conn,
            "UPDATE refresh_tokens SET successor_hash = ?2, successor_jti = ?3 WHERE token_hash = ?1",
            args![token_hash, successor, rows.access.jti],
        )?;
        self.insert_issued(rows)?;
        Ok(Redeemed::Issued)
    }

    /// A usable refresh token (unrotated, unexpired, grant not revoked), for introspection.
    pub fn active_refresh_token(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<(RefreshToken, Grant)>> {
        let Some(RefreshRow {
            token, rotated_at, ..
        }) = self.refresh_row(token_hash)?
        else {
            return Ok(None);
        };
        // A disabled client's tokens are not active while it stays disabled.
        if rotated_at.is_some()
            || token.expires_at <= now
            || !self.tx().clients().is_enabled(&token.client_id)?
        {
            return Ok(None);
        }
        Ok(self
            .get_grant(&token.grant_id)?
            .filter(|g| g.revoked_at.is_none())
            .map(|g| (token, g)))
    }

    /// A user's grants still in force (unrevoked, unexpired), oldest first: the apps the
    /// user's dashboard lists.
    pub fn live_for_user(&self, user_id: &str, now: i64) -> StoreResult<Vec<Grant>> {
        self.conn.query_all(
            &format!(
                "SELECT {GRANT_COLUMNS} FROM grants
                 WHERE user_id = ?1 AND revoked_at IS NULL AND expires_at > ?2
                 ORDER BY created_at, id"
            ),
            args![user_id, now],
            grant_row,
        )
    }

    /// The unrevoked grants issued from the browser session `sid` (OpenID Back-Channel Logout
    /// 1.0 §2.7: what ending that session reaches).
    pub fn live_of_session(&self, sid: &str) -> StoreResult<Vec<Grant>> {
        self.conn.query_all(
            &format!("SELECT {GRANT_COLUMNS} FROM grants WHERE sid = ?1 AND revoked_at IS NULL"),
            args![sid],
            grant_row,
        )
    }

    /// The unrevoked grants of `user_id` to `client_id`, oldest first.
    pub fn live_of_user_and_client(
        &self,
        user_id: &str,
        client_id: &str,
    ) -> StoreResult<Vec<Grant>> {
        self.conn.query_all(
            &format!(
                "SELECT {GRANT_COLUMNS} FROM grants
                 WHERE user_id = ?1 AND client_id = ?2 AND revoked_at IS NULL
                 ORDER BY created_at, id"
            ),
            args![user_id, client_id],
            grant_row,
        )
    }

    /// Revokes a user's data-access tokens (those with no grant; the others go with their grant).
    pub fn revoke_user_access_tokens(&self, user_id: &str, now: i64) -> StoreResult<usize> {
        exec(
            self.conn,
            "UPDATE access_tokens SET revoked_at = ?2
             WHERE user_id = ?1 AND grant_id IS NULL AND revoked_at IS NULL",
            args![user_id, now],
        )
    }
}

const GRANT_COLUMNS: &str = "id, client_id, user_id, scopes, claims, auth_time, amr, acr, sid, created_at, expires_at, revoked_at, connection_id, access_token_secs";

fn grant_row(r: &Row) -> StoreResult<Grant> {
    Ok(Grant {
        id: r.get(0)?,
        client_id: r.get(1)?,
        user_id: r.get(2)?,
        scopes: r.get(3)?,
        claims: r.get(4)?,
        auth_time: r.get(5)?,
        amr: r.get(6)?,
        acr: r.get(7)?,
        sid: r.get(8)?,
        created_at: r.get(9)?,
        expires_at: r.get(10)?,
        revoked_at: r.get(11)?,
        connection_id: r.get(12)?,
        access_token_secs: r.get(13)?,
    })
}

/// The rows of one token response: they are what makes its tokens valid.
#[derive(Debug, Clone)]
pub struct Issued {
    pub access: AccessToken,
    pub refresh: Option<RefreshToken>,
}

/// A refresh token row with what its rotation (if any) did.
struct RefreshRow {
    token: RefreshToken,
    rotated_at: Option<i64>,
    successor_hash: Option<String>,
    successor_jti: Option<String>,
    /// The successor as still unused (present and unrotated).
    successor_unused: bool,
}

/// When a refresh token was rotated, and the refresh token that rotation issued if it is
/// still unused (neither rotated nor revoked): what tells a lost answer's retry from a reuse.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub rotated_at: i64,
    pub unused_successor: Option<String>,
}
