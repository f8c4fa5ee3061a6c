//! The SAML SP key every node shares: one row, the private key sealed (opaque text here:
//! sealing it belongs to `protocol::federation::saml_keys`) and its certificate. Stored once by
//! the first node to need it; a node that loses that race reads the winner's row.

use super::sql::{args, Conn};
use super::{exec, StoreResult};

/// The SP key as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSpKey {
    /// The PKCS #8 PEM private key, sealed with the data key.
    pub sealed_key: String,
    /// Its certificate (PEM; public).
    pub cert_pem: String,
}

/// The stored SAML SP key, as one transaction sees it (`tx.saml_sp_key()`).
pub struct SamlSpKey<'a> {
    pub(super) conn: Conn<'a>,
}

impl SamlSpKey<'_> {
    /// The stored key, if there is one.
    pub fn get(&self) -> StoreResult<Option<SealedSpKey>> {
        self.conn.query_opt(
            "SELECT sealed_key, cert_pem FROM saml_sp_key WHERE id = 1",
            args![],
            |r| {
                Ok(SealedSpKey {
                    sealed_key: r.get(0)?,
                    cert_pem: r.get(1)?,
                })
            },
        )
    }

    /// Stores the key unless one is stored already; whether this one was.
    pub fn insert_if_absent(&self, key: &SealedSpKey, now: i64) -> StoreResult<bool> {
        let n = exec(
            self.conn,
            "INSERT INTO saml_sp_key (id, sealed_key, cert_pem, created_at)
             VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO NOTHING",
            args![key.sealed_key, key.cert_pem, now],
        )?;
        Ok(n == 1)
    }
}
