//! The bank-connection journey: what an authorization request asks of the bank side
//! ([`request`]), the journey through the institution's script and its own server
//! ([`journey`], [`upstream`]), the progress kept with the interaction ([`progress`]), and the
//! connection it ends in ([`connection`]), whose institution tokens partners may be handed
//! ([`handout`]).
//!
//! Dependencies point one way: `journey` uses the other files here and the authorization
//! modules (`authorize::{decision, issue, refusal}`, `interaction::live`). Those use only
//! `request` (the [`BankRequest`] an authorization request carries) and `progress` (kept with
//! an interaction); the interaction flow calls into `journey`, and nothing calls back.

pub mod connection;
pub mod handout;
pub mod journey;
pub mod progress;
pub mod request;
pub mod upstream;

pub use request::CONNECTION_CLAIM;
