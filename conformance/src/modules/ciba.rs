//! fapi-ciba-id1-test-plan (FAPICIBAID1TestPlan), plain_fapi, poll and ping mode, mtls and
//! private_key_jwt client authentication: the modules of AbstractFAPICIBAID1 and its subclasses. Every backchannel
//! authentication request is a signed request object (FAPI-CIBA §5.2.2); the runner plays the
//! user on the provider's approval page (`/ciba`), as its browser plays the login page
//! elsewhere (the suite's TellUserToDoCIBAAuthentication).

use super::*;
use crate::jose::{b64, random_value};
use crate::rp_server;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;
use std::time::Duration;

/// The plan's mtls client role (tls_client_auth, poll mode, PS256 request objects; the
/// private_key_jwt one is `fapi_ciba_private_key_jwt`).
pub const ROLE: &str = "fapi_ciba_mtls";

/// The modules run, in the plan's order.
pub const MODULES: [&str; 30] = [
    "fapi-ciba-id1-discovery-end-point-verification",
    "fapi-ciba-id1",
    "fapi-ciba-id1-user-rejects-authentication",
    "fapi-ciba-id1-multiple-call-to-token-endpoint",
    "fapi-ciba-id1-auth-req-id-expired",
    "fapi-ciba-id1-ensure-authorization-request-with-binding-message-succeeds",
    "fapi-ciba-id1-ensure-other-scope-order-succeeds",
    "fapi-ciba-id1-ensure-requested-expiry-as-string-succeeds",
    "fapi-ciba-id1-ensure-authorization-request-with-potentially-bad-binding-message",
    "fapi-ciba-id1-ensure-request-object-missing-aud-fails",
    "fapi-ciba-id1-ensure-request-object-bad-aud-fails",
    "fapi-ciba-id1-ensure-request-object-missing-iss-fails",
    "fapi-ciba-id1-ensure-request-object-bad-iss-fails",
    "fapi-ciba-id1-ensure-request-object-missing-exp-fails",
    "fapi-ciba-id1-ensure-request-object-expired-exp-fails",
    "fapi-ciba-id1-ensure-request-object-exp-is-70-minutes-in-future-fails",
    "fapi-ciba-id1-ensure-request-object-missing-iat-fails",
    "fapi-ciba-id1-ensure-request-object-missing-nbf-fails",
    "fapi-ciba-id1-ensure-request-object-nbf-is-10-minutes-in-future-fails",
    "fapi-ciba-id1-ensure-request-object-nbf-is-70-minutes-in-past-fails",
    "fapi-ciba-id1-ensure-request-object-missing-jti-fails",
    "fapi-ciba-id1-ensure-request-object-signature-algorithm-is-none-fails",
    "fapi-ciba-id1-ensure-request-object-signature-algorithm-is-bad-fails",
    "fapi-ciba-id1-ensure-request-object-signature-algorithm-is-RS256-fails",
    "fapi-ciba-id1-ensure-request-object-signed-by-other-client-fails",
    "fapi-ciba-id1-ensure-authorization-request-with-multiple-hints-fails",
    "fapi-ciba-id1-ensure-wrong-authentication-request-id-in-token-endpoint-request",
    "fapi-ciba-id1-ensure-backchannel-authorization-request-without-request-fails",
    "fapi-ciba-id1-ensure-mtls-holder-of-key-required",
    "fapi-ciba-id1-refresh-token",
];

/// The modules the suite marks `@VariantNotApplicable(ClientAuthType = private_key_jwt)`.
pub const MTLS_MODULES: [&str; 3] = [
    "fapi-ciba-id1-ensure-different-client-id-and-issuer-in-backchannel-authorization-request",
    "fapi-ciba-id1-ensure-wrong-client-id-in-token-endpoint-request",
    "fapi-ciba-id1-ensure-wrong-client-id-in-backchannel-authorization-request",
];

/// The modules the suite marks `@VariantNotApplicable(ClientAuthType = mtls)`.
pub const PRIVATE_KEY_JWT_MODULES: [&str; 5] = [
    "fapi-ciba-id1-ensure-client-assertion-with-iss-aud-to-token-endpoint-succeeds",
    "fapi-ciba-id1-ensure-without-client-assertion-in-token-endpoint-request",
    "fapi-ciba-id1-ensure-without-client-assertion-in-backchannel-authorization-request",
    "fapi-ciba-id1-ensure-client-assertion-signature-algorithm-in-backchannel-authorization-request-is-RS256-fails",
    "fapi-ciba-id1-ensure-client-assertion-signature-algorithm-in-token-endpoint-request-is-RS256-fails",
];

/// The modules the suite marks `@VariantNotApplicable(CIBAMode = poll)`: the client
/// notification endpoint's answers the provider must live with (CIBA §10.2).
pub const PING_MODULES: [&str; 5] = [
    "fapi-ciba-id1-ping-backchannel-notification-endpoint-response-has-body",
    "fapi-ciba-id1-ping-backchannel-notification-endpoint-response-401",
    "fapi-ciba-id1-ping-backchannel-notification-endpoint-response-403",
    "fapi-ciba-id1-ping-with-mtls-ciba-notification-endpoint-response-401-and-require-server-does-not-retry",
    "fapi-ciba-id1-ping-backchannel-notification-endpoint-return-redirect-request",
];

pub fn plan() -> crate::plans::Plan {
    let entries = [
        ("poll", ClientAuth::Mtls, ROLE),
        (
            "poll",
            ClientAuth::PrivateKeyJwt,
            "fapi_ciba_private_key_jwt",
        ),
        ("ping", ClientAuth::Mtls, "fapi_ciba_ping_mtls"),
        (
            "ping",
            ClientAuth::PrivateKeyJwt,
            "fapi_ciba_ping_private_key_jwt",
        ),
    ]
    .iter()
    .flat_map(|&(mode, auth, role)| {
        let only = if auth == ClientAuth::PrivateKeyJwt {
            &PRIVATE_KEY_JWT_MODULES[..]
        } else {
            &MTLS_MODULES[..]
        };
        let ping: &[&str] = if mode == "ping" { &PING_MODULES } else { &[] };
        MODULES
            .iter()
            .chain(only)
            .chain(ping)
            .map(move |m| (mode, auth, role, *m))
    })
    .map(|(mode, auth, role, m)| {
        let mut e = crate::plans::Entry::oidcc(m, auth, "code", "default");
        e.client_role = Some(role);
        e.variant = vec![
            ("client_auth_type", auth.name()),
            ("fapi_ciba_profile", "plain_fapi"),
            ("ciba_mode", mode),
            ("client_registration", "static_client"),
        ];
        e
    })
    .collect();
    crate::plans::Plan {
        name: "fapi-ciba-id1-test-plan",
        entries,
    }
}

type ModuleFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Flow> + Send + 'a>>;

pub fn dispatch<'a, 'b: 'a>(name: &str, ctx: &'a mut Ctx<'b>) -> Option<ModuleFuture<'a>> {
    let m: ModuleFuture<'a> = match name {
        "fapi-ciba-id1-discovery-end-point-verification" => Box::pin(discovery(ctx)),
        "fapi-ciba-id1" => Box::pin(happy(ctx, Happy::Plain, Bend::None)),
        "fapi-ciba-id1-user-rejects-authentication" => {
            Box::pin(happy(ctx, Happy::Reject, Bend::None))
        }
        "fapi-ciba-id1-multiple-call-to-token-endpoint" => {
            Box::pin(happy(ctx, Happy::Twice, Bend::None))
        }
        "fapi-ciba-id1-ensure-authorization-request-with-binding-message-succeeds" => {
            Box::pin(happy(ctx, Happy::Plain, Bend::BindingMessageAgain))
        }
        "fapi-ciba-id1-ensure-other-scope-order-succeeds" => {
            Box::pin(happy(ctx, Happy::Plain, Bend::ReverseScope))
        }
        "fapi-ciba-id1-ensure-requested-expiry-as-string-succeeds" => {
            Box::pin(happy(ctx, Happy::Plain, Bend::ExpiryAsString))
        }
        "fapi-ciba-id1-auth-req-id-expired" => Box::pin(auth_req_id_expired(ctx)),
        "fapi-ciba-id1-ensure-wrong-authentication-request-id-in-token-endpoint-request" => {
            Box::pin(wrong_auth_req_id(ctx))
        }
        "fapi-ciba-id1-ensure-without-client-assertion-in-token-endpoint-request" => {
            Box::pin(token_auth_refused(ctx, false))
        }
        "fapi-ciba-id1-ensure-authorization-request-with-potentially-bad-binding-message" => {
            Box::pin(potentially_bad_binding_message(ctx))
        }
        "fapi-ciba-id1-ensure-client-assertion-with-iss-aud-to-token-endpoint-succeeds" => {
            Box::pin(iss_aud_assertion(ctx))
        }
        "fapi-ciba-id1-refresh-token" => Box::pin(refresh_token(ctx)),
        // The notification endpoint's answer (`planned_replies`) is all they change.
        n if PING_MODULES.contains(&n) => Box::pin(happy(ctx, Happy::Plain, Bend::None)),
        "fapi-ciba-id1-ensure-mtls-holder-of-key-required" => {
            Box::pin(mtls_holder_of_key_required(ctx))
        }
        "fapi-ciba-id1-ensure-wrong-client-id-in-token-endpoint-request" => {
            Box::pin(wrong_client_id_at_token_endpoint(ctx))
        }
        "fapi-ciba-id1-ensure-client-assertion-signature-algorithm-in-token-endpoint-request-is-RS256-fails" => {
            Box::pin(token_auth_refused(ctx, true))
        }
        n => {
            let bad = bad_request(n)?;
            Box::pin(refused(ctx, bad))
        }
    };
    Some(m)
}

// ---- configuration -------------------------------------------------------------------------

