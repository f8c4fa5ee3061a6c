//! Subject identifiers (OIDC Core §8): the local user id for `public` clients; for `pairwise`
//! clients a value per (sector, user) that clients of other sectors cannot correlate (§8.1).
//!
//! A pairwise `sub` is the user id encrypted deterministically under a key kept in the keys
//! folder: base64url(iv ‖ AES-256-GCM(user id, aad = sector)), with the synthetic
//! iv = HMAC-SHA256(sector ‖ 0 ‖ user id)[..12]. It is stable, unguessable, different per
//! sector and reversible only here, so a `sub` coming back from a client (`id_token_hint`, the
//! claims parameter, the partner API) leads to its user without a lookup table.

use crate::protocol::Ctx;
use crate::types::Client;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hmac;
use std::path::Path;

const KEY_FILE: &str = "pairwise-subject.secret";

/// The keys behind pairwise identifiers, never rotated: a new key would change every pairwise
/// `sub` clients know. Derived from the data key, so every node given it agrees; an
/// installation whose keys folder already holds a pairwise secret file (made by earlier
/// versions) keeps using it.
pub struct PairwiseKey {
    aead: LessSafeKey,
    iv: hmac::Key,
}

impl PairwiseKey {
    /// The secret file in `dir` if there is one, else the secret derived from the data key.
    pub fn load(dir: &Path, sealer: &crate::sealing::Sealer) -> std::io::Result<PairwiseKey> {
        match std::fs::read_to_string(dir.join(KEY_FILE)) {
            Ok(secret) => Ok(PairwiseKey::from_secret(secret.trim().as_bytes())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(PairwiseKey::from_secret(
                &sealer.derived_secret("pairwise subject key"),
            )),
            Err(e) => Err(std::io::Error::other(format!(
                "{}: {e}",
                dir.join(KEY_FILE).display()
            ))),
        }
    }

    /// Two independent keys derived from one secret (one to encrypt, one for the iv).
    fn from_secret(secret: &[u8]) -> PairwiseKey {
        let root = hmac::Key::new(hmac::HMAC_SHA256, secret);
        let derive = |label: &[u8]| hmac::sign(&root, label);
        let aead = UnboundKey::new(&AES_256_GCM, derive(b"pairwise sub aead").as_ref())
            .expect("a 256-bit key");
        PairwiseKey {
            aead: LessSafeKey::new(aead),
            iv: hmac::Key::new(hmac::HMAC_SHA256, derive(b"pairwise sub iv").as_ref()),
        }
    }

    /// The pairwise `sub` of `user_id` in `sector`.
    pub fn subject(&self, sector: &str, user_id: &str) -> String {
        let mut ctx = hmac::Context::with_key(&self.iv);
        ctx.update(sector.as_bytes());
        ctx.update(&[0]);
        ctx.update(user_id.as_bytes());
        let mut iv = [0u8; NONCE_LEN];
        iv.copy_from_slice(&ctx.sign().as_ref()[..NONCE_LEN]);
        let mut data = user_id.as_bytes().to_vec();
        self.aead
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(sector.as_bytes()),
                &mut data,
            )
            .expect("AES-GCM sealing of a short value");
        let mut out = iv.to_vec();
        out.extend_from_slice(&data);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// The user a pairwise `sub` of `sector` names; `None` for anything this key did not make
    /// for that sector.
    pub fn user_id(&self, sector: &str, sub: &str) -> Option<String> {
        let raw = URL_SAFE_NO_PAD.decode(sub).ok()?;
        if raw.len() <= NONCE_LEN {
            return None;
        }
        let (iv, rest) = raw.split_at(NONCE_LEN);
        let mut data = rest.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(iv).ok()?;
        let plain = self
            .aead
            .open_in_place(nonce, Aad::from(sector.as_bytes()), &mut data)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

/// The sector of a pairwise client; one without a sector (registration refuses that) is a
/// sector of its own.
fn sector(client: &Client) -> Option<String> {
    if !client.metadata.is_pairwise() {
        return None;
    }
    Some(
        client
            .metadata
            .pairwise_sector()
            .unwrap_or_else(|| format!("client:{}", client.id)),
    )
}

/// The `sub` through which `client` knows the user `user_id`.
pub fn for_client(cx: &Ctx<'_>, client: &Client, user_id: &str) -> String {
    match sector(client) {
        Some(s) => cx.pairwise.subject(&s, user_id),
        None => user_id.to_string(),
    }
}

/// The user a `sub` given by `client` names: itself for public clients; for pairwise clients
/// only a `sub` made for the client's sector (a local user id is not accepted from them).
pub fn user_of(cx: &Ctx<'_>, client: &Client, sub: &str) -> Option<String> {
    match sector(client) {
        Some(s) => cx.pairwise.user_id(&s, sub),
        None => Some(sub.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key derives from the data key (the same for every node given it, made nowhere on
    /// disk), except where an earlier version left a secret file, which keeps its subjects.
    #[test]
    fn the_pairwise_key_derives_from_the_data_key_unless_a_secret_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let sealer = crate::sealing::Sealer::load_or_create(dir.path()).unwrap();
        let again = crate::sealing::Sealer::load_or_create(dir.path()).unwrap();
        let derived = PairwiseKey::load(dir.path(), &sealer).unwrap();
        let same = PairwiseKey::load(dir.path(), &again).unwrap();
        assert_eq!(derived.subject("s", "u"), same.subject("s", "u"));
        assert!(!dir.path().join(KEY_FILE).exists());
        std::fs::write(dir.path().join(KEY_FILE), "kept-secret\n").unwrap();
        let kept = PairwiseKey::load(dir.path(), &sealer).unwrap();
        assert_eq!(
            kept.subject("s", "u"),
            PairwiseKey::from_secret(b"kept-secret").subject("s", "u")
        );
        assert_ne!(kept.subject("s", "u"), derived.subject("s", "u"));
    }

    #[test]
    fn pairwise_subjects_are_stable_per_sector_and_reversible_only_there() {
        let k = PairwiseKey::from_secret(b"secret");
        let a = k.subject("a.example", "user1");
        assert_eq!(a, k.subject("a.example", "user1"), "stable");
        assert_ne!(a, k.subject("b.example", "user1"), "per sector");
        assert_ne!(a, k.subject("a.example", "user2"), "per user");
        assert!(!a.contains("user1"));
        assert_eq!(k.user_id("a.example", &a).as_deref(), Some("user1"));
        assert_eq!(k.user_id("b.example", &a), None, "bound to its sector");
        assert_eq!(k.user_id("a.example", "user1"), None);
        let other = PairwiseKey::from_secret(b"another secret");
        assert_ne!(a, other.subject("a.example", "user1"), "keyed");
        assert_eq!(other.user_id("a.example", &a), None);
    }
}
