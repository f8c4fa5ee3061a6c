//! fapi2-security-profile-final-user-rejects-authentication.

use super::*;

/// fapi2-security-profile-final-user-rejects-authentication
/// (FAPI2SPFinalUserRejectsAuthentication): for each client, in a fresh browser (so the user
/// is offered the login page), a 128-character state, and the user cancels; the client must
/// get `access_denied` at its redirect_uri (OIDC Core §3.1.2.6, RFC 6749 §4.1.2.1).
pub async fn user_rejects_authentication(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    configure_second_client(ctx, &mut f)?;
    for second in [false, true] {
        if second {
            switch_to_second_client_with_redirect_query(ctx, &mut f)?;
        }
        // The suite asks the tester to clear the provider's cookies: no login session.
        ctx.new_browser();
        let req = AuthReq {
            state_len: Some(128),
            ..Default::default()
        };
        create_authorization_request(ctx, &mut f, &req)?;
        push_current_request(ctx, &mut f).await?;
        ctx.log.block(&format!(
            "{}Make request to authorization endpoint",
            f.prefix()
        ));
        let url = request_uri_redirect(ctx, &f, false)?;
        let v = browse_deciding(ctx, url, true, "deny").await?;
        expect_callback(ctx, &f, &v)?;
        // CheckStateInAuthorizationResponse, EnsureErrorFromAuthorizationEndpointResponse,
        // CheckForUnexpectedParametersInErrorResponseFromAuthorizationEndpoint (dummy1 and
        // dummy2 expected for client 2) and the access_denied error.
        error_response_checks(
            ctx,
            "ExpectAccessDeniedErrorFromAuthorizationEndpointDueToUserRejectingRequest",
            &["access_denied"],
            Failure,
            &["OIDCC-3.1.2.6", "RFC6749-4.1.2.1"],
        );
        if second {
            let r = matching_callback_parameters(ctx, &f);
            ctx.log.must_ok("CheckMatchingCallbackParameters", &[], r)?;
        }
    }
    Ok(())
}
