//! The running provider, handed to every handler: the protocol layer's [`Services`], the
//! clock (injectable, so tests can move a running server's time) and the discovery document.
//! Handlers call protocol operations with [`Provider::ctx`].

use crate::clock::Clock;
use crate::protocol::{Ctx, Services};
use arc_swap::ArcSwap;

pub struct Provider {
    pub services: Services,
    pub clock: Clock,
    /// The discovery document, serialised once.
    pub discovery: ArcSwap<String>,
}

impl Provider {
    /// The context for one request, reading the clock once.
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx::new(&self.services, self.clock.now())
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

impl std::ops::Deref for Provider {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}
