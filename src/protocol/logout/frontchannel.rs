//! OpenID Front-Channel Logout 1.0: the logged-out page loads each participating client's
//! `frontchannel_logout_uri` in an iframe (§2), with `iss` and `sid` when the client asked for
//! them (`frontchannel_logout_session_required`, §3). The page's CSP allows exactly the
//! origins of those frames.

use super::Participant;
use crate::error::OAuthResult;
use crate::protocol::Ctx;

/// The iframes of the logged-out page.
#[derive(Debug, Clone, Default)]
pub struct Frames {
    pub urls: Vec<String>,
    /// Their origins, each once: the page's `frame-src`.
    pub origins: Vec<String>,
}

pub async fn frames(cx: &Ctx<'_>, participants: &[Participant]) -> OAuthResult<Frames> {
    let mut frames = Frames::default();
    for p in participants {
        let Some(client) = crate::protocol::client_cache::client(cx, &p.client_id).await? else {
            continue;
        };
        let Some(mut url) = client
            .metadata
            .frontchannel_logout_uri
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
        else {
            continue;
        };
        if client.metadata.frontchannel_logout_session_required {
            if let Some(sid) = &p.sid {
                url.query_pairs_mut()
                    .append_pair("iss", &cx.issuer)
                    .append_pair("sid", sid);
            }
        }
        let origin = url.origin().ascii_serialization();
        if !frames.origins.contains(&origin) {
            frames.origins.push(origin);
        }
        if !frames.urls.contains(&url.to_string()) {
            frames.urls.push(url.to_string());
        }
    }
    Ok(frames)
}
