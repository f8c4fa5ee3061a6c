//! The shape of the modules that expect a refusal (AbstractFAPI1AdvancedFinal(PAR)Expecting
//! AuthorizationEndpointPlaceholderOrCallback).

use super::*;

/// What a module expecting a refusal checks in the authorization response.
#[derive(Clone, Copy)]
pub(super) struct Refusal {
    /// The placeholder condition: the error page the suite asks a screenshot of.
    pub(super) page: Page,
    /// processParErrorResponse: the condition and the errors it accepts (None: the module
    /// does not expect the PAR endpoint to refuse).
    pub(super) par: Option<ErrSpec>,
    /// The error check of the callback: condition, severity, requirements, errors.
    pub(super) error: (
        &'static str,
        Outcome,
        &'static [&'static str],
        &'static [&'static str],
    ),
    /// A success response is permitted too (it then runs the whole flow).
    pub(super) success_allowed: bool,
    /// CheckStateInAuthorizationResponse only when the response has a state.
    pub(super) state_if_present: bool,
    /// The request carried no state inside the object (VerifyNoStateInAuthorizationResponse,
    /// VerifyNoSHash on success).
    pub(super) no_state: bool,
    pub(super) allow_plain_jarm_error: bool,
}

impl Refusal {
    pub(super) fn new(
        page: Page,
        par: Option<ErrSpec>,
        error: (
            &'static str,
            Outcome,
            &'static [&'static str],
            &'static [&'static str],
        ),
    ) -> Refusal {
        Refusal {
            page,
            par,
            error,
            success_allowed: false,
            state_if_present: false,
            no_state: false,
            allow_plain_jarm_error: false,
        }
    }
}

/// A module of AbstractFAPI1AdvancedFinal(PAR)ExpectingAuthorizationEndpointPlaceholderOrCallback.
pub(super) async fn expect_refusal(ctx: &mut Ctx<'_>, t: Tweaks, r: Refusal) -> Flow {
    let mut f = setup(ctx).await?;
    f.allow_plain_jarm_error = r.allow_plain_jarm_error;
    let t = Tweaks {
        par_error_expected: r.par.is_some(),
        ..t
    };
    let v = match authorize(ctx, &mut f, &t).await? {
        Arrival::ParError(resp) => {
            let (cond, reqs, allowed) =
                r.par
                    .unwrap_or(("CheckPAREndpointResponse201WithNoError", &[], &[]));
            par_error(ctx, &resp, cond, allowed, reqs);
            return Ok(());
        }
        Arrival::Visit(v) => v,
    };
    if !arrive(ctx, &mut f, &v, Some(r.page))? {
        return Ok(());
    }
    process_callback(ctx, &mut f)?;
    if r.success_allowed && !ctx.response.contains_key("error") {
        if r.no_state {
            return success_without_state(ctx, &mut f).await;
        }
        successful_callback(ctx, &mut f)?;
        redeem_code(ctx, &mut f, TokenAuth::Default).await?;
        return request_protected_resource(ctx, &mut f, false).await;
    }
    let (cond, severity, reqs, allowed) = r.error;
    error_response_checks(ctx, r.state_if_present, cond, severity, reqs, allowed);
    Ok(())
}

/// AbstractFAPI1AdvancedFinalEnsureRequestObjectWithoutState's success path: no state, no
/// s_hash.
pub(super) async fn success_without_state(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    check_matching_callback_parameters(ctx, f, Failure);
    check_if_authorization_endpoint_error(ctx)?;
    let r = match ctx.response.get("state") {
        None => Ok("no state in the authorization response".into()),
        Some(s) => Err(format!(
            "state {s} is in the response, but was not in the request object"
        )),
    };
    ctx.log
        .check("VerifyNoStateInAuthorizationResponse", Failure, &[], r);
    extract_code(ctx)?;
    front_channel_id_token(ctx, f, true)?;
    redeem_code(ctx, f, TokenAuth::Default).await?;
    request_protected_resource(ctx, f, false).await
}
