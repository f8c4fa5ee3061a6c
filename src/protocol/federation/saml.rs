//! Sign-in at a SAML 2.0 identity provider: the Web Browser SSO Profile (SAML Profiles 4.1),
//! SP-initiated. The AuthnRequest goes out by HTTP-Redirect (HTTP-POST when the IdP's metadata
//! offers only that), signed with our SP key when the IdP wants it; the Response comes back to
//! our ACS by HTTP-POST. XML parsing, exclusive C14N, XML-DSig and XML-Enc are risaml's
//! (through ribergshamra, on AWS-LC); this module decides what to trust: the IdP's metadata as the
//! operator configured it, our entity id and ACS URL, the stored request, and the replay
//! cache.

use crate::config::federation::{ProviderConfig, ProviderKind};
use crate::error::{OAuthError, OAuthResult};
use crate::protocol::federation::FederatedIdentity;
use crate::protocol::oidc::response::Delivery;
use crate::protocol::Ctx;
use crate::secrets;
use crate::store::federation::{LoginFor, PendingLogin};
use crate::store::saml_requests::SamlRequest;
use risaml::{
    AcsEndpoint, AssertionSignaturePolicy, AudienceValidationPolicy, AuthnRequestSigningPolicy,
    BrowserInput, CertificatePem, ClockSkew, Credentials, EntityId, FormField, IdpDescriptor,
    MetadataTrustPolicy, PendingAuthnRequest, PendingSnapshot, PrivateKeyPem, RelayStateParam,
    ReplayCache, ReplayKey, ReplayPolicy, ResponseSignaturePolicy, Saml, SamlError, SamlInstant,
    SamlValidationContext, Sp, SpConfig, SpValidationPolicy, SsoResponse, SsoSession, StartSso,
    XmlEncryptionPolicy, XmlPolicy,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// Where the IdP's Response is posted (HTTP-POST binding), under the issuer.
pub const ACS_PATH: &str = "/saml/acs";
/// Our SP metadata, under the issuer; also our default entity id.
pub const METADATA_PATH: &str = "/saml/metadata";
/// Where the browser comes back to, with its cookies, once the Response was verified.
pub const CONTINUE_PATH: &str = "/saml/continue";

/// How long an AuthnRequest may wait for its Response.
const REQUEST_LIFETIME_SECS: i64 = 600;
/// Clock skew allowed on NotBefore / NotOnOrAfter (SAML Core 2.5.1.2 leaves it to the SP).
const SKEW_MILLIS: i64 = 60_000;
use super::saml_metadata::MAX_METADATA_BYTES;

/// Attribute names that carry the e-mail address and display name, in the usual vocabularies
/// (basic names, LDAP OIDs, the WS-Federation claim URIs).
const EMAIL_ATTRIBUTES: &[&str] = &[
    "email",
    "mail",
    "urn:oid:0.9.2342.19200300.100.1.3",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
];
const NAME_ATTRIBUTES: &[&str] = &[
    "displayName",
    "name",
    "urn:oid:2.16.840.1.113730.3.1.241",
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
    "cn",
];

/// Our entity id towards `provider`: its `sp_entity_id`, else `{issuer}/saml/metadata`.
pub fn sp_entity_id(cx: &Ctx<'_>, provider: &ProviderConfig) -> String {
    provider
        .sp_entity_id
        .clone()
        .unwrap_or_else(|| format!("{}{METADATA_PATH}", cx.issuer))
}

pub fn acs_url(cx: &Ctx<'_>) -> String {
    format!("{}{ACS_PATH}", cx.issuer)
}

/// Our SP towards `provider`: its entity id, the ACS, our signing key and certificate (the
/// metadata's `<KeyDescriptor use="signing">`), and the checks it insists on: a signed
/// Assertion (SAML Profiles 4.1.3.5; the Response's own signature alone is not enough), the
/// audience. AuthnRequests are signed when `sign` (see [`signs_requests`]). With
/// `want_assertions_encrypted` the same pair is the encryption key (`<KeyDescriptor
/// use="encryption">`) and an assertion must come encrypted to it: it is decrypted (RSA-OAEP
/// key transport through AWS-LC, constant-time) before its signature is checked.
fn service_provider(
    cx: &Ctx<'_>,
    provider: &ProviderConfig,
    sign: bool,
) -> Result<Saml<Sp>, SamlError> {
    let mut credentials = Credentials::default();
    let mut xml = XmlPolicy::default();
    if let Some(key) = &cx.saml_sp_key {
        credentials.signing_key = Some(PrivateKeyPem::new(key.key_pem.clone()));
        credentials.signing_certificate = Some(CertificatePem::new(key.cert_pem.clone()));
        if provider.want_assertions_encrypted {
            credentials.decryption_key = Some(PrivateKeyPem::new(key.key_pem.clone()));
            credentials.encryption_certificate = Some(CertificatePem::new(key.cert_pem.clone()));
            xml.encryption = XmlEncryptionPolicy::encrypt_assertions();
        }
    }
    let authn_requests = if sign {
        AuthnRequestSigningPolicy::Sign
    } else {
        AuthnRequestSigningPolicy::DoNotSignForCompatibility
    };
    let config = SpConfig::builder(EntityId::try_new(sp_entity_id(cx, provider))?)
        .acs_endpoint(AcsEndpoint::post(acs_url(cx))?)
        .credentials(credentials)
        .validation(SpValidationPolicy {
            assertions: AssertionSignaturePolicy::RequireSigned,
            responses: ResponseSignaturePolicy::RequireForEncryptedCbc,
            authn_requests,
            audience: AudienceValidationPolicy::Validate,
            ..SpValidationPolicy::strict()
        })
        .xml(xml)
        .build()?;
    Saml::sp(config)
}

/// Whether our AuthnRequests to `provider` are signed: exactly when the IdP's metadata says
/// `WantAuthnRequestsSigned="true"` (SAML Metadata 2.4.3); risaml refuses to send a request
/// whose signing disagrees with the IdP's flag, so there is no per-provider override.
fn signs_requests(idp: &IdpDescriptor) -> bool {
    idp.metadata().is_want_authn_requests_signed()
}

/// Our SP metadata for `provider` (what its operator registers at the IdP): our signing
/// certificate, and `AuthnRequestsSigned="true"` when our requests to it are signed.
pub async fn sp_metadata(cx: &Ctx<'_>, provider: &ProviderConfig) -> OAuthResult<String> {
    let sign = signs_requests(&idp_metadata(cx, provider).await?);
    Ok(service_provider(cx, provider, sign)
        .map_err(OAuthError::server)?
        .metadata_xml()
        .to_string())
}

/// The SAML providers whose SP entity id is `entity_id`.
pub fn providers_with_entity_id<'c>(cx: &'c Ctx<'_>, entity_id: &str) -> Vec<&'c ProviderConfig> {
    cx.config
        .federation
        .providers
        .iter()
        .filter(|p| p.kind == ProviderKind::Saml && sp_entity_id(cx, p) == entity_id)
        .collect()
}

/// The IdP's metadata as the operator configured it: a file (read each time, so a rotated
/// certificate is picked up), or a URL fetched under the outbound policy and cached
/// (`saml_metadata`). It is the trust anchor: its signing certificates are the only keys a
/// Response may be signed with.
async fn idp_metadata(cx: &Ctx<'_>, provider: &ProviderConfig) -> OAuthResult<IdpDescriptor> {
    let xml = if let Some(path) = &provider.idp_metadata_file {
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| OAuthError::server(format!("reading {}: {e}", path.display())))?;
        if bytes.len() > MAX_METADATA_BYTES {
            return Err(OAuthError::server("the IdP metadata file is too large"));
        }
        String::from_utf8(bytes).map_err(OAuthError::server)?
    } else if let Some(url) = &provider.idp_metadata_url {
        cx.saml_metadata.get(cx, url).await?
    } else {
        return Err(OAuthError::server(
            "a saml provider needs idp_metadata_file or idp_metadata_url",
        ));
    };
    descriptor(&xml)
}

