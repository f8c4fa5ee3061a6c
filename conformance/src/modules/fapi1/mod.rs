//! fapi1-advanced-final-test-plan (FAPI1AdvancedFinalTestPlan), plain_fapi: the modules of
//! AbstractFAPI1AdvancedFinalServerTestModule and its subclasses. Every authorization request
//! is a signed request object (by value, or pushed to the PAR endpoint), the response is the
//! hybrid `code id_token` in the fragment or a JARM response in the query, and every
//! back-channel call presents the client's certificate (certificate-bound tokens).

use super::*;
use crate::jose::Signer;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map};

mod flows;
mod metadata;
mod par;
mod request_object;
mod token;

use flows::*;
use metadata::*;
use par::*;
use request_object::*;
use token::*;

/// The scope the plan's clients are configured with (the suite's `client.scope`).
const SCOPE: &str = "openid offline_access";

/// What the suite's `redirect_uri` of the second client carries (AddRedirectUriQuerySuffix).
const REDIRECT_QUERY_SUFFIX: &str = "dummy1=lorem&dummy2=ipsum";

/// The parameters OAuth requires outside a request object (OIDC Core §6.1, RFC 6749
/// §3.1.2.3), as AbstractBuildRequestObjectRedirectToAuthorizationEndpoint repeats them.
const REQUIRED_DUPLICATES: [&str; 4] = ["response_type", "client_id", "scope", "redirect_uri"];

// ---- the module's state ------------------------------------------------------------------

/// One of the plan's two clients: the configuration, and a back channel presenting its
/// certificate (the suite's `client`/`mutual_tls_authentication` and their `2` twins).
#[derive(Clone)]
struct Party {
    client: Client,
    back: reqwest::Client,
}

/// The environment of one FAPI 1 module run, beyond what `Ctx` holds.
struct Fapi {
    jarm: bool,
    par: bool,
    mtls: bool,
    second: bool,
    one: Party,
    two: Party,
    /// authorization_endpoint_request.
    request: Map<String, Value>,
    /// request_object_claims.
    claims: Map<String, Value>,
    request_object: String,
    verifier: Option<String>,
    request_uri: Option<String>,
    par_expires_in: Option<i64>,
    query: BTreeMap<String, String>,
    fragment: BTreeMap<String, String>,
    /// For error responses in JARM mode, a plain (unwrapped) error is accepted too.
    allow_plain_jarm_error: bool,
    auth_id_token: Option<IdToken>,
    token_type: String,
    token_body: Value,
    interaction_id: String,
}

impl Fapi {
    fn who(&self) -> &'static str {
        if self.second {
            "Second client: "
        } else {
            ""
        }
    }
}

