//! Request objects passed by reference (OIDC Core §6.2, RFC 9101 §5.2): the client names an
//! https URL it registered in `request_uris`; we fetch the object from there under the one
//! outbound policy (public addresses only, no redirects, time and size limits) and then treat
//! it exactly as a `request` passed by value.

use crate::error::{ErrorCode, OAuthError, OAuthResult};
use crate::protocol::Ctx;
use crate::types::Client;
use std::time::Duration;

/// Time allowed for the whole fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request object we read; a signed request is a few kilobytes.
pub const MAX_OBJECT_BYTES: usize = 32 * 1024;
/// OIDC Core §6.2: "The entire Request URI MUST NOT exceed 512 ASCII characters."
const MAX_URI_CHARS: usize = 512;

fn invalid_uri(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestUri, 400, description)
}

/// The URI without its fragment: OIDC Core §6.2 lets the client add (and change) a fragment
/// carrying the hash of the content, so registered and used URIs are compared without it.
fn without_fragment(uri: &str) -> &str {
    uri.split_once('#').map_or(uri, |(base, _)| base)
}

/// Whether `uri` is one of the client's `request_uris` (Registration §2; we advertise
/// `require_request_uri_registration`): an exact match once fragments are set aside.
pub fn is_registered(client: &Client, uri: &str) -> bool {
    let wanted = without_fragment(uri);
    client
        .metadata
        .extra
        .get("request_uris")
        .and_then(|v| v.as_array())
        .is_some_and(|list| {
            list.iter()
                .filter_map(|r| r.as_str())
                .any(|r| without_fragment(r) == wanted)
        })
}

/// The request object at `uri`, for `client`. Unregistered or unreachable URIs, and answers
/// that are not a successful, reasonably small body, are `invalid_request_uri`
/// (RFC 9101 §7, OIDC Core §6.4); the content itself is judged by the caller.
pub async fn fetch(cx: &Ctx<'_>, client: &Client, uri: &str) -> OAuthResult<String> {
    if uri.len() > MAX_URI_CHARS {
        return Err(invalid_uri(
            "request_uri is longer than 512 characters (OIDC Core section 6.2)",
        ));
    }
    if !is_registered(client, uri) {
        return Err(invalid_uri(
            "request_uri is not one of the client's registered request_uris (OIDC Registration section 2)",
        ));
    }
    let unreachable = |detail: String| {
        invalid_uri("the request object could not be fetched from request_uri").with_detail(detail)
    };
    let url = cx
        .config
        .outbound
        .check_uri(without_fragment(uri))
        .map_err(|why| unreachable(format!("{uri}: {why}")))?;
    let res = cx
        .request_uri_http
        .get(url)
        .send()
        .await
        .map_err(|e| unreachable(e.to_string()))?;
    if !res.status().is_success() {
        return Err(unreachable(format!("{uri} answered {}", res.status())));
    }
    let body = crate::outbound::read_capped(res, MAX_OBJECT_BYTES)
        .await
        .map_err(|e| unreachable(format!("{uri}: {e}")))?;
    let text = String::from_utf8(body).map_err(|_| {
        OAuthError::new(
            ErrorCode::InvalidRequestObject,
            400,
            "request object: the document at request_uri is not text",
        )
    })?;
    Ok(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_are_set_aside_when_matching() {
        assert_eq!(
            without_fragment("https://rp.test/r#abc"),
            "https://rp.test/r"
        );
        assert_eq!(without_fragment("https://rp.test/r"), "https://rp.test/r");
    }
}
