//! The metadata of SAML identity providers configured by URL (`idp_metadata_url`): fetched
//! under the outbound policy, kept for [`REFRESH_SECS`], and fetched again early when a
//! Response fails its signature check (the IdP may have rolled its signing key), at most once
//! per `outbound.jwks_refetch_interval_secs` for one URL, so that Responses signed by unknown
//! keys cannot make us call the IdP on every post.

use crate::error::{OAuthError, OAuthResult};
use crate::protocol::Ctx;
use parking_lot::Mutex;
use std::collections::HashMap;

/// How long fetched metadata is used before it is fetched again (seconds).
pub const REFRESH_SECS: i64 = 3600;
/// The most IdP metadata read from a URL.
pub const MAX_METADATA_BYTES: usize = 256 * 1024;

#[derive(Default)]
pub struct MetadataCache {
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    xml: String,
    fetched_at: i64,
    /// When a fetch was last forced by a signature the metadata's keys could not verify.
    forced_at: Option<i64>,
}

impl MetadataCache {
    /// The metadata at `url`: the copy fetched within [`REFRESH_SECS`], else fetched now; if
    /// that fetch fails, the copy held goes on serving (logged) until a fetch succeeds.
    pub async fn get(&self, cx: &Ctx<'_>, url: &str) -> OAuthResult<String> {
        let held = self
            .entries
            .lock()
            .get(url)
            .map(|e| (e.xml.clone(), e.fetched_at));
        if let Some((xml, fetched_at)) = &held {
            if cx.now - fetched_at < REFRESH_SECS {
                return Ok(xml.clone());
            }
        }
        match fetch(cx, url).await {
            Ok(xml) => {
                self.store(url, &xml, cx.now, false);
                Ok(xml)
            }
            Err(e) => match held {
                Some((xml, _)) => {
                    tracing::warn!(%url, error = %e, "IdP metadata refresh failed; using the copy held");
                    Ok(xml)
                }
                None => Err(e),
            },
        }
    }

    /// Fetches `url` again after a signature failure, unless it was so fetched within the
    /// interval: the metadata if it changed (a key to try), `None` otherwise.
    pub async fn refetch_changed(&self, cx: &Ctx<'_>, url: &str) -> OAuthResult<Option<String>> {
        let interval =
            i64::try_from(cx.config.outbound.jwks_refetch_interval_secs).unwrap_or(i64::MAX);
        let held = {
            let entries = self.entries.lock();
            let entry = entries.get(url);
            if entry
                .and_then(|e| e.forced_at)
                .is_some_and(|t| cx.now - t < interval)
            {
                return Ok(None);
            }
            entry.map(|e| e.xml.clone())
        };
        let xml = fetch(cx, url).await?;
        self.store(url, &xml, cx.now, true);
        Ok((held.as_deref() != Some(xml.as_str())).then_some(xml))
    }

    fn store(&self, url: &str, xml: &str, now: i64, forced: bool) {
        let mut entries = self.entries.lock();
        let forced_at = match entries.get(url) {
            _ if forced => Some(now),
            Some(e) => e.forced_at,
            None => None,
        };
        entries.insert(
            url.to_string(),
            Entry {
                xml: xml.to_string(),
                fetched_at: now,
                forced_at,
            },
        );
    }
}

/// GET `url` under the outbound policy (its address checked where it is connected to, the
/// web PKI plus `outbound.ca_file`), capped at [`MAX_METADATA_BYTES`].
async fn fetch(cx: &Ctx<'_>, url: &str) -> OAuthResult<String> {
    let url = cx
        .config
        .outbound
        .check_uri(url)
        .map_err(|e| OAuthError::server(format!("IdP metadata URL refused: {e}")))?;
    let res = cx
        .request_uri_http
        .get(url)
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| OAuthError::server(format!("fetching IdP metadata: {e}")))?;
    let bytes = crate::outbound::read_capped(res, MAX_METADATA_BYTES)
        .await
        .map_err(OAuthError::server)?;
    String::from_utf8(bytes).map_err(OAuthError::server)
}