/// AbstractFAPICIBAID1.configure for a static mtls client.
async fn setup(ctx: &mut Ctx<'_>) -> Flow {
    ctx.log.block("Configure");
    let r = if ping_mode(ctx) {
        notification_uri(ctx, NOTIFICATION_PATH).map(|u| {
            let s = format!("notification_uri {u}");
            (u, s)
        })
    } else {
        Ok((
            String::new(),
            "poll mode: no notification endpoint used".into(),
        ))
    };
    ctx.log.must("CreateCIBANotificationEndpointUri", &[], r)?;
    get_dynamic_server_configuration(ctx).await?;
    let s = ctx.server.clone();
    ctx.log.must_ok(
        "CheckCIBAServerConfiguration",
        &["CIBA-4"],
        [
            "backchannel_authentication_endpoint",
            "token_endpoint",
            "issuer",
        ]
        .iter()
        .find(|k| !s[**k].is_string())
        .map_or(Ok("CIBA endpoints present".into()), |k| {
            Err(format!("'{k}' missing from the server configuration"))
        }),
    )?;
    fetch_server_keys(ctx).await?;
    check_server_jwks(ctx);
    let c = ctx.client.clone();
    ctx.log.must_ok(
        "GetStaticClientConfiguration",
        &[],
        Ok(format!("client_id {}", c.client_id)),
    )?;
    let r = ctx.signer().map(|s| {
        (
            s.public_jwk(),
            "the client's private key is usable".to_string(),
        )
    });
    let jwk = ctx
        .log
        .must("ValidateClientJWKsPrivatePart", &["RFC7517-1.1"], r)?;
    ctx.log.must_ok(
        "ExtractMTLSCertificatesFromConfiguration",
        &[],
        c.tls
            .as_ref()
            .map(|_| "client certificate configured".into())
            .ok_or("no TLS client certificate configured".into()),
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
    let alg = jwk["alg"].as_str().unwrap_or("");
    ctx.log.check(
        "FAPICheckKeyAlgInClientJWKs",
        Failure,
        &["FAPI-RW-8.6"],
        if alg == "PS256" || alg == "ES256" {
            Ok(format!("alg {alg}"))
        } else {
            Err(format!(
                "the client key's alg must be PS256 or ES256, not '{alg}'"
            ))
        },
    );
    ctx.scope = "openid email".into();
    Ok(())
}

// ---- the backchannel authentication request ------------------------------------------------

/// How a negative module bends the request (the module's `createAuthorizationRequest` /
/// `createAuthorizationRequestObject` overrides).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Bend {
    None,
    MissingAud,
    BadAud,
    MissingIss,
    BadIss,
    MissingExp,
    ExpiredExp,
    Exp70MinutesInFuture,
    MissingIat,
    MissingNbf,
    Nbf10MinutesInFuture,
    Nbf70MinutesInPast,
    MissingJti,
    AlgNone,
    AlgRs256,
    MultipleHints,
    WithoutRequest,
    BadSignature,
    SignedByOtherClient,
    WrongClientId,
    DifferentClientIdAndIssuer,
    NoClientAssertion,
    Rs256ClientAssertion,
    // Tweaks of the modules that must succeed.
    BindingMessageAgain,
    ReverseScope,
    ExpiryAsString,
    /// FAPICIBAID1AuthReqIdExpired: `requested_expiry` 30 (a number).
    Expiry30,
}

fn bad_request(module: &str) -> Option<Bend> {
    let suffix = module.strip_prefix("fapi-ciba-id1-")?;
    Some(match suffix {
        "ensure-request-object-missing-aud-fails" => Bend::MissingAud,
        "ensure-request-object-bad-aud-fails" => Bend::BadAud,
        "ensure-request-object-missing-iss-fails" => Bend::MissingIss,
        "ensure-request-object-bad-iss-fails" => Bend::BadIss,
        "ensure-request-object-missing-exp-fails" => Bend::MissingExp,
        "ensure-request-object-expired-exp-fails" => Bend::ExpiredExp,
        "ensure-request-object-exp-is-70-minutes-in-future-fails" => Bend::Exp70MinutesInFuture,
        "ensure-request-object-missing-iat-fails" => Bend::MissingIat,
        "ensure-request-object-missing-nbf-fails" => Bend::MissingNbf,
        "ensure-request-object-nbf-is-10-minutes-in-future-fails" => Bend::Nbf10MinutesInFuture,
        "ensure-request-object-nbf-is-70-minutes-in-past-fails" => Bend::Nbf70MinutesInPast,
        "ensure-request-object-missing-jti-fails" => Bend::MissingJti,
        "ensure-request-object-signature-algorithm-is-none-fails" => Bend::AlgNone,
        "ensure-request-object-signature-algorithm-is-RS256-fails" => Bend::AlgRs256,
        "ensure-authorization-request-with-multiple-hints-fails" => Bend::MultipleHints,
        "ensure-backchannel-authorization-request-without-request-fails" => Bend::WithoutRequest,
        "ensure-request-object-signature-algorithm-is-bad-fails" => Bend::BadSignature,
        "ensure-request-object-signed-by-other-client-fails" => Bend::SignedByOtherClient,
        "ensure-wrong-client-id-in-backchannel-authorization-request" => Bend::WrongClientId,
        "ensure-different-client-id-and-issuer-in-backchannel-authorization-request" => {
            Bend::DifferentClientIdAndIssuer
        }
        "ensure-without-client-assertion-in-backchannel-authorization-request" => {
            Bend::NoClientAssertion
        }
        "ensure-client-assertion-signature-algorithm-in-backchannel-authorization-request-is-RS256-fails" => {
            Bend::Rs256ClientAssertion
        }
        _ => return None,
    })
}

/// createAuthorizationRequest, createAuthorizationRequestObject, performAuthorizationRequest
/// and CallBackchannelAuthenticationEndpoint. `binding` is the binding message, which also
/// lets the runner, as the user, find this request on the approval page.
async fn call_backchannel(ctx: &mut Ctx<'_>, bad: Bend, binding: &str) -> Flow<Resp> {
    ctx.log.block("Create backchannel authentication request");
    let mut req = serde_json::Map::new();
    req.insert("scope".into(), json!(ctx.scope));
    ctx.log.must_ok(
        "AddScopeToAuthorizationEndpointRequest",
        &["CIBA-7.1"],
        Ok(format!("scope {}", ctx.scope)),
    )?;
    let user = ctx.cfg.user.username.clone();
    req.insert("login_hint".into(), json!(user));
    ctx.log.must_ok(
        "AddHintToAuthorizationEndpointRequest",
        &["CIBA-7.1"],
        Ok(format!("login_hint {user}")),
    )?;
    if bad == Bend::MultipleHints {
        // FAPICIBAID1EnsureAuthorizationRequestWithMultipleHintsFails: an id_token_hint too.
        req.insert("id_token_hint".into(), json!("eyJhbGciOiJub25lIn0.e30."));
        ctx.log.must_ok(
            "AddIdTokenHintToAuthorizationEndpointRequest",
            &["CIBA-7.1"],
            Ok("id_token_hint added beside login_hint".into()),
        )?;
    }
    req.insert("binding_message".into(), json!(binding));
    ctx.log.must_ok(
        "AddBindingMessageToAuthorizationEndpointRequest",
        &["FAPI-CIBA-5.2.2-2"],
        Ok(format!("binding_message {binding}")),
    )?;
    add_notification_token(ctx, &mut req)?;
    match bad {
        Bend::BindingMessageAgain => ctx.log.must_ok(
            "AddBindingMessageToAuthorizationEndpointRequest",
            &["CIBA-7.1"],
            Ok(format!("binding_message {binding}")),
        )?,
        Bend::ReverseScope => {
            // RFC 6749 §3.3: the scope's order carries no meaning.
            let reversed: Vec<&str> = ctx.scope.split(' ').rev().collect();
            let reversed = reversed.join(" ");
            req.insert("scope".into(), json!(reversed));
            ctx.log.must_ok(
                "ReverseScopeOrderInAuthorizationEndpointRequest",
                &["RFC6749-3.3", "CIBA-7.1"],
                Ok(format!("scope {reversed}")),
            )?
        }
        Bend::Expiry30 => {
            req.insert("requested_expiry".into(), json!(30));
            ctx.log.must_ok(
                "AddRequestedExp30sToAuthorizationEndpointRequest",
                &["CIBA-11"],
                Ok("requested_expiry 30".into()),
            )?
        }
        Bend::ExpiryAsString => {
            // CIBA §7.1.1: in a signed request, requested_expiry may be a string.
            req.insert("requested_expiry".into(), json!("30"));
            ctx.log.must_ok(
                "AddRequestedExp30sAsStringToAuthorizationEndpointRequest",
                &["CIBA-7.1", "CIBA-7.1.1"],
                Ok("requested_expiry \"30\"".into()),
            )?
        }
        _ => {}
    }
    let url = endpoint(ctx, "backchannel_authentication_endpoint").unwrap_or_default();
    let form: Vec<(String, String)> = if bad == Bend::WithoutRequest {
        // FAPI-CIBA §5.2.2-1: the parameters are sent as a plain form, no request object.
        ctx.log.must_ok(
            "CreateBackchannelAuthenticationEndpointRequest",
            &["CIBA-7.1"],
            Ok("the parameters as form members, no signed request object".into()),
        )?;
        req.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect()
    } else {
        let object = request_object(ctx, req, bad)?;
        ctx.log.must_ok(
            "CreateBackchannelAuthenticationEndpointRequest",
            &["CIBA-7.1"],
            Ok("request".into()),
        )?;
        ctx.log.must_ok(
            "AddRequestToBackchannelAuthenticationEndpointRequest",
            &[],
            Ok("request added".into()),
        )?;
        vec![("request".into(), object)]
    };
    ctx.log.block("Call backchannel authentication endpoint");
    let over = client_auth(
        ctx,
        bad == Bend::NoClientAssertion,
        bad == Bend::Rs256ClientAssertion,
    )?;
    // The mtls modules that swap in the second client's client_id over the first client's
    // certificate (the suite's env.mapKey("client", "client2")).
    let own_id = ctx.client.client_id.clone();
    if matches!(bad, Bend::WrongClientId | Bend::DifferentClientIdAndIssuer) {
        let r = ctx
            .client2()
            .map(|c| (c.client_id, "the second client's client_id".to_string()));
        ctx.client.client_id = ctx.log.must("GetStaticClient2Configuration", &[], r)?;
        ctx.log.must_ok(
            "AddClientIdToRequest",
            &[],
            Ok(format!(
                "client_id {} with the first client's certificate",
                ctx.client.client_id
            )),
        )?;
    }
    let r = post_with_client_auth(ctx, &url, &form, over, &[])
        .await
        .map(|x| {
            let s = format!("HTTP {}: {}", x.status, x.body);
            (x, s)
        });
    ctx.client.client_id = own_id;
    ctx.log
        .must("CallBackchannelAuthenticationEndpoint", &[], r)
}

/// The client authentication of a request: the variant's, only `client_id`
/// (AddClientIdToRequest), or a client assertion signed with RS256 (ChangeClientJwksAlgToRS256,
/// which FAPI-CIBA §7.10 forbids).
fn client_auth(ctx: &mut Ctx<'_>, client_id_only: bool, rs256: bool) -> Flow<AuthOverride> {
    if client_id_only {
        ctx.log.must_ok(
            "AddClientIdToRequest",
            &[],
            Ok("client_id only, no client_assertion".into()),
        )?;
        return Ok(AuthOverride::None);
    }
    if !rs256 {
        return Ok(AuthOverride::Default);
    }
    let aud = endpoint(ctx, "token_endpoint").unwrap_or_default();
    let claims = client_assertion_claims(ctx, json!(aud));
    let r = ctx
        .client
        .signing_key
        .as_ref()
        .ok_or("no signing key".to_string())
        .and_then(|k| {
            let der = std::fs::read(&k.file).map_err(|e| e.to_string())?;
            crate::jose::Signer::from_der("RS256", &k.kid, &der)?.sign(json!({}), &claims)
        })
        .map(|j| (j, "client assertion signed with RS256".to_string()));
    let jwt = ctx
        .log
        .must("ChangeClientJwksAlgToRS256", &["FAPI-CIBA-7.10"], r)?;
    Ok(AuthOverride::RawAssertion(jwt))
}

