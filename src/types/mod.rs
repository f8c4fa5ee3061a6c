//! Small types shared across layers.

mod auth_method;
mod client;
mod fapi_profile;
mod scope;
mod secret;

pub use auth_method::AuthMethod;
pub use client::{Client, ClientMetadata};
pub use fapi_profile::FapiProfile;
pub use scope::ScopeSet;
pub use secret::Secret;
