//! The authorization request (CreateAuthorizationRequestSteps), DPoP key binding with
//! dpop_jkt, and the signed request object of the Message Signing plan.

use super::*;

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
