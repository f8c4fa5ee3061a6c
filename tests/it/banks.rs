//! Bank connections through institution scripts: the connection lists and icons, the chooser,
//! form journeys, connections in the ID token, reauth, and the contract's scope rules.

use crate::harness::*;
use serde_json::{json, Value};

/// Asks for the connection id in the ID token (contract: Claims).
const WANT_CONNECTION: &str = r#"{"id_token":{"mh:con_id":{"essential":true}}}"#;

/// A browser going through a bank interaction.
pub struct BankJourney<'a> {
    pub j: Journey<'a>,
}

impl<'a> BankJourney<'a> {
    pub fn new(s: &'a TestServer) -> Self {
        BankJourney { j: Journey::new(s) }
    }

    /// Authorizes and returns the interaction path.
    pub async fn start(&self, params: &[(String, String)]) -> String {
        let (status, loc, body) = self.j.authorize(params).await;
        assert_eq!(status, 303, "authorize: {body}");
        assert!(loc.starts_with("/interaction/"), "to interaction: {loc}");
        loc
    }

    pub async fn page(&self, interaction: &str) -> String {
        let (status, loc, body) = self.j.get(interaction).await;
        assert_eq!(status, 200, "interaction page: {status} {loc} {body}");
        body
    }

    /// Approves on the consent page (which must name `bank`); returns (status, Location).
    pub async fn approve(&self, interaction: &str, bank: &str) -> (u16, String) {
        let page = self.page(interaction).await;
        assert!(page.contains("Allow access"), "consent page: {page}");
        assert!(page.contains(bank), "consent names the bank {bank}: {page}");
        let csrf = hidden(&page, "csrf_token").unwrap();
        let (status, loc, _) = self
            .j
            .post(
                &format!("{interaction}/consent"),
                &[("csrf_token", &csrf), ("decision", "approve")],
            )
            .await;
        // Approval always leaves the page: to the institution's next step or the client.
        assert_eq!(status, 303, "approve on {interaction}");
        (status, loc)
    }

    /// Fills the institution's current form; returns (status, Location, body).
    pub async fn submit(
        &self,
        interaction: &str,
        fields: &[(&str, &str)],
    ) -> (u16, String, String) {
        let page = self.page(interaction).await;
        assert!(page.contains("/journey"), "institution form: {page}");
        let csrf = hidden(&page, "csrf_token").unwrap();
        let mut form = vec![("csrf_token", csrf.as_str()), ("action", "submit")];
        form.extend_from_slice(fields);
        self.j.post(&format!("{interaction}/journey"), &form).await
    }

    /// Picks an institution in the chooser.
    pub async fn choose(&self, interaction: &str, institution: &str) {
        let page = self.page(interaction).await;
        assert!(page.contains("Choose your bank"), "chooser: {page}");
        let csrf = hidden(&page, "csrf_token").unwrap();
        let (status, loc, body) = self
            .j
            .post(
                &format!("{interaction}/choose"),
                &[("csrf_token", &csrf), ("institution", institution)],
            )
            .await;
        assert_eq!((status, loc.as_str()), (303, interaction), "{body}");
    }

    /// The Sandbox Bank journey from consent to the redirect back to the client.
    pub async fn sandbox_bank(&self, interaction: &str) -> String {
        let (status, loc) = self.approve(interaction, "Sandbox Bank").await;
        assert_eq!((status, loc.as_str()), (303, interaction));
        let (status, cb, body) = self
            .submit(
                interaction,
                &[("username", "sandbox"), ("password", "sandbox-password")],
            )
            .await;
        assert_eq!(status, 303, "{body}");
        cb
    }
}

