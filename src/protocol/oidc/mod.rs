//! OpenID Connect Core: scopes and their claims, the `claims` request parameter, user
//! claims, subject identifiers (public and pairwise), the authorization response modes and
//! response types, and the discovery document.

pub mod claims;
pub mod discovery;
pub mod response;
pub mod response_types;
pub mod scope_policy;
pub mod scopes;
pub mod subject;
pub mod user_claims;
