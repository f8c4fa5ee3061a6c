//! The client-management rules, without a server: what the server owns, what a dynamic
//! client may set compared with the operator, and the secret bookkeeping after a change.

use super::metadata::parse_metadata;
use super::rules::*;
use crate::error::ErrorCode;
use crate::outbound::OutboundPolicy;
use crate::sealing::Sealer;
use crate::secrets;
use crate::types::{AuthMethod, Client, SubjectType};
use serde_json::{json, Value};

const NOW: i64 = 1_733_400_000;

fn sealer() -> (tempfile::TempDir, Sealer) {
    let dir = tempfile::tempdir().unwrap();
    let sealer = Sealer::load_or_create(dir.path()).unwrap();
    (dir, sealer)
}

fn metadata(method: &str) -> Value {
    json!({
        "redirect_uris": ["https://app.example.test/cb"],
        "token_endpoint_auth_method": method,
        "client_name": "App",
    })
}

fn register(raw: Value, registrar: Registrar, sealer: &Sealer) -> NewClient {
    new_client(raw, registrar, NOW, sealer, &OutboundPolicy::default()).expect("registers")
}

fn replace(
    client: &Client,
    raw: Value,
    registrar: Registrar,
) -> crate::error::OAuthResult<crate::types::ClientMetadata> {
    replaced_metadata(client, raw, registrar, &OutboundPolicy::default())
}

/// RFC 7591 §3.2.1: members the server sets are ignored in a request, on registration and on
/// replacement alike (a read, edited and put back, must not store them as metadata).
#[test]
fn server_owned_members_are_never_taken_from_a_body() {
    let (_d, sealer) = sealer();
    // Written out, not read from `SERVER_OWNED`: dropping one from that list must fail here.
    let owned = [
        "registration_access_token",
        "registration_client_uri",
        "client_id_issued_at",
        "client_secret_expires_at",
        "disabled",
        "disabled_at",
        "webhook_secret",
    ];
    let mut raw = metadata("client_secret_basic");
    for k in owned {
        raw[k] = json!("from the body");
    }
    for registrar in [Registrar::Dynamic, Registrar::Operator] {
        let new = register(raw.clone(), registrar, &sealer);
        for k in owned {
            assert!(!new.client.metadata.extra.contains_key(k), "{k}");
        }
        let mut update = raw.clone();
        update["client_id"] = json!(new.client.id);
        let m = replace(&new.client, update, registrar).unwrap();
        for k in owned {
            assert!(!m.extra.contains_key(k), "{registrar:?} {k}");
        }
    }
}

#[test]
fn only_the_operator_fixes_credentials_and_grants() {
    let (_d, sealer) = sealer();
    let mut raw = metadata("client_secret_basic");
    raw["client_id"] = json!("fixed-id");
    raw["client_secret"] = json!("a-fixed-secret-of-at-least-32-characters");
    let op = register(raw.clone(), Registrar::Operator, &sealer);
    assert_eq!(op.client.id, "fixed-id");
    assert_eq!(
        op.secret.as_deref(),
        Some("a-fixed-secret-of-at-least-32-characters")
    );
    // RFC 7591 §3.2.1: a dynamic client always gets generated credentials.
    let dynamic = register(raw.clone(), Registrar::Dynamic, &sealer);
    assert_ne!(dynamic.client.id, "fixed-id");
    assert_ne!(
        dynamic.secret.as_deref(),
        Some("a-fixed-secret-of-at-least-32-characters")
    );
    // What the operator grants, a registering client cannot ask for.
    for k in OPERATOR_OWNED {
        let mut m = metadata("client_secret_basic");
        m[*k] = if *k == "webhook_url" {
            json!("https://hooks.example.test/cb")
        } else {
            json!(["api"])
        };
        let e = new_client(
            m.clone(),
            Registrar::Dynamic,
            NOW,
            &sealer,
            &OutboundPolicy::default(),
        )
        .err()
        .unwrap();
        assert_eq!(e.code, ErrorCode::InvalidClientMetadata, "{k}");
        let granted = register(m, Registrar::Operator, &sealer).client.metadata;
        if *k == "webhook_url" {
            assert_eq!(
                granted.webhook_url.as_deref(),
                Some("https://hooks.example.test/cb")
            );
        } else {
            assert_eq!(granted.connection_types, ["api"]);
        }
    }
}

