//! The FAPI 2.0 plans: `fapi2-security-profile-final-test-plan` (FAPI2SPFinalTestPlan) and
//! `fapi2-message-signing-final-test-plan` (FAPI2MessageSigningFinalTestPlan), plain_fapi.
//!
//! The shared flow is AbstractFAPI2SPFinalServerTestModule: configure (discovery, server keys,
//! static client), the authorization request (state, nonce with openid, PKCE S256, JARM's
//! response_mode), pushed to the PAR endpoint (signed as a request object with
//! signed_non_repudiation), the redirect with the request_uri, the callback checks, the token
//! endpoint with the client's authentication and the sender constraint (a DPoP proof, or the
//! client certificate), the token response checks, then a resource request with the token.

use super::{
    check_server_jwks, fetch_server_keys, get_dynamic_server_configuration, id_token_checks,
    json_array_strings, now, Ctx, IdToken,
};
use crate::browser::{self, Landing, Resp, Visit};
use crate::dpop::{self, DpopKey};
use crate::jose;
use crate::log::{Check, Flow, Stop};
use crate::report::Outcome::{Failure, Info, Warning};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use url::Url;

/// The FAPI 2 state of one module run beyond the common context.
pub struct Fapi {
    pub openid: bool,
    pub dpop: bool,
    /// client_auth_type mtls (tls_client_auth).
    pub mtls_auth: bool,
    /// sender_constrain mtls (certificate-bound tokens).
    pub mtls_bound: bool,
    pub signed: bool,
    pub jarm: bool,
    pub second: bool,
    /// DPoP proofs at the PAR endpoint too (useDpopAuthCodeBinding).
    pub dpop_at_par: bool,
    pub dpop_key: Option<DpopKey>,
    /// Seconds added to every proof's `iat` (SetDpopIatTo10SecondsInPast, ...8SecondsInFuture).
    pub proof_iat_offset: i64,
    /// SetDpopNbfToNow and SetDpopExpToFiveMinutesInFuture on token and resource proofs.
    pub proof_nbf_exp: bool,
    pub as_nonce: Option<String>,
    pub rs_nonce: Option<String>,
    pub code_verifier: Option<String>,
    pub request_uri: Option<String>,
    /// The form sent to the PAR endpoint (unsigned: the authorization request itself).
    pub par_form: Vec<(String, String)>,
    /// The request object's claims (unsigned: the PAR form's parameters).
    pub request_object_claims: Value,
    pub token_body: Value,
    /// The scheme the access token is sent with (the token response's token_type).
    pub token_type: Option<String>,
    pub client1: Option<crate::config::Client>,
}

impl Fapi {
    pub fn new(ctx: &Ctx<'_>) -> Fapi {
        Fapi {
            openid: !ctx.variant_is("openid", "plain_oauth"),
            dpop: ctx.variant_is("sender_constrain", "dpop"),
            mtls_auth: ctx.variant_is("client_auth_type", "mtls"),
            mtls_bound: ctx.variant_is("sender_constrain", "mtls"),
            signed: ctx.variant_is("fapi_request_method", "signed_non_repudiation"),
            jarm: ctx.variant_is("fapi_response_mode", "jarm"),
            second: false,
            dpop_at_par: false,
            dpop_key: None,
            proof_iat_offset: 0,
            proof_nbf_exp: false,
            as_nonce: None,
            rs_nonce: None,
            code_verifier: None,
            request_uri: None,
            par_form: Vec::new(),
            request_object_claims: Value::Null,
            token_body: Value::Null,
            token_type: None,
            client1: None,
        }
    }

    fn prefix(&self) -> &'static str {
        if self.second {
            "Second client: "
        } else {
            ""
        }
    }
}

fn ok(msg: impl Into<String>) -> Check {
    Ok(msg.into())
}

fn fail(msg: impl Into<String>) -> Check {
    Err(msg.into())
}

/// AbstractValidateJsonArray: `name` must be an array holding at least `min` of `wanted`.
fn array_has(server: &Value, name: &str, wanted: &[&str], min: usize) -> Check {
    let Some(list) = server.get(name).and_then(json_array_strings) else {
        return fail(format!(
            "'{name}' is missing from the discovery document or not an array of strings"
        ));
    };
    let found = wanted
        .iter()
        .filter(|w| list.iter().any(|x| x == *w))
        .count();
    if found >= min {
        ok(format!("{name}: {list:?}"))
    } else {
        fail(format!(
            "No matching value from server ({name}: {list:?}, expected one of {wanted:?})"
        ))
    }
}

/// FAPI2-SP-FINAL 5.4: the algorithms a FAPI 2 party may use.
pub const FAPI2_ALGS: &[&str] = &["PS256", "ES256", "EdDSA", "Ed25519"];

/// AbstractEnsureMinimumEntropy: Shannon entropy per character times the length.
pub fn shannon_bits(s: &str) -> f64 {
    let mut counts: BTreeMap<char, usize> = BTreeMap::new();
    for c in s.chars() {
        *counts.entry(c).or_default() += 1;
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

fn entropy_check(what: &str, value: &str) -> Check {
    let bits = shannon_bits(value);
    if bits > 96.0 {
        ok(format!(
            "Calculated shannon entropy seems sufficient for the {what} ({bits:.1} bits)"
        ))
    } else {
        fail(format!("Calculated shannon entropy of the {what} does not seem to meet minimum required entropy ({bits:.1} bits, expected more than 96)"))
    }
}

fn length_check(what: &str, value: &str) -> Check {
    let bits = value.len() * 8;
    if bits >= 128 {
        ok(format!("{what} is of sufficient length ({bits} bits)"))
    } else {
        fail(format!(
            "{what} is not long enough ({bits} bits, 128 required)"
        ))
    }
}

// ---- configure -----------------------------------------------------------------------------

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
        ok("resource: the UserInfo endpoint"),
    )?;
    let ui = ctx.server_str("userinfo_endpoint");
    ctx.log.must_ok(
        "SetProtectedResourceUrlToSingleResourceEndpoint",
        &[],
        ui.map(|u| format!("protected resource: {u}"))
            .ok_or("no userinfo_endpoint".to_string()),
    )
}

/// GetDynamicServerConfiguration (openid) or GetOauthDynamicServerConfiguration.
async fn fetch_configuration(ctx: &mut Ctx<'_>, openid: bool) -> Flow<Resp> {
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
fn key_lengths(jwks: &Value) -> Check {
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
fn configure_client(ctx: &mut Ctx<'_>, f: &Fapi) -> Flow {
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

// ---- authorization request -------------------------------------------------------------------

/// How a module shapes its authorization request (CreateAuthorizationRequestSteps with the
/// module's changes).
pub struct AuthReq {
    pub state: bool,
    pub nonce: bool,
    pub nonce_len: Option<usize>,
    pub state_len: Option<usize>,
    /// `S256`, `plain`, or none.
    pub pkce: Option<&'static str>,
    pub response_type: &'static str,
    pub redirect_uri: Option<String>,
    pub extra: Vec<(String, String)>,
    pub remove: Vec<&'static str>,
}

impl Default for AuthReq {
    fn default() -> Self {
        AuthReq {
            state: true,
            nonce: true,
            nonce_len: None,
            state_len: None,
            pkce: Some("S256"),
            response_type: "code",
            redirect_uri: None,
            extra: Vec::new(),
            remove: Vec::new(),
        }
    }
}

/// CreateRandomStateValue / CreateRandomNonceValue: alphanumeric, ending in `-._~` when
/// longer than 10 characters.
pub fn random_len(len: usize) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let plain = if len > 10 { len - 4 } else { len };
    let mut out = String::with_capacity(len);
    while out.len() < plain {
        let raw = base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            jose::random_value(48),
        )
        .unwrap_or_default();
        for b in raw {
            // 248 = 4 * 62: no bias.
            if b < 248 && out.len() < plain {
                out.push(ALNUM[(b % 62) as usize] as char);
            }
        }
    }
    if len > 10 {
        out.push_str("-._~");
    }
    out
}

/// CreateAuthorizationRequestSteps.
pub fn create_authorization_request(ctx: &mut Ctx<'_>, f: &mut Fapi, req: &AuthReq) -> Flow {
    ctx.log
        .block(&format!("{}Create authorization request", f.prefix()));
    let mut p = BTreeMap::new();
    p.insert("client_id".to_string(), ctx.client.client_id.clone());
    let redirect_uri = req
        .redirect_uri
        .clone()
        .unwrap_or(ctx.client.redirect_uri.clone());
    p.insert("redirect_uri".to_string(), redirect_uri);
    p.insert("scope".to_string(), ctx.scope.clone());
    ctx.log.must_ok(
        "CreateAuthorizationEndpointRequestFromClientInformation",
        &[],
        ok(format!("client_id, redirect_uri, scope={}", ctx.scope)),
    )?;
    ctx.state = None;
    if req.state {
        // The second client asks for a 128-character state (requested_state_length).
        let len = req.state_len.unwrap_or(if f.second { 128 } else { 10 });
        let state = random_len(len);
        ctx.log
            .must_ok("CreateRandomStateValue", &[], ok(state.clone()))?;
        p.insert("state".into(), state.clone());
        ctx.log.must_ok(
            "AddStateToAuthorizationEndpointRequest",
            &[],
            ok("state added"),
        )?;
        ctx.state = Some(state);
    } else {
        ctx.log.info(
            "AddStateToAuthorizationEndpointRequest",
            "skipped: no state in the request",
        );
    }
    ctx.nonce = None;
    if f.openid && req.nonce {
        let nonce = random_len(req.nonce_len.unwrap_or(10));
        ctx.log
            .must_ok("CreateRandomNonceValue", &[], ok(nonce.clone()))?;
        p.insert("nonce".into(), nonce.clone());
        ctx.log.must_ok(
            "AddNonceToAuthorizationEndpointRequest",
            &[],
            ok("nonce added"),
        )?;
        ctx.nonce = Some(nonce);
    }
    p.insert("response_type".into(), req.response_type.into());
    ctx.log.must_ok(
        "SetAuthorizationEndpointRequestResponseTypeToCode",
        &[],
        ok(format!("response_type={}", req.response_type)),
    )?;
    if f.jarm {
        p.insert("response_mode".into(), "jwt".into());
        ctx.log.must_ok(
            "SetAuthorizationEndpointRequestResponseModeToJWT",
            &["JARM-4.3"],
            ok("response_mode=jwt"),
        )?;
    }
    f.code_verifier = None;
    if let Some(method) = req.pkce {
        let verifier = jose::random_value(32);
        ctx.log.must_ok(
            "CreateRandomCodeVerifier",
            &["RFC7636-4.1"],
            ok(verifier.clone()),
        )?;
        let (challenge, cond) = if method == "plain" {
            (verifier.clone(), "CreatePlainCodeChallenge")
        } else {
            (jose::sha256_b64(&verifier), "CreateS256CodeChallenge")
        };
        ctx.log
            .must_ok(cond, &["RFC7636-4.2"], ok(format!("{method}: {challenge}")))?;
        p.insert("code_challenge".into(), challenge);
        p.insert("code_challenge_method".into(), method.into());
        ctx.log.must_ok(
            "AddCodeChallengeToAuthorizationEndpointRequest",
            &["RFC7636-4.3"],
            ok("code_challenge added"),
        )?;
        f.code_verifier = Some(verifier);
    }
    for (k, v) in &req.extra {
        p.insert(k.clone(), v.clone());
    }
    for k in &req.remove {
        p.remove(*k);
    }
    ctx.request = p;
    Ok(())
}

/// GenerateDpopKey (when the client has none yet).
pub fn ensure_dpop_key(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    if f.dpop_key.is_none() {
        let k = DpopKey::generate().map(|k| {
            let m = format!("Generated dPOP JWK {}", k.jkt());
            (k, m)
        });
        f.dpop_key = Some(ctx.log.must("GenerateDpopKey", &[], k)?);
    }
    Ok(())
}

/// AddDpopJktToAuthorizationEndpointRequest: the key's thumbprint as `dpop_jkt`.
pub fn add_dpop_jkt(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ensure_dpop_key(ctx, f)?;
    let jkt = f.dpop_key.as_ref().map(|k| k.jkt()).unwrap_or_default();
    ctx.request.insert("dpop_jkt".into(), jkt.clone());
    ctx.log.must_ok(
        "AddDpopJktToAuthorizationEndpointRequest",
        &["DPOP-10"],
        ok(format!("dpop_jkt={jkt}")),
    )
}

/// CreateAuthorizationRequestObjectSteps: the request as a signed request object.
pub fn create_request_object(ctx: &mut Ctx<'_>, f: &mut Fapi, shape: &RequestObject) -> Flow {
    let mut claims = json!({});
    for (k, v) in &ctx.request {
        // The claims request is a JSON object in a request object (OIDC Core §5.5, §6.1);
        // the form carries it serialised.
        claims[k] = match (k.as_str(), serde_json::from_str::<Value>(v)) {
            ("claims", Ok(object @ Value::Object(_))) => object,
            _ => v.clone().into(),
        };
    }
    ctx.log.must_ok(
        "ConvertAuthorizationEndpointRequestToRequestObject",
        &[],
        ok("request object claims from the authorization request"),
    )?;
    let now = now();
    if f.second {
        claims["iat"] = now.into();
        ctx.log
            .must_ok("AddIatToRequestObject", &[], ok(format!("iat {now}")))?;
    }
    if shape.nbf {
        claims["nbf"] = (now + shape.nbf_offset).into();
        ctx.log.must_ok(
            "AddNbfToRequestObject",
            &["FAPI2-MS-ID1-5.3.1-3"],
            ok("nbf added"),
        )?;
    }
    if shape.exp {
        claims["exp"] = (now + shape.exp_offset).into();
        ctx.log.must_ok(
            "AddExpToRequestObject",
            &["FAPI2-MS-ID1-5.3.1-4"],
            ok("exp added"),
        )?;
    }
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    claims["aud"] = shape.aud.clone().unwrap_or(issuer.into());
    ctx.log.must_ok(
        "AddAudToRequestObject",
        &["FAPI2-SP-FINAL-5.3.2.1-6"],
        ok(format!("aud {}", claims["aud"])),
    )?;
    claims["iss"] = ctx.client.client_id.clone().into();
    ctx.log
        .must_ok("AddIssToRequestObject", &["OIDCC-6.1"], ok("iss added"))?;
    claims["client_id"] = ctx.client.client_id.clone().into();
    ctx.log.must_ok(
        "AddClientIdToRequestObject",
        &["JAR-5", "FAPI2-MS-ID1-5.3.2-1"],
        ok("client_id added"),
    )?;
    for (k, v) in &shape.claims {
        if v.is_null() {
            claims.as_object_mut().map(|o| o.remove(k));
        } else {
            claims[k] = v.clone();
        }
    }
    f.request_object_claims = claims.clone();
    Ok(())
}

/// How a request object is made (the negative modules change one thing).
pub struct RequestObject {
    pub nbf: bool,
    pub nbf_offset: i64,
    pub exp: bool,
    pub exp_offset: i64,
    pub aud: Option<Value>,
    /// Claims to set (null: remove) after the standard ones.
    pub claims: Vec<(String, Value)>,
}

impl Default for RequestObject {
    fn default() -> Self {
        RequestObject {
            nbf: true,
            nbf_offset: 0,
            exp: true,
            exp_offset: 300,
            aud: None,
            claims: Vec::new(),
        }
    }
}

/// SignRequestObject (SignRequestObjectIncludeMediaType for the second client).
pub fn sign_request_object(ctx: &mut Ctx<'_>, f: &Fapi) -> Flow<String> {
    let signer = ctx.signer();
    let mut header = json!({});
    let cond = if f.second {
        header["typ"] = "oauth-authz-req+jwt".into();
        "SignRequestObjectIncludeMediaType"
    } else {
        "SignRequestObject"
    };
    let r = signer
        .and_then(|s| s.sign(header, &f.request_object_claims))
        .map(|jws| (jws, "request object signed".to_string()));
    ctx.log.must(cond, &["JAR-4"], r)
}

// ---- PAR ---------------------------------------------------------------------------------------

/// BuildUnsignedPAREndpointRequest (or BuildRequestObjectPostToPAREndpoint with a request
/// object).
pub fn build_par_request(ctx: &mut Ctx<'_>, f: &mut Fapi, request_object: Option<String>) -> Flow {
    match request_object {
        None => {
            f.par_form = ctx
                .request
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            f.request_object_claims = json!(ctx.request);
            ctx.log.must_ok(
                "BuildUnsignedPAREndpointRequest",
                &[],
                ok("the authorization request as the PAR form"),
            )
        }
        Some(jws) => {
            f.par_form = vec![
                ("request".into(), jws),
                ("client_id".into(), ctx.client.client_id.clone()),
            ];
            ctx.log.must_ok(
                "BuildRequestObjectPostToPAREndpoint",
                &[],
                ok("request and client_id as the PAR form"),
            )
        }
    }
}

/// The request as a signed request object when the variant signs its requests.
pub fn request_object_if_signed(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow<Option<String>> {
    if !f.signed {
        return Ok(None);
    }
    create_request_object(ctx, f, &RequestObject::default())?;
    Ok(Some(sign_request_object(ctx, f)?))
}

/// A DPoP proof for `method` `url` with the current key and nonce.
pub fn make_proof(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    method: &str,
    url: &str,
    access_token: Option<&str>,
    resource: bool,
) -> Flow<String> {
    ensure_dpop_key(ctx, f)?;
    let nonce = if resource {
        f.rs_nonce.clone()
    } else {
        f.as_nonce.clone()
    };
    let mut claims = dpop::claims(
        method,
        url,
        f.proof_iat_offset,
        nonce.as_deref(),
        access_token,
    );
    ctx.log
        .must_ok("CreateDpopHeader", &[], ok("alg ES256, typ dpop+jwt, jwk"))?;
    ctx.log.must_ok(
        "CreateDpopClaims",
        &[],
        ok(format!("htm {method}, htu {url}")),
    )?;
    match f.proof_iat_offset {
        0 => {}
        o if o < 0 => ctx
            .log
            .info("SetDpopIatTo10SecondsInPast", format!("iat moved by {o} s")),
        o => ctx.log.info(
            "SetDpopIatTo8SecondsInFuture",
            format!("iat moved by {o} s"),
        ),
    }
    if f.proof_nbf_exp {
        claims["nbf"] = now().into();
        claims["exp"] = (now() + 300).into();
        ctx.log.info("SetDpopNbfToNow", "nbf: now");
        ctx.log
            .info("SetDpopExpToFiveMinutesInFuture", "exp: in 5 minutes");
    }
    if let Some(n) = &nonce {
        ctx.log.check(
            "EnsureDpopNonceContainsAllowedCharactersOnly",
            Failure,
            &["DPOP-8.1"],
            if dpop::nonce_chars_valid(n) {
                ok("nonce characters are allowed")
            } else {
                fail(format!("nonce {n} has characters outside NQCHAR"))
            },
        );
    }
    let key = f.dpop_key.as_ref().expect("dpop key");
    let r = key
        .sign_raw(&key.header(), &claims)
        .map(|p| (p, "Signed the DPoP proof".to_string()));
    ctx.log.must("SignDpopProof", &[], r)
}

fn nonce_of(resp: &Resp) -> Option<String> {
    resp.headers.get("dpop-nonce").cloned()
}

/// callParEndpointAndStopOnFailure: the PAR request with the client's authentication (and a
/// DPoP proof when the code is bound to the DPoP key), retried once on `use_dpop_nonce`.
/// Without mTLS client authentication no certificate is presented (performParAuthorizationRequestFlow).
pub async fn call_par(ctx: &mut Ctx<'_>, f: &mut Fapi, auth: super::AuthOverride) -> Flow<Resp> {
    let without_cert = !f.mtls_auth;
    let saved = without_cert.then(|| {
        let plain = ctx.back_without_certificate();
        std::mem::replace(&mut ctx.back, plain)
    });
    let out = call_par_inner(ctx, f, auth).await;
    if let Some(b) = saved {
        ctx.back = b;
    }
    out
}

async fn call_par_inner(ctx: &mut Ctx<'_>, f: &mut Fapi, auth: super::AuthOverride) -> Flow<Resp> {
    let url = super::endpoint(ctx, "pushed_authorization_request_endpoint").unwrap_or_default();
    let mut form = f.par_form.clone();
    if f.mtls_auth
        && matches!(
            auth,
            super::AuthOverride::Default | super::AuthOverride::None
        )
    {
        // The client authentication adds client_id itself (RFC 8705 §2).
        form.retain(|(k, _)| k != "client_id");
    }
    for attempt in 0..2 {
        let auth = resolve_auth(ctx, f, &auth);
        let mut headers = Vec::new();
        if f.dpop && f.dpop_at_par {
            let proof = make_proof(ctx, f, "POST", &url, None, false)?;
            ctx.log.must_ok(
                "AddDpopHeaderForParEndpointRequest",
                &[],
                ok("DPoP header added"),
            )?;
            headers.push(("DPoP".to_string(), proof));
        }
        let r = super::push_authorization_request(ctx, &form, auth, &headers).await;
        let resp = ctx.log.must(
            if f.dpop && f.dpop_at_par {
                "CallPAREndpointAllowingDpopNonceError"
            } else {
                "CallPAREndpoint"
            },
            &["PAR-2.1"],
            r.map(|x| {
                let s = format!("HTTP {}", x.status);
                (x, s)
            }),
        )?;
        let nonce_error =
            resp.status == 400 && resp.json().is_some_and(|b| b["error"] == "use_dpop_nonce");
        if let Some(n) = nonce_of(&resp) {
            f.as_nonce = Some(n);
        }
        if !(f.dpop && f.dpop_at_par && nonce_error && attempt == 0) {
            return Ok(resp);
        }
    }
    unreachable!("the loop returns")
}

/// processParResponse up to the redirect.
pub fn process_par_response(ctx: &mut Ctx<'_>, f: &mut Fapi, resp: &Resp) -> Flow {
    let body = resp.json().unwrap_or(Value::Null);
    ctx.log.must_ok(
        "CheckPAREndpointResponse201WithNoError",
        &["PAR-2.2", "PAR-2.3", "PAR-2.4"],
        if resp.status != 201 {
            fail(format!(
                "Invalid pushed authorization request endpoint response http status code (expected 201, actual {}): {}",
                resp.status,
                resp.body.chars().take(300).collect::<String>()
            ))
        } else if body.get("error").is_some() {
            fail(format!("pushed authorization request endpoint error response: {body}"))
        } else {
            ok("pushed authorization request endpoint correct response.")
        },
    )?;
    let uri = body["request_uri"].as_str().map(str::to_string);
    ctx.log.must_ok(
        "CheckForRequestUriValue",
        &["PAR-2.2"],
        uri.clone()
            .map(|u| format!("request_uri {u}"))
            .ok_or("request_uri is missing from the PAR response".to_string()),
    )?;
    let r = match body["expires_in"].as_i64() {
        None => fail("expires_in is missing or empty in pushed authorization response"),
        Some(n) if n < 5 => fail("expires_in too short and is unlikely to give the client enough time to use the request_uri"),
        Some(n) if n >= 365 * 86400 => fail(format!("expires_in too long ({n})")),
        Some(n) => ok(format!("Found expires_in {n}")),
    };
    ctx.log
        .check("CheckForPARResponseExpiresIn", Failure, &["PAR-2.2"], r);
    ctx.log.check(
        "EnsureContentTypeJson",
        Failure,
        &[],
        if resp.content_type.starts_with("application/json") {
            ok("application/json")
        } else {
            fail(format!("Content-Type is '{}'", resp.content_type))
        },
    );
    let uri = uri.unwrap_or_default();
    ctx.log
        .must_ok("ExtractRequestUriFromPARResponse", &[], ok(uri.clone()))?;
    ctx.log.check(
        "EnsureMinimumRequestUriEntropy",
        Failure,
        &["PAR-2.2", "PAR-7.1", "JAR-10.2"],
        entropy_check("request_uri", &uri),
    );
    f.request_uri = Some(uri);
    Ok(())
}

/// BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint (ReorderedParams for the
/// happy flow's second client): request_uri with response_type, client_id, scope and
/// redirect_uri repeated outside it, plus anything that differs from the pushed request.
pub fn request_uri_redirect(ctx: &mut Ctx<'_>, f: &Fapi, reordered: bool) -> Flow<Url> {
    let endpoint = ctx.server_str("authorization_endpoint").unwrap_or_default();
    let mut params: Vec<(String, String)> = vec![(
        "request_uri".into(),
        f.request_uri.clone().unwrap_or_default(),
    )];
    for (k, v) in &ctx.request {
        let inside = f.request_object_claims.get(k).map(|x| match x {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        if ["response_type", "client_id", "scope", "redirect_uri"].contains(&k.as_str())
            || inside.is_none()
            || inside.as_deref() != Some(v.as_str())
        {
            params.push((k.clone(), v.clone()));
        }
    }
    params.sort();
    if reordered {
        params.reverse();
    }
    let cond = if reordered {
        "BuildRequestObjectByReferenceRedirectToAuthorizationEndpointReorderedParams"
    } else {
        "BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint"
    };
    let r = Url::parse(&endpoint)
        .map_err(|e| e.to_string())
        .map(|mut u| {
            u.query_pairs_mut().extend_pairs(params.iter());
            let s = u.to_string();
            (u, s)
        });
    ctx.log.must(cond, &["PAR-4"], r)
}

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
    let resp = call_par(ctx, f, super::AuthOverride::Default).await?;
    process_par_response(ctx, f, &resp)
}

// ---- callback --------------------------------------------------------------------------------

/// The browser must have come back to the redirect_uri; the response is the query
/// (or, with JARM, the claims of the `response` JWT).
pub fn expect_callback(ctx: &mut Ctx<'_>, f: &Fapi, v: &Visit) -> Flow {
    match &v.landing {
        Landing::Callback {
            query, fragment, ..
        } => {
            ctx.log.block(&format!(
                "{}Verify authorization endpoint response",
                f.prefix()
            ));
            let mut response = query.clone();
            if f.jarm {
                response = jarm_response(ctx, query)?;
            }
            ctx.log.check(
                "RejectErrorInUrlFragment",
                Failure,
                &["OAuth2-RT-5"],
                if fragment.contains_key("error") {
                    fail("error in the URL fragment")
                } else {
                    ok("no error in the URL fragment")
                },
            );
            ctx.log.check(
                "RejectAuthCodeInUrlFragment",
                Failure,
                &["OIDCC-3.3.2.5"],
                if fragment.contains_key("code") {
                    fail("code in the URL fragment")
                } else {
                    ok("no code in the URL fragment")
                },
            );
            ctx.response = response;
            Ok(())
        }
        Landing::Page { status, url, body } => {
            let text: String = body.chars().take(300).collect();
            ctx.log.must_ok(
                "WaitForCallback",
                &[],
                fail(format!(
                    "the provider did not redirect back to the client: HTTP {status} at {url}: {text}"
                )),
            )
        }
    }
}

/// processCallbackForJARM: the `response` JWT's signature and claims (JARM §2.4).
fn jarm_response(
    ctx: &mut Ctx<'_>,
    query: &BTreeMap<String, String>,
) -> Flow<BTreeMap<String, String>> {
    let raw = query.get("response").cloned();
    let r = match &raw {
        None => Err("no 'response' parameter in the URL query".to_string()),
        Some(jwt) => jose::decode(jwt).map(|j| (j, "JARM response extracted".to_string())),
    };
    let jws = ctx.log.must(
        "ExtractJARMFromURLQuery",
        &["FAPI2-MS-ID1-5.4.2-2", "JARM-2.3.4", "JARM-2.3.1"],
        r,
    )?;
    // The registered redirect_uri's own query (the second client's) is not part of it.
    let own: Vec<String> = ctx
        .request
        .get("redirect_uri")
        .and_then(|r| Url::parse(r).ok())
        .map(|u| u.query_pairs().map(|(k, _)| k.into_owned()).collect())
        .unwrap_or_default();
    let others: Vec<&String> = query
        .keys()
        .filter(|k| *k != "response" && !own.contains(k))
        .collect();
    ctx.log.check(
        "RejectNonJarmResponsesInUrlQuery",
        Failure,
        &["JARM-2.1"],
        if others.is_empty() {
            ok("only 'response' in the URL query")
        } else {
            fail(format!(
                "parameters besides 'response' in the URL query: {others:?}"
            ))
        },
    );
    let mut out = BTreeMap::new();
    if let Some(o) = jws.claims.as_object() {
        for (k, v) in o {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.insert(k.clone(), s);
        }
    }
    ctx.log.must_ok(
        "ExtractAuthorizationEndpointResponseFromJARMResponse",
        &[],
        ok("authorization response from the JARM claims"),
    )?;
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let c = &jws.claims;
    let r = if c["iss"].as_str() != Some(issuer.as_str()) {
        fail(format!("iss {} is not the issuer {issuer}", c["iss"]))
    } else if !(c["aud"] == ctx.client.client_id.as_str()
        || c["aud"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == ctx.client.client_id.as_str())))
    {
        fail(format!("aud {} is not the client id", c["aud"]))
    } else {
        match c["exp"].as_i64() {
            None => fail("exp is missing"),
            Some(e) if e < now() - 300 => fail("the JARM response has expired"),
            Some(_) => ok("iss, aud and exp are valid"),
        }
    };
    ctx.log.check(
        "ValidateJARMResponse",
        Failure,
        &["JARM-2.4-2", "JARM-2.4-3", "JARM-2.4-4"],
        r,
    );
    let alg = jws.alg().to_string();
    ctx.log.check(
        "FAPI2ValidateJarmSigningAlg",
        Failure,
        &[],
        if FAPI2_ALGS.contains(&alg.as_str()) {
            ok(format!("alg {alg}"))
        } else {
            fail(format!("JARM alg {alg} is not permitted by FAPI 2"))
        },
    );
    ctx.log.check(
        "ValidateJARMExpRecommendations",
        Warning,
        &["JARM-2.1"],
        match c["exp"].as_i64() {
            Some(e) if e - now() > 600 => fail("exp is more than 10 minutes in the future"),
            _ => ok("exp follows the recommendations"),
        },
    );
    let r = jws.verify(&ctx.server_jwks);
    ctx.log
        .check("ValidateJARMSignatureUsingKid", Failure, &["JARM-2.4-5"], r);
    Ok(out)
}

/// CheckMatchingCallbackParameters: the redirect_uri's own query parameters came back.
fn matching_callback_parameters(ctx: &Ctx<'_>, f: &Fapi) -> Check {
    let expected = redirect_uri_query(ctx);
    let bad: Vec<&String> = expected
        .iter()
        .filter(|(k, v)| ctx.response.get(*k) != Some(*v) && !f.jarm)
        .map(|(k, _)| k)
        .collect();
    if bad.is_empty() {
        ok("Callback parameters successfully verified")
    } else {
        fail(format!(
            "the redirect_uri's own query parameters {bad:?} were not kept"
        ))
    }
}

/// The query parameters of the request's own redirect_uri.
fn redirect_uri_query(ctx: &Ctx<'_>) -> BTreeMap<String, String> {
    Url::parse(&ctx.request["redirect_uri"])
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// onAuthorizationCallbackResponse: the checks of a successful response, then the code.
pub fn process_callback(ctx: &mut Ctx<'_>, f: &Fapi) -> Flow {
    let r = matching_callback_parameters(ctx, f);
    ctx.log
        .check("CheckMatchingCallbackParameters", Failure, &[], r);
    ctx.log.check(
        "RejectStateInUrlFragmentForCodeFlow",
        Failure,
        &["OIDCC-3.3.2.5"],
        ok("state is not in the URL fragment"),
    );
    let r = match ctx.response.get("error") {
        Some(e) => fail(format!(
            "The authorization was expected to succeed, but the server returned an error from the authorization endpoint: {e} {}",
            ctx.response.get("error_description").cloned().unwrap_or_default()
        )),
        None => ok("No error from authorization endpoint"),
    };
    ctx.log
        .must_ok("CheckIfAuthorizationEndpointError", &[], r)?;
    let mut allowed = vec!["code", "state", "id_token", "session_state", "iss"];
    if f.jarm {
        allowed.extend(["aud", "exp"]);
    }
    let expected = redirect_uri_query(ctx);
    let extra: Vec<&String> = ctx
        .response
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()) && !expected.contains_key(*k))
        .collect();
    ctx.log.check(
        if f.jarm {
            "ValidateSuccessfulJARMResponseFromAuthorizationEndpoint"
        } else {
            "ValidateSuccessfulAuthCodeFlowResponseFromAuthorizationEndpoint"
        },
        Warning,
        &[],
        if extra.is_empty() {
            ok("authorization endpoint response does not include unexpected parameters")
        } else {
            fail(format!(
                "authorization endpoint response includes unexpected parameters: {extra:?}"
            ))
        },
    );
    super::check_state(ctx);
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let r = match ctx.response.get("iss") {
        None => fail("No 'iss' value in authorization response."),
        Some(i) if *i == issuer => {
            ok("'iss' parameter in authorization response matches server's issuer value.")
        }
        Some(i) => fail(format!(
            "'iss' parameter in authorization response does not match server's issuer value (expected {issuer}, actual {i})"
        )),
    };
    ctx.log.check(
        "RequireIssInAuthorizationResponse",
        Failure,
        &["OAuth2-iss-2", "FAPI2-SP-FINAL-5.3.2.2-7"],
        r,
    );
    let r = match ctx.response.get("code") {
        Some(c) if !c.is_empty() => Ok((c.clone(), "code found".to_string())),
        _ => Err("Couldn't find authorization code".to_string()),
    };
    let code = ctx
        .log
        .must("ExtractAuthorizationCodeFromAuthorizationResponse", &[], r)?;
    ctx.log.check(
        "EnsureMinimumAuthorizationCodeLength",
        Failure,
        &["RFC6749-10.10", "RFC6819-5.1.4.2-2"],
        length_check("Authorization code", &code),
    );
    ctx.log.check(
        "EnsureMinimumAuthorizationCodeEntropy",
        Failure,
        &["RFC6749-10.10", "RFC6819-5.1.4.2-2"],
        entropy_check("authorization code", &code),
    );
    ctx.code = Some(code);
    Ok(())
}

// ---- token endpoint ----------------------------------------------------------------------------

/// CreateTokenEndpointRequestForAuthorizationCodeGrant and AddCodeVerifierToTokenEndpointRequest.
pub fn create_code_request(ctx: &mut Ctx<'_>, f: &Fapi, verifier: bool) -> Flow {
    let code = ctx.code.clone().unwrap_or_default();
    let redirect_uri = ctx.request.get("redirect_uri").cloned().unwrap_or_default();
    ctx.token_form = vec![
        ("grant_type".into(), "authorization_code".into()),
        ("code".into(), code),
        ("redirect_uri".into(), redirect_uri),
    ];
    ctx.log.must_ok(
        "CreateTokenEndpointRequestForAuthorizationCodeGrant",
        &[],
        ok("grant_type=authorization_code, code, redirect_uri"),
    )?;
    if verifier {
        if let Some(v) = &f.code_verifier {
            ctx.token_form.push(("code_verifier".into(), v.clone()));
        }
        ctx.log.must_ok(
            "AddCodeVerifierToTokenEndpointRequest",
            &["RFC7636-4.5", "FAPI2-SP-FINAL-5.3.3.2-3"],
            ok("code_verifier added"),
        )?;
    }
    Ok(())
}

/// How a token request is sent (negative modules change one thing).
#[derive(Clone)]
pub struct TokenCall {
    pub auth: super::AuthOverride,
    /// Send a DPoP proof (the sender_constrain dpop variant); a fixed proof when given.
    pub dpop: bool,
    pub proof: Option<String>,
    /// Present the client certificate (default: when the client has one).
    pub certificate: bool,
    pub condition: &'static str,
}

impl TokenCall {
    pub fn for_variant(f: &Fapi) -> TokenCall {
        TokenCall {
            auth: super::AuthOverride::Default,
            dpop: f.dpop,
            proof: None,
            certificate: true,
            condition: if f.dpop {
                "CallTokenEndpointAllowingDpopNonceErrorAndReturnFullResponse"
            } else {
                "CallTokenEndpointAndReturnFullResponse"
            },
        }
    }
}

/// callSenderConstrainedTokenEndpoint: the form with the client's authentication and the
/// DPoP proof, retried once with the server's nonce on `use_dpop_nonce`.
pub async fn call_token(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    form: &[(String, String)],
    how: &TokenCall,
) -> Flow<Resp> {
    let url = super::endpoint(ctx, "token_endpoint").unwrap_or_default();
    let saved = (!how.certificate).then(|| {
        let plain = ctx.back_without_certificate();
        std::mem::replace(&mut ctx.back, plain)
    });
    let mut last = None;
    for attempt in 0..2 {
        let mut headers = Vec::new();
        if how.dpop {
            let proof = match &how.proof {
                Some(p) => p.clone(),
                None => match make_proof(ctx, f, "POST", &url, None, false) {
                    Ok(p) => p,
                    Err(e) => {
                        if let Some(b) = saved {
                            ctx.back = b;
                        }
                        return Err(e);
                    }
                },
            };
            ctx.log
                .info("AddDpopHeaderForTokenEndpointRequest", "DPoP header added");
            headers.push(("DPoP".to_string(), proof));
        }
        let auth = resolve_auth(ctx, f, &how.auth);
        let r = super::post_with_client_auth(ctx, &url, form, auth, &headers).await;
        let resp = match ctx.log.must(
            how.condition,
            &[],
            r.map(|x| {
                let s = format!("HTTP {}", x.status);
                (x, s)
            }),
        ) {
            Ok(r) => r,
            Err(e) => {
                if let Some(b) = saved {
                    ctx.back = b;
                }
                return Err(e);
            }
        };
        let nonce_error =
            resp.status == 400 && resp.json().is_some_and(|b| b["error"] == "use_dpop_nonce");
        if let Some(n) = nonce_of(&resp) {
            f.as_nonce = Some(n);
        }
        let retry = how.dpop && how.proof.is_none() && nonce_error && attempt == 0;
        last = Some(resp);
        if !retry {
            break;
        }
    }
    if let Some(b) = saved {
        ctx.back = b;
    }
    Ok(last.expect("one attempt"))
}

/// exchangeAuthorizationCode: the token request, then processTokenEndpointResponse.
pub async fn exchange_code(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ctx.log.block(&format!("{}Call token endpoint", f.prefix()));
    create_code_request(ctx, f, true)?;
    let form = ctx.token_form.clone();
    let resp = call_token(ctx, f, &form, &TokenCall::for_variant(f)).await?;
    ctx.log
        .block(&format!("{}Verify token endpoint response", f.prefix()));
    process_token_response(ctx, f, &resp)
}

/// processTokenEndpointResponse.
pub fn process_token_response(ctx: &mut Ctx<'_>, f: &mut Fapi, resp: &Resp) -> Flow {
    ctx.token_response = Some(resp.clone());
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus200",
        &[],
        if resp.status == 200 {
            ok("HTTP 200")
        } else {
            fail(format!(
                "token endpoint returned HTTP {}: {}",
                resp.status, resp.body
            ))
        },
    )?;
    let body = resp.json().unwrap_or(Value::Null);
    ctx.log.must_ok(
        "CheckIfTokenEndpointResponseError",
        &[],
        if body.get("error").is_some() {
            fail(format!("token endpoint error: {body}"))
        } else {
            ok("no error")
        },
    )?;
    let at = body["access_token"].as_str().map(str::to_string);
    ctx.log.must_ok(
        "CheckForAccessTokenValue",
        &["RFC6749-4.1.4"],
        at.clone()
            .map(|_| "access_token present".into())
            .ok_or("no access_token".into()),
    )?;
    ctx.access_token = at.clone();
    ctx.log.must_ok(
        "ExtractAccessTokenFromTokenResponse",
        &[],
        ok(format!("token_type {}", body["token_type"])),
    )?;
    let has_expires = body.get("expires_in").is_some();
    ctx.log.check(
        "ExtractExpiresInFromTokenEndpointResponse",
        Warning,
        &["RFC6749-5.1"],
        if has_expires {
            ok("expires_in present")
        } else {
            fail("expires_in missing")
        },
    );
    if has_expires {
        let r = match body["expires_in"].as_u64() {
            Some(n) if n > 0 => ok(format!("expires_in {n}")),
            _ => fail(format!(
                "expires_in is not a positive integer: {}",
                body["expires_in"]
            )),
        };
        ctx.log
            .check("ValidateExpiresIn", Failure, &["RFC6749-5.1"], r);
    }
    ctx.refresh_token = body["refresh_token"].as_str().map(str::to_string);
    ctx.log.check(
        "CheckForRefreshTokenValue",
        Info,
        &[],
        ctx.refresh_token
            .as_ref()
            .map(|_| "refresh_token present".into())
            .ok_or("no refresh_token".into()),
    );
    if let Some(rt) = ctx.refresh_token.clone() {
        ctx.log.check(
            "EnsureMinimumRefreshTokenLength",
            Failure,
            &["RFC6749-10.10"],
            length_check("Refresh token", &rt),
        );
        ctx.log.check(
            "EnsureMinimumRefreshTokenEntropy",
            Failure,
            &["RFC6749-10.10"],
            entropy_check("refresh token", &rt),
        );
    }
    let at = at.unwrap_or_default();
    ctx.log.check(
        "EnsureMinimumAccessTokenLength",
        Failure,
        &["FAPI2-SP-FINAL-5.4.1-4"],
        length_check("Access token", &at),
    );
    ctx.log.check(
        "EnsureMinimumAccessTokenEntropy",
        Failure,
        &["FAPI2-SP-FINAL-5.4.1-4"],
        entropy_check("access token", &at),
    );
    f.token_body = body.clone();
    f.token_type = body["token_type"].as_str().map(str::to_string);
    if f.openid {
        id_token_from_token_response(ctx, &body)?;
    } else {
        ctx.log.must_ok(
            "ExpectNoIdTokenInTokenResponse",
            &[],
            if body.get("id_token").is_some() {
                fail("Test is not targeting Open ID Connect but the token endpoint response contains an ID token.")
            } else {
                ok("no ID token, as expected without openid")
            },
        )?;
    }
    Ok(())
}

