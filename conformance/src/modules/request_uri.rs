//! The static plans' request-object-by-reference module, run with the client registered with
//! `request_uris` (the dynamic plan's request_uri modules register their own: dynamic.rs).

use super::*;

/// The role of the client registered with `request_uris` and `jwks`.
const CLIENT_ROLE: &str = "request_uri";

/// The client registered for request objects by reference, in place of the static one.
fn use_request_uri_client(ctx: &mut Ctx<'_>) -> Flow {
    let r = ctx
        .cfg
        .client(CLIENT_ROLE)
        .map(|c| (c.clone(), format!("client_id {}", c.client_id)));
    ctx.client = ctx.log.must("GetStaticClientConfiguration", &[], r)?;
    Ok(())
}

/// oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported: skipped unless
/// discovery lists `none` in request_object_signing_alg_values_supported (skipTestIfNoneUnsupported).
pub async fn oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(
    ctx: &mut Ctx<'_>,
) -> Flow {
    // With dynamic registration the client registers its own request_uris in Configure.
    if !ctx.variant_is("client_registration", "dynamic_client") {
        use_request_uri_client(ctx)?;
    }
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
