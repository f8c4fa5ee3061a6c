//! The three logout plans (`OIDCCRpInitiatedLogoutTestPlan`,
//! `OIDCCBackchannelRpInitiatedLogoutTestPlan`, `OIDCCFrontchannelRpInitiatedLogoutTestPlan`):
//! their discovery modules and the modules of `AbstractOIDCCRpInitiatedLogout`, a code flow
//! followed by a visit to the `end_session_endpoint` (OpenID RP-Initiated Logout 1.0 §2) and,
//! when the browser is sent back to the `post_logout_redirect_uri`, an authorization request
//! with `prompt=none` that must fail because the user is logged out.

use super::discovery::https_url;
use super::oidcc::{check_error_is_one_of, generic_error_checks};
use super::*;
use crate::browser::LogoutVisit;
use crate::plans::{Entry, Plan};
use crate::rp_server::{self, Received};
use std::time::Duration;

/// The client of each plan (run.sh provisions them with their logout URIs on the runner's
/// server).
pub const RP_INITIATED_ROLE: &str = "logout";
pub const BACKCHANNEL_ROLE: &str = "logout_backchannel";
pub const FRONTCHANNEL_ROLE: &str = "logout_frontchannel";

/// The RP-Initiated Logout plan's second module list, in the plan's order.
const RP_INITIATED_MODULES: [&str; 10] = [
    "oidcc-rp-initiated-logout",
    "oidcc-rp-initiated-logout-bad-post-logout-redirect-uri",
    "oidcc-rp-initiated-logout-modified-id-token-hint",
    "oidcc-rp-initiated-logout-no-id-token-hint",
    "oidcc-rp-initiated-logout-no-params",
    "oidcc-rp-initiated-logout-no-post-logout-redirect-uri",
    "oidcc-rp-initiated-logout-no-state",
    "oidcc-rp-initiated-logout-only-state",
    "oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri",
    "oidcc-rp-initiated-logout-bad-id-token-hint",
];

/// How long the module waits for the provider's back-channel logout request (delivered
/// through its outbox) once the browser is back at the client.
const BACKCHANNEL_WAIT: Duration = Duration::from_secs(30);

fn discovery_entry(module: &'static str, role: &'static str) -> Entry {
    Entry {
        client_role: Some(role),
        variant: vec![
            ("server_metadata", "discovery"),
            ("client_registration", "static_client"),
        ],
        ..Entry::oidcc(module, ClientAuth::ClientSecretBasic, "code", "default")
    }
}

fn module_entry(module: &'static str, role: &'static str) -> Entry {
    Entry {
        client_role: Some(role),
        ..Entry::oidcc(module, ClientAuth::ClientSecretBasic, "code", "default")
    }
}

/// The plans leave client registration to the tester's menu: the static entries, then the
/// same modules registering their client (`dynamic_client` templates, modules/dynamic_client.rs).
fn static_and_dynamic(entries: Vec<Entry>) -> Vec<Entry> {
    let dynamic: Vec<Entry> = entries
        .iter()
        .map(|e| {
            let mut variant = vec![
                ("server_metadata", "discovery"),
                ("client_registration", "dynamic_client"),
            ];
            if !e.module.ends_with("discovery-endpoint-verification") {
                variant.extend([
                    ("response_type", "code"),
                    ("response_mode", "default"),
                    ("client_auth_type", "client_secret_basic"),
                ]);
            }
            Entry {
                client_role: Some(dynamic_client::TEMPLATE_ROLE),
                variant,
                ..e.clone()
            }
        })
        .collect();
    entries.into_iter().chain(dynamic).collect()
}

pub fn rp_initiated_plan() -> Plan {
    let mut entries = vec![discovery_entry(
        "oidcc-rp-initiated-logout-discovery-endpoint-verification",
        RP_INITIATED_ROLE,
    )];
    entries.extend(
        RP_INITIATED_MODULES
            .iter()
            .map(|m| module_entry(m, RP_INITIATED_ROLE)),
    );
    Plan {
        name: "oidcc-rp-initiated-logout-certification-test-plan",
        entries: static_and_dynamic(entries),
    }
}

pub fn backchannel_plan() -> Plan {
    Plan {
        name: "oidcc-backchannel-rp-initiated-logout-certification-test-plan",
        entries: static_and_dynamic(vec![
            discovery_entry(
                "oidcc-backchannel-logout-discovery-endpoint-verification",
                BACKCHANNEL_ROLE,
            ),
            module_entry("oidcc-backchannel-rp-initiated-logout", BACKCHANNEL_ROLE),
        ]),
    }
}

pub fn frontchannel_plan() -> Plan {
    Plan {
        name: "oidcc-frontchannel-rp-initiated-logout-certification-test-plan",
        entries: static_and_dynamic(vec![
            discovery_entry(
                "oidcc-frontchannel-logout-discovery-endpoint-verification",
                FRONTCHANNEL_ROLE,
            ),
            module_entry("oidcc-frontchannel-rp-initiated-logout", FRONTCHANNEL_ROLE),
        ]),
    }
}

type ModuleFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Flow> + Send + 'a>>;

pub fn dispatch<'a, 'b: 'a>(name: &str, ctx: &'a mut Ctx<'b>) -> Option<ModuleFuture<'a>> {
    let discovery = match name {
        "oidcc-rp-initiated-logout-discovery-endpoint-verification" => Some(Discovery::RpInitiated),
        "oidcc-backchannel-logout-discovery-endpoint-verification" => Some(Discovery::Backchannel),
        "oidcc-frontchannel-logout-discovery-endpoint-verification" => {
            Some(Discovery::Frontchannel)
        }
        _ => None,
    };
    if let Some(d) = discovery {
        return Some(Box::pin(discovery_module(ctx, d)));
    }
    let kind = match name {
        "oidcc-rp-initiated-logout" => Kind::Logout,
        "oidcc-rp-initiated-logout-bad-post-logout-redirect-uri" => Kind::BadPostLogoutRedirectUri,
        "oidcc-rp-initiated-logout-modified-id-token-hint" => Kind::ModifiedIdTokenHint,
        "oidcc-rp-initiated-logout-no-id-token-hint" => Kind::NoIdTokenHint,
        "oidcc-rp-initiated-logout-no-params" => Kind::NoParams,
        "oidcc-rp-initiated-logout-no-post-logout-redirect-uri" => Kind::NoPostLogoutRedirectUri,
        "oidcc-rp-initiated-logout-no-state" => Kind::NoState,
        "oidcc-rp-initiated-logout-only-state" => Kind::OnlyState,
        "oidcc-rp-initiated-logout-query-added-to-post-logout-redirect-uri" => {
            Kind::QueryAddedToPostLogoutRedirectUri
        }
        "oidcc-rp-initiated-logout-bad-id-token-hint" => Kind::BadIdTokenHint,
        "oidcc-backchannel-rp-initiated-logout" => Kind::Backchannel,
        "oidcc-frontchannel-rp-initiated-logout" => Kind::Frontchannel,
        _ => return None,
    };
    Some(Box::pin(logout_module(ctx, kind)))
}