/// After a signature no key of the metadata verified: the metadata fetched again from the
/// IdP's URL if it changed (bounded: `MetadataCache::refetch_changed`). A file is read
/// afresh on every use already.
async fn changed_idp_metadata(
    cx: &Ctx<'_>,
    provider: &ProviderConfig,
) -> OAuthResult<Option<IdpDescriptor>> {
    let Some(url) = &provider.idp_metadata_url else {
        return Ok(None);
    };
    match cx.saml_metadata.refetch_changed(cx, url).await? {
        Some(xml) => descriptor(&xml).map(Some),
        None => Ok(None),
    }
}

fn descriptor(xml: &str) -> OAuthResult<IdpDescriptor> {
    // The operator's own configuration vouches for this metadata (a file it placed, or a URL
    // it named); metadata signatures are for metadata relayed by third parties.
    IdpDescriptor::from_metadata_xml(xml, MetadataTrustPolicy::UnsignedForCompatibility)
        .map_err(|e| OAuthError::server(format!("the IdP metadata is not usable: {e}")))
}

/// Starts a sign-in at `provider` for an interaction or the dashboard (`login_for`): builds the
/// AuthnRequest and stores its ID with the sign-in in progress that
/// [`super::sign_in_federated`] consumes, in one transaction.
pub async fn start(
    cx: &Ctx<'_>,
    provider: &ProviderConfig,
    login_for: LoginFor,
) -> OAuthResult<Delivery> {
    let idp = idp_metadata(cx, provider).await?;
    let sp = service_provider(cx, provider, signs_requests(&idp)).map_err(OAuthError::server)?;
    let relay_state = secrets::random_token();
    let relay =
        RelayStateParam::try_from_option(Some(relay_state.clone())).map_err(OAuthError::server)?;
    let offers_redirect = idp
        .metadata()
        .get_single_sign_on_service(risaml::constants::Binding::Redirect)
        .is_some();
    let options = if offers_redirect {
        StartSso::redirect()
    } else {
        StartSso::post()
    };
    let started = sp
        .start_sso(&idp, options.relay_state(relay))
        .map_err(|e| OAuthError::server(format!("building the AuthnRequest: {e}")))?;
    // HTTP-Redirect binding (SAML Bindings 3.4), or HTTP-POST (3.5) when that is all it offers.
    let departure = if offers_redirect {
        Delivery::Redirect(
            started
                .outbound
                .redirect_url()
                .map_err(OAuthError::server)?
                .into(),
        )
    } else {
        let form = started.outbound.post_form().map_err(OAuthError::server)?;
        Delivery::FormPost {
            action: form.action().as_str().to_string(),
            fields: form
                .fields()
                .iter()
                .map(|f| (f.name().to_string(), f.value().to_string()))
                .collect(),
        }
    };
    let relay_hash = secrets::digest(&relay_state);
    let request = SamlRequest {
        relay_hash: relay_hash.clone(),
        request_id: started.pending.request_id().as_str().to_string(),
        provider: provider.id.clone(),
        interaction_id: match &login_for {
            LoginFor::Interaction(iid) => Some(iid.clone()),
            LoginFor::Dashboard { .. } => None,
        },
        expires_at: cx.now + REQUEST_LIFETIME_SECS,
    };
    let login = PendingLogin {
        login_for,
        provider: provider.id.clone(),
        state_hash: relay_hash,
        data_sealed: String::new(),
        expires_at: request.expires_at,
    };
    cx.store
        .write(move |tx| {
            tx.federation().begin_login(&login)?;
            tx.saml_requests().insert(&request)
        })
        .await?;
    Ok(departure)
}

