//! The module context (the suite's environment) and the condition sequences the OIDCC modules
//! share (AbstractOIDCCServerTest: configure, authorization request, callback, token endpoint,
//! ID token checks, UserInfo).

pub mod ciba;
pub mod discovery;
pub mod dynamic;
pub mod dynamic_client;
pub mod fapi1;
pub mod fapi2;
pub mod jarm;
pub mod logout;
pub mod oidcc;
pub mod request_uri;
pub mod tls;

use crate::browser::{self, Browser, Landing, Resp, Visit};
use crate::config::{Client, Config};
use crate::jose;
use crate::log::{Check, Flow, Log, Stop};
use crate::plans::Entry;
use crate::report::Outcome::{self, Failure, Info, Warning};
use serde_json::Value;
use std::collections::BTreeMap;
use url::Url;

/// The client authentication variant (`client_auth_type`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClientAuth {
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
    /// RFC 8705 `tls_client_auth`: the client's certificate on the connection.
    Mtls,
}

impl ClientAuth {
    /// The suite's variant value.
    pub fn name(self) -> &'static str {
        match self {
            ClientAuth::ClientSecretBasic => "client_secret_basic",
            ClientAuth::ClientSecretPost => "client_secret_post",
            ClientAuth::PrivateKeyJwt => "private_key_jwt",
            ClientAuth::Mtls => "mtls",
        }
    }
}

/// How one back-channel request authenticates the client: as the variant says, or as a
/// negative module bends it.
#[derive(Clone, Debug)]
pub enum AuthOverride {
    /// The variant's method (private_key_jwt: CreateClientAuthenticationAssertionClaims).
    Default,
    /// private_key_jwt with these assertion claims, signed with the client's key.
    Assertion(Value),
    /// private_key_jwt with exactly this `client_assertion`.
    RawAssertion(String),
    /// Only `client_id` in the form: no secret, assertion or certificate check asked for.
    None,
}

pub struct IdToken {
    pub raw: String,
    pub claims: Value,
    pub jws: jose::Jws,
}

/// The environment of one module run.
pub struct Ctx<'a> {
    pub cfg: &'a Config,
    pub log: Log,
    pub ca: Option<reqwest::Certificate>,
    pub back: reqwest::Client,
    pub browser: Browser,
    pub auth: ClientAuth,
    /// The response_type variant of the module.
    pub response_type: &'static str,
    /// The response_mode variant: `default` or `form_post`.
    pub response_mode: &'static str,
    pub client: Client,
    pub server: Value,
    pub server_jwks: Value,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// The authorization request as sent (name → value).
    pub request: BTreeMap<String, String>,
    /// The authorization endpoint response (callback parameters).
    pub response: BTreeMap<String, String>,
    pub code: Option<String>,
    pub token_form: Vec<(String, String)>,
    pub token_response: Option<Resp>,
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<IdToken>,
    pub userinfo: Option<Value>,
    /// oidcc-server also checks at_hash in the authorization endpoint's ID token
    /// (OIDCCServerTest.performAuthorizationEndpointIdTokenValidation).
    pub check_front_channel_at_hash: bool,
    /// The condition that builds the redirect to the authorization endpoint from `request`.
    pub redirect_builder: &'static str,
    /// The plan's variant values for this run (`fapi_auth_request_method` → `pushed`, ...).
    pub variant: BTreeMap<String, String>,
    /// The configured client role this module runs as (`<role>_2` is its second client).
    pub role: String,
    /// The module's name (`oidcc-refresh-token`, ...).
    pub module: &'static str,
    /// With client_registration=dynamic_client: the clients this run registered (registration
    /// responses), deleted at the end (dynamic_client.rs).
    pub registered: Vec<Value>,
    /// With client_registration=dynamic_client: the registered second client (`client2`).
    pub registered_client2: Option<Client>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        cfg: &'a Config,
        ca: Option<reqwest::Certificate>,
        entry: &Entry,
    ) -> Result<Ctx<'a>, String> {
        let role = entry.role();
        let client = cfg.client(&role)?.clone();
        Ok(Ctx {
            cfg,
            log: Log::default(),
            back: back_channel(ca.as_ref(), &client)?,
            browser: Browser::new(ca.as_ref()),
            ca,
            auth: entry.auth,
            response_type: entry.response_type,
            response_mode: entry.response_mode,
            client,
            server: Value::Null,
            server_jwks: Value::Null,
            scope: "openid".into(),
            state: None,
            nonce: None,
            request: BTreeMap::new(),
            response: BTreeMap::new(),
            code: None,
            token_form: Vec::new(),
            token_response: None,
            access_token: None,
            refresh_token: None,
            id_token: None,
            userinfo: None,
            check_front_channel_at_hash: false,
            redirect_builder: "BuildPlainRedirectToAuthorizationEndpoint",
            variant: entry
                .variant
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            role,
            module: entry.module,
            registered: Vec::new(),
            registered_client2: None,
        })
    }

    pub fn variant_is(&self, name: &str, value: &str) -> bool {
        self.variant.get(name).is_some_and(|v| v == value)
    }

    /// The suite's second client (`client2`): the one registered in Configure, or the role's
    /// `_2` client.
    pub fn client2(&self) -> Result<Client, String> {
        match &self.registered_client2 {
            Some(c) => Ok(c.clone()),
            None => self.cfg.client(&format!("{}_2", self.role)).cloned(),
        }
    }

    /// The current client's signing key.
    pub fn signer(&self) -> Result<jose::Signer, String> {
        let key = self.client.signing_key.as_ref().ok_or(format!(
            "client {} has no signing_key configured",
            self.client.client_id
        ))?;
        jose::Signer::load(key)
    }

    /// A back-channel HTTP client presenting `client`'s certificate (none if it has none).
    pub fn back_for(&self, client: &Client) -> Result<reqwest::Client, String> {
        back_channel(self.ca.as_ref(), client)
    }

    /// A back-channel HTTP client that presents no certificate.
    pub fn back_without_certificate(&self) -> reqwest::Client {
        browser::client(self.ca.as_ref(), false)
    }

    /// Whether back-channel requests carry a client certificate (so go to the
    /// `mtls_endpoint_aliases`, RFC 8705 §5).
    pub fn presents_certificate(&self) -> bool {
        self.client.tls.is_some()
    }

    /// A fresh browser: no cookies, so no session at the provider.
    pub fn new_browser(&mut self) {
        self.browser = Browser::new(self.ca.as_ref());
    }

    pub fn server_str(&self, name: &str) -> Option<String> {
        self.server[name].as_str().map(str::to_string)
    }
}

/// A back-channel client with `client`'s TLS certificate when it has one.
fn back_channel(
    ca: Option<&reqwest::Certificate>,
    client: &Client,
) -> Result<reqwest::Client, String> {
    let identity = match &client.tls {
        None => None,
        Some(t) => {
            let read =
                |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
            let mut pem = read(&t.cert_file)?;
            pem.push(b'\n');
            pem.extend(read(&t.key_file)?);
            Some(
                reqwest::Identity::from_pem(&pem)
                    .map_err(|e| format!("client certificate of {}: {e}", client.client_id))?,
            )
        }
    };
    Ok(browser::client_with_identity(ca, false, identity))
}