/// ConvertAuthorizationEndpointRequestToRequestObject, the CIBA-7.1.1 claims (less the one the
/// module leaves out, or bent), SignRequestObject.
fn request_object(
    ctx: &mut Ctx<'_>,
    mut claims: serde_json::Map<String, Value>,
    bad: Bend,
) -> Flow<String> {
    ctx.log.must_ok(
        "ConvertAuthorizationEndpointRequestToRequestObject",
        &[],
        Ok("request object claims".into()),
    )?;
    let now = now();
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let client_id = ctx.client.client_id.clone();
    let mut add = |ctx: &mut Ctx<'_>, name: &str, cond: &str, v: Value, skip: bool| {
        if skip {
            return;
        }
        ctx.log.info(cond, format!("{name}: {v}"));
        claims.insert(name.into(), v);
    };
    add(
        ctx,
        "iat",
        "AddIatToRequestObject",
        json!(now),
        bad == Bend::MissingIat,
    );
    let exp = match bad {
        Bend::ExpiredExp => now - 5 * 60,
        Bend::Exp70MinutesInFuture => now + 70 * 60,
        _ => now + 5 * 60,
    };
    add(
        ctx,
        "exp",
        "AddExpToRequestObject",
        json!(exp),
        bad == Bend::MissingExp,
    );
    let nbf = match bad {
        Bend::Nbf10MinutesInFuture => now + 10 * 60,
        Bend::Nbf70MinutesInPast => now - 70 * 60,
        _ => now,
    };
    add(
        ctx,
        "nbf",
        "AddNbfToRequestObject",
        json!(nbf),
        bad == Bend::MissingNbf,
    );
    add(
        ctx,
        "jti",
        "AddJtiToRequestObject",
        json!(random_value(16)),
        bad == Bend::MissingJti,
    );
    let aud = if bad == Bend::BadAud {
        format!("{issuer}/bad-aud")
    } else {
        issuer
    };
    add(
        ctx,
        "aud",
        "AddAudToRequestObject",
        json!(aud),
        bad == Bend::MissingAud,
    );
    let iss = if bad == Bend::BadIss {
        "invalid-issuer".to_string()
    } else {
        client_id
    };
    add(
        ctx,
        "iss",
        "AddIssToRequestObject",
        json!(iss),
        bad == Bend::MissingIss,
    );
    let claims = Value::Object(claims);
    let r = match bad {
        Bend::AlgNone => Ok(format!(
            "{}.{}.",
            b64(br#"{"alg":"none"}"#),
            b64(claims.to_string().as_bytes())
        )),
        Bend::AlgRs256 => ctx
            .client
            .signing_key
            .as_ref()
            .ok_or("no signing key".to_string())
            .and_then(|k| {
                let der = std::fs::read(&k.file).map_err(|e| e.to_string())?;
                crate::jose::Signer::from_der("RS256", &k.kid, &der)?.sign(Value::Null, &claims)
            }),
        // FAPICIBAID1EnsureRequestObjectSignedByOtherClientFails: the second client's key.
        Bend::SignedByOtherClient => ctx
            .client2()
            .and_then(|c| {
                c.signing_key
                    .ok_or("the second client has no key".to_string())
            })
            .and_then(|k| crate::jose::Signer::load(&k))
            .and_then(|s| s.sign(Value::Null, &claims)),
        _ => ctx.signer().and_then(|s| s.sign(Value::Null, &claims)),
    };
    let condition = match bad {
        Bend::AlgNone => "SerializeRequestObjectWithNullAlgorithm",
        Bend::AlgRs256 => "SignRequestObjectWithRS256",
        _ => "SignRequestObject",
    };
    let object = ctx.log.must(
        condition,
        &["CIBA-7.1.1"],
        r.map(|j| (j, "request object made".to_string())),
    )?;
    if bad != Bend::BadSignature {
        return Ok(object);
    }
    // InvalidateRequestObjectSignature: one bit of the signature flipped.
    let (head, sig) = object.rsplit_once('.').unwrap_or((&object, ""));
    let mut bytes = URL_SAFE_NO_PAD.decode(sig).unwrap_or_default();
    if let Some(b) = bytes.first_mut() {
        *b ^= 1;
    }
    let bent = format!("{head}.{}", URL_SAFE_NO_PAD.encode(bytes));
    ctx.log.must_ok(
        "InvalidateRequestObjectSignature",
        &["CIBA-7.2"],
        Ok("the signature's first byte altered".into()),
    )?;
    Ok(bent)
}

/// performValidateAuthorizationResponse: the backchannel endpoint's acknowledgement (CIBA §7.3).
fn validate_acknowledgement(ctx: &mut Ctx<'_>, resp: &Resp) -> Flow<String> {
    ctx.log.block("Verify backchannel authentication response");
    ctx.log.must_ok(
        "CheckBackchannelAuthenticationEndpointHttpStatus200",
        &["CIBA-7.3"],
        status_is(resp, 200),
    )?;
    ctx.log.must_ok(
        "CheckBackchannelAuthenticationEndpointContentType",
        &["CIBA-7.3"],
        json_content_type(resp),
    )?;
    let body = resp.json().unwrap_or(Value::Null);
    ctx.log.must_ok(
        "CheckIfBackchannelAuthenticationEndpointResponseError",
        &[],
        if body.get("error").is_some() {
            Err(format!("backchannel endpoint error: {body}"))
        } else {
            Ok("no error".into())
        },
    )?;
    let r = body["auth_req_id"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(|s| (s.to_string(), "auth_req_id present".to_string()))
        .ok_or("auth_req_id missing or not a string".to_string());
    let id = ctx
        .log
        .must("ValidateAuthenticationRequestId", &["CIBA-7.3"], r)?;
    ctx.log.check(
        "EnsureMinimumAuthenticationRequestIdLength",
        Failure,
        &["CIBA-7.3"],
        if id.len() >= 22 {
            Ok(format!("{} characters", id.len()))
        } else {
            Err(format!("auth_req_id is only {} characters", id.len()))
        },
    );
    let bits = entropy_bits(&id);
    ctx.log.check(
        "EnsureMinimumAuthenticationRequestIdEntropy",
        Failure,
        &["CIBA-7.3"],
        if bits >= 64.0 {
            Ok(format!("about {bits:.0} bits"))
        } else {
            Err(format!(
                "auth_req_id has about {bits:.0} bits of entropy, less than 64"
            ))
        },
    );
    ctx.log.check(
        "EnsureRecommendedAuthenticationRequestIdEntropy",
        Warning,
        &["CIBA-7.3"],
        if bits >= 128.0 {
            Ok(format!("about {bits:.0} bits"))
        } else {
            Err(format!(
                "auth_req_id has about {bits:.0} bits of entropy, less than 128"
            ))
        },
    );
    ctx.log.check(
        "ValidateAuthenticationRequestIdExpiresIn",
        Failure,
        &["CIBA-7.3"],
        match body["expires_in"].as_i64() {
            Some(n) if n > 0 => Ok(format!("expires_in {n}")),
            _ => Err(format!(
                "expires_in is not a positive number: {}",
                body["expires_in"]
            )),
        },
    );
    ctx.log.check(
        "ValidateAuthenticationRequestIdInterval",
        Failure,
        &["CIBA-7.3"],
        match body.get("interval") {
            None => Ok("no interval (5 s by default)".into()),
            Some(v) => match v.as_i64() {
                Some(n) if (0..=60).contains(&n) => Ok(format!("interval {n}")),
                _ => Err(format!(
                    "interval is not a number of seconds from 0 to 60: {v}"
                )),
            },
        },
    );
    Ok(id)
}

/// The suite's shannon-entropy estimate of an identifier (bits per character × length).
fn entropy_bits(s: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    let per_char: f64 = counts
        .values()
        .map(|&k| {
            let p = k as f64 / n;
            -p * p.log2()
        })
        .sum();
    per_char * n
}

fn status_is(resp: &Resp, want: u16) -> Check {
    if resp.status == want {
        Ok(format!("HTTP {want}"))
    } else {
        Err(format!(
            "expected HTTP {want}, got {}: {}",
            resp.status, resp.body
        ))
    }
}

fn json_content_type(resp: &Resp) -> Check {
    if resp.content_type.starts_with("application/json") {
        Ok(resp.content_type.clone())
    } else {
        Err(format!(
            "content type is '{}', not application/json",
            resp.content_type
        ))
    }
}

/// validateErrorFromBackchannelAuthorizationRequestResponse (CIBA §13).
/// Which error checks a negative module makes after the CIBA §13 ones.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    /// AbstractFAPICIBAID1EnsureSendingInvalidBackchannelAuthorizationRequest: HTTP 400 and
    /// invalid_request.
    InvalidRequest,
    /// The client authentication modules: access_denied, invalid_request or invalid_client,
    /// HTTP 400, 401 or 403.
    ClientAuth,
    /// HTTP 401 and invalid_client.
    InvalidClient401,
    /// HTTP 400; the module checks the error itself.
    Other,
}