/// ExtractIdTokenFromTokenResponse, PerformStandardIdTokenChecks and the FAPI 2 additions.
fn id_token_from_token_response(ctx: &mut Ctx<'_>, body: &Value) -> Flow {
    let r = match body["id_token"].as_str() {
        None => Err("no id_token in the token endpoint response".to_string()),
        Some(raw) => jose::decode(raw).map(|jws| {
            (
                IdToken {
                    raw: raw.to_string(),
                    claims: jws.claims.clone(),
                    jws,
                },
                "id_token extracted".to_string(),
            )
        }),
    };
    let token = ctx.log.must(
        "ExtractIdTokenFromTokenResponse",
        &["FAPI2-SP-FINAL-5.3.2.3", "OIDCC-3.3.2.5"],
        r,
    )?;
    let kid = token.jws.header["kid"].as_str().map(str::to_string);
    let alg = token.jws.alg().to_string();
    let claims = token.claims.clone();
    ctx.id_token = Some(token);
    id_token_checks(ctx);
    ctx.log.check(
        "EnsureIdTokenContainsKid",
        Failure,
        &["OIDCC-10.1"],
        kid.map(|k| format!("kid {k}"))
            .ok_or("kid was not found in the ID token header".into()),
    );
    ctx.log.check(
        "FAPI2ValidateIdTokenSigningAlg",
        Failure,
        &["FAPI2-SP-FINAL-5.4"],
        if FAPI2_ALGS.contains(&alg.as_str()) {
            ok(format!(
                "id_token was signed with a permitted algorithm ({alg})"
            ))
        } else {
            fail(format!(
                "id_token must be signed with a permitted alg (alg {alg})"
            ))
        },
    );
    for (claim, cond, req) in [
        ("c_hash", "ExtractCHash", "OIDCC-3.3.2.11"),
        ("s_hash", "ExtractSHash", "FAPI1-ADV-5.2.2.1-5"),
        ("at_hash", "ExtractAtHash", "OIDCC-3.3.2.11"),
    ] {
        ctx.log.check(
            cond,
            Info,
            &[req],
            claims[claim]
                .as_str()
                .map(|h| format!("{claim} {h}"))
                .ok_or(format!("{claim} not present")),
        );
    }
    let hashed = [
        ("c_hash", "ValidateCHash", ctx.code.clone()),
        ("s_hash", "ValidateSHash", ctx.state.clone()),
        ("at_hash", "ValidateAtHash", ctx.access_token.clone()),
    ];
    for (claim, cond, value) in hashed {
        let (Some(h), Some(v)) = (claims[claim].as_str(), value) else {
            continue;
        };
        let r = match jose::half_hash(&alg, &v) {
            Some(want) if want == h => ok(format!("{claim} matches")),
            Some(want) => fail(format!("{claim} {h} does not match ({want})")),
            None => fail(format!("no hash for alg {alg}")),
        };
        ctx.log.check(cond, Failure, &["OIDCC-3.3.2.11"], r);
    }
    Ok(())
}

// ---- resource --------------------------------------------------------------------------------

/// One resource request (CallProtectedResource or, with DPoP,
/// CallProtectedResourceAllowingDpopNonceError retried once with the server's nonce).
pub struct ResourceCall {
    pub headers: Vec<(String, String)>,
    pub token_in_query: bool,
    /// Present the certificate: with mTLS-bound tokens (default) or not.
    pub certificate: Option<bool>,
    /// Send the token as DPoP with a proof (default: the variant's).
    pub dpop: Option<bool>,
    pub condition: &'static str,
    pub reqs: &'static [&'static str],
}

impl Default for ResourceCall {
    fn default() -> Self {
        ResourceCall {
            headers: Vec::new(),
            token_in_query: false,
            certificate: None,
            dpop: None,
            condition: "CallProtectedResource",
            reqs: &["FAPI2-SP-FINAL-5.3.4-2"],
        }
    }
}

pub async fn call_resource(ctx: &mut Ctx<'_>, f: &mut Fapi, how: &ResourceCall) -> Flow<Resp> {
    let url = super::endpoint(ctx, "userinfo_endpoint").unwrap_or_default();
    let at = ctx.access_token.clone().unwrap_or_default();
    let use_dpop = how.dpop.unwrap_or(f.dpop);
    let with_cert = how.certificate.unwrap_or(f.mtls_bound);
    let http = if with_cert {
        ctx.back.clone()
    } else {
        ctx.back_without_certificate()
    };
    let mut last = None;
    for attempt in 0..2 {
        let target = if how.token_in_query {
            let mut u = Url::parse(&url).map_err(|_| Stop)?;
            u.query_pairs_mut().append_pair("access_token", &at);
            u.to_string()
        } else {
            url.clone()
        };
        let mut rb = http.get(&target);
        for (k, v) in &how.headers {
            rb = rb.header(k.as_str(), v.as_str());
        }
        if !how.token_in_query {
            let default_scheme = if use_dpop { "DPoP" } else { "Bearer" };
            let scheme = f.token_type.clone().unwrap_or(default_scheme.to_string());
            rb = rb.header("authorization", format!("{scheme} {at}"));
            if use_dpop {
                let proof = make_proof(ctx, f, "GET", &url, Some(&at), true)?;
                ctx.log.info(
                    "AddDpopHeaderForResourceEndpointRequest",
                    "DPoP header added",
                );
                rb = rb.header("DPoP", proof);
            }
        }
        let r = browser::send(rb).await.map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        });
        let cond = if use_dpop && how.condition == "CallProtectedResource" {
            "CallProtectedResourceAllowingDpopNonceError"
        } else {
            how.condition
        };
        let resp = ctx.log.must(cond, how.reqs, r)?;
        let nonce_error = resp.status == 401
            && resp
                .www_authenticate
                .as_deref()
                .is_some_and(|w| w.contains("use_dpop_nonce"));
        if let Some(n) = nonce_of(&resp) {
            f.rs_nonce = Some(n);
        }
        let retry = use_dpop && nonce_error && attempt == 0;
        last = Some(resp);
        if !retry {
            break;
        }
    }
    Ok(last.expect("one attempt"))
}

fn status_in(resp: &Resp, ok_range: std::ops::RangeInclusive<u16>, what: &str) -> Check {
    if ok_range.contains(&resp.status) {
        ok(format!(
            "{what} endpoint http status code was {}",
            resp.status
        ))
    } else {
        fail(format!(
            "{what} endpoint returned a different http status than expected ({}, expected {}-{}): {}",
            resp.status,
            ok_range.start(),
            ok_range.end(),
            resp.body.chars().take(200).collect::<String>()
        ))
    }
}

/// CheckForDateHeaderInResourceResponse: a Date within 5 minutes.
fn date_header(resp: &Resp) -> Check {
    let Some(d) = resp.headers.get("date") else {
        return fail("Date header not found in resource endpoint response");
    };
    match httpdate_to_unix(d) {
        Some(t) if (t - now()).abs() < 300 => ok(format!("Date header present and validated: {d}")),
        Some(_) => fail(format!("Excessive difference from current time: {d}")),
        None => fail(format!("Invalid date format: {d}")),
    }
}

/// RFC 7231 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to seconds since the epoch.
fn httpdate_to_unix(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let day: i64 = parts[1].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[2])? as i64
        + 1;
    let year: i64 = parts[3].parse().ok()?;
    let hms: Vec<i64> = parts[4].split(':').filter_map(|x| x.parse().ok()).collect();
    if hms.len() != 3 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

