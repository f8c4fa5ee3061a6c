//! Pure OAuth 2 / OpenID Connect logic. Handlers call in here with a [`Ctx`]; this module
//! never sees HTTP types or the wiring layer, and takes `now` from the context.

pub mod account;
pub mod authorize;
pub mod bank;
pub mod budget;
pub mod ciba;
pub mod client_auth;
pub mod client_cache;
pub mod client_keys;
pub mod clients;
pub mod context;
pub mod device;
pub mod fapi;
pub mod federation;
pub mod interaction;
pub mod jwks_fetch;
pub mod key_retention;
pub mod login;
pub mod logout;
pub mod oidc;
pub mod page_csrf;
pub mod params;
pub mod partner_api;
pub mod password_pool;
pub mod pkce;
pub mod tokens;
pub mod upstream_oidc;

pub use context::{Ctx, Services};
