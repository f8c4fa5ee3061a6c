//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2), one file per job:
//!
//! - [`request`]: the validated request, as kept with an interaction or a pushed request;
//! - [`validate`]: how a request arrives (plain, request object, PAR) and is read;
//! - [`checks`]: the rules every request must pass, as ordered lists of named checks;
//! - [`decision`]: whether the user must log in or consent;
//! - [`issue`]: the code and tokens, written with what the authorization completes;
//! - [`refusal`]: where errors go (an error page, or the client's redirect_uri).

pub mod checks;
pub mod decision;
pub mod issue;
pub mod refusal;
pub mod request;
pub mod validate;

pub use refusal::Refusal;
pub use request::PAR_URN_PREFIX;
pub use validate::{validate, validate_device, validate_pushed};