/// The FAPI headers the first client sends to the resource (createDefaultFirstClientResourceHeaders).
fn first_client_resource_headers(ctx: &mut Ctx<'_>) -> Vec<(String, String)> {
    let date = {
        let t = std::time::SystemTime::now();
        httpdate(t)
    };
    let interaction = uuid_v4();
    ctx.log.info(
        "AddFAPIAuthDateToResourceEndpointRequest",
        format!("x-fapi-auth-date: {date}"),
    );
    ctx.log.info(
        "AddIpV4FapiCustomerIpAddressToResourceEndpointRequest",
        "x-fapi-customer-ip-address: 198.51.100.119",
    );
    ctx.log
        .info("CreateRandomFAPIInteractionId", interaction.clone());
    ctx.log.info(
        "AddFAPIInteractionIdToResourceEndpointRequest",
        format!("x-fapi-interaction-id: {interaction}"),
    );
    vec![
        ("x-fapi-auth-date".into(), date),
        ("x-fapi-customer-ip-address".into(), "198.51.100.119".into()),
        ("x-fapi-interaction-id".into(), interaction),
    ]
}

fn httpdate(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // civil_from_days
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn uuid_v4() -> String {
    let r = jose::random_value(16);
    let h = jose::sha256_b64(&r);
    let hex: String = h.bytes().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// requestProtectedResource: the resource with the access token, as the token is bound.
pub async fn request_protected_resource(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ctx.log
        .block(&format!("{}Resource server endpoint tests", f.prefix()));
    ctx.log.must_ok(
        "CreateEmptyResourceEndpointRequestHeaders",
        &[],
        ok("empty headers"),
    )?;
    let headers = if f.second {
        Vec::new()
    } else {
        first_client_resource_headers(ctx)
    };
    let sent_interaction = headers
        .iter()
        .find(|(k, _)| k == "x-fapi-interaction-id")
        .map(|(_, v)| v.clone());
    let resp = call_resource(
        ctx,
        f,
        &ResourceCall {
            headers,
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
    ctx.log.check(
        "CheckForDateHeaderInResourceResponse",
        Failure,
        &["RFC7231-7.1.1.2"],
        date_header(&resp),
    );
    if !f.second {
        match resp.headers.get("x-fapi-interaction-id") {
            None => {
                ctx.log.info(
                    "CheckForFAPIInteractionIdInResourceResponse",
                    "skipped: no x-fapi-interaction-id in the response",
                );
            }
            Some(got) => {
                let r = if Some(got) == sent_interaction.as_ref() {
                    ok("x-fapi-interaction-id matches")
                } else {
                    fail(format!("x-fapi-interaction-id {got} is not the one sent"))
                };
                ctx.log.check(
                    "EnsureMatchingFAPIInteractionId",
                    Failure,
                    &["CID-SP-4.2-12", "FAPI2-IMP-2.1.1"],
                    r,
                );
            }
        }
    }
    Ok(())
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

// ---- modules ---------------------------------------------------------------------------------

/// fapi2-security-profile-final-discovery-end-point-verification
/// (FAPI2SPFinalDiscoveryEndpointVerification).
pub async fn discovery_end_point_verification(ctx: &mut Ctx<'_>) -> Flow {
    let f = Fapi::new(ctx);
    ctx.log.block("Configure");
    let resp = fetch_configuration(ctx, f.openid).await?;
    let reqs: &[&str] = if f.openid {
        &["OIDCD-4"]
    } else {
        &["RFC8414-3.2"]
    };
    ctx.log.check(
        "EnsureDiscoveryEndpointResponseStatusCodeIs200",
        Failure,
        reqs,
        if resp.status == 200 {
            ok("HTTP 200")
        } else {
            fail(format!("HTTP {}", resp.status))
        },
    );
    ctx.log.check(
        "CheckDiscoveryEndpointReturnedJsonContentType",
        Failure,
        reqs,
        if resp.content_type.split(';').next().map(str::trim) == Some("application/json") {
            ok("application/json")
        } else {
            fail(format!("Content-Type is '{}'", resp.content_type))
        },
    );
    if f.mtls_auth || f.mtls_bound {
        ctx.log.info(
            "SupportMTLSEndpointAliases",
            "mtls_endpoint_aliases are used for the client's back-channel requests",
        );
    }
    ctx.log.block("Verify discovery document");
    let s = ctx.server.clone();
    ctx.log.check(
        "CheckDiscEndpointResponseTypeCodeSupported",
        Failure,
        &["FAPI2-SP-FINAL-5.3.2.2-1"],
        array_has(&s, "response_types_supported", &["code"], 1),
    );
    if f.jarm {
        ctx.log.check(
            "CheckDiscEndpointResponseModesSupportedContainsJwt",
            Failure,
            &["JARM-2.3.4"],
            array_has(&s, "response_modes_supported", &["jwt"], 1),
        );
        for (cond, name) in [
            (
                "CheckDiscEndpointAuthSignAlgValuesIsJsonArray",
                "authorization_signing_alg_values_supported",
            ),
            (
                "CheckDiscEndpointAuthEncryptAlgValuesIsJsonArray",
                "authorization_encryption_alg_values_supported",
            ),
            (
                "CheckDiscEndpointAuthEncryptEncValuesIsJsonArray",
                "authorization_encryption_enc_values_supported",
            ),
        ] {
            let r = match s.get(name) {
                None => ok(format!("{name} absent")),
                Some(v) if v.is_array() => ok(format!("{name} is an array")),
                Some(_) => fail(format!("{name} is not a JSON array")),
            };
            ctx.log.check(cond, Failure, &["JARM-4"], r);
        }
    } else {
        let r = if s["authorization_response_iss_parameter_supported"] == true {
            ok("authorization_response_iss_parameter_supported is true")
        } else {
            fail(format!(
                "authorization_response_iss_parameter_supported must be true, is {}",
                s["authorization_response_iss_parameter_supported"]
            ))
        };
        ctx.log.check(
            "EnsureAuthorizationResponseIssParameterSupportedIsTrue",
            Failure,
            &["OAuth2-iss-3", "FAPI2-SP-FINAL-5.3.2.2-7"],
            r,
        );
    }
    ctx.log.check(
        "CheckDiscEndpointPARSupported",
        Failure,
        &["PAR-5", "FAPI2-SP-FINAL-5.3.2.2-2"],
        match s["pushed_authorization_request_endpoint"].as_str() {
            Some(u) if u.starts_with("https://") => ok(format!("PAR endpoint {u}")),
            _ => fail("pushed_authorization_request_endpoint is missing or not an https URL"),
        },
    );
    // AbstractFAPI2SPFinalDiscoveryEndpointVerification.performEndpointVerification.
    let issuer = s["issuer"].as_str().unwrap_or("").to_string();
    let discovery = ctx.cfg.discovery_url.clone();
    let (cond_url, cond_iss, iss_reqs): (&str, &str, &[&str]) = if f.openid {
        (
            "CheckDiscEndpointDiscoveryUrl",
            "CheckDiscEndpointIssuer",
            &["OIDCD-4.3", "OIDCD-7.2"],
        )
    } else {
        (
            "CheckOauthDiscEndpointDiscoveryUrl",
            "CheckOauthDiscEndpointIssuer",
            &["RFC8414-3.3", "RFC8414-6.2"],
        )
    };
    let r = match Url::parse(&discovery) {
        Ok(u) if u.scheme() != "https" => fail("Expected https protocol for server.discoveryUrl"),
        Ok(u)
            if u.path().ends_with("/.well-known/openid-configuration")
                || (!f.openid
                    && u.path()
                        .starts_with("/.well-known/oauth-authorization-server")) =>
        {
            ok("discoveryUrl is valid")
        }
        Ok(_) => fail("discoveryUrl does not name a well-known configuration path"),
        Err(e) => fail(format!("Invalid URL. Unable to parse: {e}")),
    };
    ctx.log.check(cond_url, Failure, &[], r);
    let expected = if let Some(i) = discovery.find("/.well-known/oauth-authorization-server") {
        format!(
            "{}{}",
            &discovery[..i],
            &discovery[i + "/.well-known/oauth-authorization-server".len()..]
        )
    } else {
        discovery
            .trim_end_matches("/.well-known/openid-configuration")
            .to_string()
    };
    ctx.log.check(
        cond_iss,
        Failure,
        iss_reqs,
        if issuer.trim_end_matches('/') == expected.trim_end_matches('/') {
            ok(format!("issuer is consistent with the discovery endpoint: {issuer}"))
        } else {
            fail(format!("issuer {issuer} is not consistent with the location the discovery document was retrieved from ({expected})"))
        },
    );
    ctx.log.check(
        "CheckDiscEndpointIssuerIsValidUrl",
        Failure,
        &["RFC8414-2"],
        match Url::parse(&issuer) {
            Ok(u) if u.scheme() == "https" && u.query().is_none() && u.fragment().is_none() => {
                ok("issuer is a valid issuer identifier URL")
            }
            _ => fail(format!(
                "issuer is not a valid RFC 8414 issuer identifier URL: {issuer}"
            )),
        },
    );
    ctx.log.check(
        "ValidateServerMetadataAgainstSchema",
        Failure,
        &["RFC8414-2"],
        super::discovery::metadata_types_valid(&s),
    );
    ctx.log.check(
        "CheckForUnexpectedParametersInServerMetadata",
        Warning,
        &["RFC8414-2"],
        super::discovery::unexpected_metadata(&s),
    );
    if f.dpop {
        ctx.log.check(
            "FAPI2CheckDpopSigningAlgValuesSupported",
            Failure,
            &["FAPI2-SP-FINAL-5.4-1"],
            array_has(&s, "dpop_signing_alg_values_supported", FAPI2_ALGS, 1),
        );
    } else {
        let r = match &s["tls_client_certificate_bound_access_tokens"] {
            Value::Bool(true) => ok("tls_client_certificate_bound_access_tokens was 'true'"),
            Value::Bool(false) => fail("tls_client_certificate_bound_access_tokens must be 'true'"),
            Value::Null => fail("Certificate bound access tokens are used, so tls_client_certificate_bound_access_tokens must be present in the discovery document and contain true"),
            _ => fail("Type of tls_client_certificate_bound_access_tokens must be boolean."),
        };
        ctx.log.check(
            "CheckTLSClientCertificateBoundAccessTokensTrue",
            Failure,
            &["FAPI2-SP-FINAL-5.3.3.1-5", "RFC8705-3.3"],
            r,
        );
    }
    if f.openid {
        ctx.log.check(
            "FAPI2CheckDiscEndpointIdTokenSigningAlgValuesSupported",
            Failure,
            &["FAPI2-SP-FINAL-5.4-1"],
            array_has(&s, "id_token_signing_alg_values_supported", FAPI2_ALGS, 1),
        );
    }
    ctx.log.check(
        "CheckDiscEndpointTokenEndpointAuthMethodsSupportedContainsPrivateKeyOrTlsClient",
        Failure,
        &["FAPI2-SP-FINAL-5.3.2.1-6"],
        array_has(
            &s,
            "token_endpoint_auth_methods_supported",
            &["private_key_jwt", "tls_client_auth"],
            1,
        ),
    );
    let pkj = s["token_endpoint_auth_methods_supported"]
        .as_array()
        .is_some_and(|a| a.iter().any(|m| m == "private_key_jwt"));
    ctx.log.check(
        "FAPI2CheckDiscEndpointTokenEndpointAuthSigningAlgValuesSupported",
        Failure,
        &["FAPI2-SP-FINAL-5.4-1"],
        if pkj {
            array_has(
                &s,
                "token_endpoint_auth_signing_alg_values_supported",
                FAPI2_ALGS,
                1,
            )
        } else {
            ok("Not checking token_endpoint_auth_signing_alg_values_supported: private_key_jwt is not offered")
        },
    );
    if s.get("userinfo_signing_alg_values_supported").is_some() {
        ctx.log.check(
            "FAPI2CheckDiscEndpointUserinfoSigningAlgValuesSupported",
            Failure,
            &["FAPI2-SP-FINAL-5.4"],
            array_has(&s, "userinfo_signing_alg_values_supported", FAPI2_ALGS, 1),
        );
    } else {
        ctx.log.info(
            "FAPI2CheckDiscEndpointUserinfoSigningAlgValuesSupported",
            "skipped: userinfo_signing_alg_values_supported is absent",
        );
    }
    ctx.log.check(
        "CheckDiscEndpointTokenEndpoint",
        Failure,
        &["OIDCD-3"],
        https_member(&s, "token_endpoint"),
    );
    if s.get("registration_endpoint").is_some() {
        ctx.log.check(
            "CheckDiscEndpointRegistrationEndpoint",
            Failure,
            &["OIDCD-3"],
            https_member(&s, "registration_endpoint"),
        );
    } else {
        ctx.log.info(
            "CheckDiscEndpointRegistrationEndpoint",
            "skipped: registration_endpoint is absent",
        );
    }
    if f.jarm || f.openid {
        ctx.log.check(
            "CheckJwksUri",
            Failure,
            &["OIDCD-3"],
            https_member(&s, "jwks_uri"),
        );
    }
    ctx.log.check(
        "EnsureServerConfigurationSupportsCodeChallengeMethodS256",
        Failure,
        &["FAPI2-SP-FINAL-5.3.2.2-5"],
        array_has(&s, "code_challenge_methods_supported", &["S256"], 1),
    );
    let scopes_ok = match s.get("scopes_supported") {
        None => ok("scopes_supported absent"),
        Some(v) => match json_array_strings(v) {
            Some(list)
                if list.iter().all(|t| {
                    !t.is_empty()
                        && t.bytes().all(|b| {
                            b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
                        })
                }) =>
            {
                ok("scopes are valid scope-tokens")
            }
            _ => fail("scopes_supported holds values that are not scope-tokens"),
        },
    };
    ctx.log.check(
        "CheckDiscEndpointScopesSupportedSyntax",
        Failure,
        &["RFC6749-3.3"],
        scopes_ok,
    );
    super::discovery::locale_checks(ctx, &s);
    if f.mtls_auth {
        ctx.log.check(
            "EnsureServerConfigurationSupportsMTLS",
            Failure,
            &["FAPI2-SP-FINAL-5.3.3.1-5"],
            array_has(
                &s,
                "token_endpoint_auth_methods_supported",
                &["tls_client_auth", "self_signed_tls_client_auth"],
                1,
            ),
        );
    } else {
        ctx.log.check(
            "EnsureServerConfigurationSupportsPrivateKeyJwt",
            Failure,
            &["FAPI2-SP-FINAL-5.3.2.1-6"],
            array_has(
                &s,
                "token_endpoint_auth_methods_supported",
                &["private_key_jwt"],
                1,
            ),
        );
    }
    ctx.log.check(
        "CheckDiscRequirePushedAuthorizationRequestsIsABoolean",
        Failure,
        &["PAR-5"],
        match s.get("require_pushed_authorization_requests") {
            None | Some(Value::Bool(_)) => {
                ok("require_pushed_authorization_requests is absent or a boolean")
            }
            Some(v) => fail(format!(
                "require_pushed_authorization_requests is not a boolean: {v}"
            )),
        },
    );
    if f.signed {
        ctx.log.check(
            "FAPI2CheckDiscEndpointRequestObjectSigningAlgValuesSupported",
            Failure,
            &[],
            array_has(
                &s,
                "request_object_signing_alg_values_supported",
                FAPI2_ALGS,
                1,
            ),
        );
    }
    ctx.log.check(
        "CheckDiscEndpointAuthorizationEndpoint",
        Failure,
        &[],
        https_member(&s, "authorization_endpoint"),
    );
    ctx.log.check(
        "CheckDiscEndpointGrantTypesSupportedContainsAuthorizationCode",
        Failure,
        &[],
        array_has(&s, "grant_types_supported", &["authorization_code"], 1),
    );
    if f.openid {
        ctx.log.check(
            "CheckDiscEndpointScopesSupportedContainsOpenId",
            Failure,
            &[],
            array_has(&s, "scopes_supported", &["openid"], 1),
        );
        ctx.log.check(
            "CheckDiscEndpointSubjectTypesSupported",
            Failure,
            &["OIDCD-3"],
            array_has(&s, "subject_types_supported", &["public", "pairwise"], 1),
        );
    }
    Ok(())
}

fn https_member(s: &Value, name: &str) -> Check {
    match s[name].as_str().map(Url::parse) {
        Some(Ok(u)) if u.scheme() == "https" => ok(format!("{name} is an https URL")),
        Some(_) => fail(format!("{name} is not a valid https URL")),
        None => fail(format!("{name} is missing from the discovery document")),
    }
}

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

/// performAuthorizationFlowWithSecondClient up to the flow: switch to client 2, whose
/// redirect_uri carries a query the response must keep.
fn switch_to_second_client_with_redirect_query(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
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

/// The standard claims of OIDC Core §5.1
/// (AddAllSupportedStandardClaimsToAuthorizationEndpointRequestIdTokenAndUserinfoClaims.oidcClaims).
const OIDC_STANDARD_CLAIMS: &[&str] = &[
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
fn claim_requests(names: &[&str]) -> Value {
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
fn unknown_claims(claims: &Value) -> Vec<String> {
    let mut unknown = Vec::new();
    for (name, value) in claims.as_object().into_iter().flatten() {
        let known = OIDC_STANDARD_CLAIMS.contains(&name.as_str())
            || ["_claim_names", "_claim_sources", "txn"].contains(&name.as_str());
        if !known {
            unknown.push(name.clone());
        } else if name == "address" {
            for member in value.as_object().into_iter().flatten().map(|(k, _)| k) {
                if !super::ADDRESS_MEMBERS.contains(&member.as_str()) {
                    unknown.push(format!("address.{member}"));
                }
            }
        }
    }
    unknown
}

/// ExtractIdentityClaimsFromIdToken: the ID token's claims less its own (iss, aud, exp, ...).
fn id_token_identity_claims(ctx: &Ctx<'_>) -> Value {
    let mut claims = ctx
        .id_token
        .as_ref()
        .map(|t| t.claims.clone())
        .unwrap_or(json!({}));
    if let Some(o) = claims.as_object_mut() {
        for c in super::ID_TOKEN_NON_IDENTITY_CLAIMS {
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
    if super::endpoint(ctx, "userinfo_endpoint").is_some() {
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
        super::validate_userinfo(ctx, &resp)?;
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

/// requestProtectedResource of the happy flow, with performAdditionalResourceEndpointTests
/// for the first client.
async fn happy_flow_resource(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ctx.log.block("Resource endpoint TLS test");
    ctx.log.info(
        "ExtractTLSTestValuesFromResourceConfiguration",
        "the UserInfo endpoint",
    );
    // The runner's TLS stack (rustls) offers only TLS 1.2 and 1.3 with the BCP 195 suites;
    // the TLS-level checks of the suite are recorded for a human.
    ctx.log.review(
        "EnsureTLS12RequireBCP195Ciphers",
        &["FAPI2-SP-FINAL-5.2.3-2"],
        "the resource endpoint was reached over TLS 1.2+ by rustls (BCP 195 suites only); protocol-level probing of TLS 1.0/1.1 and weak suites is not done by this runner",
    );
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
fn id_token_only_requested_claims(ctx: &Ctx<'_>) -> Check {
    let mut allowed: Vec<&str> = vec![
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "azp",
        "at_hash",
        "c_hash",
        "nbf",
        "jti",
        "sid",
        "s_hash",
        "openbanking_intent_id",
        "txn",
    ];
    for scope in ctx.scope.split(' ') {
        allowed.extend(match scope {
            "profile" => &[
                "name",
                "family_name",
                "given_name",
                "middle_name",
                "nickname",
                "preferred_username",
                "profile",
                "picture",
                "website",
                "gender",
                "birthdate",
                "zoneinfo",
                "locale",
                "updated_at",
            ][..],
            "email" => &["email", "email_verified"][..],
            "address" => &["address"][..],
            "phone" => &["phone_number", "phone_number_verified"][..],
            _ => &[][..],
        });
    }
    let claims = ctx
        .id_token
        .as_ref()
        .map(|t| t.claims.clone())
        .unwrap_or(Value::Null);
    let extra: Vec<&String> = claims
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !allowed.contains(&k.as_str()))
                .collect()
        })
        .unwrap_or_default();
    if extra.is_empty() {
        ok("id_token contains only requested claims")
    } else {
        fail(format!(
            "id_token contains claims that were not requested: {extra:?}"
        ))
    }
}

// ---- DPoP modules ------------------------------------------------------------------------------

/// The standard module: setup, then the whole flow for the first client.
async fn standard(ctx: &mut Ctx<'_>, mut f: Fapi, req: &AuthReq) -> Flow {
    authorization_flow(ctx, &mut f, req).await
}

/// fapi2-security-profile-final-check-dpop-proof-nbf-exp: proofs with nbf and exp (which
/// RFC 9449 does not define) must still be accepted.
pub async fn check_dpop_proof_nbf_exp(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.proof_nbf_exp = true;
    standard(ctx, f, &AuthReq::default()).await
}

/// fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-before-succeeds.
pub async fn dpop_iat_10_seconds_before(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.dpop_at_par = true;
    f.proof_iat_offset = -10;
    standard(ctx, f, &AuthReq::default()).await
}

/// fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-after-succeeds
/// (SetDpopIatTo8SecondsInFuture).
pub async fn dpop_iat_10_seconds_after(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.dpop_at_par = true;
    f.proof_iat_offset = 8;
    standard(ctx, f, &AuthReq::default()).await
}

/// fapi2-security-profile-final-ensure-dpopproof-at-par-endpoint-binding-success: a DPoP proof
/// at PAR binds the code to the key.
pub async fn dpop_proof_at_par_binding_success(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.dpop_at_par = true;
    standard(ctx, f, &AuthReq::default()).await
}

/// fapi2-security-profile-final-ensure-dpop-auth-code-binding-success: dpop_jkt and a proof at
/// PAR, both of the same key.
pub async fn dpop_auth_code_binding_success(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.dpop_at_par = true;
    ensure_dpop_key(ctx, &mut f)?;
    let v = {
        create_authorization_request(ctx, &mut f, &AuthReq::default())?;
        add_dpop_jkt(ctx, &mut f)?;
        push_current_request(ctx, &mut f).await?;
        ctx.log.block("Make request to authorization endpoint");
        let url = request_uri_redirect(ctx, &f, false)?;
        browse(ctx, url, true).await?
    };
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// AddInvalidDpopJktToAuthorizationEndpointRequest: the key's thumbprint with every byte
/// changed.
fn add_invalid_dpop_jkt(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ensure_dpop_key(ctx, f)?;
    let jkt = f.dpop_key.as_ref().map(|k| k.jkt()).unwrap_or_default();
    let bytes: Vec<u8> =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &jkt)
            .unwrap_or_default()
            .into_iter()
            .map(|b| b ^ 0x5a)
            .collect();
    let bad = jose::b64(&bytes);
    ctx.request.insert("dpop_jkt".into(), bad.clone());
    ctx.log.must_ok(
        "AddInvalidDpopJktToAuthorizationEndpointRequest",
        &[],
        ok(format!("dpop_jkt={bad}")),
    )
}

/// AbstractEnsureSpecifiedErrorFromPushedAuthorizationEndpointResponse: HTTP 400 and one of
/// `expected`.
fn par_error(resp: &Resp, expected: &[&str]) -> Check {
    let error = resp
        .json()
        .and_then(|b| b["error"].as_str().map(str::to_string));
    if resp.status != 400 {
        return fail(format!(
            "Invalid pushed authorization request endpoint response http status code (expected 400, actual {}): {}",
            resp.status,
            resp.body.chars().take(200).collect::<String>()
        ));
    }
    match error {
        None => fail("Expected 'error' field not found"),
        Some(e) if expected.contains(&e.as_str()) => ok(format!(
            "Pushed Authorization Request Endpoint returned expected 'error' of {expected:?}: {e}"
        )),
        Some(e) => fail(format!(
            "'error' field has unexpected value (expected {expected:?}, actual {e})"
        )),
    }
}

/// AbstractCheckTokenEndpointReturnedExpectedErrorAndHttpStatus.
fn token_error(resp: &Resp, expected: &[(&str, &[u16])]) -> Check {
    let error = resp
        .json()
        .and_then(|b| b["error"].as_str().map(str::to_string));
    let Some(e) = error else {
        return fail(format!(
            "Couldn't find error field (HTTP {}): {}",
            resp.status,
            resp.body.chars().take(200).collect::<String>()
        ));
    };
    match expected.iter().find(|(name, _)| *name == e) {
        None => fail(format!(
            "Unexpected error '{e}' received (expected one of {:?})",
            expected.iter().map(|x| x.0).collect::<Vec<_>>()
        )),
        Some((_, statuses)) if !statuses.contains(&resp.status) => fail(format!(
            "Invalid http status with error {e} (actual {}, expected {statuses:?})",
            resp.status
        )),
        Some(_) => ok(format!(
            "Token endpoint returned error {e} and the http status code was {}",
            resp.status
        )),
    }
}

/// fapi2-security-profile-final-ensure-mismatched-dpop-jkt-fails: dpop_jkt of another value
/// than the key of the PAR request's DPoP proof (RFC 9449 §10.1).
pub async fn ensure_mismatched_dpop_jkt_fails(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.dpop_at_par = true;
    ensure_dpop_key(ctx, &mut f)?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    add_invalid_dpop_jkt(ctx, &mut f)?;
    ctx.log.block("Make request to PAR endpoint");
    let ro = request_object_if_signed(ctx, &mut f)?;
    build_par_request(ctx, &mut f, ro)?;
    let resp = call_par(ctx, &mut f, super::AuthOverride::Default).await?;
    ctx.log.check(
        "EnsurePARInvalidRequestOrInvalidDpopProof",
        Failure,
        &["DPOP-10.1"],
        par_error(&resp, &["invalid_request", "invalid_dpop_proof"]),
    );
    Ok(())
}

const INVALID_REQUEST_GRANT_OR_DPOP: &[(&str, &[u16])] = &[
    ("invalid_request", &[400]),
    ("invalid_grant", &[400]),
    ("invalid_dpop_proof", &[400]),
];

/// fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-proof-jkt:
/// the code is bound (proof at PAR) to one key, the token request proves another.
pub async fn token_endpoint_fails_with_mismatched_dpop_proof_jkt(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.dpop_at_par = true;
    let v = par_and_authorize(ctx, &mut f, &AuthReq::default(), false).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    ctx.log.block("Call token endpoint");
    create_code_request(ctx, &f, true)?;
    f.dpop_key = None;
    ensure_dpop_key(ctx, &mut f)?;
    let form = ctx.token_form.clone();
    let how = TokenCall::for_variant(&f);
    let resp = call_token(ctx, &mut f, &form, &how).await?;
    ctx.log.check(
        "CheckTokenEndpointReturnedInvalidRequestGrantOrDPopProofError",
        Failure,
        &["DPOP-10.1"],
        token_error(&resp, INVALID_REQUEST_GRANT_OR_DPOP),
    );
    Ok(())
}

/// fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-jkt: PAR
/// names a dpop_jkt that is not the key the token request proves.
pub async fn token_endpoint_fails_with_mismatched_dpop_jkt(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    ensure_dpop_key(ctx, &mut f)?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    add_invalid_dpop_jkt(ctx, &mut f)?;
    ctx.log.block("Make request to PAR endpoint");
    let ro = request_object_if_signed(ctx, &mut f)?;
    build_par_request(ctx, &mut f, ro)?;
    let resp = call_par(ctx, &mut f, super::AuthOverride::Default).await?;
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    ctx.log.block("Call token endpoint");
    create_code_request(ctx, &f, true)?;
    let form = ctx.token_form.clone();
    let how = TokenCall::for_variant(&f);
    let resp = call_token(ctx, &mut f, &form, &how).await?;
    ctx.log.check(
        "CheckTokenEndpointReturnedInvalidRequestGrantOrDPopProofError",
        Failure,
        &["DPOP-10.1"],
        token_error(&resp, INVALID_REQUEST_GRANT_OR_DPOP),
    );
    Ok(())
}

/// One change the DPoP negative tests make to an otherwise correct resource request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ProofChange {
    Unchanged,
    HeaderNameUpperCase,
    TwoProofs,
    NotWellFormed,
    NoTyp,
    NoAlg,
    NoJwk,
    NoJti,
    NoHtm,
    NoHtu,
    NoIat,
    NoAth,
    BadTyp,
    AlgNone,
    BadSignature,
    PrivateJwk,
    HtmPut,
    HtuWithQuery,
    HtuWithoutQuery,
    HtuOtherUrl,
    IatHourAhead,
    IatHourAgo,
    FixedJti,
    BadAth,
    OtherKey,
    ExtraMembers,
    HtuUpperCase,
    HtuWithPort,
    NoProof,
    NoProofAsBearer,
}

/// A resource request for the DPoP negative tests: the proof made as CreateDpopProofSteps
/// would, with `change` applied.
async fn dpop_resource_request(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    change: ProofChange,
    fixed_jti: &mut Option<String>,
) -> Flow<Resp> {
    use ProofChange::*;
    let url = super::endpoint(ctx, "userinfo_endpoint").unwrap_or_default();
    let at = ctx.access_token.clone().unwrap_or_default();
    ensure_dpop_key(ctx, f)?;
    let mut last = None;
    for _attempt in 0..2 {
        let nonce = f.rs_nonce.clone();
        let ath = (change != NoAth).then_some(at.as_str());
        let mut claims = dpop::claims("GET", &url, 0, nonce.as_deref(), ath);
        let key = f.dpop_key.as_ref().expect("dpop key");
        let mut header = key.header();
        let strip = |v: &mut Value, k: &str| {
            v.as_object_mut().map(|o| o.remove(k));
        };
        let parsed = Url::parse(&url).ok();
        match change {
            NoTyp => strip(&mut header, "typ"),
            NoJwk => strip(&mut header, "jwk"),
            NoJti => strip(&mut claims, "jti"),
            NoHtm => strip(&mut claims, "htm"),
            NoHtu => strip(&mut claims, "htu"),
            NoIat => strip(&mut claims, "iat"),
            BadTyp => header["typ"] = "dpop+jwt+wrongyousee".into(),
            PrivateJwk => {
                // SetDpopHeaderJwkToPrivateKey: a `d` in the header's jwk.
                header["jwk"]["d"] = jose::b64(&[7u8; 32]).into();
            }
            HtmPut => claims["htm"] = "PUT".into(),
            HtuWithQuery => {
                claims["htu"] = format!(
                    "{url}?allthedoorsonthisspaceshiphavebeen#programmedtohaveacheeryandsunnydisposition"
                )
                .into()
            }
            HtuWithoutQuery => claims["htu"] = url.split('?').next().unwrap_or(&url).into(),
            HtuOtherUrl => claims["htu"] = format!("{url}ohnonotagain").into(),
            IatHourAhead => claims["iat"] = (now() + 3600).into(),
            IatHourAgo => claims["iat"] = (now() - 3600).into(),
            FixedJti => {
                let jti = fixed_jti.get_or_insert_with(|| jose::random_value(11)).clone();
                claims["jti"] = jti.into();
            }
            BadAth => claims["ath"] = jose::sha256_b64("not the access token").into(),
            ExtraMembers => {
                header["tx_id"] = (now() + 3600).into();
                claims["tx_id_key"] = (now() + 3600).into();
            }
            HtuUpperCase => {
                if let Some(u) = &parsed {
                    let host = u.host_str().unwrap_or("");
                    claims["htu"] = url
                        .replacen(host, &host.to_uppercase(), 1)
                        .replacen(u.scheme(), &u.scheme().to_uppercase(), 1)
                        .into();
                }
            }
            HtuWithPort => {
                if let Some(u) = &parsed {
                    if u.port().is_none() {
                        claims["htu"] =
                            format!("{}://{}:443{}", u.scheme(), u.host_str().unwrap_or(""), u.path())
                                .into();
                    }
                }
            }
            _ => {}
        }
        let other_key;
        let signer = if change == OtherKey {
            other_key = DpopKey::generate().map_err(|_| Stop)?;
            ctx.log
                .info("GenerateNewSignKey", "a new DPoP key signs this proof");
            &other_key
        } else {
            key
        };
        let mut proof = match change {
            AlgNone => format!(
                "{}.{}.",
                jose::b64(br#"{"alg": "none", "typ": "dpop+jwt"}"#),
                jose::b64(claims.to_string().as_bytes())
            ),
            _ => signer.sign_raw(&header, &claims).map_err(|_| Stop)?,
        };
        let parts: Vec<String> = proof.split('.').map(str::to_string).collect();
        match change {
            NotWellFormed => proof = format!("{}.{}", parts[0], parts[1]),
            NoAlg => {
                let h = String::from_utf8(
                    base64::Engine::decode(
                        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                        &parts[0],
                    )
                    .unwrap_or_default(),
                )
                .unwrap_or_default()
                .replace("alg", "alg2");
                proof = format!("{}.{}.{}", jose::b64(h.as_bytes()), parts[1], parts[2]);
            }
            BadSignature => {
                // AbstractInvalidateJwsSignature: one bit of the signature flipped.
                let mut sig = base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    &parts[2],
                )
                .unwrap_or_default();
                if let Some(b) = sig.first_mut() {
                    *b ^= 1;
                }
                proof = format!("{}.{}.{}", parts[0], parts[1], jose::b64(&sig));
            }
            _ => {}
        }
        ctx.log.info("SignDpopProof", "Signed the DPoP proof");
        let mut rb = ctx.back_without_certificate().get(&url);
        let scheme = if change == NoProofAsBearer {
            "Bearer"
        } else {
            "DPoP"
        };
        rb = rb.header("authorization", format!("{scheme} {at}"));
        match change {
            NoProof | NoProofAsBearer => {
                ctx.log
                    .info("RemoveDpopFromResourceRequest", "no DPoP header");
            }
            HeaderNameUpperCase => rb = rb.header("DPOP", proof.clone()),
            TwoProofs => {
                let mut c2 = dpop::claims("GET", &url, 0, nonce.as_deref(), Some(&at));
                c2["jti"] = jose::random_value(15).into();
                let second = key.sign_raw(&key.header(), &c2).map_err(|_| Stop)?;
                rb = rb.header("DPoP", proof.clone()).header("DPoP", second);
            }
            _ => rb = rb.header("DPoP", proof.clone()),
        }
        let cond = if change == NoProofAsBearer {
            "CallProtectedResourceForceBearer"
        } else {
            "CallProtectedResourceAllowingDpopNonceError"
        };
        let r = browser::send(rb).await.map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        });
        let resp = ctx.log.must(cond, &["FAPI2-SP-FINAL-5.3.4-2"], r)?;
        let nonce_error = resp.status == 401
            && resp
                .www_authenticate
                .as_deref()
                .is_some_and(|w| w.contains("use_dpop_nonce"));
        if let Some(n) = nonce_of(&resp) {
            f.rs_nonce = Some(n);
        }
        last = Some(resp);
        if !nonce_error {
            break;
        }
        if change == FixedJti {
            *fixed_jti = None;
        }
    }
    Ok(last.expect("one attempt"))
}

/// fapi2-security-profile-final-dpop-negative-tests (FAPI2SPFinalDpopNegativeTests): after a
/// normal flow, resource requests each breaking one rule of RFC 9449 §4.3 / §7.
pub async fn dpop_negative_tests(ctx: &mut Ctx<'_>) -> Flow {
    use ProofChange::*;
    let mut f = setup(ctx).await?;
    authorization_flow(ctx, &mut f, &AuthReq::default()).await?;
    // (block, change, expect success, a FAILURE (else WARNING) when not as expected, reqs)
    let cases: &[(&str, ProofChange, bool, bool, &[&str])] = &[
        ("Try DPoP proof with all upper case header value", HeaderNameUpperCase, true, false, &["DPOP-4.1"]),
        ("Try with more than one DPoP in the header", TwoProofs, false, true, &["DPOP-7.1"]),
        ("Try DPoP proof not well-formed JWT", NotWellFormed, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'typ' is missing in header", NoTyp, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'alg' is missing", NoAlg, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'jwk' is missing", NoJwk, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'jti' is missing", NoJti, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'htm' is missing", NoHtm, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'htu' is missing", NoHtu, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'iat' is missing", NoIat, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof where 'ath' is missing", NoAth, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof with invalid 'typ' in header", BadTyp, false, true, &["DPOP-4.2"]),
        ("Try DPoP proof with none alg", AlgNone, false, true, &["FAPI2-SP-FINAL-5.4"]),
        ("Try DPoP proof with invalid signature", BadSignature, false, true, &["FAPI2-SP-FINAL-5.4"]),
        ("Try DPoP proof with jwk header incorrectly containing private key", PrivateJwk, false, true, &["DPOP-4.3"]),
        ("Try DPoP proof with incorrect 'htm'", HtmPut, false, true, &["DPOP-4.3"]),
        ("Try DPoP proof where 'htu' has a query/fragment (which must be ignored in match as per 4.3-9 in DPoP spec)", HtuWithQuery, true, true, &["DPOP-4.3"]),
        ("Try DPoP proof where 'htu' does not contain the query/fragment (which must be ignored in match as per 4.3-9 in DPoP spec)", HtuWithoutQuery, true, true, &["DPOP-4.3"]),
        ("Try DPoP proof where 'htu' is a different url", HtuOtherUrl, false, true, &["DPOP-7.1"]),
        ("Try DPoP proof where 'iat' is one hour in the future", IatHourAhead, false, true, &["DPOP-7.1"]),
        ("Try DPoP proof where 'iat' is one hour in the past", IatHourAgo, false, true, &["DPOP-7.1"]),
        ("DPoP reuse, First use of jti", FixedJti, true, true, &["DPOP-7.1"]),
        ("DPoP reuse, Second use of the same jti, this 'should' fail", FixedJti, false, false, &["DPOP-7.1"]),
        ("Try DPoP proof where 'ath' is incorrect", BadAth, false, true, &["DPOP-7.1"]),
        ("Try DPoP signed with a different key", OtherKey, false, true, &["DPOP-7.1"]),
        ("Try DPoP proof with extra claims on header and claims, as it should be ignored by resource server", ExtraMembers, true, true, &["DPOP-7.2"]),
        ("Try DPoP proof expecting RS to compare scheme and hostname using case independent mode when validating htu claim", HtuUpperCase, true, false, &["RFC3986-6.2.2", "RFC3986-6.2.3"]),
        ("Try DPoP proof expecting Scheme based normalization of htu claim, where the port is not considered if that is the default for the scheme.", HtuWithPort, true, false, &["RFC3986-6.2.2", "RFC3986-6.2.3"]),
        ("Try resource access without DPoP proof", NoProof, false, true, &["FAPI2-BASE-4.3.3"]),
        ("Try resource access without DPoP proof and authorization type changed to 'Bearer'", NoProofAsBearer, false, true, &["DPOP-7.1"]),
        ("Check a correct DPoP proof still works", Unchanged, true, true, &["DPOP-7.1"]),
    ];
    let mut fixed_jti: Option<String> = Option::None;
    for (block, change, expect_success, must, reqs) in cases {
        ctx.log.block(block);
        let iat_case = matches!(change, IatHourAhead | IatHourAgo);
        if iat_case {
            f.rs_nonce = Option::None;
        }
        let nonce_before = f.rs_nonce.clone();
        let resp = dpop_resource_request(ctx, &mut f, *change, &mut fixed_jti).await?;
        // callResourceEndpointStepsForIatAndNonceTests: with a server nonce, the proof is
        // fresh however its iat is set.
        let used_nonce =
            iat_case && f.rs_nonce.is_some() && nonce_before.is_none() && resp.status < 300;
        let (expect_success, must) = if used_nonce {
            (true, false)
        } else {
            (*expect_success, *must)
        };
        let severity = if must { Failure } else { Warning };
        if expect_success {
            ctx.log.check(
                "EnsureHttpStatusCodeIs200or201",
                severity,
                reqs,
                status_in(&resp, 200..=201, "resource"),
            );
        } else {
            let r = if [400, 401].contains(&resp.status) {
                ok(format!(
                    "resource endpoint http status code was {}",
                    resp.status
                ))
            } else {
                fail(format!(
                    "resource endpoint returned a different http status than expected ({}, expected 400 or 401)",
                    resp.status
                ))
            };
            ctx.log
                .check("EnsureHttpStatusCodeIs400or401", severity, reqs, r);
        }
    }
    Ok(())
}

// ---- error outcomes ----------------------------------------------------------------------------

/// performRedirectAndWaitForPlaceholdersOrCallback: the provider may show an error page (the
/// suite asks a human for a screenshot; we record what the machine sees as a REVIEW) or send
/// the browser back. Returns true when the browser came back and `ctx.response` holds the
/// response; the fragment checks of processCallback are made.
pub fn page_or_callback(
    ctx: &mut Ctx<'_>,
    f: &Fapi,
    v: &Visit,
    page_condition: &str,
    reqs: &[&str],
    allow_plain_jarm_error: bool,
) -> Flow<bool> {
    match &v.landing {
        Landing::Page { status, body, .. } => {
            let text: String = body.chars().take(160).collect();
            if *status >= 400 && v.login_pages == 0 {
                ctx.log.review(
                    page_condition,
                    reqs,
                    format!("the provider showed an error page (HTTP {status}) and did not redirect: {text}"),
                );
            } else {
                ctx.log.check(
                    page_condition,
                    Failure,
                    reqs,
                    fail(format!(
                        "expected an error page or an error redirect, got HTTP {status} after {} login page(s): {text}",
                        v.login_pages
                    )),
                );
            }
            Ok(false)
        }
        Landing::Callback {
            query, fragment, ..
        } => {
            ctx.log.block(&format!(
                "{}Verify authorization endpoint response",
                f.prefix()
            ));
            let plain_error = allow_plain_jarm_error
                && !query.contains_key("response")
                && query.contains_key("error");
            ctx.response = if f.jarm && !plain_error {
                jarm_response(ctx, query)?
            } else {
                if f.jarm {
                    ctx.log.info(
                        "AddPlainErrorResponseAsAuthorizationEndpointResponseForJARM",
                        "a plain (non-JARM) error response",
                    );
                }
                query.clone()
            };
            ctx.log.check(
                "RejectErrorInUrlFragment",
                Failure,
                &["OAuth2-RT-5"],
                if fragment.contains_key("error") {
                    fail("error in the URL fragment")
                } else {
                    ok("no error in the URL fragment")
                },
            );
            ctx.log.check(
                "RejectAuthCodeInUrlFragment",
                Failure,
                &["OIDCC-3.3.2.5"],
                if fragment.contains_key("code") {
                    fail("code in the URL fragment")
                } else {
                    ok("no code in the URL fragment")
                },
            );
            Ok(true)
        }
    }
}

/// The authorization response's `error` must be one of `allowed` (EnsureInvalidRequestError,
/// EnsureInvalidRequestUriError, ...).
pub fn auth_error_in(ctx: &Ctx<'_>, allowed: &[&str]) -> Check {
    match ctx.response.get("error") {
        None => fail("Expected 'error' field not found"),
        Some(e) if allowed.contains(&e.as_str()) => ok(format!(
            "Authorization endpoint returned expected 'error' of {allowed:?}: {e}"
        )),
        Some(e) => fail(format!(
            "'error' field has unexpected value (expected {allowed:?}, actual {e})"
        )),
    }
}

/// The usual checks of an error redirect: state, an error, nothing unexpected, and the
/// module's own `error` values.
pub fn error_response_checks(
    ctx: &mut Ctx<'_>,
    cond: &str,
    allowed: &[&str],
    severity: crate::report::Outcome,
    reqs: &[&str],
) {
    if ctx.response.contains_key("state") || ctx.state.is_some() {
        super::check_state(ctx);
    }
    ctx.log.check(
        "EnsureErrorFromAuthorizationEndpointResponse",
        Failure,
        &["OIDCC-3.1.2.6"],
        if ctx.response.contains_key("error") {
            ok("error in the authorization response")
        } else {
            fail("the authorization endpoint did not return an error")
        },
    );
    let extra: Vec<&String> = ctx
        .response
        .keys()
        .filter(|k| {
            ![
                "error",
                "error_description",
                "error_uri",
                "state",
                "session_state",
                "iss",
                "dummy1",
                "dummy2",
                "aud",
                "exp",
            ]
            .contains(&k.as_str())
        })
        .collect();
    ctx.log.check(
        "CheckForUnexpectedParametersInErrorResponseFromAuthorizationEndpoint",
        Warning,
        &["OIDCC-3.1.2.6"],
        if extra.is_empty() {
            ok("error response includes only expected parameters")
        } else {
            fail(format!(
                "error response includes unexpected parameters: {extra:?}"
            ))
        },
    );
    let r = auth_error_in(ctx, allowed);
    ctx.log.check(cond, severity, reqs, r);
}

/// The checks of a token endpoint error (CheckTokenEndpointHttpStatus400 or ...Allowing401...,
/// the JSON content type, the expected `error`, and the RFC 6749 §5.2 syntax of error,
/// error_description and error_uri).
pub fn token_error_checks(
    ctx: &mut Ctx<'_>,
    resp: &Resp,
    error_cond: &str,
    allowed: &[&str],
    allow_401_for_invalid_client: bool,
) {
    let body = resp.json().unwrap_or(Value::Null);
    let error = body["error"].as_str().unwrap_or("").to_string();
    if allow_401_for_invalid_client {
        let r = if error.is_empty() {
            fail(format!("Couldn't find error field (HTTP {})", resp.status))
        } else if error == "invalid_client" && ![400, 401].contains(&resp.status) {
            fail(format!(
                "Invalid http status for error invalid_client (actual {}, expected 400 or 401)",
                resp.status
            ))
        } else if error != "invalid_client" && resp.status != 400 {
            fail(format!(
                "Http status must be 400 for token endpoint errors other than invalid_client (actual {})",
                resp.status
            ))
        } else {
            ok(format!(
                "Token endpoint http status code was {} for error '{error}'",
                resp.status
            ))
        };
        ctx.log.check(
            "CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError",
            Failure,
            &["RFC6749-5.2"],
            r,
        );
    } else {
        ctx.log.check(
            "CheckTokenEndpointHttpStatus400",
            Failure,
            &["OIDCC-3.1.3.4"],
            if resp.status == 400 {
                ok("HTTP 400")
            } else {
                fail(format!(
                    "expected HTTP 400, got {}: {}",
                    resp.status,
                    resp.body.chars().take(200).collect::<String>()
                ))
            },
        );
    }
    ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Failure,
        &["OIDCC-3.1.3.4"],
        if resp.content_type.starts_with("application/json") {
            ok("application/json")
        } else {
            fail(format!("Content-Type is '{}'", resp.content_type))
        },
    );
    ctx.log.check(
        error_cond,
        Failure,
        &["RFC6749-5.2"],
        if allowed.contains(&error.as_str()) {
            ok(format!("error {error}"))
        } else {
            fail(format!("error '{error}' is not one of {allowed:?}"))
        },
    );
    let nqschar = |s: &str| {
        s.bytes().all(|b| {
            (0x20..=0x21).contains(&b) || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
        })
    };
    ctx.log.check(
        "ValidateErrorFromTokenEndpointResponseError",
        Failure,
        &["RFC6749-5.2"],
        if error.is_empty() {
            fail("The authorization server was expected to return an error, but the 'error' field in the response is either null or empty")
        } else if !nqschar(&error) {
            fail("'error' field MUST NOT include characters outside the set %x20-21 / %x23-5B / %x5D-7E")
        } else {
            ok("valid 'error' field")
        },
    );
    let desc = body["error_description"].as_str().unwrap_or("").to_string();
    ctx.log.check(
        "CheckErrorDescriptionFromTokenEndpointResponseErrorContainsCRLFTAB",
        Warning,
        &["RFC6749-5.2"],
        if desc.contains(['\r', '\n', '\t']) {
            fail("error_description contains CR, LF or TAB")
        } else {
            ok("no CR, LF or TAB in error_description")
        },
    );
    ctx.log.check(
        "ValidateErrorDescriptionFromTokenEndpointResponseError",
        Failure,
        &["RFC6749-5.2"],
        if nqschar(&desc) {
            ok("error_description is absent or valid")
        } else {
            fail("error_description includes characters outside %x20-21 / %x23-5B / %x5D-7E")
        },
    );
    ctx.log.check(
        "ValidateErrorUriFromTokenEndpointResponseError",
        Failure,
        &["RFC6749-5.2"],
        match body.get("error_uri") {
            None => ok("no error_uri"),
            Some(Value::String(u)) if Url::parse(u).is_ok() => ok("error_uri is a URI"),
            Some(other) => fail(format!("error_uri is not a valid URI: {other}")),
        },
    );
}

// ---- request shape modules ---------------------------------------------------------------------

/// fapi2-security-profile-final-ensure-authorization-request-without-nonce-success.
pub async fn without_nonce_success(ctx: &mut Ctx<'_>) -> Flow {
    let f = setup(ctx).await?;
    ctx.log
        .info("CreateRandomNonceValue", "skipped: NOT creating nonce");
    standard(
        ctx,
        f,
        &AuthReq {
            nonce: false,
            ..Default::default()
        },
    )
    .await
}

/// fapi2-security-profile-final-ensure-authorization-request-with-64-char-nonce-success.
pub async fn with_64_char_nonce_success(ctx: &mut Ctx<'_>) -> Flow {
    let f = setup(ctx).await?;
    standard(
        ctx,
        f,
        &AuthReq {
            nonce_len: Some(64),
            ..Default::default()
        },
    )
    .await
}

/// fapi2-security-profile-final-ensure-other-scope-order-succeeds
/// (ReverseScopeOrderInAuthorizationEndpointRequest).
pub async fn other_scope_order_succeeds(ctx: &mut Ctx<'_>) -> Flow {
    let f = setup(ctx).await?;
    let reversed: Vec<&str> = ctx.scope.split(' ').rev().collect();
    let reversed = reversed.join(" ");
    ctx.log.info(
        "ReverseScopeOrderInAuthorizationEndpointRequest",
        format!("scope={reversed}"),
    );
    ctx.scope = reversed;
    standard(ctx, f, &AuthReq::default()).await
}

/// fapi2-security-profile-final-access-token-type-header-case-sensitivity: the token type
/// with its letters' case inverted must still work (RFC 9110 §11.1).
pub async fn access_token_type_header_case_sensitivity(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    let v = par_and_authorize(ctx, &mut f, &AuthReq::default(), false).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    let inverted: Option<String> = f.token_type.as_ref().map(|t| {
        t.chars()
            .map(|c| {
                if c.is_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    });
    ctx.log.must_ok(
        "SetAccessTokenTypeToInvertedCase",
        &["RFC9110-11.1"],
        inverted
            .clone()
            .map(|t| format!("token type {t}"))
            .ok_or("token_type not available".to_string()),
    )?;
    f.token_type = inverted;
    request_protected_resource(ctx, &mut f).await
}

/// A module that expects the request rejected at PAR (with one of `par_errors`) or at the
/// authorization endpoint (an error page, or an error redirect checked by `on_error`); a
/// successful redirect goes on through the normal flow when `success_ok`.
async fn par_then_page_or_callback(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    par_check: (&str, &[&str], &[&str]),
    page: (&str, &[&str]),
    on_error: (&str, &[&str], crate::report::Outcome, &[&str]),
    success_ok: bool,
) -> Flow {
    let ro = if f.signed {
        create_request_object(ctx, f, &RequestObject::default())?;
        Some(sign_request_object(ctx, f)?)
    } else {
        None
    };
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, f, ro)?;
    let resp = call_par(ctx, f, super::AuthOverride::Default).await?;
    if !(200..300).contains(&resp.status) {
        let (cond, errors, reqs) = par_check;
        ctx.log.check(cond, Failure, reqs, par_error(&resp, errors));
        return Ok(());
    }
    process_par_response(ctx, f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, f, false)?;
    let v = browse(ctx, url, true).await?;
    if !page_or_callback(ctx, f, &v, page.0, page.1, false)? {
        return Ok(());
    }
    if ctx.response.contains_key("error") || !success_ok {
        let (cond, allowed, sev, reqs) = on_error;
        error_response_checks(ctx, cond, allowed, sev, reqs);
        return Ok(());
    }
    process_callback(ctx, f)?;
    exchange_code(ctx, f).await?;
    request_protected_resource(ctx, f).await
}

/// fapi2-security-profile-final-ensure-authorization-request-with-long-nonce (384 characters).
pub async fn with_long_nonce(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            nonce_len: Some(384),
            ..Default::default()
        },
    )?;
    par_then_page_or_callback(
        ctx,
        &mut f,
        (
            "EnsurePARInvalidRequestError",
            &["invalid_request"],
            &["PAR-2.3"],
        ),
        ("ExpectRequestObjectWithLongNonceErrorPage", &[]),
        (
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Warning,
            &["OIDCC-3.3.2.6"],
        ),
        true,
    )
    .await
}

/// fapi2-security-profile-final-ensure-authorization-request-with-long-state (1000 characters).
pub async fn with_long_state(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            state_len: Some(1000),
            ..Default::default()
        },
    )?;
    par_then_page_or_callback(
        ctx,
        &mut f,
        (
            "EnsurePARInvalidRequestError",
            &["invalid_request"],
            &["PAR-2.3"],
        ),
        ("ExpectRequestObjectWithLongStateErrorPage", &[]),
        (
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Warning,
            &["OIDCC-3.3.2.6"],
        ),
        true,
    )
    .await?;
    if ctx.response.contains_key("error") {
        ctx.log.check(
            "WarningAboutRejectingLongState",
            Warning,
            &["FAPI2-SP-FINAL-5.3.2.2"],
            fail("the server rejected a 1000-character state"),
        );
    }
    Ok(())
}

/// fapi2-security-profile-final-par-ensure-pkce-required: no code_challenge.
pub async fn par_ensure_pkce_required(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            pkce: None,
            ..Default::default()
        },
    )?;
    par_then_page_or_callback(
        ctx,
        &mut f,
        (
            "EnsurePARInvalidRequestError",
            &["invalid_request"],
            &["RFC7636-4.4.1"],
        ),
        ("ExpectPkceMissingErrorPage", &["FAPI2-SP-FINAL-5.3.2.2-5"]),
        (
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Failure,
            &["RFC7636-4.4.1"],
        ),
        false,
    )
    .await
}

/// fapi2-security-profile-final-par-plain-pkce-rejected: code_challenge_method=plain.
pub async fn par_plain_pkce_rejected(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            pkce: Some("plain"),
            ..Default::default()
        },
    )?;
    par_then_page_or_callback(
        ctx,
        &mut f,
        (
            "EnsurePARInvalidRequestError",
            &["invalid_request"],
            &["RFC7636-4.4.1"],
        ),
        ("ExpectPlainPkceErrorPage", &["FAPI2-SP-FINAL-5.3.2.2-5"]),
        (
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Failure,
            &["RFC7636-4.4.1"],
        ),
        false,
    )
    .await
}