/// Exchanges the code in `callback` and returns the token response.
pub async fn redeem(s: &TestServer, c: &TestClient, callback: &str, verifier: &str) -> Value {
    let q = query(callback);
    assert!(!q.contains_key("error"), "callback: {callback}");
    let (status, body) = s
        .token(
            c,
            &[
                ("grant_type", "authorization_code"),
                ("code", &q["code"]),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn bank_params(
    c: &TestClient,
    challenge: &str,
    scope: &str,
    claims: &str,
) -> Vec<(String, String)> {
    auth_params(c, challenge, &[("scope", scope), ("claims", claims)])
}

/// Connects Sandbox Bank with nobody identified; returns (user id, connection id).
pub async fn connect_sandbox(s: &TestServer, c: &TestClient) -> (String, String) {
    let (verifier, challenge) = pkce();
    let b = BankJourney::new(s);
    let i = b
        .start(&bank_params(
            c,
            &challenge,
            "openid id:sandbox-bank",
            WANT_CONNECTION,
        ))
        .await;
    let cb = b.sandbox_bank(&i).await;
    let tokens = redeem(s, c, &cb, &verifier).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    (
        id["sub"].as_str().unwrap().to_string(),
        id["mh:con_id"]
            .as_str()
            .expect("mh:con_id in the id_token")
            .to_string(),
    )
}

async fn get_json(s: &TestServer, path: &str) -> (u16, Value) {
    let res = s.browser().get(s.url(path)).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn connection_lists_carry_the_contract_fields_by_type() {
    let s = TestServer::start().await;
    let (status, all) = get_json(&s, "/.well-known/all-connections").await;
    assert_eq!(status, 200);
    let ids = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all_ids = ids(&all);
    for id in ["sandbox-bank", "sandbox-otp", "example-building-society"] {
        assert!(all_ids.contains(&id.to_string()), "{id} in {all_ids:?}");
    }
    let sandbox = all
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "sandbox-bank")
        .unwrap();
    assert_eq!(sandbox["name"], "Sandbox Bank");
    assert_eq!(sandbox["type"], "test");
    assert_eq!(sandbox["bankRef"], "sandbox-bank");
    assert_eq!(sandbox["parentRef"], "sandbox-bank");
    assert_eq!(
        sandbox["iconUrl"],
        format!("{}/bank-icons/sandbox-bank", s.base)
    );
    assert_eq!(
        sandbox["accountTypes"][0],
        json!({"type": "cash", "beta": false})
    );
    assert_eq!(sandbox["userTypes"], json!(["personal", "business"]));

    // Each typed list holds exactly the institutions of its type.
    for (kind, expected) in [
        ("test", vec!["sandbox-bank", "credit-union", "sandbox-otp"]),
        ("legacy", vec!["example-building-society"]),
        ("api", vec!["oauth-bank"]),
    ] {
        let (status, list) = get_json(&s, &format!("/.well-known/{kind}-connections")).await;
        assert_eq!(status, 200, "{kind}");
        assert_eq!(ids(&list), expected, "{kind}");
        assert!(list.as_array().unwrap().iter().all(|c| c["type"] == kind));
    }
}

#[tokio::test]
async fn bank_icons_are_svg_with_404_unless_default_is_asked_for() {
    let s = TestServer::start().await;
    let http = s.browser();
    let get = |path: &str| http.get(format!("{}{path}", s.base)).send();
    let res = get("/bank-icons/sandbox-bank").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    assert!(res.text().await.unwrap().contains("Sandbox Bank"));
    // Contract: no icon → 404, unless defaultIcon=true; `default` is the generic icon.
    assert_eq!(get("/bank-icons/sandbox-otp").await.unwrap().status(), 404);
    assert_eq!(get("/bank-icons/no-such-bank").await.unwrap().status(), 404);
    let res = get("/bank-icons/no-such-bank?defaultIcon=true")
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap().contains("<svg"));
    let res = get("/bank-icons/default").await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
}

#[tokio::test]
async fn connecting_a_bank_with_nobody_identified_creates_a_user_and_a_connection() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (verifier, challenge) = pkce();
    let b = BankJourney::new(&s);
    let i = b
        .start(&bank_params(
            &c,
            &challenge,
            "openid id:sandbox-bank",
            WANT_CONNECTION,
        ))
        .await;
    // No login page: id:{bank} skips the chooser and goes to consent.
    let (status, loc) = b.approve(&i, "Sandbox Bank").await;
    assert_eq!((status, loc.as_str()), (303, i.as_str()));
    // A wrong password shows the form again with the script's message.
    let (status, loc, _) = b
        .submit(&i, &[("username", "sandbox"), ("password", "wrong")])
        .await;
    assert_eq!((status, loc.as_str()), (303, i.as_str()));
    let page = b.page(&i).await;
    assert!(page.contains("Wrong username or password."), "{page}");
    assert!(
        page.contains("value=\"sandbox\""),
        "the username is kept: {page}"
    );
    assert!(!page.contains("value=\"wrong\""), "the password never is");
    let (status, cb, _) = b
        .submit(
            &i,
            &[("username", "sandbox"), ("password", "sandbox-password")],
        )
        .await;
    assert_eq!(status, 303);
    assert!(cb.starts_with(REDIRECT_URI), "{cb}");
    assert_eq!(query(&cb)["state"], "state-123");
    let tokens = redeem(&s, &c, &cb, &verifier).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    let con_id = id["mh:con_id"].as_str().expect("mh:con_id");
    // The contract's form: <32 hex>:<uuid>.
    let (hash, uuid) = con_id.split_once(':').unwrap();
    assert_eq!(hash.len(), 32);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(uuid::Uuid::parse_str(uuid).is_ok(), "{con_id}");
    // The new user is the client's own.
    let sub = id["sub"].as_str().unwrap().to_string();
    let user = s
        .provider
        .store
        .read(move |tx| tx.users().get(&sub))
        .await
        .unwrap()
        .expect("a new user for the connection");
    assert_eq!(user.managed_by_client.as_deref(), Some(c.id.as_str()));
    // The connection is stored with the script's data sealed, and its consent expiry.
    let cid = con_id.to_string();
    let conn = s
        .provider
        .store
        .read(move |tx| tx.connections().get(&cid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conn.institution_id, "sandbox-bank");
    assert_eq!(conn.status, "active");
    let sealed = conn.data_sealed.unwrap();
    assert!(
        !sealed.contains("SANDBOX-0001"),
        "data is encrypted at rest"
    );
    assert!(s
        .provider
        .sealer
        .open(&sealed)
        .unwrap()
        .contains("SANDBOX-0001"));
    assert_eq!(
        conn.consent_expires_at,
        Some(conn.created_at + 90 * 24 * 3600)
    );
}

#[tokio::test]
async fn the_id_token_names_the_connection_only_when_asked() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (verifier, challenge) = pkce();
    let b = BankJourney::new(&s);
    let i = b
        .start(&auth_params(
            &c,
            &challenge,
            &[("scope", "openid id:sandbox-bank")],
        ))
        .await;
    let cb = b.sandbox_bank(&i).await;
    let tokens = redeem(&s, &c, &cb, &verifier).await;
    assert!(jwt_claims(tokens["id_token"].as_str().unwrap())
        .get("mh:con_id")
        .is_none());
}

#[tokio::test]
async fn the_chooser_lists_by_type_searches_and_runs_a_multi_step_journey() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (verifier, challenge) = pkce();
    let b = BankJourney::new(&s);
    let i = b
        .start(&bank_params(
            &c,
            &challenge,
            "openid id:test",
            WANT_CONNECTION,
        ))
        .await;
    let page = b.page(&i).await;
    assert!(
        page.contains("Sandbox Bank") && page.contains("Sandbox OTP Bank"),
        "{page}"
    );
    assert!(
        !page.contains("Example Building Society"),
        "id:test lists test connections only"
    );
    let (_, _, found) = b.j.get(&format!("{i}?q=otp")).await;
    assert!(
        found.contains("Sandbox OTP Bank") && !found.contains(">Sandbox Bank<"),
        "{found}"
    );
    b.choose(&i, "sandbox-otp").await;
    let (status, _) = b.approve(&i, "Sandbox OTP Bank").await;
    assert_eq!(status, 303);
    let (status, loc, _) = b
        .submit(
            &i,
            &[("username", "sandbox"), ("password", "sandbox-password")],
        )
        .await;
    assert_eq!(
        (status, loc.as_str()),
        (303, i.as_str()),
        "credentials lead to the code step"
    );
    let page = b.page(&i).await;
    assert!(page.contains("one-time code"), "{page}");
    let (_, loc, _) = b.submit(&i, &[("code", "000000")]).await;
    assert_eq!(loc, i);
    let (status, cb, _) = b.submit(&i, &[("code", "123456")]).await;
    assert_eq!(status, 303);
    let tokens = redeem(&s, &c, &cb, &verifier).await;
    let con_id = jwt_claims(tokens["id_token"].as_str().unwrap())["mh:con_id"].clone();
    assert!(con_id.is_string(), "{tokens}");
}