/// How a module changes the standard request (the suite's condition sequences with the
/// module's `skip`, `replace`, `insertAfter`...).
#[derive(Default, Clone)]
struct Tweaks {
    state_len: Option<usize>,
    nonce_len: Option<usize>,
    /// Skip AddStateToAuthorizationEndpointRequest.
    no_state: bool,
    /// Skip AddNonceToAuthorizationEndpointRequest.
    no_nonce: bool,
    /// The state (nonce) goes only into the URL, added after the object was signed.
    state_outside_only: bool,
    nonce_outside_only: bool,
    /// AddIncorrectNonceToAuthorizationEndpointRequest, after the object was made.
    incorrect_outer_nonce: bool,
    /// expose_state_in_authorization_endpoint_request.
    expose_state: bool,
    /// The authorization request before it becomes the object.
    request: Vec<RequestTweak>,
    /// Changes to the object's claims.
    object: Vec<ObjectTweak>,
    sign: Sign,
    pkce: Pkce,
    redirect: Redirect,
    /// The module does its own PAR error handling (AbstractFAPI1AdvancedFinalPARExpecting...).
    par_error_expected: bool,
    /// Client assertion for the PAR endpoint (private_key_jwt).
    par_assertion: ParAssertion,
    /// Extra form parameters for the PAR request (AddBadRequestUriToRequestParameters).
    par_extra: Vec<(String, String)>,
    /// CallPAREndpoint with another HTTP method.
    par_method_put: bool,
    /// A redirect_uri other than the client's (CreateBadRedirectUriByAppending).
    redirect_uri: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RequestTweak {
    ReverseScope,
    ResponseModeQuery,
    PlainPkce,
    RemoveRedirectUri,
    BadRedirectUri,
    BadRequestUri,
    /// SetAuthorizationEndpointRequestResponseTypeToCode, RemoveAuthorizationEndpointRequestResponseMode.
    ResponseTypeCode,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ObjectTweak {
    NoExp,
    NoNbf,
    NoScope,
    NoRedirectUri,
    BadAud,
    MultipleAud,
    ParEndpointAud,
    ExpiredExp,
    Exp70MinutesAhead,
    Nbf70MinutesAgo,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Sign {
    #[default]
    Normal,
    Rs256,
    NoneAlg,
    InvalidSignature,
    SecondClientKey,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Pkce {
    /// With PAR only, as the plan asks (FAPI 1 Adv. §5.2.2-18).
    #[default]
    Variant,
    Always,
    Never,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Redirect {
    #[default]
    Normal,
    Reordered,
    WithoutDuplicates,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum ParAssertion {
    /// CreateJWTClientAuthenticationAssertionAndAddToPAREndpointRequest: aud = issuer.
    #[default]
    Issuer,
    ParEndpoint,
    TokenEndpoint,
    IssuerAndTokenEndpoint,
    WrongAud,
    WrongIss,
    WrongSub,
}

/// A placeholder condition (the error page the suite asks a screenshot of) and its
/// requirements.
type Page = (&'static str, &'static [&'static str]);

/// An error check: the condition, its requirements, and the errors it accepts.
type ErrSpec = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

/// Where the authorization request ended up.
enum Arrival {
    /// The PAR endpoint refused the request.
    ParError(Resp),
    Visit(Visit),
}

// ---- small helpers -----------------------------------------------------------------------

fn random_alnum(len: usize) -> String {
    let mut out = String::new();
    while out.len() < len {
        out.extend(
            jose::random_value(len)
                .chars()
                .filter(char::is_ascii_alphanumeric),
        );
    }
    out.truncate(len);
    out
}

fn shannon_bits(s: &str) -> f64 {
    let mut counts = BTreeMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = s.chars().count() as f64;
    let per_char: f64 = counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    per_char * n
}

/// EnsureMinimum*Length: at least 128 bits of characters.
fn min_length(what: &str, v: Option<&str>) -> Check {
    match v {
        None | Some("") => Err(format!("Can't find {what}")),
        Some(v) if v.len() * 8 >= 128 => Ok(format!("{what} is of sufficient length")),
        Some(v) => Err(format!(
            "{what} is not long enough: {} bits, 128 required",
            v.len() * 8
        )),
    }
}

/// EnsureMinimum*Entropy: more than 96 bits of Shannon entropy (the suite's slack on 128).
fn min_entropy(what: &str, v: Option<&str>) -> Check {
    match v {
        None | Some("") => Err(format!("Can't find {what}")),
        Some(v) => {
            let e = shannon_bits(v);
            if e > 96.0 {
                Ok(format!(
                    "{what}: calculated shannon entropy {e:.0} bits seems sufficient"
                ))
            } else {
                Err(format!(
                    "{what}: calculated shannon entropy {e:.0} bits does not meet 96"
                ))
            }
        }
    }
}

fn value_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn status_msg(r: &Resp) -> String {
    format!(
        "HTTP {}: {}",
        r.status,
        r.body.chars().take(300).collect::<String>()
    )
}

fn is_json(r: &Resp) -> bool {
    r.content_type.split(';').next().map(str::trim) == Some("application/json")
}

/// The bit length of a public JWK (RSA modulus, or EC field size).
fn key_bits(jwk: &Value) -> Option<usize> {
    match jwk["kty"].as_str()? {
        "RSA" => {
            let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str()?).ok()?;
            let lead = n.iter().position(|b| *b != 0).unwrap_or(n.len());
            let bytes = &n[lead..];
            let first = *bytes.first()?;
            Some((bytes.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
        }
        "EC" => match jwk["crv"].as_str()? {
            "P-256" => Some(256),
            "P-384" => Some(384),
            "P-521" => Some(521),
            _ => None,
        },
        _ => None,
    }
}

/// AbstractEnsureMinimumKeyLength: RSA 2048, EC 160 bits.
fn min_key_length(keys: &[Value], whose: &str) -> Check {
    for k in keys {
        let bits = key_bits(k);
        let min = if k["kty"] == "EC" { 160 } else { 2048 };
        match bits {
            Some(b) if b < min => {
                return Err(format!(
                    "{whose} key {} is {b} bits, {min} required",
                    k["kid"]
                ))
            }
            _ => {}
        }
    }
    Ok(format!("{whose} keys are long enough"))
}

fn signer_for(client: &Client) -> Result<Signer, String> {
    let cfg = client.signing_key.as_ref().ok_or(format!(
        "client {} has no signing key configured",
        client.client_id
    ))?;
    Signer::load(cfg)
}

// ---- configure -----------------------------------------------------------------------------

/// The configure() of AbstractFAPI1AdvancedFinalServerTestModule and configureClient().
async fn setup(ctx: &mut Ctx<'_>) -> Flow<Fapi> {
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
fn validate_client(ctx: &mut Ctx<'_>, client: &Client) -> Flow<Value> {
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
fn use_party(ctx: &mut Ctx<'_>, party: &Party) {
    ctx.client = party.client.clone();
    ctx.back = party.back.clone();
}

// ---- the authorization request ----------------------------------------------------------

/// CreateAuthorizationRequestSteps with the module's tweaks.
fn create_authorization_request(ctx: &mut Ctx<'_>, f: &mut Fapi, t: &Tweaks) -> Flow {
    let mut p = Map::new();
    p.insert("client_id".into(), json!(ctx.client.client_id));
    let redirect_uri = t
        .redirect_uri
        .clone()
        .unwrap_or(ctx.client.redirect_uri.clone());
    p.insert("redirect_uri".into(), json!(redirect_uri));
    p.insert("scope".into(), json!(SCOPE));
    ctx.log.must_ok(
        "CreateAuthorizationEndpointRequestFromClientInformation",
        &[],
        Ok(format!(
            "client_id, redirect_uri {redirect_uri}, scope {SCOPE}"
        )),
    )?;
    let state_len = t.state_len.or(f.second.then_some(128));
    let state = state_len.map_or_else(|| jose::random_value(16), random_alnum);
    ctx.log
        .must_ok("CreateRandomStateValue", &[], Ok(state.clone()))?;
    ctx.state = None;
    if t.no_state {
        ctx.log.info(
            "AddStateToAuthorizationEndpointRequest",
            "skipped: NOT adding state to request object",
        );
    } else if !t.state_outside_only {
        p.insert("state".into(), json!(state));
        ctx.log.must_ok(
            "AddStateToAuthorizationEndpointRequest",
            &[],
            Ok("state added".into()),
        )?;
        ctx.state = Some(state.clone());
    }
    let nonce = t
        .nonce_len
        .map_or_else(|| jose::random_value(16), random_alnum);
    ctx.log
        .must_ok("CreateRandomNonceValue", &[], Ok(nonce.clone()))?;
    ctx.nonce = None;
    if t.no_nonce || t.nonce_outside_only {
        ctx.log.info(
            "AddNonceToAuthorizationEndpointRequest",
            "skipped: NOT adding nonce to request object",
        );
    } else {
        p.insert("nonce".into(), json!(nonce));
        ctx.log.must_ok(
            "AddNonceToAuthorizationEndpointRequest",
            &[],
            Ok("nonce added".into()),
        )?;
        ctx.nonce = Some(nonce.clone());
    }
    if f.jarm {
        p.insert("response_type".into(), json!("code"));
        ctx.log.must_ok(
            "SetAuthorizationEndpointRequestResponseTypeToCode",
            &[],
            Ok("response_type=code".into()),
        )?;
        p.insert("response_mode".into(), json!("jwt"));
        ctx.log.must_ok(
            "SetAuthorizationEndpointRequestResponseModeToJWT",
            &[],
            Ok("response_mode=jwt".into()),
        )?;
    } else {
        p.insert("response_type".into(), json!("code id_token"));
        ctx.log.must_ok(
            "SetAuthorizationEndpointRequestResponseTypeToCodeIdtoken",
            &[],
            Ok("response_type=code id_token".into()),
        )?;
    }
    f.verifier = None;
    let pkce = match t.pkce {
        Pkce::Variant => f.par,
        Pkce::Always => true,
        Pkce::Never => false,
    };
    if pkce {
        let verifier = jose::random_value(32);
        ctx.log.must_ok(
            "CreateRandomCodeVerifier",
            &["RFC7636-4.1"],
            Ok(verifier.clone()),
        )?;
        p.insert("code_challenge".into(), json!(jose::sha256_b64(&verifier)));
        p.insert("code_challenge_method".into(), json!("S256"));
        ctx.log.must_ok(
            "CreateS256CodeChallenge",
            &[],
            Ok("code_challenge_method S256".into()),
        )?;
        ctx.log.must_ok(
            "AddCodeChallengeToAuthorizationEndpointRequest",
            &["RFC7636-4.3"],
            Ok("code_challenge added".into()),
        )?;
        f.verifier = Some(verifier);
    }
    for tw in &t.request {
        match tw {
            RequestTweak::ReverseScope => {
                let reversed: Vec<&str> = SCOPE.split(' ').rev().collect();
                p.insert("scope".into(), json!(reversed.join(" ")));
                ctx.log.must_ok(
                    "ReverseScopeOrderInAuthorizationEndpointRequest",
                    &["RFC6749-3.3"],
                    Ok(format!("scope {}", reversed.join(" "))),
                )?;
            }
            RequestTweak::ResponseModeQuery => {
                p.insert("response_mode".into(), json!("query"));
                ctx.log.must_ok(
                    "SetAuthorizationEndpointRequestResponseModeToQuery",
                    &[],
                    Ok("response_mode=query".into()),
                )?;
            }
            RequestTweak::PlainPkce => {
                let verifier = jose::random_value(32);
                p.insert("code_challenge".into(), json!(verifier));
                p.insert("code_challenge_method".into(), json!("plain"));
                ctx.log.must_ok(
                    "CreatePlainCodeChallenge",
                    &[],
                    Ok("code_challenge_method plain".into()),
                )?;
                ctx.log.must_ok(
                    "AddCodeChallengeToAuthorizationEndpointRequest",
                    &["RFC7636-4.3"],
                    Ok("plain code_challenge added".into()),
                )?;
                f.verifier = Some(verifier);
            }
            RequestTweak::RemoveRedirectUri => {
                p.remove("redirect_uri");
                ctx.log.info(
                    "RemoveRedirectUriFromAuthorizationEndpointRequest",
                    "redirect_uri removed from the request",
                );
            }
            RequestTweak::BadRedirectUri => {
                p.insert(
                    "redirect_uri".into(),
                    json!("https://junk.io/junk/callback"),
                );
                ctx.log.must_ok(
                    "AddBadRedirectUriToRequestParameters",
                    &[],
                    Ok("redirect_uri https://junk.io/junk/callback".into()),
                )?;
            }
            RequestTweak::BadRequestUri => {
                let v = "urn%3Aexample%3Abwc4JK-ESC0w8acc191e-Y1LTC2";
                p.insert("request_uri".into(), json!(v));
                ctx.log.must_ok(
                    "AddBadRequestUriToAuthorizationRequest",
                    &["PAR-2"],
                    Ok(format!("request_uri {v}")),
                )?;
            }
            RequestTweak::ResponseTypeCode => {
                p.insert("response_type".into(), json!("code"));
                ctx.log.must_ok(
                    "SetAuthorizationEndpointRequestResponseTypeToCode",
                    &[],
                    Ok("response_type=code".into()),
                )?;
                p.remove("response_mode");
                ctx.log.must_ok(
                    "RemoveAuthorizationEndpointRequestResponseMode",
                    &[],
                    Ok("no response_mode".into()),
                )?;
            }
        }
    }
    f.request = p;
    // What the flow's other steps read (the redirect_uri of the token request, the response
    // type of the callback).
    ctx.request = f
        .request
        .iter()
        .map(|(k, v)| (k.clone(), value_str(v)))
        .collect();
    if t.state_outside_only {
        f.request.insert("state".into(), json!(state));
        ctx.request.insert("state".into(), state.clone());
        ctx.state = Some(state);
    }
    if t.nonce_outside_only {
        f.request.insert("nonce".into(), json!(nonce));
        ctx.request.insert("nonce".into(), nonce);
    }
    Ok(())
}

/// CreateAuthorizationRequestObjectSteps with the module's tweaks; signs the object.
fn create_request_object(ctx: &mut Ctx<'_>, f: &mut Fapi, t: &Tweaks) -> Flow {
    let mut c = f.request.clone();
    // Parameters the module adds only to the URL, after signing.
    if t.state_outside_only {
        c.remove("state");
    }
    if t.nonce_outside_only {
        c.remove("nonce");
    }
    ctx.log.must_ok(
        "ConvertAuthorizationEndpointRequestToRequestObject",
        &[],
        Ok(format!(
            "request object claims: {:?}",
            c.keys().collect::<Vec<_>>()
        )),
    )?;
    if t.incorrect_outer_nonce {
        let n = random_alnum(16);
        f.request.insert("nonce".into(), json!(n));
        ctx.request.insert("nonce".into(), n.clone());
        ctx.log.must_ok(
            "AddIncorrectNonceToAuthorizationEndpointRequest",
            &[],
            Ok(format!("nonce outside the object: {n}")),
        )?;
    }
    if t.object.contains(&ObjectTweak::NoScope) {
        c.remove("scope");
        ctx.log.must_ok(
            "RemoveScopeFromRequestObject",
            &[],
            Ok("scope removed".into()),
        )?;
    }
    let now = now();
    if f.second {
        c.insert("iat".into(), json!(now));
        ctx.log
            .must_ok("AddIatToRequestObject", &[], Ok(format!("iat {now}")))?;
    }
    if t.object.contains(&ObjectTweak::NoNbf) {
        ctx.log.info(
            "AddNbfToRequestObject",
            "skipped: NOT adding nbf to request object",
        );
    } else if t.object.contains(&ObjectTweak::Nbf70MinutesAgo) {
        c.insert("nbf".into(), json!(now - 70 * 60));
        ctx.log.must_ok(
            "AddNbfValueIs70MinutesInPastToRequestObject",
            &["FAPI1-ADV-5.2.2-17"],
            Ok("nbf 70 minutes ago".into()),
        )?;
    } else {
        c.insert("nbf".into(), json!(now));
        ctx.log.must_ok(
            "AddNbfToRequestObject",
            &["FAPI1-ADV-5.2.2-17"],
            Ok(format!("nbf {now}")),
        )?;
    }
    if t.object.contains(&ObjectTweak::NoExp) {
        ctx.log.info(
            "AddExpToRequestObject",
            "skipped: NOT adding exp to request object",
        );
    } else if t.object.contains(&ObjectTweak::ExpiredExp) {
        c.insert("exp".into(), json!(now - 3600));
        ctx.log.must_ok(
            "AddExpiredExpToRequestObject",
            &["RFC7519-4.1.4"],
            Ok("exp an hour ago".into()),
        )?;
    } else if t.object.contains(&ObjectTweak::Exp70MinutesAhead) {
        c.insert("exp".into(), json!(now + 70 * 60));
        ctx.log.must_ok(
            "AddExpValueIs70MinutesInFutureToRequestObject",
            &["OIDCC-6.1", "RFC7519-4.1.4"],
            Ok("exp in 70 minutes".into()),
        )?;
    } else {
        c.insert("exp".into(), json!(now + 300));
        ctx.log.must_ok(
            "AddExpToRequestObject",
            &["FAPI1-ADV-5.2.2-13"],
            Ok(format!("exp {}", now + 300)),
        )?;
    }
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    if t.object.contains(&ObjectTweak::BadAud) {
        c.insert("aud".into(), json!("https://www.other1.example.com/"));
        ctx.log.must_ok(
            "AddBadAudToRequestObject",
            &["OIDCC-6.1", "RFC7519-4.1.3"],
            Ok("aud https://www.other1.example.com/".into()),
        )?;
    } else if t.object.contains(&ObjectTweak::MultipleAud) {
        c.insert(
            "aud".into(),
            json!([issuer, "https://other1.example.com", "invalid"]),
        );
        ctx.log.must_ok(
            "AddMultipleAudToRequestObject",
            &["RFC7519-4.1.3"],
            Ok("aud: the issuer and two other values".into()),
        )?;
    } else if t.object.contains(&ObjectTweak::ParEndpointAud) {
        let r = ctx
            .server_str("pushed_authorization_request_endpoint")
            .map(|u| (u.clone(), format!("aud {u}")))
            .ok_or(
                "Could not find pushed_authorization_request_endpoint in the server metadata."
                    .to_string(),
            );
        let aud = ctx.log.must(
            "AddPAREndpointAsAudToRequestObject",
            &["FAPI1-ADV-5.2.2-15", "JAR-4"],
            r,
        )?;
        c.insert("aud".into(), json!(aud));
    } else {
        c.insert("aud".into(), json!(issuer));
        ctx.log.must_ok(
            "AddAudToRequestObject",
            &["FAPI1-ADV-5.2.2-14"],
            Ok(format!("aud {issuer}")),
        )?;
    }
    c.insert("iss".into(), json!(ctx.client.client_id));
    ctx.log.must_ok(
        "AddIssToRequestObject",
        &["OIDCC-6.1"],
        Ok("iss: the client_id".into()),
    )?;
    c.insert("client_id".into(), json!(ctx.client.client_id));
    ctx.log.must_ok(
        "AddClientIdToRequestObject",
        &["FAPI1-ADV-5.2.3-8"],
        Ok("client_id".into()),
    )?;
    if t.object.contains(&ObjectTweak::NoRedirectUri) {
        c.remove("redirect_uri");
        ctx.log.must_ok(
            "RemoveRedirectUriFromRequestObject",
            &[],
            Ok("redirect_uri removed from the object".into()),
        )?;
    }
    f.claims = c.clone();
    let claims = Value::Object(c);
    let key_owner = if t.sign == Sign::SecondClientKey {
        ctx.log
            .block("Sign request object containing client_id for client 1 using JWK for client 2");
        f.two.client.clone()
    } else {
        ctx.client.clone()
    };
    let r = signer_for(&key_owner);
    let signer = ctx.log.must(
        "ExtractJWKsFromStaticClientConfiguration",
        &[],
        r.map(|s| (s, "client key".to_string())),
    )?;
    // The second client's objects carry the media type, in a randomised case (JAR §4).
    let header = if f.second {
        json!({"typ": "OautH-auThZ-REQ+jWt"})
    } else {
        json!({})
    };
    let (condition, r) = match t.sign {
        Sign::NoneAlg => {
            let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
            let p = URL_SAFE_NO_PAD.encode(claims.to_string());
            (
                "SerializeRequestObjectWithNullAlgorithm",
                Ok(format!("{h}.{p}.")),
            )
        }
        Sign::Rs256 => {
            let r = if signer.alg != "PS256" {
                Err(format!("the client key's alg is {}, not PS256", signer.alg))
            } else {
                key_owner
                    .signing_key
                    .as_ref()
                    .ok_or("no signing key".to_string())
                    .and_then(|k| std::fs::read(&k.file).map_err(|e| e.to_string()))
                    .and_then(|der| Signer::from_der("RS256", &signer.kid, &der))
                    .and_then(|rs| rs.sign(json!({}), &claims))
            };
            ("SignRequestObject", r)
        }
        _ => (
            if f.second {
                "SignRequestObjectIncludeMediaType"
            } else {
                "SignRequestObject"
            },
            signer.sign(header, &claims),
        ),
    };
    if t.sign == Sign::Rs256 {
        ctx.log.must_ok(
            "ChangeClientJwksAlgToRS256",
            &["FAPI1-ADV-8.6"],
            Ok("the client key is used with RS256".into()),
        )?;
    }
    let reqs: &[&str] = if f.second { &["JAR-4"] } else { &[] };
    let mut object = ctx.log.must(
        condition,
        reqs,
        r.map(|o| (o, "signed the request object".to_string())),
    )?;
    if t.sign == Sign::InvalidSignature {
        let mut parts: Vec<String> = object.split('.').map(str::to_string).collect();
        let mut sig = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap_or_default();
        if let Some(b) = sig.first_mut() {
            *b ^= 0x01;
        }
        parts[2] = URL_SAFE_NO_PAD.encode(sig);
        object = parts.join(".");
        ctx.log.must_ok(
            "InvalidateRequestObjectSignature",
            &[],
            Ok("a bit of the signature flipped".into()),
        )?;
    }
    if t.state_outside_only {
        ctx.log.must_ok(
            "AddStateToAuthorizationEndpointRequest",
            &[],
            Ok("state added to the URL only".into()),
        )?;
    }
    if t.nonce_outside_only {
        ctx.log.must_ok(
            "AddNonceToAuthorizationEndpointRequest",
            &[],
            Ok("nonce added to the URL only".into()),
        )?;
    }
    f.request_object = object;
    Ok(())
}

/// AbstractBuildRequestObjectRedirectToAuthorizationEndpoint: `name=value` (the object or its
/// request_uri) with the parameters that must or may be repeated outside it.
fn build_redirect(
    ctx: &mut Ctx<'_>,
    f: &Fapi,
    name: &str,
    value: &str,
    mode: Redirect,
    expose_state: bool,
    (condition, reqs): (&str, &[&str]),
) -> Flow<Url> {
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    params.insert(name.into(), value.into());
    for (k, v) in &f.request {
        let outer = value_str(v);
        let inner = f.claims.get(k).map(value_str);
        if k == "state" && expose_state {
            params.insert(k.clone(), outer.clone());
        }
        match mode {
            Redirect::WithoutDuplicates => {
                if k == "client_id" {
                    params.insert(k.clone(), outer);
                }
            }
            _ => {
                if REQUIRED_DUPLICATES.contains(&k.as_str()) || inner.as_deref() != Some(&outer) {
                    params.insert(k.clone(), outer);
                }
            }
        }
    }
    let mut pairs: Vec<(String, String)> = params.into_iter().collect();
    if mode == Redirect::Reordered {
        pairs.reverse();
    }
    let endpoint = ctx.server_str("authorization_endpoint").unwrap_or_default();
    let r = Url::parse(&endpoint)
        .map_err(|e| e.to_string())
        .map(|mut u| {
            u.query_pairs_mut().extend_pairs(pairs.iter());
            let s = format!("Sending to authorization endpoint {u}");
            (u, s)
        });
    ctx.log.must(condition, reqs, r)
}

/// CallPAREndpoint with the module's client authentication.
async fn call_par(ctx: &mut Ctx<'_>, f: &Fapi, t: &Tweaks) -> Flow<Resp> {
    let mut form = vec![("request".to_string(), f.request_object.clone())];
    ctx.log.must_ok(
        "BuildRequestObjectPostToPAREndpoint",
        &[],
        Ok("request=<the request object>".into()),
    )?;
    form.extend(t.par_extra.iter().cloned());
    let auth = if f.mtls {
        AuthOverride::Default
    } else {
        let issuer = ctx.server_str("issuer").unwrap_or_default();
        let token = endpoint(ctx, "token_endpoint").unwrap_or_default();
        let par_endpoint = ctx
            .server_str("pushed_authorization_request_endpoint")
            .unwrap_or_default();
        let mut claims = client_assertion_claims(ctx, json!(token));
        ctx.log.info(
            "CreateClientAuthenticationAssertionClaims",
            format!("{claims}"),
        );
        let (cond, reqs): (&str, &[&str]) = match t.par_assertion {
            ParAssertion::Issuer => {
                claims["aud"] = json!(issuer);
                (
                    "UpdateClientAuthenticationAssertionClaimsWithISSAud",
                    &["PAR-2"],
                )
            }
            ParAssertion::ParEndpoint => {
                claims["aud"] = json!(par_endpoint);
                (
                    "AddPAREndpointAsAudToClientAuthenticationAssertionClaims",
                    &["PAR-2"],
                )
            }
            ParAssertion::TokenEndpoint => {
                claims["aud"] = json!(token);
                (
                    "AddTokenEndpointAsAudToClientAuthenticationAssertionClaims",
                    &["PAR-2"],
                )
            }
            ParAssertion::IssuerAndTokenEndpoint => {
                claims["aud"] = json!([issuer, token]);
                (
                    "AddArrayContainingIssuerAndAnotherValueAsAudToClientAuthenticationAssertionClaims",
                    &["PAR-2", "RFC7519-4.1.3"],
                )
            }
            ParAssertion::WrongAud => {
                claims["aud"] = json!("https://fapidev-rs.authlete.net/api/userinfo");
                (
                    "AddWrongAudToClientAssertionClaims",
                    &["PAR-2", "RFC7523-3"],
                )
            }
            ParAssertion::WrongIss => {
                claims["aud"] = json!(issuer);
                claims["iss"] = json!("wrong-issuer-value");
                (
                    "AddWrongIssToClientAssertionClaims",
                    &["RFC7523-3", "OIDCC-9"],
                )
            }
            ParAssertion::WrongSub => {
                claims["aud"] = json!(issuer);
                claims["sub"] = json!("wrong-sub-value");
                (
                    "SetSubToWrongValueInClientAssertionClaims",
                    &["RFC7523-3", "OIDCC-9"],
                )
            }
        };
        ctx.log
            .must_ok(cond, reqs, Ok(format!("aud {}", claims["aud"])))?;
        AuthOverride::Assertion(claims)
    };
    if t.par_method_put {
        let url = endpoint(ctx, "pushed_authorization_request_endpoint").unwrap_or_default();
        let rb = ctx.back.put(&url).form(&form);
        let r = browser::send(rb).await.map(|x| {
            let s = status_msg(&x);
            (x, s)
        });
        return ctx.log.must("CallPAREndpoint", &["PAR-2.1"], r);
    }
    let r = if f.mtls {
        push_authorization_request(ctx, &form, auth, &[]).await
    } else {
        // With private_key_jwt the request goes to the PAR endpoint itself, without the
        // certificate (performParAuthorizationRequestFlow: mTLS only where the client
        // authenticates with it).
        let url = ctx
            .server_str("pushed_authorization_request_endpoint")
            .unwrap_or_default();
        let bare = ctx.back_without_certificate();
        let with_cert = std::mem::replace(&mut ctx.back, bare);
        let r = post_with_client_auth(ctx, &url, &form, auth, &[]).await;
        ctx.back = with_cert;
        r
    };
    let r = r.map(|x| {
        let s = status_msg(&x);
        (x, s)
    });
    ctx.log.must("CallPAREndpoint", &["PAR-2.1"], r)
}

/// processParResponse: a 201 with a request_uri that expires.
fn process_par_response(ctx: &mut Ctx<'_>, f: &mut Fapi, resp: &Resp) -> Flow {
    let body = resp.json().unwrap_or(Value::Null);
    ctx.log.must_ok(
        "CheckPAREndpointResponse201WithNoError",
        &["PAR-2.2", "PAR-2.3"],
        if resp.status == 201 && body.get("error").is_none() {
            Ok("pushed authorization request endpoint correct response.".into())
        } else {
            Err(format!(
                "Invalid pushed authorization request endpoint response: {}",
                status_msg(resp)
            ))
        },
    )?;
    let uri = body["request_uri"].as_str().map(str::to_string);
    ctx.log.must_ok(
        "CheckForRequestUriValue",
        &["PAR-2.2"],
        uri.clone()
            .map(|u| format!("request_uri {u}"))
            .ok_or("request_uri is missing from the PAR response".into()),
    )?;
    let exp = body["expires_in"].as_i64();
    let r = match exp {
        None => Err("expires_in is missing or empty in pushed authorization response".into()),
        Some(e) if e < 5 => Err("expires_in too short".into()),
        Some(e) if e >= 365 * 86400 => Err("expires_in too long".into()),
        Some(e) => Ok(format!("expires_in {e}")),
    };
    ctx.log
        .check("CheckForPARResponseExpiresIn", Failure, &["PAR-2.2"], r);
    ctx.log.must_ok(
        "ExtractRequestUriFromPARResponse",
        &[],
        Ok("request_uri extracted".into()),
    )?;
    ctx.log.check(
        "EnsureMinimumRequestUriEntropy",
        Failure,
        &["PAR-2.2", "PAR-7.1", "JAR-10.2"],
        min_entropy("request_uri", uri.as_deref()),
    );
    f.request_uri = uri;
    f.par_expires_in = exp;
    Ok(())
}

/// performAuthorizationFlow up to the browser's arrival at the callback (or an error page),
/// or the PAR endpoint's refusal when the module handles it.
async fn authorize(ctx: &mut Ctx<'_>, f: &mut Fapi, t: &Tweaks) -> Flow<Arrival> {
    ctx.log.block(&format!(
        "{}Make request to authorization endpoint",
        f.who()
    ));
    create_authorization_request(ctx, f, t)?;
    create_request_object(ctx, f, t)?;
    let url = if f.par {
        let resp = call_par(ctx, f, t).await?;
        if t.par_error_expected && !(200..300).contains(&resp.status) {
            return Ok(Arrival::ParError(resp));
        }
        process_par_response(ctx, f, &resp)?;
        par_redirect(ctx, f, t.redirect)?
    } else {
        let (cond, mode) = if t.redirect == Redirect::Reordered {
            (
                "BuildRequestObjectByValueRedirectToAuthorizationEndpointReorderedParams",
                Redirect::Reordered,
            )
        } else {
            (
                "BuildRequestObjectByValueRedirectToAuthorizationEndpoint",
                Redirect::Normal,
            )
        };
        let object = f.request_object.clone();
        build_redirect(
            ctx,
            f,
            "request",
            &object,
            mode,
            t.expose_state,
            (cond, &[]),
        )?
    };
    Ok(Arrival::Visit(go(ctx, url).await?))
}

/// BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint (and its variants).
fn par_redirect(ctx: &mut Ctx<'_>, f: &Fapi, mode: Redirect) -> Flow<Url> {
    let cond = match mode {
        Redirect::Normal => "BuildRequestObjectByReferenceRedirectToAuthorizationEndpoint",
        Redirect::Reordered => {
            "BuildRequestObjectByReferenceRedirectToAuthorizationEndpointReorderedParams"
        }
        Redirect::WithoutDuplicates => {
            "BuildRequestObjectByReferenceRedirectToAuthorizationEndpointWithoutDuplicates"
        }
    };
    let uri = f.request_uri.clone().unwrap_or_default();
    build_redirect(ctx, f, "request_uri", &uri, mode, false, (cond, &["PAR-4"]))
}

/// The user's browser opens `url`, logs in and consents.
async fn go(ctx: &mut Ctx<'_>, url: Url) -> Flow<Visit> {
    let redirect_uri = ctx
        .request
        .get("redirect_uri")
        .cloned()
        .unwrap_or(ctx.client.redirect_uri.clone());
    let user = ctx.cfg.user.clone();
    match ctx.browser.visit(url, &redirect_uri, Some(&user)).await {
        Ok(v) => {
            ctx.log.info(
                "performRedirect",
                format!(
                    "browser: {} login page(s), {} consent page(s), then {}",
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

// ---- the callback --------------------------------------------------------------------------

/// The browser came back to the redirect_uri: keeps its query and fragment. An error page
/// instead is the suite's placeholder (`placeholder`: the condition naming what the page must
/// say), checked as far as a machine can; without one the module fails (WaitForCallback).
fn arrive(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    v: &Visit,
    placeholder: Option<(&str, &[&str])>,
) -> Flow<bool> {
    match &v.landing {
        Landing::Callback {
            query, fragment, ..
        } => {
            f.query = query.clone();
            f.fragment = fragment.clone();
            Ok(true)
        }
        Landing::Page { status, url, body } => {
            let text: String = body.chars().take(200).collect();
            match placeholder {
                Some((cond, reqs)) if *status >= 400 && v.login_pages == 0 => {
                    ctx.log.review(
                        cond,
                        reqs,
                        format!("the provider showed an error page (HTTP {status}) and did not redirect: {text}"),
                    );
                    Ok(false)
                }
                Some((cond, reqs)) => {
                    ctx.log.check(
                        cond,
                        Failure,
                        reqs,
                        Err(format!(
                            "expected an error page or a redirect, got HTTP {status} with {} login page(s) at {url}: {text}",
                            v.login_pages
                        )),
                    );
                    Ok(false)
                }
                None => {
                    ctx.log.must_ok(
                        "WaitForCallback",
                        &[],
                        Err(format!(
                            "the provider did not redirect back to the client: HTTP {status} at {url}: {text}"
                        )),
                    )?;
                    Ok(false)
                }
            }
        }
    }
}

/// processCallback: the authorization response, from the JARM JWT in the query or the
/// fragment of the hybrid response.
fn process_callback(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ctx.log.block(&format!(
        "{}Verify authorization endpoint response",
        f.who()
    ));
    if f.jarm {
        if f.allow_plain_jarm_error
            && !f.query.contains_key("response")
            && f.query.contains_key("error")
        {
            ctx.response = f.query.clone();
            ctx.log.must_ok(
                "AddPlainErrorResponseAsAuthorizationEndpointResponseForJARM",
                &[],
                Ok("a plain error response in the query".into()),
            )?;
        } else {
            let expected = expected_query(ctx);
            let q = f.query.clone();
            ctx.response = jarm::authorization_response(ctx, &q, &expected)?;
        }
    } else {
        ctx.response = f.fragment.clone();
        let r = if f.query.contains_key("error") {
            Err("the error is in the URL query, not the fragment".into())
        } else {
            Ok("no error in the URL query".into())
        };
        ctx.log
            .check("RejectErrorInUrlQuery", Failure, &["OAuth2-RT-5"], r);
    }
    reject_code_in_query(ctx, f);
    Ok(())
}

fn reject_code_in_query(ctx: &mut Ctx<'_>, f: &Fapi) {
    let r = if f.query.contains_key("code") {
        Err("the authorization code is in the URL query".into())
    } else {
        Ok("no code in the URL query".into())
    };
    ctx.log
        .check("RejectAuthCodeInUrlQuery", Failure, &["OIDCC-3.3.2.5"], r);
}

/// The query of the redirect_uri itself (the second client's dummy parameters).
fn expected_query(ctx: &Ctx<'_>) -> BTreeMap<String, String> {
    let uri = ctx
        .request
        .get("redirect_uri")
        .cloned()
        .unwrap_or(ctx.client.redirect_uri.clone());
    Url::parse(&uri)
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

/// CheckMatchingCallbackParameters: the redirect_uri's own query comes back unchanged.
fn check_matching_callback_parameters(ctx: &mut Ctx<'_>, f: &Fapi, on_fail: Outcome) -> bool {
    let expected = expected_query(ctx);
    let r = match expected
        .iter()
        .find(|(k, v)| f.query.get(*k) != Some(*v))
    {
        Some((k, v)) => Err(format!(
            "the redirect uri's query parameter {k}={v} did not come back in the callback (the provider must keep the registered redirect uri's query)"
        )),
        None => Ok("Callback parameters successfully verified".into()),
    };
    ctx.log
        .check("CheckMatchingCallbackParameters", on_fail, &[], r)
}

/// onAuthorizationCallbackResponse and handleSuccessfulAuthorizationEndpointResponse.
fn successful_callback(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    check_matching_callback_parameters(ctx, f, Failure);
    let r = if f.query.contains_key("code") {
        Err("state is present in URL query returned from authorization endpoint - hybrid/implicit flow require it to be returned in the URL fragment/hash only".into())
    } else {
        Ok("no code in the URL query".into())
    };
    ctx.log.check(
        "RejectStateInUrlQueryForHybridFlow",
        Failure,
        &["OIDCC-3.3.2.5"],
        r,
    );
    check_if_authorization_endpoint_error(ctx)?;
    let expected: &[&str] = if f.jarm {
        &["code", "state", "session_state", "iss"]
    } else {
        &["code", "state", "id_token", "session_state", "iss"]
    };
    let unexpected: Vec<&String> = ctx
        .response
        .keys()
        .filter(|k| !expected.contains(&k.as_str()))
        .collect();
    let r = if unexpected.is_empty() {
        Ok("authorization endpoint response does not include unexpected parameters".into())
    } else {
        Err(format!(
            "authorization endpoint response includes unexpected parameters: {unexpected:?}"
        ))
    };
    ctx.log.check(
        if f.jarm {
            "ValidateSuccessfulJARMResponseFromAuthorizationEndpoint"
        } else {
            "ValidateSuccessfulHybridResponseFromAuthorizationEndpoint"
        },
        Warning,
        &[],
        r,
    );
    check_state(ctx);
    validate_iss_if_present(ctx);
    extract_code(ctx)?;
    front_channel_id_token(ctx, f, false)
}

fn check_if_authorization_endpoint_error(ctx: &mut Ctx<'_>) -> Flow {
    let r = match ctx.response.get("error") {
        Some(e) => Err(format!(
            "authorization endpoint returned an error: {e} {}",
            ctx.response
                .get("error_description")
                .cloned()
                .unwrap_or_default()
        )),
        None => Ok("no error in the authorization response".into()),
    };
    ctx.log.must_ok("CheckIfAuthorizationEndpointError", &[], r)
}

/// ExtractAuthorizationCodeFromAuthorizationResponse and the code's length and entropy.
fn extract_code(ctx: &mut Ctx<'_>) -> Flow {
    let r = match ctx.response.get("code") {
        Some(c) if !c.is_empty() => Ok((c.clone(), "code found".to_string())),
        _ => Err("no code in the authorization response".into()),
    };
    let code = ctx
        .log
        .must("ExtractAuthorizationCodeFromAuthorizationResponse", &[], r)?;
    ctx.log.check(
        "EnsureMinimumAuthorizationCodeLength",
        Failure,
        &["RFC6749-10.10", "RFC6819-5.1.4.2-2"],
        min_length("authorization code", Some(&code)),
    );
    ctx.log.check(
        "EnsureMinimumAuthorizationCodeEntropy",
        Failure,
        &["RFC6749-10.10", "RFC6819-5.1.4.2-2"],
        min_entropy("authorization code", Some(&code)),
    );
    ctx.code = Some(code);
    Ok(())
}

fn decode_id_token(raw: &str) -> Check<(IdToken, String)> {
    jose::decode(raw).map(|jws| {
        (
            IdToken {
                raw: raw.to_string(),
                claims: jws.claims.clone(),
                jws,
            },
            "id_token extracted".to_string(),
        )
    })
}

/// FAPIValidateIdTokenSigningAlg and EnsureIdTokenContainsKid, after the standard checks.
fn fapi_id_token_checks(ctx: &mut Ctx<'_>) {
    id_token_checks(ctx);
    let Some(t) = ctx.id_token.as_ref() else {
        return;
    };
    let kid = t.jws.header["kid"].as_str().map(str::to_string);
    let alg = t.jws.alg().to_string();
    ctx.log.check(
        "EnsureIdTokenContainsKid",
        Failure,
        &["OIDCC-10.1"],
        kid.map(|k| format!("kid {k}"))
            .ok_or("kid was not found in the ID token header".into()),
    );
    ctx.log.check(
        "FAPIValidateIdTokenSigningAlg",
        Failure,
        &["FAPI1-ADV-8.6"],
        if alg == "PS256" || alg == "ES256" {
            Ok(format!("id_token alg {alg}"))
        } else {
            Err(format!(
                "id_token must be signed with PS256 or ES256, not {alg}"
            ))
        },
    );
}

/// The hash claim `claim` of the current ID token over `value` (ValidateCHash, ...).
fn validate_hash(ctx: &mut Ctx<'_>, claim: &str, value: Option<String>, cond: &str, reqs: &[&str]) {
    let Some(t) = ctx.id_token.as_ref() else {
        return;
    };
    let Some(h) = t.claims[claim].as_str().map(str::to_string) else {
        return;
    };
    let alg = t.jws.alg().to_string();
    let r = match value {
        None => Err(format!("nothing to compare {claim} with")),
        Some(v) => match jose::half_hash(&alg, &v) {
            Some(want) if want == h => Ok(format!("{claim} matches")),
            Some(want) => Err(format!("{claim} {h} does not match ({want})")),
            None => Err(format!("no hash for alg {alg}")),
        },
    };
    ctx.log.check(cond, Failure, reqs, r);
}

fn extract_hash(ctx: &mut Ctx<'_>, claim: &str, cond: &str, severity: Outcome, reqs: &[&str]) {
    let present = ctx
        .id_token
        .as_ref()
        .and_then(|t| t.claims[claim].as_str().map(str::to_string));
    ctx.log.check(
        cond,
        severity,
        reqs,
        present
            .map(|h| format!("{claim} {h}"))
            .ok_or(format!("{claim} is missing from the id_token")),
    );
}

/// The hybrid response's ID token (not with JARM): the standard and FAPI checks, s_hash and
/// c_hash. `no_state`: the request had no state, so there must be no s_hash either.
fn front_channel_id_token(ctx: &mut Ctx<'_>, f: &mut Fapi, no_state: bool) -> Flow {
    if f.jarm {
        return Ok(());
    }
    let r = match ctx.response.get("id_token") {
        None => Err("no id_token in the authorization response".to_string()),
        Some(raw) => decode_id_token(raw),
    };
    let token = ctx.log.must(
        "ExtractIdTokenFromAuthorizationResponse",
        &["FAPI1-ADV-5.2.2.1-4"],
        r,
    )?;
    f.auth_id_token = Some(IdToken {
        raw: token.raw.clone(),
        claims: token.claims.clone(),
        jws: jose::decode(&token.raw).map_err(|_| Stop)?,
    });
    ctx.id_token = Some(token);
    fapi_id_token_checks(ctx);
    if no_state {
        let has = ctx
            .id_token
            .as_ref()
            .is_some_and(|t| t.claims.get("s_hash").is_some());
        ctx.log.check(
            "VerifyNoSHash",
            Failure,
            &["FAPI1-ADV-5.2.2-10"],
            if has {
                Err("s_hash is in the id_token, but no state was sent in the request object".into())
            } else {
                Ok("no s_hash".into())
            },
        );
    } else {
        extract_hash(
            ctx,
            "s_hash",
            "ExtractSHash",
            Failure,
            &["FAPI1-ADV-5.2.2.1-5"],
        );
        let state = ctx.state.clone();
        validate_hash(
            ctx,
            "s_hash",
            state,
            "ValidateSHash",
            &["FAPI1-ADV-5.2.2.1-5"],
        );
    }
    extract_hash(ctx, "c_hash", "ExtractCHash", Failure, &["OIDCC-3.3.2.11"]);
    let code = ctx.code.clone();
    validate_hash(ctx, "c_hash", code, "ValidateCHash", &["OIDCC-3.3.2.11"]);
    Ok(())
}

// ---- the token endpoint ------------------------------------------------------------------

/// How the token request authenticates the client.
enum TokenAuth {
    Default,
    /// private_key_jwt with these claims (the module's change to the defaults).
    Claims(Value),
    /// A client assertion signed with RS256.
    Rs256,
    /// client_id only.
    ClientIdOnly,
    /// This exact client assertion.
    Raw(String),
}

/// createAuthorizationCodeRequest and the call: the code, the client's authentication, the
/// PKCE verifier when asked.
async fn call_token_endpoint_for_code(
    ctx: &mut Ctx<'_>,
    f: &Fapi,
    auth: TokenAuth,
    verifier: bool,
) -> Flow<Resp> {
    create_code_request(ctx);
    let mut form = ctx.token_form.clone();
    if verifier {
        if let Some(v) = &f.verifier {
            form.push(("code_verifier".into(), v.clone()));
            ctx.log.must_ok(
                "AddCodeVerifierToTokenEndpointRequest",
                &["RFC7636-4.5"],
                Ok("code_verifier added".into()),
            )?;
        }
    }
    let url = endpoint(ctx, "token_endpoint").unwrap_or_default();
    let over = match auth {
        TokenAuth::Default => AuthOverride::Default,
        TokenAuth::Claims(c) => AuthOverride::Assertion(c),
        TokenAuth::Raw(jwt) => AuthOverride::RawAssertion(jwt),
        TokenAuth::ClientIdOnly => {
            ctx.log.must_ok(
                "AddClientIdToRequest",
                &["FAPI1-BASE-5.2.2-19"],
                Ok(format!("client_id {}", ctx.client.client_id)),
            )?;
            AuthOverride::None
        }
        TokenAuth::Rs256 => {
            let aud = json!(url);
            let claims = client_assertion_claims(ctx, aud);
            ctx.log.must_ok(
                "CreateClientAuthenticationAssertionClaims",
                &[],
                Ok(format!("{claims}")),
            )?;
            ctx.log.must_ok(
                "ChangeClientJwksAlgToRS256",
                &["FAPI1-ADV-8.6"],
                Ok("the client key is used with RS256".into()),
            )?;
            let r = ctx
                .client
                .signing_key
                .as_ref()
                .ok_or("no signing key".to_string())
                .and_then(|k| {
                    let der = std::fs::read(&k.file).map_err(|e| e.to_string())?;
                    Signer::from_der("RS256", &k.kid, &der)?.sign(json!({}), &claims)
                })
                .map(|j| (j, "client assertion signed with RS256".to_string()));
            let jwt = ctx.log.must("SignClientAuthenticationAssertion", &[], r)?;
            AuthOverride::RawAssertion(jwt)
        }
    };
    let r = post_with_client_auth(ctx, &url, &form, over, &[])
        .await
        .map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        });
    ctx.log.must(
        "CallTokenEndpointAndReturnFullResponse",
        &["FAPI1-BASE-5.2.2-19"],
        r,
    )
}

/// The token endpoint's successful response (processTokenEndpointResponse).
fn process_token_response(ctx: &mut Ctx<'_>, f: &mut Fapi, resp: &Resp) -> Flow {
    ctx.log
        .block(&format!("{}Verify token endpoint response", f.who()));
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
    let at = body["access_token"].as_str().map(str::to_string);
    ctx.log.must_ok(
        "CheckForAccessTokenValue",
        &["FAPI1-BASE-5.2.2-14"],
        at.clone()
            .map(|_| "access_token present".into())
            .ok_or("no access_token".into()),
    )?;
    ctx.access_token = at.clone();
    f.token_type = body["token_type"].as_str().unwrap_or("Bearer").to_string();
    ctx.log.must_ok(
        "ExtractAccessTokenFromTokenResponse",
        &[],
        Ok(format!("token_type {}", f.token_type)),
    )?;
    let has_expires = body.get("expires_in").is_some();
    ctx.log.check(
        "ExtractExpiresInFromTokenEndpointResponse",
        Warning,
        &["RFC6749-5.1"],
        if has_expires {
            Ok("expires_in present".into())
        } else {
            Err("expires_in missing".into())
        },
    );
    if has_expires {
        let r = match body["expires_in"].as_u64() {
            Some(n) if n > 0 => Ok(format!("expires_in {n}")),
            _ => Err(format!(
                "expires_in is not a positive integer: {}",
                body["expires_in"]
            )),
        };
        ctx.log
            .check("ValidateExpiresIn", Failure, &["RFC6749-5.1"], r);
    }
    let rt = body["refresh_token"].as_str().map(str::to_string);
    ctx.log.check(
        "CheckForRefreshTokenValue",
        Info,
        &[],
        rt.as_ref()
            .map(|_| "refresh_token present".into())
            .ok_or("no refresh_token".into()),
    );
    if rt.is_some() {
        ctx.log.check(
            "EnsureMinimumRefreshTokenLength",
            Failure,
            &["RFC6749-10.10"],
            min_length("refresh token", rt.as_deref()),
        );
        ctx.log.check(
            "EnsureMinimumRefreshTokenEntropy",
            Failure,
            &["RFC6749-10.10"],
            min_entropy("refresh token", rt.as_deref()),
        );
    }
    ctx.refresh_token = rt;
    ctx.log.check(
        "EnsureMinimumAccessTokenLength",
        Failure,
        &["FAPI1-BASE-5.2.2-16"],
        min_length("access token", at.as_deref()),
    );
    ctx.log.check(
        "EnsureMinimumAccessTokenEntropy",
        Failure,
        &["FAPI1-BASE-5.2.2-16"],
        min_entropy("access token", at.as_deref()),
    );
    let r = match body["id_token"].as_str() {
        None => Err("no id_token in the token endpoint response".to_string()),
        Some(raw) => decode_id_token(raw),
    };
    ctx.id_token = Some(ctx.log.must(
        "ExtractIdTokenFromTokenResponse",
        &["FAPI1-BASE-5.2.2.1-6", "OIDCC-3.3.2.5"],
        r,
    )?);
    fapi_id_token_checks(ctx);
    if !f.jarm {
        if let (Some(a), Some(t)) = (&f.auth_id_token, &ctx.id_token) {
            let r = if a.claims["sub"] == t.claims["sub"] {
                Ok("authorization endpoint and token endpoint id_token have same sub".into())
            } else {
                Err(format!(
                    "\"sub\" in authorization endpoint id_token ({}) doesn't match with \"sub\" in token endpoint id_token ({})",
                    a.claims["sub"], t.claims["sub"]
                ))
            };
            ctx.log.check(
                "VerifyIdTokenSubConsistentHybridFlow",
                Failure,
                &["OIDCC-2"],
                r,
            );
        }
    }
    extract_hash(ctx, "c_hash", "ExtractCHash", Info, &["OIDCC-3.3.2.11"]);
    extract_hash(
        ctx,
        "s_hash",
        "ExtractSHash",
        Info,
        &["FAPI1-ADV-5.2.2.1-5"],
    );
    extract_hash(ctx, "at_hash", "ExtractAtHash", Info, &["OIDCC-3.3.2.11"]);
    let (code, state, at) = (
        ctx.code.clone(),
        ctx.state.clone(),
        ctx.access_token.clone(),
    );
    validate_hash(ctx, "c_hash", code, "ValidateCHash", &["OIDCC-3.3.2.11"]);
    validate_hash(
        ctx,
        "s_hash",
        state,
        "ValidateSHash",
        &["FAPI1-ADV-5.2.2.1-5"],
    );
    validate_hash(
        ctx,
        "at_hash",
        at.clone(),
        "ValidateAtHash",
        &["OIDCC-3.3.2.11"],
    );
    if !f.jarm {
        ctx.log.block(&format!(
            "{}Verify at_hash in the authorization endpoint id_token",
            f.who()
        ));
        let token_endpoint_id_token = ctx.id_token.take();
        ctx.id_token = f.auth_id_token.as_ref().and_then(|t| {
            jose::decode(&t.raw).ok().map(|jws| IdToken {
                raw: t.raw.clone(),
                claims: t.claims.clone(),
                jws,
            })
        });
        extract_hash(ctx, "at_hash", "ExtractAtHash", Info, &["OIDCC-3.3.2.11"]);
        validate_hash(ctx, "at_hash", at, "ValidateAtHash", &["OIDCC-3.3.2.11"]);
        ctx.id_token = token_endpoint_id_token;
    }
    f.token_body = body;
    Ok(())
}

/// performPostAuthorizationFlow up to the processed token response.
async fn redeem_code(ctx: &mut Ctx<'_>, f: &mut Fapi, auth: TokenAuth) -> Flow {
    ctx.log.block(&format!("{}Call token endpoint", f.who()));
    let verifier = f.verifier.is_some();
    let resp = call_token_endpoint_for_code(ctx, f, auth, verifier).await?;
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus200",
        &[],
        if resp.status == 200 {
            Ok("HTTP 200".into())
        } else {
            Err(format!("token endpoint returned {}", status_msg(&resp)))
        },
    )?;
    process_token_response(ctx, f, &resp)
}

/// The RFC 6749 §5.2 error checks a module names, in its order.
#[derive(Clone, Copy)]
enum TokenErr {
    /// CheckTokenEndpointHttpStatus400.
    Status400,
    /// CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError.
    Status400Or401ForInvalidClient,
    JsonContentType,
    /// The error must be one of these (the condition's name first).
    Error(&'static str, &'static [&'static str]),
    /// CheckTokenEndpointReturnedInvalidClientGrantOrRequestError.
    InvalidClientGrantOrRequest,
    /// ValidateErrorFromTokenEndpointResponseError and the description and uri checks.
    Valid,
}

fn token_error_checks(ctx: &mut Ctx<'_>, resp: &Resp, checks: &[TokenErr]) {
    let body = resp.json().unwrap_or_default();
    let error = body["error"].as_str().map(str::to_string);
    for c in checks {
        match *c {
            TokenErr::Status400 => {
                let r = if resp.status == 400 {
                    Ok("HTTP 400".into())
                } else {
                    Err(format!("expected HTTP 400, got {}", status_msg(resp)))
                };
                ctx.log.check(
                    "CheckTokenEndpointHttpStatus400",
                    Failure,
                    &["RFC6749-5.2"],
                    r,
                );
            }
            TokenErr::Status400Or401ForInvalidClient => {
                let r = match error.as_deref() {
                    None => Err(format!("Couldn't find error field: {}", status_msg(resp))),
                    Some("invalid_client") if resp.status == 400 || resp.status == 401 => {
                        Ok(format!("HTTP {} for invalid_client", resp.status))
                    }
                    Some("invalid_client") => Err(format!(
                        "Invalid http status for error invalid_client: {}, expected 400 or 401",
                        resp.status
                    )),
                    Some(e) if resp.status == 400 => Ok(format!("HTTP 400 for {e}")),
                    Some(e) => Err(format!(
                        "Http status must be 400 for token endpoint errors other than invalid_client: {} for {e}",
                        resp.status
                    )),
                };
                ctx.log.check(
                    "CheckTokenEndpointHttpStatusIs400Allowing401ForInvalidClientError",
                    Failure,
                    &["RFC6749-5.2"],
                    r,
                );
            }
            TokenErr::JsonContentType => {
                let r = if is_json(resp) {
                    Ok("application/json".into())
                } else {
                    Err(format!("Content-Type '{}'", resp.content_type))
                };
                ctx.log.check(
                    "CheckTokenEndpointReturnedJsonContentType",
                    Failure,
                    &["OIDCC-3.1.3.4"],
                    r,
                );
            }
            TokenErr::Error(cond, allowed) => {
                let r = match error.as_deref() {
                    Some(e) if allowed.contains(&e) => Ok(format!("error {e}")),
                    other => Err(format!("expected error {allowed:?}, got {other:?}")),
                };
                ctx.log.check(cond, Failure, &["RFC6749-5.2"], r);
            }
            TokenErr::InvalidClientGrantOrRequest => {
                let r = match (error.as_deref(), resp.status) {
                    (Some("invalid_request" | "invalid_grant"), 400)
                    | (Some("invalid_client"), 400 | 401) => {
                        Ok(format!("{} with HTTP {}", error.clone().unwrap_or_default(), resp.status))
                    }
                    _ => Err(format!(
                        "expected invalid_client (400/401), invalid_grant or invalid_request (400), got {}",
                        status_msg(resp)
                    )),
                };
                ctx.log.check(
                    "CheckTokenEndpointReturnedInvalidClientGrantOrRequestError",
                    Failure,
                    &["RFC6749-5.2"],
                    r,
                );
            }
            TokenErr::Valid => valid_error_body(ctx, &body, "TokenEndpointResponse", "RFC6749-5.2"),
        }
    }
}

/// ValidateErrorFrom<where>Error and its description and uri checks (RFC 6749 §5.2).
fn valid_error_body(ctx: &mut Ctx<'_>, body: &Value, place: &str, req: &str) {
    let valid_codes = [
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
    ];
    let r = match body["error"].as_str() {
        Some(e) if valid_codes.contains(&e) => Ok(format!("error {e} is one of RFC 6749 §5.2")),
        other => Err(format!("error {other:?} is not one of RFC 6749 §5.2")),
    };
    ctx.log.check(
        &format!("ValidateErrorFrom{place}Error"),
        Failure,
        &[req],
        r,
    );
    let desc = body["error_description"].as_str().unwrap_or("");
    let r = if desc.contains(['\r', '\n', '\t']) {
        Err("error_description contains CR, LF or TAB".into())
    } else {
        Ok("no CR/LF/TAB".into())
    };
    ctx.log.check(
        &format!("CheckErrorDescriptionFrom{place}ErrorContainsCRLFTAB"),
        Warning,
        &[req],
        r,
    );
    let ok = desc.bytes().all(|b| {
        b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
    });
    let r = if ok {
        Ok("error_description is valid".into())
    } else {
        Err(format!(
            "error_description has characters outside RFC 6749 §5.2: {desc}"
        ))
    };
    ctx.log.check(
        &format!("ValidateErrorDescriptionFrom{place}Error"),
        Failure,
        &[req],
        r,
    );
    let r = match body["error_uri"].as_str() {
        Some(u) if Url::parse(u).is_err() => Err(format!("error_uri is not a URI: {u}")),
        _ => Ok("error_uri absent or valid".into()),
    };
    ctx.log.check(
        &format!("ValidateErrorUriFrom{place}Error"),
        Failure,
        &[req],
        r,
    );
}

/// The error checks of a PAR refusal (AbstractEnsureSpecifiedErrorFromPushedAuthorizationEndpointResponse).
fn par_error(ctx: &mut Ctx<'_>, resp: &Resp, cond: &str, allowed: &[&str], reqs: &[&str]) {
    let body = resp.json().unwrap_or_default();
    let r = match body["error"].as_str() {
        _ if resp.status != 400 => Err(format!(
            "Invalid pushed authorization request endpoint response http status code: expected 400, got {}",
            status_msg(resp)
        )),
        None => Err("Expected 'error' field not found".into()),
        Some(e) if allowed.contains(&e) => Ok(format!(
            "Pushed Authorization Request Endpoint returned expected 'error' {e}"
        )),
        Some(e) => Err(format!(
            "'error' field has unexpected value: expected {allowed:?}, got {e}"
        )),
    };
    ctx.log.check(cond, Failure, reqs, r);
}

/// CheckParEndpointHttpStatusIs400Allowing401ForInvalidClientError and
/// EnsurePARInvalidClientOrInvalidRequestError.
fn par_client_error(ctx: &mut Ctx<'_>, resp: &Resp) {
    let body = resp.json().unwrap_or_default();
    let error = body["error"].as_str();
    let r = match error {
        None => Err(format!(
            "Expected 'error' field is not present in PAR endpoint response body: {}",
            status_msg(resp)
        )),
        Some("invalid_client") if resp.status == 400 || resp.status == 401 => {
            Ok(format!("HTTP {} for invalid_client", resp.status))
        }
        Some(e) if e != "invalid_client" && resp.status == 400 => Ok(format!("HTTP 400 for {e}")),
        Some(e) => Err(format!("HTTP {} is wrong for PAR error {e}", resp.status)),
    };
    ctx.log.check(
        "CheckParEndpointHttpStatusIs400Allowing401ForInvalidClientError",
        Failure,
        &["PAR-2.3", "RFC6749-5.2"],
        r,
    );
    let r = match error {
        Some(e @ ("invalid_client" | "invalid_request")) => Ok(format!("error {e}")),
        other => Err(format!(
            "expected invalid_client or invalid_request, got {other:?}"
        )),
    };
    ctx.log.check(
        "EnsurePARInvalidClientOrInvalidRequestError",
        Failure,
        &["RFC6749-5.2"],
        r,
    );
}

// ---- the resource ------------------------------------------------------------------------

/// What the resource answered.
struct ResourceResp {
    status: u16,
    content_type: String,
    date: Option<String>,
    interaction_id: Option<String>,
    body: String,
}

/// How to call the resource.
#[derive(Default)]
struct ResourceCall {
    /// The first client adds x-fapi-auth-date and x-fapi-customer-ip-address.
    fapi_headers: bool,
    ipv6: bool,
    token_in_query: bool,
    accept: Option<&'static str>,
    accept_charset: bool,
}

/// CallProtectedResource: the access token (with its token_type) at the UserInfo endpoint,
/// over the current client's TLS connection.
async fn call_resource(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    back: &reqwest::Client,
    token: &str,
    how: &ResourceCall,
) -> Result<ResourceResp, String> {
    let url = endpoint(ctx, "userinfo_endpoint").ok_or("no userinfo_endpoint")?;
    let mut url = Url::parse(&url).map_err(|e| e.to_string())?;
    let mut rb;
    if how.token_in_query {
        url.query_pairs_mut().append_pair("access_token", token);
        rb = back.get(url);
    } else {
        rb = back
            .get(url)
            .header("authorization", format!("{} {token}", f.token_type));
    }
    if how.fapi_headers {
        let date = httpdate_now();
        rb = rb.header("x-fapi-auth-date", date).header(
            "x-fapi-customer-ip-address",
            if how.ipv6 {
                "2001:db8::1"
            } else {
                "198.51.100.119"
            },
        );
    }
    f.interaction_id = uuid_v4();
    rb = rb.header("x-fapi-interaction-id", f.interaction_id.clone());
    if let Some(a) = how.accept {
        rb = rb.header("accept", a);
    }
    if how.accept_charset {
        rb = rb.header("accept-charset", "UTF-8");
    }
    let res = rb
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let header = |n: &str| {
        res.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let status = res.status().as_u16();
    let content_type = header("content-type").unwrap_or_default();
    let date = header("date");
    let interaction_id = header("x-fapi-interaction-id");
    let body = res.text().await.unwrap_or_default();
    Ok(ResourceResp {
        status,
        content_type,
        date,
        interaction_id,
        body,
    })
}

/// An RFC 1123 date for x-fapi-auth-date.
fn httpdate_now() -> String {
    let secs = now();
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{weekday}, {d:02} {month} {y} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds since the epoch of an RFC 1123 date (`Sun, 06 Dec 2026 01:02:03 GMT`).
fn parse_httpdate(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    if parts.len() != 6 || parts[5] != "GMT" {
        return None;
    }
    let d: i64 = parts[1].parse().ok()?;
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = months.iter().position(|x| *x == parts[2])? as i64 + 1;
    let y: i64 = parts[3].parse().ok()?;
    let hms: Vec<i64> = parts[4].split(':').filter_map(|x| x.parse().ok()).collect();
    if hms.len() != 3 {
        return None;
    }
    let (y2, m2) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    Some(days * 86400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

fn uuid_v4() -> String {
    let r = jose::random_value(16);
    let mut b = URL_SAFE_NO_PAD.decode(r).unwrap_or(vec![0; 16]);
    b.resize(16, 0);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn ensure_2xx(ctx: &mut Ctx<'_>, r: &ResourceResp, reqs: &[&str]) {
    let ok = r.status == 200 || r.status == 201;
    ctx.log.check(
        "EnsureHttpStatusCodeIs200or201",
        Failure,
        reqs,
        if ok {
            Ok(format!("HTTP {}", r.status))
        } else {
            Err(format!(
                "resource endpoint returned HTTP {}: {}",
                r.status,
                r.body.chars().take(200).collect::<String>()
            ))
        },
    );
}

fn ensure_4xx(ctx: &mut Ctx<'_>, status: u16, severity: Outcome, reqs: &[&str]) {
    ctx.log.check(
        "EnsureHttpStatusCodeIs4xx",
        severity,
        reqs,
        if (400..500).contains(&status) {
            Ok(format!("endpoint http status code was {status}"))
        } else {
            Err(format!(
                "endpoint returned a different http status than expected: {status}, expected 400 to 499"
            ))
        },
    );
}

/// requestProtectedResource (with FAPI1AdvancedFinal's extra calls for the first client when
/// `extra`).
async fn request_protected_resource(ctx: &mut Ctx<'_>, f: &mut Fapi, extra: bool) -> Flow {
    ctx.log
        .block(&format!("{}Resource server endpoint tests", f.who()));
    let token = ctx.access_token.clone().unwrap_or_default();
    let back = ctx.back.clone();
    let first = !f.second;
    ctx.log.must_ok(
        "CreateEmptyResourceEndpointRequestHeaders",
        &[],
        Ok("headers".into()),
    )?;
    if first {
        ctx.log.must_ok(
            "AddFAPIAuthDateToResourceEndpointRequest",
            &["FAPI1-BASE-6.2.2-3"],
            Ok("x-fapi-auth-date".into()),
        )?;
        ctx.log.must_ok(
            "AddIpV4FapiCustomerIpAddressToResourceEndpointRequest",
            &["FAPI1-BASE-6.2.2-4"],
            Ok("x-fapi-customer-ip-address".into()),
        )?;
    }
    ctx.log.must_ok(
        "AddFAPIInteractionIdToResourceEndpointRequest",
        &["FAPI1-BASE-6.2.2-5"],
        Ok("x-fapi-interaction-id".into()),
    )?;
    let how = ResourceCall {
        fapi_headers: first,
        ..Default::default()
    };
    let r = call_resource(ctx, f, &back, &token, &how).await.map(|x| {
        let s = format!("HTTP {}", x.status);
        (x, s)
    });
    let res = ctx.log.must(
        "CallProtectedResource",
        &["FAPI1-BASE-6.2.1-1", "FAPI1-BASE-6.2.1-3"],
        r,
    )?;
    ensure_2xx(ctx, &res, &[]);
    let r = match res.date.as_deref() {
        None => Err("Date header not found in resource endpoint response".to_string()),
        Some(d) => match parse_httpdate(d) {
            None => Err(format!("Invalid date format: {d}")),
            Some(t) if (t - now()).abs() < 300 => {
                Ok(format!("Date header present and validated: {d}"))
            }
            Some(_) => Err(format!("Excessive difference from current time: {d}")),
        },
    };
    ctx.log.check(
        "CheckForDateHeaderInResourceResponse",
        Failure,
        &["FAPI1-BASE-6.2.1-10"],
        r,
    );
    let r = match res.interaction_id.as_deref() {
        None => {
            Err("x-fapi-interaction-id not found in resource endpoint response headers".to_string())
        }
        Some(i) if is_uuid(i) => Ok(format!("Found x-fapi-interaction-id {i}")),
        Some(i) => Err(format!("Invalid x-fapi-interaction-id - not a UUID: {i}")),
    };
    ctx.log.check(
        "CheckForFAPIInteractionIdInResourceResponse",
        Failure,
        &["FAPI1-BASE-6.2.1-11"],
        r,
    );
    if first {
        let r = match res.interaction_id.as_deref() {
            Some(i) if i.eq_ignore_ascii_case(&f.interaction_id) => {
                Ok("Interaction ID matches, ignoring case".into())
            }
            other => Err(format!(
                "Mismatch between interaction IDs: expected {}, actual {other:?}",
                f.interaction_id
            )),
        };
        ctx.log.check(
            "EnsureMatchingFAPIInteractionId",
            Failure,
            &["FAPI1-BASE-6.2.1-11"],
            r,
        );
    }
    let r = if res
        .content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().ends_with("/json") || t.trim().ends_with("+json"))
    {
        Ok(format!("Content-Type {}", res.content_type))
    } else {
        Err(format!(
            "the resource's Content-Type is '{}', not json",
            res.content_type
        ))
    };
    ctx.log.check(
        "EnsureResourceResponseReturnedJsonContentType",
        Failure,
        &["FAPI1-BASE-6.2.1-9", "FAPI1-BASE-6.2.1-10"],
        r,
    );
    if extra && first {
        verify_access_token_with_resource_endpoint(ctx, f, &back, &token).await?;
    }
    Ok(())
}

/// FAPI1AdvancedFinal.verifyAccessTokenWithResourceEndpoint.
async fn verify_access_token_with_resource_endpoint(
    ctx: &mut Ctx<'_>,
    f: &mut Fapi,
    back: &reqwest::Client,
    token: &str,
) -> Flow {
    let how = ResourceCall {
        fapi_headers: true,
        token_in_query: true,
        ..Default::default()
    };
    let r = match call_resource(ctx, f, back, token, &how).await {
        Err(e) => Err(e),
        Ok(x) if x.status == 400 || x.status == 401 || x.status == 414 => {
            Ok(format!("Resource server refused request: HTTP {}", x.status))
        }
        Ok(x) if x.status < 300 => Err("Got a successful response from the resource endpoint. An access denied error was expected, as the access token was supplied only in the URL query.".into()),
        Ok(x) => Err(format!("unexpected HTTP {} from the resource endpoint", x.status)),
    };
    ctx.log.check(
        "DisallowAccessTokenInQuery",
        Failure,
        &["FAPI1-BASE-6.2.1-4"],
        r,
    );
    ctx.log.must_ok(
        "AddIpV6FapiCustomerIpAddressToResourceEndpointRequest",
        &["FAPI1-BASE-6.2.2-4"],
        Ok("x-fapi-customer-ip-address 2001:db8::1".into()),
    )?;
    ctx.log.must_ok(
        "SetUtf8JsonAcceptHeadersForResourceEndpointRequest",
        &[],
        Ok("Accept: application/json;charset=UTF-8".into()),
    )?;
    let how = ResourceCall {
        fapi_headers: true,
        ipv6: true,
        accept: Some("application/json;charset=UTF-8"),
        accept_charset: true,
        ..Default::default()
    };
    let r = call_resource(ctx, f, back, token, &how).await.map(|x| {
        let s = format!("HTTP {}", x.status);
        (x, s)
    });
    let res = ctx
        .log
        .must("CallProtectedResource", &["RFC7231-5.3.2"], r)?;
    ensure_2xx(ctx, &res, &[]);
    ctx.log.must_ok(
        "SetPermissiveAcceptHeaderForResourceEndpointRequest",
        &[],
        Ok("Accept: application/json, application/*+json, */*".into()),
    )?;
    let how = ResourceCall {
        fapi_headers: true,
        ipv6: true,
        accept: Some("application/json, application/*+json, */*"),
        ..Default::default()
    };
    let r = call_resource(ctx, f, back, token, &how).await.map(|x| {
        let s = format!("HTTP {}", x.status);
        (x, s)
    });
    let res = ctx
        .log
        .must("CallProtectedResource", &["RFC7231-5.3.2"], r)?;
    ensure_2xx(ctx, &res, &[]);
    Ok(())
}

/// switchToClient1AndTryClient2AccessToken: the second client's token over the first client's
/// TLS connection must be refused (RFC 8705 §3).
async fn try_client2_token_with_client1_certificate(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    ctx.log
        .block("Try Client1's MTLS client certificate with Client2's access token");
    let token = ctx.access_token.clone().unwrap_or_default();
    let one = f.one.clone();
    use_party(ctx, &one);
    f.second = false;
    let r = call_resource(ctx, f, &one.back, &token, &ResourceCall::default())
        .await
        .map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        });
    let res = ctx
        .log
        .must("CallProtectedResource", &["FAPIRW-5.2.2-5", "RFC8705-3"], r)?;
    ensure_4xx(
        ctx,
        res.status,
        Failure,
        &["RFC6749-4.1.2", "RFC6750-3.1", "RFC8705-3"],
    );
    Ok(())
}

// ---- flows the modules share ---------------------------------------------------------------

/// The whole flow of AbstractFAPI1AdvancedFinalServerTestModule for the current client, up to
/// and including the resource request.
async fn happy_flow(ctx: &mut Ctx<'_>, f: &mut Fapi, t: &Tweaks, extra: bool) -> Flow {
    let Arrival::Visit(v) = authorize(ctx, f, t).await? else {
        return Err(Stop);
    };
    arrive(ctx, f, &v, None)?;
    process_callback(ctx, f)?;
    successful_callback(ctx, f)?;
    redeem_code(ctx, f, TokenAuth::Default).await?;
    request_protected_resource(ctx, f, extra).await
}

/// performAuthorizationFlowWithSecondClient: the redirect URI with a query, the second key.
fn switch_to_second_client(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
    f.second = true;
    ctx.log.block("Second client: Setup");
    let two = f.two.clone();
    use_party(ctx, &two);
    ctx.log.must_ok(
        "AddRedirectUriQuerySuffix",
        &["RFC6749-3.1.2"],
        Ok(format!("?{REDIRECT_QUERY_SUFFIX}")),
    )?;
    let r = if ctx.client.redirect_uri.ends_with(REDIRECT_QUERY_SUFFIX) {
        Ok(format!("redirect_uri {}", ctx.client.redirect_uri))
    } else {
        Err(format!(
            "the second client's redirect_uri must end with ?{REDIRECT_QUERY_SUFFIX}: {}",
            ctx.client.redirect_uri
        ))
    };
    ctx.log.must_ok("CreateRedirectUri", &["RFC6749-3.1.2"], r)
}

/// The error response checks of the negative modules: state, an error, no unexpected
/// parameters, and the error among `allowed`.
fn error_response_checks(
    ctx: &mut Ctx<'_>,
    state_if_present: bool,
    cond: &str,
    severity: Outcome,
    reqs: &[&str],
    allowed: &[&str],
) {
    if state_if_present && !ctx.response.contains_key("state") {
        ctx.log.info(
            "CheckStateInAuthorizationResponse",
            "skipped: no state in the response",
        );
    } else {
        check_state(ctx);
    }
    ensure_error(ctx);
    unexpected_error_params(ctx);
    error_is_one_of(ctx, cond, severity, reqs, allowed);
}

fn ensure_error(ctx: &mut Ctx<'_>) {
    let r = match ctx.response.get("error") {
        Some(e) if !e.is_empty() => Ok(format!("error: {e}")),
        _ => Err("no 'error' in the authorization endpoint response".into()),
    };
    ctx.log.check(
        "EnsureErrorFromAuthorizationEndpointResponse",
        Failure,
        &["OIDCC-3.1.2.6"],
        r,
    );
}

fn unexpected_error_params(ctx: &mut Ctx<'_>) {
    let expected = [
        "error",
        "error_description",
        "error_uri",
        "state",
        "iss",
        "session_state",
    ];
    let extra: Vec<&String> = ctx
        .response
        .keys()
        .filter(|k| !expected.contains(&k.as_str()))
        .collect();
    let r = if extra.is_empty() {
        Ok("no unexpected parameters".into())
    } else {
        Err(format!("unexpected parameters {extra:?}"))
    };
    ctx.log.check(
        "CheckForUnexpectedParametersInErrorResponseFromAuthorizationEndpoint",
        Warning,
        &["OIDCC-3.1.2.6"],
        r,
    );
}

fn error_is_one_of(
    ctx: &mut Ctx<'_>,
    cond: &str,
    severity: Outcome,
    reqs: &[&str],
    allowed: &[&str],
) {
    let r = match ctx.response.get("error") {
        None => Err("Expected 'error' field not found".into()),
        Some(e) if allowed.contains(&e.as_str()) => Ok(format!(
            "Authorization endpoint returned an expected error: {e}"
        )),
        Some(e) => Err(format!(
            "'error' field has an unexpected value: {e} (expected one of {allowed:?})"
        )),
    };
    ctx.log.check(cond, severity, reqs, r);
}

const INVALID_REQUEST: &[&str] = &["invalid_request"];
const INVALID_REQUEST_OBJECT: &[&str] = &["invalid_request_object"];
const INVALID_REQUEST_URI: &[&str] = &["invalid_request_uri"];
const REQ_OBJ_URI_DENIED: &[&str] = &[
    "invalid_request",
    "invalid_request_object",
    "invalid_request_uri",
    "access_denied",
];
const REQ_URI_DENIED: &[&str] = &["invalid_request", "invalid_request_uri", "access_denied"];
const REQ_OBJ_URI: &[&str] = &[
    "invalid_request",
    "invalid_request_object",
    "invalid_request_uri",
];
const REQ_OR_OBJ: &[&str] = &["invalid_request", "invalid_request_object"];

// ---- the negative modules' shape -----------------------------------------------------------

/// What a module expecting a refusal checks in the authorization response.
#[derive(Clone, Copy)]
struct Refusal {
    /// The placeholder condition: the error page the suite asks a screenshot of.
    page: Page,
    /// processParErrorResponse: the condition and the errors it accepts (None: the module
    /// does not expect the PAR endpoint to refuse).
    par: Option<ErrSpec>,
    /// The error check of the callback: condition, severity, requirements, errors.
    error: (
        &'static str,
        Outcome,
        &'static [&'static str],
        &'static [&'static str],
    ),
    /// A success response is permitted too (it then runs the whole flow).
    success_allowed: bool,
    /// CheckStateInAuthorizationResponse only when the response has a state.
    state_if_present: bool,
    /// The request carried no state inside the object (VerifyNoStateInAuthorizationResponse,
    /// VerifyNoSHash on success).
    no_state: bool,
    allow_plain_jarm_error: bool,
}

impl Refusal {
    fn new(
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
async fn expect_refusal(ctx: &mut Ctx<'_>, t: Tweaks, r: Refusal) -> Flow {
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
async fn success_without_state(ctx: &mut Ctx<'_>, f: &mut Fapi) -> Flow {
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

/// A module that runs the standard flow with `t` (AbstractFAPI1AdvancedFinalServerTestModule
/// with request changes only).
async fn standard(ctx: &mut Ctx<'_>, t: Tweaks) -> Flow {
    let mut f = setup(ctx).await?;
    happy_flow(ctx, &mut f, &t, false).await
}

/// The authorization part of AbstractFAPI1AdvancedFinalPerformTokenEndpoint: up to the
/// checked authorization response.
async fn authorized(ctx: &mut Ctx<'_>, t: &Tweaks) -> Flow<Fapi> {
    let mut f = setup(ctx).await?;
    let Arrival::Visit(v) = authorize(ctx, &mut f, t).await? else {
        return Err(Stop);
    };
    arrive(ctx, &mut f, &v, None)?;
    process_callback(ctx, &mut f)?;
    successful_callback(ctx, &mut f)?;
    ctx.log.block("Call token endpoint");
    Ok(f)
}

const INVALID_CLIENT_OR_REQUEST: &[&str] = &["invalid_client", "invalid_request"];

// ---- the plan ------------------------------------------------------------------------------

/// Which variants a module runs in (its @VariantNotApplicable).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Only {
    All,
    ByValue,
    Pushed,
    PrivateKeyJwt,
    PushedPrivateKeyJwt,
}

/// FAPI1AdvancedFinalTestPlan's modules in its order (plain_fapi: the UK, Brazil, KSA and AU
/// modules are not applicable).
const MODULES: &[(&str, Only)] = &[
    ("fapi1-advanced-final-discovery-end-point-verification", Only::All),
    ("fapi1-advanced-final", Only::All),
    ("fapi1-advanced-final-user-rejects-authentication", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-multiple-aud-succeeds", Only::All),
    ("fapi1-advanced-final-ensure-authorization-request-without-state-success", Only::All),
    ("fapi1-advanced-final-ensure-valid-pkce-succeeds", Only::ByValue),
    ("fapi1-advanced-final-ensure-other-scope-order-succeeds", Only::All),
    ("fapi1-advanced-final-access-token-type-header-case-sensitivity", Only::All),
    ("fapi1-advanced-final-ensure-response-mode-query", Only::All),
    ("fapi1-advanced-final-ensure-different-nonce-inside-and-outside-request-object", Only::All),
    ("fapi1-advanced-final-ensure-registered-redirect-uri", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-long-nonce", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-64-char-nonce-success", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-long-state", Only::All),
    ("fapi1-advanced-final-ensure-request-object-without-exp-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-without-nbf-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-without-scope-fails", Only::All),
    ("fapi1-advanced-final-state-only-outside-request-object-not-used", Only::All),
    ("fapi1-advanced-final-ensure-request-object-without-nonce-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-without-redirect-uri-fails", Only::All),
    ("fapi1-advanced-final-ensure-expired-request-object-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-bad-aud-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-exp-over-60-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-nbf-over-60-fails", Only::All),
    ("fapi1-advanced-final-ensure-signed-request-object-with-RS256-fails", Only::All),
    ("fapi1-advanced-final-ensure-request-object-signature-algorithm-is-not-none", Only::All),
    ("fapi1-advanced-final-ensure-request-object-with-invalid-signature-fails", Only::All),
    ("fapi1-advanced-final-ensure-matching-key-in-authorization-request", Only::All),
    ("fapi1-advanced-final-ensure-authorization-request-without-request-object-fails", Only::All),
    ("fapi1-advanced-final-ensure-redirect-uri-in-authorization-request", Only::All),
    ("fapi1-advanced-final-ensure-response-type-code-fails", Only::All),
    ("fapi1-advanced-final-ensure-client-id-in-token-endpoint", Only::All),
    ("fapi1-advanced-final-ensure-mtls-holder-of-key-required", Only::All),
    ("fapi1-advanced-final-ensure-authorization-code-is-bound-to-client", Only::All),
    ("fapi1-advanced-final-attempt-reuse-authorisation-code-after-one-second", Only::All),
    ("fapi1-advanced-final-ensure-signed-client-assertion-with-RS256-fails", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-in-token-endpoint", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-with-exp-is-5-minutes-in-past-fails", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-with-wrong-aud-fails", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-with-no-sub-fails", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-with-wrong-iss-fails", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-with-wrong-sub-fails", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-ensure-client-assertion-with-iss-aud-succeeds", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-refresh-token", Only::All),
    ("fapi1-advanced-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds", Only::Pushed),
    ("fapi1-advanced-final-par-attempt-reuse-request_uri", Only::Pushed),
    ("fapi1-advanced-final-par-attempt-to-use-expired-request_uri", Only::Pushed),
    ("fapi1-advanced-final-par-test-pushed-authorization-url-as-audience-for-client-JWT-assertion", Only::PushedPrivateKeyJwt),
    ("fapi1-advanced-final-par-token-endpoint-url-as-audience-for-client-JWT-assertion", Only::PushedPrivateKeyJwt),
    ("fapi1-advanced-final-test-array-as-audience-for-client-JWT-assertion", Only::PrivateKeyJwt),
    ("fapi1-advanced-final-par-ensure-client-assertion-with-wrong-aud-fails", Only::PushedPrivateKeyJwt),
    ("fapi1-advanced-final-par-ensure-client-assertion-with-wrong-iss-fails", Only::PushedPrivateKeyJwt),
    ("fapi1-advanced-final-par-ensure-client-assertion-with-wrong-sub-fails", Only::PushedPrivateKeyJwt),
    ("fapi1-advanced-final-par-attempt-to-use-request_uri-for-different-client", Only::Pushed),
    ("fapi1-advanced-final-par-authorization-request-containing-request_uri-form-param", Only::Pushed),
    ("fapi1-advanced-final-par-attempt-invalid-http-method", Only::Pushed),
    ("fapi1-advanced-final-par-ensure-pkce-required", Only::Pushed),
    ("fapi1-advanced-final-ensure-pkce-code-verifier-required", Only::Pushed),
    ("fapi1-advanced-final-incorrect-pkce-code-verifier-rejected", Only::Pushed),
    ("fapi1-advanced-final-par-plain-pkce-rejected", Only::Pushed),
    ("fapi1-advanced-final-par-pushed-authorization-url-as-audience-in-request-object", Only::Pushed),
    ("fapi1-advanced-final-par-attempt-invalid-redirect_uri", Only::Pushed),
    ("fapi1-advanced-final-par-authorization-request-containing-request_uri", Only::Pushed),
    ("fapi1-advanced-final-par-without-duplicate-parameters", Only::Pushed),
];

/// The plan's entries: plain_fapi × client_auth_type × fapi_auth_request_method ×
/// fapi_response_mode, each with the modules the suite runs for that variant.
pub fn plan_entries() -> Vec<crate::plans::Entry> {
    let mut out = Vec::new();
    for (auth, role) in [
        (ClientAuth::PrivateKeyJwt, "fapi1_private_key_jwt"),
        (ClientAuth::Mtls, "fapi1_mtls"),
    ] {
        for method in ["by_value", "pushed"] {
            for mode in ["plain_response", "jarm"] {
                let pushed = method == "pushed";
                let pkjwt = auth == ClientAuth::PrivateKeyJwt;
                for (module, only) in MODULES {
                    let applies = match only {
                        Only::All => true,
                        Only::ByValue => !pushed,
                        Only::Pushed => pushed,
                        Only::PrivateKeyJwt => pkjwt,
                        Only::PushedPrivateKeyJwt => pushed && pkjwt,
                    };
                    if !applies {
                        continue;
                    }
                    let mut e = crate::plans::Entry::oidcc(
                        module,
                        auth,
                        if mode == "jarm" {
                            "code"
                        } else {
                            "code id_token"
                        },
                        "default",
                    );
                    e.client_role = Some(role);
                    e.variant = vec![
                        ("fapi_profile", "plain_fapi"),
                        ("client_auth_type", auth.name()),
                        ("fapi_auth_request_method", method),
                        ("fapi_response_mode", mode),
                    ];
                    out.push(e);
                }
            }
        }
    }
    out
}

type ModuleFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Flow> + Send + 'a>>;

/// The plan's modules by name.
pub fn dispatch<'a, 'b: 'a>(name: &str, ctx: &'a mut Ctx<'b>) -> Option<ModuleFuture<'a>> {
    Some(match name {
        "fapi1-advanced-final-discovery-end-point-verification" => Box::pin(fapi1_advanced_final_discovery_end_point_verification(ctx)),
        "fapi1-advanced-final" => Box::pin(fapi1_advanced_final(ctx)),
        "fapi1-advanced-final-user-rejects-authentication" => Box::pin(fapi1_advanced_final_user_rejects_authentication(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-multiple-aud-succeeds" => Box::pin(fapi1_advanced_final_ensure_request_object_with_multiple_aud_succeeds(ctx)),
        "fapi1-advanced-final-ensure-authorization-request-without-state-success" => Box::pin(fapi1_advanced_final_ensure_authorization_request_without_state_success(ctx)),
        "fapi1-advanced-final-ensure-valid-pkce-succeeds" => Box::pin(fapi1_advanced_final_ensure_valid_pkce_succeeds(ctx)),
        "fapi1-advanced-final-ensure-other-scope-order-succeeds" => Box::pin(fapi1_advanced_final_ensure_other_scope_order_succeeds(ctx)),
        "fapi1-advanced-final-access-token-type-header-case-sensitivity" => Box::pin(fapi1_advanced_final_access_token_type_header_case_sensitivity(ctx)),
        "fapi1-advanced-final-ensure-response-mode-query" => Box::pin(fapi1_advanced_final_ensure_response_mode_query(ctx)),
        "fapi1-advanced-final-ensure-different-nonce-inside-and-outside-request-object" => Box::pin(fapi1_advanced_final_ensure_different_nonce_inside_and_outside_request_object(ctx)),
        "fapi1-advanced-final-ensure-registered-redirect-uri" => Box::pin(fapi1_advanced_final_ensure_registered_redirect_uri(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-long-nonce" => Box::pin(fapi1_advanced_final_ensure_request_object_with_long_nonce(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-64-char-nonce-success" => Box::pin(fapi1_advanced_final_ensure_request_object_with_64_char_nonce_success(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-long-state" => Box::pin(fapi1_advanced_final_ensure_request_object_with_long_state(ctx)),
        "fapi1-advanced-final-ensure-request-object-without-exp-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_without_exp_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-without-nbf-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_without_nbf_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-without-scope-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_without_scope_fails(ctx)),
        "fapi1-advanced-final-state-only-outside-request-object-not-used" => Box::pin(fapi1_advanced_final_state_only_outside_request_object_not_used(ctx)),
        "fapi1-advanced-final-ensure-request-object-without-nonce-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_without_nonce_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-without-redirect-uri-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_without_redirect_uri_fails(ctx)),
        "fapi1-advanced-final-ensure-expired-request-object-fails" => Box::pin(fapi1_advanced_final_ensure_expired_request_object_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-bad-aud-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_with_bad_aud_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-exp-over-60-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_with_exp_over_60_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-nbf-over-60-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_with_nbf_over_60_fails(ctx)),
        "fapi1-advanced-final-ensure-signed-request-object-with-RS256-fails" => Box::pin(fapi1_advanced_final_ensure_signed_request_object_with_rs256_fails(ctx)),
        "fapi1-advanced-final-ensure-request-object-signature-algorithm-is-not-none" => Box::pin(fapi1_advanced_final_ensure_request_object_signature_algorithm_is_not_none(ctx)),
        "fapi1-advanced-final-ensure-request-object-with-invalid-signature-fails" => Box::pin(fapi1_advanced_final_ensure_request_object_with_invalid_signature_fails(ctx)),
        "fapi1-advanced-final-ensure-matching-key-in-authorization-request" => Box::pin(fapi1_advanced_final_ensure_matching_key_in_authorization_request(ctx)),
        "fapi1-advanced-final-ensure-authorization-request-without-request-object-fails" => Box::pin(fapi1_advanced_final_ensure_authorization_request_without_request_object_fails(ctx)),
        "fapi1-advanced-final-ensure-redirect-uri-in-authorization-request" => Box::pin(fapi1_advanced_final_ensure_redirect_uri_in_authorization_request(ctx)),
        "fapi1-advanced-final-ensure-response-type-code-fails" => Box::pin(fapi1_advanced_final_ensure_response_type_code_fails(ctx)),
        "fapi1-advanced-final-ensure-client-id-in-token-endpoint" => Box::pin(fapi1_advanced_final_ensure_client_id_in_token_endpoint(ctx)),
        "fapi1-advanced-final-ensure-mtls-holder-of-key-required" => Box::pin(fapi1_advanced_final_ensure_mtls_holder_of_key_required(ctx)),
        "fapi1-advanced-final-ensure-authorization-code-is-bound-to-client" => Box::pin(fapi1_advanced_final_ensure_authorization_code_is_bound_to_client(ctx)),
        "fapi1-advanced-final-attempt-reuse-authorisation-code-after-one-second" => Box::pin(fapi1_advanced_final_attempt_reuse_authorisation_code_after_one_second(ctx)),
        "fapi1-advanced-final-ensure-signed-client-assertion-with-RS256-fails" => Box::pin(fapi1_advanced_final_ensure_signed_client_assertion_with_rs256_fails(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-in-token-endpoint" => Box::pin(fapi1_advanced_final_ensure_client_assertion_in_token_endpoint(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-with-exp-is-5-minutes-in-past-fails" => Box::pin(fapi1_advanced_final_ensure_client_assertion_with_exp_is_5_minutes_in_past_fails(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-with-wrong-aud-fails" => Box::pin(fapi1_advanced_final_ensure_client_assertion_with_wrong_aud_fails(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-with-no-sub-fails" => Box::pin(fapi1_advanced_final_ensure_client_assertion_with_no_sub_fails(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-with-wrong-iss-fails" => Box::pin(fapi1_advanced_final_ensure_client_assertion_with_wrong_iss_fails(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-with-wrong-sub-fails" => Box::pin(fapi1_advanced_final_ensure_client_assertion_with_wrong_sub_fails(ctx)),
        "fapi1-advanced-final-ensure-client-assertion-with-iss-aud-succeeds" => Box::pin(fapi1_advanced_final_ensure_client_assertion_with_iss_aud_succeeds(ctx)),
        "fapi1-advanced-final-refresh-token" => Box::pin(fapi1_advanced_final_refresh_token(ctx)),
        "fapi1-advanced-final-par-ensure-reused-request-uri-prior-to-auth-completion-succeeds" => Box::pin(fapi1_advanced_final_par_ensure_reused_request_uri_prior_to_auth_completion_succeeds(ctx)),
        "fapi1-advanced-final-par-attempt-reuse-request_uri" => Box::pin(fapi1_advanced_final_par_attempt_reuse_request_uri(ctx)),
        "fapi1-advanced-final-par-attempt-to-use-expired-request_uri" => Box::pin(fapi1_advanced_final_par_attempt_to_use_expired_request_uri(ctx)),
        "fapi1-advanced-final-par-test-pushed-authorization-url-as-audience-for-client-JWT-assertion" => Box::pin(fapi1_advanced_final_par_test_pushed_authorization_url_as_audience_for_client_jwt_assertion(ctx)),
        "fapi1-advanced-final-par-token-endpoint-url-as-audience-for-client-JWT-assertion" => Box::pin(fapi1_advanced_final_par_token_endpoint_url_as_audience_for_client_jwt_assertion(ctx)),
        "fapi1-advanced-final-test-array-as-audience-for-client-JWT-assertion" => Box::pin(fapi1_advanced_final_test_array_as_audience_for_client_jwt_assertion(ctx)),
        "fapi1-advanced-final-par-ensure-client-assertion-with-wrong-aud-fails" => Box::pin(fapi1_advanced_final_par_ensure_client_assertion_with_wrong_aud_fails(ctx)),
        "fapi1-advanced-final-par-ensure-client-assertion-with-wrong-iss-fails" => Box::pin(fapi1_advanced_final_par_ensure_client_assertion_with_wrong_iss_fails(ctx)),
        "fapi1-advanced-final-par-ensure-client-assertion-with-wrong-sub-fails" => Box::pin(fapi1_advanced_final_par_ensure_client_assertion_with_wrong_sub_fails(ctx)),
        "fapi1-advanced-final-par-attempt-to-use-request_uri-for-different-client" => Box::pin(fapi1_advanced_final_par_attempt_to_use_request_uri_for_different_client(ctx)),
        "fapi1-advanced-final-par-authorization-request-containing-request_uri-form-param" => Box::pin(fapi1_advanced_final_par_authorization_request_containing_request_uri_form_param(ctx)),
        "fapi1-advanced-final-par-attempt-invalid-http-method" => Box::pin(fapi1_advanced_final_par_attempt_invalid_http_method(ctx)),
        "fapi1-advanced-final-par-ensure-pkce-required" => Box::pin(fapi1_advanced_final_par_ensure_pkce_required(ctx)),
        "fapi1-advanced-final-ensure-pkce-code-verifier-required" => Box::pin(fapi1_advanced_final_ensure_pkce_code_verifier_required(ctx)),
        "fapi1-advanced-final-incorrect-pkce-code-verifier-rejected" => Box::pin(fapi1_advanced_final_incorrect_pkce_code_verifier_rejected(ctx)),
        "fapi1-advanced-final-par-plain-pkce-rejected" => Box::pin(fapi1_advanced_final_par_plain_pkce_rejected(ctx)),
        "fapi1-advanced-final-par-pushed-authorization-url-as-audience-in-request-object" => Box::pin(fapi1_advanced_final_par_pushed_authorization_url_as_audience_in_request_object(ctx)),
        "fapi1-advanced-final-par-attempt-invalid-redirect_uri" => Box::pin(fapi1_advanced_final_par_attempt_invalid_redirect_uri(ctx)),
        "fapi1-advanced-final-par-authorization-request-containing-request_uri" => Box::pin(fapi1_advanced_final_par_authorization_request_containing_request_uri(ctx)),
        "fapi1-advanced-final-par-without-duplicate-parameters" => Box::pin(fapi1_advanced_final_par_without_duplicate_parameters(ctx)),
        _ => return None,
    })
}