/// fapi2-security-profile-final-ensure-redirect-uri-in-authorization-request: no redirect_uri;
/// PAR may refuse it, the authorization endpoint may show an error page, or the registered
/// one is used.
pub async fn redirect_uri_in_authorization_request(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            remove: vec!["redirect_uri"],
            ..Default::default()
        },
    )?;
    par_then_page_or_callback(
        ctx,
        &mut f,
        (
            "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            &["invalid_request", "invalid_request_object"],
            &["PAR-2.3"],
        ),
        (
            "ExpectRedirectUriMissingErrorPage",
            &["FAPI2-SP-FINAL-5.3.2.2-6"],
        ),
        (
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Failure,
            &[],
        ),
        true,
    )
    .await
}

/// fapi2-security-profile-final-ensure-response-type-code-idtoken-fails and
/// fapi2-security-profile-final-ensure-response-type-token-fails.
pub async fn response_type_fails(ctx: &mut Ctx<'_>, response_type: &'static str) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            response_type,
            ..Default::default()
        },
    )?;
    ctx.log.info(
        if response_type == "token" {
            "SetAuthorizationEndpointRequestResponseTypeToToken"
        } else {
            "SetAuthorizationEndpointRequestResponseTypeToCodeIdtoken"
        },
        format!("response_type={response_type}"),
    );
    ctx.log.block("Make request to PAR endpoint");
    let ro = request_object_if_signed(ctx, &mut f)?;
    build_par_request(ctx, &mut f, ro)?;
    let resp = call_par(ctx, &mut f, super::AuthOverride::Default).await?;
    if !(200..300).contains(&resp.status) {
        ctx.log.check(
            "EnsureHttpStatusCodeIs4xx",
            Failure,
            &["PAR-2.3"],
            status_in(&resp, 400..=499, "pushed authorization request"),
        );
        let r = par_error(
            &resp,
            &[
                "unsupported_response_type",
                "invalid_request",
                "unauthorized_client",
            ],
        );
        ctx.log.check(
            "EnsurePARUnsupportedResponseTypeOrInvalidRequestOrUnauthorizedClientError",
            Warning,
            &["PAR-2.3"],
            r,
        );
        return Ok(());
    }
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    match &v.landing {
        Landing::Page { .. } => {
            page_or_callback(
                ctx,
                &f,
                &v,
                "ExpectResponseTypeErrorPage",
                &["FAPI2-SP-FINAL-5.3.2.2-1"],
                false,
            )?;
        }
        Landing::Callback {
            query, fragment, ..
        } => {
            ctx.log
                .block("Verify authorization endpoint error response");
            ctx.log.check(
                "RejectAuthCodeInUrlQuery",
                Failure,
                &["FAPI2-SP-FINAL-5.3.2.2-1"],
                if query.contains_key("code") {
                    fail("a code in the URL query")
                } else {
                    ok("no code in the URL query")
                },
            );
            ctx.log.check(
                "RejectAuthCodeInUrlFragment",
                Failure,
                &["FAPI2-SP-FINAL-5.3.2.2-1"],
                if fragment.contains_key("code") {
                    fail("a code in the URL fragment")
                } else {
                    ok("no code in the URL fragment")
                },
            );
            let in_fragment = fragment.contains_key("error");
            ctx.response = if in_fragment {
                fragment.clone()
            } else {
                query.clone()
            };
            ctx.log.must_ok(
                "DetectWhetherErrorResponseIsInQueryOrFragment",
                &[],
                ok(if in_fragment { "fragment" } else { "query" }),
            )?;
            let r = auth_error_in(ctx, &["unsupported_response_type", "invalid_request"]);
            ctx.log.check(
                "EnsureUnsupportedResponseTypeOrInvalidRequestError",
                Failure,
                &["OIDCC-3.3.2.6"],
                r,
            );
            super::check_state(ctx);
            error_response_checks(
                ctx,
                "EnsureErrorFromAuthorizationEndpointResponse",
                &["unsupported_response_type", "invalid_request"],
                Failure,
                &[],
            );
        }
    }
    Ok(())
}

