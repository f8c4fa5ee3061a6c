//! Encryption at rest (AES-256-GCM) for the few secrets that must be recoverable, such as the
//! shared secret of `client_secret_jwt` clients (HMAC needs the secret itself).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;

const DATA_KEY_FILE: &str = "data.key";

pub struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    /// The data key in `keys_dir`, made on first use (shared by every node through the folder).
    pub fn load_or_create(keys_dir: &Path) -> std::io::Result<Sealer> {
        let path = keys_dir.join(DATA_KEY_FILE);
        let bytes = match std::fs::read_to_string(&path) {
            Ok(text) => URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| {
                std::io::Error::other(format!("{} is not a data key", path.display()))
            })?,
            Err(_) => {
                let mut key = [0u8; 32];
                SystemRandom::new()
                    .fill(&mut key)
                    .map_err(|_| std::io::Error::other("no randomness"))?;
                std::fs::create_dir_all(keys_dir)?;
                crate::files::write_private(&path, &URL_SAFE_NO_PAD.encode(key))?;
                key.to_vec()
            }
        };
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| {
            std::io::Error::other(format!("{} is not a 256-bit key", path.display()))
        })?;
        Ok(Sealer {
            key: LessSafeKey::new(unbound),
        })
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
