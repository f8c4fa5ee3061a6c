//! fapi2-security-profile-final-happy-flow: both clients, then client 1's key with client
//! 2's token.

use super::*;

/// fapi2-security-profile-final-happy-flow (FAPI2SPFinalHappyFlow): both clients, the second
/// with a query in its redirect_uri, a 43-character nonce, a 128-character state, dpop_jkt
/// at PAR and the redirect's parameters reordered; then client 1's key or certificate must
/// not work with client 2's token.
pub async fn happy_flow(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    configure_second_client(ctx, &mut f)?;
    // Client 1.
    let v = par_and_authorize(ctx, &mut f, &AuthReq::default(), false).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    happy_flow_resource(ctx, &mut f).await?;
    if f.openid {
        let r = id_token_only_requested_claims(ctx);
        ctx.log.check(
            "EnsureIdTokenDoesNotContainNonRequestedClaims",
            Warning,
            &[],
            r,
        );
    }
    // Client 2.
    let client1_key = f.dpop_key.take();
    switch_to_second_client_with_redirect_query(ctx, &mut f)?;
    let req = AuthReq {
        nonce_len: Some(43),
        ..Default::default()
    };
    create_authorization_request(ctx, &mut f, &req)?;
    if f.dpop {
        // RFC 9449 §10.1: dpop_jkt at PAR without a DPoP header.
        add_dpop_jkt(ctx, &mut f)?;
    }
    push_current_request(ctx, &mut f).await?;
    ctx.log
        .block("Second client: Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, true)?;
    let v = browse(ctx, url, true).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await?;
    // switchToClient1AndTryClient2AccessToken.
    switch_to_first_client(ctx, &mut f);
    f.dpop_key = client1_key;
    let (block, cond) = if f.dpop {
        (
            "Try Client1's DPoP key with Client2's access token",
            "CallProtectedResourceAllowingDpopNonceError",
        )
    } else {
        (
            "Try Client1's MTLS client certificate with Client2's access token",
            "CallProtectedResource",
        )
    };
    ctx.log.block(block);
    let resp = call_resource(
        ctx,
        &mut f,
        &ResourceCall {
            condition: cond,
            reqs: &["FAPIRW-5.2.2-5", "RFC8705-3"],
            ..Default::default()
        },
    )
    .await?;
    ctx.log.check(
        "EnsureHttpStatusCodeIs4xx",
        Failure,
        &["RFC6749-4.1.2", "RFC6750-3.1", "RFC8705-3"],
        status_in(&resp, 400..=499, "resource"),
    );
    Ok(())
}

/// requestProtectedResource of the happy flow, with performAdditionalResourceEndpointTests
/// for the first client.
pub(super) async fn happy_flow_resource(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    let url = resource_url(ctx, f);
    ctx.log.info(
        "ExtractTLSTestValuesFromResourceConfiguration",
        format!(
            "the resource endpoint {}",
            url.as_deref().unwrap_or("(none)")
        ),
    );
    crate::tls_probe::endpoint_block(
        &mut ctx.log,
        "Resource endpoint TLS test",
        url,
        crate::tls_probe::Ciphers::Bcp195,
        &["FAPI2-SP-FINAL-5.2.3-2", "FAPI2-SP-FINAL-5.2.2"],
        Some("RequireOnlyBCP195RecommendedCiphersForTLS12"),
        true,
    )
    .await;
    request_protected_resource(ctx, f).await?;
    let headers = first_client_resource_headers(ctx);
    let resp = call_resource(
        ctx,
        f,
        &ResourceCall {
            headers: headers.clone(),
            token_in_query: true,
            condition: "DisallowAccessTokenInQuery",
            ..Default::default()
        },
    )
    .await?;
    ctx.log.check(
        "DisallowAccessTokenInQuery",
        Failure,
        &["FAPI2-SP-FINAL-5.3.4-2"],
        if [400, 401, 414].contains(&resp.status) {
            ok(format!("Resource server refused request (HTTP {})", resp.status))
        } else if (200..300).contains(&resp.status) {
            fail("Got a successful response from the resource endpoint with the access token only in the URL query")
        } else {
            fail(format!("unexpected HTTP {}", resp.status))
        },
    );
    let mut h = headers.clone();
    h.push((
        "x-fapi-customer-ip-address".into(),
        "2001:db8:85a3::8a2e:370:7334".into(),
    ));
    h.retain(|(k, v)| k != "x-fapi-customer-ip-address" || v.contains(':'));
    ctx.log.info(
        "AddIpV6FapiCustomerIpAddressToResourceEndpointRequest",
        "x-fapi-customer-ip-address: 2001:db8:85a3::8a2e:370:7334",
    );
    h.push(("accept".into(), "application/json; charset=utf-8".into()));
    ctx.log.info(
        "SetUtf8JsonAcceptHeadersForResourceEndpointRequest",
        "Accept: application/json; charset=utf-8",
    );
    let resp = call_resource(
        ctx,
        f,
        &ResourceCall {
            headers: h.clone(),
            reqs: &["RFC7231-5.3.2"],
            ..Default::default()
        },
    )
    .await?;
    ctx.log.check(
        "EnsureHttpStatusCodeIs200or201",
        Failure,
        &[],
        status_in(&resp, 200..=201, "resource"),
    );
    h.retain(|(k, _)| k != "accept");
    h.push((
        "accept".into(),
        "application/json; charset=utf-8, application/jwt, */*".into(),
    ));
    ctx.log.info(
        "SetPermissiveAcceptHeaderForResourceEndpointRequest",
        "Accept: application/json; charset=utf-8, application/jwt, */*",
    );
    let resp = call_resource(
        ctx,
        f,
        &ResourceCall {
            headers: h,
            reqs: &["RFC7231-5.3.2"],
            ..Default::default()
        },
    )
    .await?;
    ctx.log.check(
        "EnsureHttpStatusCodeIs200or201",
        Failure,
        &[],
        status_in(&resp, 200..=201, "resource"),
    );
    ctx.log.info(
        "ClearAcceptHeaderForResourceEndpointRequest",
        "Accept cleared",
    );
    Ok(())
}

/// EnsureIdTokenDoesNotContainNonRequestedClaims: only the ID token's own claims and the
/// claims of the requested scopes.
pub(super) fn id_token_only_requested_claims(ctx: &Ctx<'_>) -> Check {
    let claims = ctx
        .id_token
        .as_ref()
        .map(|t| t.claims.clone())
        .unwrap_or(Value::Null);
    crate::modules::id_token_has_only_requested_claims(&claims, &ctx.scope)
}