/// fapi2-security-profile-final-ensure-unsigned-authorization-request-without-using-par-fails:
/// the plain request straight to the authorization endpoint must be refused.
pub async fn unsigned_without_par_fails(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    ctx.log.block("Make request to authorization endpoint");
    let endpoint = ctx.server_str("authorization_endpoint").unwrap_or_default();
    let r = Url::parse(&endpoint)
        .map_err(|e| e.to_string())
        .map(|mut u| {
            u.query_pairs_mut().extend_pairs(ctx.request.iter());
            let s = u.to_string();
            (u, s)
        });
    let url = ctx.log.must(
        "BuildPlainRedirectToAuthorizationEndpoint",
        &["FAPI2-MS-ID1-5.3.1-1"],
        r,
    )?;
    let v = browse(ctx, url, true).await?;
    if page_or_callback(
        ctx,
        &f,
        &v,
        "ExpectAuthorizationRequestWithoutRequestObjectErrorPage",
        &["FAPI2-MS-ID1-5.3.1-1"],
        true,
    )? {
        error_response_checks(
            ctx,
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Failure,
            &["OIDCC-3.3.2.6"],
        );
    }
    Ok(())
}

/// The modules whose request has no state (AbstractFAPI2SPFinalEnsureRequestObjectWithoutState):
/// the response must carry no state, or be an error.
async fn without_state(ctx: &mut Ctx<'_>, state_outside: bool, page_allowed: bool) -> Flow {
    let mut f = setup(ctx).await?;
    let state = random_len(10);
    ctx.log
        .must_ok("CreateRandomStateValue", &[], ok(state.clone()))?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            state: false,
            ..Default::default()
        },
    )?;
    push_current_request(ctx, &mut f).await?;
    if state_outside {
        // Only in the redirect, not in the pushed request: it must not be used.
        ctx.request.insert("state".into(), state.clone());
        ctx.log.must_ok(
            "AddStateToAuthorizationEndpointRequest",
            &[],
            ok("state added outside the pushed request"),
        )?;
    }
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if !page_allowed {
        expect_callback(ctx, &f, &v)?;
    } else if !page_or_callback(
        ctx,
        &f,
        &v,
        "ExpectRequestObjectMissingStateErrorPage",
        &["RFC6749-4.1.1"],
        false,
    )? {
        return Ok(());
    }
    if page_allowed && ctx.response.contains_key("error") {
        ctx.state = ctx.response.get("state").map(|_| state.clone());
        error_response_checks(
            ctx,
            "EnsureInvalidRequestInvalidRequestObjectInvalidRequestUriOrAccessDeniedError",
            &[
                "invalid_request",
                "invalid_request_object",
                "invalid_request_uri",
                "access_denied",
            ],
            Failure,
            &["OIDCC-3.1.2.6", "RFC6749-4.2.2.1"],
        );
        return Ok(());
    }
    let redirect = ctx.request["redirect_uri"].clone();
    let expected: BTreeMap<String, String> = Url::parse(&redirect)
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    ctx.log.must_ok(
        "CheckMatchingCallbackParameters",
        &[],
        if expected.iter().all(|(k, v)| ctx.response.get(k) == Some(v)) {
            ok("Callback parameters successfully verified")
        } else {
            fail("the redirect_uri's own query parameters were not kept")
        },
    )?;
    let r = match ctx.response.get("error") {
        Some(e) => fail(format!("authorization endpoint error {e}")),
        None => ok("No error from authorization endpoint"),
    };
    ctx.log
        .must_ok("CheckIfAuthorizationEndpointError", &[], r)?;
    ctx.log.check(
        "VerifyNoStateInAuthorizationResponse",
        Failure,
        &[],
        match ctx.response.get("state") {
            Some(s) if !s.is_empty() => fail("state has been returned in authorization endpoint response, when it shouldn't have been"),
            _ => ok("Authorization endpoint response is correctly missing 'state'"),
        },
    );
    let r = match ctx.response.get("code") {
        Some(c) if !c.is_empty() => Ok((c.clone(), "code found".to_string())),
        _ => Err("Couldn't find authorization code".to_string()),
    };
    let code = ctx
        .log
        .must("ExtractAuthorizationCodeFromAuthorizationResponse", &[], r)?;
    ctx.log.check(
        "EnsureMinimumAuthorizationCodeLength",
        Failure,
        &["RFC6749-10.10", "RFC6819-5.1.4.2-2"],
        length_check("Authorization code", &code),
    );
    ctx.log.check(
        "EnsureMinimumAuthorizationCodeEntropy",
        Failure,
        &["RFC6749-10.10", "RFC6819-5.1.4.2-2"],
        entropy_check("authorization code", &code),
    );
    ctx.code = Some(code);
    ctx.state = None;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// fapi2-security-profile-final-ensure-authorization-request-without-state-success.
pub async fn without_state_success(ctx: &mut Ctx<'_>) -> Flow {
    without_state(ctx, false, false).await
}

/// fapi2-security-profile-final-state-only-outside-request-object-not-used.
pub async fn state_only_outside_request_object_not_used(ctx: &mut Ctx<'_>) -> Flow {
    without_state(ctx, true, true).await
}

/// fapi2-security-profile-final-ensure-different-nonce-inside-and-outside-request-object and
/// ...-state-...: a value in the redirect that differs from the pushed one is ignored, or the
/// request refused with invalid_request.
pub async fn different_inside_and_outside(ctx: &mut Ctx<'_>, member: &'static str) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    push_current_request(ctx, &mut f).await?;
    let other = format!("{}{}", random_len(10), "-other");
    ctx.request.insert(member.into(), other);
    let (cond, page) = if member == "nonce" {
        (
            "AddIncorrectNonceToAuthorizationEndpointRequest",
            (
                "ExpectRequestDifferentNonceInsideAndOutsideErrorPage",
                &["OIDCC-6.1"][..],
            ),
        )
    } else {
        (
            "AddIncorrectStateToAuthorizationEndpointRequest",
            (
                "ExpectRequestDifferentStateInsideAndOutsideErrorPage",
                &["FAPI2-MS-ID1-5.3.2-1"][..],
            ),
        )
    };
    ctx.log.must_ok(
        cond,
        &[],
        ok(format!("a different {member} outside the pushed request")),
    )?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if !page_or_callback(ctx, &f, &v, page.0, page.1, false)? {
        return Ok(());
    }
    if ctx.response.contains_key("error") {
        error_response_checks(
            ctx,
            "EnsureInvalidRequestError",
            &["invalid_request"],
            Failure,
            &["OIDCC-3.3.2.6"],
        );
        return Ok(());
    }
    // The pushed values are the request's: state and nonce are checked against them.
    if let Some(Value::String(s)) = f.request_object_claims.get(member) {
        ctx.request.insert(member.into(), s.clone());
    }
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// fapi2-security-profile-final-ensure-request-object-without-redirect-uri-fails
/// (RemoveRedirectUriFromRequestObject: not in the pushed request, still in the redirect).
pub async fn request_object_without_redirect_uri_fails(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    let ro = if f.signed {
        create_request_object(
            ctx,
            &mut f,
            &RequestObject {
                claims: vec![("redirect_uri".into(), Value::Null)],
                ..Default::default()
            },
        )?;
        ctx.log
            .info("RemoveRedirectUriFromRequestObject", "redirect_uri removed");
        Some(sign_request_object(ctx, &f)?)
    } else {
        None
    };
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, &mut f, ro)?;
    if !f.signed {
        f.par_form.retain(|(k, _)| k != "redirect_uri");
        if let Some(o) = f.request_object_claims.as_object_mut() {
            o.remove("redirect_uri");
        }
        ctx.log
            .info("RemoveRedirectUriFromRequestObject", "redirect_uri removed");
    }
    let resp = call_par(ctx, &mut f, super::AuthOverride::Default).await?;
    if !(200..300).contains(&resp.status) {
        ctx.log.check(
            "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            Failure,
            &["JAR-6.2"],
            par_error(&resp, &["invalid_request", "invalid_request_object"]),
        );
        return Ok(());
    }
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if page_or_callback(
        ctx,
        &f,
        &v,
        "ExpectRequestObjectMissingRedirectUriErrorPage",
        &["FAPI2-MS-ID1-5.3.2-1"],
        false,
    )? {
        error_response_checks(
            ctx,
            "CheckErrorFromAuthorizationEndpointErrorInvalidRequestOrInvalidRequestObject",
            &["invalid_request", "invalid_request_object"],
            Failure,
            &["OIDCC-3.1.2.6"],
        );
    }
    Ok(())
}

/// fapi2-security-profile-final-plain-fapi-tolerate-unregistered-redirect-uri
/// (CreateBadRedirectUriByAppending): PAR refuses it, or the authorization endpoint shows an
/// error page; never a redirect to it (or to the registered one).
pub async fn tolerate_unregistered_redirect_uri(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    let bad = format!(
        "{}/{}",
        ctx.client.redirect_uri.trim_end_matches('/'),
        random_len(10)
    );
    ctx.log
        .must_ok("CreateBadRedirectUriByAppending", &[], ok(bad.clone()))?;
    create_authorization_request(
        ctx,
        &mut f,
        &AuthReq {
            redirect_uri: Some(bad),
            ..Default::default()
        },
    )?;
    ctx.log.block("Make request to PAR endpoint");
    let ro = request_object_if_signed(ctx, &mut f)?;
    build_par_request(ctx, &mut f, ro)?;
    let resp = call_par(ctx, &mut f, super::AuthOverride::Default).await?;
    if !(200..300).contains(&resp.status) {
        ctx.log.check(
            "EnsurePARInvalidRequestOrInvalidRequestObjectError",
            Failure,
            &["PAR-2.3"],
            par_error(&resp, &["invalid_request", "invalid_request_object"]),
        );
        return Ok(());
    }
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let registered = ctx.client.redirect_uri.clone();
    let r = ctx
        .browser
        .visit(url, &registered, Some(&ctx.cfg.user.clone()))
        .await;
    match r {
        Ok(v) => match &v.landing {
            Landing::Callback { url, .. } => {
                ctx.log.must_ok(
                    "ExpectRedirectUriErrorPage",
                    &["PAR-2.1-3"],
                    fail(format!("The authorization server redirected to {url} although the request named an unregistered redirect_uri")),
                )?;
            }
            Landing::Page { .. } => {
                page_or_callback(
                    ctx,
                    &f,
                    &v,
                    "ExpectRedirectUriErrorPage",
                    &["PAR-2.1-3"],
                    false,
                )?;
            }
        },
        Err(e) => {
            // The browser stopped at a redirect to the unregistered URI (not followed).
            ctx.log
                .must_ok("ExpectRedirectUriErrorPage", &["PAR-2.1-3"], fail(e))?;
        }
    }
    Ok(())
}

// ---- client authentication ------------------------------------------------------------------

/// CreateClientAuthenticationAssertionClaimsWithIssAudience: iss = sub = client_id, aud = the
/// issuer (FAPI 2 SP §5.3.2.1: the issuer is the only audience to use).
pub fn assertion_claims_iss_aud(ctx: &mut Ctx<'_>) -> Value {
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    super::client_assertion_claims(ctx, issuer.into())
}

/// The variant's client authentication: mTLS, or a client assertion with the issuer as its
/// audience (CreateJWTClientAuthenticationAssertionWithIssAudAndAddToTokenEndpointRequest).
pub fn variant_auth(ctx: &mut Ctx<'_>, f: &Fapi) -> super::AuthOverride {
    if f.mtls_auth {
        super::AuthOverride::Default
    } else {
        super::AuthOverride::Assertion(assertion_claims_iss_aud(ctx))
    }
}

/// `Default` made concrete for FAPI 2: a fresh assertion with the issuer as audience for
/// private_key_jwt (a new `jti` on every attempt), the certificate for mtls.
fn resolve_auth(ctx: &mut Ctx<'_>, f: &Fapi, auth: &super::AuthOverride) -> super::AuthOverride {
    match auth {
        super::AuthOverride::Default => variant_auth(ctx, f),
        other => other.clone(),
    }
}

/// A signed client assertion of `claims`, logged as the suite's SignClientAuthenticationAssertion.
fn signed_assertion(ctx: &mut Ctx<'_>, claims: &Value) -> Flow<super::AuthOverride> {
    let r = super::sign_client_assertion(ctx, claims)
        .map(|j| (j, "client assertion signed".to_string()));
    let jws = ctx.log.must("SignClientAuthenticationAssertion", &[], r)?;
    Ok(super::AuthOverride::RawAssertion(jws))
}

// ---- PAR modules -----------------------------------------------------------------------------

/// The PAR request for the standard authorization request with `auth` instead of the
/// variant's client authentication; returns the PAR response.
async fn par_with_auth(ctx: &mut Ctx<'_>, f: &mut Fapi, auth: super::AuthOverride) -> Flow<Resp> {
    create_authorization_request(ctx, f, &AuthReq::default())?;
    let ro = if f.signed {
        create_request_object(ctx, f, &RequestObject::default())?;
        Some(sign_request_object(ctx, f)?)
    } else {
        None
    };
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, f, ro)?;
    call_par(ctx, f, auth).await
}

/// CheckErrorFromParEndpointResponseErrorInvalidClientOrInvalidRequest with
/// EnsureHttpStatusCodeIs400or401.
fn par_auth_error_checks(ctx: &mut Ctx<'_>, resp: &Resp, reqs: &[&str]) {
    ctx.log.check(
        "EnsureHttpStatusCodeIs400or401",
        Failure,
        reqs,
        if [400, 401].contains(&resp.status) {
            ok(format!(
                "pushed authorization request endpoint http status code was {}",
                resp.status
            ))
        } else {
            fail(format!(
                "pushed authorization request endpoint returned HTTP {} (expected 400 or 401): {}",
                resp.status,
                resp.body.chars().take(200).collect::<String>()
            ))
        },
    );
    let error = resp
        .json()
        .and_then(|b| b["error"].as_str().map(str::to_string));
    ctx.log.check(
        "CheckErrorFromParEndpointResponseErrorInvalidClientOrInvalidRequest",
        Failure,
        reqs,
        match error.as_deref() {
            Some("invalid_client") | Some("invalid_request") => {
                ok(format!("error {}", error.unwrap_or_default()))
            }
            other => fail(format!(
                "expected invalid_client or invalid_request, got {other:?}"
            )),
        },
    );
}

/// fapi2-security-profile-final-par-test-*-as-audience-fails: a client assertion whose
/// audience is not (only) the issuer must be refused at PAR (FAPI2-SP-FINAL-5.3.2.1-8).
pub async fn par_audience_fails(ctx: &mut Ctx<'_>, which: &'static str) -> Flow {
    let mut f = setup(ctx).await?;
    let mut claims = assertion_claims_iss_aud(ctx);
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let (cond, aud) = match which {
        "array" => (
            "AddArrayContainingIssuerAndAnotherValueAsAudToClientAuthenticationAssertionClaims",
            json!([issuer, ctx.server_str("token_endpoint").unwrap_or_default()]),
        ),
        "par" => (
            "AddPAREndpointAsAudToClientAuthenticationAssertionClaims",
            json!(ctx
                .server_str("pushed_authorization_request_endpoint")
                .unwrap_or_default()),
        ),
        _ => (
            "AddTokenEndpointAsAudToClientAuthenticationAssertionClaims",
            json!(ctx.server_str("token_endpoint").unwrap_or_default()),
        ),
    };
    claims["aud"] = aud.clone();
    ctx.log
        .must_ok(cond, &["PAR-2"], ok(format!("aud {aud}")))?;
    let auth = signed_assertion(ctx, &claims)?;
    let resp = par_with_auth(ctx, &mut f, auth).await?;
    par_auth_error_checks(ctx, &resp, &["FAPI2-SP-FINAL-5.3.2.1-8"]);
    Ok(())
}

