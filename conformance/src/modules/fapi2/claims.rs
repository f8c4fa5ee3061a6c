//! fapi2-security-profile-final-test-claims-parameter-identity-claims.

use super::*;

/// The standard claims of OIDC Core §5.1
/// (AddAllSupportedStandardClaimsToAuthorizationEndpointRequestIdTokenAndUserinfoClaims.oidcClaims).
pub(super) const OIDC_STANDARD_CLAIMS: &[&str] = &[
    "sub",
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
];

/// AbstractAddClaimToAuthorizationEndpointRequest.addRequestsForClaims: each claim asked for
/// in the next of the OIDC Core §5.5.1 forms (null, {}, essential true, an unknown member that
/// must be ignored, essential false).
pub(super) fn claim_requests(names: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    for (i, name) in names.iter().enumerate() {
        let request = match i % 5 {
            0 => Value::Null,
            1 => json!({}),
            2 => json!({"essential": true}),
            3 => {
                let mut member = serde_json::Map::new();
                member.insert(random_len(10), random_len(10).into());
                Value::Object(member)
            }
            _ => json!({"essential": false}),
        };
        out.insert(name.to_string(), request);
    }
    Value::Object(out)
}

/// The claims of `claims` that AbstractValidateOpenIdStandardClaims does not know (the
/// standard ones, `_claim_names`, `_claim_sources`, `txn` and the address members).
pub(super) fn unknown_claims(claims: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    for (name, value) in claims.as_object().into_iter().flatten() {
        let known = OIDC_STANDARD_CLAIMS.contains(&name.as_str())
            || ["_claim_names", "_claim_sources", "txn"].contains(&name.as_str());
        if !known {
            unknown.push(name.clone());
        } else if name == "address" {
            for member in value.as_object().into_iter().flatten().map(|(k, _)| k) {
                if !crate::modules::ADDRESS_MEMBERS.contains(&member.as_str()) {
                    unknown.push(format!("address.{member}"));
                }
            }
        }
    }
    unknown
}

/// ExtractIdentityClaimsFromIdToken: the ID token's claims less its own (iss, aud, exp, ...).
pub(super) fn id_token_identity_claims(ctx: &Ctx<'_>) -> Value {
    let mut claims = ctx
        .id_token
        .as_ref()
        .map(|t| t.claims.clone())
        .unwrap_or(json!({}));
    if let Some(o) = claims.as_object_mut() {
        for c in crate::modules::ID_TOKEN_NON_IDENTITY_CLAIMS {
            o.remove(*c);
        }
    }
    claims
}