fn validate_backchannel_error(
    ctx: &mut Ctx<'_>,
    resp: &Resp,
    allowed: &[&str],
    kind: ErrorKind,
) -> Flow {
    ctx.log
        .block("Verify backchannel authentication error response");
    let body = resp.json().unwrap_or(Value::Null);
    let err = body["error"].as_str().unwrap_or("").to_string();
    // Only error, error_description and error_uri.
    let extra: Vec<&String> = body
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !["error", "error_description", "error_uri"].contains(&k.as_str()))
                .collect()
        })
        .unwrap_or_default();
    ctx.log.check(
        "ValidateErrorResponseFromBackchannelAuthenticationEndpoint",
        Failure,
        &["CIBA-13"],
        if err.is_empty() {
            Err(format!("No error parameter found: {}", resp.body))
        } else if !extra.is_empty() {
            Err(format!(
                "error response includes unexpected parameters: {extra:?}"
            ))
        } else {
            Ok("error response includes only expected parameters".into())
        },
    );
    ctx.log.check(
        "ValidateErrorUriFromBackchannelAuthenticationEndpoint",
        Failure,
        &["CIBA-13"],
        match body.get("error_uri") {
            None => Ok("no error_uri".into()),
            Some(v) if v.as_str().is_some_and(|u| Url::parse(u).is_ok()) => {
                Ok("error_uri is a URI".into())
            }
            Some(v) => Err(format!("error_uri is not a URI: {v}")),
        },
    );
    let desc = body["error_description"].as_str().unwrap_or("");
    ctx.log.check(
        "CheckErrorDescriptionFromBackchannelAuthenticationEndpointContainsCRLFTAB",
        Warning,
        &["RFC6749-5.2"],
        if desc.contains(['\r', '\n', '\t']) {
            Err("error_description contains CR, LF or TAB".into())
        } else {
            Ok("no CR, LF or TAB".into())
        },
    );
    ctx.log.check(
        "ValidateErrorDescriptionFromBackchannelAuthenticationEndpoint",
        Failure,
        &["CIBA-13"],
        if desc
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\')
        {
            Ok("error_description uses the allowed characters".into())
        } else {
            Err(format!(
                "error_description has characters RFC 6749 §5.2 forbids: {desc}"
            ))
        },
    );
    if kind == ErrorKind::InvalidClient401 {
        ctx.log.check(
            "CheckBackchannelAuthenticationEndpointHttpStatus401",
            Failure,
            &["CIBA-13"],
            status_is(resp, 401),
        );
        ctx.log.check(
            "CheckErrorFromBackchannelAuthenticationEndpointErrorInvalidClient",
            Failure,
            &["CIBA-13"],
            if err == "invalid_client" {
                Ok("invalid_client".into())
            } else {
                Err(format!("error must be invalid_client, got: {}", resp.body))
            },
        );
        return Ok(());
    }
    if kind == ErrorKind::Other {
        ctx.log.check(
            "CheckBackchannelAuthenticationEndpointHttpStatus400",
            Failure,
            &["CIBA-13"],
            status_is(resp, 400),
        );
        return Ok(());
    }
    if kind == ErrorKind::InvalidRequest {
        ctx.log.check(
            "CheckBackchannelAuthenticationEndpointHttpStatus400",
            Failure,
            &["CIBA-13"],
            status_is(resp, 400),
        );
        // AbstractFAPICIBAID1EnsureSendingInvalidBackchannelAuthorizationRequest.
        ctx.log.check(
            "CheckErrorFromBackchannelAuthenticationEndpointErrorInvalidRequest",
            Failure,
            &["CIBA-13"],
            if allowed.contains(&err.as_str()) {
                Ok(format!("error {err}"))
            } else {
                Err(format!("error must be invalid_request, got: {}", resp.body))
            },
        );
        return Ok(());
    }
    // The client authentication modules: CIBA §13, invalid_client may come with 401.
    ctx.log.check(
        "CheckErrorFromBackchannelAuthenticationEndpointError",
        Failure,
        &["CIBA-13"],
        if allowed.contains(&err.as_str()) {
            Ok(format!("error {err}"))
        } else {
            Err(format!(
                "error must be one of {allowed:?}, got: {}",
                resp.body
            ))
        },
    );
    ctx.log.check(
        "CheckBackchannelAuthenticationEndpointErrorHttpStatus",
        Failure,
        &["CIBA-13"],
        match (resp.status, err.as_str()) {
            (400 | 401 | 403, _) => Ok(format!("HTTP {}", resp.status)),
            (st, _) => Err(format!(
                "http status was not matching 400 or 403 or 401: {st}"
            )),
        },
    );
    Ok(())
}

// ---- the user, on the approval page ---------------------------------------------------------

/// TellUserToDoCIBAAuthentication: the runner signs in at `/ciba` as the user and answers the
/// request showing `binding` (approve or deny).
async fn user_answers(ctx: &mut Ctx<'_>, binding: &str, approve: bool) -> Flow {
    ctx.log.block("The user authenticates on the approval page");
    let r = answer_on_page(ctx, binding, approve).await;
    let what = if approve { "approved" } else { "denied" };
    ctx.log.must_ok(
        "TellUserToDoCIBAAuthentication",
        &["CIBA-8"],
        r.map(|_| format!("the user {what} the request on the approval page")),
    )
}

async fn answer_on_page(ctx: &Ctx<'_>, binding: &str, approve: bool) -> Result<(), String> {
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let page = Url::parse(&issuer)
        .and_then(|u| u.join("/ciba"))
        .map_err(|e| e.to_string())?;
    let http = crate::browser::client(ctx.ca.as_ref(), true);
    let get = |http: &reqwest::Client| {
        let url = page.clone();
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.map_err(|e| e.to_string())?;
            r.text().await.map_err(|e| e.to_string())
        }
    };
    let html = get(&http).await?;
    let csrf = hidden(&html, "csrf_token").ok_or("no csrf_token on the sign-in form")?;
    let user = &ctx.cfg.user;
    let res = http
        .post(page.join("/ciba/login").map_err(|e| e.to_string())?)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("username", user.username.as_str()),
            ("password", user.password.as_str()),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !res.status().is_success() && !res.status().is_redirection() {
        return Err(format!(
            "sign-in on the approval page: HTTP {}",
            res.status()
        ));
    }
    let html = get(&http).await?;
    let at = html.find(&format!(">{binding}<")).ok_or(format!(
        "the request with binding message {binding} is not on the approval page"
    ))?;
    let start = html[..at].rfind("<section").ok_or("no request section")?;
    let section = &html[start..];
    let csrf = hidden(section, "csrf_token").ok_or("no csrf_token in the request's form")?;
    let id = hidden(section, "request").ok_or("no request id in the request's form")?;
    let decision = if approve { "approve" } else { "deny" };
    let res = http
        .post(page.join("/ciba/decide").map_err(|e| e.to_string())?)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("request", id.as_str()),
            ("decision", decision),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if res.status().is_success() || res.status().is_redirection() {
        Ok(())
    } else {
        Err(format!(
            "answering on the approval page: HTTP {}",
            res.status()
        ))
    }
}

/// The value of the first hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let at = html.find(&marker)? + marker.len();
    let end = html[at..].find('"')?;
    Some(html[at..at + end].to_string())
}

// ---- ping mode ------------------------------------------------------------------------------

/// The client notification endpoint's path on the runner's server (the suite's
/// `base_url + "/ciba-notification-endpoint"`), where the ping clients of `run.sh` registered
/// their `backchannel_client_notification_endpoint`.
const NOTIFICATION_PATH: &str = "/ciba-notification-endpoint";

/// Where FAPICIBAID1PingNotificationEndpointReturnsRedirectRequest sends the provider; it must
/// not follow (CreateInvalidCIBANotificationEndpointUri).
const INVALID_NOTIFICATION_PATH: &str = "/invalid-ciba-notification-endpoint";

/// How long the provider has to ping once the user has answered.
const PING_WAIT: Duration = Duration::from_secs(30);

/// The plan's `ciba_mode` is `ping`.
fn ping_mode(ctx: &Ctx<'_>) -> bool {
    ctx.variant.get("ciba_mode").map(String::as_str) == Some("ping")
}

/// `path` on the runner's https server.
fn notification_uri(ctx: &Ctx<'_>, path: &str) -> Result<String, String> {
    match &ctx.cfg.rp_listen {
        Some(addr) if rp_server::scheme() == "https" => Ok(format!("https://{addr}{path}")),
        _ => Err("ping mode needs the runner's https server (rp_listen and --rp-tls-cert)".into()),
    }
}

/// In ping mode, CreateRandomClientNotificationToken and
/// AddClientNotificationTokenToAuthorizationEndpointRequest (CIBA §7.1), and the answers the
/// runner's notification endpoint gives this token's pings.
fn add_notification_token(ctx: &mut Ctx<'_>, req: &mut serde_json::Map<String, Value>) -> Flow {
    if !ping_mode(ctx) {
        return Ok(());
    }
    // RFC 6750 §2.1 b64token, with one trailing '=' as the suite's.
    let token = format!("{}=", random_value(32));
    req.insert("client_notification_token".into(), json!(token));
    ctx.request
        .insert("client_notification_token".into(), token.clone());
    let invalid = notification_uri(ctx, INVALID_NOTIFICATION_PATH).unwrap_or_default();
    rp_server::plan_replies(&token, planned_replies(ctx.module, &invalid));
    ctx.log.must_ok(
        "AddClientNotificationTokenToAuthorizationEndpointRequest",
        &["CIBA-7.1"],
        Ok(format!("client_notification_token {token}")),
    )
}

/// The notification endpoint's answers to a module's pings (the suite's handlePingCallback):
/// 204 unless the module says otherwise.
fn planned_replies(module: &str, invalid_uri: &str) -> Vec<rp_server::Reply> {
    use rp_server::Reply;
    let with_body = |status, body: &str| Reply {
        status,
        location: None,
        body: body.to_string(),
    };
    match PING_MODULES.iter().position(|m| *m == module) {
        Some(0) => vec![with_body(
            200,
            "Backchannel Notification Endpoint returns a HTTP 200 OK response with a body.",
        )],
        Some(1) => vec![with_body(401, "CIBA Notification Endpoint returns a HTTP 401 Unauthorized response, even though the token is valid.")],
        Some(2) => vec![with_body(403, "CIBA Notification Endpoint returns a HTTP 403 Forbidden response, even though the token is valid.")],
        Some(3) => vec![
            with_body(401, "CIBA Notification Endpoint returns a HTTP 401 Unauthorized response, even though the token is valid."),
            Reply::status(204),
        ],
        Some(4) => vec![Reply {
            status: 301,
            location: Some(invalid_uri.to_string()),
            body: String::new(),
        }],
        _ => vec![Reply::status(204)],
    }
}

