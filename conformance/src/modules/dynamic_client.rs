//! The `client_registration=dynamic_client` variant of the OIDCC plans (basic, implicit,
//! hybrid and their form_post forms): the module's body is the static variant's, but its
//! clients are registered at the provider's `registration_endpoint` in Configure, as
//! AbstractOIDCCServerTest.configureClient does with DYNAMIC_CLIENT (the second one too for
//! the modules with two clients, AbstractOIDCCMultipleClient), and deleted at the end
//! (`cleanup`: UnregisterDynamicallyRegisteredClient, RFC 7592).
//!
//! The registration is OIDCCCreateDynamicClientRegistrationRequest for the variant's response
//! type and client authentication, plus what the module's createDynamicClientRegistrationRequest
//! override adds.

use super::*;
use crate::registration::{self as reg, KeyPlacement};
use serde_json::json;

/// The runner configuration's client templates (signing key and redirect_uri; no client_id)
/// of this variant; `<role>_2` is the second client's.
pub const TEMPLATE_ROLE: &str = "dynamic_client";

/// What a module's createDynamicClientRegistrationRequest override adds.
struct Additions {
    /// OIDCCRefreshToken: AddRefreshTokenGrantTypeToDynamicRegistrationRequest.
    refresh_grant: bool,
    /// AbstractOIDCCRequestUriServerTest: CreateRandomRequestUriWithFragment and
    /// AddRequestUriToDynamicRegistrationRequest.
    request_uri: bool,
    /// AbstractOIDCCMultipleClient: a second client (`client2`).
    second_client: bool,
}

fn additions(module: &str) -> Additions {
    Additions {
        refresh_grant: module == "oidcc-refresh-token",
        request_uri: module
            == "oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported",
        second_client: module == "oidcc-refresh-token",
    }
}

/// AbstractOIDCCServerTest.configure with DYNAMIC_CLIENT: the server, then the client (and the
/// second one) registered and configured, then the protected resource.
pub async fn configure(ctx: &mut Ctx<'_>) -> Flow {
    ctx.log.block("Configure");
    ctx.log.must_ok(
        "CreateRedirectUri",
        &[],
        Ok(format!("redirect_uri {}", ctx.client.redirect_uri)),
    )?;
    configure_server_and_keys(ctx).await?;
    let add = additions(ctx.module);
    let template = ctx.client.clone();
    let first = register(ctx, &template, true, &add).await?;
    ctx.client = first.clone();
    complete_client_configuration_for_auth(ctx)?;
    if add.second_client {
        ctx.log.block("Second client: Configure");
        let template2 = ctx.log.must(
            "StoreOriginalClient2Configuration",
            &[],
            ctx.cfg
                .client(&format!("{}_2", ctx.role))
                .map(|c| (c.clone(), "the second client template".into())),
        )?;
        let second = register(ctx, &template2, false, &add).await?;
        ctx.client = second.clone();
        complete_client_configuration_for_auth(ctx)?;
        ctx.client = first;
        ctx.registered_client2 = Some(second);
    }
    ctx.log.must_ok(
        "SetProtectedResourceUrlToUserInfoEndpoint",
        &[],
        Ok("the UserInfo endpoint".into()),
    )
}

