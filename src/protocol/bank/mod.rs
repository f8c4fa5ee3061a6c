//! The bank-connection journey: what an authorization request asks of the bank side
//! ([`request`]), the journey through the institution's script and its own server
//! ([`journey`], [`upstream`]), the progress kept with the interaction ([`progress`]), and the
//! connection it ends in ([`connection`]).
//!
//! Dependencies point one way: `journey` uses the others and the authorization modules
//! (`authorize`, `interaction::live`); nothing here is imported back by them except
//! `request` (the request type names a [`BankRequest`]) and `progress`.

pub mod connection;
pub mod journey;
pub mod progress;
pub mod request;
pub mod upstream;

pub use request::{BankRequest, CONNECTION_CLAIM};