#[tokio::test]
async fn the_chooser_refuses_institutions_it_did_not_offer() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let b = BankJourney::new(&s);
    let i = b
        .start(&bank_params(&c, &challenge, "openid id:test", "{}"))
        .await;
    let page = b.page(&i).await;
    let csrf = hidden(&page, "csrf_token").unwrap();
    // A legacy institution was not offered under id:test (and this client has no legacy access).
    let (status, _, body) =
        b.j.post(
            &format!("{i}/choose"),
            &[
                ("csrf_token", &csrf),
                ("institution", "example-building-society"),
            ],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    // CSRF applies to the chooser form too.
    let (status, _, _) =
        b.j.post(&format!("{i}/choose"), &[("institution", "sandbox-bank")])
            .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn cancelling_the_institution_form_returns_access_denied() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let b = BankJourney::new(&s);
    let i = b
        .start(&bank_params(&c, &challenge, "openid id:sandbox-bank", "{}"))
        .await;
    b.approve(&i, "Sandbox Bank").await;
    let page = b.page(&i).await;
    let csrf = hidden(&page, "csrf_token").unwrap();
    let (status, cb, _) =
        b.j.post(
            &format!("{i}/journey"),
            &[("csrf_token", &csrf), ("action", "cancel")],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(query(&cb)["error"], "access_denied");
}

#[tokio::test]
async fn a_script_that_fails_the_journey_sends_access_denied_with_its_message() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let b = BankJourney::new(&s);
    let i = b
        .start(&bank_params(&c, &challenge, "openid id:sandbox-bank", "{}"))
        .await;
    b.approve(&i, "Sandbox Bank").await;
    let mut last = String::new();
    for _ in 0..3 {
        let (_, loc, _) = b.submit(&i, &[("username", "x"), ("password", "y")]).await;
        last = loc;
    }
    let q = query(&last);
    assert_eq!(q["error"], "access_denied", "{last}");
    assert!(q["error_description"].contains("Too many wrong sign-in attempts"));
}