/// fapi2-security-profile-final-par-ensure-jwt-client-assertion-with-iat-nbf-8-seconds-in-the-future-is-accepted
/// (aud: the issuer, iat and nbf 8 s ahead).
pub async fn par_assertion_iat_nbf_8_seconds_future_accepted(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    let mut claims = assertion_claims_iss_aud(ctx);
    claims["iat"] = (now() + 8).into();
    claims["nbf"] = (now() + 8).into();
    ctx.log.must_ok(
        "AddIatNbf8SecondsInTheFutureToClientAuthenticationAssertionClaims",
        &[
            "PAR-2",
            "RFC7519-4.1.5",
            "RFC7519-4.1.6",
            "FAPI2-SP-FINAL-5.3.2.1",
        ],
        ok("iat and nbf 8 seconds in the future"),
    )?;
    let auth = signed_assertion(ctx, &claims)?;
    let resp = par_with_auth(ctx, &mut f, auth).await?;
    if resp.status != 201 {
        ctx.log.check(
            "CheckPAREndpointResponse201WithNoError",
            Warning,
            &["PAR-2.2", "PAR-2.3"],
            fail(format!("HTTP {}: {}", resp.status, resp.body)),
        );
        ctx.log.info(
            "PAR endpoint",
            "PAR endpoint doesn't seem to support clock skew, finishing test prematurely.",
        );
        return Ok(());
    }
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// fapi2-security-profile-final-par-ensure-jwt-client-assertion-with-iat-nbf-over-60-seconds-in-the-future-fails
/// (CreateClientAuthenticationAssertionClaims, its iat, nbf and exp moved 62 s ahead).
pub async fn par_assertion_iat_nbf_over_60_seconds_future_fails(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    let token_endpoint = ctx.server_str("token_endpoint").unwrap_or_default();
    let mut claims = super::client_assertion_claims(ctx, token_endpoint.into());
    for c in ["iat", "nbf", "exp"] {
        if let Some(t) = claims[c].as_i64() {
            claims[c] = (t + 62).into();
        }
    }
    claims["aud"] = ctx.server_str("issuer").unwrap_or_default().into();
    ctx.log.must_ok(
        "AddIatNbfExpOver60SecondsInTheFutureToClientAuthenticationAssertionClaims",
        &[
            "PAR-2",
            "RFC7519-4.1.5",
            "RFC7519-4.1.6",
            "FAPI2-SP-FINAL-5.3.2.1",
        ],
        ok("iat, nbf and exp 62 seconds in the future"),
    )?;
    let auth = signed_assertion(ctx, &claims)?;
    let resp = par_with_auth(ctx, &mut f, auth).await?;
    par_auth_error_checks(ctx, &resp, &["PAR-2.3", "RFC6749-4.1.2.1", "RFC6749-5.2"]);
    Ok(())
}

/// fapi2-security-profile-final-par-attempt-invalid-http-method: PUT to the PAR endpoint.
pub async fn par_reject_invalid_http_verb(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    ctx.log.block("Make request to PAR endpoint");
    let ro = request_object_if_signed(ctx, &mut f)?;
    build_par_request(ctx, &mut f, ro)?;
    let url = super::endpoint(ctx, "pushed_authorization_request_endpoint").unwrap_or_default();
    let mut form = f.par_form.clone();
    if !f.mtls_auth {
        let claims = assertion_claims_iss_aud(ctx);
        let jws = super::sign_client_assertion(ctx, &claims).map_err(|_| Stop)?;
        form.push((
            "client_assertion_type".into(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ));
        form.push(("client_assertion".into(), jws));
    }
    let http = if f.mtls_auth {
        ctx.back.clone()
    } else {
        ctx.back_without_certificate()
    };
    let r = browser::send(http.put(&url).form(&form)).await.map(|x| {
        let s = format!("HTTP {}", x.status);
        (x, s)
    });
    let resp = ctx.log.must("CallPAREndpoint", &["PAR-2.1"], r)?;
    ctx.log.check(
        "EnsureParHTTPError",
        Failure,
        &["PAR-2.3"],
        if (400..600).contains(&resp.status) {
            ok(format!("Pushed Authorization Request Endpoint returned a HTTP {} error as expected", resp.status))
        } else {
            fail(format!("Invalid pushed authorization request endpoint response http status code (expected 4xx or 5xx, actual {})", resp.status))
        },
    );
    Ok(())
}

/// fapi2-security-profile-final-par-authorization-request-containing-request_uri-form-param.
pub async fn par_reject_request_uri_in_form(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    ctx.log.block("Make request to PAR endpoint");
    let ro = request_object_if_signed(ctx, &mut f)?;
    build_par_request(ctx, &mut f, ro)?;
    f.par_form.push((
        "request_uri".into(),
        "urn:fdc:authlete.com:E2ooXxELkEFSKR90ymYV-BbwAvCC2TozHfSb_mMCw2s".into(),
    ));
    ctx.log.must_ok(
        "AddBadRequestUriToRequestParameters",
        &[],
        ok("request_uri added to the PAR form"),
    )?;
    let auth = variant_auth(ctx, &f);
    let resp = call_par(ctx, &mut f, auth).await?;
    ctx.log.check(
        "EnsurePARInvalidRequestOrInvalidRequestObjectOrRequestUriNotSupportedError",
        Failure,
        &["PAR-2.1-2"],
        par_error(
            &resp,
            &[
                "invalid_request",
                "invalid_request_object",
                "request_uri_not_supported",
            ],
        ),
    );
    Ok(())
}

/// fapi2-security-profile-final-par-without-duplicate-parameters
/// (BuildRequestObjectByReferenceRedirectToAuthorizationEndpointWithoutDuplicates: only
/// client_id and request_uri in the redirect).
pub async fn par_without_duplicate_parameters(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    push_current_request(ctx, &mut f).await?;
    ctx.log.block("Make request to authorization endpoint");
    let endpoint = ctx.server_str("authorization_endpoint").unwrap_or_default();
    let pairs = [
        ("client_id", ctx.client.client_id.clone()),
        ("request_uri", f.request_uri.clone().unwrap_or_default()),
    ];
    let r = Url::parse(&endpoint)
        .map_err(|e| e.to_string())
        .map(|mut u| {
            u.query_pairs_mut().extend_pairs(pairs.iter());
            let s = u.to_string();
            (u, s)
        });
    let url = ctx.log.must(
        "BuildRequestObjectByReferenceRedirectToAuthorizationEndpointWithoutDuplicates",
        &["PAR-4"],
        r,
    )?;
    let v = browse(ctx, url, true).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// fapi2-security-profile-final-par-attempt-reuse-request_uri: after a successful flow, the
/// same request_uri again "should" be refused (PAR §7.3).
pub async fn par_attempt_reuse_request_uri(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    authorization_flow(ctx, &mut f, &AuthReq::default()).await?;
    ctx.log.block("Attempting reuse of request_uri and testing if Authorization server returns error in callback");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if !page_or_callback(
        ctx,
        &f,
        &v,
        "ExpectInvalidRequestUriErrorPage",
        &["PAR-7.3", "PAR-4", "PAR-2.2"],
        true,
    )? {
        return Ok(());
    }
    if ctx.response.contains_key("error") {
        let r = auth_error_in(ctx, &["invalid_request_uri"]);
        ctx.log.check(
            "EnsureInvalidRequestUriError",
            Failure,
            &["PAR-2.2", "JAR-7"],
            r,
        );
        return Ok(());
    }
    ctx.log.check(
        "EnsureErrorFromAuthorizationEndpointResponse",
        Warning,
        &["PAR-7.3"],
        fail("the request_uri was accepted a second time"),
    );
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// fapi2-security-profile-final-par-attempt-to-use-expired-request_uri: wait expires_in, then
/// the request_uri must be refused (invalid_request_uri).
pub async fn par_attempt_to_use_expired_request_uri(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    let ro = if f.signed {
        create_request_object(ctx, &mut f, &RequestObject::default())?;
        Some(sign_request_object(ctx, &f)?)
    } else {
        None
    };
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, &mut f, ro)?;
    let resp = call_par(ctx, &mut f, super::AuthOverride::Default).await?;
    let expires_in = resp
        .json()
        .and_then(|b| b["expires_in"].as_i64())
        .unwrap_or(0);
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Attempting use of request_uri after expiry and testing if Authorization server returns error in callback");
    if expires_in > 30 * 60 {
        return Err(ctx.log.skip("The expires in value is longer than 30 minutes so is too long for the suite to wait for it to expire."));
    }
    ctx.log
        .info("WaitForExpiry", format!("waiting {} s", expires_in + 1));
    tokio::time::sleep(std::time::Duration::from_secs(
        (expires_in + 1).max(0) as u64
    ))
    .await;
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if page_or_callback(
        ctx,
        &f,
        &v,
        "ExpectInvalidRequestUriErrorPage",
        &["PAR-2.2"],
        true,
    )? {
        let r = auth_error_in(ctx, &["invalid_request_uri"]);
        ctx.log
            .check("EnsureInvalidRequestUriError", Failure, &["PAR-2.2"], r);
    }
    Ok(())
}

/// fapi2-security-profile-final-par-ensure-request-uri-is-bound-to-client: client 1's
/// request_uri with client 2's client_id must be refused (PAR §3).
pub async fn par_ensure_request_uri_is_bound_to_client(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    configure_second_client(ctx, &mut f)?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    push_current_request(ctx, &mut f).await?;
    ctx.log.block("Attempting to send client2's clientId with request_uri to AS and expect it returns error in callback");
    switch_to_second_client(ctx, &mut f)?;
    ctx.request
        .insert("client_id".into(), ctx.client.client_id.clone());
    ctx.log.must_ok(
        "AddClientIdToAuthorizationEndpointRequest",
        &["PAR-4"],
        ok("client2's client_id"),
    )?;
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if page_or_callback(
        ctx,
        &f,
        &v,
        "ExpectInvalidRequestUriErrorPage",
        &["PAR-3-3"],
        true,
    )? {
        let r = auth_error_in(
            ctx,
            &[
                "invalid_request",
                "invalid_request_object",
                "invalid_request_uri",
            ],
        );
        ctx.log.check(
            "EnsureInvalidRequestInvalidRequestObjectOrInvalidRequestUriError",
            Failure,
            &["PAR-3-3"],
            r,
        );
    }
    Ok(())
}

/// fapi2-security-profile-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds:
/// the request_uri opened once (the login page shown, nobody logs in), then again in the same
/// browser, where the user logs in: that must work.
pub async fn par_reused_request_uri_before_completion(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    push_current_request(ctx, &mut f).await?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let first = browse(ctx, url.clone(), false).await?;
    ctx.log.check(
        "ExpectLoginPage",
        Failure,
        &[],
        if first.login_pages > 0 {
            ok("the login page was shown; nobody logs in")
        } else {
            fail("the first visit did not reach a login page")
        },
    );
    ctx.log
        .block("Make second request to authorization endpoint");
    let v = browse(ctx, url, true).await?;
    if !page_or_callback(ctx, &f, &v, "ExpectLoginPage", &[], false)? {
        return Ok(());
    }
    if ctx.response.contains_key("error") {
        ctx.log.check(
            "WarningAboutRequestUriError",
            Warning,
            &["FAPI2-SP-FINAL-5.3.2.2"],
            fail("the request_uri was refused on its second use before authentication completed"),
        );
        error_response_checks(
            ctx,
            "EnsureInvalidRequestUriError",
            &["invalid_request_uri"],
            Failure,
            &["OIDCC-3.3.2.6"],
        );
        return Ok(());
    }
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

// ---- token endpoint modules ------------------------------------------------------------------

/// The front channel of AbstractFAPI2SPFinalPerformTokenEndpoint: up to the code.
async fn up_to_code(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    let v = par_and_authorize(ctx, f, &AuthReq::default(), false).await?;
    expect_callback(ctx, f, &v)?;
    process_callback(ctx, f)
}

/// A token request with `auth` instead of the variant's client authentication.
async fn token_request_with(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    auth: super::AuthOverride,
    verifier: bool,
) -> Flow<Resp> {
    ctx.log.block("Call token endpoint");
    create_code_request(ctx, f, verifier)?;
    let form = ctx.token_form.clone();
    let how = TokenCall {
        auth,
        ..TokenCall::for_variant(f)
    };
    call_token(ctx, f, &form, &how).await
}

/// fapi2-security-profile-final-ensure-pkce-code-verifier-required.
pub async fn pkce_code_verifier_required(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    up_to_code(ctx, &mut f).await?;
    let auth = variant_auth(ctx, &f);
    let resp = token_request_with(ctx, &mut f, auth, false).await?;
    token_error_checks(
        ctx,
        &resp,
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
        &["invalid_grant"],
        false,
    );
    Ok(())
}

/// fapi2-security-profile-final-incorrect-pkce-code-verifier-rejected.
pub async fn incorrect_pkce_code_verifier_rejected(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    up_to_code(ctx, &mut f).await?;
    let other = jose::random_value(32);
    ctx.log.info(
        "CreateRandomCodeVerifier",
        format!("a different verifier: {other}"),
    );
    f.code_verifier = Some(other);
    let auth = variant_auth(ctx, &f);
    let resp = token_request_with(ctx, &mut f, auth, true).await?;
    token_error_checks(
        ctx,
        &resp,
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
        &["invalid_grant"],
        false,
    );
    Ok(())
}

/// fapi2-security-profile-final-ensure-client-id-in-token-endpoint: client 1's code with
/// client 2's client_id (and, for private_key_jwt, client 2's assertion signed with client 1's
/// key).
pub async fn ensure_client_id_in_token_endpoint(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    configure_second_client(ctx, &mut f)?;
    up_to_code(ctx, &mut f).await?;
    ctx.log.block("Swapping to Client2");
    let c2 = ctx.client2().map_err(|_| Stop)?;
    ctx.log.must_ok(
        "AddClientIdToRequest",
        &["RFC6749-5.2"],
        ok(format!("client_id {}", c2.client_id)),
    )?;
    create_code_request(ctx, &f, true)?;
    let mut form = ctx.token_form.clone();
    // Client 2's client_id with client 1's credentials: its certificate (mtls), or an
    // assertion for client 2 signed with client 1's key.
    let client1_id = std::mem::replace(&mut ctx.client.client_id, c2.client_id.clone());
    let auth = if f.mtls_auth {
        super::AuthOverride::Default
    } else {
        form.push(("client_id".into(), c2.client_id.clone()));
        let claims = assertion_claims_iss_aud(ctx);
        signed_assertion(ctx, &claims)?
    };
    let how = TokenCall {
        auth,
        ..TokenCall::for_variant(&f)
    };
    let resp = call_token(ctx, &mut f, &form, &how).await;
    ctx.client.client_id = client1_id;
    let resp = resp?;
    token_error_checks(
        ctx,
        &resp,
        "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidGrant",
        &["invalid_client", "invalid_grant"],
        true,
    );
    Ok(())
}

/// fapi2-security-profile-final-ensure-authorization-code-is-bound-to-client: client 1's code
/// redeemed by client 2 (its own authentication and certificate).
pub async fn ensure_authorization_code_is_bound_to_client(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    configure_second_client(ctx, &mut f)?;
    up_to_code(ctx, &mut f).await?;
    create_code_request(ctx, &f, true)?;
    switch_to_second_client(ctx, &mut f)?;
    f.dpop_key = None;
    let auth = variant_auth(ctx, &f);
    let resp = token_request_with(ctx, &mut f, auth, true).await?;
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus400",
        &["OIDCC-3.1.3.4"],
        if resp.status == 400 {
            ok("HTTP 400")
        } else {
            fail(format!(
                "expected HTTP 400, got {}: {}",
                resp.status, resp.body
            ))
        },
    )?;
    token_error_checks(
        ctx,
        &resp,
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
        &["invalid_grant"],
        false,
    );
    switch_to_first_client(ctx, &mut f);
    Ok(())
}

/// fapi2-security-profile-final-attempt-reuse-authorization-code-after-one-second.
pub async fn attempt_reuse_authorization_code_after_one_second(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    authorization_flow(ctx, &mut f, &AuthReq::default()).await?;
    ctx.log.block("Attempting reuse of authorization code");
    ctx.log.info("WaitForOneSecond", "1 s");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let first_token = ctx.access_token.clone();
    let auth = variant_auth(ctx, &f);
    let form = ctx.token_form.clone();
    let how = TokenCall {
        auth,
        ..TokenCall::for_variant(&f)
    };
    let resp = call_token(ctx, &mut f, &form, &how).await?;
    if resp.status == 200 {
        ctx.log.check(
            "ServerAllowedReusingAuthorizationCode",
            Failure,
            &["FAPI2-SP-FINAL-5.3.2.2-9"],
            fail("The server allowed the authorization code to be used twice"),
        );
    } else {
        token_error_checks(
            ctx,
            &resp,
            "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
            &["invalid_grant"],
            false,
        );
    }
    ctx.log.block("Testing if access token was revoked after authorization code reuse (the AS 'should' have revoked the access token)");
    ctx.access_token = first_token;
    let resp = call_resource(
        ctx,
        &mut f,
        &ResourceCall {
            reqs: &["RFC6749-4.1.2"],
            ..Default::default()
        },
    )
    .await?;
    ctx.log.check(
        "EnsureHttpStatusCodeIs4xx",
        Warning,
        &["RFC6749-4.1.2", "RFC6750-3.1"],
        status_in(&resp, 400..=499, "resource"),
    );
    Ok(())
}

/// fapi2-security-profile-final-ensure-token-endpoint-fails-with-expired-auth-code: the code
/// redeemed 62 s later.
pub async fn attempt_to_use_expired_auth_code(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    up_to_code(ctx, &mut f).await?;
    ctx.log.info("WaitFor62Seconds", "62 s");
    tokio::time::sleep(std::time::Duration::from_secs(62)).await;
    let auth = variant_auth(ctx, &f);
    let resp = token_request_with(ctx, &mut f, auth, true).await?;
    ctx.log.block("Verify token endpoint response");
    if resp.status == 200 {
        ctx.log.check(
            "ServerAllowedExpiredAuthorizationCode",
            Failure,
            &["FAPI2-SP-FINAL-5.3.2.1-11"],
            fail("The server accepted an authorization code 62 seconds after it was issued"),
        );
    } else {
        token_error_checks(
            ctx,
            &resp,
            "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
            &["invalid_grant"],
            false,
        );
    }
    Ok(())
}

/// The client-assertion negatives: the code redeemed with a changed assertion; `invalid_client`
/// or `invalid_request` expected.
async fn assertion_negative(
    ctx: &mut Ctx<'_>,
    change: &str,
    error_cond: &str,
    allowed: &[&str],
    all_checks: bool,
) -> Flow {
    let mut f = setup(ctx).await?;
    up_to_code(ctx, &mut f).await?;
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let auth = match change {
        "none" => {
            ctx.log
                .must_ok("AddClientIdToRequest", &[], ok("client_id only"))?;
            super::AuthOverride::None
        }
        "rs256" => {
            let claims = super::client_assertion_claims(ctx, issuer.into());
            let key = ctx.client.signing_key.clone();
            let r = key
                .ok_or("no signing key configured".to_string())
                .and_then(|k| {
                    let der = std::fs::read(&k.file).map_err(|e| e.to_string())?;
                    crate::jose::Signer::from_der("RS256", &k.kid, &der)
                })
                .map(|s| (s, "client key with alg RS256".to_string()));
            let signer = ctx
                .log
                .must("ChangeClientJwksAlgToRS256", &["FAPI2-SP-FINAL-5.4"], r)?;
            let r = signer
                .sign(json!({}), &claims)
                .map(|j| (j, "signed with RS256".to_string()));
            let jws = ctx.log.must("SignClientAuthenticationAssertion", &[], r)?;
            super::AuthOverride::RawAssertion(jws)
        }
        _ => {
            let mut claims = super::client_assertion_claims(ctx, issuer.into());
            let cond = match change {
                "exp" => {
                    claims["exp"] = (now() - 300).into();
                    "AddExpIs5MinutesInPastToClientAssertionClaims"
                }
                "aud" => {
                    claims["aud"] = "https://fapidev-rs.authlete.net/api/userinfo".into();
                    "AddWrongAudToClientAssertionClaims"
                }
                _ => {
                    claims.as_object_mut().map(|o| o.remove("sub"));
                    "RemoveSubFromClientAssertionClaims"
                }
            };
            ctx.log
                .must_ok(cond, &["RFC7523-3"], ok("assertion changed"))?;
            signed_assertion(ctx, &claims)?
        }
    };
    let resp = token_request_with(ctx, &mut f, auth, true).await?;
    if all_checks {
        token_error_checks(ctx, &resp, error_cond, allowed, true);
    } else {
        ctx.log.check(
            "CheckTokenEndpointReturnedJsonContentType",
            Failure,
            &["OIDCC-3.1.3.4"],
            if resp.content_type.starts_with("application/json") {
                ok("application/json")
            } else {
                fail(format!("Content-Type is '{}'", resp.content_type))
            },
        );
        let error = resp
            .json()
            .and_then(|b| b["error"].as_str().map(str::to_string))
            .unwrap_or_default();
        let status_ok = if error == "invalid_client" {
            [400, 401].contains(&resp.status)
        } else {
            resp.status == 400
        };
        ctx.log.check(
            "CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError",
            Failure,
            &["RFC6749-5.2"],
            if !error.is_empty() && status_ok {
                ok(format!("HTTP {} for error '{error}'", resp.status))
            } else {
                fail(format!("HTTP {} with error '{error}'", resp.status))
            },
        );
        ctx.log.check(
            error_cond,
            Failure,
            &["RFC6749-5.2"],
            if allowed.contains(&error.as_str()) {
                ok(format!("error {error}"))
            } else {
                fail(format!("error '{error}' is not one of {allowed:?}"))
            },
        );
    }
    Ok(())
}

/// fapi2-security-profile-final-ensure-signed-client-assertion-with-RS256-fails (only with an
/// RSA client key; the suite skips it otherwise).
pub async fn signed_client_assertion_with_rs256_fails(ctx: &mut Ctx<'_>) -> Flow {
    let alg = ctx.signer().map(|s| s.alg.clone()).unwrap_or_default();
    if alg != "PS256" {
        ctx.log.block("Configure");
        return Err(ctx.log.skip(&format!("This test requires RSA keys to be performed, the alg in client configuration is '{alg}' so this test is being skipped. If your server does not support PS256 then this will not prevent you certifying.")));
    }
    assertion_negative(
        ctx,
        "rs256",
        "CheckErrorFromTokenEndpointResponseErrorInvalidClient",
        &["invalid_client"],
        true,
    )
    .await
}

pub async fn client_assertion_in_token_endpoint(ctx: &mut Ctx<'_>) -> Flow {
    assertion_negative(
        ctx,
        "none",
        "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
        &["invalid_client", "invalid_request"],
        true,
    )
    .await
}

pub async fn client_assertion_exp_5_minutes_in_past_fails(ctx: &mut Ctx<'_>) -> Flow {
    assertion_negative(
        ctx,
        "exp",
        "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
        &["invalid_client", "invalid_request"],
        false,
    )
    .await
}

pub async fn client_assertion_wrong_aud_fails(ctx: &mut Ctx<'_>) -> Flow {
    assertion_negative(
        ctx,
        "aud",
        "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
        &["invalid_client", "invalid_request"],
        false,
    )
    .await
}

pub async fn client_assertion_no_sub_fails(ctx: &mut Ctx<'_>) -> Flow {
    assertion_negative(
        ctx,
        "sub",
        "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
        &["invalid_client", "invalid_request"],
        false,
    )
    .await
}

/// fapi2-security-profile-final-ensure-holder-of-key-required: the token request without the
/// sender constraint (no DPoP proof, or no certificate) must be refused.
pub async fn ensure_holder_of_key_required(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    ctx.log.block("Authorization endpoint TLS test");
    ctx.log.review(
        "EnsureTLS12RequireBCP195Ciphers",
        &["FAPI2-SP-FINAL-5.2.3-2"],
        "the endpoints were reached over TLS 1.2+ by rustls (BCP 195 suites only); protocol-level probing of TLS 1.0/1.1 and weak suites is not done by this runner",
    );
    up_to_code(ctx, &mut f).await?;
    ctx.log.block("Call token endpoint");
    create_code_request(ctx, &f, true)?;
    let auth = variant_auth(ctx, &f);
    let form = ctx.token_form.clone();
    let mut how = TokenCall {
        auth,
        condition: "CallTokenEndpointAllowingTLSFailure",
        ..TokenCall::for_variant(&f)
    };
    if f.dpop {
        how.dpop = false;
    } else {
        how.certificate = false;
        ctx.log.info(
            "RemoveMTLSCertificates",
            "no client certificate on this request",
        );
    }
    let resp = call_token(ctx, &mut f, &form, &how).await?;
    ctx.log.check(
        "EnsureHttpStatusCodeIs4xx",
        Failure,
        &["RFC6749-5.2"],
        status_in(&resp, 400..=499, "token"),
    );
    ctx.log.check(
        "CheckTokenEndpointHttpStatus400or401",
        Warning,
        &["RFC6749-5.2"],
        if [400, 401].contains(&resp.status) {
            ok(format!("HTTP {}", resp.status))
        } else {
            fail(format!("HTTP {}", resp.status))
        },
    );
    let json = resp.content_type.starts_with("application/json");
    ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Warning,
        &["OIDCC-3.1.3.4"],
        if json {
            ok("application/json")
        } else {
            fail(format!("Content-Type is '{}'", resp.content_type))
        },
    );
    if json {
        let (cond, expected): (&str, &[(&str, &[u16])]) = if f.dpop {
            (
                "CheckTokenEndpointReturnedInvalidRequestGrantOrDPopProofError",
                INVALID_REQUEST_GRANT_OR_DPOP,
            )
        } else if f.mtls_auth {
            (
                "CheckErrorFromTokenEndpointResponseErrorInvalidClientOrInvalidRequest",
                &[("invalid_client", &[400, 401]), ("invalid_request", &[400])],
            )
        } else {
            (
                "CheckTokenEndpointReturnedInvalidClientGrantOrRequestError",
                &[
                    ("invalid_client", &[400, 401]),
                    ("invalid_grant", &[400]),
                    ("invalid_request", &[400]),
                ],
            )
        };
        ctx.log.check(
            cond,
            Failure,
            &["RFC6749-5.2"],
            token_error(&resp, expected),
        );
    }
    Ok(())
}

// ---- refresh ---------------------------------------------------------------------------------

/// CreateRefreshTokenRequest (+ AddScopeToTokenEndpointRequest for the first client).
fn refresh_form(ctx: &Ctx<'_>, f: &Fapi, refresh_token: &str) -> Vec<(String, String)> {
    let mut form = vec![
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".to_string(), refresh_token.to_string()),
    ];
    if !f.second {
        form.push(("scope".into(), ctx.scope.clone()));
    }
    form
}

/// RefreshTokenRequestSteps: a refresh with the client's authentication and, with DPoP, a
/// new DPoP key (RFC 9449 §5: a confidential client's refresh token is not bound to its key).
async fn refresh_request_steps(ctx: &mut Ctx<'_>, f: &mut Fapi, title: &str) -> Flow {
    ctx.log.block(&format!("{}{title}", f.prefix()));
    let first_id = ctx.id_token.as_ref().map(|t| t.claims.clone());
    let first_at = ctx.access_token.clone();
    let rt = ctx.refresh_token.clone().unwrap_or_default();
    let form = refresh_form(ctx, f, &rt);
    ctx.log.must_ok(
        "CreateRefreshTokenRequest",
        &[],
        ok("grant_type=refresh_token"),
    )?;
    let auth = variant_auth(ctx, f);
    ctx.log.info("WaitForOneSecond", "1 s");
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    if f.dpop {
        f.dpop_key = None;
        ensure_dpop_key(ctx, f)?;
    }
    let how = TokenCall {
        auth,
        ..TokenCall::for_variant(f)
    };
    let resp = call_token(ctx, f, &form, &how).await?;
    ctx.log.check(
        "CheckTokenEndpointHttpStatus200",
        Failure,
        &["RFC6749-5.1"],
        if resp.status == 200 {
            ok("HTTP 200")
        } else {
            fail(format!("HTTP {}: {}", resp.status, resp.body))
        },
    );
    ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Failure,
        &["RFC6749-5.1"],
        if resp.content_type.starts_with("application/json") {
            ok("application/json")
        } else {
            fail(format!("Content-Type is '{}'", resp.content_type))
        },
    );
    ctx.log.check(
        "CheckTokenEndpointCacheHeaders",
        Failure,
        &["RFC6749-5.1"],
        match resp.cache_control.as_deref() {
            Some(c) if c.to_ascii_lowercase().contains("no-store") => {
                ok(format!("Cache-Control: {c}"))
            }
            other => fail(format!("Cache-Control must be no-store, is {other:?}")),
        },
    );
    let body = resp.json().unwrap_or(Value::Null);
    ctx.log.must_ok(
        "CheckIfTokenEndpointResponseError",
        &[],
        if body.get("error").is_some() {
            fail(format!("token endpoint error: {body}"))
        } else {
            ok("no error")
        },
    )?;
    let at = body["access_token"].as_str().map(str::to_string);
    ctx.log.must_ok(
        "ExtractAccessTokenFromTokenResponse",
        &[],
        at.clone()
            .map(|_| "access_token".to_string())
            .ok_or("no access_token".to_string()),
    )?;
    let tt = body["token_type"].as_str().unwrap_or("").to_string();
    if f.dpop {
        ctx.log.check(
            "CheckTokenTypeIsDpop",
            Failure,
            &["DPOP-5"],
            if tt.eq_ignore_ascii_case("dpop") {
                ok("token_type DPoP")
            } else {
                fail(format!("token_type {tt}"))
            },
        );
    } else {
        ctx.log.check(
            "CheckTokenTypeIsBearer",
            Failure,
            &["FAPI1-BASE-6.2.2-1"],
            if tt.eq_ignore_ascii_case("bearer") {
                ok("token_type Bearer")
            } else {
                fail(format!("token_type {tt}"))
            },
        );
    }
    let at = at.unwrap_or_default();
    ctx.log.check(
        "EnsureMinimumAccessTokenEntropy",
        Failure,
        &["FAPI1-BASE-5.2.2-16"],
        entropy_check("access token", &at),
    );
    ctx.log.check(
        "EnsureAccessTokenContainsAllowedCharactersOnly",
        Failure,
        &["RFC6749-A.12"],
        if at.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            ok("VSCHAR only")
        } else {
            fail("characters outside VSCHAR")
        },
    );
    ctx.log.check(
        "ExtractExpiresInFromTokenEndpointResponse",
        Warning,
        &["RFC6749-6", "RFC6749-5.1"],
        if body.get("expires_in").is_some() {
            ok("expires_in present")
        } else {
            fail("expires_in missing")
        },
    );
    ctx.log.check(
        "EnsureAccessTokenValuesAreDifferent",
        Info,
        &[],
        if first_at.as_deref() != Some(at.as_str()) {
            ok("a new access token")
        } else {
            fail("the same access token")
        },
    );
    ctx.access_token = Some(at);
    f.token_type = Some(tt);
    if let Some(raw) = body["id_token"].as_str() {
        if let Ok(jws) = jose::decode(raw) {
            ctx.log
                .info("ExtractIdTokenFromTokenResponse", "id_token extracted");
            if let Some(first) = first_id {
                let r = compare_id_token_claims(&first, &jws.claims);
                ctx.log
                    .check("CompareIdTokenClaims", Failure, &["OIDCC-12.2"], r);
            }
            ctx.id_token = Some(IdToken {
                raw: raw.to_string(),
                claims: jws.claims.clone(),
                jws,
            });
        }
    } else if !f.openid {
        ctx.log.info(
            "ExpectNoIdTokenInTokenResponse",
            "no ID token, as expected without openid",
        );
    }
    if let Some(new_rt) = body["refresh_token"].as_str() {
        ctx.log.info(
            "ExtractRefreshTokenFromTokenResponse",
            "a new refresh token",
        );
        ctx.log.check(
            "EnsureMinimumRefreshTokenLength",
            Failure,
            &["RFC6749-10.10"],
            length_check("Refresh token", new_rt),
        );
        ctx.log.check(
            "EnsureMinimumRefreshTokenEntropy",
            Failure,
            &["RFC6749-10.10"],
            entropy_check("refresh token", new_rt),
        );
        ctx.refresh_token = Some(new_rt.to_string());
    }
    Ok(())
}

