//! Small types shared across layers.

mod client;
mod scope;
mod secret;

pub use client::{Client, ClientMetadata};
pub use scope::ScopeSet;
pub use secret::Secret;