/// Authorizes with `scope` and `claims`; returns the error redirected to the client.
async fn refused(s: &TestServer, c: &TestClient, scope: &str, claims: &str) -> (String, String) {
    let (_, challenge) = pkce();
    let j = Journey::new(s);
    let (status, loc, body) = j
        .authorize(&bank_params(c, &challenge, scope, claims))
        .await;
    assert_eq!(status, 303, "{body}");
    let q = query(&loc);
    (
        q.get("error")
            .cloned()
            .unwrap_or_else(|| panic!("error expected: {loc}")),
        q.get("error_description").cloned().unwrap_or_default(),
    )
}

#[tokio::test]
async fn bank_scope_rules_answer_invalid_scope() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let con = r#"{"id_token":{"sub":{"value":"u1"},"mh:con_id":{"value":"x:y"}}}"#;
    // Contract, Scopes → Financial institutions: the id:* scopes are mutually exclusive.
    assert_eq!(
        refused(&s, &c, "openid id:all id:test", "{}").await.0,
        "invalid_scope"
    );
    assert_eq!(
        refused(&s, &c, "openid id:sandbox-bank id:sandbox-otp", "{}")
            .await
            .0,
        "invalid_scope"
    );
    // Contract, Connection lifecycle: only openid may accompany reauth or refresh.
    assert_eq!(
        refused(&s, &c, "openid reauth accounts:read", con).await.0,
        "invalid_scope"
    );
    assert_eq!(
        refused(&s, &c, "openid refresh reauth", con).await.0,
        "invalid_scope"
    );
    assert_eq!(
        refused(&s, &c, "openid reauth id:test", con).await.0,
        "invalid_scope"
    );
    // An institution that does not exist, or one of a type the client was not granted.
    assert_eq!(
        refused(&s, &c, "openid id:no-such-bank", "{}").await.0,
        "invalid_scope"
    );
    assert_eq!(
        refused(&s, &c, "openid id:example-building-society", "{}")
            .await
            .0,
        "invalid_scope"
    );
    assert_eq!(
        refused(&s, &c, "openid id:legacy", "{}").await.0,
        "invalid_scope"
    );
    assert_eq!(
        refused(&s, &c, "openid id:api", "{}").await.0,
        "invalid_scope"
    );
    // Contract, Connection lifecycle: reauth and refresh need sub and mh:con_id values.
    let (e, d) = refused(
        &s,
        &c,
        "openid reauth",
        r#"{"id_token":{"sub":{"value":"u1"}}}"#,
    )
    .await;
    assert_eq!(e, "invalid_request");
    assert!(d.contains("mh:con_id"), "{d}");
    let (e, _) = refused(
        &s,
        &c,
        "openid refresh",
        r#"{"id_token":{"mh:con_id":{"value":"x:y"}}}"#,
    )
    .await;
    assert_eq!(e, "invalid_request");
    // OIDC Core §3.1.2.6: a bank journey cannot happen without the user.
    let (_, challenge) = pkce();
    let (_, loc, _) = Journey::new(&s)
        .authorize(&auth_params(
            &c,
            &challenge,
            &[("scope", "openid id:test"), ("prompt", "none")],
        ))
        .await;
    assert_eq!(query(&loc)["error"], "interaction_required");
}