/// The identity a verified Response carried, kept until the browser comes back for it.
#[derive(Serialize, Deserialize)]
struct Verified {
    subject: String,
    email: Option<String>,
    name: Option<String>,
    attributes: Value,
}

/// Collects what risaml asks the replay cache to remember, so that it is recorded in the
/// database (shared by every node) in the transaction that accepts the Response.
#[derive(Default)]
struct Seen(Vec<(String, i64)>);

impl ReplayCache for Seen {
    fn check_and_store(&mut self, key: ReplayKey, expires_at: SystemTime) -> Result<(), SamlError> {
        let secs = expires_at
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.0.push((key.cache_key(), secs));
        Ok(())
    }
}

/// The browser's next stop after a verified Response: [`CONTINUE_PATH`] with this state.
pub struct Answered {
    pub relay_state: String,
}

/// The ACS (HTTP-POST binding, SAML Bindings 3.5): verifies the posted Response against the
/// stored AuthnRequest and the IdP's metadata, then records the identity on the request and the
/// assertion in the replay cache, in one transaction. The browser's cookies do not come with
/// this cross-site POST, so the sign-in itself happens on its return ([`finish`]).
///
/// risaml checks (and refuses otherwise): the XML signature by a metadata certificate covering
/// the very Assertion consumed (wrapping attacks refused), Issuer, Destination and the bearer
/// SubjectConfirmation's Recipient against our ACS URL, InResponseTo against the stored
/// request ID, Audience against our entity id, NotBefore / NotOnOrAfter with [`SKEW_MILLIS`],
/// and Status Success.
pub async fn accept(
    cx: &Ctx<'_>,
    saml_response: &str,
    relay_state: Option<&str>,
) -> OAuthResult<Answered> {
    let relay_state = relay_state.filter(|r| !r.is_empty()).ok_or_else(|| {
        refused("no RelayState: this server accepts only responses to its own AuthnRequests (SAML Profiles 4.1.4.3, unsolicited responses refused)")
    })?;
    let relay_hash = secrets::digest(relay_state);
    let now = cx.now;
    let lookup = relay_hash.clone();
    let request = cx
        .store
        .read(move |tx| tx.saml_requests().get(&lookup, now))
        .await?
        .ok_or_else(|| {
            refused("InResponseTo names no AuthnRequest of this server that is still open (SAML Profiles 4.1.4.3)")
        })?;
    let provider = cx
        .config
        .federation
        .provider(&request.provider)
        .filter(|p| p.kind == ProviderKind::Saml)
        .ok_or_else(|| refused("the identity provider of this request is no longer configured"))?;
    match (
        carries_encrypted_assertion(saml_response),
        provider.want_assertions_encrypted,
    ) {
        (true, false) => return Err(refused(ENCRYPTED_REFUSED)),
        (false, true) => return Err(refused(PLAIN_REFUSED)),
        _ => {}
    }
    let idp = idp_metadata(cx, provider).await?;
    let sp = service_provider(cx, provider, signs_requests(&idp)).map_err(OAuthError::server)?;
    let mut verified_response = verify(cx, &sp, &idp, &request, saml_response, relay_state)?;
    // The IdP may have rolled its key: its metadata, fetched again, may name the new one.
    if matches!(&verified_response, Err(e) if key_unknown(e)) {
        if let Some(idp) = changed_idp_metadata(cx, provider).await? {
            verified_response = verify(cx, &sp, &idp, &request, saml_response, relay_state)?;
        }
    }
    let (session, seen) = verified_response.map_err(|e| {
        tracing::info!(provider = %provider.id, error = %e, "SAML response refused");
        refused(&format!("{} ({e})", rule(&e)))
    })?;
    let identity = serde_json::to_string(&verified(&session)).map_err(OAuthError::server)?;
    let scope = format!("saml:{}", provider.id);
    let outcome = cx
        .store
        .write(move |tx| {
            for (key, expires_at) in &seen.0 {
                if !tx.replay().first_use(&scope, key, (*expires_at).max(now + 1))? {
                    return Ok(Err(
                        "the Response or its Assertion was already used: replayed (SAML Profiles 4.1.4.5)",
                    ));
                }
            }
            if !tx.saml_requests().answer(&relay_hash, &identity, now)? {
                return Ok(Err(
                    "this AuthnRequest was already answered: InResponseTo is single use (SAML Profiles 4.1.4.3)",
                ));
            }
            Ok(Ok(()))
        })
        .await?;
    outcome.map_err(refused)?;
    Ok(Answered {
        relay_state: relay_state.to_string(),
    })
}

