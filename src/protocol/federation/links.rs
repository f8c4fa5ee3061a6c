//! The user's own linked identities, on the account page: listed, and unlinked one at a time,
//! but never the last way left to sign in (that would lock the account out for good).

use crate::error::{OAuthError, OAuthResult};
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::federation::LinkedIdentity;

/// A linked identity as the account page shows it.
pub struct LinkedEntry {
    /// Names the link in the unlink form without showing the upstream subject.
    pub id: String,
    /// The provider's display name (its id when it is no longer configured).
    pub provider: String,
    pub linked_at: i64,
}

/// What an unlink did.
pub enum Unlinked {
    Done,
    /// Refused: the identity is the user's only way to sign in; nothing changed.
    LastSignInMethod {
        provider: String,
    },
}

/// The form's id of a link: a digest, so the page carries no upstream identifier. Provider ids
/// cannot contain `:`, so the pair is unambiguous.
fn link_id(link: &LinkedIdentity) -> String {
    secrets::digest(&format!("{}:{}", link.provider, link.subject))
}

fn provider_name(cx: &Ctx<'_>, id: &str) -> String {
    cx.config
        .federation
        .provider(id)
        .map_or_else(|| id.to_string(), |p| p.name.clone())
}

/// The page's entries for the user's links.
pub fn entries(cx: &Ctx<'_>, links: &[LinkedIdentity]) -> Vec<LinkedEntry> {
    links
        .iter()
        .map(|l| LinkedEntry {
            id: link_id(l),
            provider: provider_name(cx, &l.provider),
            linked_at: l.created_at,
        })
        .collect()
}

/// Removes the user's link named `id`, in one transaction that first locks the user, so two
/// unlinks at once cannot both pass the last-method check. Refused when the user has no
/// password and no other link to a configured provider; not found (nothing changed) when the
/// link is not this user's.
pub async fn unlink(cx: &Ctx<'_>, user_id: &str, id: &str) -> OAuthResult<Unlinked> {
    let configured: Vec<String> = cx
        .config
        .federation
        .providers
        .iter()
        .map(|p| p.id.clone())
        .collect();
    let (uid, id) = (user_id.to_string(), id.to_string());
    let outcome = cx
        .store
        .write(move |tx| {
            let Some(user) = tx.users().get_locked(&uid)? else {
                return Ok(None);
            };
            let links = tx.federation().links_of(&uid)?;
            let Some(target) = links.iter().find(|l| link_id(l) == id) else {
                return Ok(None);
            };
            let has_password = user.username.is_some() && user.password_hash.is_some();
            let other_link = links
                .iter()
                .any(|l| l != target && configured.contains(&l.provider));
            if !has_password && !other_link {
                return Ok(Some((target.provider.clone(), false)));
            }
            tx.federation()
                .unlink(&target.provider, &target.subject, &uid)?;
            Ok(Some((target.provider.clone(), true)))
        })
        .await?;
    match outcome {
        None => Err(OAuthError::not_found("no such linked identity")),
        Some((provider, true)) => {
            tracing::info!(%provider, user = %user_id, "user unlinked a federated identity");
            Ok(Unlinked::Done)
        }
        Some((provider, false)) => {
            tracing::info!(%provider, user = %user_id, "unlink refused: the last way to sign in");
            Ok(Unlinked::LastSignInMethod {
                provider: provider_name(cx, &provider),
            })
        }
    }
}
