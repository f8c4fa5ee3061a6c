//! Client management, one service for every caller: dynamic registration and its RFC 7592
//! management, the admin API and the CLI.
//!
//! - `metadata`: the metadata rules (RFC 7591 §2, OIDC Registration §2);
//! - `rules`: pure decisions (server-owned members, what a dynamic client may set, secret
//!   bookkeeping);
//! - `service`: the operations, which store the result and clear the client cache;
//! - `views`: how a client reads back (registration response, admin view).

pub mod metadata;
pub mod rules;
pub mod service;
pub mod views;

pub use rules::{new_client, NewClient, Registrar};
pub use service::{ClientService, Saved, Webhook};

#[cfg(test)]
mod tests;
