//! Integration tests: each starts the real provider on an ephemeral port with a temporary
//! SQLite file and real TLS, and talks to it over HTTPS.

mod harness;
mod keys;

mod admin;
mod authorize;
mod banks;
mod cli;
mod client_admin_fixes;
mod conformance_runner;
mod crash_grants;
mod error_text;
mod fapi1_request_object;
mod fapi_client_auth;
mod fapi_dpop;
mod fapi_jar;
mod fapi_mtls;
mod fapi_par;
mod fapi_profiles;
mod fapi_response;
mod grant_ownership;
mod interop_node;
mod interop_rust;
mod jws_kid;
mod key_rotation;
mod login_throttle;
mod openapi;
mod ops;
mod outbound_policy;
mod partner;
mod plugin_host;
mod refresh_retry;
mod registration;
mod registration_validation;
mod resilience;
mod rfc_points;
mod shutdown;
mod spawned;
mod tls;
mod token;
mod upstream_bank;
mod user_claims;
mod userinfo;
mod webhook_lease;
mod webhooks;