#[tokio::test]
async fn a_client_granted_legacy_connections_can_use_them() {
    let s = TestServer::start().await;
    let c = s.client(json!({"connection_types": ["legacy"]})).await;
    let (verifier, challenge) = pkce();
    let b = BankJourney::new(&s);
    let i = b
        .start(&bank_params(
            &c,
            &challenge,
            "openid id:legacy",
            WANT_CONNECTION,
        ))
        .await;
    let page = b.page(&i).await;
    assert!(page.contains("Example Building Society") && !page.contains("Sandbox Bank"));
    b.choose(&i, "example-building-society").await;
    b.approve(&i, "Example Building Society").await;
    let (status, cb, _) = b
        .submit(
            &i,
            &[("customer_number", "12345678"), ("passcode", "secret-pass")],
        )
        .await;
    assert_eq!(status, 303);
    let tokens = redeem(&s, &c, &cb, &verifier).await;
    assert!(jwt_claims(tokens["id_token"].as_str().unwrap())["mh:con_id"].is_string());
}

fn lifecycle_claims(sub: &str, con_id: &str) -> String {
    json!({"id_token": {"sub": {"essential": true, "value": sub}, "mh:con_id": {"essential": true, "value": con_id}}})
        .to_string()
}

#[tokio::test]
async fn reauth_renews_the_same_connection_for_the_clients_user() {
    let s = TestServer::start().await;
    let c = s
        .client(json!({
            "response_types": ["code", "code id_token", "id_token"],
            "grant_types": ["authorization_code", "implicit", "refresh_token"],
        }))
        .await;
    let (sub, con_id) = connect_sandbox(&s, &c).await;
    // Let the consent lapse: the connection needs reauth.
    let cid = con_id.clone();
    s.sql_exec(
        "UPDATE connections SET status = 'reauth_required', consent_expires_at = 1 WHERE id = ?1",
        &[&cid],
    )
    .await;
    // Contract: reauth with response_type id_token; the client's own user needs no login.
    let (_, challenge) = pkce();
    let b = BankJourney::new(&s);
    let params = auth_params(
        &c,
        &challenge,
        &[
            ("scope", "openid reauth"),
            ("response_type", "id_token"),
            ("claims", &lifecycle_claims(&sub, &con_id)),
        ],
    );
    let i = b.start(&params).await;
    let (status, loc) = b.approve(&i, "Sandbox Bank").await;
    assert_eq!((status, loc.as_str()), (303, i.as_str()));
    let (status, cb, _) = b
        .submit(
            &i,
            &[("username", "sandbox"), ("password", "sandbox-password")],
        )
        .await;
    assert_eq!(status, 303);
    // id_token alone: delivered in the fragment.
    let fragment = url::Url::parse(&cb)
        .unwrap()
        .fragment()
        .unwrap_or_default()
        .to_string();
    let params: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(fragment.as_bytes())
            .into_owned()
            .collect();
    let id = jwt_claims(&params["id_token"]);
    assert_eq!(id["sub"], sub.as_str());
    assert_eq!(id["mh:con_id"], con_id.as_str());
    let cid = con_id.clone();
    let conn = s
        .provider
        .store
        .read(move |tx| tx.connections().get(&cid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conn.status, "active");
    assert!(conn.consent_expires_at.unwrap() > s.provider.now());
}

#[tokio::test]
async fn reauth_of_another_clients_connection_is_refused() {
    let s = TestServer::start().await;
    let a = s.client(json!({})).await;
    let b = s.client(json!({})).await;
    let (sub, con_id) = connect_sandbox(&s, &a).await;
    let (e, d) = refused(&s, &b, "openid reauth", &lifecycle_claims(&sub, &con_id)).await;
    assert_eq!(e, "invalid_request", "{d}");
    // Nor may a client pin a connection of its user that does not exist.
    let (e, _) = refused(&s, &a, "openid refresh", &lifecycle_claims(&sub, "0:nope")).await;
    assert_eq!(e, "invalid_request");
}

#[tokio::test]
async fn a_pinned_user_of_another_client_must_log_in() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let alice = s.user("alice").await;
    let (verifier, challenge) = pkce();
    let b = BankJourney::new(&s);
    let claims = json!({"id_token": {"sub": {"value": alice}, "mh:con_id": {"essential": true}}})
        .to_string();
    let i = b
        .start(&bank_params(
            &c,
            &challenge,
            "openid id:sandbox-bank",
            &claims,
        ))
        .await;
    let page = b.page(&i).await;
    assert!(
        page.contains("Sign in"),
        "alice is not the client's user: {page}"
    );
    let (status, back, _) = b.j.login(&i, "alice", PASSWORD).await;
    assert_eq!((status, back.as_str()), (303, i.as_str()));
    let cb = b.sandbox_bank(&i).await;
    let tokens = redeem(&s, &c, &cb, &verifier).await;
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], alice.as_str());
    assert!(id["mh:con_id"].is_string());
}

