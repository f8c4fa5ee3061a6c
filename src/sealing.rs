//! Encryption at rest (AES-256-GCM) for the few secrets that must be recoverable, such as the
//! shared secret of `client_secret_jwt` clients (HMAC needs the secret itself).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;

/// The data key's file name in the keys folder (`<data-dir>/keys/data.key`).
pub const DATA_KEY_FILE: &str = "data.key";

pub struct Sealer {
    key: LessSafeKey,
    /// Derives the installation's other secrets from the data key, so that it is the one
    /// secret an operator gives every node.
    derive: ring::hmac::Key,
}

/// Where a node finds the operator's data key.
pub struct DataKeySource<'a> {
    /// The file the operator named (`--data-key`, `CONSENTRY_DATA_KEY`, `data_key`).
    pub file: Option<&'a Path>,
    /// The keys folder, whose `data.key` is used when no file is named.
    pub keys_dir: &'a Path,
    /// Whether a missing key may be made here: only for an installation of one node (SQLite).
    /// Nodes sharing a database must all hold the operator's key; one made by a single node
    /// would seal secrets no other node can open.
    pub may_create: bool,
}

impl Sealer {
    /// The data key in `keys_dir`, made on first use (the zero-configuration start).
    pub fn load_or_create(keys_dir: &Path) -> std::io::Result<Sealer> {
        Sealer::open_data_key(&DataKeySource {
            file: None,
            keys_dir,
            may_create: true,
        })
    }

    /// The data key from `source`: the named file (which must exist), else the keys folder's
    /// `data.key`, made there only when `source.may_create` allows it.
    pub fn open_data_key(source: &DataKeySource<'_>) -> std::io::Result<Sealer> {
        let default_path = source.keys_dir.join(DATA_KEY_FILE);
        let path = source.file.unwrap_or(&default_path);
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(file) = source.file {
                    return Err(std::io::Error::other(format!(
                        "the data key file {} does not exist",
                        file.display()
                    )));
                }
                if !source.may_create {
                    return Err(std::io::Error::other(format!(
                        "no data key: nodes sharing a PostgreSQL database must all be given the \
                         operator's data key, never one made by a single node; pass --data-key FILE \
                         (or CONSENTRY_DATA_KEY, or data_key in the configuration) or put the file \
                         at {}; make a new one with `consentry keys new-data-key FILE`",
                        default_path.display()
                    )));
                }
                let key = URL_SAFE_NO_PAD.encode(random_key()?);
                std::fs::create_dir_all(source.keys_dir)?;
                crate::files::write_private(path, &key)?;
                key
            }
            Err(e) => {
                return Err(std::io::Error::other(format!(
                    "the data key {}: {e}",
                    path.display()
                )))
            }
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|_| std::io::Error::other(format!("{} is not a data key", path.display())))?;
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| {
            std::io::Error::other(format!("{} is not a 256-bit key", path.display()))
        })?;
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
            derive: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &bytes),
        })
    }

    /// A 256-bit secret for `purpose`, derived from the data key (HMAC-SHA256 of the label):
    /// the same on every node given the same data key, and independent of every other purpose.
    pub fn derived_secret(&self, purpose: &str) -> [u8; 32] {
        let tag = ring::hmac::sign(&self.derive, format!("consentry {purpose}").as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Writes a new data key to `path` (owner-only), never over an existing file.
    pub fn new_data_key_file(path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        #[cfg(unix)]
        use std::os::unix::fs::OpenOptionsExt;
        let key = URL_SAFE_NO_PAD.encode(random_key()?);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        opts.mode(0o600);
        let mut file = opts.open(path).map_err(|e| {
            std::io::Error::new(e.kind(), format!("cannot create {}: {e}", path.display()))
        })?;
        file.write_all(key.as_bytes())?;
        file.sync_all()
    }

    /// Encrypts `plain`; the result is base64url(nonce ‖ ciphertext ‖ tag).
    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the OS random source works");
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .expect("AES-GCM sealing of a short value");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Decrypts what `seal` made; `None` if it was tampered with or sealed under another key.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let raw = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let mut data = rest.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut data)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

fn random_key() -> std::io::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| std::io::Error::other("no randomness"))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source<'a>(
        file: Option<&'a Path>,
        keys_dir: &'a Path,
        may_create: bool,
    ) -> DataKeySource<'a> {
        DataKeySource {
            file,
            keys_dir,
            may_create,
        }
    }

    #[test]
    fn a_data_key_is_made_only_where_making_one_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        // Shared database: refused, nothing written.
        let e = Sealer::open_data_key(&source(None, &keys, false))
            .err()
            .unwrap();
        assert!(e.to_string().contains("--data-key FILE"), "{e}");
        assert!(!keys.exists());
        // A named file is never made, even where making one is allowed.
        let named = dir.path().join("operator.key");
        assert!(Sealer::open_data_key(&source(Some(&named), &keys, true)).is_err());
        assert!(!named.exists());
        // One node alone: made on first use, then the same key.
        let made = Sealer::open_data_key(&source(None, &keys, true)).unwrap();
        let sealed = made.seal("secret");
        let again = Sealer::open_data_key(&source(None, &keys, false)).unwrap();
        assert_eq!(again.open(&sealed).as_deref(), Some("secret"));
    }

    #[test]
    fn a_new_data_key_file_never_replaces_one() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data.key");
        Sealer::new_data_key_file(&file).unwrap();
        let key = Sealer::open_data_key(&source(Some(&file), dir.path(), false)).unwrap();
        let sealed = key.seal("secret");
        assert!(Sealer::new_data_key_file(&file).is_err());
        let same = Sealer::open_data_key(&source(Some(&file), dir.path(), false)).unwrap();
        assert_eq!(same.open(&sealed).as_deref(), Some("secret"));
    }
}
