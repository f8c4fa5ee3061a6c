//! AbstractFAPI2SPFinalServerTestModule.configure: discovery, the server's keys, the
//! static clients and switching between the first and the second.

use super::*;

/// AbstractFAPI2SPFinalServerTestModule.configure and configureClient.
pub async fn configure(ctx: &mut Ctx<'_>, f: &Fapi) -> Flow {
    ctx.log.block("Configure");
    ctx.log.must_ok(
        "CreateRedirectUri",
        &[],
        ok(ctx.client.redirect_uri.clone()),
    )?;
    fetch_configuration(ctx, f.openid).await?;
    if f.mtls_auth || f.mtls_bound {
        ctx.log.info(
            "SupportMTLSEndpointAliases",
            "mtls_endpoint_aliases are used for the client's back-channel requests",
        );
    }
    let s = ctx.server.clone();
    let missing = ["authorization_endpoint", "token_endpoint", "issuer"]
        .into_iter()
        .find(|k| !s[*k].is_string());
    ctx.log.must_ok(
        "CheckServerConfiguration",
        &[],
        match missing {
            Some(k) => fail(format!("'{k}' missing from the server configuration")),
            None => ok("required endpoints present"),
        },
    )?;
    if f.openid || f.jarm {
        fetch_server_keys(ctx).await?;
        check_server_jwks(ctx);
        let r = key_lengths(&ctx.server_jwks);
        ctx.log.check(
            "FAPI2FinalEnsureMinimumServerKeyLength",
            Failure,
            &["FAPI2-SP-FINAL-5.4.1-2", "FAPI2-SP-FINAL-5.4.1-3"],
            r,
        );
    }
    configure_client(ctx, f)?;
    ctx.log.must_ok(
        "GetResourceEndpointConfiguration",
        &[],
        ok(if f.openid {
            "resource: the UserInfo endpoint"
        } else {
            "resource: resource.resourceUrl"
        }),
    )?;
    let url = resource_url(ctx, f);
    ctx.log.must_ok(
        "SetProtectedResourceUrlToSingleResourceEndpoint",
        &[],
        url.map(|u| format!("protected resource: {u}"))
            .ok_or("no protected resource URL".to_string()),
    )
}

/// GetDynamicServerConfiguration (openid) or GetOauthDynamicServerConfiguration.
pub(super) async fn fetch_configuration(ctx: &mut Ctx<'_>, openid: bool) -> Flow<Resp> {
    if openid {
        return get_dynamic_server_configuration(ctx).await;
    }
    let url = ctx.cfg.discovery_url.clone();
    let r = browser::send(ctx.back.get(&url)).await;
    let r = r.and_then(|resp| match resp.json() {
        Some(v) if v.is_object() => Ok(((resp, v), format!("fetched {url}"))),
        _ => Err(format!(
            "server configuration is not a JSON object (HTTP {})",
            resp.status
        )),
    });
    let (resp, doc) = ctx
        .log
        .must("GetOauthDynamicServerConfiguration", &["RFC8414-3.2"], r)?;
    ctx.server = doc;
    Ok(resp)
}

/// AbstractEnsureMinimumKeyLength: RSA 2048 bits, EC 224.
pub(super) fn key_lengths(jwks: &Value) -> Check {
    for k in jwks["keys"].as_array().cloned().unwrap_or_default() {
        let bits = match k["kty"].as_str() {
            Some("RSA") => {
                let n = k["n"].as_str().unwrap_or("");
                let bytes =
                    base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, n)
                        .unwrap_or_default();
                let lead = bytes.iter().take_while(|b| **b == 0).count();
                ((bytes.len() - lead) * 8, 2048)
            }
            Some("EC") => (
                match k["crv"].as_str() {
                    Some("P-256") => 256,
                    Some("P-384") => 384,
                    Some("P-521") => 521,
                    _ => 0,
                },
                224,
            ),
            _ => continue,
        };
        if bits.0 < bits.1 {
            return fail(format!(
                "Key {} has fewer bits ({}) than required ({})",
                k["kid"], bits.0, bits.1
            ));
        }
    }
    ok("Validated minimum key lengths")
}