/// Ping mode's wait for the user's answer: the provider's notification with this module's
/// token (verifyNotificationCallback), what the module checks after it, then the token
/// endpoint (processPingNotificationCallback).
async fn await_ping(ctx: &mut Ctx<'_>, auth_req_id: &str) -> Flow<Resp> {
    let token = ctx
        .request
        .get("client_notification_token")
        .cloned()
        .unwrap_or_default();
    let mine = |r: &rp_server::Received| rp_server::bearer(r) == Some(token.as_str());
    let got = rp_server::wait_received_where(NOTIFICATION_PATH, PING_WAIT, &mine).await;
    let r = match got.into_iter().next() {
        Some(r) => Ok((r, "the provider called the notification endpoint".to_string())),
        None => Err(format!(
            "no request with this client_notification_token reached the notification endpoint within {} s of the user's answer",
            PING_WAIT.as_secs()
        )),
    };
    let ping = ctx.log.must("WaitForPingNotification", &["CIBA-10.2"], r)?;
    if ctx.module == PING_MODULES[3] {
        // FAPICIBAID1PingNotificationEndpointReturns401AndRequireServerDoesNotRetry: 5 s
        // later, no second call (CIBA §10.2).
        let again =
            rp_server::wait_received_where(NOTIFICATION_PATH, Duration::from_secs(5), &mine).await;
        let n = 1 + again.len();
        ctx.log.check(
            "ExpectServerDoesNotCallNotificationEndpointTwice",
            Failure,
            &["CIBA-10.2"],
            if n == 1 {
                Ok("Server called notification endpoint once".into())
            } else {
                Err(format!(
                    "Server called notification endpoint {n} times while it shouldn't."
                ))
            },
        );
    }
    if ctx.module == PING_MODULES[4] {
        // FAPICIBAID1PingNotificationEndpointReturnsRedirectRequest: within 15 s the provider
        // must not have followed the 301 (CIBA §10.2).
        let followed = rp_server::wait_received_where(
            INVALID_NOTIFICATION_PATH,
            Duration::from_secs(15),
            &mine,
        )
        .await;
        ctx.log.check(
            "ServerCalledInvalidNotificationEndpoint",
            Failure,
            &["CIBA-10.2"],
            if followed.is_empty() {
                Ok("the provider did not follow the notification endpoint's redirect".into())
            } else {
                Err("the provider followed the notification endpoint's redirect".into())
            },
        );
    }
    verify_notification(ctx, &ping, &token, auth_req_id)?;
    ctx.log
        .block("Calling token endpoint after ping notification");
    poll(ctx, auth_req_id).await
}

/// verifyNotificationCallback: TLS, JSON, the bearer token, and a body of only the
/// `auth_req_id` (CIBA §10.2).
fn verify_notification(
    ctx: &mut Ctx<'_>,
    ping: &rp_server::Received,
    token: &str,
    auth_req_id: &str,
) -> Flow {
    ctx.log.block("Verify notification callback");
    super::logout::check_incoming_tls(ctx, ping);
    let content_type = ping
        .headers
        .get("content-type")
        .cloned()
        .unwrap_or_default();
    let mime = content_type.split(';').next().unwrap_or("").trim();
    ctx.log.must_ok(
        "CheckIncomingContentTypeIsApplicationJson",
        &["CIBA-10.2"],
        if mime == "application/json" {
            Ok(format!("Content-Type {content_type}"))
        } else {
            Err(format!("content-type header does not have the expected value application/json: '{content_type}'"))
        },
    )?;
    ctx.log.must_ok(
        "VerifyBearerTokenHeaderCallback",
        &["CIBA-10.2"],
        if rp_server::bearer(ping) == Some(token) {
            Ok("'Authorization' header in notification callback contained client_notification_token.".into())
        } else {
            Err(format!(
                "The value of the 'Authorization' header in the notification callback is not correct: {:?}",
                ping.headers.get("authorization")
            ))
        },
    )?;
    let body: Value = serde_json::from_str(&ping.body).unwrap_or(Value::Null);
    ctx.log.must_ok(
        "CheckAuthReqIdInCallback",
        &["CIBA-10.2"],
        match body["auth_req_id"].as_str() {
            Some(id) if id == auth_req_id => {
                Ok("auth_req_id valued received in callback is correct".into())
            }
            Some(id) => Err(format!("auth_req_id does not match: {id}")),
            None => Err("auth_req_id missing from CIBA callback".into()),
        },
    )?;
    ctx.log.must_ok(
        "CheckNotificationCallbackOnlyAuthReqId",
        &["CIBA-10.2"],
        match body.as_object() {
            None => Err("body received in notification callback must be JSON".into()),
            Some(o) if o.len() == 1 => {
                Ok("body received in notification callback contained only auth_req_id".into())
            }
            Some(o) => Err(format!(
                "body received in notification callback did not contain only auth_req_id: {}",
                Value::Object(o.clone())
            )),
        },
    )
}

// ---- the token endpoint ---------------------------------------------------------------------

/// CreateTokenEndpointRequestForCIBAGrant, AddAuthReqIdToTokenEndpointRequest,
/// CallTokenEndpointAndReturnFullResponse.
async fn poll(ctx: &mut Ctx<'_>, auth_req_id: &str) -> Flow<Resp> {
    poll_as(ctx, auth_req_id, AuthOverride::Default).await
}

async fn poll_as(ctx: &mut Ctx<'_>, auth_req_id: &str, over: AuthOverride) -> Flow<Resp> {
    ctx.log.must_ok(
        "CreateTokenEndpointRequestForCIBAGrant",
        &[],
        Ok("grant_type urn:openid:params:grant-type:ciba".into()),
    )?;
    ctx.log.must_ok(
        "AddAuthReqIdToTokenEndpointRequest",
        &[],
        Ok("auth_req_id added".into()),
    )?;
    let form = vec![
        (
            "grant_type".to_string(),
            "urn:openid:params:grant-type:ciba".to_string(),
        ),
        ("auth_req_id".to_string(), auth_req_id.to_string()),
    ];
    let url = endpoint(ctx, "token_endpoint").unwrap_or_default();
    let r = post_with_client_auth(ctx, &url, &form, over, &[])
        .await
        .map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        });
    let resp = ctx
        .log
        .must("CallTokenEndpointAndReturnFullResponse", &[], r)?;
    ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Failure,
        &["OIDCC-3.1.3.4"],
        json_content_type(&resp),
    );
    Ok(resp)
}

fn token_error(resp: &Resp) -> String {
    resp.json()
        .and_then(|b| b["error"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// verifyTokenEndpointResponseIsPendingOrSlowDown.
fn expect_pending(ctx: &mut Ctx<'_>, resp: &Resp) -> Flow {
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus400",
        &["OIDCC-3.1.3.4"],
        status_is(resp, 400),
    )?;
    validate_token_error(ctx, resp)?;
    let e = token_error(resp);
    ctx.log.must_ok(
        "EnsureErrorTokenEndpointSlowdownOrAuthorizationPending",
        &["CIBA-11"],
        if e == "authorization_pending" || e == "slow_down" {
            Ok(format!("error {e}"))
        } else {
            Err(format!(
                "expected authorization_pending or slow_down: {}",
                resp.body
            ))
        },
    )
}

/// validateErrorFromTokenEndpointResponse (RFC 6749 §5.2).
fn validate_token_error(ctx: &mut Ctx<'_>, resp: &Resp) -> Flow {
    let body = resp.json().unwrap_or(Value::Null);
    ctx.log.must_ok(
        "ValidateErrorFromTokenEndpointResponseError",
        &["RFC6749-5.2"],
        if body["error"].as_str().is_some_and(|e| !e.is_empty()) {
            Ok(format!("error {}", body["error"]))
        } else {
            Err(format!("no error in the response: {}", resp.body))
        },
    )?;
    let desc = body["error_description"].as_str().unwrap_or("");
    ctx.log.check(
        "CheckErrorDescriptionFromTokenEndpointResponseErrorContainsCRLFTAB",
        Warning,
        &["RFC6749-5.2"],
        if desc.contains(['\r', '\n', '\t']) {
            Err("error_description contains CR, LF or TAB".into())
        } else {
            Ok("no CR, LF or TAB".into())
        },
    );
    ctx.log.must_ok(
        "ValidateErrorDescriptionFromTokenEndpointResponseError",
        &["RFC6749-5.2"],
        if desc
            .bytes()
            .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\')
        {
            Ok("error_description uses the allowed characters".into())
        } else {
            Err(format!(
                "error_description has characters RFC 6749 §5.2 forbids: {desc}"
            ))
        },
    )?;
    ctx.log.must_ok(
        "ValidateErrorUriFromTokenEndpointResponseError",
        &["RFC6749-5.2"],
        match body.get("error_uri") {
            None => Ok("no error_uri".into()),
            Some(v) if v.as_str().is_some_and(|u| Url::parse(u).is_ok()) => {
                Ok("error_uri is a URI".into())
            }
            Some(v) => Err(format!("error_uri is not a URI: {v}")),
        },
    )
}

/// handleSuccessfulTokenEndpointResponse and the ID token checks.
fn accept_tokens(ctx: &mut Ctx<'_>, resp: &Resp) -> Flow {
    ctx.log.block("Verify token endpoint response");
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus200",
        &["RFC6749-5.1"],
        status_is(resp, 200),
    )?;
    let cc = resp.cache_control.clone().unwrap_or_default();
    ctx.log.check(
        "CheckTokenEndpointCacheHeaders",
        Failure,
        &["CIBA-10.1.1", "OIDCC-3.1.3.3", "RFC6749-5.1"],
        if cc.contains("no-store") {
            Ok(format!("Cache-Control: {cc}"))
        } else {
            Err(format!("Cache-Control must be no-store, is '{cc}'"))
        },
    );
    let body = resp.json().unwrap_or(Value::Null);
    ctx.log.must_ok(
        "CheckIfTokenEndpointResponseError",
        &[],
        if body.get("error").is_some() {
            Err(format!("token endpoint error: {body}"))
        } else {
            Ok("no error".into())
        },
    )?;
    accept_token_response(ctx, &body)?;
    let at = ctx.access_token.clone().unwrap_or_default();
    ctx.log.check(
        "EnsureMinimumAccessTokenEntropy",
        Failure,
        &["FAPI1-BASE-5.2.2-16"],
        if entropy_bits(&at) >= 128.0 {
            Ok("enough entropy".into())
        } else {
            Err("the access token has less than 128 bits of entropy".into())
        },
    );
    ensure_id_token_contains_kid(ctx);
    id_token_checks(ctx);
    let alg = ctx
        .id_token
        .as_ref()
        .map(|t| t.jws.alg().to_string())
        .unwrap_or_default();
    ctx.log.check(
        "FAPIValidateIdTokenSigningAlg",
        Failure,
        &["FAPI-RW-8.6", "FAPI1-ADV-8.6"],
        if alg == "PS256" || alg == "ES256" {
            Ok(format!("alg {alg}"))
        } else {
            Err(format!(
                "the ID token is signed with {alg}, not PS256 or ES256"
            ))
        },
    );
    let claims = ctx
        .id_token
        .as_ref()
        .map(|t| t.claims.clone())
        .unwrap_or(Value::Null);
    ctx.log.check(
        "ValidateIdTokenNotIncludeCHashAndSHash",
        Warning,
        &[],
        if claims.get("c_hash").is_some() || claims.get("s_hash").is_some() {
            Err("the CIBA ID token carries c_hash or s_hash".into())
        } else {
            Ok("no c_hash nor s_hash".into())
        },
    );
    Ok(())
}

/// A random binding message (CIBA §7.1: shown to the user; here it also marks the request).
fn binding_message() -> String {
    format!("CONF-{}", random_value(6).replace(['-', '_'], "x"))
}

// ---- the modules ----------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Happy {
    Plain,
    Reject,
    Twice,
}

