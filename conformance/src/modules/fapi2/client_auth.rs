//! The variant's client authentication and client assertions built for the negative
//! modules.

use super::*;

/// CreateClientAuthenticationAssertionClaimsWithIssAudience: iss = sub = client_id, aud = the
/// issuer (FAPI 2 SP §5.3.2.1: the issuer is the only audience to use).
pub fn assertion_claims_iss_aud(ctx: &mut Ctx<'_>) -> Value {
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    crate::modules::client_assertion_claims(ctx, issuer.into())
}

/// The variant's client authentication: mTLS, or a client assertion with the issuer as its
/// audience (CreateJWTClientAuthenticationAssertionWithIssAudAndAddToTokenEndpointRequest).
pub fn variant_auth(ctx: &mut Ctx<'_>, f: &Fapi) -> crate::modules::AuthOverride {
    if f.mtls_auth {
        crate::modules::AuthOverride::Default
    } else {
        crate::modules::AuthOverride::Assertion(assertion_claims_iss_aud(ctx))
    }
}

/// `Default` made concrete for FAPI 2: a fresh assertion with the issuer as audience for
/// private_key_jwt (a new `jti` on every attempt), the certificate for mtls.
pub(super) fn resolve_auth(
    ctx: &mut Ctx<'_>,
    f: &Fapi,
    auth: &crate::modules::AuthOverride,
) -> crate::modules::AuthOverride {
    match auth {
        crate::modules::AuthOverride::Default => variant_auth(ctx, f),
        other => other.clone(),
    }
}

/// A signed client assertion of `claims`, logged as the suite's SignClientAuthenticationAssertion.
pub(super) fn signed_assertion(
    ctx: &mut Ctx<'_>,
    claims: &Value,
) -> Flow<crate::modules::AuthOverride> {
    let r = crate::modules::sign_client_assertion(ctx, claims)
        .map(|j| (j, "client assertion signed".to_string()));
    let jws = ctx.log.must("SignClientAuthenticationAssertion", &[], r)?;
    Ok(crate::modules::AuthOverride::RawAssertion(jws))
}
