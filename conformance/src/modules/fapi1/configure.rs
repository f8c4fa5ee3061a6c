//! The configure() of AbstractFAPI1AdvancedFinalServerTestModule: discovery, the server's
//! keys, the two clients' keys and certificates.

use super::*;

/// The configure() of AbstractFAPI1AdvancedFinalServerTestModule and configureClient().
pub(super) async fn setup(ctx: &mut Ctx<'_>) -> Flow<Fapi> {
    ctx.log.block("Configure");
    let jarm = ctx.variant_is("fapi_response_mode", "jarm");
    let par = ctx.variant_is("fapi_auth_request_method", "pushed");
    let mtls = ctx.auth == ClientAuth::Mtls;
    let redirect_uri = ctx.client.redirect_uri.clone();
    ctx.log
        .must_ok("CreateRedirectUri", &[], Ok(redirect_uri))?;
    get_dynamic_server_configuration(ctx).await?;
    let aliases = ctx.server["mtls_endpoint_aliases"].clone();
    ctx.log.info(
        "SupportMTLSEndpointAliases",
        format!("mtls_endpoint_aliases: {aliases}"),
    );
    let s = ctx.server.clone();
    ctx.log.must_ok(
        "CheckServerConfiguration",
        &[],
        ["authorization_endpoint", "token_endpoint", "issuer"]
            .iter()
            .find(|k| !s[**k].is_string())
            .map_or(Ok("required endpoints present".into()), |k| {
                Err(format!("'{k}' missing from the server configuration"))
            }),
    )?;
    fetch_server_keys(ctx).await?;
    check_server_jwks(ctx);
    let keys = ctx.server_jwks["keys"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    ctx.log.check(
        "FAPIEnsureMinimumServerKeyLength",
        Failure,
        &["FAPI1-BASE-5.2.2-5", "FAPI1-BASE-5.2.2-6"],
        min_key_length(&keys, "server"),
    );

    let one_client = ctx.client.clone();
    ctx.log.must_ok(
        "GetStaticClientConfiguration",
        &[],
        Ok(format!("client_id {}", one_client.client_id)),
    )?;
    let jwk1 = validate_client(ctx, &one_client)?;
    ctx.log.block("Verify configuration of second client");
    let r = ctx
        .client2()
        .map(|c| (c.clone(), format!("client_id {}", c.client_id)));
    let two_client = ctx.log.must("GetStaticClient2Configuration", &[], r)?;
    let jwk2 = validate_client(ctx, &two_client)?;
    let r = if jwk1 == jwk2 {
        Err("the two clients are configured with the same key".into())
    } else {
        Ok("the clients' keys differ".into())
    };
    ctx.log
        .check("ValidateClientPrivateKeysAreDifferent", Failure, &[], r);

    ctx.log.block("Configure");
    let resource = endpoint(ctx, "userinfo_endpoint");
    ctx.log.must_ok(
        "SetProtectedResourceUrlToSingleResourceEndpoint",
        &[],
        resource
            .map(|u| format!("resource: the UserInfo endpoint {u}"))
            .ok_or("no userinfo_endpoint to call as the resource".into()),
    )?;
    let r = ctx.back_for(&one_client).and_then(|a| {
        ctx.back_for(&two_client)
            .map(|b| ((a, b), "the clients' TLS connections".to_string()))
    });
    let (back1, back2) = ctx
        .log
        .must("ExtractMTLSCertificates2FromConfiguration", &[], r)?;
    let one = Party {
        back: back1,
        client: one_client,
    };
    let two = Party {
        back: back2,
        client: two_client,
    };
    Ok(Fapi {
        jarm,
        par,
        mtls,
        second: false,
        one,
        two,
        request: Map::new(),
        claims: Map::new(),
        request_object: String::new(),
        verifier: None,
        request_uri: None,
        par_expires_in: None,
        query: BTreeMap::new(),
        fragment: BTreeMap::new(),
        allow_plain_jarm_error: false,
        auth_id_token: None,
        token_type: String::new(),
        token_body: Value::Null,
        interaction_id: String::new(),
    })
}

/// validateClientConfiguration: the client's key (and certificate); returns its public JWK.
pub(super) fn validate_client(ctx: &mut Ctx<'_>, client: &Client) -> Flow<Value> {
    let r = match &client.tls {
        Some(t) => match std::fs::read_to_string(&t.cert_file) {
            Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => {
                Ok((pem, "client certificate and key configured".to_string()))
            }
            Ok(_) => Err("the client certificate is not a PEM certificate".to_string()),
            Err(e) => Err(format!("client certificate: {e}")),
        },
        None => Err("no TLS client certificate configured for the client".to_string()),
    };
    let ok = r.is_ok();
    ctx.log.check(
        "ExtractMTLSCertificatesFromConfiguration",
        Failure,
        &[],
        r.map(|(_, m)| m),
    );
    let r = signer_for(client).map(|s| (s, "the client's private key is usable".to_string()));
    let signer = ctx
        .log
        .must("ValidateClientJWKsPrivatePart", &["RFC7517-1.1"], r)?;
    let jwk = signer.public_jwk();
    ctx.log.must_ok(
        "ExtractJWKsFromStaticClientConfiguration",
        &[],
        Ok(format!("client jwks: {jwk}")),
    )?;
    ctx.log.must_ok(
        "CheckForKeyIdInClientJWKs",
        &["OIDCC-10.1"],
        if jwk["kid"].is_string() {
            Ok("the key has a kid".into())
        } else {
            Err("the client's key has no kid".into())
        },
    )?;
    ctx.log.check(
        "CheckDistinctKeyIdValueInClientJWKs",
        Failure,
        &["RFC7517-4.5"],
        Ok("one key".into()),
    );
    let alg = jwk["alg"].as_str().unwrap_or("");
    ctx.log.check(
        "FAPICheckKeyAlgInClientJWKs",
        Failure,
        &["FAPI1-ADV-8.6"],
        if alg == "PS256" || alg == "ES256" {
            Ok(format!("alg {alg}"))
        } else {
            Err(format!(
                "the client key's alg must be PS256 or ES256, not '{alg}'"
            ))
        },
    );
    ctx.log.check(
        "FAPIEnsureMinimumClientKeyLength",
        Failure,
        &["FAPI1-BASE-5.2.2-5", "FAPI1-BASE-5.2.2-6"],
        min_key_length(std::slice::from_ref(&jwk), "client"),
    );
    if ok {
        ctx.log.check(
            "ValidateMTLSCertificatesAsX509",
            Failure,
            &[],
            Ok("the certificate is a PEM X.509 certificate".into()),
        );
    }
    Ok(jwk)
}

/// Makes `party` the current client (switchToSecondClient / unmapClient).
pub(super) fn use_party(ctx: &mut Ctx<'_>, party: &Party) {
    ctx.client = party.client.clone();
    ctx.back = party.back.clone();
}