// ---- discovery ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Discovery {
    RpInitiated,
    Backchannel,
    Frontchannel,
}

/// AbstractValidateJsonBoolean: `name` must be `true` (absent means `false`).
fn boolean_true(server: &Value, name: &str) -> Check {
    match server.get(name) {
        None => Err(format!(
            "'{name}' should be 'true', but is absent and the default value is 'false'."
        )),
        Some(Value::Bool(true)) => Ok(format!("{name} has correct value")),
        Some(Value::Bool(false)) => Err(format!("{name} must be: true")),
        Some(_) => Err(format!("{name}: incorrect type, must be a boolean.")),
    }
}

/// OIDCC{RpInitiated,Backchannel,Frontchannel}LogoutDiscoveryEndpointVerification.
async fn discovery_module(ctx: &mut Ctx<'_>, which: Discovery) -> Flow {
    ctx.log.block("Configure");
    let resp = get_dynamic_server_configuration(ctx).await?;
    if which == Discovery::Frontchannel {
        let r = if resp.status == 200 {
            Ok("HTTP 200".into())
        } else {
            Err(format!("discovery endpoint returned HTTP {}", resp.status))
        };
        ctx.log.check(
            "EnsureDiscoveryEndpointResponseStatusCodeIs200",
            Failure,
            &["OIDCD-4"],
            r,
        );
        let r = if resp.content_type.starts_with("application/json") {
            Ok("application/json".into())
        } else {
            Err(format!("Content-Type is '{}'", resp.content_type))
        };
        ctx.log.check(
            "CheckDiscoveryEndpointReturnedJsonContentType",
            Failure,
            &["OIDCD-4"],
            r,
        );
    }
    ctx.log.block("Verify discovery document");
    let s = ctx.server.clone();
    let bad: Vec<String> = s
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| k.ends_with("_endpoint"))
                .filter_map(|k| https_url(&s, k).err())
                .collect()
        })
        .unwrap_or_default();
    let r = if bad.is_empty() {
        Ok("every *_endpoint is https".into())
    } else {
        Err(bad.join("; "))
    };
    ctx.log
        .check("CheckDiscEndpointAllEndpointsAreHttps", Failure, &[], r);
    // Certification requires the session variant: `sid` in the ID token and in the logout
    // token or request ("the mess with cookies and SameSite", as the suite says).
    match which {
        Discovery::RpInitiated => {}
        Discovery::Backchannel => {
            let r = boolean_true(&s, "backchannel_logout_supported");
            ctx.log.check(
                "CheckDiscEndpointBackchannelLogoutSupported",
                Failure,
                &["OIDCBCL-2.1"],
                r,
            );
            let r = boolean_true(&s, "backchannel_logout_session_supported");
            ctx.log.check(
                "CheckDiscEndpointBackchannelLogoutSessionSupported",
                Failure,
                &["OIDCBCL-2.1"],
                r,
            );
        }
        Discovery::Frontchannel => {
            let r = boolean_true(&s, "frontchannel_logout_supported");
            ctx.log.check(
                "CheckDiscEndpointFrontchannelLogoutSupported",
                Failure,
                &["OIDCFCL-2"],
                r,
            );
            let r = boolean_true(&s, "frontchannel_logout_session_supported");
            ctx.log.check(
                "CheckDiscEndpointFrontchannelLogoutSessionSupported",
                Failure,
                &["OIDCFCL-2"],
                r,
            );
        }
    }
    let r = https_url(&s, "end_session_endpoint");
    ctx.log.check(
        "CheckDiscEndSessionEndpoint",
        Failure,
        &["OIDCBCL-3", "OIDCRIL-2.1"],
        r,
    );
    Ok(())
}

// ---- the logout modules --------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    Logout,
    BadPostLogoutRedirectUri,
    ModifiedIdTokenHint,
    NoIdTokenHint,
    NoParams,
    NoPostLogoutRedirectUri,
    NoState,
    OnlyState,
    QueryAddedToPostLogoutRedirectUri,
    BadIdTokenHint,
    Backchannel,
    Frontchannel,
}

/// What the module expects of the end-session endpoint: a redirect to the
/// post_logout_redirect_uri, or (the suite's screenshot placeholder) a page.
enum Expect {
    Redirect,
    /// `ExpectSuccessfulLogoutPage`: the user is logged out.
    LoggedOutPage,
    /// An error page or a confirmation, and no redirect back: the placeholder's condition
    /// and text, and the message the suite fails with when the client is called anyway.
    ErrorOrConfirmation(&'static str, &'static str),
}

impl Kind {
    fn expect(self) -> Expect {
        use Kind::*;
        match self {
            Logout | NoState | Backchannel | Frontchannel => Expect::Redirect,
            NoParams | NoPostLogoutRedirectUri | OnlyState => Expect::LoggedOutPage,
            BadPostLogoutRedirectUri | QueryAddedToPostLogoutRedirectUri => {
                Expect::ErrorOrConfirmation(
                    "ExpectPostLogoutRedirectUriNotRegisteredErrorPage",
                    "OP has incorrectly called the registered post_logout_redirect_uri even though a different uri was requested.",
                )
            }
            ModifiedIdTokenHint | BadIdTokenHint => Expect::ErrorOrConfirmation(
                "ExpectInvalidIdTokenHintErrorPage",
                "OP has incorrectly called the registered post_logout_redirect_uri even though an invalid id_token_hint was provided.",
            ),
            NoIdTokenHint => Expect::ErrorOrConfirmation(
                "ExpectIdTokenHintRequiredErrorPage",
                "OP has incorrectly called the registered post_logout_redirect_uri even though no id_token_hint was provided.",
            ),
        }
    }
}