/// RFC 6749 Appendix A.1: an operator-fixed client_id is printable ASCII (VSCHAR, %x20-7E).
#[test]
fn a_fixed_client_id_is_checked() {
    let (_d, sealer) = sealer();
    let mut raw = metadata("none");
    raw["client_id"] = json!("caf\u{e9}");
    let e = new_client(
        raw,
        Registrar::Operator,
        NOW,
        &sealer,
        &OutboundPolicy::default(),
    )
    .err()
    .unwrap();
    assert_eq!(e.code, ErrorCode::InvalidClientMetadata);
    assert!(e.description().contains("printable ASCII"), "{e:?}");
}

/// RFC 7592 §2.2: the client names itself in an update; the operator may leave it out.
#[test]
fn an_update_names_its_client() {
    let (_d, sealer) = sealer();
    let c = register(metadata("client_secret_basic"), Registrar::Dynamic, &sealer).client;
    let without = metadata("client_secret_basic");
    let e = replace(&c, without.clone(), Registrar::Dynamic).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRequest);
    assert!(replace(&c, without.clone(), Registrar::Operator).is_ok());
    let mut other = without;
    other["client_id"] = json!("another");
    for registrar in [Registrar::Dynamic, Registrar::Operator] {
        let e = replace(&c, other.clone(), registrar).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }
}

/// RFC 7592 §2.2: a client_secret in an update must be the current one; no caller can set
/// its own secret this way.
#[test]
fn a_secret_in_an_update_must_be_the_current_one() {
    let (_d, sealer) = sealer();
    let new = register(metadata("client_secret_basic"), Registrar::Dynamic, &sealer);
    let mut body = metadata("client_secret_basic");
    body["client_id"] = json!(new.client.id);
    body["client_secret"] = json!(new.secret.clone().unwrap());
    for registrar in [Registrar::Dynamic, Registrar::Operator] {
        assert!(replace(&new.client, body.clone(), registrar).is_ok());
    }
    body["client_secret"] = json!("a-secret-the-client-chose-for-itself-0123");
    let dynamic = replace(&new.client, body.clone(), Registrar::Dynamic).unwrap_err();
    assert_eq!(dynamic.code, ErrorCode::InvalidRequest);
    assert!(dynamic.description().contains("RFC 7592 section 2.2"));
    let operator = replace(&new.client, body, Registrar::Operator).unwrap_err();
    assert!(operator.description().contains("rotate it"));
}

#[test]
fn a_dynamic_update_keeps_grants_and_confidentiality() {
    let (_d, sealer) = sealer();
    let mut granted = metadata("client_secret_basic");
    granted["connection_types"] = json!(["legacy"]);
    let c = register(granted, Registrar::Operator, &sealer).client;
    let mut body = metadata("client_secret_basic");
    body["client_id"] = json!(c.id);
    body["connection_types"] = json!(["api", "legacy"]);
    let m = replace(&c, body.clone(), Registrar::Dynamic).unwrap();
    assert_eq!(m.connection_types, ["legacy"]);
    let m = replace(&c, body.clone(), Registrar::Operator).unwrap();
    assert_eq!(m.connection_types, ["api", "legacy"]);
    body["token_endpoint_auth_method"] = json!("none");
    body.as_object_mut().unwrap().remove("connection_types");
    let e = replace(&c, body.clone(), Registrar::Dynamic).unwrap_err();
    assert!(e.description().contains("public and confidential"));
    assert!(replace(&c, body, Registrar::Operator).is_ok());
}

fn with_method(c: &Client, method: AuthMethod) -> crate::types::ClientMetadata {
    let mut m = c.metadata.clone();
    m.token_endpoint_auth_method = method;
    m
}

