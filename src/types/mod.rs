//! Small types shared across layers.

mod auth_method;
mod client;
mod client_id;
mod fapi_profile;
mod redirect_uri;
mod scope;
mod secret;
mod subject_type;
pub mod uri_text;

pub use auth_method::AuthMethod;
pub use client::{Client, ClientMetadata, CIBA_GRANT};
pub use client_id::ClientId;
pub use fapi_profile::FapiProfile;
pub use redirect_uri::RedirectUri;
pub use scope::ScopeSet;
pub use secret::Secret;
pub use subject_type::SubjectType;
