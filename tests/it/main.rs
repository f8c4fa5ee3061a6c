//! Integration tests: each starts the real provider on an ephemeral port with a temporary
//! SQLite file and real TLS, and talks to it over HTTPS.

mod harness;
mod keys;

mod admin;
mod authorize;
mod banks;
mod cli;
mod error_text;
mod fapi_client_auth;
mod fapi_dpop;
mod fapi_jar;
mod fapi_mtls;
mod fapi_par;
mod fapi_profiles;
mod fapi_response;
mod interop_node;
mod interop_rust;
mod key_rotation;
mod login_throttle;
mod openapi;
mod ops;
mod partner;
mod plugin_host;
mod registration;
mod rfc_points;
mod tls;
mod token;
mod upstream_bank;
mod userinfo;
mod webhooks;
