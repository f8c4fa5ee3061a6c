use serde::{Deserialize, Serialize};
use std::fmt;

/// A client identifier (RFC 6749 §2.2). One that comes from outside (an operator's fixed
/// `client_id`) is checked by [`ClientId::parse`]: printable ASCII only (RFC 6749 Appendix A.1,
/// `VSCHAR`: %x20-7E), at most [`ClientId::MAX_LEN`] characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(String);

impl ClientId {
    /// Longer ids are refused; generated ones are 36 characters.
    pub const MAX_LEN: usize = 255;

    pub fn parse(s: &str) -> Result<ClientId, String> {
        if s.is_empty() {
            return Err("client_id must be a non-empty string".into());
        }
        if s.len() > Self::MAX_LEN {
            return Err(format!(
                "client_id must be at most {} characters",
                Self::MAX_LEN
            ));
        }
        if !s.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(
                "client_id must be printable ASCII characters (RFC 6749 appendix A.1, VSCHAR)"
                    .into(),
            );
        }
        Ok(ClientId(s.to_string()))
    }

    /// A fresh random id (a UUID), as dynamic registration issues them.
    pub fn generate() -> ClientId {
        ClientId(uuid::Uuid::new_v4().to_string())
    }

    /// An id read back from storage: it was checked when the client was registered.
    pub fn from_stored(s: String) -> ClientId {
        ClientId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Most code only reads the id as text.
impl std::ops::Deref for ClientId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for ClientId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ClientId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for ClientId {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<ClientId> for str {
    fn eq(&self, other: &ClientId) -> bool {
        self == other.0
    }
}

impl PartialEq<ClientId> for &str {
    fn eq(&self, other: &ClientId) -> bool {
        *self == other.0
    }
}

impl PartialEq<ClientId> for String {
    fn eq(&self, other: &ClientId) -> bool {
        *self == other.0
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> String {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_ascii_ids_parse_and_others_are_refused() {
        assert_eq!(ClientId::parse("demo-client").unwrap(), "demo-client");
        assert_eq!(ClientId::parse("a b~").unwrap().as_str(), "a b~");
        for (bad, why) in [
            ("", "non-empty"),
            ("caf\u{e9}", "printable ASCII"),
            ("tab\there", "printable ASCII"),
            ("new\nline", "printable ASCII"),
        ] {
            let e = ClientId::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
        let long = "x".repeat(ClientId::MAX_LEN + 1);
        assert!(ClientId::parse(&long).unwrap_err().contains("at most 255"));
        assert!(ClientId::parse(&long[1..]).is_ok());
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let (a, b) = (ClientId::generate(), ClientId::generate());
        assert_ne!(a, b);
        assert_eq!(ClientId::parse(&a).unwrap(), a);
    }

    #[test]
    fn serde_keeps_the_plain_string_shape() {
        let id = ClientId::parse("abc").unwrap();
        assert_eq!(serde_json::to_value(&id).unwrap(), serde_json::json!("abc"));
    }
}