const ENCRYPTED_REFUSED: &str = "encrypted assertions are not accepted from this identity provider: it must send a signed, unencrypted Assertion (SAML Core 2.3.4; our SP metadata for it offers no encryption key)";
const PLAIN_REFUSED: &str = "this identity provider must encrypt its assertions to our SP metadata's encryption key (SAML Core 2.3.4, want_assertions_encrypted): an unencrypted Assertion is refused";

/// Whether a posted Response carries an `<EncryptedAssertion>` (SAML Core 2.3.4). A plain
/// search is enough to refuse early with a clear reason; nothing is accepted on it (risaml
/// decrypts, or refuses, by the SP's own policy).
fn carries_encrypted_assertion(saml_response: &str) -> bool {
    use base64::Engine;
    let compact: String = saml_response
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .is_ok_and(|xml| {
            xml.windows(19)
                .any(|w| w == b"EncryptedAssertion " || w == b"EncryptedAssertion>")
        })
}

/// risaml's checks of a posted Response against the stored request and `idp`'s metadata: the
/// session and what the replay cache must remember, or what was wrong.
fn verify(
    cx: &Ctx<'_>,
    sp: &Saml<Sp>,
    idp: &IdpDescriptor,
    request: &SamlRequest,
    saml_response: &str,
    relay_state: &str,
) -> OAuthResult<Result<(SsoSession, Seen), SamlError>> {
    let pending = pending_request(cx, request, idp.entity_id().as_str(), relay_state)?;
    let fields = vec![
        FormField::new("SAMLResponse", saml_response),
        FormField::new("RelayState", relay_state),
    ];
    let mut seen = Seen::default();
    let validation =
        SamlValidationContext::new(clock(cx.now), ReplayPolicy::RequireCache(&mut seen))
            .with_clock_skew(ClockSkew::from_millis(-SKEW_MILLIS, SKEW_MILLIS))
            .with_replay_retention(Duration::from_secs(REQUEST_LIFETIME_SECS as u64));
    let session = sp.finish_sso(
        idp,
        &pending,
        BrowserInput::<SsoResponse>::post(fields),
        validation,
    );
    Ok(session.map(|s| (s, seen)))
}

