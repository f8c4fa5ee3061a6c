//! fapi1-advanced-final-test-plan (FAPI1AdvancedFinalTestPlan), plain_fapi: the modules of
//! AbstractFAPI1AdvancedFinalServerTestModule and its subclasses. Every authorization request
//! is a signed request object (by value, or pushed to the PAR endpoint), the response is the
//! hybrid `code id_token` in the fragment or a JARM response in the query, and every
//! back-channel call presents the client's certificate (certificate-bound tokens).

use super::*;
use crate::jose::Signer;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map};

mod callback;
mod configure;
mod flows;
mod helpers;
mod metadata;
mod par;
mod refusal;
mod request;
mod request_object;
mod resource;
mod shared;
mod token;
mod token_endpoint;

use callback::*;
use configure::*;
use flows::*;
use helpers::*;
use metadata::*;
use par::*;
use refusal::*;
use request::*;
use request_object::*;
use resource::*;
use shared::*;
use token::*;
use token_endpoint::*;
// These have namesakes among the OIDC modules' helpers (`super::*`): ours win.
use callback::{check_matching_callback_parameters, process_callback};
use request::create_authorization_request;
use resource::request_protected_resource;

/// The scope the plan's clients are configured with (the suite's `client.scope`).
const SCOPE: &str = "openid offline_access";

/// What the suite's `redirect_uri` of the second client carries (AddRedirectUriQuerySuffix).
const REDIRECT_QUERY_SUFFIX: &str = "dummy1=lorem&dummy2=ipsum";

/// The parameters OAuth requires outside a request object (OIDC Core §6.1, RFC 6749
/// §3.1.2.3), as AbstractBuildRequestObjectRedirectToAuthorizationEndpoint repeats them.
const REQUIRED_DUPLICATES: [&str; 4] = ["response_type", "client_id", "scope", "redirect_uri"];

// ---- the module's state ------------------------------------------------------------------

/// One of the plan's two clients: the configuration, and a back channel presenting its
/// certificate (the suite's `client`/`mutual_tls_authentication` and their `2` twins).
#[derive(Clone)]
struct Party {
    client: Client,
    back: reqwest::Client,
}

/// The environment of one FAPI 1 module run, beyond what `Ctx` holds.
struct Fapi {
    jarm: bool,
    par: bool,
    mtls: bool,
    second: bool,
    one: Party,
    two: Party,
    /// authorization_endpoint_request.
    request: Map<String, Value>,
    /// request_object_claims.
    claims: Map<String, Value>,
    request_object: String,
    verifier: Option<String>,
    request_uri: Option<String>,
    par_expires_in: Option<i64>,
    query: BTreeMap<String, String>,
    fragment: BTreeMap<String, String>,
    /// For error responses in JARM mode, a plain (unwrapped) error is accepted too.
    allow_plain_jarm_error: bool,
    auth_id_token: Option<IdToken>,
    token_type: String,
    token_body: Value,
    interaction_id: String,
}

impl Fapi {
    fn who(&self) -> &'static str {
        if self.second {
            "Second client: "
        } else {
            ""
        }
    }
}