/// fapi2-security-profile-final-test-claims-parameter-identity-claims
/// (FAPI2SPFinalTestClaimsParameterIdentityClaims): every standard claim the server lists in
/// claims_supported asked for in both the ID token and UserInfo through the claims parameter
/// (OIDC Core §5.5), plus a location nobody knows; each claim should come back in one of them.
/// Skipped when the server does not support the claims parameter or no standard claim.
pub async fn test_claims_parameter_identity_claims(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    match &ctx.server["claims_parameter_supported"] {
        Value::Bool(true) => {}
        Value::Null | Value::Bool(false) => {
            return Err(ctx.log.skip("The 'claims_parameter_supported' server metadata indicates that it does not support the claims parameter (which is permitted behaviour), so claims behaviour cannot be tested."));
        }
        other => {
            ctx.log.must_ok(
                "isClaimsParameterSupported",
                &[],
                fail(format!(
                    "'claims_parameter_supported' in the server metadata is not a boolean: {other}"
                )),
            )?;
        }
    }
    // CheckIfOidcStandardClaimsSupported.
    let supported: Vec<String> = match &ctx.server["claims_supported"] {
        Value::Null => {
            ctx.log.info(
                "CheckIfOidcStandardClaimsSupported",
                "claims_supported not found in server metadata",
            );
            Vec::new()
        }
        v => {
            let r = json_array_strings(v)
                .map(|all| {
                    let standard: Vec<String> = all
                        .into_iter()
                        .filter(|c| OIDC_STANDARD_CLAIMS.contains(&c.as_str()))
                        .collect();
                    let m = format!("standard claims in claims_supported: {standard:?}");
                    (standard, m)
                })
                .ok_or("claims_supported in server metadata is not an array of strings".into());
            ctx.log
                .must("CheckIfOidcStandardClaimsSupported", &["OIDCC-5.1"], r)?
        }
    };
    if supported.is_empty() {
        return Err(ctx.log.skip("The 'claims_supported' server metadata does not contain any standard OpenID Connect claims (which is permitted behaviour), and means claims behaviour cannot be tested."));
    }
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    let names: Vec<&str> = supported.iter().map(String::as_str).collect();
    let requested = claim_requests(&names);
    let mut claims = json!({ "id_token": requested.clone(), "userinfo": requested.clone() });
    ctx.log.must_ok(
        "AddAllSupportedStandardClaimsToAuthorizationEndpointRequestIdTokenAndUserinfoClaims",
        &["OIDCC-5.1", "OIDCC-5.5", "OIDCD-3"],
        ok(format!(
            "Added OpenID Connect claims from claims_supported for id_token and userinfo: {requested}"
        )),
    )?;
    claims[random_len(10)] = claim_requests(&[&random_len(10)]);
    ctx.log.must_ok(
        "AddRandomLocationClaimsToAuthorizationEndpointRequest",
        &["OIDCC-5.5"],
        ok("Added a request for claims in a random location, which must be ignored"),
    )?;
    ctx.request.insert("claims".into(), claims.to_string());
    push_current_request(ctx, &mut f).await?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    // requestProtectedResource, replaced by the module: the ID token's and UserInfo's claims.
    let mut identity = id_token_identity_claims(ctx);
    ctx.log.info(
        "ExtractIdentityClaimsFromIdToken",
        format!("Extracted identity_claims from id_token: {identity}"),
    );
    if crate::modules::endpoint(ctx, "userinfo_endpoint").is_some() {
        ctx.log.block("Call userinfo endpoint");
        ctx.log.must_ok(
            "CreateEmptyResourceEndpointRequestHeaders",
            &[],
            ok("empty headers"),
        )?;
        let condition = if f.dpop {
            ctx.log.info(
                "SetProtectedResourceUrlToUserInfoEndpoint",
                "the DPoP proof's htu is the UserInfo endpoint",
            );
            "CallProtectedResource"
        } else {
            "CallUserInfoEndpoint"
        };
        let resp = call_resource(
            ctx,
            &mut f,
            &ResourceCall {
                condition,
                ..Default::default()
            },
        )
        .await?;
        ctx.log.check(
            "EnsureHttpStatusCodeIs200",
            Failure,
            &[],
            status_in(&resp, 200..=200, "userinfo"),
        );
        // EnsureContentTypeJson, ExtractUserInfoFromUserInfoEndpointResponse,
        // ValidateUserInfoStandardClaims, EnsureUserInfoContainsSub,
        // EnsureUserInfoUpdatedAtValid, EnsureMemberValuesInClaimNameReference... and
        // VerifyUserInfoAndIdTokenInTokenEndpointSameSub.
        crate::modules::validate_userinfo(ctx, &resp)?;
        let userinfo = ctx.userinfo.clone().unwrap_or(json!({}));
        let unknown = unknown_claims(&userinfo);
        ctx.log.check(
            "CheckForUnexpectedClaimsInUserinfo",
            Warning,
            &["OIDCC-5.1"],
            if unknown.is_empty() {
                ok("userinfo response includes only known claims")
            } else {
                fail(format!(
                    "userinfo response includes claims with names that are not known: {unknown:?}"
                ))
            },
        );
        // AddIdentityClaimsFromUserInfo: a claim in both must have the same value.
        let differing: Vec<String> = userinfo
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, v)| identity.get(k.as_str()).is_some_and(|t| t != *v))
            .map(|(k, _)| k.clone())
            .collect();
        let r = if differing.is_empty() {
            ok("Merged identity claims from userinfo with those from id_token")
        } else {
            fail(format!(
                "Value of {differing:?} differs between id_token and userinfo"
            ))
        };
        ctx.log.must_ok("AddIdentityClaimsFromUserInfo", &[], r)?;
        for (k, v) in userinfo.as_object().into_iter().flatten() {
            identity[k] = v.clone();
        }
    } else {
        ctx.log.info(
            "requestProtectedResource",
            "No userinfo_endpoint in server metadata; skipping calling userinfo endpoint",
        );
    }
    let missing: Vec<&str> = names
        .iter()
        .copied()
        .filter(|c| identity.get(*c).is_none())
        .collect();
    ctx.log.check(
        "EnsureIdentityClaimsContainRequestedClaims",
        Warning,
        &["OIDCC-5.5"],
        if missing.is_empty() {
            ok("id_token and userinfo combined contain all the requested claims")
        } else {
            fail(format!(
                "The server did not return all the requested claims; missing: {missing:?}"
            ))
        },
    );
    let unknown = unknown_claims(&id_token_identity_claims(ctx));
    ctx.log.check(
        "CheckForUnexpectedClaimsInIdToken",
        Warning,
        &["OIDCC-5.1"],
        if unknown.is_empty() {
            ok("id_token includes only known claims")
        } else {
            fail(format!(
                "id_token includes claims with names that are not known: {unknown:?}"
            ))
        },
    );
    Ok(())
}
