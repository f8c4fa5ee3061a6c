//! The FAPI 2.0 plans: `fapi2-security-profile-final-test-plan` (FAPI2SPFinalTestPlan) and
//! `fapi2-message-signing-final-test-plan` (FAPI2MessageSigningFinalTestPlan), plain_fapi.
//!
//! The shared flow is AbstractFAPI2SPFinalServerTestModule: configure (discovery, server keys,
//! static client), the authorization request (state, nonce with openid, PKCE S256, JARM's
//! response_mode), pushed to the PAR endpoint (signed as a request object with
//! signed_non_repudiation), the redirect with the request_uri, the callback checks, the token
//! endpoint with the client's authentication and the sender constraint (a DPoP proof, or the
//! client certificate), the token response checks, then a resource request with the token.

use crate::browser::{self, Landing, Resp, Visit};
use crate::dpop::{self, DpopKey};
use crate::jose;
use crate::log::{Check, Flow, Stop};
use crate::modules::{
    check_server_jwks, fetch_server_keys, get_dynamic_server_configuration, id_token_checks,
    json_array_strings, now, Ctx, IdToken,
};
use crate::report::Outcome::{Failure, Info, Warning};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use url::Url;

mod callback;
mod claims;
mod client_auth;
mod configure;
mod discovery;
mod dpop_modules;
mod errors;
mod flow;
mod happy_flow;
mod par;
mod par_modules;
mod refresh;
mod request;
mod request_object;
mod request_shape;
mod resource;
mod shared;
mod token;
mod token_modules;
mod user_rejects;

use callback::*;
use claims::*;
use client_auth::*;
use configure::*;
use discovery::*;
use dpop_modules::*;
use errors::*;
use flow::*;
use happy_flow::*;
use par::*;
use par_modules::*;
use refresh::*;
use request::*;
use request_object::*;
use request_shape::*;
use resource::*;
use shared::*;
use token::*;
use token_modules::*;
use user_rejects::*;

/// When a module applies to a variant (the module's @VariantNotApplicable).
#[derive(Clone, Copy)]
enum Only {
    All,
    OpenId,
    Dpop,
    PrivateKeyJwt,
    Signed,
}