/// FAPICIBAID1 and the modules that change its ending: the request, a first poll (pending),
/// the user's answer on the page, then the poll that answers.
async fn happy(ctx: &mut Ctx<'_>, kind: Happy, bend: Bend) -> Flow {
    setup(ctx).await?;
    flow(ctx, kind, bend).await
}

/// The flow of `happy`, after Configure.
async fn flow(ctx: &mut Ctx<'_>, kind: Happy, bend: Bend) -> Flow {
    let binding = binding_message();
    let resp = call_backchannel(ctx, bend, &binding).await?;
    let id = validate_acknowledgement(ctx, &resp)?;
    let interval = resp
        .json()
        .and_then(|b| b["interval"].as_u64())
        .unwrap_or(5);
    ctx.log
        .block("Poll the token endpoint before the user has answered");
    let first = poll(ctx, &id).await?;
    expect_pending(ctx, &first)?;
    user_answers(ctx, &binding, kind != Happy::Reject).await?;
    let answer = if ping_mode(ctx) {
        let answer = await_ping(ctx, &id).await?;
        if ctx.module == PING_MODULES[0] && answer.status != 200 {
            // FAPICIBAID1PingNotificationEndpointReturnsABody: the token endpoint's failure
            // after a notification answered with a body is the suite's warning.
            ctx.log.check(
                "CheckTokenEndpointHttpStatus200",
                Warning,
                &["CIBA-10.2"],
                status_is(&answer, 200),
            );
            return Ok(());
        }
        answer
    } else {
        // waitForPollingAuthenticationToComplete: the next poll after the interval.
        tokio::time::sleep(Duration::from_secs(interval + 1)).await;
        ctx.log
            .block("Poll the token endpoint after the user's answer");
        poll(ctx, &id).await?
    };
    if kind == Happy::Reject {
        // FAPICIBAID1UserRejectsAuthentication: CIBA §11, access_denied.
        ctx.log.must_ok(
            "CheckTokenEndpointHttpStatus400",
            &["OIDCC-3.1.3.4"],
            status_is(&answer, 400),
        )?;
        validate_token_error(ctx, &answer)?;
        let e = token_error(&answer);
        return ctx.log.must_ok(
            "CheckErrorFromTokenEndpointResponseErrorAccessDenied",
            &["CIBA-11"],
            if e == "access_denied" {
                Ok("access_denied".into())
            } else {
                Err(format!("expected access_denied: {}", answer.body))
            },
        );
    }
    accept_tokens(ctx, &answer)?;
    ctx.log.block("Call the protected resource (UserInfo)");
    let r = call_userinfo(ctx, false, "CallProtectedResource").await?;
    ctx.log.check(
        "CheckForDateHeaderInResourceResponse",
        Failure,
        &["FAPI-R-6.2.1-10"],
        r.headers
            .get("date")
            .map(|d| format!("Date: {d}"))
            .ok_or("no Date header in the resource response".into()),
    );
    ctx.log.check(
        "EnsureResourceResponseReturnedJsonContentType",
        Failure,
        &["FAPI1-BASE-6.2.1-9"],
        json_content_type(&r),
    );
    if kind == Happy::Twice {
        // FAPICIBAID1MultipleCallToTokenEndpoint: the auth_req_id is single use (CIBA §11:
        // invalid_grant once used).
        ctx.log
            .block("Call the token endpoint a second time with the same auth_req_id");
        let again = poll(ctx, &id).await?;
        ctx.log.must_ok(
            "CheckTokenEndpointHttpStatus400",
            &["OIDCC-3.1.3.4"],
            status_is(&again, 400),
        )?;
        validate_token_error(ctx, &again)?;
        let e = token_error(&again);
        ctx.log.must_ok(
            "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
            &["CIBA-11"],
            if e == "invalid_grant" {
                Ok("invalid_grant".into())
            } else {
                Err(format!("expected invalid_grant: {}", again.body))
            },
        )?;
    }
    Ok(())
}

/// FAPICIBAID1AuthReqIdExpired: `requested_expiry` of 30 s, never answered; after it has
/// passed, the token endpoint answers expired_token (CIBA §11).
async fn auth_req_id_expired(ctx: &mut Ctx<'_>) -> Flow {
    setup(ctx).await?;
    let binding = binding_message();
    let resp = call_backchannel(ctx, Bend::Expiry30, &binding).await?;
    let id = validate_acknowledgement(ctx, &resp)?;
    let expires_in = resp
        .json()
        .and_then(|b| b["expires_in"].as_u64())
        .unwrap_or(30);
    ctx.log.block("Wait for the auth_req_id to expire");
    tokio::time::sleep(Duration::from_secs(expires_in + 2)).await;
    let r = poll(ctx, &id).await?;
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus400",
        &["OIDCC-3.1.3.4"],
        status_is(&r, 400),
    )?;
    validate_token_error(ctx, &r)?;
    let e = token_error(&r);
    ctx.log.must_ok(
        "ExpectExpiredTokenErrorFromTokenEndpoint",
        &["CIBA-11"],
        if e == "expired_token" {
            Ok("expired_token".into())
        } else {
            Err(format!("expected expired_token: {}", r.body))
        },
    )
}

/// FAPICIBAID1EnsureWithoutClientAssertionInTokenEndpointFails and
/// FAPICIBAID1EnsureClientAssertionSignatureAlgorithmInTokenEndpointRequestIsRS256Fails: a
/// valid auth_req_id redeemed without proper client authentication is refused.
async fn token_auth_refused(ctx: &mut Ctx<'_>, rs256: bool) -> Flow {
    setup(ctx).await?;
    let binding = binding_message();
    let resp = call_backchannel(ctx, Bend::None, &binding).await?;
    let id = validate_acknowledgement(ctx, &resp)?;
    ctx.log
        .block("Call the token endpoint without proper client authentication");
    let over = client_auth(ctx, !rs256, rs256)?;
    let r = poll_as(ctx, &id, over).await?;
    validate_token_error(ctx, &r)?;
    ctx.log.check(
        "CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError",
        Failure,
        &["RFC6749-5.2", "CIBA-13"],
        match (r.status, token_error(&r).as_str()) {
            (400, _) | (401, "invalid_client") => Ok(format!("HTTP {}", r.status)),
            (st, e) => Err(format!(
                "expected HTTP 400 (or 401 with invalid_client), got {st} {e}"
            )),
        },
    );
    let e = token_error(&r);
    let (cond, ok) = if rs256 {
        (
            "CheckErrorFromTokenEndpointResponseErrorInvalidClient",
            e == "invalid_client",
        )
    } else {
        (
            "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
            e == "invalid_client" || e == "invalid_request",
        )
    };
    ctx.log.check(
        cond,
        Failure,
        &["RFC6749-5.2", "CIBA-13"],
        if ok {
            Ok(format!("error {e}"))
        } else {
            Err(format!("unexpected error: {}", r.body))
        },
    );
    Ok(())
}

/// FAPICIBAID1EnsureWrongClientIdInTokenEndpointRequest: the auth_req_id redeemed with the
/// second client's client_id over the first client's certificate is invalid_client.
async fn wrong_client_id_at_token_endpoint(ctx: &mut Ctx<'_>) -> Flow {
    setup(ctx).await?;
    let binding = binding_message();
    let resp = call_backchannel(ctx, Bend::None, &binding).await?;
    let id = validate_acknowledgement(ctx, &resp)?;
    ctx.log
        .block("Swapping to Client2 and calling token endpoint");
    let own_id = ctx.client.client_id.clone();
    let r = ctx
        .client2()
        .map(|c| (c.client_id, "the second client's client_id".to_string()));
    ctx.client.client_id = ctx.log.must("GetStaticClient2Configuration", &[], r)?;
    let r = poll(ctx, &id).await;
    ctx.client.client_id = own_id;
    let r = r?;
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError",
        &["OIDCC-3.1.3.4"],
        match (r.status, token_error(&r).as_str()) {
            (400, _) | (401, "invalid_client") => Ok(format!("HTTP {}", r.status)),
            (st, e) => Err(format!(
                "expected HTTP 400 (or 401 with invalid_client), got {st} {e}"
            )),
        },
    )?;
    let e = token_error(&r);
    ctx.log.check(
        "CheckErrorFromTokenEndpointResponseErrorInvalidClient",
        Failure,
        &["RFC6749-5.2"],
        if e == "invalid_client" {
            Ok("invalid_client".into())
        } else {
            Err(format!("expected invalid_client: {}", r.body))
        },
    );
    validate_token_error(ctx, &r)
}

/// AddPotentiallyBadBindingMessageToAuthorizationEndpointRequest's message.
const POTENTIALLY_BAD_BINDING_MESSAGE: &str = "1234 \u{1F44D}\u{1F3FF} 品川 Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.";

/// FAPICIBAID1EnsureAuthorizationRequestWithPotentiallyBadBindingMessage: a long binding
/// message with non-ASCII characters; the server either shows it (the suite then waits for a
/// screenshot) or answers invalid_binding_message (CIBA §13).
async fn potentially_bad_binding_message(ctx: &mut Ctx<'_>) -> Flow {
    setup(ctx).await?;
    ctx.log.must_ok(
        "AddPotentiallyBadBindingMessageToAuthorizationEndpointRequest",
        &["CIBA-7.1"],
        Ok("a long binding message with emoji and CJK characters".into()),
    )?;
    let resp = call_backchannel(ctx, Bend::None, POTENTIALLY_BAD_BINDING_MESSAGE).await?;
    let error = resp
        .json()
        .and_then(|b| b["error"].as_str().map(str::to_string));
    let Some(error) = error else {
        validate_acknowledgement(ctx, &resp)?;
        ctx.log.review(
            "ExpectBindingMessageCorrectDisplay",
            &["CIBA-7.1"],
            "the provider accepted the binding message; the suite asks for a screenshot of it",
        );
        return Ok(());
    };
    validate_backchannel_error(ctx, &resp, &[], ErrorKind::Other)?;
    ctx.log.check(
        "CheckErrorFromBackchannelAuthenticationEndpointErrorInvalidBindingMessage",
        Failure,
        &["CIBA-13"],
        if error == "invalid_binding_message" {
            Ok("invalid_binding_message".into())
        } else {
            Err(format!("expected invalid_binding_message: {}", resp.body))
        },
    );
    Ok(())
}