/// A signature by a key the metadata does not name (not a missing or broken signature).
fn key_unknown(e: &SamlError) -> bool {
    use risaml::SamlError as E;
    matches!(
        e,
        E::NoTrustedCertificate
            | E::CertificateMismatch
            | E::UnmatchCertificate
            | E::SignatureVerification { .. }
            | E::FailedMessageSignatureVerification
            | E::FailedToVerifySignature
    )
}

/// What the browser's return finds for its RelayState once a Response was verified.
pub struct Returned<'c> {
    /// The interaction the request was sent for; `None` for the dashboard.
    pub interaction_id: Option<String>,
    /// The sign-in in progress the Response answers; `None` once it was used.
    pub pending: Option<PendingLogin>,
    pub provider: &'c ProviderConfig,
    pub identity: FederatedIdentity,
}

impl Returned<'_> {
    /// The sign-in in progress this return answers, if interaction `iid` started it (the
    /// interaction being this browser's is the caller's check).
    pub fn interactions(&mut self, iid: &str) -> OAuthResult<PendingLogin> {
        let ours = LoginFor::Interaction(iid.to_string());
        self.pending
            .take()
            .filter(|p| p.login_for == ours)
            .ok_or_else(already_used)
    }

    /// The sign-in in progress this return answers, if the dashboard of the browser presenting
    /// `browser_id` started it.
    pub fn dashboards(&mut self, browser_id: Option<&str>) -> OAuthResult<PendingLogin> {
        let pending = self.pending.take().ok_or_else(already_used)?;
        super::dashboard::check_browser(&pending, browser_id)?;
        Ok(pending)
    }
}