/// How a module changes the standard request (the suite's condition sequences with the
/// module's `skip`, `replace`, `insertAfter`...).
#[derive(Default, Clone)]
struct Tweaks {
    state_len: Option<usize>,
    nonce_len: Option<usize>,
    /// Skip AddStateToAuthorizationEndpointRequest.
    no_state: bool,
    /// Skip AddNonceToAuthorizationEndpointRequest.
    no_nonce: bool,
    /// The state (nonce) goes only into the URL, added after the object was signed.
    state_outside_only: bool,
    nonce_outside_only: bool,
    /// AddIncorrectNonceToAuthorizationEndpointRequest, after the object was made.
    incorrect_outer_nonce: bool,
    /// expose_state_in_authorization_endpoint_request.
    expose_state: bool,
    /// The authorization request before it becomes the object.
    request: Vec<RequestTweak>,
    /// Changes to the object's claims.
    object: Vec<ObjectTweak>,
    sign: Sign,
    pkce: Pkce,
    redirect: Redirect,
    /// The module does its own PAR error handling (AbstractFAPI1AdvancedFinalPARExpecting...).
    par_error_expected: bool,
    /// Client assertion for the PAR endpoint (private_key_jwt).
    par_assertion: ParAssertion,
    /// Extra form parameters for the PAR request (AddBadRequestUriToRequestParameters).
    par_extra: Vec<(String, String)>,
    /// CallPAREndpoint with another HTTP method.
    par_method_put: bool,
    /// A redirect_uri other than the client's (CreateBadRedirectUriByAppending).
    redirect_uri: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RequestTweak {
    ReverseScope,
    ResponseModeQuery,
    PlainPkce,
    RemoveRedirectUri,
    BadRedirectUri,
    BadRequestUri,
    /// SetAuthorizationEndpointRequestResponseTypeToCode, RemoveAuthorizationEndpointRequestResponseMode.
    ResponseTypeCode,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ObjectTweak {
    NoExp,
    NoNbf,
    NoScope,
    NoRedirectUri,
    BadAud,
    MultipleAud,
    ParEndpointAud,
    ExpiredExp,
    Exp70MinutesAhead,
    Nbf70MinutesAgo,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Sign {
    #[default]
    Normal,
    Rs256,
    NoneAlg,
    InvalidSignature,
    SecondClientKey,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Pkce {
    /// With PAR only, as the plan asks (FAPI 1 Adv. §5.2.2-18).
    #[default]
    Variant,
    Always,
    Never,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Redirect {
    #[default]
    Normal,
    Reordered,
    WithoutDuplicates,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum ParAssertion {
    /// CreateJWTClientAuthenticationAssertionAndAddToPAREndpointRequest: aud = issuer.
    #[default]
    Issuer,
    ParEndpoint,
    TokenEndpoint,
    IssuerAndTokenEndpoint,
    WrongAud,
    WrongIss,
    WrongSub,
}

/// A placeholder condition (the error page the suite asks a screenshot of) and its
/// requirements.
type Page = (&'static str, &'static [&'static str]);

/// An error check: the condition, its requirements, and the errors it accepts.
type ErrSpec = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

/// Where the authorization request ended up.
enum Arrival {
    /// The PAR endpoint refused the request.
    ParError(Resp),
    Visit(Visit),
}

/// A module that runs the standard flow with `t` (AbstractFAPI1AdvancedFinalServerTestModule
/// with request changes only).
async fn standard(ctx: &mut Ctx<'_>, t: Tweaks) -> Flow {
    let mut f = setup(ctx).await?;
    happy_flow(ctx, &mut f, &t, false).await
}

/// The authorization part of AbstractFAPI1AdvancedFinalPerformTokenEndpoint: up to the
/// checked authorization response.
async fn authorized(ctx: &mut Ctx<'_>, t: &Tweaks) -> Flow<Fapi> {
    let mut f = setup(ctx).await?;
    let Arrival::Visit(v) = authorize(ctx, &mut f, t).await? else {
        return Err(Stop);
    };
    arrive(ctx, &mut f, &v, None)?;
    process_callback(ctx, &mut f)?;
    successful_callback(ctx, &mut f)?;
    ctx.log.block("Call token endpoint");
    Ok(f)
}

const INVALID_CLIENT_OR_REQUEST: &[&str] = &["invalid_client", "invalid_request"];

// ---- the plan ------------------------------------------------------------------------------

/// Which variants a module runs in (its @VariantNotApplicable).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Only {
    All,
    ByValue,
    Pushed,
    PrivateKeyJwt,
    PushedPrivateKeyJwt,
}

/// FAPI1AdvancedFinalTestPlan's modules in its order (plain_fapi: the UK, Brazil, KSA and AU
/// modules are not applicable).
const MODULES: &[(&str, Only)] = &[
    ("fapi1-advanced-final-discovery-end-point-verification", Only::All),
    ("fapi1-advanced-final", Only::All),
    ("fapi1-advanced-final-user-rejects-authentication", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-multiple-aud-succeeds", Only::All),
    ("fapi1-advanced-final-ensure-authorization-request-without-state-success", Only::All),
    ("fapi1-advanced-final-ensure-valid-pkce-succeeds", Only::ByValue),
    ("fapi1-advanced-final-ensure-other-scope-order-succeeds", Only::All),
    ("fapi1-advanced-final-access-token-type-header-case-sensitivity", Only::All),
    ("fapi1-advanced-final-ensure-response-mode-query", Only::All),
    ("fapi1-advanced-final-ensure-different-nonce-inside-and-outside-request-object", Only::All),
    ("fapi1-advanced-final-ensure-registered-redirect-uri", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-long-nonce", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-64-char-nonce-success", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-long-state", Only::All),
    ("fapi1-advanced-final-ensure-request-object-without-exp-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-without-nbf-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-without-scope-fails", Only::All),
    ("fapi1-advanced-final-state-only-outside-request-object-not-used", Only::All),
    ("fapi1-advanced-final-ensure-request-object-without-nonce-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-without-redirect-uri-fails", Only::All),
    ("fapi1-advanced-final-ensure-expired-request-object-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-bad-aud-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-exp-over-60-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-nbf-over-60-fails", Only::All),
    ("fapi1-advanced-final-ensure-signed-request-object-with-RS256-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-signature-algorithm-is-not-none", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-invalid-signature-fails", Only::All),
    ("fapi1-advanced-final-ensure-matching-key-in-authorization-request", Only::All),
    ("fapi1-advanced-final-ensure-authorization-request-without-request-object-fails", Only::All),
    ("fapi1-advanced-final-ensure-redirect-uri-in-authorization-request", Only::All),
    ("fapi1-advanced-final-ensure-response-type-code-fails", Only::All),
    ("fapi1-advanced-final-ensure-client-id-in-token-endpoint", Only::All),
    ("fapi1-advanced-final-ensure-mtls-holder-of-key-required", Only::All),
    ("fapi1-advanced-final-ensure-authorization-code-is-bound-to-client", Only::All),
    ("fapi1-advanced-final-attempt-reuse-authorisation-code-after-one-second", Only::All),
    ("fapi1-advanced-final-ensure-signed-client-assertion-with-RS256-fails", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-in-token-endpoint", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-with-exp-is-5-minutes-in-past-fails", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-with-wrong-aud-fails", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-with-no-sub-fails", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-with-wrong-iss-fails", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-with-wrong-sub-fails", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-with-iss-aud-succeeds", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-refresh-token", Only::All),
    ("fapi1-advanced-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds", Only::Pushed),
    ("fapi1-advanced-final-par-attempt-reuse-request_uri", Only::Pushed),
    ("fapi1-advanced-final-par-attempt-to-use-expired-request_uri", Only::Pushed),
    ("fapi1-advanced-final-par-test-pushed-authorization-url-as-audience-for-client-JWT-assertion", Only::PushedPrivateKeyJwt),
    ("fapi1-advanced-final-par-token-endpoint-url-as-audience-for-client-JWT-assertion", Only::PushedPrivateKeyJwt),
    ("fapi1-advanced-final-test-array-as-audience-for-client-JWT-assertion", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-par-ensure-client-assertion-with-wrong-aud-fails", Only::PushedPrivateKeyJwt),
    ("fapi1-advanced-final-par-ensure-client-assertion-with-wrong-iss-fails", Only::PushedPrivateKeyJwt),
    ("fapi1-advanced-final-par-ensure-client-assertion-with-wrong-sub-fails", Only::PushedPrivateKeyJwt),
    ("fapi1-advanced-final-par-attempt-to-use-request_uri-for-different-client", Only::Pushed),
    ("fapi1-advanced-final-par-authorization-request-containing-request_uri-form-param", Only::Pushed),
    ("fapi1-advanced-final-par-attempt-invalid-http-method", Only::Pushed),
    ("fapi1-advanced-final-par-ensure-pkce-required", Only::Pushed),
    ("fapi1-advanced-final-ensure-pkce-code-verifier-required", Only::Pushed),
    ("fapi1-advanced-final-incorrect-pkce-code-verifier-rejected", Only::Pushed),
    ("fapi1-advanced-final-par-plain-pkce-rejected", Only::Pushed),
    ("fapi1-advanced-final-par-pushed-authorization-url-as-audience-in-request-object", Only::Pushed),
    ("fapi1-advanced-final-par-attempt-invalid-redirect_uri", Only::Pushed),
    ("fapi1-advanced-final-par-authorization-request-containing-request_uri", Only::Pushed),
    ("fapi1-advanced-final-par-without-duplicate-parameters", Only::Pushed),
];

/// The plan's entries: plain_fapi × client_auth_type × fapi_auth_request_method ×
/// fapi_response_mode, each with the modules the suite runs for that variant.
pub fn plan_entries() -> Vec<crate::plans::Entry> {
    let mut out = Vec::new();
    for (auth, role) in [
        (ClientAuth::PrivateKeyJwt, "fapi1_private_key_jwt"),
        (ClientAuth::Mtls, "fapi1_mtls"),
    ] {
        for method in ["by_value", "pushed"] {
            for mode in ["plain_response", "jarm"] {
                let pushed = method == "pushed";
                let pkjwt = auth == ClientAuth::PrivateKeyJwt;
                for (module, only) in MODULES {
                    let applies = match only {
                        Only::All => true,
                        Only::ByValue => !pushed,
                        Only::Pushed => pushed,
                        Only::PrivateKeyJwt => pkjwt,
                        Only::PushedPrivateKeyJwt => pushed && pkjwt,
                    };
                    if !applies {
                        continue;
                    }
                    let mut e = crate::plans::Entry::oidcc(
                        module,
                        auth,
                        if mode == "jarm" {
                            "code"
                        } else {
                            "code id_token"
                        },
                        "default",
                    );
                    e.client_role = Some(role);
                    e.variant = vec![
                        ("fapi_profile", "plain_fapi"),
                        ("client_auth_type", auth.name()),
                        ("fapi_auth_request_method", method),
                        ("fapi_response_mode", mode),
                    ];
                    out.push(e);
                }
            }
        }
    }
    out
}

type ModuleFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Flow> + Send + 'a>>;

/// The plan's modules by name.
pub fn dispatch<'a, 'b: 'a>(name: &str, ctx: &'a mut Ctx<'b>) -> Option<ModuleFuture<'a>> {
    Some(match name {
        "fapi1-advanced-final-discovery-end-point-verification" => Box::pin(fapi1_advanced_final_discovery_end_point_verification(ctx)),
        "fapi1-advanced-final" => Box::pin(fapi1_advanced_final(ctx)),
        "fapi1-advanced-final-user-rejects-authentication" => Box::pin(fapi1_advanced_final_user_rejects_authentication(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-multiple-aud-succeeds" => Box::pin(fapi1_advanced_final_ensure_request_object_with_multiple_aud_succeeds(ctx)),
        "fapi1-advanced-final-ensure-authorization-request-without-state-success" => Box::pin(fapi1_advanced_final_ensure_authorization_request_without_state_success(ctx)),
        "fapi1-advanced-final-ensure-valid-pkce-succeeds" => Box::pin(fapi1_advanced_final_ensure_valid_pkce_succeeds(ctx)),
        "fapi1-advanced-final-ensure-other-scope-order-succeeds" => Box::pin(fapi1_advanced_final_ensure_other_scope_order_succeeds(ctx)),
        "fapi1-advanced-final-access-token-type-header-case-sensitivity" => Box::pin(fapi1_advanced_final_access_token_type_header_case_sensitivity(ctx)),
        "fapi1-advanced-final-ensure-response-mode-query" => Box::pin(fapi1_advanced_final_ensure_response_mode_query(ctx)),
        "fapi1-advanced-final-ensure-different-nonce-inside-and-outside-request-object" => Box::pin(fapi1_advanced_final_ensure_different_nonce_inside_and_outside_request_object(ctx)),
        "fapi1-advanced-final-ensure-registered-redirect-uri" => Box::pin(fapi1_advanced_final_ensure_registered_redirect_uri(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-long-nonce" => Box::pin(fapi1_advanced_final_ensure_request_object_with_long_nonce(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-64-char-nonce-success" => Box::pin(fapi1_advanced_final_ensure_request_object_with_64_char_nonce_success(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-long-state" => Box::pin(fapi1_advanced_final_ensure_request_object_with_long_state(ctx)),
        "fapi1-advanced-final-ensure-request-object-without-exp-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_without_exp_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-without-nbf-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_without_nbf_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-without-scope-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_without_scope_fails(ctx)),
        "fapi1-advanced-final-state-only-outside-request-object-not-used" => Box::pin(fapi1_advanced_final_state_only_outside_request_object_not_used(ctx)),
        "fapi1-advanced-final-ensure-request-object-without-nonce-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_without_nonce_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-without-redirect-uri-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_without_redirect_uri_fails(ctx)),
        "fapi1-advanced-final-ensure-expired-request-object-fails" => Box::pin(fapi1_advanced_final_ensure_expired_request_object_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-bad-aud-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_with_bad_aud_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-exp-over-60-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_with_exp_over_60_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-nbf-over-60-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_with_nbf_over_60_fails(ctx)),
        "fapi1-advanced-final-ensure-signed-request-object-with-RS256-fails" => Box::pin(fapi1_advanced_final_ensure_signed_request_object_with_rs256_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-signature-algorithm-is-not-none" => Box::pin(fapi1_advanced_final_ensure_request_object_signature_algorithm_is_not_none(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-invalid-signature-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_with_invalid_signature_fails(ctx)),
        "fapi1-advanced-final-ensure-matching-key-in-authorization-request" => Box::pin(fapi1_advanced_final_ensure_matching_key_in_authorization_request(ctx)),
        "fapi1-advanced-final-ensure-authorization-request-without-request-object-fails" => Box::pin(fapi1_advanced_final_ensure_authorization_request_without_request_object_fails(ctx)),
        "fapi1-advanced-final-ensure-redirect-uri-in-authorization-request" => Box::pin(fapi1_advanced_final_ensure_redirect_uri_in_authorization_request(ctx)),
        "fapi1-advanced-final-ensure-response-type-code-fails" => Box::pin(fapi1_advanced_final_ensure_response_type_code_fails(ctx)),
        "fapi1-advanced-final-ensure-client-id-in-token-endpoint" => Box::pin(fapi1_advanced_final_ensure_client_id_in_token_endpoint(ctx)),
        "fapi1-advanced-final-ensure-mtls-holder-of-key-required" => Box::pin(fapi1_advanced_final_ensure_mtls_holder_of_key_required(ctx)),
        "fapi1-advanced-final-ensure-authorization-code-is-bound-to-client" => Box::pin(fapi1_advanced_final_ensure_authorization_code_is_bound_to_client(ctx)),
        "fapi1-advanced-final-attempt-reuse-authorisation-code-after-one-second" => Box::pin(fapi1_advanced_final_attempt_reuse_authorisation_code_after_one_second(ctx)),
        "fapi1-advanced-final-ensure-signed-client-assertion-with-RS256-fails" => Box::pin(fapi1_advanced_final_ensure_signed_client_assertion_with_rs256_fails(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-in-token-endpoint" => Box::pin(fapi1_advanced_final_ensure_client_assertion_in_token_endpoint(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-with-exp-is-5-minutes-in-past-fails" => Box::pin(fapi1_advanced_final_ensure_client_assertion_with_exp_is_5_minutes_in_past_fails(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-with-wrong-aud-fails" => Box::pin(fapi1_advanced_final_ensure_client_assertion_with_wrong_aud_fails(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-with-no-sub-fails" => Box::pin(fapi1_advanced_final_ensure_client_assertion_with_no_sub_fails(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-with-wrong-iss-fails" => Box::pin(fapi1_advanced_final_ensure_client_assertion_with_wrong_iss_fails(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-with-wrong-sub-fails" => Box::pin(fapi1_advanced_final_ensure_client_assertion_with_wrong_sub_fails(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-with-iss-aud-succeeds" => Box::pin(fapi1_advanced_final_ensure_client_assertion_with_iss_aud_succeeds(ctx)),
        "fapi1-advanced-final-refresh-token" => Box::pin(fapi1_advanced_final_refresh_token(ctx)),
        "fapi1-advanced-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds" => Box::pin(fapi1_advanced_final_par_ensure_reused_request_uri_prior_to_auth_completion_succeeds(ctx)),
        "fapi1-advanced-final-par-attempt-reuse-request_uri" => Box::pin(fapi1_advanced_final_par_attempt_reuse_request_uri(ctx)),
        "fapi1-advanced-final-par-attempt-to-use-expired-request_uri" => Box::pin(fapi1_advanced_final_par_attempt_to_use_expired_request_uri(ctx)),
        "fapi1-advanced-final-par-test-pushed-authorization-url-as-audience-for-client-JWT-assertion" => Box::pin(fapi1_advanced_final_par_test_pushed_authorization_url_as_audience_for_client_jwt_assertion(ctx)),
        "fapi1-advanced-final-par-token-endpoint-url-as-audience-for-client-JWT-assertion" => Box::pin(fapi1_advanced_final_par_token_endpoint_url_as_audience_for_client_jwt_assertion(ctx)),
        "fapi1-advanced-final-test-array-as-audience-for-client-JWT-assertion" => Box::pin(fapi1_advanced_final_test_array_as_audience_for_client_jwt_assertion(ctx)),
        "fapi1-advanced-final-par-ensure-client-assertion-with-wrong-aud-fails" => Box::pin(fapi1_advanced_final_par_ensure_client_assertion_with_wrong_aud_fails(ctx)),
        "fapi1-advanced-final-par-ensure-client-assertion-with-wrong-iss-fails" => Box::pin(fapi1_advanced_final_par_ensure_client_assertion_with_wrong_iss_fails(ctx)),
        "fapi1-advanced-final-par-ensure-client-assertion-with-wrong-sub-fails" => Box::pin(fapi1_advanced_final_par_ensure_client_assertion_with_wrong_sub_fails(ctx)),
        "fapi1-advanced-final-par-attempt-to-use-request_uri-for-different-client" => Box::pin(fapi1_advanced_final_par_attempt_to_use_request_uri_for_different_client(ctx)),
        "fapi1-advanced-final-par-authorization-request-containing-request_uri-form-param" => Box::pin(fapi1_advanced_final_par_authorization_request_containing_request_uri_form_param(ctx)),
        "fapi1-advanced-final-par-attempt-invalid-http-method" => Box::pin(fapi1_advanced_final_par_attempt_invalid_http_method(ctx)),
        "fapi1-advanced-final-par-ensure-pkce-required" => Box::pin(fapi1_advanced_final_par_ensure_pkce_required(ctx)),
        "fapi1-advanced-final-ensure-pkce-code-verifier-required" => Box::pin(fapi1_advanced_final_ensure_pkce_code_verifier_required(ctx)),
        "fapi1-advanced-final-incorrect-pkce-code-verifier-rejected" => Box::pin(fapi1_advanced_final_incorrect_pkce_code_verifier_rejected(ctx)),
        "fapi1-advanced-final-par-plain-pkce-rejected" => Box::pin(fapi1_advanced_final_par_plain_pkce_rejected(ctx)),
        "fapi1-advanced-final-par-pushed-authorization-url-as-audience-in-request-object" => Box::pin(fapi1_advanced_final_par_pushed_authorization_url_as_audience_in_request_object(ctx)),
        "fapi1-advanced-final-par-attempt-invalid-redirect_uri" => Box::pin(fapi1_advanced_final_par_attempt_invalid_redirect_uri(ctx)),
        "fapi1-advanced-final-par-authorization-request-containing-request_uri" => Box::pin(fapi1_advanced_final_par_authorization_request_containing_request_uri(ctx)),
        "fapi1-advanced-final-par-without-duplicate-parameters" => Box::pin(fapi1_advanced_final_par_without_duplicate_parameters(ctx)),
        _ => return None,
    })
}