/// The endpoint `name` of the discovery document, or its `mtls_endpoint_aliases` entry when
/// the client presents a certificate (RFC 8705 §5).
pub fn endpoint(ctx: &Ctx<'_>, name: &str) -> Option<String> {
    let alias = ctx.server["mtls_endpoint_aliases"][name].as_str();
    match alias {
        Some(a) if ctx.presents_certificate() => Some(a.to_string()),
        _ => ctx.server_str(name),
    }
}

pub fn json_array_strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    })
}

// ---- configure -------------------------------------------------------------------------

/// GetDynamicServerConfiguration: fetch and parse the discovery document.
pub async fn get_dynamic_server_configuration(ctx: &mut Ctx<'_>) -> Flow<Resp> {
    let url = ctx.cfg.discovery_url.clone();
    let r = browser::send(ctx.back.get(&url)).await;
    let r = r.and_then(|resp| match resp.json() {
        Some(v) if v.is_object() => Ok(((resp, v), format!("fetched {url}"))),
        _ => Err(format!(
            "discovery document is not a JSON object (HTTP {})",
            resp.status
        )),
    });
    let (resp, doc) = ctx
        .log
        .must("GetDynamicServerConfiguration", &["OIDCD-4"], r)?;
    ctx.server = doc;
    Ok(resp)
}

/// The suite's standard setup for an OIDCC module (AbstractOIDCCServerTest.configure).
pub async fn configure(ctx: &mut Ctx<'_>) -> Flow {
    if ctx.variant_is("client_registration", "dynamic_client") {
        // The dynamic plan's modules register their client, and read the server's
        // configuration, before the module's body runs (dynamic.rs).
        if !ctx.server.is_null() {
            return Ok(());
        }
        return dynamic_client::configure(ctx).await;
    }
    ctx.log.block("Configure");
    configure_server_and_keys(ctx).await?;
    ctx.log.must_ok(
        "GetStaticClientConfiguration",
        &[],
        Ok(format!("client_id {}", ctx.client.client_id)),
    )?;
    complete_client_configuration_for_auth(ctx)
}

/// The server half of AbstractOIDCCServerTest.configure: discovery, its sanity checks and the
/// server's keys.
pub async fn configure_server_and_keys(ctx: &mut Ctx<'_>) -> Flow {
    get_dynamic_server_configuration(ctx).await?;
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
    Ok(())
}

/// completeClientConfiguration: scope `openid`, then the variant's client authentication
/// must be advertised (ConfigureClientFor...).
pub fn complete_client_configuration_for_auth(ctx: &mut Ctx<'_>) -> Flow {
    ctx.log.must_ok(
        "SetScopeInClientConfigurationToOpenId",
        &[],
        Ok("scope: openid".into()),
    )?;
    ctx.scope = "openid".into();
    let method = registered_auth_method(ctx.auth);
    let supported = json_array_strings(&ctx.server["token_endpoint_auth_methods_supported"]);
    let cond = match ctx.auth {
        ClientAuth::ClientSecretBasic => "EnsureServerConfigurationSupportsClientSecretBasic",
        ClientAuth::ClientSecretPost => "EnsureServerConfigurationSupportsClientSecretPost",
        ClientAuth::PrivateKeyJwt => "EnsureServerConfigurationSupportsPrivateKeyJwt",
        ClientAuth::Mtls => "EnsureServerConfigurationSupportsMTLS",
    };
    let r = match supported {
        // RFC 8414: when omitted the default is client_secret_basic.
        None if ctx.auth == ClientAuth::ClientSecretBasic => Ok(
            "token_endpoint_auth_methods_supported absent: defaults to client_secret_basic".into(),
        ),
        Some(list) if list.iter().any(|m| m == method) => Ok(format!("{method} is supported")),
        _ => Err(format!(
            "{method} is not listed in token_endpoint_auth_methods_supported"
        )),
    };
    ctx.log.check(cond, Failure, &[], r);
    Ok(())
}

/// FetchServerKeys.
pub async fn fetch_server_keys(ctx: &mut Ctx<'_>) -> Flow {
    let jwks_uri = ctx.server_str("jwks_uri");
    let r = match jwks_uri {
        None => Err("no jwks_uri in the server configuration".to_string()),
        Some(u) => browser::send(ctx.back.get(&u))
            .await
            .and_then(|resp| match resp.json() {
                Some(v) if v["keys"].is_array() => Ok((v, format!("fetched {u}"))),
                _ => Err(format!(
                    "jwks_uri did not return a JWK set (HTTP {})",
                    resp.status
                )),
            }),
    };
    ctx.server_jwks = ctx.log.must("FetchServerKeys", &[], r)?;
    Ok(())
}

/// ValidateJwksSequence and the key id checks (OIDCC-10.1, RFC 7517 §4.5).
pub fn check_server_jwks(ctx: &mut Ctx<'_>) {
    check_server_jwks_as(ctx, Warning);
}