/// The secret columns after a change of authentication method.
#[test]
fn secret_bookkeeping_follows_the_method() {
    let (_d, sealer) = sealer();
    let basic = register(metadata("client_secret_basic"), Registrar::Dynamic, &sealer);
    let c = &basic.client;
    assert!(
        c.secret_sealed.is_none(),
        "only client_secret_jwt keeps a sealed copy"
    );

    // Another secret method that reads the digest: the secret is kept.
    let kept = secret_for_update(c, &with_method(c, AuthMethod::ClientSecretPost), &sealer);
    assert_eq!(kept.new_secret, None);
    assert_eq!(kept.hash, c.secret_hash);
    assert_eq!(kept.sealed, None);

    // client_secret_jwt needs the secret itself (HMAC): a new one, sealed, shown once.
    let jwt = secret_for_update(c, &with_method(c, AuthMethod::ClientSecretJwt), &sealer);
    let secret = jwt.new_secret.expect("a new secret");
    assert_eq!(jwt.hash.as_deref(), Some(secrets::digest(&secret).as_str()));
    assert_eq!(
        sealer.open(jwt.sealed.as_deref().unwrap()).as_deref(),
        Some(secret.as_str())
    );

    // A client_secret_jwt client keeps its secret and sealed copy while it stays one ...
    let jwt_client = Client {
        metadata: with_method(c, AuthMethod::ClientSecretJwt),
        secret_hash: jwt.hash.clone(),
        secret_sealed: jwt.sealed.clone(),
        ..c.clone()
    };
    let again = secret_for_update(&jwt_client, &jwt_client.metadata, &sealer);
    assert_eq!(
        (again.new_secret, again.hash, again.sealed),
        (None, jwt.hash.clone(), jwt.sealed.clone())
    );
    // ... and drops the sealed copy when it moves to a digest-only method.
    let back = secret_for_update(
        &jwt_client,
        &with_method(c, AuthMethod::ClientSecretBasic),
        &sealer,
    );
    assert_eq!(
        (back.new_secret, back.hash, back.sealed),
        (None, jwt.hash, None)
    );

    // Methods without a secret hold none.
    for method in [
        AuthMethod::PrivateKeyJwt,
        AuthMethod::None,
        AuthMethod::TlsClientAuth,
    ] {
        assert_eq!(
            secret_for_update(c, &with_method(c, method), &sealer),
            SecretColumns::default()
        );
    }

    // A client that had none and moves to a secret method gets one.
    let public = Client {
        secret_hash: None,
        ..c.clone()
    };
    assert!(secret_for_update(&public, &c.metadata, &sealer)
        .new_secret
        .is_some());
}

#[test]
fn a_webhook_secret_exactly_when_a_webhook_url_needs_one() {
    let (_d, sealer) = sealer();
    let mut m = register(metadata("none"), Registrar::Dynamic, &sealer)
        .client
        .metadata;
    assert!(!needs_webhook_secret(&m, false));
    m.webhook_url = Some("https://hooks.example.test/cb".into());
    assert!(needs_webhook_secret(&m, false));
    assert!(!needs_webhook_secret(&m, true));
}

/// RFC 7591 §3.2.2: a bad redirect URI is `invalid_redirect_uri`, with the same text as the
/// type's own refusal; a bad subject type is `invalid_client_metadata`.
#[test]
fn metadata_refusals_keep_their_codes() {
    let outbound = OutboundPolicy::default();
    let mut raw = metadata("none");
    raw["redirect_uris"] = json!([
        "https://app.example.test/cb",
        "https://app.example.test/cb#x"
    ]);
    let e = parse_metadata(raw, &outbound).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidRedirectUri);
    assert_eq!(
        e.description(),
        "redirect_uri https://app.example.test/cb#x: must not contain a fragment"
    );
    let mut raw = metadata("none");
    raw["subject_type"] = json!("per_sector");
    let e = parse_metadata(raw, &outbound).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidClientMetadata);
    assert_eq!(e.description(), SubjectType::UNSUPPORTED);
    let mut raw = metadata("none");
    raw["subject_type"] = json!("pairwise");
    let m = parse_metadata(raw, &outbound).unwrap();
    assert_eq!(m.subject_type, Some(SubjectType::Pairwise));
    assert_eq!(m.pairwise_sector().as_deref(), Some("app.example.test"));
    assert!(m.registers_redirect_uri("https://app.example.test/cb"));
    assert!(!m.registers_redirect_uri("https://app.example.test/cb/"));
}