/// The modules of FAPI2MessageSigningFinalTestPlan.testModules as run for plain_fapi, in the
/// suite's order; FAPI2SPFinalTestPlan runs the same list less the request-object modules.
/// Left out: the modules for other profiles (OBUK, Brazil, ConnectID, CBUAE),
/// `fapi2-security-profile-final-ensure-registered-redirect-uri` (not applicable to
/// plain_fapi).
const MODULES: &[(&str, Only, bool)] = &[
    // (module, applies to, needs a signed request: dropped from the Security Profile plan)
    ("fapi2-security-profile-final-discovery-end-point-verification", Only::All, false),
    ("fapi2-security-profile-final-happy-flow", Only::All, false),
    ("fapi2-security-profile-final-user-rejects-authentication", Only::All, false),
    ("fapi2-security-profile-final-ensure-request-object-with-multiple-aud-succeeds", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-authorization-request-without-state-success", Only::All, false),
    ("fapi2-security-profile-final-ensure-authorization-request-without-nonce-success", Only::OpenId, false),
    ("fapi2-security-profile-final-ensure-authorization-request-with-64-char-nonce-success", Only::OpenId, false),
    ("fapi2-security-profile-final-ensure-other-scope-order-succeeds", Only::OpenId, false),
    ("fapi2-security-profile-final-test-claims-parameter-identity-claims", Only::OpenId, false),
    ("fapi2-security-profile-final-access-token-type-header-case-sensitivity", Only::All, false),
    ("fapi2-security-profile-final-ensure-request-object-with-nbf-8-seconds-in-the-future-is-accepted", Only::Signed, true),
    ("fapi2-security-profile-final-check-dpop-proof-nbf-exp", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-before-succeeds", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-after-succeeds", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-mismatched-dpop-jkt-fails", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-proof-jkt", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-jkt", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-dpopproof-at-par-endpoint-binding-success", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-dpop-auth-code-binding-success", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-different-nonce-inside-and-outside-request-object", Only::OpenId, false),
    ("fapi2-security-profile-final-ensure-different-state-inside-and-outside-request-object", Only::All, false),
    ("fapi2-security-profile-final-ensure-authorization-request-with-long-nonce", Only::OpenId, false),
    ("fapi2-security-profile-final-ensure-authorization-request-with-long-state", Only::All, false),
    ("fapi2-security-profile-final-ensure-request-object-without-exp-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-request-object-without-nbf-fails", Only::Signed, true),
    ("fapi2-security-profile-final-state-only-outside-request-object-not-used", Only::All, false),
    ("fapi2-security-profile-final-ensure-request-object-without-redirect-uri-fails", Only::All, false),
    ("fapi2-security-profile-final-ensure-expired-request-object-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-request-object-with-bad-aud-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-request-object-with-exp-over-60-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-request-object-with-nbf-over-60-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-signed-request-object-with-RS256-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-request-object-signature-algorithm-is-not-none", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-request-object-with-invalid-signature-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-matching-key-in-authorization-request", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-unsigned-request-at-par-endpoint-fails", Only::Signed, true),
    ("fapi2-security-profile-final-plain-fapi-tolerate-unregistered-redirect-uri", Only::All, false),
    ("fapi2-security-profile-final-ensure-unsigned-authorization-request-without-using-par-fails", Only::All, false),
    ("fapi2-security-profile-final-ensure-redirect-uri-in-authorization-request", Only::All, false),
    ("fapi2-security-profile-final-ensure-response-type-code-idtoken-fails", Only::All, false),
    ("fapi2-security-profile-final-ensure-response-type-token-fails", Only::All, false),
    ("fapi2-security-profile-final-ensure-client-id-in-token-endpoint", Only::All, false),
    ("fapi2-security-profile-final-ensure-holder-of-key-required", Only::All, false),
    ("fapi2-security-profile-final-ensure-authorization-code-is-bound-to-client", Only::All, false),
    ("fapi2-security-profile-final-attempt-reuse-authorization-code-after-one-second", Only::All, false),
    ("fapi2-security-profile-final-ensure-token-endpoint-fails-with-expired-auth-code", Only::All, false),
    ("fapi2-security-profile-final-ensure-signed-client-assertion-with-RS256-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-ensure-client-assertion-in-token-endpoint", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-ensure-client-assertion-with-exp-is-5-minutes-in-past-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-ensure-client-assertion-with-wrong-aud-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-ensure-client-assertion-with-no-sub-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-dpop-negative-tests", Only::Dpop, false),
    ("fapi2-security-profile-final-refresh-token", Only::All, false),
    ("fapi2-security-profile-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds", Only::All, false),
    ("fapi2-security-profile-final-par-attempt-reuse-request_uri", Only::All, false),
    ("fapi2-security-profile-final-par-attempt-to-use-expired-request_uri", Only::All, false),
    ("fapi2-security-profile-final-par-ensure-jwt-client-assertions-nbf-8-seconds-in-the-future-is-accepted", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-par-ensure-jwt-client-assertions-nbf-over-60-seconds-in-the-future-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-par-attempt-to-use-request_uri-for-different-client", Only::All, false),
    ("fapi2-security-profile-final-par-authorization-request-containing-request_uri-form-param", Only::All, false),
    ("fapi2-security-profile-final-par-attempt-invalid-http-method", Only::All, false),
    ("fapi2-security-profile-final-par-ensure-pkce-required", Only::All, false),
    ("fapi2-security-profile-final-ensure-pkce-code-verifier-required", Only::All, false),
    ("fapi2-security-profile-final-incorrect-pkce-code-verifier-rejected", Only::All, false),
    ("fapi2-security-profile-final-par-plain-pkce-rejected", Only::All, false),
    ("fapi2-security-profile-final-par-authorization-request-containing-request_uri", Only::Signed, true),
    ("fapi2-security-profile-final-par-without-duplicate-parameters", Only::All, false),
    ("fapi2-security-profile-final-par-test-array-as-audience-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-par-test-par-endpoint-url-as-audience-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-par-test-token-endpoint-url-as-audience-fails", Only::PrivateKeyJwt, false),
];

/// Modules that mostly wait (for a code or a request_uri to expire): scheduled first.
pub const WAITING: &[&str] = &[
    "fapi2-security-profile-final-ensure-token-endpoint-fails-with-expired-auth-code",
    "fapi2-security-profile-final-par-attempt-to-use-expired-request_uri",
];

/// The configured client of a variant (`<role>_2` is its second client). JARM is asked for
/// per request (response_mode=jwt), so the same clients serve both response modes; the
/// Message Signing plan's clients register `require_signed_request_object`.
fn role(auth: &str, sender: &str, signed: bool) -> &'static str {
    match (auth, sender, signed) {
        ("private_key_jwt", "dpop", false) => "fapi2_private_key_jwt_dpop",
        ("private_key_jwt", "mtls", false) => "fapi2_private_key_jwt_mtls",
        ("mtls", "dpop", false) => "fapi2_mtls_dpop",
        ("mtls", "mtls", false) => "fapi2_mtls_mtls",
        ("private_key_jwt", "dpop", true) => "fapi2_signed_private_key_jwt_dpop",
        ("private_key_jwt", "mtls", true) => "fapi2_signed_private_key_jwt_mtls",
        ("mtls", "dpop", true) => "fapi2_signed_mtls_dpop",
        _ => "fapi2_signed_mtls_mtls",
    }
}

fn entries(
    auth: &'static str,
    sender: &'static str,
    openid: &'static str,
    request_method: &'static str,
    response_mode: &'static str,
) -> Vec<crate::plans::Entry> {
    let signed = request_method == "signed_non_repudiation";
    MODULES
        .iter()
        .filter(|(_, only, needs_signing)| {
            (signed || !needs_signing)
                && match only {
                    Only::All => true,
                    Only::OpenId => openid == "openid_connect",
                    Only::Dpop => sender == "dpop",
                    Only::PrivateKeyJwt => auth == "private_key_jwt",
                    Only::Signed => signed,
                }
        })
        .map(|(module, _, _)| crate::plans::Entry {
            module,
            auth: if auth == "mtls" {
                crate::modules::ClientAuth::Mtls
            } else {
                crate::modules::ClientAuth::PrivateKeyJwt
            },
            response_type: "code",
            response_mode: "default",
            client_role: Some(role(auth, sender, signed)),
            variant: vec![
                ("fapi_profile", "plain_fapi"),
                ("client_auth_type", auth),
                ("sender_constrain", sender),
                ("openid", openid),
                ("fapi_request_method", request_method),
                ("fapi_response_mode", response_mode),
            ],
        })
        .collect()
}

/// fapi2-security-profile-final-test-plan: private_key_jwt and mtls × dpop and mtls ×
/// openid_connect and plain_oauth, unsigned requests, plain responses.
pub fn security_profile_plan() -> crate::plans::Plan {
    let mut out = Vec::new();
    // plain_oauth: no openid scope, no ID token; the resource is a gateway route (run.sh).
    for openid in ["openid_connect", "plain_oauth"] {
        for auth in ["private_key_jwt", "mtls"] {
            for sender in ["dpop", "mtls"] {
                out.extend(entries(auth, sender, openid, "unsigned", "plain_response"));
            }
        }
    }
    crate::plans::Plan {
        name: "fapi2-security-profile-final-test-plan",
        entries: out,
    }
}

/// fapi2-message-signing-final-test-plan: private_key_jwt and mtls × dpop and mtls ×
/// openid_connect and plain_oauth, signed requests, plain and JARM responses.
pub fn message_signing_plan() -> crate::plans::Plan {
    let mut out = Vec::new();
    for openid in ["openid_connect", "plain_oauth"] {
        for response_mode in ["plain_response", "jarm"] {
            for auth in ["private_key_jwt", "mtls"] {
                for sender in ["dpop", "mtls"] {
                    out.extend(entries(
                        auth,
                        sender,
                        openid,
                        "signed_non_repudiation",
                        response_mode,
                    ));
                }
            }
        }
    }
    crate::plans::Plan {
        name: "fapi2-message-signing-final-test-plan",
        entries: out,
    }
}

type ModuleFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Flow> + Send + 'a>>;

/// The FAPI 2 modules by name.
pub fn dispatch<'a, 'b: 'a>(name: &str, ctx: &'a mut Ctx<'b>) -> Option<ModuleFuture<'a>> {
    const P: &str = "fapi2-security-profile-final-";
    let short = name.strip_prefix(P)?;
    Some(match short {
        "discovery-end-point-verification" => Box::pin(discovery_end_point_verification(ctx)),
        "happy-flow" => Box::pin(happy_flow(ctx)),
        "user-rejects-authentication" => Box::pin(user_rejects_authentication(ctx)),
        "test-claims-parameter-identity-claims" => {
            Box::pin(test_claims_parameter_identity_claims(ctx))
        }
        "ensure-request-object-with-multiple-aud-succeeds" => {
            Box::pin(request_object_with_multiple_aud_succeeds(ctx))
        }
        "ensure-authorization-request-without-state-success" => {
            Box::pin(without_state_success(ctx))
        }
        "ensure-authorization-request-without-nonce-success" => {
            Box::pin(without_nonce_success(ctx))
        }
        "ensure-authorization-request-with-64-char-nonce-success" => {
            Box::pin(with_64_char_nonce_success(ctx))
        }
        "ensure-other-scope-order-succeeds" => Box::pin(other_scope_order_succeeds(ctx)),
        "access-token-type-header-case-sensitivity" => {
            Box::pin(access_token_type_header_case_sensitivity(ctx))
        }
        "ensure-request-object-with-nbf-8-seconds-in-the-future-is-accepted" => {
            Box::pin(request_object_with_nbf_8_seconds_future_accepted(ctx))
        }
        "check-dpop-proof-nbf-exp" => Box::pin(check_dpop_proof_nbf_exp(ctx)),
        "ensure-dpopproof-with-iat-10seconds-before-succeeds" => {
            Box::pin(dpop_iat_10_seconds_before(ctx))
        }
        "ensure-dpopproof-with-iat-10seconds-after-succeeds" => {
            Box::pin(dpop_iat_10_seconds_after(ctx))
        }
        "ensure-mismatched-dpop-jkt-fails" => Box::pin(ensure_mismatched_dpop_jkt_fails(ctx)),
        "ensure-token-endpoint-fails-with-mismatched-dpop-proof-jkt" => {
            Box::pin(token_endpoint_fails_with_mismatched_dpop_proof_jkt(ctx))
        }
        "ensure-token-endpoint-fails-with-mismatched-dpop-jkt" => {
            Box::pin(token_endpoint_fails_with_mismatched_dpop_jkt(ctx))
        }
        "ensure-dpopproof-at-par-endpoint-binding-success" => {
            Box::pin(dpop_proof_at_par_binding_success(ctx))
        }
        "ensure-dpop-auth-code-binding-success" => Box::pin(dpop_auth_code_binding_success(ctx)),
        "ensure-different-nonce-inside-and-outside-request-object" => {
            Box::pin(different_inside_and_outside(ctx, "nonce"))
        }
        "ensure-different-state-inside-and-outside-request-object" => {
            Box::pin(different_inside_and_outside(ctx, "state"))
        }
        "ensure-authorization-request-with-long-nonce" => Box::pin(with_long_nonce(ctx)),
        "ensure-authorization-request-with-long-state" => Box::pin(with_long_state(ctx)),
        "ensure-request-object-without-exp-fails" => {
            Box::pin(request_object_without_exp_fails(ctx))
        }
        "ensure-request-object-without-nbf-fails" => {
            Box::pin(request_object_without_nbf_fails(ctx))
        }
        "state-only-outside-request-object-not-used" => {
            Box::pin(state_only_outside_request_object_not_used(ctx))
        }
        "ensure-request-object-without-redirect-uri-fails" => {
            Box::pin(request_object_without_redirect_uri_fails(ctx))
        }
        "ensure-expired-request-object-fails" => Box::pin(expired_request_object_fails(ctx)),
        "ensure-request-object-with-bad-aud-fails" => {
            Box::pin(request_object_with_bad_aud_fails(ctx))
        }
        "ensure-request-object-with-exp-over-60-fails" => {
            Box::pin(request_object_with_exp_over_60_fails(ctx))
        }
        "ensure-request-object-with-nbf-over-60-fails" => {
            Box::pin(request_object_with_nbf_over_60_fails(ctx))
        }
        "ensure-signed-request-object-with-RS256-fails" => {
            Box::pin(signed_request_object_with_rs256_fails(ctx))
        }
        "ensure-request-object-signature-algorithm-is-not-none" => {
            Box::pin(request_object_signature_algorithm_is_not_none(ctx))
        }
        "ensure-request-object-with-invalid-signature-fails" => {
            Box::pin(request_object_with_invalid_signature_fails(ctx))
        }
        "ensure-matching-key-in-authorization-request" => {
            Box::pin(matching_key_in_authorization_request(ctx))
        }
        "ensure-unsigned-request-at-par-endpoint-fails" => {
            Box::pin(unsigned_request_at_par_endpoint_fails(ctx))
        }
        "plain-fapi-tolerate-unregistered-redirect-uri" => {
            Box::pin(tolerate_unregistered_redirect_uri(ctx))
        }
        "ensure-unsigned-authorization-request-without-using-par-fails" => {
            Box::pin(unsigned_without_par_fails(ctx))
        }
        "ensure-redirect-uri-in-authorization-request" => {
            Box::pin(redirect_uri_in_authorization_request(ctx))
        }
        "ensure-response-type-code-idtoken-fails" => {
            Box::pin(response_type_fails(ctx, "code id_token"))
        }
        "ensure-response-type-token-fails" => Box::pin(response_type_fails(ctx, "token")),
        "ensure-client-id-in-token-endpoint" => Box::pin(ensure_client_id_in_token_endpoint(ctx)),
        "ensure-holder-of-key-required" => Box::pin(ensure_holder_of_key_required(ctx)),
        "ensure-authorization-code-is-bound-to-client" => {
            Box::pin(ensure_authorization_code_is_bound_to_client(ctx))
        }
        "attempt-reuse-authorization-code-after-one-second" => {
            Box::pin(attempt_reuse_authorization_code_after_one_second(ctx))
        }
        "ensure-token-endpoint-fails-with-expired-auth-code" => {
            Box::pin(attempt_to_use_expired_auth_code(ctx))
        }
        "ensure-signed-client-assertion-with-RS256-fails" => {
            Box::pin(signed_client_assertion_with_rs256_fails(ctx))
        }
        "ensure-client-assertion-in-token-endpoint" => {
            Box::pin(client_assertion_in_token_endpoint(ctx))
        }
        "ensure-client-assertion-with-exp-is-5-minutes-in-past-fails" => {
            Box::pin(client_assertion_exp_5_minutes_in_past_fails(ctx))
        }
        "ensure-client-assertion-with-wrong-aud-fails" => {
            Box::pin(client_assertion_wrong_aud_fails(ctx))
        }
        "ensure-client-assertion-with-no-sub-fails" => Box::pin(client_assertion_no_sub_fails(ctx)),
        "dpop-negative-tests" => Box::pin(dpop_negative_tests(ctx)),
        "refresh-token" => Box::pin(refresh_token(ctx)),
        "par-ensure-reused-request-uri-prior-to-auth-completion-succeeds" => {
            Box::pin(par_reused_request_uri_before_completion(ctx))
        }
        "par-attempt-reuse-request_uri" => Box::pin(par_attempt_reuse_request_uri(ctx)),
        "par-attempt-to-use-expired-request_uri" => {
            Box::pin(par_attempt_to_use_expired_request_uri(ctx))
        }
        "par-ensure-jwt-client-assertions-nbf-8-seconds-in-the-future-is-accepted" => {
            Box::pin(par_assertion_iat_nbf_8_seconds_future_accepted(ctx))
        }
        "par-ensure-jwt-client-assertions-nbf-over-60-seconds-in-the-future-fails" => {
            Box::pin(par_assertion_iat_nbf_over_60_seconds_future_fails(ctx))
        }
        "par-attempt-to-use-request_uri-for-different-client" => {
            Box::pin(par_ensure_request_uri_is_bound_to_client(ctx))
        }
        "par-authorization-request-containing-request_uri-form-param" => {
            Box::pin(par_reject_request_uri_in_form(ctx))
        }
        "par-attempt-invalid-http-method" => Box::pin(par_reject_invalid_http_verb(ctx)),
        "par-ensure-pkce-required" => Box::pin(par_ensure_pkce_required(ctx)),
        "ensure-pkce-code-verifier-required" => Box::pin(pkce_code_verifier_required(ctx)),
        "incorrect-pkce-code-verifier-rejected" => {
            Box::pin(incorrect_pkce_code_verifier_rejected(ctx))
        }
        "par-plain-pkce-rejected" => Box::pin(par_plain_pkce_rejected(ctx)),
        "par-authorization-request-containing-request_uri" => {
            Box::pin(par_reject_request_uri_in_request_object(ctx))
        }
        "par-without-duplicate-parameters" => Box::pin(par_without_duplicate_parameters(ctx)),
        "par-test-array-as-audience-fails" => Box::pin(par_audience_fails(ctx, "array")),
        "par-test-par-endpoint-url-as-audience-fails" => Box::pin(par_audience_fails(ctx, "par")),
        "par-test-token-endpoint-url-as-audience-fails" => {
            Box::pin(par_audience_fails(ctx, "token"))
        }
        _ => return None,
    })
}
