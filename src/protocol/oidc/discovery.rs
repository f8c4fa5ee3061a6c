//! The discovery document (OpenID Connect Discovery §3, RFC 8414 §2). Everything advertised
//! here works; it is serialised once at start.

use crate::jose::Alg;
use crate::protocol::Services;
use crate::protocol::{oidc::response, oidc::scopes, tokens::ACR_VALUES};
use serde_json::json;

pub fn document(cx: &Services) -> String {
    let e = cx.endpoints();
    let algs: Vec<&str> = Alg::ALL.iter().map(|a| a.name()).collect();
    // client_secret_jwt signs with the shared secret (HS256); the others with keys.
    let token_auth_algs: Vec<&str> = algs.iter().copied().chain(["HS256"]).collect();
    let scopes: Vec<&str> = scopes::advertised().collect();
    let mut claims = scopes::all_claims();
    claims.push(crate::protocol::bank::CONNECTION_CLAIM);
    let mut doc = json!({
        "issuer": cx.issuer,
        "authorization_endpoint": e.authorization,
        "token_endpoint": e.token,
        "userinfo_endpoint": e.userinfo,
        "jwks_uri": e.jwks,
        "registration_endpoint": e.registration,
        "introspection_endpoint": e.introspection,
        "revocation_endpoint": e.revocation,
        "scopes_supported": scopes,
        "response_types_supported": crate::protocol::oidc::response_types::SUPPORTED,
        "response_modes_supported": response::SUPPORTED_MODES,
        "authorization_signing_alg_values_supported": algs,
        "grant_types_supported": ["authorization_code", "implicit", "refresh_token", "client_credentials", crate::protocol::device::GRANT_TYPE, crate::types::CIBA_GRANT],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": algs,
        "userinfo_signing_alg_values_supported": algs,
        "id_token_encryption_alg_values_supported": crate::jose::encrypt::ALGS,
        "id_token_encryption_enc_values_supported": crate::jose::encrypt::ENCS,
        "token_endpoint_auth_methods_supported": crate::types::AuthMethod::ALL.map(|m| m.as_str()),
        "token_endpoint_auth_signing_alg_values_supported": token_auth_algs,
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth"],
        "introspection_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth"],
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "pushed_authorization_request_endpoint": e.par,
        "require_pushed_authorization_requests": cx.config.require_par,
        "request_object_signing_alg_values_supported": algs,
        "dpop_signing_alg_values_supported": algs,
        "tls_client_certificate_bound_access_tokens": true,
        // RFC 8705 §5: every endpoint accepts client certificates on the same host.
        "mtls_endpoint_aliases": {
            "token_endpoint": e.token, "pushed_authorization_request_endpoint": e.par,
            "introspection_endpoint": e.introspection, "revocation_endpoint": e.revocation,
            "userinfo_endpoint": e.userinfo, "device_authorization_endpoint": e.device_authorization,
        },
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims,
        "claims_parameter_supported": true,
        "request_parameter_supported": true,
        "request_uri_parameter_supported": true,
        "acr_values_supported": ACR_VALUES,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "display_values_supported": ["page"],
        "ui_locales_supported": ["en"],
        "claim_types_supported": ["normal"],
        "authorization_response_iss_parameter_supported": true,
    });
    // OIDC Core §6.2: request objects are fetched only from the client's registered
    // request_uris (added here: the literal above is at the macro's recursion limit).
    doc["require_request_uri_registration"] = true.into();
    // OpenID RP-Initiated, Back-Channel and Front-Channel Logout 1.0: every logout token
    // carries sid, and front-channel frames get iss and sid when the client asks.
    doc["end_session_endpoint"] = e.end_session.clone().into();
    doc["backchannel_logout_supported"] = true.into();
    doc["backchannel_logout_session_supported"] = true.into();
    doc["frontchannel_logout_supported"] = true.into();
    doc["frontchannel_logout_session_supported"] = true.into();
    doc["device_authorization_endpoint"] = e.device_authorization.clone().into();
    // CIBA Core §4: poll and ping (FAPI-CIBA allows no push), signed requests, no user codes.
    doc["backchannel_authentication_endpoint"] = e.backchannel.clone().into();
    doc["backchannel_token_delivery_modes_supported"] = json!(["poll", "ping"]);
    doc["backchannel_authentication_request_signing_alg_values_supported"] = json!(algs);
    doc["backchannel_user_code_parameter_supported"] = false.into();
    doc["mtls_endpoint_aliases"]["backchannel_authentication_endpoint"] =
        e.backchannel.clone().into();
    doc.to_string()
}