/// CompareIdTokenClaims (OIDC Core §12.2).
fn compare_id_token_claims(first: &Value, second: &Value) -> Check {
    for c in ["iss", "sub"] {
        if first.get(c).is_none() || first[c] != second[c] {
            return fail(format!(
                "{c} claims are not the same ({} / {})",
                first[c], second[c]
            ));
        }
    }
    if first["iat"].is_null() || second["iat"].is_null() {
        return fail("an id token has no iat");
    }
    if first["iat"] == second["iat"] {
        return fail("iat for the second id token MUST represent the time that the new ID Token is issued, cannot be the same as the initial id token");
    }
    let aud_of = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
            _ => vec![],
        }
    };
    let (mut a1, mut a2) = (aud_of(&first["aud"]), aud_of(&second["aud"]));
    a1.sort();
    a2.sort();
    if a1 != a2 {
        return fail("aud claims are not the same");
    }
    if second.get("auth_time").is_some() && first["auth_time"] != second["auth_time"] {
        return fail("auth_time claims are not the same");
    }
    if first["azp"] != second["azp"] {
        return fail("azp claims are not the same");
    }
    ok("Validated id token claims successfully")
}

/// fapi2-security-profile-final-refresh-token (FAPI2SPFinalRefreshToken).
pub async fn refresh_token(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    configure_second_client(ctx, &mut f)?;
    for client in 1..=2 {
        if client == 2 {
            ctx.refresh_token = None;
            ctx.id_token = None;
            ctx.log.block("Second client: Setup");
            f.dpop_key = None;
            switch_to_second_client(ctx, &mut f)?;
        }
        let mut req = AuthReq::default();
        if ctx.scope.split(' ').any(|s| s == "offline_access") {
            req.extra.push(("prompt".into(), "consent".into()));
            ctx.log.info(
                "AddPromptConsentToAuthorizationEndpointRequestIfScopeContainsOfflineAccess",
                "prompt=consent",
            );
        }
        let v = par_and_authorize(ctx, &mut f, &req, false).await?;
        expect_callback(ctx, &f, &v)?;
        process_callback(ctx, &f)?;
        exchange_code(ctx, &mut f).await?;
        ctx.log
            .block(&format!("{}Check for refresh token", f.prefix()));
        let Some(rt) = ctx.refresh_token.clone() else {
            ctx.log.check(
                "FAPIEnsureServerConfigurationDoesNotSupportRefreshToken",
                Warning,
                &["OIDCD-3"],
                if ctx.server["grant_types_supported"].as_array().is_some_and(|a| a.iter().any(|g| g == "refresh_token")) {
                    fail("refresh_token is in grant_types_supported, but no refresh token was issued")
                } else {
                    ok("refresh_token grant not advertised")
                },
            );
            return Err(ctx
                .log
                .skip("Refresh tokens cannot be tested. No refresh token was issued."));
        };
        ctx.log.check(
            "EnsureServerConfigurationSupportsRefreshToken",
            Warning,
            &["OIDCD-3"],
            array_has(&ctx.server, "grant_types_supported", &["refresh_token"], 1),
        );
        ctx.log.check(
            "EnsureRefreshTokenContainsAllowedCharactersOnly",
            Failure,
            &["RFC6749-A.17"],
            if rt.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
                ok("VSCHAR only")
            } else {
                fail("characters outside VSCHAR")
            },
        );
        let prev = rt.clone();
        refresh_request_steps(ctx, &mut f, "Refresh Token Request").await?;
        if ctx.refresh_token.as_deref() == Some(prev.as_str()) {
            ctx.log.info(
                "refresh",
                "Refresh token not rotated. Skipping lost refresh token test.",
            );
        } else {
            ctx.refresh_token = Some(prev);
            refresh_request_steps(
                ctx,
                &mut f,
                "Refresh Token Request With Previous Token, FAPI 2.0 Security Profile 5.3.2.1-9",
            )
            .await?;
        }
        request_protected_resource(ctx, &mut f).await?;
        if client == 1 {
            let rt = ctx.refresh_token.clone().unwrap_or_default();
            if !(f.mtls_auth && f.mtls_bound) {
                ctx.log
                    .block("Attempting to use the refresh_token without client authentication");
                let mut form = refresh_form(ctx, &f, &rt);
                let mut how = TokenCall::for_variant(&f);
                if f.mtls_auth {
                    // The certificate is what authenticates: leave it off.
                    how.certificate = false;
                    form.push(("client_id".into(), ctx.client.client_id.clone()));
                }
                how.auth = super::AuthOverride::None;
                let resp = call_token(ctx, &mut f, &form, &how).await?;
                refresh_error_checks(
                    ctx,
                    &resp,
                    &[
                        ("invalid_client", &[400, 401]),
                        ("invalid_grant", &[400]),
                        ("invalid_request", &[400]),
                    ],
                    "CheckTokenEndpointReturnedInvalidClientGrantOrRequestError",
                );
            }
            let form = refresh_form(ctx, &f, &rt);
            let auth = variant_auth(ctx, &f);
            if f.mtls_bound {
                ctx.log.block("Attempting to use an MTLS sender constrained refresh_token without proof of possession");
                let how = TokenCall {
                    auth,
                    certificate: false,
                    condition: "CallTokenEndpointAllowingTLSFailure",
                    ..TokenCall::for_variant(&f)
                };
                let resp = call_token(ctx, &mut f, &form, &how).await?;
                let expected: &[(&str, &[u16])] = if f.mtls_auth {
                    &[("invalid_client", &[400, 401]), ("invalid_request", &[400])]
                } else {
                    &[
                        ("invalid_client", &[400, 401]),
                        ("invalid_grant", &[400]),
                        ("invalid_request", &[400]),
                    ]
                };
                refresh_error_checks(
                    ctx,
                    &resp,
                    expected,
                    "CheckTokenEndpointReturnedInvalidClientGrantOrRequestError",
                );
            } else {
                ctx.log.block("Attempting to use an DPOP sender constrained refresh_token without proof of possession");
                let how = TokenCall {
                    auth,
                    dpop: false,
                    condition: "CallTokenEndpointAndReturnFullResponse",
                    ..TokenCall::for_variant(&f)
                };
                let resp = call_token(ctx, &mut f, &form, &how).await?;
                token_error_checks(
                    ctx,
                    &resp,
                    "CheckTokenEndpointReturnedInvalidRequestGrantOrDPopProofError",
                    &["invalid_request", "invalid_grant", "invalid_dpop_proof"],
                    false,
                );
            }
        }
    }
    // switchToClient1AndTryClient2AccessToken, then client 2's refresh token with client 1.
    let client2_rt = ctx.refresh_token.clone().unwrap_or_default();
    switch_to_first_client(ctx, &mut f);
    f.dpop_key = None;
    ctx.log.block(if f.dpop {
        "Try Client1's DPoP key with Client2's access token"
    } else {
        "Try Client1's MTLS client certificate with Client2's access token"
    });
    let resp = call_resource(
        ctx,
        &mut f,
        &ResourceCall {
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
    ctx.log
        .block("Attempting to use refresh_token issued to client 2 with client 1");
    let form = refresh_form(ctx, &f, &client2_rt);
    let auth = variant_auth(ctx, &f);
    let how = TokenCall {
        auth,
        ..TokenCall::for_variant(&f)
    };
    let resp = call_token(ctx, &mut f, &form, &how).await?;
    token_error_checks(
        ctx,
        &resp,
        "CheckErrorFromTokenEndpointResponseErrorInvalidGrant",
        &["invalid_grant"],
        false,
    );
    Ok(())
}

fn refresh_error_checks(ctx: &mut Ctx<'_>, resp: &Resp, expected: &[(&str, &[u16])], cond: &str) {
    ctx.log.check(
        "CheckTokenEndpointHttpStatus400or401",
        Failure,
        &["RFC6749-6"],
        if [400, 401].contains(&resp.status) {
            ok(format!("HTTP {}", resp.status))
        } else {
            fail(format!("HTTP {}: {}", resp.status, resp.body))
        },
    );
    ctx.log.check(
        "CheckTokenEndpointReturnedJsonContentType",
        Failure,
        &["OIDCC-3.1.3.4"],
        if resp.content_type.starts_with("application/json") {
            ok("application/json")
        } else {
            fail(format!("Content-Type is '{}'", resp.content_type))
        },
    );
    ctx.log
        .check(cond, Failure, &["RFC6749-6"], token_error(resp, expected));
}

// ---- Message Signing: request object negatives ---------------------------------------------------

/// How a request-object module breaks its request object.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RoChange {
    NoExp,
    NoNbf,
    Expired,
    BadAud,
    ExpOver60,
    NbfOver60,
    AlgNone,
    BadSignature,
    Rs256,
    OtherClientsKey,
    RequestUriInside,
}

struct RoModule {
    change: RoChange,
    page: (&'static str, &'static [&'static str]),
    par: (
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    ),
    callback: (
        &'static str,
        &'static [&'static str],
        &'static [&'static str],
    ),
    allow_plain_jarm_error: bool,
}

/// The request object of the standard request with `change` made, signed (or not) as the
/// module says.
fn broken_request_object(ctx: &mut Ctx<'_>, f: &mut Fapi, change: RoChange) -> Flow<String> {
    let now = now();
    let mut shape = RequestObject::default();
    match change {
        RoChange::NoExp => {
            shape.exp = false;
            ctx.log.info(
                "AddExpToRequestObject",
                "skipped: NOT adding exp to request object",
            );
        }
        RoChange::NoNbf => {
            shape.nbf = false;
            ctx.log.info(
                "AddNbfToRequestObject",
                "skipped: NOT adding nbf to request object",
            );
        }
        RoChange::Expired => {
            shape.exp_offset = -3600;
            ctx.log
                .info("AddExpiredExpToRequestObject", "exp an hour ago");
        }
        RoChange::BadAud => {
            shape.aud = Some("https://www.other1.example.com/".into());
            ctx.log.info(
                "AddBadAudToRequestObject",
                "aud https://www.other1.example.com/",
            );
        }
        RoChange::ExpOver60 => {
            shape.exp_offset = 70 * 60;
            ctx.log.info(
                "AddExpValueIs70MinutesInFutureToRequestObject",
                "exp in 70 minutes",
            );
        }
        RoChange::NbfOver60 => {
            shape.nbf_offset = -70 * 60;
            ctx.log.info(
                "AddNbfValueIs70MinutesInPastToRequestObject",
                "nbf 70 minutes ago",
            );
        }
        RoChange::RequestUriInside => {
            shape.claims.push((
                "request_uri".into(),
                "urn:ietf:params:oauth:request_uri:bad".into(),
            ));
            ctx.log.info(
                "AddBadRequestUriToAuthorizationRequest",
                "request_uri inside the request object",
            );
        }
        _ => {}
    }
    let _ = now;
    create_request_object(ctx, f, &shape)?;
    let claims = f.request_object_claims.clone();
    let jws = match change {
        RoChange::AlgNone => {
            let h = jose::b64(br#"{"alg":"none"}"#);
            let jwt = format!("{h}.{}.", jose::b64(claims.to_string().as_bytes()));
            ctx.log.must_ok(
                "SerializeRequestObjectWithNullAlgorithm",
                &[],
                ok("alg none"),
            )?;
            jwt
        }
        RoChange::Rs256 => {
            let key = ctx.client.signing_key.clone();
            let r = key
                .ok_or("no signing key configured".to_string())
                .and_then(|k| {
                    let der = std::fs::read(&k.file).map_err(|e| e.to_string())?;
                    crate::jose::Signer::from_der("RS256", &k.kid, &der)
                })
                .and_then(|s| s.sign(json!({}), &claims))
                .map(|j| (j, "signed with RS256".to_string()));
            ctx.log
                .must("ChangeClientJwksAlgToRS256", &["FAPI2-SP-FINAL-5.4"], r)?
        }
        RoChange::OtherClientsKey => {
            ctx.log.block(
                "Sign request object containing client_id for client 1 using JWK for client 2",
            );
            let c2 = ctx.client2().map_err(|_| Stop)?;
            let r = c2
                .signing_key
                .clone()
                .ok_or("client2 has no signing key".to_string())
                .and_then(|k| crate::jose::Signer::load(&k))
                .and_then(|s| s.sign(json!({}), &claims))
                .map(|j| (j, "signed with client 2's key".to_string()));
            ctx.log.must("SignRequestObject", &[], r)?
        }
        _ => {
            let mut jws = sign_request_object(ctx, f)?;
            if change == RoChange::BadSignature {
                let mut parts: Vec<String> = jws.split('.').map(str::to_string).collect();
                let mut sig = base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    &parts[2],
                )
                .unwrap_or_default();
                if let Some(b) = sig.first_mut() {
                    *b ^= 1;
                }
                parts[2] = jose::b64(&sig);
                jws = parts.join(".");
                ctx.log.info(
                    "InvalidateRequestObjectSignature",
                    "one bit of the signature flipped",
                );
            }
            jws
        }
    };
    Ok(jws)
}

/// The request-object negatives: refused at PAR, or at the authorization endpoint (error page
/// or error redirect).
async fn request_object_negative(ctx: &mut Ctx<'_>, m: RoModule) -> Flow {
    let mut f = setup(ctx).await?;
    if m.change == RoChange::OtherClientsKey {
        configure_second_client(ctx, &mut f)?;
    }
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    let jws = broken_request_object(ctx, &mut f, m.change)?;
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, &mut f, Some(jws))?;
    let resp = call_par(ctx, &mut f, super::AuthOverride::Default).await?;
    if m.change == RoChange::RequestUriInside || !(200..300).contains(&resp.status) {
        let (cond, errors, reqs) = m.par;
        ctx.log.check(cond, Failure, reqs, par_error(&resp, errors));
        return Ok(());
    }
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    if page_or_callback(ctx, &f, &v, m.page.0, m.page.1, m.allow_plain_jarm_error)? {
        let (cond, errors, reqs) = m.callback;
        error_response_checks(ctx, cond, errors, Failure, reqs);
    }
    Ok(())
}

const INVALID_REQUEST_OBJECT: &[&str] = &["invalid_request_object"];

