//! The standard flow of AbstractFAPI2SPFinalServerTestModule: the browser's front channel,
//! setup, and the whole flow for one client.

use super::*;

/// The browser follows `url`: logs in and consents when `interact`.
pub async fn browse(ctx: &mut Ctx<'_>, url: Url, interact: bool) -> Flow<Visit> {
    browse_deciding(ctx, url, interact, "approve").await
}

/// `browse`, the user answering the login or consent page with `decision` (`approve`, or
/// `deny`: the user cancels).
pub async fn browse_deciding(
    ctx: &mut Ctx<'_>,
    url: Url,
    interact: bool,
    decision: &str,
) -> Flow<Visit> {
    let redirect_uri = ctx
        .request
        .get("redirect_uri")
        .cloned()
        .unwrap_or(ctx.client.redirect_uri.clone());
    let user = ctx.cfg.user.clone();
    let r = ctx
        .browser
        .visit_deciding(url, &redirect_uri, interact.then_some(&user), decision)
        .await;
    match r {
        Ok(v) => {
            let chose = if decision == "approve" {
                String::new()
            } else {
                format!(" (the user chose '{decision}')")
            };
            ctx.log.info(
                "performRedirect",
                format!(
                    "browser: {} login page(s), {} consent page(s){chose}, then {}",
                    v.login_pages,
                    v.consent_pages,
                    match &v.landing {
                        Landing::Callback { .. } => "the redirect_uri".to_string(),
                        Landing::Page { status, .. } => format!("a page (HTTP {status})"),
                    }
                ),
            );
            Ok(v)
        }
        Err(e) => {
            ctx.log.must_ok("performRedirect", &[], Err(e))?;
            Err(Stop)
        }
    }
}

/// The standard front channel: request, PAR, redirect, login and consent; returns the visit.
pub async fn par_and_authorize(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    req: &AuthReq,
    reordered: bool,
) -> Flow<Visit> {
    create_authorization_request(ctx, f, req)?;
    push_current_request(ctx, f).await?;
    ctx.log.block(&format!(
        "{}Make request to authorization endpoint",
        f.prefix()
    ));
    let url = request_uri_redirect(ctx, f, reordered)?;
    browse(ctx, url, true).await
}

/// The request of ctx.request pushed (signed when the variant says so), and the response
/// processed.
pub async fn push_current_request(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    let ro = if f.signed {
        create_request_object(ctx, f, &RequestObject::default())?;
        Some(sign_request_object(ctx, f)?)
    } else {
        None
    };
    ctx.log
        .block(&format!("{}Make request to PAR endpoint", f.prefix()));
    build_par_request(ctx, f, ro)?;
    let resp = call_par(ctx, f, crate::modules::AuthOverride::Default).await?;
    process_par_response(ctx, f, &resp)
}

/// The standard flow of AbstractFAPI2SPFinalServerTestModule for the current client, up to and
/// including the first resource request.
pub async fn authorization_flow(ctx: &mut Ctx<'_>, f: &mut Fapi, req: &AuthReq) -> Flow {
    let v = par_and_authorize(ctx, f, req, false).await?;
    expect_callback(ctx, f, &v)?;
    process_callback(ctx, f)?;
    exchange_code(ctx, f).await?;
    request_protected_resource(ctx, f).await
}

/// Start of every server module: the variant's state, configure, the scope.
pub async fn setup(ctx: &mut Ctx<'_>) -> Flow<Fapi> {
    let f = Fapi::new(ctx);
    // The client's scope (the suite's client.scope): offline_access, so refresh tokens are
    // issued and the refresh module can run.
    ctx.scope = if f.openid {
        "openid email offline_access".to_string()
    } else {
        "email offline_access".to_string()
    };
    configure(ctx, &f).await?;
    Ok(f)
}

/// The standard module: setup, then the whole flow for the first client.
pub(super) async fn standard(ctx: &mut Ctx<'_>, mut f: Fapi, req: &AuthReq) -> Flow {
    authorization_flow(ctx, &mut f, req).await
}
