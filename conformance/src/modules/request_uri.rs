//! The OIDC plans' request-object-by-reference module of the dynamic_client variant (the suite
//! marks it not applicable to static clients); its client registers its own `request_uris` in
//! Configure. The dynamic plan's request_uri modules are in dynamic.rs.

use super::*;

/// oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported: skipped unless
/// discovery lists `none` in request_object_signing_alg_values_supported (skipTestIfNoneUnsupported).
pub async fn oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(
    ctx: &mut Ctx<'_>,
) -> Flow {
    configure(ctx).await?;
    let algs = json_array_strings(&ctx.server["request_object_signing_alg_values_supported"]);
    if !algs.is_some_and(|a| a.iter().any(|x| x == "none")) {
        return Err(ctx.log.skip("'none' is not listed in request_object_signing_alg_values_supported - assuming it is not supported."));
    }
    ctx.log.must_ok(
        "SerializeRequestObjectWithNullAlgorithm",
        &[],
        Err("unsigned request objects are advertised, but this runner does not send them".into()),
    )
}
