//! Pure OAuth 2 / OpenID Connect logic. Handlers call in here with a [`Ctx`]; this module
//! never sees HTTP types or the wiring layer, and takes `now` from the context.

pub mod admin;
pub mod authorize;
pub mod bank;
pub mod claims;
pub mod client_auth;
pub mod client_cache;
pub mod client_keys;
pub mod clients;
pub mod context;
pub mod discovery;
pub mod dpop;
pub mod fapi;
pub mod gateway;
pub mod grants;
pub mod interaction;
pub mod introspection;
pub mod jwks_fetch;
pub mod key_retention;
pub mod login;
pub mod par;
pub mod params;
pub mod partner;
pub mod password_pool;
pub mod pkce;
pub mod request_object;
pub mod request_uri;
pub mod resource;
pub mod response;
pub mod response_types;
pub mod revocation;
pub mod scope_policy;
pub mod scopes;
pub mod subject;
pub mod tokens;
pub mod user_claims;
pub mod userinfo;

pub use context::{Ctx, Services};
