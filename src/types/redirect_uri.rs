use super::uri_text::{check_uri_text, printable};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A registered redirection endpoint, checked once when parsed: RFC 3986 text, an absolute
/// URI without a fragment (RFC 6749 §3.1.2); https anywhere, http only on loopback, and
/// private-use schemes for native apps as reverse domain names (RFC 8252 §7.1). Serialises as
/// the plain string it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RedirectUri(String);

impl RedirectUri {
    /// The error is the `invalid_redirect_uri` description (RFC 7591 §3.2.2).
    pub fn parse(uri: &str) -> Result<RedirectUri, String> {
        let bad = |why: &str| format!("redirect_uri {}: {why}", printable(uri));
        check_uri_text(uri).map_err(|why| bad(&why))?;
        let url = url::Url::parse(uri).map_err(|_| bad("not an absolute URI"))?;
        if url.fragment().is_some() {
            return Err(bad("must not contain a fragment"));
        }
        match url.scheme() {
            "https" => {}
            "http" => match url.host_str() {
                Some("localhost" | "127.0.0.1" | "[::1]") => {}
                _ => return Err(bad("http is only allowed for loopback addresses")),
            },
            "javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "ftp" | "ws"
            | "wss" => return Err(bad("scheme not allowed")),
            s if s.contains('.') => {}
            _ => {
                return Err(bad(
                    "private-use schemes must be reverse domain names (RFC 8252 section 7.1)",
                ))
            }
        }
        Ok(RedirectUri(uri.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// RFC 9700 §4.1.3 (and OIDC Core §3.1.2.1): a request's `redirect_uri` must be this one,
    /// compared as strings, with no normalisation.
    pub fn matches_exactly(&self, requested: &str) -> bool {
        self.0 == requested
    }

    /// The host, lower-cased (the sector of a pairwise client, OIDC Core §8.1).
    pub fn host(&self) -> Option<String> {
        url::Url::parse(&self.0)
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    }
}

impl TryFrom<String> for RedirectUri {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        RedirectUri::parse(&s)
    }
}

impl From<RedirectUri> for String {
    fn from(u: RedirectUri) -> String {
        u.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_redirect_uris_parse() {
        for ok in [
            "https://app.example/cb",
            "https://app.example/cb?x=1",
            "http://localhost:3000/cb",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "com.example.app:/cb",
        ] {
            assert_eq!(RedirectUri::parse(ok).unwrap().as_str(), ok);
        }
    }

    /// RFC 6749 §3.1.2, RFC 8252 §7.1, RFC 3986 §2: the refusals and their texts, as
    /// registration answers them in `invalid_redirect_uri`.
    #[test]
    fn bad_redirect_uris_are_refused_with_the_registration_text() {
        for (bad, text) in [
            ("/cb", "redirect_uri /cb: not an absolute URI"),
            (
                "https://app.example/cb#frag",
                "redirect_uri https://app.example/cb#frag: must not contain a fragment",
            ),
            (
                "http://app.example/cb",
                "redirect_uri http://app.example/cb: http is only allowed for loopback addresses",
            ),
            (
                "javascript:alert(1)",
                "redirect_uri javascript:alert(1): scheme not allowed",
            ),
            (
                "myapp:/cb",
                "redirect_uri myapp:/cb: private-use schemes must be reverse domain names (RFC 8252 section 7.1)",
            ),
            (
                "https://app.example/a b",
                "redirect_uri https://app.example/a b: contains a character a URI cannot hold (U+0020; RFC 3986 section 2)",
            ),
            (
                "https://app.example/%zz",
                "redirect_uri https://app.example/%zz: has a % that does not start a percent-encoding",
            ),
        ] {
            assert_eq!(RedirectUri::parse(bad).unwrap_err(), text, "{bad}");
        }
    }

    #[test]
    fn comparison_is_exact_and_serde_keeps_the_string() {
        let uri = RedirectUri::parse("https://app.example/cb").unwrap();
        assert!(uri.matches_exactly("https://app.example/cb"));
        for near in [
            "https://app.example/cb/",
            "https://APP.example/cb",
            "https://app.example/cb?x",
            "https://app.example:443/cb",
        ] {
            assert!(!uri.matches_exactly(near), "{near}");
        }
        let json = serde_json::to_value(&uri).unwrap();
        assert_eq!(json, "https://app.example/cb");
        assert_eq!(serde_json::from_value::<RedirectUri>(json).unwrap(), uri);
        assert!(serde_json::from_value::<RedirectUri>("http://evil.example/".into()).is_err());
    }
}