/// check_server_jwks, with CheckServerKeysIsValid failing as `keys_valid` (a FAILURE in
/// oidcc-server-rotate-keys).
pub fn check_server_jwks_as(ctx: &mut Ctx<'_>, keys_valid: Outcome) {
    let keys = ctx.server_jwks["keys"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let r = if keys.is_empty() {
        Err("the server JWKS has no keys".to_string())
    } else {
        Ok(format!("{} keys", keys.len()))
    };
    ctx.log.check("CheckServerKeysIsValid", keys_valid, &[], r);
    ctx.log.check(
        "ValidateServerJWKs",
        Failure,
        &["RFC7517-4", "RFC7518-6"],
        jwks_structurally_valid(&keys),
    );
    let private = ["d", "p", "q", "dp", "dq", "qi", "k"];
    let r = match keys
        .iter()
        .find(|k| private.iter().any(|p| k.get(*p).is_some()) || k["kty"] == "oct")
    {
        Some(k) => Err(format!(
            "key {} has private or symmetric material",
            k["kid"]
        )),
        None => Ok("no private or symmetric keys".into()),
    };
    ctx.log.check(
        "ValidateJwksDoesNotContainPrivateOrSymmetricKeys",
        Failure,
        &["RFC7517-1.1"],
        r,
    );
    let r = match keys.iter().find(|k| !k["kty"].is_string()) {
        Some(k) => Err(format!("key without kty: {k}")),
        None => Ok("every key has a kty".into()),
    };
    ctx.log
        .check("ValidateJwksSequence", Failure, &["RFC7517-1.1"], r);
    let r = if keys.iter().all(|k| k["kid"].is_string()) {
        Ok("every key has a kid".into())
    } else {
        Err("a key in the server JWKS has no kid".into())
    };
    ctx.log
        .check("CheckForKeyIdInServerJWKs", Failure, &["OIDCC-10.1"], r);
    let mut kids: Vec<&str> = keys.iter().filter_map(|k| k["kid"].as_str()).collect();
    let n = kids.len();
    kids.sort();
    kids.dedup();
    let r = if kids.len() == n {
        Ok("kids are distinct".into())
    } else {
        Err("two keys share a kid".into())
    };
    ctx.log.check(
        "CheckDistinctKeyIdValueInServerJWKs",
        Failure,
        &["RFC7517-4.5"],
        r,
    );
}

// ---- authorization request ---------------------------------------------------------------

/// How a module shapes its authorization request (the suite's CreateAuthorizationRequestSteps
/// with the module's skips and additions).
pub struct Req {
    pub response_type: Option<&'static str>,
    pub nonce: bool,
    pub extra: Vec<(String, String)>,
    pub redirect_uri: Option<String>,
}

impl Default for Req {
    fn default() -> Self {
        Req {
            response_type: Some("code"),
            nonce: true,
            extra: Vec::new(),
            redirect_uri: None,
        }
    }
}

pub fn create_authorization_request(ctx: &mut Ctx<'_>, req: &Req) -> Flow {
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
        Ok(format!("client_id, redirect_uri, scope={}", ctx.scope)),
    )?;
    let state = jose::random_value(16);
    ctx.log
        .must_ok("CreateRandomStateValue", &[], Ok(state.clone()))?;
    p.insert("state".into(), state.clone());
    ctx.log.must_ok(
        "AddStateToAuthorizationEndpointRequest",
        &[],
        Ok("state added".into()),
    )?;
    ctx.state = Some(state);
    ctx.nonce = None;
    if req.nonce {
        let nonce = jose::random_value(16);
        ctx.log
            .must_ok("CreateRandomNonceValue", &[], Ok(nonce.clone()))?;
        p.insert("nonce".into(), nonce.clone());
        ctx.log.must_ok(
            "AddNonceToAuthorizationEndpointRequest",
            &[],
            Ok("nonce added".into()),
        )?;
        ctx.nonce = Some(nonce);
    } else {
        ctx.log.info(
            "AddNonceToAuthorizationEndpointRequest",
            "skipped: NOT adding nonce to request",
        );
    }
    match req.response_type {
        Some(_) => {
            // SetAuthorizationEndpointRequestResponseTypeFromEnvironment: the variant's.
            let rt = ctx.response_type;
            p.insert("response_type".into(), rt.into());
            ctx.log.must_ok(
                "SetAuthorizationEndpointRequestResponseTypeFromEnvironment",
                &[],
                Ok(format!("response_type={rt}")),
            )?;
        }
        None => ctx.log.info(
            "SetAuthorizationEndpointRequestResponseTypeFromEnvironment",
            "skipped: Miss out the response_type",
        ),
    }
    if ctx.response_mode == "form_post" {
        p.insert("response_mode".into(), "form_post".into());
        ctx.log.must_ok(
            "SetAuthorizationEndpointRequestResponseModeToFormPost",
            &["OAuth2-FormPost-2"],
            Ok("response_mode=form_post".into()),
        )?;
    }
    for (k, v) in &req.extra {
        p.insert(k.clone(), v.clone());
    }
    ctx.request = p;
    Ok(())
}

/// BuildPlainRedirectToAuthorizationEndpoint (or the module's `redirect_builder`).
pub fn authorization_url(ctx: &mut Ctx<'_>) -> Flow<Url> {
    let endpoint = ctx.server_str("authorization_endpoint").unwrap_or_default();
    let r = Url::parse(&endpoint)
        .map_err(|e| e.to_string())
        .map(|mut u| {
            u.query_pairs_mut().extend_pairs(ctx.request.iter());
            let s = u.to_string();
            (u, s)
        });
    ctx.log.must(ctx.redirect_builder, &[], r)
}