/// FAPICIBAID1EnsureClientAssertionWithIssAudToTokenEndpointSucceeds: a client assertion
/// whose `aud` is the issuer (RFC 7523 §3) should be accepted at the token endpoint; a
/// refusal must be invalid_client (and is a WARNING).
async fn iss_aud_assertion(ctx: &mut Ctx<'_>) -> Flow {
    setup(ctx).await?;
    let binding = binding_message();
    let resp = call_backchannel(ctx, Bend::None, &binding).await?;
    let id = validate_acknowledgement(ctx, &resp)?;
    ctx.log.block("Call token endpoint expecting pending");
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let claims = client_assertion_claims(ctx, json!(issuer));
    ctx.log.must_ok(
        "UpdateClientAuthenticationAssertionClaimsWithISSAud",
        &[],
        Ok(format!("aud {issuer}")),
    )?;
    let r = poll_as(ctx, &id, AuthOverride::Assertion(claims)).await?;
    ctx.log.check(
        "CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError",
        Failure,
        &["RFC6749-5.2", "CIBA-13"],
        match (r.status, token_error(&r).as_str()) {
            (400, _) | (401, "invalid_client") => Ok(format!("HTTP {}", r.status)),
            (st, e) => Err(format!(
                "expected HTTP 400 (or 401 with invalid_client), got {st} {e}"
            )),
        },
    );
    validate_token_error(ctx, &r)?;
    let e = token_error(&r);
    let pending = e == "authorization_pending" || e == "slow_down";
    ctx.log.check(
        "EnsureErrorTokenEndpointSlowdownOrAuthorizationPending",
        Warning,
        &[],
        if pending {
            Ok(format!("error {e}"))
        } else {
            Err(format!(
                "expected authorization_pending or slow_down: {}",
                r.body
            ))
        },
    );
    if !pending {
        ctx.log.check(
            "CheckErrorFromTokenEndpointResponseErrorInvalidClient",
            Failure,
            &["RFC6749-5.2", "CIBA-13"],
            if e == "invalid_client" {
                Ok("invalid_client".into())
            } else {
                Err(format!("expected invalid_client: {}", r.body))
            },
        );
    }
    Ok(())
}

/// FAPICIBAID1EnsureMTLSHolderOfKeyRequired: the endpoints' TLS, then the auth_req_id
/// redeemed without the client's certificate must fail (FAPI-RW §5.2.2-6: certificate-bound
/// tokens need the certificate).
async fn mtls_holder_of_key_required(ctx: &mut Ctx<'_>) -> Flow {
    setup(ctx).await?;
    crate::modules::tls::probe_server_endpoints(ctx, crate::tls_probe::Ciphers::Fapi1).await;
    let binding = binding_message();
    let resp = call_backchannel(ctx, Bend::None, &binding).await?;
    let id = validate_acknowledgement(ctx, &resp)?;
    ctx.log
        .block("Call token endpoint without the client certificate");
    ctx.log.must_ok(
        "RemoveMTLSCertificates",
        &[],
        Ok("no client certificate on the connection".into()),
    )?;
    let form = vec![
        (
            "grant_type".to_string(),
            "urn:openid:params:grant-type:ciba".to_string(),
        ),
        ("auth_req_id".to_string(), id),
    ];
    let url = endpoint(ctx, "token_endpoint").unwrap_or_default();
    let bare = ctx.back_without_certificate();
    let with_cert = std::mem::replace(&mut ctx.back, bare);
    let r = post_with_client_auth(ctx, &url, &form, AuthOverride::Default, &[]).await;
    ctx.back = with_cert;
    let r = match r {
        Err(e) => {
            // A dropped TLS connection is an acceptable refusal.
            ctx.log.check(
                "CallTokenEndpointAllowingTLSFailure",
                Failure,
                &["FAPI-RW-5.2.2-6"],
                Ok(format!(
                    "Call to token_endpoint failed due to a TLS issue: {e}"
                )),
            );
            return Ok(());
        }
        Ok(r) => r,
    };
    ctx.log.check(
        "CallTokenEndpointAllowingTLSFailure",
        Failure,
        &["FAPI-RW-5.2.2-6"],
        Ok(format!("HTTP {}", r.status)),
    );
    ctx.log.check(
        "EnsureHttpStatusCodeIs4xx",
        Failure,
        &["RFC6749-5.2"],
        if (400..500).contains(&r.status) {
            Ok(format!("HTTP {}", r.status))
        } else {
            Err(format!(
                "expected a 4xx status, got {}: {}",
                r.status, r.body
            ))
        },
    );
    ctx.log.check(
        "CheckTokenEndpointHttpStatus400or401",
        Warning,
        &["RFC6749-5.2"],
        if r.status == 400 || r.status == 401 {
            Ok(format!("HTTP {}", r.status))
        } else {
            Err(format!("expected HTTP 400 or 401, got {}", r.status))
        },
    );
    let json = ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Warning,
        &["OIDCC-3.1.3.4"],
        json_content_type(&r),
    );
    if !json {
        return Ok(());
    }
    let e = token_error(&r);
    if ctx.auth == ClientAuth::Mtls {
        ctx.log.check(
            "CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError",
            Failure,
            &["RFC6749-5.2"],
            match (r.status, e.as_str()) {
                (400, _) | (401, "invalid_client") => Ok(format!("HTTP {}", r.status)),
                (st, e) => Err(format!(
                    "expected HTTP 400 (or 401 with invalid_client), got {st} {e}"
                )),
            },
        );
        ctx.log.check(
            "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
            Failure,
            &["RFC6749-5.2"],
            if e == "invalid_client" || e == "invalid_request" {
                Ok(format!("error {e}"))
            } else {
                Err(format!(
                    "expected invalid_client or invalid_request: {}",
                    r.body
                ))
            },
        );
    } else {
        ctx.log.check(
            "CheckTokenEndpointReturnedInvalidClientGrantOrRequestError",
            Failure,
            &["RFC6749-5.2"],
            if ["invalid_client", "invalid_grant", "invalid_request"].contains(&e.as_str()) {
                Ok(format!("error {e}"))
            } else {
                Err(format!(
                    "expected invalid_client, invalid_grant or invalid_request: {}",
                    r.body
                ))
            },
        );
    }
    validate_token_error(ctx, &r)
}

/// FAPICIBAID1RefreshToken (AbstractFAPICIBAID1MultipleClient): each client's flow, then
/// its refresh token redeemed (RefreshTokenRequestSteps); finally the second client's refresh
/// token presented by the first is invalid_grant (RFC 6749 §6: bound to its client).
async fn refresh_token(ctx: &mut Ctx<'_>) -> Flow {
    setup(ctx).await?;
    ctx.scope = "openid email offline_access".into();
    let one = (ctx.client.clone(), ctx.back.clone());
    flow(ctx, Happy::Plain, Bend::None).await?;
    refresh(ctx, "").await?;
    ctx.log.block("Switch to the second client");
    let r = ctx.client2().and_then(|c| {
        let back = ctx.back_for(&c)?;
        Ok(((c, back), "the second client".to_string()))
    });
    let (c2, back2) = ctx.log.must("GetStaticClient2Configuration", &[], r)?;
    ctx.client = c2;
    ctx.back = back2;
    flow(ctx, Happy::Plain, Bend::None).await?;
    let second = refresh(ctx, "Second client: ").await?;
    ctx.client = one.0;
    ctx.back = one.1;
    ctx.log
        .block("Attempting to use refresh_token issued to client 2 with client 1");
    ctx.log.must_ok(
        "CreateRefreshTokenRequest",
        &[],
        Ok("grant_type refresh_token".into()),
    )?;
    let form = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".to_string(), second),
        ("scope".to_string(), ctx.scope.clone()),
    ];
    let r = call_token_endpoint(ctx, &form).await.map(|x| {
        let s = format!("HTTP {}", x.status);
        (x, s)
    });
    let r = ctx
        .log
        .must("CallTokenEndpointAndReturnFullResponse", &[], r)?;
    validate_token_error(ctx, &r)?;
    ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Failure,
        &["OIDCC-3.1.3.4"],
        json_content_type(&r),
    );
    let e = token_error(&r);
    ctx.log.check(
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
        Failure,
        &["RFC6749-5.2"],
        if e == "invalid_grant" {
            Ok("invalid_grant".into())
        } else {
            Err(format!("expected invalid_grant: {}", r.body))
        },
    );
    Ok(())
}

/// The current client's refresh token redeemed (RefreshTokenRequestSteps); returns the new
/// refresh token (or the old one when none is issued).
async fn refresh(ctx: &mut Ctx<'_>, who: &str) -> Flow<String> {
    ctx.log.block(&format!("{who}Check for refresh token"));
    let rt = ctx.refresh_token.clone();
    let rt = ctx.log.must(
        "ExtractRefreshTokenFromTokenResponse",
        &[],
        rt.map(|t| (t, "refresh_token present".to_string()))
            .ok_or("no refresh_token was issued with offline_access".to_string()),
    )?;
    ctx.log.check(
        "EnsureRefreshTokenContainsAllowedCharactersOnly",
        Failure,
        &["RFC6749-A.17"],
        if rt.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            Ok("VSCHAR only".into())
        } else {
            Err("the refresh token has characters outside VSCHAR".into())
        },
    );
    ctx.log.block(&format!("{who}Refresh the tokens"));
    ctx.log.must_ok(
        "CreateRefreshTokenRequest",
        &[],
        Ok("grant_type refresh_token".into()),
    )?;
    ctx.log.must_ok(
        "AddScopeToTokenEndpointRequest",
        &["RFC6749-6"],
        Ok(format!("scope {}", ctx.scope)),
    )?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    ctx.log
        .must_ok("WaitForOneSecond", &[], Ok("waited".into()))?;
    let form = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".to_string(), rt.clone()),
        ("scope".to_string(), ctx.scope.clone()),
    ];
    let first_at = ctx.access_token.clone();
    let r = call_token_endpoint(ctx, &form).await.map(|x| {
        let s = format!("HTTP {}", x.status);
        (x, s)
    });
    let r = ctx
        .log
        .must("CallTokenEndpointAndReturnFullResponse", &[], r)?;
    ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Failure,
        &["RFC6749-5.1"],
        json_content_type(&r),
    );
    let cc = r.cache_control.clone().unwrap_or_default();
    ctx.log.check(
        "CheckTokenEndpointCacheHeaders",
        Failure,
        &["RFC6749-5.1"],
        if cc.contains("no-store") {
            Ok(format!("Cache-Control: {cc}"))
        } else {
            Err(format!("Cache-Control must be no-store, is '{cc}'"))
        },
    );
    let body = r.json().unwrap_or(Value::Null);
    ctx.log.must_ok(
        "CheckIfTokenEndpointResponseError",
        &[],
        if body.get("error").is_some() {
            Err(format!("token endpoint error: {body}"))
        } else {
            Ok("no error".into())
        },
    )?;
    let at = body["access_token"].as_str().map(str::to_string);
    ctx.log.must_ok(
        "ExtractAccessTokenFromTokenResponse",
        &[],
        at.clone()
            .map(|_| "access_token present".into())
            .ok_or("no access_token".into()),
    )?;
    let tt = body["token_type"].as_str().unwrap_or("");
    ctx.log.check(
        "CheckTokenTypeIsBearer",
        Failure,
        &["FAPI-R-6.2.2-1", "FAPI1-BASE-6.2.2-1"],
        if tt.eq_ignore_ascii_case("bearer") {
            Ok("Bearer".into())
        } else {
            Err(format!("token_type is '{tt}', not Bearer"))
        },
    );
    ctx.log.check(
        "EnsureMinimumAccessTokenEntropy",
        Failure,
        &["FAPI-R-5.2.2-16", "FAPI1-BASE-5.2.2-16"],
        if entropy_bits(at.as_deref().unwrap_or("")) >= 128.0 {
            Ok("enough entropy".into())
        } else {
            Err("the access token has less than 128 bits of entropy".into())
        },
    );
    ctx.log.check(
        "EnsureAccessTokenValuesAreDifferent",
        Info,
        &[],
        if at != first_at {
            Ok("a new access token".into())
        } else {
            Err("the same access token as before".into())
        },
    );
    ctx.access_token = at;
    ctx.log.check(
        "ExtractExpiresInFromTokenEndpointResponse",
        Warning,
        &["RFC6749-6", "RFC6749-5.1"],
        if body.get("expires_in").is_some() {
            Ok("expires_in present".into())
        } else {
            Err("expires_in missing".into())
        },
    );
    let new_rt = body["refresh_token"].as_str().map(str::to_string);
    ctx.log.check(
        "ExtractRefreshTokenFromTokenResponse",
        Info,
        &[],
        new_rt
            .as_ref()
            .map(|_| "a refresh token".into())
            .ok_or("no new refresh token".into()),
    );
    ctx.log
        .block(&format!("{who}Call the protected resource (UserInfo)"));
    call_userinfo(ctx, false, "CallProtectedResource").await?;
    Ok(new_rt.unwrap_or(rt))
}