/// The refusal of a return whose sign-in in progress was already used.
fn already_used() -> OAuthError {
    refused("this sign-in at the identity provider was already used or has expired")
}

/// The browser's return, with its cookies: the identity a verified Response carried for this
/// RelayState, and the sign-in in progress it answers (an interaction's or the dashboard's:
/// the caller checks it is this browser's). The sign-in that follows
/// ([`super::sign_in_federated`]) consumes that sign-in in progress, so it happens once.
pub async fn finish<'c>(cx: &'c Ctx<'_>, relay_state: &str) -> OAuthResult<Returned<'c>> {
    let (relay_hash, now) = (secrets::digest(relay_state), cx.now);
    let answered = cx
        .store
        .read(move |tx| {
            let Some(request) = tx.saml_requests().get(&relay_hash, now)? else {
                return Ok(None);
            };
            let Some(identity) = tx.saml_requests().identity(&relay_hash, now)? else {
                return Ok(None);
            };
            let pending = tx.federation().pending_by_state(&relay_hash, now)?;
            Ok(Some((request, pending, identity)))
        })
        .await?;
    let (request, pending, identity) =
        answered.ok_or_else(|| refused("no verified SAML response for this sign-in"))?;
    let provider = cx
        .config
        .federation
        .provider(&request.provider)
        .ok_or_else(|| refused("the identity provider of this request is no longer configured"))?;
    let v: Verified = serde_json::from_str(&identity).map_err(OAuthError::server)?;
    let identity = FederatedIdentity {
        subject: v.subject,
        email_verified: v.email.is_some() && provider.trust_email,
        email: v.email,
        name: v.name,
        claims: v.attributes,
    };
    Ok(Returned {
        interaction_id: request.interaction_id,
        pending,
        provider,
        identity,
    })
}

/// The stored request as risaml's pending state: its ID (InResponseTo), the IdP, our ACS.
fn pending_request(
    cx: &Ctx<'_>,
    request: &SamlRequest,
    idp_entity_id: &str,
    relay_state: &str,
) -> OAuthResult<PendingAuthnRequest> {
    let relay =
        RelayStateParam::try_from_option(Some(relay_state)).map_err(|e| refused(&e.to_string()))?;
    let issued = time_instant(request.expires_at - REQUEST_LIFETIME_SECS)?;
    let expires = time_instant(request.expires_at)?;
    let mut snapshot = PendingSnapshot::<risaml::AuthnRequest>::authn_request(
        request.request_id.clone(),
        relay,
        idp_entity_id,
        "post",
        acs_url(cx),
        "post",
    );
    snapshot.issued_at = Some(issued);
    snapshot.expires_at = Some(expires);
    PendingAuthnRequest::from_snapshot(snapshot).map_err(OAuthError::server)
}

fn time_instant(secs: i64) -> OAuthResult<SamlInstant> {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).map_err(OAuthError::server)?;
    let text = t
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(OAuthError::server)?;
    SamlInstant::try_new(text).map_err(OAuthError::server)
}

fn clock(now: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(now.max(0) as u64)
}