#[tokio::test]
async fn discovery_advertises_the_bank_scopes_and_the_connection_claim() {
    let s = TestServer::start().await;
    let (_, d) = get_json(&s, "/.well-known/openid-configuration").await;
    for scope in ["id:all", "id:test", "reauth", "refresh"] {
        assert!(
            d["scopes_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(scope)),
            "{scope}"
        );
    }
    assert!(d["claims_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("mh:con_id")));
}

#[tokio::test]
async fn lapsed_consent_marks_the_connection_as_needing_reauth() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, con_id) = connect_sandbox(&s, &c).await;
    assert!(consentry::sweep_once(&s.provider).await.unwrap().is_empty());
    // Sandbox Bank's consent lasts 90 days.
    s.provider.clock.advance(90 * 24 * 3600 + 1);
    let lapsed = consentry::sweep_once(&s.provider).await.unwrap();
    assert_eq!(lapsed.len(), 1);
    assert_eq!(lapsed[0].id, con_id);
    let cid = con_id.clone();
    let conn = s
        .provider
        .store
        .read(move |tx| tx.connections().get(&cid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conn.status, "reauth_required");
    // Reported once, not on every sweep.
    assert!(consentry::sweep_once(&s.provider).await.unwrap().is_empty());
}

#[tokio::test]
async fn bank_form_posts_to_a_sign_in_without_a_bank_are_bad_requests() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    let (_, challenge) = pkce();
    let j = Journey::new(&s);
    let (_, i, _) = j.authorize(&auth_params(&c, &challenge, &[])).await;
    let (_, _, page) = j.get(&i).await;
    let csrf = hidden(&page, "csrf_token").unwrap();
    // A plain sign-in has no chooser or institution form: 400, never a server error.
    for (path, field) in [
        ("choose", ("institution", "sandbox-bank")),
        ("journey", ("action", "submit")),
    ] {
        let (status, _, body) = j
            .post(&format!("{i}/{path}"), &[("csrf_token", &csrf), field])
            .await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("not about a bank"), "{path}: {body}");
    }
}