/// FAPICIBAID1EnsureWrongAuthenticationRequestIdInTokenEndpointRequest: a made-up
/// auth_req_id is invalid_grant (CIBA §11).
async fn wrong_auth_req_id(ctx: &mut Ctx<'_>) -> Flow {
    setup(ctx).await?;
    let binding = binding_message();
    let resp = call_backchannel(ctx, Bend::None, &binding).await?;
    validate_acknowledgement(ctx, &resp)?;
    ctx.log
        .block("Call the token endpoint with a wrong auth_req_id");
    ctx.log.must_ok(
        "AddWrongAuthReqIdToTokenEndpointRequest",
        &[],
        Ok("a random auth_req_id".into()),
    )?;
    let r = poll(ctx, &random_value(32)).await?;
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus400",
        &["OIDCC-3.1.3.4"],
        status_is(&r, 400),
    )?;
    validate_token_error(ctx, &r)?;
    let e = token_error(&r);
    ctx.log.must_ok(
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
        &["CIBA-11"],
        if e == "invalid_grant" {
            Ok("invalid_grant".into())
        } else {
            Err(format!("expected invalid_grant: {}", r.body))
        },
    )
}

/// The negative modules of the backchannel request (request object claims, alg, hints, no
/// request object): the endpoint answers an error (CIBA §13).
async fn refused(ctx: &mut Ctx<'_>, bad: Bend) -> Flow {
    setup(ctx).await?;
    let binding = binding_message();
    let resp = call_backchannel(ctx, bad, &binding).await?;
    let allowed: &[&str] = match bad {
        Bend::NoClientAssertion | Bend::Rs256ClientAssertion | Bend::WrongClientId => {
            &["access_denied", "invalid_request", "invalid_client"]
        }
        Bend::DifferentClientIdAndIssuer => &["invalid_client"],
        _ => &["invalid_request"],
    };
    let kind = match bad {
        Bend::NoClientAssertion | Bend::Rs256ClientAssertion | Bend::WrongClientId => {
            ErrorKind::ClientAuth
        }
        Bend::DifferentClientIdAndIssuer => ErrorKind::InvalidClient401,
        _ => ErrorKind::InvalidRequest,
    };
    validate_backchannel_error(ctx, &resp, allowed, kind)
}

/// FAPICIBAID1DiscoveryEndpointVerification (and AbstractFAPIDiscoveryEndpointVerification),
/// poll mode.
async fn discovery(ctx: &mut Ctx<'_>) -> Flow {
    ctx.log.block("Configure");
    let resp = get_dynamic_server_configuration(ctx).await?;
    ctx.log.check(
        "EnsureDiscoveryEndpointResponseStatusCodeIs200",
        Failure,
        &["OIDCD-4"],
        status_is(&resp, 200),
    );
    ctx.log.check(
        "CheckDiscoveryEndpointReturnedJsonContentType",
        Failure,
        &["OIDCD-4"],
        json_content_type(&resp),
    );
    let s = ctx.server.clone();
    let strings = |k: &str| json_array_strings(&s[k]).unwrap_or_default();
    let has = |k: &str, v: &str| strings(k).iter().any(|x| x == v);
    let issuer = s["issuer"].as_str().unwrap_or("").to_string();
    ctx.log.check(
        "CheckDiscEndpointIssuer",
        Failure,
        &["OIDCD-4.3", "OIDCD-7.2"],
        if ctx.cfg.discovery_url == format!("{issuer}/.well-known/openid-configuration") {
            Ok(format!("issuer {issuer}"))
        } else {
            Err(format!("issuer {issuer} does not match the discovery URL"))
        },
    );
    ctx.log.check(
        "CheckTLSClientCertificateBoundAccessTokensTrue",
        Failure,
        &["FAPI-RW-5.2.2-6", "RFC8705-3.3"],
        if s["tls_client_certificate_bound_access_tokens"] == json!(true) {
            Ok("true".into())
        } else {
            Err("tls_client_certificate_bound_access_tokens is not true".into())
        },
    );
    ctx.log.check(
        "CheckDiscEndpointIdTokenSigningAlgValuesSupportedContainsPS256OrES256",
        Failure,
        &["FAPI-RW-8.6"],
        if has("id_token_signing_alg_values_supported", "PS256")
            || has("id_token_signing_alg_values_supported", "ES256")
        {
            Ok("PS256 or ES256 listed".into())
        } else {
            Err("id_token_signing_alg_values_supported lists neither PS256 nor ES256".into())
        },
    );
    ctx.log.check(
        "CheckDiscEndpointTokenEndpointAuthMethodsSupportedContainsPrivateKeyOrTlsClient",
        Failure,
        &["FAPI-RW-5.2.2-14"],
        if [
            "private_key_jwt",
            "tls_client_auth",
            "self_signed_tls_client_auth",
        ]
        .iter()
        .any(|m| has("token_endpoint_auth_methods_supported", m))
        {
            Ok("listed".into())
        } else {
            Err("no FAPI client authentication method listed".into())
        },
    );
    ctx.log.check(
        "CheckDiscEndpointTokenEndpoint",
        Failure,
        &["OIDCD-3"],
        s["token_endpoint"]
            .as_str()
            .filter(|u| u.starts_with("https://"))
            .map(|u| format!("token_endpoint {u}"))
            .ok_or("token_endpoint missing or not https".into()),
    );
    ctx.log.check(
        "CheckJwksUri",
        Failure,
        &["OIDCD-3"],
        s["jwks_uri"]
            .as_str()
            .filter(|u| u.starts_with("https://"))
            .map(|u| format!("jwks_uri {u}"))
            .ok_or("jwks_uri missing or not https".into()),
    );
    if ctx.auth == ClientAuth::Mtls {
        ctx.log.check(
            "EnsureServerConfigurationSupportsMTLS",
            Failure,
            &["FAPI-RW-5.2.2-6"],
            if has("token_endpoint_auth_methods_supported", "tls_client_auth")
                || has(
                    "token_endpoint_auth_methods_supported",
                    "self_signed_tls_client_auth",
                )
            {
                Ok("mutual TLS client authentication listed".into())
            } else {
                Err("no tls_client_auth in token_endpoint_auth_methods_supported".into())
            },
        );
    } else {
        ctx.log.check(
            "EnsureServerConfigurationSupportsPrivateKeyJwt",
            Failure,
            &["FAPI-RW-5.2.2-6"],
            if has("token_endpoint_auth_methods_supported", "private_key_jwt") {
                Ok("private_key_jwt listed".into())
            } else {
                Err("no private_key_jwt in token_endpoint_auth_methods_supported".into())
            },
        );
    }
    ctx.log.check(
        "CheckDiscBackchannelAuthorizationEndpoint",
        Failure,
        &["CIBA-4"],
        s["backchannel_authentication_endpoint"]
            .as_str()
            .filter(|u| u.starts_with("https://"))
            .map(|u| format!("backchannel_authentication_endpoint {u}"))
            .ok_or("backchannel_authentication_endpoint missing or not https".into()),
    );
    let algs = strings("backchannel_authentication_request_signing_alg_values_supported");
    ctx.log.check(
        "CheckDiscEndpointBackchannelAuthenticationRequestSigningAlgValuesSupported",
        Warning,
        &["CIBA-4"],
        // AbstractValidateJsonArray with one match required.
        if algs.iter().any(|a| a == "PS256" || a == "ES256") {
            Ok(format!("{algs:?}"))
        } else {
            Err(format!(
                "No matching value from server (PS256, ES256): {algs:?}"
            ))
        },
    );
    ctx.log.check(
        "CheckBackchannelUserCodeParameterSupported",
        Warning,
        &["CIBA-4"],
        match s.get("backchannel_user_code_parameter_supported") {
            None | Some(Value::Bool(_)) => Ok("absent or a boolean".into()),
            Some(v) => Err(format!(
                "backchannel_user_code_parameter_supported is not a boolean: {v}"
            )),
        },
    );
    ctx.log.check(
        "FAPICIBACheckDiscEndpointGrantTypesSupported",
        Failure,
        &["CIBA-4"],
        if has("grant_types_supported", "urn:openid:params:grant-type:ciba") {
            Ok("the CIBA grant is listed".into())
        } else {
            Err("grant_types_supported lacks urn:openid:params:grant-type:ciba".into())
        },
    );
    let (condition, mode) = if ping_mode(ctx) {
        ("CheckBackchannelTokenDeliveryPingModeSupported", "ping")
    } else {
        ("CheckBackchannelTokenDeliveryPollModeSupported", "poll")
    };
    ctx.log.check(
        condition,
        Failure,
        &["FAPI-RW-5.2.2-6"],
        if has("backchannel_token_delivery_modes_supported", mode) {
            Ok(format!("{mode} listed"))
        } else {
            Err(format!(
                "backchannel_token_delivery_modes_supported lacks {mode}"
            ))
        },
    );
    Ok(())
}