/// The user's browser visits the authorization URL: logs in and consents if `interact`.
pub async fn visit(ctx: &mut Ctx<'_>, interact: bool) -> Flow<Visit> {
    let url = authorization_url(ctx)?;
    let redirect_uri = ctx.request.get("redirect_uri").cloned().unwrap_or_default();
    let user = ctx.cfg.user.clone();
    let r = ctx
        .browser
        .visit(url, &redirect_uri, interact.then_some(&user))
        .await;
    match r {
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

/// The browser must have come back to the redirect_uri (the suite waits for its callback).
pub fn expect_callback(ctx: &mut Ctx<'_>, v: &Visit) -> Flow {
    match &v.landing {
        Landing::Callback {
            form: Some(fields), ..
        } => {
            // response_mode=form_post: the parameters are the posted form's fields.
            ctx.response = fields.clone();
            Ok(())
        }
        Landing::Callback {
            query, fragment, ..
        } if ctx.response_mode == "form_post"
            && ctx.request.contains_key("response_type")
            && !(query.is_empty() && fragment.is_empty()) =>
        {
            // The suite's callback for form_post reads only the POST body: a response in the
            // redirect URL never reaches it.
            ctx.log.must_ok(
                "WaitForFormPostCallback",
                &["OAuth2-FormPost-2"],
                Err(format!(
                    "response_mode=form_post was asked for, but the response came in the redirect URL: {}",
                    v_url(&v.landing)
                )),
            )
        }
        Landing::Callback {
            query, fragment, ..
        } => {
            // Without a response_type in the request (oidcc-response-type-missing) the
            // response is in the query too.
            if ctx.response_type == "code" || !ctx.request.contains_key("response_type") {
                ctx.response = query.clone();
                return Ok(());
            }
            // Response types returning tokens answer in the fragment (OAuth 2.0 Multiple
            // Response Types §5); the query must carry neither a code nor an error.
            ctx.response = fragment.clone();
            let r = if query.contains_key("code") {
                Err("the authorization code is in the URL query, not the fragment".into())
            } else {
                Ok("no code in the URL query".into())
            };
            ctx.log
                .check("RejectAuthCodeInUrlQuery", Failure, &["OIDCC-3.3.2.5"], r);
            let r = if query.contains_key("error") {
                Err("the error is in the URL query, not the fragment".into())
            } else {
                Ok("no error in the URL query".into())
            };
            ctx.log
                .check("RejectErrorInUrlQuery", Failure, &["OAuth2-RT-5"], r);
            Ok(())
        }
        Landing::Page { status, url, body } => {
            let text: String = body.chars().take(300).collect();
            ctx.log.must_ok(
                "WaitForCallback",
                &[],
                Err(format!(
                    "the provider did not redirect back to the client: HTTP {status} at {url}: {text}"
                )),
            )
        }
    }
}

fn v_url(l: &Landing) -> String {
    match l {
        Landing::Callback { url, .. } => url.to_string(),
        Landing::Page { url, .. } => url.clone(),
    }
}

/// AbstractOIDCCServerTest.onAuthorizationCallbackResponse (code flow, query response).
pub fn process_callback(ctx: &mut Ctx<'_>) -> Flow {
    ctx.log.block("Verify authorization endpoint response");
    check_matching_callback_parameters(ctx);
    validate_iss_if_present(ctx);
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
    ctx.log
        .must_ok("CheckIfAuthorizationEndpointError", &[], r)?;
    check_state(ctx);
    if !response_type_includes(ctx, "code") {
        return front_channel_tokens(ctx);
    }
    let r = match ctx.response.get("code") {
        Some(c) if !c.is_empty() => Ok((c.clone(), "code found".to_string())),
        _ => Err("no code in the authorization response".into()),
    };
    ctx.code = Some(
        ctx.log
            .must("ExtractAuthorizationCodeFromAuthorizationResponse", &[], r)?,
    );
    front_channel_tokens(ctx)
}

/// CheckMatchingCallbackParameters: the query of the redirect_uri the request named comes back
/// in the redirect (RFC 6749 §3.1.2: the query component is retained). Only redirect URIs of
/// code-flow clients have a query here, so the callback's query is the response.
fn check_matching_callback_parameters(ctx: &mut Ctx<'_>) {
    let redirect_uri = ctx.request.get("redirect_uri").cloned().unwrap_or_default();
    let own: Vec<(String, String)> = Url::parse(&redirect_uri)
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let missing: Vec<String> = own
        .iter()
        .filter(|(k, v)| ctx.response.get(k) != Some(v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let r = if missing.is_empty() {
        Ok(format!(
            "Callback parameters successfully verified ({} from the redirect_uri)",
            own.len()
        ))
    } else {
        Err(format!(
            "the redirect_uri's query parameters must be present in the redirect back, but these are not: {}",
            missing.join(", ")
        ))
    };
    ctx.log
        .check("CheckMatchingCallbackParameters", Failure, &[], r);
}

/// Whether the module's response_type includes `part` (`code`, `token`, `id_token`).
pub fn response_type_includes(ctx: &Ctx<'_>, part: &str) -> bool {
    ctx.response_type.split(' ').any(|p| p == part)
}

/// The tokens of the authorization response itself (AbstractOIDCCServerTest
/// onAuthorizationCallbackResponse and handleSuccessfulAuthorizationEndpointResponse):
/// the access token, and the ID token with its checks and c_hash (OIDC Core §3.3.2.11).
fn front_channel_tokens(ctx: &mut Ctx<'_>) -> Flow {
    if response_type_includes(ctx, "token") {
        let r = match ctx.response.get("access_token") {
            Some(t) if !t.is_empty() => Ok((t.clone(), "access_token found".to_string())),
            _ => Err("no access_token in the authorization response".to_string()),
        };
        ctx.access_token = Some(ctx.log.must(
            "ExtractAccessTokenFromAuthorizationResponse",
            &[],
            r,
        )?);
    }
    if !response_type_includes(ctx, "id_token") {
        return Ok(());
    }
    let r = match ctx.response.get("id_token") {
        None => Err("no id_token in the authorization response".to_string()),
        Some(raw) => jose::decode(raw).map(|jws| {
            (
                IdToken {
                    raw: raw.clone(),
                    claims: jws.claims.clone(),
                    jws,
                },
                "id_token extracted".to_string(),
            )
        }),
    };
    let token = ctx
        .log
        .must("ExtractIdTokenFromAuthorizationResponse", &[], r)?;
    let (alg, c_hash, at_hash) = (
        token.jws.alg().to_string(),
        token.claims["c_hash"].as_str().map(str::to_string),
        token.claims["at_hash"].as_str().map(str::to_string),
    );
    ctx.id_token = Some(token);
    id_token_checks(ctx);
    if ctx.check_front_channel_at_hash {
        // OIDC Core §3.3.2.11: at_hash is REQUIRED when an access token is returned with it.
        let severity = if response_type_includes(ctx, "token") {
            Failure
        } else {
            Info
        };
        let r = at_hash
            .clone()
            .map(|h| format!("at_hash {h}"))
            .ok_or("at_hash is missing from the ID token".to_string());
        ctx.log
            .check("ExtractAtHash", severity, &["OIDCC-3.3.2.11"], r);
        if let (Some(h), Some(at)) = (at_hash, ctx.access_token.clone()) {
            let r = match jose::half_hash(&alg, &at) {
                Some(want) if want == h => Ok("at_hash matches the access token".into()),
                Some(want) => Err(format!(
                    "at_hash {h} does not match the access token ({want})"
                )),
                None => Err(format!("no hash for alg {alg}")),
            };
            ctx.log
                .check("ValidateAtHash", Failure, &["OIDCC-3.3.2.11"], r);
        }
    }
    if let Some(code) = ctx.code.clone() {
        let r = c_hash
            .clone()
            .map(|h| format!("c_hash {h}"))
            .ok_or("c_hash is missing from the ID token".to_string());
        ctx.log
            .check("ExtractCHash", Failure, &["OIDCC-3.3.2.11"], r);
        if let Some(h) = c_hash {
            let r = match jose::half_hash(&alg, &code) {
                Some(want) if want == h => Ok("c_hash matches the code".into()),
                Some(want) => Err(format!("c_hash {h} does not match the code ({want})")),
                None => Err(format!("no hash for alg {alg}")),
            };
            ctx.log
                .check("ValidateCHash", Failure, &["OIDCC-3.3.2.11"], r);
        }
    }
    Ok(())
}

/// The resource request made with the access token of the authorization response, before
/// the token endpoint (handleSuccessfulAuthorizationEndpointResponse).
pub async fn front_channel_resource(ctx: &mut Ctx<'_>) -> Flow {
    if response_type_includes(ctx, "token") {
        request_protected_resource(ctx).await?;
    }
    Ok(())
}

pub fn validate_iss_if_present(ctx: &mut Ctx<'_>) {
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let r = match ctx.response.get("iss") {
        None => Ok("No 'iss' value in authorization response.".into()),
        Some(i) if *i == issuer => Ok("'iss' parameter in authorization response matches server's issuer value.".into()),
        Some(i) => Err(format!(
            "'iss' parameter in authorization response does not match server's issuer value (expected {issuer}, actual {i})"
        )),
    };
    ctx.log.check(
        "ValidateIssIfPresentInAuthorizationResponse",
        Failure,
        &["OAuth2-iss-2"],
        r,
    );
}

pub fn check_state(ctx: &mut Ctx<'_>) {
    let actual = ctx.response.get("state");
    let r = match (&ctx.state, actual) {
        (None, None) => Ok("No state in response to check".into()),
        (None, Some(_)) => {
            Err("No state value was sent, but a state in response was returned".into())
        }
        (Some(e), Some(a)) if e == a => Ok("State in response correctly returned".into()),
        (Some(_), None) => Err("State was passed in request, but is missing from response".into()),
        (Some(e), Some(a)) => Err(format!(
            "State in response did not match (expected {e}, actual {a})"
        )),
    };
    ctx.log
        .check("CheckStateInAuthorizationResponse", Failure, &[], r);
}

// ---- token endpoint ------------------------------------------------------------------------

/// CreateTokenEndpointRequestForAuthorizationCodeGrant and the client authentication.
pub fn create_code_request(ctx: &mut Ctx<'_>) {
    let code = ctx.code.clone().unwrap_or_default();
    let redirect_uri = ctx.request.get("redirect_uri").cloned().unwrap_or_default();
    ctx.token_form = vec![
        ("grant_type".into(), "authorization_code".into()),
        ("code".into(), code),
        ("redirect_uri".into(), redirect_uri),
    ];
    ctx.log.info(
        "CreateTokenEndpointRequestForAuthorizationCodeGrant",
        "grant_type=authorization_code, code, redirect_uri",
    );
}

/// The `token_endpoint_auth_method` a client of the variant registers.
pub fn registered_auth_method(auth: ClientAuth) -> &'static str {
    match auth {
        ClientAuth::Mtls => "tls_client_auth",
        other => other.name(),
    }
}

/// Sends `form` to the token endpoint with the client's authentication.
pub async fn call_token_endpoint(
    ctx: &mut Ctx<'_>,
    form: &[(String, String)],
) -> Result<Resp, String> {
    let endpoint = endpoint(ctx, "token_endpoint").unwrap_or_default();
    post_with_client_auth(ctx, &endpoint, form, AuthOverride::Default, &[]).await
}

/// CreateClientAuthenticationAssertionClaims: iss = sub = client_id, `aud`, a fresh `jti`,
/// `nbf` = `iat` = now, `exp` a minute later.
pub fn client_assertion_claims(ctx: &Ctx<'_>, aud: Value) -> Value {
    let now = now();
    serde_json::json!({
        "iss": ctx.client.client_id, "sub": ctx.client.client_id, "aud": aud,
        "jti": jose::random_value(15), "nbf": now, "iat": now, "exp": now + 60,
    })
}

/// SignClientAuthenticationAssertion with the client's key.
pub fn sign_client_assertion(ctx: &Ctx<'_>, claims: &Value) -> Result<String, String> {
    ctx.signer()?.sign(Value::Null, claims)
}

/// POSTs `form` to `url` authenticating the client as `auth` says (basic, post, an assertion,
/// or the certificate the back channel presents), with extra `headers` (DPoP).
pub async fn post_with_client_auth(
    ctx: &mut Ctx<'_>,
    url: &str,
    form: &[(String, String)],
    auth: AuthOverride,
    headers: &[(String, String)],
) -> Result<Resp, String> {
    let mut form = form.to_vec();
    let secret = ctx.client.client_secret.clone().unwrap_or_default();
    let mut rb = ctx.back.post(url);
    let assertion = match (&auth, ctx.auth) {
        (AuthOverride::None, _) => {
            ctx.log.info(
                "AddClientIdToTokenEndpointRequest",
                "client_id only: no client authentication",
            );
            form.push(("client_id".into(), ctx.client.client_id.clone()));
            None
        }
        (AuthOverride::RawAssertion(a), _) => Some(a.clone()),
        (AuthOverride::Assertion(claims), _) => Some(sign_client_assertion(ctx, claims)?),
        (AuthOverride::Default, ClientAuth::PrivateKeyJwt) => {
            let aud = endpoint(ctx, "token_endpoint").unwrap_or_default();
            let claims = client_assertion_claims(ctx, aud.into());
            ctx.log.info(
                "CreateClientAuthenticationAssertionClaims",
                format!("aud {}", claims["aud"]),
            );
            Some(sign_client_assertion(ctx, &claims)?)
        }
        (AuthOverride::Default, ClientAuth::ClientSecretBasic) => {
            ctx.log.info(
                "AddBasicAuthClientSecretToRequest",
                "HTTP Basic with the client secret",
            );
            // RFC 6749 §2.3.1: form-urlencode id and secret before Basic.
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", enc(&ctx.client.client_id), enc(&secret));
            use base64::Engine as _;
            let b = base64::engine::general_purpose::STANDARD.encode(pair);
            rb = rb.header("authorization", format!("Basic {b}"));
            None
        }
        (AuthOverride::Default, ClientAuth::ClientSecretPost) => {
            ctx.log.info(
                "AddFormBasedClientSecretToRequest",
                "client_id and client_secret in the form",
            );
            form.push(("client_id".into(), ctx.client.client_id.clone()));
            form.push(("client_secret".into(), secret));
            None
        }
        (AuthOverride::Default, ClientAuth::Mtls) => {
            ctx.log.info(
                "AddClientIdToTokenEndpointRequest",
                "client_id in the form; the client's certificate on the TLS connection",
            );
            form.push(("client_id".into(), ctx.client.client_id.clone()));
            None
        }
    };
    if let Some(a) = assertion {
        ctx.log.info(
            "AddClientAssertionToTokenEndpointRequest",
            "client_assertion_type jwt-bearer and the signed client_assertion",
        );
        form.push((
            "client_assertion_type".into(),
            "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into(),
        ));
        form.push(("client_assertion".into(), a));
    }
    for (k, v) in headers {
        rb = rb.header(k.as_str(), v.as_str());
    }
    browser::send(rb.form(&form)).await
}

/// CallPAREndpoint: pushes the authorization request `params` (RFC 9126 §2.1) with the
/// client's authentication.
pub async fn push_authorization_request(
    ctx: &mut Ctx<'_>,
    params: &[(String, String)],
    auth: AuthOverride,
    headers: &[(String, String)],
) -> Result<Resp, String> {
    let url = endpoint(ctx, "pushed_authorization_request_endpoint")
        .ok_or("no pushed_authorization_request_endpoint in the server configuration")?;
    post_with_client_auth(ctx, &url, params, auth, headers).await
}

/// AbstractOIDCCServerTest.requestAuthorizationCode: the code for tokens, with the standard
/// ID token checks.
pub async fn exchange_code(ctx: &mut Ctx<'_>) -> Flow {
    // The implicit flow has no code and no token endpoint (performPostAuthorizationFlow).
    if !response_type_includes(ctx, "code") {
        return Ok(());
    }
    ctx.log.block("Token endpoint");
    create_code_request(ctx);
    let form = ctx.token_form.clone();
    let r = call_token_endpoint(ctx, &form).await;
    let resp = ctx.log.must(
        "CallTokenEndpointAndReturnFullResponse",
        &[],
        r.map(|x| {
            let s = format!("HTTP {}", x.status);
            (x, s)
        }),
    )?;
    ctx.token_response = Some(resp.clone());
    ctx.log.must_ok(
        "CheckTokenEndpointHttpStatus200",
        &[],
        if resp.status == 200 {
            Ok("HTTP 200".into())
        } else {
            Err(format!(
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
            Err(format!("token endpoint error: {body}"))
        } else {
            Ok("no error".into())
        },
    )?;
    accept_token_response(ctx, &body)?;
    id_token_checks(ctx);
    Ok(())
}

/// ExtractExpiresInFromTokenEndpointResponse (`missing_expiry` when absent: INFO in the OIDC
/// plans, WARNING in FAPI 2), ValidateExpiresIn and CheckForRefreshTokenValue; keeps the
/// refresh token.
pub fn check_expiry_and_refresh_token(ctx: &mut Ctx<'_>, body: &Value, missing_expiry: Outcome) {
    let has_expires = body.get("expires_in").is_some();
    ctx.log.check(
        "ExtractExpiresInFromTokenEndpointResponse",
        missing_expiry,
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
}

/// The access token, expiry, refresh token and ID token of a successful token response.
pub fn accept_token_response(ctx: &mut Ctx<'_>, body: &Value) -> Flow {
    let at = body["access_token"].as_str().map(str::to_string);
    ctx.log.must_ok(
        "CheckForAccessTokenValue",
        &[],
        at.clone()
            .map(|_| "access_token present".into())
            .ok_or("no access_token".into()),
    )?;
    ctx.access_token = at;
    ctx.log.must_ok(
        "ExtractAccessTokenFromTokenResponse",
        &[],
        Ok("extracted".into()),
    )?;
    check_expiry_and_refresh_token(ctx, body, Info);
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
    ctx.id_token = Some(ctx.log.must(
        "ExtractIdTokenFromTokenResponse",
        &["OIDCC-3.1.3.3", "OIDCC-3.3.3.3"],
        r,
    )?);
    Ok(())
}

const STRING_CLAIMS: &[&str] = &[
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
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
];
const ADDRESS_MEMBERS: &[&str] = &[
    "formatted",
    "street_address",
    "locality",
    "region",
    "postal_code",
    "country",
];

/// AbstractValidateOpenIdStandardClaims: the standard claims (OIDC Core §5.1) have their
/// types.
/// AbstractValidateJWKs.checkJWKs (JWKUtil's structural scan): every key has a known `kty`,
/// the members RFC 7518 §6 requires for it, unpadded base64url values, and EC coordinates of
/// the curve's size.
pub fn jwks_structurally_valid(keys: &[Value]) -> Check {
    let b64url = |v: &Value| {
        v.as_str().is_some_and(|s| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    };
    for (i, k) in keys.iter().enumerate() {
        let required: &[&str] = match k["kty"].as_str() {
            Some("RSA") => &["n", "e"],
            Some("EC") => &["crv", "x", "y"],
            Some("OKP") => &["crv", "x"],
            Some("oct") => &["k"],
            other => return Err(format!("the key at index {i} has an unknown kty {other:?}")),
        };
        for m in required.iter().filter(|m| **m != "crv") {
            if !b64url(&k[*m]) {
                return Err(format!(
                    "the key at index {i} has no unpadded base64url '{m}'"
                ));
            }
        }
        if k["kty"] == "EC" {
            let size = match k["crv"].as_str() {
                Some("P-256") => 32,
                Some("P-384") => 48,
                Some("P-521") => 66,
                other => return Err(format!("the key at index {i} has an unknown crv {other:?}")),
            };
            for c in ["x", "y"] {
                let len = k[c].as_str().map_or(0, |s| s.len() * 3 / 4);
                if len != size {
                    return Err(format!(
                        "the key at index {i}: '{c}' is {len} bytes, not {size} for {}",
                        k["crv"]
                    ));
                }
            }
        }
    }
    Ok("keys are valid JSON, contain the required fields and are unpadded base64url".into())
}

/// The ID token's own claims (ValidateIdTokenStandardClaims.idTokenNonIdentityClaims): what
/// is left are the identity claims OIDC Core §5.1 defines.
const ID_TOKEN_NON_IDENTITY_CLAIMS: &[&str] = &[
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "c_hash",
    "at_hash",
    "s_hash",
    "jti",
    "nbf",
    "verified_claims",
];

/// AbstractValidateOpenIdStandardClaims: each standard claim present has its type (strings
/// with content and not "null", booleans, a number, objects), `birthdate` its format, and the
/// claims are a non-empty object. For an ID token, its own claims are left out first.
pub fn standard_claims_valid(claims: &Value, id_token: bool) -> Check {
    let mut claims = claims.clone();
    if id_token {
        if let Some(o) = claims.as_object_mut() {
            for c in ID_TOKEN_NON_IDENTITY_CLAIMS {
                o.remove(*c);
            }
        }
    }
    let mut bad = Vec::new();
    match claims.as_object() {
        Some(o) if !o.is_empty() => {}
        _ => return Err("not a JSON object or no identity claims".into()),
    }
    for c in STRING_CLAIMS.iter().chain(&["txn"]) {
        if let Some(v) = claims.get(*c) {
            if !string_with_content(v) {
                bad.push(format!("{c} is not a string with content"));
            }
        }
    }
    if let Some(v) = claims.get("birthdate") {
        if !v.as_str().is_some_and(birthdate_valid) {
            bad.push("birthdate is not YYYY-MM-DD, 0000-MM-DD or YYYY".into());
        }
    }
    for c in ["email_verified", "phone_number_verified"] {
        if let Some(v) = claims.get(c) {
            if !v.is_boolean() {
                bad.push(format!("{c} is not a boolean"));
            }
        }
    }
    if let Some(v) = claims.get("updated_at") {
        if !v.is_number() {
            bad.push("updated_at is not a number".into());
        }
    }
    for c in ["_claim_names", "_claim_sources"] {
        if let Some(v) = claims.get(c) {
            if !v.is_object() {
                bad.push(format!("{c} is not a JSON object"));
            }
        }
    }
    if let Some(a) = claims.get("address") {
        match a.as_object() {
            Some(o) if !o.is_empty() => {
                for (k, v) in o {
                    if ADDRESS_MEMBERS.contains(&k.as_str()) && !string_with_content(v) {
                        bad.push(format!("address.{k} is not a string with content"));
                    }
                }
            }
            _ => bad.push("address is not a non-empty JSON object".into()),
        }
    }
    if bad.is_empty() {
        Ok("claims are valid".into())
    } else {
        Err(bad.join("; "))
    }
}

/// OIDC Core §5.1: claims not returned are omitted, never empty strings (nor the text "null").
fn string_with_content(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| !s.trim().is_empty() && !s.eq_ignore_ascii_case("null"))
}

/// OIDC Core §5.1 `birthdate`: YYYY-MM-DD (a real date; year 0000 when withheld) or YYYY,
/// the year a plausible one (1850 to this year), as the suite reads it.
fn birthdate_valid(s: &str) -> bool {
    let this_year = 1970 + now() / 31_556_952;
    let sane = |y: i64| (1850..=this_year).contains(&y);
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if s.len() == 4 && digits(s) {
        return s.parse().is_ok_and(sane);
    }
    let parts: Vec<&str> = s.split('-').collect();
    let [y, m, d] = parts[..] else { return false };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 || !(digits(y) && digits(m) && digits(d)) {
        return false;
    }
    let (y, m, d): (i64, u32, u32) = (
        y.parse().unwrap_or(-1),
        m.parse().unwrap_or(0),
        d.parse().unwrap_or(0),
    );
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d) && (y == 0 || sane(y))
}

pub fn updated_at_valid(claims: &Value) -> Check {
    match claims.get("updated_at") {
        None => Ok("no updated_at".into()),
        Some(v) => match v.as_f64() {
            None => Err(format!("updated_at is not a number: {v}")),
            Some(t) if t > (now() + 300) as f64 => Err(format!(
                "updated_at {t} is in the future (milliseconds instead of seconds?)"
            )),
            Some(_) => Ok("updated_at is valid".into()),
        },
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// ValidateIdToken: iss, aud, exp, iat, auth_time, acr (5 minutes of skew, as the suite).
pub fn validate_id_token(claims: &Value, issuer: &str, client_id: &str) -> Check {
    let skew = 300;
    let now = now();
    if claims["iss"].as_str() != Some(issuer) {
        return Err(format!(
            "Issuer mismatch: expected {issuer}, actual {}",
            claims["iss"]
        ));
    }
    match &claims["aud"] {
        Value::Array(a) if a.iter().any(|x| x == client_id) => {}
        Value::String(s) if s == client_id => {}
        Value::Null => return Err("'aud' claim missing".into()),
        other => return Err(format!("'aud' is not our client id: {other}")),
    }
    let exp = claims["exp"].as_i64().ok_or("'exp' claim missing")?;
    if exp < now - skew {
        return Err("Token expired".into());
    }
    if exp > now + 50 * 365 * 86400 {
        return Err("'exp' is unreasonably far in the future".into());
    }
    let iat = claims["iat"].as_i64().ok_or("'iat' claim missing")?;
    if iat > now + skew {
        return Err("Token 'iat' in the future".into());
    }
    if iat < now - skew {
        return Err("Token 'iat' more than 5 minutes in the past".into());
    }
    if let Some(at) = claims.get("auth_time") {
        let at = at.as_i64().ok_or("auth_time is not a number")?;
        if at < now - 365 * 86400 {
            return Err("id_token auth_time is over a year in the past".into());
        }
        if at > now + skew {
            return Err("id_token auth_time is in the future".into());
        }
    }
    if claims["acr"] == "" {
        return Err("id_token acr is an empty string".into());
    }
    Ok("ID token iss, aud, exp, iat, auth_time, acr & nbf claims passed validation checks".into())
}

/// EnsureIdTokenContainsKid (OIDCC-10.1, required always, as the suite does); gives the ID
/// token's JOSE header for the module's algorithm check.
pub fn ensure_id_token_contains_kid(ctx: &mut Ctx<'_>) -> Value {
    let header = ctx
        .id_token
        .as_ref()
        .map(|t| t.jws.header.clone())
        .unwrap_or_default();
    let r = match header["kid"].as_str() {
        Some(k) if !k.is_empty() => Ok(format!("kid was found in the ID token header: {k}")),
        _ => Err("kid was not found in the ID token header".into()),
    };
    ctx.log
        .check("EnsureIdTokenContainsKid", Failure, &["OIDCC-10.1"], r);
    header
}

/// EnsureIdTokenDoesNotContainNonRequestedClaims (the FAPI plans call it with WARNING): the ID
/// token holds only its own claims and those of the scopes in `scope`.
pub fn id_token_has_only_requested_claims(claims: &Value, scope: &str) -> Check {
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
    for s in scope.split(' ') {
        allowed.extend(match s {
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
    let extra: Vec<&String> = claims
        .as_object()
        .map(|o| {
            o.keys()
                .filter(|k| !allowed.contains(&k.as_str()))
                .collect()
        })
        .unwrap_or_default();
    if extra.is_empty() {
        Ok("id_token contains only requested claims".into())
    } else {
        Err(format!(
            "id_token contains claims that were not requested: {extra:?}"
        ))
    }
}

/// PerformStandardIdTokenChecks.
pub fn id_token_checks(ctx: &mut Ctx<'_>) {
    let Some(t) = ctx.id_token.as_ref() else {
        return;
    };
    let claims = t.claims.clone();
    let issuer = ctx.server_str("issuer").unwrap_or_default();
    let r = validate_id_token(&claims, &issuer, &ctx.client.client_id);
    ctx.log
        .check("ValidateIdToken", Failure, &["OIDCC-3.1.3.7"], r);
    ctx.log.check(
        "ValidateIdTokenStandardClaims",
        Failure,
        &["OIDCC-5.1"],
        standard_claims_valid(&claims, true),
    );
    let r = match (&ctx.nonce, claims["nonce"].as_str()) {
        (None, None) => Ok("nonce is not in id_token, as expected.".into()),
        (Some(e), Some(a)) if e == a => Ok("Nonce values match".into()),
        (e, a) => Err(format!(
            "Nonce values mismatch: expected {e:?}, actual {a:?}"
        )),
    };
    ctx.log
        .check("ValidateIdTokenNonce", Failure, &["OIDCC-2"], r);
    let r = match claims.get("acr") {
        Some(v) if !v.is_string() => Err("acr value in id_token must be a string".into()),
        _ => Ok("Nothing to check; the conformance suite did not request an acr claim".into()),
    };
    ctx.log.check(
        "ValidateIdTokenACRClaimAgainstRequest",
        Failure,
        &["OIDCC-5.5.1.1"],
        r,
    );
    let r = ctx
        .id_token
        .as_ref()
        .map(|t| t.jws.verify(&ctx.server_jwks))
        .unwrap_or(Err("no id_token".into()));
    ctx.log.check("ValidateIdTokenSignature", Failure, &[], r);
    let r = match claims["sub"].as_str() {
        None | Some("") => Err("id_token does not contain 'sub'".into()),
        Some(s) if s.len() > 255 => Err("id_token 'sub' exceeds 255 ASCII characters".into()),
        Some(s) if s.chars().any(|c| (c as u32) < 0x20 || (c as u32) >= 0x7f) => {
            Err("id_token 'sub' contains a non-printable or non-ASCII character".into())
        }
        Some(s) => Ok(format!("Found 'sub' in id_token: {s}")),
    };
    ctx.log
        .check("CheckForSubjectInIdToken", Failure, &["OIDCC-2"], r);
    ctx.log.check(
        "EnsureIdTokenUpdatedAtValid",
        Failure,
        &["OIDCC-5.1"],
        updated_at_valid(&claims),
    );
}

/// CallProtectedResource / CallUserInfoEndpoint with the access token in the header, by GET
/// or POST.
pub async fn call_userinfo(ctx: &mut Ctx<'_>, post: bool, condition: &str) -> Flow<Resp> {
    let endpoint = ctx.server_str("userinfo_endpoint").unwrap_or_default();
    let at = ctx.access_token.clone().unwrap_or_default();
    let rb = if post {
        ctx.back.post(&endpoint)
    } else {
        ctx.back.get(&endpoint)
    };
    let r = browser::send(rb.bearer_auth(at)).await.map(|x| {
        let s = format!("HTTP {}", x.status);
        (x, s)
    });
    ctx.log.must(condition, &["OIDCC-5.3.1"], r)
}

pub fn ensure_status(
    ctx: &mut Ctx<'_>,
    resp: &Resp,
    want: u16,
    cond: &str,
    on_fail: Outcome,
) -> bool {
    let r = if resp.status == want {
        Ok(format!("HTTP {want}"))
    } else {
        Err(format!(
            "expected HTTP {want}, got {}: {}",
            resp.status,
            resp.body.chars().take(200).collect::<String>()
        ))
    };
    ctx.log.check(cond, on_fail, &[], r)
}

/// requestProtectedResource: the access token works at the UserInfo endpoint.
pub async fn request_protected_resource(ctx: &mut Ctx<'_>) -> Flow {
    if ctx.access_token.is_none() && ctx.response_type == "id_token" {
        ctx.log.info(
            "CallProtectedResource",
            "skipped: response_type id_token returns no access token",
        );
        return Ok(());
    }
    ctx.log.block("Userinfo endpoint tests");
    ctx.log.info(
        "SetProtectedResourceUrlToUserInfoEndpoint",
        "the UserInfo endpoint",
    );
    let resp = call_userinfo(ctx, false, "CallProtectedResource").await?;
    ensure_status(ctx, &resp, 200, "EnsureHttpStatusCodeIs200", Failure);
    Ok(())
}

/// The whole code flow of AbstractOIDCCServerTest: request, login and consent, callback,
/// tokens, UserInfo.
pub async fn code_flow(ctx: &mut Ctx<'_>, req: &Req) -> Flow {
    ctx.log.block("Make request to authorization endpoint");
    create_authorization_request(ctx, req)?;
    let v = visit(ctx, true).await?;
    expect_callback(ctx, &v)?;
    process_callback(ctx)?;
    front_channel_resource(ctx).await?;
    exchange_code(ctx).await?;
    request_protected_resource(ctx).await
}

/// The standard UserInfo response checks (AbstractOIDCCUserInfoTest).
pub fn validate_userinfo(ctx: &mut Ctx<'_>, resp: &Resp) -> Flow {
    let r = if resp.content_type.starts_with("application/json") {
        Ok("application/json".into())
    } else {
        Err(format!("Content-Type is '{}'", resp.content_type))
    };
    ctx.log
        .check("EnsureContentTypeJson", Failure, &["OIDCC-5.3.2"], r);
    let r = match resp.json() {
        Some(v) if v.is_object() => Ok((v, "userinfo extracted".to_string())),
        _ => Err("UserInfo response is not a JSON object".to_string()),
    };
    let ui = ctx
        .log
        .must("ExtractUserInfoFromUserInfoEndpointResponse", &[], r)?;
    ctx.log.check(
        "ValidateUserInfoStandardClaims",
        Failure,
        &["OIDCC-5.1"],
        standard_claims_valid(&ui, false),
    );
    let r = match ui["sub"].as_str() {
        Some(s) if !s.is_empty() => Ok(format!("sub {s}")),
        _ => Err("UserInfo has no sub".into()),
    };
    ctx.log
        .check("EnsureUserInfoContainsSub", Failure, &["OIDCC-5.3.2"], r);
    ctx.log.check(
        "EnsureUserInfoUpdatedAtValid",
        Failure,
        &["OIDCC-5.1"],
        updated_at_valid(&ui),
    );
    let r = match (ui.get("_claim_names"), ui.get("_claim_sources")) {
        (None, _) => Ok("no aggregated or distributed claims".into()),
        (Some(names), sources) => {
            let missing: Vec<String> = names
                .as_object()
                .map(|o| {
                    o.values()
                        .filter_map(|v| v.as_str())
                        .filter(|s| sources.and_then(|x| x.get(*s)).is_none())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            if missing.is_empty() {
                Ok("references resolve".into())
            } else {
                Err(format!("unknown sources {missing:?}"))
            }
        }
    };
    ctx.log.check(
        "EnsureMemberValuesInClaimNameReferenceToMemberNamesInClaimSources",
        Failure,
        &["OIDCC-5.6.2"],
        r,
    );
    // OIDC Core §5.3.2 (MUST): the UserInfo sub is the ID token's. The suite runs this check
    // where the response type includes code (AbstractOIDCCReturnedClaimsServerTest).
    if let Some(t) = &ctx.id_token {
        let same = t.claims["sub"] == ui["sub"];
        let r = if same {
            Ok("same sub".into())
        } else {
            Err(format!(
                "UserInfo sub {} differs from ID token sub {}",
                ui["sub"], t.claims["sub"]
            ))
        };
        ctx.log.check(
            "VerifyUserInfoAndIdTokenInTokenEndpointSameSub",
            Failure,
            &["OIDCC-5.3.2"],
            r,
        );
    }
    ctx.userinfo = Some(ui);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_token_claims_beyond_the_requested_scopes_are_found() {
        let t =
            serde_json::json!({"iss": "i", "sub": "s", "aud": "a", "email": "e@x", "name": "N"});
        assert!(id_token_has_only_requested_claims(&t, "openid email profile").is_ok());
        let e = id_token_has_only_requested_claims(&t, "openid email").unwrap_err();
        assert!(e.contains("name") && !e.contains("email"), "{e}");
    }

    #[test]
    fn jwks_structure() {
        let ok = serde_json::json!({"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        assert!(jwks_structurally_valid(std::slice::from_ref(&ok)).is_ok());
        for bad in [
            serde_json::json!({"kty": "RSA", "n": "AQAB"}),
            serde_json::json!({"kty": "RSA", "n": "AQAB=", "e": "AQAB"}),
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AQAB", "y": "AQAB"}),
            serde_json::json!({"kty": "XYZ"}),
        ] {
            assert!(
                jwks_structurally_valid(std::slice::from_ref(&bad)).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn birthdates_as_the_suite_reads_them() {
        for ok in ["1990-01-01", "0000-03-15", "2000-02-29", "1990"] {
            assert!(birthdate_valid(ok), "{ok}");
        }
        for bad in [
            "1990-1-01",
            "1990-02-30",
            "1900-02-29",
            "1849-01-01",
            "3000",
            "",
            "19900101",
            "1990-13-01",
        ] {
            assert!(!birthdate_valid(bad), "{bad}");
        }
    }

    #[test]
    fn standard_claims_have_content_and_types() {
        let id_token =
            serde_json::json!({"iss": "https://op", "aud": "c", "sub": "u", "nonce": "n"});
        assert!(standard_claims_valid(&id_token, true).is_ok());
        for bad in [
            serde_json::json!({"sub": "u", "name": ""}),
            serde_json::json!({"sub": "u", "name": "null"}),
            serde_json::json!({"sub": "u", "email_verified": "true"}),
            serde_json::json!({"sub": "u", "updated_at": "1700000000"}),
            serde_json::json!({"sub": "u", "address": {}}),
            serde_json::json!({"sub": "u", "address": {"country": 44}}),
            serde_json::json!({}),
        ] {
            assert!(standard_claims_valid(&bad, false).is_err(), "{bad}");
        }
    }
}