pub async fn request_object_without_exp_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::NoExp,
            page: (
                "ExpectRequestObjectMissingExpClaimErrorPage",
                &["FAPI2-MS-ID1-5.3.1-4"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2", "PAR-2.3"],
            ),
            callback: (
                "EnsureInvalidRequestInvalidRequestUriOrAccessDeniedError",
                &["invalid_request", "invalid_request_uri", "access_denied"],
                &["OIDCC-3.1.2.6", "RFC6749-4.2.2.1"],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

pub async fn request_object_without_nbf_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::NoNbf,
            page: (
                "ExpectRequestObjectMissingNbfClaimErrorPage",
                &["FAPI2-MS-ID1-5.3.1-3"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.3", "PAR-2.1-3"],
            ),
            callback: (
                "EnsureInvalidRequestInvalidRequestUriOrAccessDeniedError",
                &["invalid_request", "invalid_request_uri", "access_denied"],
                &["OIDCC-3.1.2.6", "RFC6749-4.2.2.1"],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

pub async fn expired_request_object_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::Expired,
            page: (
                "ExpectExpiredRequestObjectClaimErrorPage",
                &["RFC7519-4.1.4"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2", "PAR-2.3"],
            ),
            callback: (
                "EnsureInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["OIDCC-3.1.2.6"],
            ),
            allow_plain_jarm_error: true,
        },
    )
    .await
}

pub async fn request_object_with_bad_aud_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::BadAud,
            page: (
                "ExpectRequestObjectWithBadAudClaimErrorPage",
                &["OIDCC-6.1", "RFC7519-4.1.3"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2", "PAR-2.3"],
            ),
            callback: (
                "EnsureInvalidRequestUriError",
                &["invalid_request_uri"],
                &["JAR-4"],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

pub async fn request_object_with_exp_over_60_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::ExpOver60,
            page: (
                "ExpectRequestObjectWithExpOver60ClaimErrorPage",
                &["FAPI2-MS-ID1-5.3.1-4"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.3", "PAR-2.1-3"],
            ),
            callback: (
                "EnsureInvalidRequestUriError",
                &["invalid_request_uri"],
                &["JAR-4"],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

pub async fn request_object_with_nbf_over_60_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::NbfOver60,
            page: (
                "ExpectRequestObjectWithNbfOver60ClaimErrorPage",
                &["OIDCC-6.1", "RFC7519-4.1.5"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.3", "PAR-2.1-3"],
            ),
            callback: (
                "EnsureInvalidRequestUriError",
                &["invalid_request_uri"],
                &["JAR-4"],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

pub async fn request_object_signature_algorithm_is_not_none(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::AlgNone,
            page: (
                "ExpectRequestObjectUnverifiableErrorPage",
                &["FAPI2-MS-ID1-5.4.2-2"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2"],
            ),
            callback: (
                "EnsureInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["OIDCC-3.1.2.6"],
            ),
            allow_plain_jarm_error: true,
        },
    )
    .await
}

pub async fn request_object_with_invalid_signature_fails(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::BadSignature,
            page: ("ExpectRequestObjectInvalidSignatureErrorPage", &[]),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2"],
            ),
            callback: (
                "EnsureInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["OIDCC-3.1.2.6"],
            ),
            allow_plain_jarm_error: true,
        },
    )
    .await
}

pub async fn signed_request_object_with_rs256_fails(ctx: &mut Ctx<'_>) -> Flow {
    let alg = ctx.signer().map(|s| s.alg.clone()).unwrap_or_default();
    if alg != "PS256" {
        ctx.log.block("Configure");
        return Err(ctx.log.skip(&format!("This test requires RSA keys to be performed, the alg in client configuration is '{alg}' so this test is being skipped. If your server does not support PS256 then this will not prevent you certifying.")));
    }
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::Rs256,
            page: (
                "ExpectSignedRS256RequestObjectErrorPage",
                &["FAPI2-SP-FINAL-5.4"],
            ),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2"],
            ),
            callback: (
                "EnsureInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["OIDCC-3.1.2.6"],
            ),
            allow_plain_jarm_error: true,
        },
    )
    .await
}

pub async fn matching_key_in_authorization_request(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::OtherClientsKey,
            page: (
                "ExpectRequestObjectUnverifiableErrorPage",
                &["FAPI2-MS-ID1-5.3.1-1", "OIDCC-6.3.2"],
            ),
            par: (
                "EnsurePARInvalidRequestOrInvalidRequestObjectError",
                &["invalid_request", "invalid_request_object"],
                &["JAR-6.2"],
            ),
            callback: (
                "EnsureInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["OIDCC-3.1.2.6"],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

pub async fn par_reject_request_uri_in_request_object(ctx: &mut Ctx<'_>) -> Flow {
    request_object_negative(
        ctx,
        RoModule {
            change: RoChange::RequestUriInside,
            page: ("ExpectRequestObjectUnverifiableErrorPage", &[]),
            par: (
                "EnsurePARInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &["JAR-6.2", "PAR-2.1"],
            ),
            callback: (
                "EnsureInvalidRequestObjectError",
                INVALID_REQUEST_OBJECT,
                &[],
            ),
            allow_plain_jarm_error: false,
        },
    )
    .await
}

/// fapi2-security-profile-final-ensure-unsigned-request-at-par-endpoint-fails: with signed
/// requests required, the plain parameters at PAR must be refused.
pub async fn unsigned_request_at_par_endpoint_fails(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    f.signed = false;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    par_then_page_or_callback(
        ctx,
        &mut f,
        ("EnsurePARInvalidRequestError", &["invalid_request"], &["PAR-2.3"]),
        ("ExpectAuthorizationRequestWithoutRequestObjectErrorPage", &["FAPI2-MS-ID1-5.3.2-1"]),
        (
            "CheckErrorFromAuthorizationEndpointErrorInvalidRequestOrInvalidRequestObjectOrInvalidRequestUri",
            &["invalid_request", "invalid_request_object", "invalid_request_uri"],
            Failure,
            &["OIDCC-3.1.2.6"],
        ),
        false,
    )
    .await
}

/// fapi2-security-profile-final-ensure-request-object-with-multiple-aud-succeeds
/// (AddMultipleAudToRequestObject; the redirect without duplicates).
pub async fn request_object_with_multiple_aud_succeeds(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    create_request_object(
        ctx,
        &mut f,
        &RequestObject {
            aud: Some(json!([issuer, "https://other1.example.com", "invalid"])),
            ..Default::default()
        },
    )?;
    ctx.log.info(
        "AddMultipleAudToRequestObject",
        "aud: the issuer and two others",
    );
    let jws = sign_request_object(ctx, &f)?;
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, &mut f, Some(jws))?;
    let resp = call_par(ctx, &mut f, super::AuthOverride::Default).await?;
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let endpoint = ctx.server_str("authorization_endpoint").unwrap_or_default();
    let pairs = [
        ("client_id", ctx.client.client_id.clone()),
        ("request_uri", f.request_uri.clone().unwrap_or_default()),
    ];
    let r = Url::parse(&endpoint)
        .map_err(|e| e.to_string())
        .map(|mut u| {
            u.query_pairs_mut().extend_pairs(pairs.iter());
            let s = u.to_string();
            (u, s)
        });
    let url = ctx.log.must(
        "BuildRequestObjectByReferenceRedirectToAuthorizationEndpointWithoutDuplicates",
        &["PAR-4"],
        r,
    )?;
    let v = browse(ctx, url, true).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

/// fapi2-security-profile-final-ensure-request-object-with-nbf-8-seconds-in-the-future-is-accepted.
pub async fn request_object_with_nbf_8_seconds_future_accepted(ctx: &mut Ctx<'_>) -> Flow {
    let mut f = setup(ctx).await?;
    create_authorization_request(ctx, &mut f, &AuthReq::default())?;
    create_request_object(
        ctx,
        &mut f,
        &RequestObject {
            nbf_offset: 8,
            ..Default::default()
        },
    )?;
    ctx.log.info(
        "AddNbfValueIs8SecondsInFutureToRequestObject",
        "nbf 8 seconds ahead",
    );
    let jws = sign_request_object(ctx, &f)?;
    ctx.log.block("Make request to PAR endpoint");
    build_par_request(ctx, &mut f, Some(jws))?;
    let resp = call_par(ctx, &mut f, super::AuthOverride::Default).await?;
    if resp.status != 201 {
        ctx.log.check(
            "CheckPAREndpointResponse201WithNoError",
            Warning,
            &["PAR-2.2", "PAR-2.3"],
            fail(format!("HTTP {}: {}", resp.status, resp.body)),
        );
        return Ok(());
    }
    process_par_response(ctx, &mut f, &resp)?;
    ctx.log.block("Make request to authorization endpoint");
    let url = request_uri_redirect(ctx, &f, false)?;
    let v = browse(ctx, url, true).await?;
    expect_callback(ctx, &f, &v)?;
    process_callback(ctx, &f)?;
    exchange_code(ctx, &mut f).await?;
    request_protected_resource(ctx, &mut f).await
}

// ---- plans -------------------------------------------------------------------------------------

/// When a module applies to a variant (the module's @VariantNotApplicable).
#[derive(Clone, Copy)]
enum Only {
    All,
    OpenId,
    Dpop,
    PrivateKeyJwt,
    Signed,
}

/// The modules of FAPI2MessageSigningFinalTestPlan.testModules as run for plain_fapi, in the
/// suite's order; FAPI2SPFinalTestPlan runs the same list less the request-object modules.
/// Left out: the modules for other profiles (OBUK, Brazil, ConnectID, CBUAE),
/// `fapi2-security-profile-final-ensure-registered-redirect-uri` (not applicable to
/// plain_fapi).
const MODULES: &[(&str, Only, bool)] = &[
    // (module, applies to, needs a signed request: dropped from the Security Profile plan)
    ("fapi2-security-profile-final-discovery-end-point-verification", Only::All, false),
    ("fapi2-security-profile-final-happy-flow", Only::All, false),
    ("fapi2-security-profile-final-user-rejects-authentication", Only::All, false),
    ("fapi2-security-profile-final-ensure-request-object-with-multiple-aud-succeeds", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-authorization-request-without-state-success", Only::All, false),
    ("fapi2-security-profile-final-ensure-authorization-request-without-nonce-success", Only::OpenId, false),
    ("fapi2-security-profile-final-ensure-authorization-request-with-64-char-nonce-success", Only::OpenId, false),
    ("fapi2-security-profile-final-ensure-other-scope-order-succeeds", Only::OpenId, false),
    ("fapi2-security-profile-final-test-claims-parameter-identity-claims", Only::OpenId, false),
    ("fapi2-security-profile-final-access-token-type-header-case-sensitivity", Only::All, false),
    ("fapi2-security-profile-final-ensure-request-object-with-nbf-8-seconds-in-the-future-is-accepted", Only::Signed, true),
    ("fapi2-security-profile-final-check-dpop-proof-nbf-exp", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-before-succeeds", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-after-succeeds", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-mismatched-dpop-jkt-fails", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-proof-jkt", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-token-endpoint-fails-with-mismatched-dpop-jkt", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-dpopproof-at-par-endpoint-binding-success", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-dpop-auth-code-binding-success", Only::Dpop, false),
    ("fapi2-security-profile-final-ensure-different-nonce-inside-and-outside-request-object", Only::OpenId, false),
    ("fapi2-security-profile-final-ensure-different-state-inside-and-outside-request-object", Only::All, false),
    ("fapi2-security-profile-final-ensure-authorization-request-with-long-nonce", Only::OpenId, false),
    ("fapi2-security-profile-final-ensure-authorization-request-with-long-state", Only::All, false),
    ("fapi2-security-profile-final-ensure-request-object-without-exp-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-request-object-without-nbf-fails", Only::Signed, true),
    ("fapi2-security-profile-final-state-only-outside-request-object-not-used", Only::All, false),
    ("fapi2-security-profile-final-ensure-request-object-without-redirect-uri-fails", Only::All, false),
    ("fapi2-security-profile-final-ensure-expired-request-object-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-request-object-with-bad-aud-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-request-object-with-exp-over-60-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-request-object-with-nbf-over-60-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-signed-request-object-with-RS256-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-request-object-signature-algorithm-is-not-none", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-request-object-with-invalid-signature-fails", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-matching-key-in-authorization-request", Only::Signed, true),
    ("fapi2-security-profile-final-ensure-unsigned-request-at-par-endpoint-fails", Only::Signed, true),
    ("fapi2-security-profile-final-plain-fapi-tolerate-unregistered-redirect-uri", Only::All, false),
    ("fapi2-security-profile-final-ensure-unsigned-authorization-request-without-using-par-fails", Only::All, false),
    ("fapi2-security-profile-final-ensure-redirect-uri-in-authorization-request", Only::All, false),
    ("fapi2-security-profile-final-ensure-response-type-code-idtoken-fails", Only::All, false),
    ("fapi2-security-profile-final-ensure-response-type-token-fails", Only::All, false),
    ("fapi2-security-profile-final-ensure-client-id-in-token-endpoint", Only::All, false),
    ("fapi2-security-profile-final-ensure-holder-of-key-required", Only::All, false),
    ("fapi2-security-profile-final-ensure-authorization-code-is-bound-to-client", Only::All, false),
    ("fapi2-security-profile-final-attempt-reuse-authorization-code-after-one-second", Only::All, false),
    ("fapi2-security-profile-final-ensure-token-endpoint-fails-with-expired-auth-code", Only::All, false),
    ("fapi2-security-profile-final-ensure-signed-client-assertion-with-RS256-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-ensure-client-assertion-in-token-endpoint", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-ensure-client-assertion-with-exp-is-5-minutes-in-past-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-ensure-client-assertion-with-wrong-aud-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-ensure-client-assertion-with-no-sub-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-dpop-negative-tests", Only::Dpop, false),
    ("fapi2-security-profile-final-refresh-token", Only::All, false),
    ("fapi2-security-profile-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds", Only::All, false),
    ("fapi2-security-profile-final-par-attempt-reuse-request_uri", Only::All, false),
    ("fapi2-security-profile-final-par-attempt-to-use-expired-request_uri", Only::All, false),
    ("fapi2-security-profile-final-par-ensure-jwt-client-assertions-nbf-8-seconds-in-the-future-is-accepted", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-par-ensure-jwt-client-assertions-nbf-over-60-seconds-in-the-future-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-par-attempt-to-use-request_uri-for-different-client", Only::All, false),
    ("fapi2-security-profile-final-par-authorization-request-containing-request_uri-form-param", Only::All, false),
    ("fapi2-security-profile-final-par-attempt-invalid-http-method", Only::All, false),
    ("fapi2-security-profile-final-par-ensure-pkce-required", Only::All, false),
    ("fapi2-security-profile-final-ensure-pkce-code-verifier-required", Only::All, false),
    ("fapi2-security-profile-final-incorrect-pkce-code-verifier-rejected", Only::All, false),
    ("fapi2-security-profile-final-par-plain-pkce-rejected", Only::All, false),
    ("fapi2-security-profile-final-par-authorization-request-containing-request_uri", Only::Signed, true),
    ("fapi2-security-profile-final-par-without-duplicate-parameters", Only::All, false),
    ("fapi2-security-profile-final-par-test-array-as-audience-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-par-test-par-endpoint-url-as-audience-fails", Only::PrivateKeyJwt, false),
    ("fapi2-security-profile-final-par-test-token-endpoint-url-as-audience-fails", Only::PrivateKeyJwt, false),
];

/// Modules that mostly wait (for a code or a request_uri to expire): scheduled first.
pub const WAITING: &[&str] = &[
    "fapi2-security-profile-final-ensure-token-endpoint-fails-with-expired-auth-code",
    "fapi2-security-profile-final-par-attempt-to-use-expired-request_uri",
];

/// The configured client of a variant (`<role>_2` is its second client). JARM is asked for
/// per request (response_mode=jwt), so the same clients serve both response modes; the
/// Message Signing plan's clients register `require_signed_request_object`.
fn role(auth: &str, sender: &str, signed: bool) -> &'static str {
    match (auth, sender, signed) {
        ("private_key_jwt", "dpop", false) => "fapi2_private_key_jwt_dpop",
        ("private_key_jwt", "mtls", false) => "fapi2_private_key_jwt_mtls",
        ("mtls", "dpop", false) => "fapi2_mtls_dpop",
        ("mtls", "mtls", false) => "fapi2_mtls_mtls",
        ("private_key_jwt", "dpop", true) => "fapi2_signed_private_key_jwt_dpop",
        ("private_key_jwt", "mtls", true) => "fapi2_signed_private_key_jwt_mtls",
        ("mtls", "dpop", true) => "fapi2_signed_mtls_dpop",
        _ => "fapi2_signed_mtls_mtls",
    }
}

fn entries(
    auth: &'static str,
    sender: &'static str,
    openid: &'static str,
    request_method: &'static str,
    response_mode: &'static str,
) -> Vec<crate::plans::Entry> {
    let signed = request_method == "signed_non_repudiation";
    MODULES
        .iter()
        .filter(|(_, only, needs_signing)| {
            (signed || !needs_signing)
                && match only {
                    Only::All => true,
                    Only::OpenId => openid == "openid_connect",
                    Only::Dpop => sender == "dpop",
                    Only::PrivateKeyJwt => auth == "private_key_jwt",
                    Only::Signed => signed,
                }
        })
        .map(|(module, _, _)| crate::plans::Entry {
            module,
            auth: if auth == "mtls" {
                super::ClientAuth::Mtls
            } else {
                super::ClientAuth::PrivateKeyJwt
            },
            response_type: "code",
            response_mode: "default",
            client_role: Some(role(auth, sender, signed)),
            variant: vec![
                ("fapi_profile", "plain_fapi"),
                ("client_auth_type", auth),
                ("sender_constrain", sender),
                ("openid", openid),
                ("fapi_request_method", request_method),
                ("fapi_response_mode", response_mode),
            ],
        })
        .collect()
}

/// fapi2-security-profile-final-test-plan: private_key_jwt and mtls × dpop and mtls ×
/// openid_connect and plain_oauth, unsigned requests, plain responses.
pub fn security_profile_plan() -> crate::plans::Plan {
    let mut out = Vec::new();
    // plain_oauth is not run: Consentry is an OpenID Provider, its authorization endpoint
    // requires the openid scope (see conformance/README.md).
    for openid in ["openid_connect"] {
        for auth in ["private_key_jwt", "mtls"] {
            for sender in ["dpop", "mtls"] {
                out.extend(entries(auth, sender, openid, "unsigned", "plain_response"));
            }
        }
    }
    crate::plans::Plan {
        name: "fapi2-security-profile-final-test-plan",
        entries: out,
    }
}

/// fapi2-message-signing-final-test-plan: private_key_jwt and mtls × dpop and mtls, signed
/// requests, plain and JARM responses.
pub fn message_signing_plan() -> crate::plans::Plan {
    let mut out = Vec::new();
    for response_mode in ["plain_response", "jarm"] {
        for auth in ["private_key_jwt", "mtls"] {
            for sender in ["dpop", "mtls"] {
                out.extend(entries(
                    auth,
                    sender,
                    "openid_connect",
                    "signed_non_repudiation",
                    response_mode,
                ));
            }
        }
    }
    crate::plans::Plan {
        name: "fapi2-message-signing-final-test-plan",
        entries: out,
    }
}

type ModuleFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Flow> + Send + 'a>>;

/// The FAPI 2 modules by name.
pub fn dispatch<'a, 'b: 'a>(name: &str, ctx: &'a mut Ctx<'b>) -> Option<ModuleFuture<'a>> {
    const P: &str = "fapi2-security-profile-final-";
    let short = name.strip_prefix(P)?;
    Some(match short {
        "discovery-end-point-verification" => Box::pin(discovery_end_point_verification(ctx)),
        "happy-flow" => Box::pin(happy_flow(ctx)),
        "user-rejects-authentication" => Box::pin(user_rejects_authentication(ctx)),
        "test-claims-parameter-identity-claims" => {
            Box::pin(test_claims_parameter_identity_claims(ctx))
        }
        "ensure-request-object-with-multiple-aud-succeeds" => {
            Box::pin(request_object_with_multiple_aud_succeeds(ctx))
        }
        "ensure-authorization-request-without-state-success" => {
            Box::pin(without_state_success(ctx))
        }
        "ensure-authorization-request-without-nonce-success" => {
            Box::pin(without_nonce_success(ctx))
        }
        "ensure-authorization-request-with-64-char-nonce-success" => {
            Box::pin(with_64_char_nonce_success(ctx))
        }
        "ensure-other-scope-order-succeeds" => Box::pin(other_scope_order_succeeds(ctx)),
        "access-token-type-header-case-sensitivity" => {
            Box::pin(access_token_type_header_case_sensitivity(ctx))
        }
        "ensure-request-object-with-nbf-8-seconds-in-the-future-is-accepted" => {
            Box::pin(request_object_with_nbf_8_seconds_future_accepted(ctx))
        }
        "check-dpop-proof-nbf-exp" => Box::pin(check_dpop_proof_nbf_exp(ctx)),
        "ensure-dpopproof-with-iat-10seconds-before-succeeds" => {
            Box::pin(dpop_iat_10_seconds_before(ctx))
        }
        "ensure-dpopproof-with-iat-10seconds-after-succeeds" => {
            Box::pin(dpop_iat_10_seconds_after(ctx))
        }
        "ensure-mismatched-dpop-jkt-fails" => Box::pin(ensure_mismatched_dpop_jkt_fails(ctx)),
        "ensure-token-endpoint-fails-with-mismatched-dpop-proof-jkt" => {
            Box::pin(token_endpoint_fails_with_mismatched_dpop_proof_jkt(ctx))
        }
        "ensure-token-endpoint-fails-with-mismatched-dpop-jkt" => {
            Box::pin(token_endpoint_fails_with_mismatched_dpop_jkt(ctx))
        }
        "ensure-dpopproof-at-par-endpoint-binding-success" => {
            Box::pin(dpop_proof_at_par_binding_success(ctx))
        }
        "ensure-dpop-auth-code-binding-success" => Box::pin(dpop_auth_code_binding_success(ctx)),
        "ensure-different-nonce-inside-and-outside-request-object" => {
            Box::pin(different_inside_and_outside(ctx, "nonce"))
        }
        "ensure-different-state-inside-and-outside-request-object" => {
            Box::pin(different_inside_and_outside(ctx, "state"))
        }
        "ensure-authorization-request-with-long-nonce" => Box::pin(with_long_nonce(ctx)),
        "ensure-authorization-request-with-long-state" => Box::pin(with_long_state(ctx)),
        "ensure-request-object-without-exp-fails" => {
            Box::pin(request_object_without_exp_fails(ctx))
        }
        "ensure-request-object-without-nbf-fails" => {
            Box::pin(request_object_without_nbf_fails(ctx))
        }
        "state-only-outside-request-object-not-used" => {
            Box::pin(state_only_outside_request_object_not_used(ctx))
        }
        "ensure-request-object-without-redirect-uri-fails" => {
            Box::pin(request_object_without_redirect_uri_fails(ctx))
        }
        "ensure-expired-request-object-fails" => Box::pin(expired_request_object_fails(ctx)),
        "ensure-request-object-with-bad-aud-fails" => {
            Box::pin(request_object_with_bad_aud_fails(ctx))
        }
        "ensure-request-object-with-exp-over-60-fails" => {
            Box::pin(request_object_with_exp_over_60_fails(ctx))
        }
        "ensure-request-object-with-nbf-over-60-fails" => {
            Box::pin(request_object_with_nbf_over_60_fails(ctx))
        }
        "ensure-signed-request-object-with-RS256-fails" => {
            Box::pin(signed_request_object_with_rs256_fails(ctx))
        }
        "ensure-request-object-signature-algorithm-is-not-none" => {
            Box::pin(request_object_signature_algorithm_is_not_none(ctx))
        }
        "ensure-request-object-with-invalid-signature-fails" => {
            Box::pin(request_object_with_invalid_signature_fails(ctx))
        }
        "ensure-matching-key-in-authorization-request" => {
            Box::pin(matching_key_in_authorization_request(ctx))
        }
        "ensure-unsigned-request-at-par-endpoint-fails" => {
            Box::pin(unsigned_request_at_par_endpoint_fails(ctx))
        }
        "plain-fapi-tolerate-unregistered-redirect-uri" => {
            Box::pin(tolerate_unregistered_redirect_uri(ctx))
        }
        "ensure-unsigned-authorization-request-without-using-par-fails" => {
            Box::pin(unsigned_without_par_fails(ctx))
        }
        "ensure-redirect-uri-in-authorization-request" => {
            Box::pin(redirect_uri_in_authorization_request(ctx))
        }
        "ensure-response-type-code-idtoken-fails" => {
            Box::pin(response_type_fails(ctx, "code id_token"))
        }
        "ensure-response-type-token-fails" => Box::pin(response_type_fails(ctx, "token")),
        "ensure-client-id-in-token-endpoint" => Box::pin(ensure_client_id_in_token_endpoint(ctx)),
        "ensure-holder-of-key-required" => Box::pin(ensure_holder_of_key_required(ctx)),
        "ensure-authorization-code-is-bound-to-client" => {
            Box::pin(ensure_authorization_code_is_bound_to_client(ctx))
        }
        "attempt-reuse-authorization-code-after-one-second" => {
            Box::pin(attempt_reuse_authorization_code_after_one_second(ctx))
        }
        "ensure-token-endpoint-fails-with-expired-auth-code" => {
            Box::pin(attempt_to_use_expired_auth_code(ctx))
        }
        "ensure-signed-client-assertion-with-RS256-fails" => {
            Box::pin(signed_client_assertion_with_rs256_fails(ctx))
        }
        "ensure-client-assertion-in-token-endpoint" => {
            Box::pin(client_assertion_in_token_endpoint(ctx))
        }
        "ensure-client-assertion-with-exp-is-5-minutes-in-past-fails" => {
            Box::pin(client_assertion_exp_5_minutes_in_past_fails(ctx))
        }
        "ensure-client-assertion-with-wrong-aud-fails" => {
            Box::pin(client_assertion_wrong_aud_fails(ctx))
        }
        "ensure-client-assertion-with-no-sub-fails" => Box::pin(client_assertion_no_sub_fails(ctx)),
        "dpop-negative-tests" => Box::pin(dpop_negative_tests(ctx)),
        "refresh-token" => Box::pin(refresh_token(ctx)),
        "par-ensure-reused-request-uri-prior-to-auth-completion-succeeds" => {
            Box::pin(par_reused_request_uri_before_completion(ctx))
        }
        "par-attempt-reuse-request_uri" => Box::pin(par_attempt_reuse_request_uri(ctx)),
        "par-attempt-to-use-expired-request_uri" => {
            Box::pin(par_attempt_to_use_expired_request_uri(ctx))
        }
        "par-ensure-jwt-client-assertions-nbf-8-seconds-in-the-future-is-accepted" => {
            Box::pin(par_assertion_iat_nbf_8_seconds_future_accepted(ctx))
        }
        "par-ensure-jwt-client-assertions-nbf-over-60-seconds-in-the-future-fails" => {
            Box::pin(par_assertion_iat_nbf_over_60_seconds_future_fails(ctx))
        }
        "par-attempt-to-use-request_uri-for-different-client" => {
            Box::pin(par_ensure_request_uri_is_bound_to_client(ctx))
        }
        "par-authorization-request-containing-request_uri-form-param" => {
            Box::pin(par_reject_request_uri_in_form(ctx))
        }
        "par-attempt-invalid-http-method" => Box::pin(par_reject_invalid_http_verb(ctx)),
        "par-ensure-pkce-required" => Box::pin(par_ensure_pkce_required(ctx)),
        "ensure-pkce-code-verifier-required" => Box::pin(pkce_code_verifier_required(ctx)),
        "incorrect-pkce-code-verifier-rejected" => {
            Box::pin(incorrect_pkce_code_verifier_rejected(ctx))
        }
        "par-plain-pkce-rejected" => Box::pin(par_plain_pkce_rejected(ctx)),
        "par-authorization-request-containing-request_uri" => {
            Box::pin(par_reject_request_uri_in_request_object(ctx))
        }
        "par-without-duplicate-parameters" => Box::pin(par_without_duplicate_parameters(ctx)),
        "par-test-array-as-audience-fails" => Box::pin(par_audience_fails(ctx, "array")),
        "par-test-par-endpoint-url-as-audience-fails" => Box::pin(par_audience_fails(ctx, "par")),
        "par-test-token-endpoint-url-as-audience-fails" => {
            Box::pin(par_audience_fails(ctx, "token"))
        }
        _ => return None,
    })
}