/// configureClient / validateClientConfiguration for the current client.
pub(super) fn configure_client(ctx: &mut Ctx<'_>, f: &Fapi) -> Flow {
    let cond = if f.second {
        "GetStaticClient2Configuration"
    } else {
        "GetStaticClientConfiguration"
    };
    ctx.log
        .must_ok(cond, &[], ok(format!("client_id {}", ctx.client.client_id)))?;
    if f.mtls_auth || f.mtls_bound {
        let r = match &ctx.client.tls {
            Some(t) => ok(format!("client certificate {}", t.cert_file.display())),
            None => fail("no mTLS certificate configured for the client"),
        };
        let cond = if f.second {
            "ExtractMTLSCertificates2FromConfiguration"
        } else {
            "ExtractMTLSCertificatesFromConfiguration"
        };
        ctx.log.check(cond, Failure, &[], r);
    }
    let signer = ctx.signer();
    let jwk = match &signer {
        Ok(s) => Ok((s.public_jwk(), "client jwks extracted".to_string())),
        Err(e) => Err(e.clone()),
    };
    let jwk = ctx.log.must(
        "ExtractJWKsFromStaticClientConfiguration",
        &["RFC7517-1.1"],
        jwk,
    )?;
    ctx.log.must_ok(
        "CheckForKeyIdInClientJWKs",
        &["OIDCC-10.1"],
        match jwk["kid"].as_str() {
            Some(k) if !k.is_empty() => ok(format!("kid {k}")),
            _ => fail("the client's key has no kid"),
        },
    )?;
    let alg = jwk["alg"].as_str().unwrap_or("").to_string();
    ctx.log.check(
        "FAPI2CheckKeyAlgInClientJWKs",
        Failure,
        &["FAPI2-SP-FINAL-5.4"],
        if FAPI2_ALGS.contains(&alg.as_str()) {
            ok(format!("client key alg {alg} is permitted"))
        } else {
            fail(format!(
                "client key alg '{alg}' is not one of {FAPI2_ALGS:?}"
            ))
        },
    );
    ctx.log.check(
        "FAPI2FinalEnsureMinimumClientKeyLength",
        Failure,
        &["FAPI2-SP-FINAL-5.4.1-2", "FAPI2-SP-FINAL-5.4.1-3"],
        key_lengths(&json!({"keys": [jwk]})),
    );
    Ok(())
}

/// configureSecondClient: the suite's client2 (role `<role>_2`), then back to the first.
pub fn configure_second_client(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ctx.log.block("Verify configuration of second client");
    let first_jwk = ctx.signer().map(|s| s.public_jwk()).unwrap_or(Value::Null);
    switch_to_second_client(ctx, f)?;
    configure_client(ctx, f)?;
    let second_jwk = ctx.signer().map(|s| s.public_jwk()).unwrap_or(Value::Null);
    switch_to_first_client(ctx, f);
    let same = dpop::thumbprint(&first_jwk) == dpop::thumbprint(&second_jwk)
        && first_jwk["kty"] == second_jwk["kty"];
    ctx.log.check(
        "ValidateClientPrivateKeysAreDifferent",
        Failure,
        &[],
        if same {
            fail("Client private keys are the same key")
        } else {
            ok("Client signing JWKs have different thumbprints")
        },
    );
    Ok(())
}

/// switchToSecondClient: client2's id, keys and certificate; no DPoP nonce carried over.
pub fn switch_to_second_client(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    let c2 = ctx.client2();
    let c2 = ctx.log.must(
        "GetStaticClient2Configuration",
        &[],
        c2.map(|c| {
            let id = c.client_id.clone();
            (c, format!("client_id {id}"))
        }),
    )?;
    if f.client1.is_none() {
        f.client1 = Some(ctx.client.clone());
    }
    let back = ctx.back_for(&c2);
    ctx.back = ctx.log.must(
        "ExtractMTLSCertificates2FromConfiguration",
        &[],
        back.map(|b| (b, "client2's back channel".to_string())),
    )?;
    ctx.client = c2;
    f.second = true;
    f.as_nonce = None;
    f.rs_nonce = None;
    Ok(())
}

/// unmapClient: back to the first client.
pub fn switch_to_first_client(ctx: &mut Ctx<'_>, f: &mut Fapi) {
    if let Some(c1) = f.client1.clone() {
        if let Ok(b) = ctx.back_for(&c1) {
            ctx.back = b;
        }
        ctx.client = c1;
    }
    f.second = false;
}

/// performAuthorizationFlowWithSecondClient up to the flow: switch to client 2, whose
/// redirect_uri carries a query the response must keep.
pub(super) fn switch_to_second_client_with_redirect_query(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ctx.log.block("Second client: Setup");
    switch_to_second_client(ctx, f)?;
    ctx.log.must_ok(
        "AddRedirectUriQuerySuffix",
        &["RFC6749-3.1.2"],
        ok("?dummy1=lorem&dummy2=ipsum"),
    )?;
    let redirect = ctx.client.redirect_uri.clone();
    ctx.log.must_ok(
        "CreateRedirectUri",
        &["RFC6749-3.1.2"],
        if redirect.contains("dummy1=lorem") && redirect.contains("dummy2=ipsum") {
            ok(redirect.clone())
        } else {
            fail(format!(
                "client2's redirect_uri must be registered with ?dummy1=lorem&dummy2=ipsum: {redirect}"
            ))
        },
    )
}
