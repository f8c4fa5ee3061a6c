//! Enabled clients by id, kept for a moment so the authorization, interaction, token,
//! introspection and PAR endpoints do not read and parse a client's metadata on every request.
//! Changes made by this node clear the cache at once; changes made elsewhere (another node, the
//! CLI) are seen within `TTL`.

use crate::error::OAuthResult;
use crate::protocol::Ctx;
use crate::types::Client;
use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(2);
/// Bounds memory if many distinct clients authenticate within one TTL.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct ClientCache {
    entries: RwLock<HashMap<String, (Instant, Arc<Client>)>>,
    /// Bumped by every `clear`, so a lookup that read the store before a change cannot put
    /// the old client back afterwards.
    generation: AtomicU64,
}

impl ClientCache {
    /// Forgets everything: call after any change to a client.
    pub fn clear(&self) {
        let mut entries = self.entries.write();
        self.generation.fetch_add(1, Ordering::SeqCst);
        entries.clear();
    }

    fn fresh(&self, id: &str) -> Option<Arc<Client>> {
        self.entries
            .read()
            .get(id)
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, c)| c.clone())
    }
}

/// An enabled client, from the cache when fresh. Unknown ids are never cached.
pub async fn client(cx: &Ctx<'_>, id: &str) -> OAuthResult<Option<Arc<Client>>> {
    if let Some(c) = cx.client_cache.fresh(id) {
        return Ok(Some(c));
    }
    let generation = cx.client_cache.generation.load(Ordering::SeqCst);
    let key = id.to_string();
    let Some(found) = cx.store.read(move |tx| tx.clients().get(&key)).await? else {
        return Ok(None);
    };
    let found = Arc::new(found);
    let mut entries = cx.client_cache.entries.write();
    if cx.client_cache.generation.load(Ordering::SeqCst) != generation {
        return Ok(Some(found));
    }
    if entries.len() >= MAX_ENTRIES {
        entries.retain(|_, (at, _)| at.elapsed() < TTL);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
    }
    entries.insert(id.to_string(), (Instant::now(), found.clone()));
    Ok(Some(found))
}