/// NameID, e-mail and name, and every attribute, from a verified session.
fn verified(session: &SsoSession) -> Verified {
    let attrs = session.attributes();
    let first = |names: &[&str]| {
        names.iter().find_map(|n| {
            attrs
                .get(n)
                .and_then(|a| a.values().first())
                .map(|v| v.as_str().to_string())
        })
    };
    let attributes: serde_json::Map<String, Value> = attrs
        .as_slice()
        .iter()
        .map(|a| {
            let values: Vec<&str> = a.values().iter().map(|v| v.as_str()).collect();
            (a.name().to_string(), json!(values))
        })
        .collect();
    Verified {
        subject: session.name_id().value().to_string(),
        email: first(EMAIL_ATTRIBUTES),
        name: first(NAME_ATTRIBUTES),
        attributes: Value::Object(attributes),
    }
}

/// The SAML rule a refused Response broke, for the error page and the logs.
fn rule(e: &SamlError) -> &'static str {
    use risaml::SamlError as E;
    match e {
        E::SignatureMissing
        | E::SignatureVerification { .. }
        | E::ReferenceResolution { .. }
        | E::SignedReferenceMismatch
        | E::AssertionSignatureRequired
        | E::NoTrustedCertificate
        | E::CertificateMismatch
        | E::PotentialWrappingAttack
        | E::FailedMessageSignatureVerification
        | E::FailedToVerifySignature
        | E::UnmatchCertificate => {
            "the Assertion must be signed by a key of the identity provider's metadata (SAML Profiles 4.1.3.5, SAML Core 5)"
        }
        E::AudienceMismatch { .. } | E::UnmatchAudience => {
            "the Audience must be this server's entity id (SAML Core 2.5.1.4)"
        }
        E::DestinationMismatch { .. } | E::UnmatchDestination => {
            "Destination and Recipient must be this server's ACS URL (SAML Core 3.2.2, Profiles 4.1.4.3)"
        }
        E::SubjectConfirmationInvalid { reason } => match reason.to_string().as_str() {
            "recipient" => "the Recipient must be this server's ACS URL (SAML Profiles 4.1.4.3)",
            "InResponseTo" => "InResponseTo must name this server's AuthnRequest (SAML Profiles 4.1.4.3)",
            "time window" | "missing NotOnOrAfter" => {
                "the assertion is expired or not yet valid: NotBefore / NotOnOrAfter (SAML Core 2.4.1.2, 2.5.1.2)"
            }
            _ => "the bearer SubjectConfirmation is not satisfied (SAML Profiles 4.1.4.2)",
        },
        E::TimeWindowInvalid { .. } | E::ExpiredSession => {
            "the assertion is expired or not yet valid: NotBefore / NotOnOrAfter (SAML Core 2.4.1.2, 2.5.1.2)"
        }
        E::InResponseToMismatch { .. } | E::InvalidInResponseTo => {
            "InResponseTo must name this server's AuthnRequest (SAML Profiles 4.1.4.3)"
        }
        E::ReplayDetected { .. } => "the Response or its Assertion was already used: replayed (SAML Profiles 4.1.4.5)",
        E::StatusNotSuccess { .. } | E::FailedStatus { .. } | E::UndefinedStatus => {
            "the identity provider did not answer Success (SAML Core 3.2.2.2)"
        }
        E::IssuerMismatch { .. } | E::UnmatchIssuer => {
            "the Issuer must be the identity provider's entity id (SAML Core 3.2.2, Profiles 4.1.4.2)"
        }
        // Raised by the XML-Enc decryption and by key handling in signature checks alike.
        E::Crypto(_) => {
            "the response's signature or encryption does not work with the identity provider's metadata keys and this server's SP key (SAML Core 5, 6)"
        }
        _ => "the SAML response is malformed or not acceptable (SAML Core 3.2.2)",
    }
}

fn refused(why: &str) -> OAuthError {
    OAuthError::invalid_request(why)
}