/// StoreOriginalClient(2)Configuration, ExtractClientNameFromStoredConfig,
/// ExtractInitialAccessTokenFromStoredConfig, createDynamicClientRegistrationRequest and
/// CallDynamicRegistrationEndpointAndVerifySuccessfulResponse: the registered client, as the
/// runner's `Client`.
async fn register(
    ctx: &mut Ctx<'_>,
    template: &Client,
    first_client: bool,
    add: &Additions,
) -> Flow<Client> {
    super::dynamic::stored_client_configuration(ctx, first_client)?;
    // GenerateRS256ClientJWKs: ring cannot generate RSA keys, so the key is the template's.
    let key = ctx.log.must(
        "LoadClientKey",
        &[],
        template
            .signing_key
            .as_ref()
            .ok_or("the client template has no signing_key".to_string())
            .and_then(|k| reg::client_key(k, false))
            .map(|k| {
                let s = format!("RSA key from {}", k.signing.file.display());
                (k, s)
            }),
    )?;
    let name = format!(
        "OIDF Conformance Test {}-{}",
        ctx.module,
        jose::random_value(6)
    );
    let mut req = reg::create_request(
        ctx,
        &key,
        &KeyPlacement::Jwks,
        &template.redirect_uri,
        &name,
    )?;
    if add.refresh_grant {
        reg::add_grant_type(ctx, &mut req, "refresh_token")?;
    }
    let mut request_uri = None;
    if add.request_uri {
        let uri = ctx.log.must(
            "CreateRandomRequestUriWithFragment",
            &["OIDCC-6.2"],
            random_request_uri(ctx).map(|u| (u.clone(), u)),
        )?;
        req["request_uris"] = json!([uri]);
        ctx.log.must_ok(
            "AddRequestUriToDynamicRegistrationRequest",
            &[],
            Ok(format!("request_uris [{uri}]")),
        )?;
        request_uri = Some(uri);
    }
    add_logout_uris(ctx, template, &mut req)?;
    let registered = reg::register(ctx, &req).await?;
    ctx.registered.push(registered.clone());
    let mut client = template.clone();
    client.client_id = registered["client_id"].as_str().unwrap_or_default().into();
    client.client_secret = registered["client_secret"].as_str().map(str::to_string);
    client.request_uri = request_uri;
    client.signing_key = Some(key.signing);
    Ok(client)
}

/// The logout modules' createDynamicClientRegistrationRequest additions, for the URIs the
/// module made (AbstractOIDCCRpInitiatedLogout, OIDCCBackChannelRpInitiatedLogout,
/// OIDCCFrontChannelRpInitiatedLogout).
fn add_logout_uris(ctx: &mut Ctx<'_>, template: &Client, req: &mut Value) -> Flow {
    if let Some(uri) = &template.post_logout_redirect_uri {
        req["post_logout_redirect_uris"] = json!([uri]);
        ctx.log.must_ok(
            "AddPostLogoutRedirectUriToDynamicRegistrationRequest",
            &["OIDCRIL-3.1"],
            Ok(format!("post_logout_redirect_uris [{uri}]")),
        )?;
    }
    for (channel, uri, reqs) in [
        (
            "backchannel",
            &template.backchannel_logout_uri,
            "OIDCBCL-2.2",
        ),
        (
            "frontchannel",
            &template.frontchannel_logout_uri,
            "OIDCFCL-2",
        ),
    ] {
        let Some(uri) = uri else { continue };
        let title = if channel == "backchannel" {
            "Backchannel"
        } else {
            "Frontchannel"
        };
        req[format!("{channel}_logout_session_required")] = json!(true);
        ctx.log.must_ok(
            &format!("Add{title}LogoutSessionRequiredTrueToDynamicRegistrationRequest"),
            &[reqs],
            Ok(format!("{channel}_logout_session_required true")),
        )?;
        req[format!("{channel}_logout_uri")] = json!(uri);
        ctx.log.must_ok(
            &format!("Add{title}LogoutUriToDynamicRegistrationRequest"),
            &[reqs],
            Ok(format!("{channel}_logout_uri {uri}")),
        )?;
    }
    Ok(())
}

/// A request_uri on the runner's own server, with a fragment (OIDC Core §6.2).
fn random_request_uri(ctx: &Ctx<'_>) -> Check<String> {
    let addr = ctx
        .cfg
        .rp_listen
        .as_deref()
        .ok_or("no rp_listen configured: the runner cannot serve request objects")?;
    Ok(format!(
        "http://{addr}/dynamic/{}/requesturi/{}#{}",
        jose::random_value(12),
        jose::random_value(32),
        jose::sha256_b64(&jose::random_value(32))
    ))
}

/// The suite's cleanup (unregisterClient, and the second client's in
/// AbstractOIDCCMultipleClient.cleanup): each registered client deleted through its
/// `registration_client_uri`; a failure is a WARNING.
pub async fn cleanup(ctx: &mut Ctx<'_>) {
    for (i, client) in std::mem::take(&mut ctx.registered).iter().enumerate() {
        ctx.log.block(&format!(
            "{}Unregister dynamically registered client",
            if i == 0 { "" } else { "Second client: " }
        ));
        reg::unregister(ctx, client).await;
    }
}