/// The logout URIs of the client, as the suite derives them from its base URL
/// (CreatePostLogoutRedirectUri, CreateBackchannelLogoutUri, CreateFrontchannelLogoutUri); the
/// static client registered them.
fn logout_uri(ctx: &mut Ctx<'_>, condition: &str, reqs: &[&str], uri: Option<String>) -> Flow<Url> {
    let r = match uri.as_deref().map(Url::parse) {
        Some(Ok(u)) => Ok((u.clone(), format!("{u}"))),
        Some(Err(e)) => Err(format!("not a URL: {e}")),
        None => Err(format!(
            "the client {} has no such URI configured",
            ctx.client.client_id
        )),
    };
    ctx.log.must(condition, reqs, r)
}

/// The module's state beyond the shared context.
struct Logout {
    kind: Kind,
    post_logout_redirect_uri: Url,
    end_session_state: Option<String>,
    /// The ID token of the token endpoint (`id_token` in the suite's environment).
    id_token_claims: Value,
}

/// With dynamic_client the module makes its URIs on its own base URL (the suite's
/// `base_url`, one per test: here a random path on the runner's server), and registers them.
fn dynamic_logout_uris(ctx: &mut Ctx<'_>, kind: Kind) -> Flow {
    let r = match ctx.cfg.rp_listen.as_deref() {
        Some(addr) => {
            let scheme = rp_server::scheme();
            let base = format!("{scheme}://{addr}/dynamic/{}", jose::random_value(12));
            Ok((base.clone(), format!("base_url {base}")))
        }
        None => Err("no rp_listen configured: the runner cannot receive logout requests".into()),
    };
    let base = ctx.log.must("CreateBaseUrl", &[], r)?;
    ctx.client.post_logout_redirect_uri = Some(format!("{base}/post_logout_redirect"));
    ctx.client.backchannel_logout_uri =
        (kind == Kind::Backchannel).then(|| format!("{base}/backchannel_logout"));
    ctx.client.frontchannel_logout_uri =
        (kind == Kind::Frontchannel).then(|| format!("{base}/frontchannel_logout"));
    Ok(())
}

async fn logout_module(ctx: &mut Ctx<'_>, kind: Kind) -> Flow {
    if ctx.variant_is("client_registration", "dynamic_client") {
        dynamic_logout_uris(ctx, kind)?;
    }
    let backchannel_uri = match kind {
        Kind::Backchannel => {
            let uri = ctx.client.backchannel_logout_uri.clone();
            Some(logout_uri(
                ctx,
                "CreateBackchannelLogoutUri",
                &["OIDCBCL-2.2"],
                uri,
            )?)
        }
        _ => None,
    };
    let frontchannel_uri = match kind {
        Kind::Frontchannel => {
            let uri = ctx.client.frontchannel_logout_uri.clone();
            Some(logout_uri(
                ctx,
                "CreateFrontchannelLogoutUri",
                &["OIDCFCL-2"],
                uri,
            )?)
        }
        _ => None,
    };
    let uri = ctx.client.post_logout_redirect_uri.clone();
    let post_logout_redirect_uri = logout_uri(
        ctx,
        "CreatePostLogoutRedirectUri",
        &["OIDCRIL-2", "OIDCRIL-3"],
        uri,
    )?;
    configure(ctx).await?;
    // Requests left over from an earlier run of this client are not this module's (each
    // client's logout URIs are its own, so other modules' requests stay where they are).
    for uri in [&backchannel_uri, &frontchannel_uri].into_iter().flatten() {
        rp_server::take_received(uri.path());
    }
    // The first authorization: the whole code flow, with a 128 character state so a
    // provider corrupting long values shows (AbstractOIDCCRpInitiatedLogout.onConfigure).
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, &Req::default())?;
    let state = long_state(128);
    ctx.request.insert("state".into(), state.clone());
    ctx.state = Some(state);
    ctx.log.info(
        "requested_state_length",
        "state of 128 characters, to check the OP does not corrupt it",
    );
    let v = visit(ctx, true).await?;
    expect_callback(ctx, &v)?;
    process_callback(ctx)?;
    exchange_code(ctx).await?;
    request_protected_resource(ctx).await?;
    let (id_token_raw, id_token_claims) = match &ctx.id_token {
        Some(t) => (t.raw.clone(), t.claims.clone()),
        None => {
            return ctx.log.must_ok(
                "ExtractIdTokenFromTokenResponse",
                &[],
                Err("no id_token".into()),
            )
        }
    };
    let mut m = Logout {
        kind,
        post_logout_redirect_uri,
        end_session_state: None,
        id_token_claims,
    };
    ctx.log
        .block("Redirect to end session endpoint & wait for response");
    let hint = id_token_hint(ctx, kind, &id_token_raw)?;
    let visit = end_session(ctx, &mut m, hint).await?;
    match kind.expect() {
        Expect::Redirect => {
            let query = expect_post_logout_redirect(ctx, &m, &visit)?;
            match kind {
                Kind::Backchannel => {
                    let uri = backchannel_uri.expect("set for Backchannel");
                    verify_backchannel_request(ctx, &m, &uri).await?;
                }
                Kind::Frontchannel => {
                    let uri = frontchannel_uri.expect("set for Frontchannel");
                    verify_frontchannel_request(ctx, &m, &uri, &visit).await?;
                }
                _ => {}
            }
            verify_post_logout_redirect(ctx, &m, &query);
            prompt_none_must_fail(ctx).await
        }
        Expect::LoggedOutPage => logged_out_page_review(ctx, &m, visit).await,
        Expect::ErrorOrConfirmation(condition, called_anyway) => {
            error_or_confirmation_review(ctx, &m, &visit, condition, called_anyway)
        }
    }
}

/// A state of `len` characters (the suite's `requested_state_length`).
fn long_state(len: usize) -> String {
    let mut s = String::new();
    while s.len() < len {
        s.push_str(&jose::random_value(48));
    }
    s.truncate(len);
    s
}

/// The `id_token_hint` the module sends: the token endpoint's ID token, or the broken one of
/// the negative modules.
fn id_token_hint(ctx: &mut Ctx<'_>, kind: Kind, raw: &str) -> Flow<String> {
    match kind {
        Kind::ModifiedIdTokenHint => {
            // ChangeIdTokenToAlgNone: the provider's payload under an `alg: none` header.
            let payload = raw.split('.').nth(1).unwrap_or("");
            let jwt = format!("{}.{payload}.", jose::b64(br#"{"alg": "none"}"#));
            ctx.log.must_ok(
                "ChangeIdTokenToAlgNone",
                &[],
                Ok(format!(
                    "Changed id_token to be 'signed' with 'alg: none': {jwt}"
                )),
            )?;
            Ok(jwt)
        }
        Kind::BadIdTokenHint => {
            // Without client_jwks (a static client_secret_basic client),
            // GenerateJWKsFromClientSecret (HS256 needs a secret of at least 32 bytes); then
            // GenerateFakeIdTokenClaims (iss and aud the wrong way round: "issued" by the
            // client), SignFakeIdToken with the client's keys.
            let secret = ctx.client.client_secret.clone().unwrap_or_default();
            let has_jwks = ctx.client.signing_key.is_some();
            if !has_jwks {
                let r = if secret.len() >= 32 {
                    Ok(((), "Generated JWK Set from symmetric key".to_string()))
                } else {
                    Err(format!(
                        "The client secret configured in the test plan is too short to sign a JWT with. The HS256 requires a secret with at least 32 bytes and the provided secret is {} bytes.",
                        secret.len()
                    ))
                };
                ctx.log.must("GenerateJWKsFromClientSecret", &[], r)?;
            }
            let iat = now();
            let claims = serde_json::json!({
                "iss": ctx.client.client_id,
                "sub": "SubjectID",
                "aud": ctx.server_str("issuer").unwrap_or_default(),
                "nonce": "flibble",
                "iat": iat,
                "exp": iat + 5 * 60,
            });
            ctx.log
                .must_ok("GenerateFakeIdTokenClaims", &[], Ok(format!("{claims}")))?;
            let r = if has_jwks {
                ctx.signer()
                    .and_then(|k| k.sign(serde_json::json!({}), &claims))
            } else {
                Ok(sign_hs256(secret.as_bytes(), &claims))
            };
            ctx.log.must(
                "SignFakeIdToken",
                &[],
                r.map(|jwt| {
                    (
                        jwt,
                        "Signed a 'fake' ID token using the client's keys".into(),
                    )
                }),
            )
        }
        _ => Ok(raw.to_string()),
    }
}

/// A compact JWS with HS256 (the client secret as an `oct` key without a `kid`).
fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        jose::b64(br#"{"alg":"HS256"}"#),
        jose::b64(claims.to_string().as_bytes())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", jose::b64(tag.as_ref()))
}

/// AbstractOIDCCRpInitiatedLogout.onPostAuthorizationFlowComplete: the end-session request
/// (with the module's changes) and the browser's visit to it.
async fn end_session(ctx: &mut Ctx<'_>, m: &mut Logout, hint: String) -> Flow<LogoutVisit> {
    ctx.log
        .block("Redirect to end session endpoint & wait for response");
    // CreateRandomEndSessionState: RFC 6749 Appendix A VSCHARs, without '+', ' ' and ';'.
    let state = long_state(40);
    ctx.log.must_ok(
        "CreateRandomEndSessionState",
        &["OIDCRIL-2", "RFC6749A-A.5"],
        Ok(state.clone()),
    )?;
    let mut req: Vec<(String, String)> = vec![
        ("id_token_hint".into(), hint),
        (
            "post_logout_redirect_uri".into(),
            m.post_logout_redirect_uri.to_string(),
        ),
        ("state".into(), state.clone()),
    ];
    ctx.log.must_ok(
        "CreateEndSessionEndpointRequest",
        &["OIDCRIL-2"],
        Ok("id_token_hint, post_logout_redirect_uri, state".into()),
    )?;
    let remove = |req: &mut Vec<(String, String)>, name: &str| req.retain(|(k, _)| k != name);
    let set = |req: &mut Vec<(String, String)>, name: &str, value: String| {
        for (k, v) in req.iter_mut() {
            if k == name {
                *v = value.clone();
            }
        }
    };
    match m.kind {
        Kind::BadPostLogoutRedirectUri => {
            let bad = m
                .post_logout_redirect_uri
                .join("bad_post_logout_redirect_uri")
                .map(|u| u.to_string())
                .unwrap_or_default();
            set(&mut req, "post_logout_redirect_uri", bad.clone());
            ctx.log.must_ok(
                "AddBadPostLogoutRedirectUriToEndSessionEndpointRequest",
                &[],
                Ok(format!("post_logout_redirect_uri={bad}")),
            )?;
        }
        Kind::QueryAddedToPostLogoutRedirectUri => {
            let with_query = format!("{}?foo=bar", m.post_logout_redirect_uri);
            set(&mut req, "post_logout_redirect_uri", with_query.clone());
            ctx.log.must_ok(
                "AddPostLogoutRedirectUriWithQueryAddedToEndSessionEndpointRequest",
                &[],
                Ok(format!("post_logout_redirect_uri={with_query}")),
            )?;
        }
        Kind::NoIdTokenHint => {
            remove(&mut req, "id_token_hint");
            ctx.log.must_ok(
                "RemoveIdTokenHintFromEndSessionEndpointRequest",
                &[],
                Ok("id_token_hint removed".into()),
            )?;
        }
        Kind::NoParams => {
            req.clear();
            ctx.log.must_ok(
                "RemoveAllParametersFromEndSessionEndpointRequest",
                &[],
                Ok("no parameters".into()),
            )?;
        }
        Kind::NoPostLogoutRedirectUri => {
            remove(&mut req, "post_logout_redirect_uri");
            ctx.log.must_ok(
                "RemovePostLogoutRedirectUriFromEndSessionEndpointRequest",
                &[],
                Ok("post_logout_redirect_uri removed".into()),
            )?;
        }
        Kind::NoState => {
            remove(&mut req, "state");
            ctx.log.must_ok(
                "RemoveStateFromEndSessionEndpointRequest",
                &[],
                Ok("state removed".into()),
            )?;
        }
        Kind::OnlyState => {
            remove(&mut req, "id_token_hint");
            ctx.log.must_ok(
                "RemoveIdTokenHintFromEndSessionEndpointRequest",
                &[],
                Ok("id_token_hint removed".into()),
            )?;
            remove(&mut req, "post_logout_redirect_uri");
            ctx.log.must_ok(
                "RemovePostLogoutRedirectUriFromEndSessionEndpointRequest",
                &[],
                Ok("post_logout_redirect_uri removed".into()),
            )?;
        }
        _ => {}
    }
    m.end_session_state = req
        .iter()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.clone());
    let endpoint = ctx.server_str("end_session_endpoint");
    let r = match endpoint.as_deref().map(Url::parse) {
        Some(Ok(mut u)) => {
            if !req.is_empty() {
                u.query_pairs_mut().extend_pairs(req.iter());
            }
            Ok((u.clone(), format!("Sending to end_session endpoint: {u}")))
        }
        Some(Err(e)) => Err(format!("end_session_endpoint is not a URL: {e}")),
        None => Err("Couldn't find end_session endpoint".into()),
    };
    let url = ctx
        .log
        .must("BuildRedirectToEndSessionEndpoint", &["OIDCRIL-2"], r)?;
    if let Expect::ErrorOrConfirmation(placeholder, _) = m.kind.expect() {
        ctx.log
            .info(placeholder, "the page the provider shows is checked below");
    } else if let Expect::LoggedOutPage = m.kind.expect() {
        ctx.log.info(
            "ExpectSuccessfulLogoutPage",
            "the page the provider shows is checked below",
        );
    }
    let rp = m.post_logout_redirect_uri.clone();
    let r = ctx.browser.logout_visit(url, &rp).await;
    let v = ctx.log.must(
        "performRedirectToEndSessionEndpoint",
        &[],
        r.map(|v| {
            let s = describe(&v);
            (v, s)
        }),
    )?;
    Ok(v)
}

fn describe(v: &LogoutVisit) -> String {
    let end = match &v.landing {
        Landing::Callback { url, .. } => format!("sent back to the client at {url}"),
        Landing::Page { status, url, .. } => format!("a page (HTTP {status}) at {url}"),
    };
    format!("browser: {} iframe(s) loaded, then {end}", v.iframes.len())
}

/// The browser must have been sent to the registered post_logout_redirect_uri (the suite
/// waits for its `post_logout_redirect` path); its query (`query_string_params`).
fn expect_post_logout_redirect(
    ctx: &mut Ctx<'_>,
    m: &Logout,
    v: &LogoutVisit,
) -> Flow<BTreeMap<String, String>> {
    let r = match &v.landing {
        Landing::Callback { url, query, .. } if url.path() == m.post_logout_redirect_uri.path() => {
            Ok((query.clone(), format!("post_logout_redirect called: {url}")))
        }
        Landing::Callback { url, .. } => Err(format!(
            "the provider sent the browser to {url}, not to the post_logout_redirect_uri {}",
            m.post_logout_redirect_uri
        )),
        Landing::Page { status, url, body } => Err(format!(
            "the provider did not redirect to the post_logout_redirect_uri: HTTP {status} at {url}: {}",
            body.chars().take(300).collect::<String>()
        )),
    };
    ctx.log.must("WaitForPostLogoutRedirect", &["OIDCRIL-2"], r)
}

/// "Verify frontchannel post logout redirect": CheckPostLogoutState (CheckNoPostLogoutState
/// when no state was sent) and CheckForUnexpectedParametersInPostLogoutRedirect.
fn verify_post_logout_redirect(ctx: &mut Ctx<'_>, m: &Logout, query: &BTreeMap<String, String>) {
    ctx.log.block("Verify frontchannel post logout redirect");
    let got = query.get("state");
    match &m.end_session_state {
        Some(expected) => {
            let r = match got {
                None => Err("state not present in query params passed to post logout redirect uri.".into()),
                Some(s) if s == expected => {
                    Ok("state passed to post logout redirect uri matches request".into())
                }
                Some(s) => Err(format!(
                    "state in query params passed to post logout redirect uri does not match state passed in the end_session request: expected {expected}, actual {s}"
                )),
            };
            ctx.log
                .check("CheckPostLogoutState", Failure, &["OIDCRIL-2"], r);
        }
        None => {
            let r = match got {
                Some(_) => Err("state present in query params passed to post logout redirect uri, but no state was passed to request.".into()),
                None => Ok("state not passed to post logout redirect uri.".into()),
            };
            ctx.log
                .check("CheckNoPostLogoutState", Failure, &["OIDCRIL-2"], r);
        }
    }
    let unexpected: Vec<&String> = query.keys().filter(|k| *k != "state").collect();
    let r = if unexpected.is_empty() {
        Ok("post_logout_redirect includes only expected parameters".into())
    } else {
        Err(format!(
            "post_logout_redirect includes unexpected parameters in url query. This may indicate the server has misunderstood the spec, or it may be using extensions the test suite is unaware of: {unexpected:?}"
        ))
    };
    let reqs: &[&str] = if m.kind == Kind::Logout || m.kind == Kind::Frontchannel {
        &["OIDCRIL-2"]
    } else {
        &["OIDCRIL-3"]
    };
    ctx.log.check(
        "CheckForUnexpectedParametersInPostLogoutRedirect",
        Warning,
        reqs,
        r,
    );
}

/// The second authorization (`firstTime` false): prompt=none must come back with an error
/// that asks for a user interface, the user being logged out (OIDC Core §3.1.2.6).
async fn prompt_none_must_fail(ctx: &mut Ctx<'_>) -> Flow {
    ctx.log
        .block("Second authorization: Make request to authorization endpoint");
    create_authorization_request(
        ctx,
        &Req {
            extra: vec![("prompt".into(), "none".into())],
            ..Req::default()
        },
    )?;
    ctx.log.must_ok(
        "AddPromptNoneToAuthorizationEndpointRequest",
        &["OIDCC-3.1.2.1", "OIDCC-15.1"],
        Ok("prompt=none".into()),
    )?;
    let v = visit(ctx, false).await?;
    expect_callback(ctx, &v)?;
    ctx.log
        .block("Second authorization: Verify authorization endpoint response");
    generic_error_checks(ctx);
    check_error_is_one_of(
        ctx,
        "CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface",
        &["OIDCC-3.1.2.6"],
        &[
            "interaction_required",
            "login_required",
            "account_selection_required",
            "consent_required",
        ],
    );
    Ok(())
}

/// The negative modules: the client must not be called (the suite's handleHttp throws), and
/// the page must be an error page or a confirmation (the suite's screenshot; REVIEW).
fn error_or_confirmation_review(
    ctx: &mut Ctx<'_>,
    m: &Logout,
    v: &LogoutVisit,
    condition: &str,
    called_anyway: &str,
) -> Flow {
    match &v.landing {
        Landing::Callback { url, .. } => {
            // Any request to the client's base URL fails the suite's module, the registered
            // post_logout_redirect path as well as another.
            let what = if url.path() == m.post_logout_redirect_uri.path() {
                called_anyway.to_string()
            } else {
                format!("OP sent the browser to the client at {url} (not a registered post_logout_redirect_uri)")
            };
            ctx.log
                .must_ok("handlePostLogoutRedirect", &["OIDCRIL-2"], Err(what))
        }
        Landing::Page { status, url, body } => {
            let text: String = body.chars().take(160).collect();
            let confirmation = *status == 200 && !crate::form::forms(body).is_empty();
            if *status >= 400 || confirmation {
                let what = if confirmation {
                    "asked the user to confirm the logout"
                } else {
                    "showed an error page"
                };
                ctx.log.review(
                    condition,
                    &["OIDCRIL-2"],
                    format!(
                        "the provider {what} (HTTP {status} at {url}) and did not redirect: {text}"
                    ),
                );
                Ok(())
            } else {
                ctx.log.must_ok(
                    condition,
                    &["OIDCRIL-2"],
                    Err(format!(
                        "expected an error page or a logout confirmation, got HTTP {status} at {url} with no form: {text}"
                    )),
                )
            }
        }
    }
}

/// ExpectSuccessfulLogoutPage: no redirect to the client, and the user logged out. A
/// confirmation page is confirmed as the user would; the machine check that the session is
/// gone is a prompt=none authorization answered with an error.
async fn logged_out_page_review(ctx: &mut Ctx<'_>, m: &Logout, mut v: LogoutVisit) -> Flow {
    let rp = m.post_logout_redirect_uri.clone();
    let mut confirmed = false;
    if let Landing::Page {
        status: 200,
        url,
        body,
    } = &v.landing
    {
        if !crate::form::forms(body).is_empty() {
            let (url, body) = (url.clone(), body.clone());
            let r = ctx.browser.confirm_logout(&url, &body, &rp).await;
            v = ctx.log.must(
                "ConfirmLogout",
                &["OIDCRIL-2"],
                r.map(|v| {
                    let s = format!("the user confirmed the logout; {}", describe(&v));
                    (v, s)
                }),
            )?;
            confirmed = true;
        }
    }
    let (status, url, text) = match &v.landing {
        Landing::Callback { url, .. } => {
            return ctx.log.must_ok(
                "handlePostLogoutRedirect",
                &["OIDCRIL-2"],
                Err(format!(
                    "OP has incorrectly called the registered post_logout_redirect_uri when it wasn't in the request: {url}"
                )),
            )
        }
        Landing::Page { status, url, body } => (
            *status,
            url.clone(),
            body.chars().take(160).collect::<String>(),
        ),
    };
    if status != 200 {
        return ctx.log.must_ok(
            "ExpectSuccessfulLogoutPage",
            &["OIDCRIL-2"],
            Err(format!(
                "expected the logged-out page, got HTTP {status} at {url}: {text}"
            )),
        );
    }
    // The user must be logged out: prompt=none cannot succeed any more.
    prompt_none_must_fail(ctx).await?;
    let still_in = ctx.response.contains_key("code");
    let r = if still_in {
        Err("after the logout a prompt=none authorization still succeeded: the user was not logged out".to_string())
    } else {
        Ok(())
    };
    match r {
        Err(e) => ctx
            .log
            .must_ok("ExpectSuccessfulLogoutPage", &["OIDCRIL-2"], Err(e)),
        Ok(()) => {
            ctx.log.review(
                "ExpectSuccessfulLogoutPage",
                &["OIDCRIL-2"],
                format!(
                    "the provider {}showed a page (HTTP 200 at {url}), did not redirect, and the session is gone: {text}",
                    if confirmed { "asked for confirmation, then " } else { "" }
                ),
            );
            Ok(())
        }
    }
}

// ---- back-channel ----------------------------------------------------------------------------

/// EnsureIncomingTls12WithSecureCipherOrTls13 and EnsureIncomingTls13 (warnings in the
/// suite) on the connection that carried `req`.
pub fn check_incoming_tls(ctx: &mut Ctx<'_>, req: &Received) {
    let tls = req.tls.as_ref();
    let r = match tls {
        None => Err("TLS Protocol not found: the request came over plain http".to_string()),
        Some(t) if t.protocol == "TLSv1.3" => Ok("Found TLS 1.3 connection".to_string()),
        Some(t)
            if t.protocol == "TLSv1.2"
                && RECOMMENDED_TLS12_CIPHERS.contains(&t.cipher.as_str()) =>
        {
            Ok(format!(
                "TLS 1.2 in use and cipher is one recommended by BCP195: {}",
                t.cipher
            ))
        }
        Some(t) => Err(format!(
            "neither TLS 1.3 nor TLS 1.2 with a cipher BCP195 recommends: {} {}",
            t.protocol, t.cipher
        )),
    };
    ctx.log.check(
        "EnsureIncomingTls12WithSecureCipherOrTls13",
        Warning,
        &["BCP195-3.1.1"],
        r,
    );
    let r = match tls {
        None => Err("TLS protocol not found: the request came over plain http".to_string()),
        Some(t) if t.protocol == "TLSv1.3" => Ok("TLS 1.3 in use".to_string()),
        Some(t) => Err(format!("Client doesn't support TLS 1.3: {}", t.protocol)),
    };
    ctx.log
        .check("EnsureIncomingTls13", Warning, &["RFC9325-3.1.1"], r);
}

/// The TLS 1.2 ciphers of RFC 7525 (the suite's list, OpenSSL names).
const RECOMMENDED_TLS12_CIPHERS: [&str; 4] = [
    "DHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "DHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
];

/// OIDCCBackChannelRpInitiatedLogout.validateLogoutResults, "Verify backchannel logout
/// request": the request the provider POSTed to the client's backchannel_logout_uri.
async fn verify_backchannel_request(ctx: &mut Ctx<'_>, m: &Logout, uri: &Url) -> Flow {
    let got = rp_server::wait_received(uri.path(), BACKCHANNEL_WAIT).await;
    let r = match got.into_iter().find(|r| r.method == "POST") {
        Some(r) => Ok((r, "Received backchannel request".to_string())),
        None => Err(format!(
            "the provider made no POST to the backchannel_logout_uri {uri} within {} s of the logout",
            BACKCHANNEL_WAIT.as_secs()
        )),
    };
    let req: Received = ctx
        .log
        .must("WaitForBackchannelLogoutRequest", &["OIDCBCL-2.5"], r)?;
    ctx.log.block("Verify backchannel logout request");
    check_incoming_tls(ctx, &req);
    let raw = req.form.get("logout_token").cloned();
    if ctx.client.signing_key.is_none() {
        ctx.log.info(
            "ValidateLogoutTokenFromBackchannelLogoutRequestEncryption",
            "skipped: the client has no client_jwks (client_secret_basic)",
        );
    } else {
        // The client registered only a signing key, so the token must not be a JWE.
        let r = match raw.as_deref().map(|t| t.split('.').count()) {
            None => Err(
                "Couldn't find logout_token in backchannel_logout_request.body_form_params".into(),
            ),
            Some(5) => Err(
                "the logout token is encrypted, but the client registered no encryption key".into(),
            ),
            Some(_) => Ok(
                "The logout token is not encrypted using an asymmetric encryption algorithm".into(),
            ),
        };
        ctx.log.check(
            "ValidateLogoutTokenFromBackchannelLogoutRequestEncryption",
            Warning,
            &["OIDCBCL-2.4"],
            r,
        );
    }
    let r = match raw.as_deref().map(jose::decode) {
        None => {
            Err("Couldn't find logout_token in backchannel_logout_request.body_form_params".into())
        }
        Some(Err(e)) => Err(format!("logout_token: {e}")),
        Some(Ok(jws)) => Ok((jws, "Extracted the logout_token".to_string())),
    };
    let token = ctx.log.must(
        "ExtractLogoutTokenFromBackchannelLogoutRequest",
        &["OIDCBCL-2.5"],
        r,
    )?;
    let unexpected: Vec<&String> = req.form.keys().filter(|k| *k != "logout_token").collect();
    let r = if unexpected.is_empty() {
        Ok("backchannel_logout_request includes only expected parameters".into())
    } else {
        Err(format!("backchannel_logout_request includes unexpected parameters. This may indicate the server has misunderstood the spec, or it may be using extensions the test suite is unaware of: {unexpected:?}"))
    };
    ctx.log.check(
        "CheckForUnexpectedParametersInBackchannelLogoutRequest",
        Warning,
        &["OIDCBCL-2.5"],
        r,
    );
    let r = token.verify(&ctx.server_jwks);
    ctx.log
        .check("ValidateLogoutTokenSignature", Failure, &["OIDCBCL-2.4"], r);
    let claims = token.claims.clone();
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let r = logout_token_claims_valid(&claims, &issuer, &ctx.client.client_id);
    ctx.log
        .check("ValidateLogoutTokenClaims", Failure, &["OIDCBCL-2.4"], r);
    for (claim, condition) in [
        ("sub", "CheckIdTokenSubMatchesLogoutToken"),
        ("sid", "CheckIdTokenSidMatchesLogoutToken"),
    ] {
        if claims.get(claim).is_none() {
            ctx.log
                .info(condition, format!("skipped: logout_token has no {claim}"));
            continue;
        }
        let r = if m.id_token_claims.get(claim) == claims.get(claim) {
            Ok(format!(
                "{claim} in the id_token matches that in the logout_token"
            ))
        } else {
            Err(format!(
                "The id_token and the logout_token contain different {claim} claims, but must contain the same {claim}: id_token {}, logout_token {}",
                m.id_token_claims[claim], claims[claim]
            ))
        };
        ctx.log.check(condition, Failure, &["OIDCBCL-2.4"], r);
    }
    let r = if claims.get("nonce").is_some() {
        Err("Logout token has a nonce, which it must not.".into())
    } else {
        Ok("No nonce in logout token.".into())
    };
    ctx.log
        .check("CheckLogoutTokenNoNonce", Failure, &["OIDCBCL-2.4"], r);
    let r = if claims.get("sub").is_none() && claims.get("sid").is_none() {
        Err("logout token has neither sub nor sid - it must have at least one of them.".into())
    } else {
        Ok("logout token contains sub and/or sid".into())
    };
    ctx.log
        .check("CheckLogoutTokenHasSubOrSid", Failure, &["OIDCBCL-2.4"], r);
    Ok(())
}

/// ValidateLogoutTokenClaims (Back-Channel Logout 1.0 §2.4): iss, aud, iat (5 minutes' skew,
/// at most a day old), jti, and `events` holding exactly the back-channel logout event with
/// an empty object.
fn logout_token_claims_valid(claims: &Value, issuer: &str, client_id: &str) -> Check {
    const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
    match claims["iss"].as_str() {
        None => return Err("'iss' claim missing".into()),
        Some(i) if i != issuer => {
            return Err(format!("Issuer mismatch: expected {issuer}, actual {i}"))
        }
        _ => {}
    }
    match &claims["aud"] {
        Value::Null => return Err("'aud' claim missing".into()),
        Value::Array(a) if !a.iter().any(|x| x == client_id) => {
            return Err(format!("'aud' array does not contain our client id: {a:?}"))
        }
        Value::Array(_) => {}
        a if a.as_str() != Some(client_id) => {
            return Err(format!("'aud' is not our client id: {a}"))
        }
        _ => {}
    }
    let Some(iat) = claims["iat"].as_i64() else {
        return Err("'iat' claim missing".into());
    };
    let t = now();
    if iat > t + 5 * 60 {
        return Err(format!("Token 'iat' in the future: {iat}, now {t}"));
    }
    if iat < t - 24 * 3600 {
        return Err(format!("'iat' is more than 1 day in the past: {iat}"));
    }
    if claims.get("jti").and_then(Value::as_str).is_none() {
        return Err("jti missing".into());
    }
    let Some(events) = claims.get("events") else {
        return Err("'events' claim missing".into());
    };
    let Some(events) = events.as_object() else {
        return Err("'events' claim is not a json object".into());
    };
    if events.len() != 1 {
        return Err(format!(
            "'events' object does not contain exactly 1 entry: {events:?}"
        ));
    }
    match events.get(EVENT) {
        None => Err(format!(
            "{EVENT} entry is missing from 'events' claim: {events:?}"
        )),
        Some(Value::Object(o)) if o.is_empty() => {
            Ok("logout token iss, aud, iat, jti and events claims passed validation checks".into())
        }
        Some(Value::Object(_)) => Err(format!("{EVENT} is not an empty object")),
        Some(_) => Err(format!("{EVENT} is not a json object")),
    }
}

// ---- front-channel ---------------------------------------------------------------------------

/// OIDCCFrontChannelRpInitiatedLogout.validateLogoutResults, "Verify frontchannel logout
/// request": the browser loaded the client's frontchannel_logout_uri (in the logged-out
/// page's iframe) and the runner's server received it.
async fn verify_frontchannel_request(
    ctx: &mut Ctx<'_>,
    m: &Logout,
    uri: &Url,
    v: &LogoutVisit,
) -> Flow {
    let got = rp_server::wait_received(uri.path(), Duration::from_secs(5)).await;
    let loaded: Vec<String> = v
        .iframes
        .iter()
        .map(|(u, r)| format!("{u} ({r:?})"))
        .collect();
    let r = match got.into_iter().next() {
        Some(r) => Ok((
            r,
            format!("Received frontchannel request; iframes loaded: {loaded:?}"),
        )),
        None => Err(format!(
            "the frontchannel_logout_uri {uri} was not requested; iframes loaded: {loaded:?}"
        )),
    };
    let req = ctx
        .log
        .must("WaitForFrontchannelLogoutRequest", &["OIDCFCL-3"], r)?;
    ctx.log.block("Verify frontchannel logout request");
    let unexpected: Vec<&String> = req
        .query
        .keys()
        .filter(|k| *k != "iss" && *k != "sid")
        .collect();
    let r = if unexpected.is_empty() {
        Ok("frontchannel_logout_request includes only expected parameters".into())
    } else {
        Err(format!("frontchannel_logout_request includes unexpected parameters. This may indicate the server has misunderstood the spec, or it may be using extensions the test suite is unaware of: {unexpected:?}"))
    };
    ctx.log.check(
        "CheckForUnexpectedParametersInFrontchannelLogoutRequest",
        Warning,
        &["OIDCFCL-2"],
        r,
    );
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let r = match req.query.get("iss") {
        None => Err("'iss' missing from frontchannel logout request".into()),
        Some(i) if *i == issuer => {
            Ok("'iss' in frontchannel logout request matches server issuer".into())
        }
        Some(i) => Err(format!("Issuer mismatch: expected {issuer}, actual {i}")),
    };
    ctx.log
        .check("ValidateFrontchannelLogoutIss", Failure, &["OIDCFCL-2"], r);
    let r = match (req.query.get("sid"), m.id_token_claims["sid"].as_str()) {
        (None, _) => Err("'sid' missing from frontchannel logout request".into()),
        (Some(s), Some(id)) if s == id => {
            Ok("sid is the same in the id_token and the front channel logout request".into())
        }
        (Some(s), id) => Err(format!(
            "The id_token and the frontchannel logout request contain different sid claims, but must contain the same sid: id_token {id:?}, logout request {s}"
        )),
    };
    ctx.log.check(
        "CheckIdTokenSidMatchesFrontChannelLogoutRequest",
        Failure,
        &["OIDCFCL-2", "OIDCFCL-3"],
        r,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token() -> Value {
        json!({
            "iss": "https://op.example",
            "aud": "c1",
            "iat": now(),
            "jti": "j",
            "sid": "s",
            "events": {"http://schemas.openid.net/event/backchannel-logout": {}}
        })
    }

    #[test]
    fn logout_token_claims_follow_back_channel_logout_2_4() {
        assert!(logout_token_claims_valid(&token(), "https://op.example", "c1").is_ok());
        let mut t = token();
        t["aud"] = json!(["x", "c1"]);
        assert!(logout_token_claims_valid(&t, "https://op.example", "c1").is_ok());
        for (k, v) in [
            ("iss", json!("https://other.example")),
            ("aud", json!("c2")),
            ("iat", json!(now() + 3600)),
            ("jti", Value::Null),
            ("events", json!({})),
            (
                "events",
                json!({"http://schemas.openid.net/event/backchannel-logout": {"x": 1}}),
            ),
        ] {
            let mut t = token();
            t[k] = v;
            if t[k].is_null() {
                t.as_object_mut().unwrap().remove(k);
            }
            assert!(
                logout_token_claims_valid(&t, "https://op.example", "c1").is_err(),
                "{k} = {}",
                t[k]
            );
        }
    }

    #[test]
    fn the_fake_id_token_is_an_hs256_jws() {
        let jwt = sign_hs256(b"0123456789abcdef0123456789abcdef", &json!({"sub": "x"}));
        let jws = jose::decode(&jwt).unwrap();
        assert_eq!(jws.alg(), "HS256");
        assert_eq!(long_state(128).len(), 128);
    }
}
