//! Federated login with an upstream OpenID provider: a second Consentry instance plays the
//! identity provider (IdP); the provider under test (RP) offers it on its login page, runs
//! the code flow with PKCE, state and nonce, checks the ID token, and links or creates the
//! local user by the configured rule. On the account page the user signs in through the same
//! provider, and sees and unlinks the identities they sign in with.

use crate::account::dashboard;
use crate::harness::*;
use crate::keys::ClientKey;
use consentry::config::federation::{LinkRule, ProviderConfig, ProviderKind, TokenAuth};
use serde_json::{json, Value};

const RP_CLIENT: &str = "consentry-federated-rp";
const RP_SECRET: &str = "federated-rp-secret-0123456789abcdefghijklmn";
const PROVIDER: &str = "upstream";

/// The identity provider, and the provider under test configured to use it.
struct Fed {
    idp: TestServer,
    rp: TestServer,
}

async fn fed(link: LinkRule) -> Fed {
    fed_with(link, TokenAuth::ClientSecretBasic, None).await
}

/// The RP authenticating at the IdP's token endpoint with `auth`; for private_key_jwt the
/// IdP registers `jwks` (by default the RP's own `/jwks`, as its operator would).
async fn fed_with(link: LinkRule, auth: TokenAuth, jwks: Option<Value>) -> Fed {
    let idp = TestServer::start().await;
    let ca = idp.provider.config.keys_dir().join("ca.pem");
    let issuer = idp.issuer.clone();
    let rp = TestServer::start_with(move |c| {
        c.federation.providers.push(ProviderConfig {
            id: PROVIDER.into(),
            name: "Upstream ID".into(),
            kind: ProviderKind::Oidc,
            link,
            issuer: Some(issuer),
            client_id: Some(RP_CLIENT.into()),
            client_secret: (auth != TokenAuth::PrivateKeyJwt).then(|| RP_SECRET.into()),
            scope: None,
            token_endpoint_auth_method: auth,
            ca_file: Some(ca),
            idp_metadata_file: None,
            idp_metadata_url: None,
            sp_entity_id: None,
            trust_email: false,
            want_assertions_encrypted: false,
        })
    })
    .await;
    let mut registration = json!({
        "client_id": RP_CLIENT, "client_secret": RP_SECRET,
        "redirect_uris": [format!("{}/federated/callback", rp.base)],
    });
    if auth == TokenAuth::PrivateKeyJwt {
        let jwks = match jwks {
            Some(j) => j,
            None => rp_jwks(&rp).await,
        };
        registration = json!({
            "client_id": RP_CLIENT, "token_endpoint_auth_method": "private_key_jwt",
            "jwks": jwks,
            "redirect_uris": [format!("{}/federated/callback", rp.base)],
        });
    }
    idp.client(registration).await;
    Fed { idp, rp }
}

/// The RP's published signing keys: what an operator registers at the IdP for
/// private_key_jwt.
async fn rp_jwks(rp: &TestServer) -> Value {
    let res = rp.browser().get(rp.url("/jwks")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

impl Fed {
    /// At the RP: an authorization request, then the provider's button on the login page.
    /// Returns the interaction and the URL of the IdP's authorization endpoint.
    async fn to_idp(&self, j: &Journey<'_>, params: &[(String, String)]) -> (String, String) {
        let (status, interaction, body) = j.authorize(params).await;
        assert_eq!(status, 303, "authorize: {body}");
        let (status, _, page) = j.get(&interaction).await;
        assert_eq!(status, 200);
        assert!(page.contains("Sign in with Upstream ID"), "{page}");
        let csrf = hidden(&page, "csrf_token").unwrap();
        let button = format!("{interaction}/federated/{PROVIDER}");
        let (status, _, _) = j.post(&button, &[("csrf_token", "forged")]).await;
        assert_eq!(status, 403, "the provider button checks the CSRF token");
        let (status, to_idp, body) = j.post(&button, &[("csrf_token", &csrf)]).await;
        assert_eq!(status, 303, "{body}");
        assert!(to_idp.starts_with(&self.idp.issuer), "{to_idp}");
        let q = query(&to_idp);
        assert_eq!(q["client_id"], RP_CLIENT);
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(
            q["redirect_uri"],
            format!("{}/federated/callback", self.rp.base)
        );
        assert!(q["scope"].split(' ').any(|s| s == "openid"));
        assert!(q.contains_key("nonce") && q.contains_key("state"));
        (interaction, to_idp)
    }

    /// At the IdP (its own cookie jar, as another site): log in as `username` and decide;
    /// returns where the IdP sends the browser back.
    async fn at_idp(&self, url: &str, username: &str, decision: &str) -> String {
        let j = Journey::new(&self.idp);
        let (status, interaction, body) = j.get(url).await;
        assert_eq!(status, 303, "IdP authorize: {body}");
        let (status, _, _) = j.login(&interaction, username, PASSWORD).await;
        assert_eq!(status, 303);
        let back = j.decide(&interaction, decision).await;
        assert!(
            back.starts_with(&format!("{}/federated/callback", self.rp.base)),
            "{back}"
        );
        back
    }

    /// A whole authorization at the RP signed in at the IdP as `username`: the tokens.
    async fn authorize_via_idp(&self, username: &str) -> Value {
        self.authorize_via_idp_in(&Journey::new(&self.rp), username)
            .await
    }

    /// [`Self::authorize_via_idp`] in the browser `j`, which keeps the RP's session.
    async fn authorize_via_idp_in(&self, j: &Journey<'_>, username: &str) -> Value {
        let c = self.rp.client(json!({})).await;
        let (verifier, challenge) = pkce();
        let (interaction, to_idp) = self.to_idp(j, &auth_params(&c, &challenge, &[])).await;
        let back = self.at_idp(&to_idp, username, "approve").await;
        let (status, next, body) = j.get(&back).await;
        assert_eq!(
            (status, next.as_str()),
            (303, interaction.as_str()),
            "{body}"
        );
        let cb = j.decide(&interaction, "approve").await;
        let code = query(&cb)["code"].clone();
        let (status, tokens) = self.rp.exchange_code(&c, &code, &verifier).await;
        assert_eq!(status, 200, "{tokens}");
        tokens
    }

    /// At the RP's dashboard in the browser `j`: the sign-in page's button for the IdP;
    /// returns the URL of the IdP's authorization endpoint (code flow, PKCE, state, nonce).
    async fn dashboard_to_idp(&self, j: &Journey<'_>) -> String {
        let (status, _, page) = j.get("/account").await;
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("action=\"/account/federated/upstream\"")
                && page.contains("Sign in with Upstream ID"),
            "the dashboard's sign-in page offers the provider: {page}"
        );
        let csrf = hidden(&page, "csrf_token").unwrap();
        let button = format!("/account/federated/{PROVIDER}");
        let (status, to_idp, body) = j.post(&button, &[("csrf_token", &csrf)]).await;
        assert_eq!(status, 303, "{body}");
        assert!(to_idp.starts_with(&self.idp.issuer), "{to_idp}");
        let q = query(&to_idp);
        assert_eq!(q["code_challenge_method"], "S256");
        assert!(q.contains_key("nonce") && q.contains_key("state"));
        to_idp
    }

    /// The RP's sessions.
    async fn sessions(&self) -> i64 {
        self.rp.sql_count("SELECT COUNT(*) FROM sessions").await
    }

    /// The RP's local user linked to the IdP's subject.
    async fn linked(&self, idp_subject: &str) -> Option<String> {
        let sub = idp_subject.to_string();
        self.rp
            .provider
            .store
            .read(move |tx| tx.federation().linked_user(PROVIDER, &sub))
            .await
            .unwrap()
    }

    /// The RP's linked identities, of anyone.
    async fn links(&self) -> i64 {
        self.rp
            .sql_count("SELECT count(*) FROM federated_identities")
            .await
    }

    /// Signs in at the RP through the IdP as `username` in a new browser; that browser (it
    /// holds the RP session), the RP's local user, and the id of the identity's unlink form
    /// on its dashboard.
    async fn signed_in_via_idp(&self, username: &str) -> (Journey<'_>, String, String) {
        let j = Journey::new(&self.rp);
        let local = sub_of(&self.authorize_via_idp_in(&j, username).await);
        let (page, _) = dashboard(&j).await;
        let identity = hidden(&page, "identity_id").expect("an unlink form");
        (j, local, identity)
    }

    /// Users the RP created for federated logins (they have no username; the demo's and
    /// the tests' local users do).
    async fn rp_users(&self) -> i64 {
        self.rp
            .sql_count("SELECT count(*) FROM users WHERE username IS NULL")
            .await
    }
}

fn sub_of(tokens: &Value) -> String {
    jwt_claims(tokens["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn create_rule_signs_in_a_new_local_user_and_a_second_login_reuses_the_link() {
    let f = fed(LinkRule::Create).await;
    let alice_at_idp = f.idp.user("alice").await;
    let tokens = f.authorize_via_idp("alice").await;
    let local = f
        .linked(&alice_at_idp)
        .await
        .expect("linked on first login");
    assert_ne!(local, alice_at_idp, "a local user of its own");
    assert_eq!(sub_of(&tokens), local, "tokens are the linked local user's");
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["amr"], json!(["fed"]), "{id_token}");
    // The new user has the IdP's claims (from UserInfo) and no password.
    let user =
        f.rp.provider
            .store
            .read(move |tx| tx.users().get(&local))
            .await
            .unwrap()
            .unwrap();
    assert_eq!(user.claims["email"], "alice@example.test");
    assert_eq!(user.claims["name"], "alice Example");
    assert!(user.password_hash.is_none() && user.username.is_none());
    assert_eq!(f.rp_users().await, 1);

    let again = f.authorize_via_idp("alice").await;
    assert_eq!(
        sub_of(&again),
        sub_of(&tokens),
        "the second login reuses the link"
    );
    assert_eq!(f.rp_users().await, 1, "no second user");
}

#[tokio::test]
async fn email_rule_links_the_local_user_with_the_same_verified_email() {
    let f = fed(LinkRule::Email).await;
    let alice_at_idp = f.idp.user("alice").await;
    let local_alice = f.rp.user("alice").await;
    let tokens = f.authorize_via_idp("alice").await;
    assert_eq!(sub_of(&tokens), local_alice);
    assert_eq!(
        f.linked(&alice_at_idp).await.as_deref(),
        Some(local_alice.as_str())
    );
    assert_eq!(f.rp_users().await, 0, "linked, not created");
}

#[tokio::test]
async fn existing_rule_refuses_an_identity_without_a_local_account_and_links_one_with() {
    let f = fed(LinkRule::Existing).await;
    let bob_at_idp = f.idp.user("bob").await;
    let c = f.rp.client(json!({})).await;
    let (_, challenge) = pkce();
    let j = Journey::new(&f.rp);
    let (_, to_idp) = f.to_idp(&j, &auth_params(&c, &challenge, &[])).await;
    let back = f.at_idp(&to_idp, "bob", "approve").await;
    let (status, _, page) = j.get(&back).await;
    assert_eq!(status, 403, "link rule existing: no local account, refused");
    assert!(
        page.contains("No account here has this verified e-mail"),
        "{page}"
    );
    assert!(
        page.contains("Sign in with Upstream ID"),
        "the login page again: {page}"
    );
    assert!(f.linked(&bob_at_idp).await.is_none());
    assert_eq!(f.rp_users().await, 0, "nobody created");

    let local_bob = f.rp.user("bob").await;
    let tokens = f.authorize_via_idp("bob").await;
    assert_eq!(sub_of(&tokens), local_bob);
}

#[tokio::test]
async fn rfc6749_10_12_a_tampered_state_is_refused_and_a_callback_is_single_use() {
    let f = fed(LinkRule::Create).await;
    f.idp.user("alice").await;
    let c = f.rp.client(json!({})).await;
    let (_, challenge) = pkce();
    let j = Journey::new(&f.rp);
    let (interaction, to_idp) = f.to_idp(&j, &auth_params(&c, &challenge, &[])).await;
    let back = f.at_idp(&to_idp, "alice", "approve").await;
    let state = query(&back)["state"].clone();
    let tampered = back.replace(&state, &format!("{state}x"));
    let (status, loc, _) = j.get(&tampered).await;
    assert_eq!((status, loc.as_str()), (400, ""), "tampered state refused");
    let (status, next, _) = j.get(&back).await;
    assert_eq!((status, next.as_str()), (303, interaction.as_str()));
    let (status, _, _) = j.get(&back).await;
    assert_eq!(status, 400, "the same answer twice: single use");
}

#[tokio::test]
async fn rfc9207_an_answer_naming_another_issuer_is_refused() {
    let f = fed(LinkRule::Create).await;
    f.idp.user("alice").await;
    let c = f.rp.client(json!({})).await;
    let (_, challenge) = pkce();
    let j = Journey::new(&f.rp);
    let (_, to_idp) = f.to_idp(&j, &auth_params(&c, &challenge, &[])).await;
    let back = f.at_idp(&to_idp, "alice", "approve").await;
    let iss = query(&back)["iss"].clone();
    assert_eq!(iss, f.idp.issuer, "the IdP names itself (RFC 9207)");
    let mut url = url::Url::parse(&back).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "iss" {
                "https://evil.example".into()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    let (status, _, page) = j.get(url.as_str()).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("RFC 9207"), "{page}");
    assert_eq!(f.rp_users().await, 0);
}

#[tokio::test]
async fn oidc_core_3_1_3_7_an_id_token_with_another_nonce_is_refused() {
    let f = fed(LinkRule::Create).await;
    f.idp.user("alice").await;
    let c = f.rp.client(json!({})).await;
    let (_, challenge) = pkce();
    let j = Journey::new(&f.rp);
    let (_, to_idp) = f.to_idp(&j, &auth_params(&c, &challenge, &[])).await;
    // The nonce kept with the interaction is not the one the IdP put in its ID token.
    let state_hash = consentry::secrets::digest(&query(&to_idp)["state"]);
    let now = f.rp.provider.now();
    let pending =
        f.rp.provider
            .store
            .read(move |tx| tx.federation().pending_by_state(&state_hash, now))
            .await
            .unwrap()
            .unwrap();
    let mut kept: Value =
        serde_json::from_str(&f.rp.provider.sealer.open(&pending.data_sealed).unwrap()).unwrap();
    kept["nonce"] = json!("another-nonce");
    let resealed = f.rp.provider.sealer.seal(&kept.to_string());
    let changed =
        f.rp.sql_exec(
            "UPDATE federated_logins SET data_sealed = ?1",
            &[resealed.as_str()],
        )
        .await;
    assert_eq!(changed, 1);
    let back = f.at_idp(&to_idp, "alice", "approve").await;
    let (status, loc, page) = j.get(&back).await;
    // The error page keeps the failure's own status: 503 temporarily_unavailable (RFC 9110
    // §15.6.4), not a generic 500.
    assert_eq!(
        (status, loc.as_str()),
        (503, ""),
        "ID token nonce mismatch refused"
    );
    assert!(page.contains("upstream server could not be used"), "{page}");
    assert_eq!(f.rp_users().await, 0, "nobody signed in");
}

#[tokio::test]
async fn upstream_access_denied_shows_the_login_page_again() {
    let f = fed(LinkRule::Create).await;
    f.idp.user("alice").await;
    let c = f.rp.client(json!({})).await;
    let (_, challenge) = pkce();
    let j = Journey::new(&f.rp);
    let (interaction, to_idp) = f.to_idp(&j, &auth_params(&c, &challenge, &[])).await;
    let back = f.at_idp(&to_idp, "alice", "deny").await;
    assert_eq!(query(&back)["error"], "access_denied");
    let (status, _, page) = j.get(&back).await;
    assert_eq!(status, 403);
    assert!(page.contains("Upstream ID did not sign you in"), "{page}");
    assert!(
        page.contains(&format!("{interaction}/login")),
        "the login form again"
    );
    assert_eq!(f.rp_users().await, 0);
}

/// RFC 7523 §2.2 / OIDC Core §9 private_key_jwt: the IdP knows the RP only by the public keys
/// of the RP's `/jwks` (no secret at all); the RP's client assertion signed with its own keys
/// is accepted and the sign-in completes.
#[tokio::test]
async fn private_key_jwt_at_the_upstream_token_endpoint_signs_in() {
    let f = fed_with(LinkRule::Create, TokenAuth::PrivateKeyJwt, None).await;
    let alice_at_idp = f.idp.user("alice").await;
    let tokens = f.authorize_via_idp("alice").await;
    let local = f.linked(&alice_at_idp).await.expect("linked");
    assert_eq!(sub_of(&tokens), local);
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["amr"], json!(["fed"]), "{id_token}");
}

/// The IdP registered another key than the RP signs with: its token endpoint answers
/// invalid_client (RFC 6749 5.2), and the RP's login page says so; nobody signs in.
#[tokio::test]
async fn rfc7523_private_key_jwt_with_a_key_the_upstream_does_not_know_is_refused() {
    let stranger = ClientKey::new("PS256");
    let f = fed_with(
        LinkRule::Create,
        TokenAuth::PrivateKeyJwt,
        Some(stranger.jwks()),
    )
    .await;
    f.idp.user("alice").await;
    let c = f.rp.client(json!({})).await;
    let (_, challenge) = pkce();
    let j = Journey::new(&f.rp);
    let (interaction, to_idp) = f.to_idp(&j, &auth_params(&c, &challenge, &[])).await;
    let back = f.at_idp(&to_idp, "alice", "approve").await;
    let (status, _, page) = j.get(&back).await;
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("Upstream ID refused this server&#x27;s client authentication (invalid_client, RFC 6749 5.2)")
            || page.contains("Upstream ID refused this server's client authentication (invalid_client, RFC 6749 5.2)"),
        "{page}"
    );
    assert!(
        page.contains(&format!("{interaction}/login")),
        "the login form again: {page}"
    );
    assert_eq!(f.rp_users().await, 0, "nobody signed in");
    assert_eq!(f.rp.sql_count("SELECT COUNT(*) FROM sessions").await, 0);
}

/// Posts the dashboard's unlink form for the link `identity` with the CSRF token `csrf`.
async fn unlink(j: &Journey<'_>, csrf: &str, identity: &str) -> (u16, String, String) {
    j.post(
        "/account/identities/unlink",
        &[("csrf_token", csrf), ("identity_id", identity)],
    )
    .await
}

/// The dashboard lists the linked identity (provider name and date, not the upstream subject);
/// unlinking it removes the link, and the next login from that identity goes through the link
/// rule again: here the e-mail no longer matches, so the `email` rule makes a new user.
#[tokio::test]
async fn an_unlinked_identity_is_gone_and_its_next_login_follows_the_link_rule_again() {
    let f = fed(LinkRule::Email).await;
    let alice_at_idp = f.idp.user("alice").await;
    let local_alice = f.rp.user("alice").await;
    let (j, local, identity) = f.signed_in_via_idp("alice").await;
    assert_eq!(local, local_alice, "linked by e-mail");

    let (page, csrf) = dashboard(&j).await;
    assert!(page.contains("Sign-in methods"), "{page}");
    assert!(
        page.contains("<h3>Upstream ID</h3>"),
        "the provider's name: {page}"
    );
    assert!(page.contains("Linked <time datetime="), "when: {page}");
    assert!(page.contains("aria-label=\"Unlink Upstream ID\""), "{page}");
    assert!(
        !page.contains(&alice_at_idp),
        "the upstream subject is not shown: {page}"
    );

    let (status, to, _) = unlink(&j, &csrf, &identity).await;
    assert_eq!((status, to.as_str()), (303, "/account?revoked=identity"));
    let (status, _, page) = j.get(&to).await;
    assert_eq!(status, 200);
    assert!(page.contains("has been unlinked"), "the notice: {page}");
    assert!(!page.contains("Unlink Upstream ID"), "{page}");
    assert!(page.contains("No identity provider is linked"), "{page}");
    assert!(f.linked(&alice_at_idp).await.is_none(), "the link is gone");
    assert_eq!(f.links().await, 0);

    // Not silently still linked: with the e-mail changed here, the next login is a first
    // login again and the email rule creates a new user.
    let changed =
        f.rp.sql_exec(
            "UPDATE users SET claims = ?1 WHERE id = ?2",
            &[
                r#"{"email":"alice@elsewhere.test","email_verified":true}"#,
                &local_alice,
            ],
        )
        .await;
    assert_eq!(changed, 1);
    let tokens = f.authorize_via_idp("alice").await;
    let new_user = f.linked(&alice_at_idp).await.expect("linked again");
    assert_ne!(new_user, local_alice, "not the unlinked user");
    assert_eq!(sub_of(&tokens), new_user);
    assert_eq!(f.rp_users().await, 1, "the email rule created a user");
}

/// A user made by a federated login has no password: its only link is its only way to sign
/// in, so unlinking it is refused (409, the dashboard says why) and nothing is deleted. A
/// link to a provider no longer configured does not count; a second live link does.
#[tokio::test]
async fn the_last_way_to_sign_in_cannot_be_unlinked() {
    let f = fed(LinkRule::Create).await;
    let alice_at_idp = f.idp.user("alice").await;
    let (j, local, identity) = f.signed_in_via_idp("alice").await;
    let link = |provider: &'static str, subject: &'static str| {
        let (local, now) = (local.clone(), f.rp.provider.now());
        f.rp.provider
            .store
            .write(move |tx| tx.federation().link(provider, subject, &local, now))
    };

    let (_, csrf) = dashboard(&j).await;
    let (status, _, page) = unlink(&j, &csrf, &identity).await;
    assert_eq!(status, 409, "the last way to sign in is refused: {page}");
    assert!(
        page.contains("Upstream ID is the only way you can sign in")
            && page.contains("role=\"alert\""),
        "{page}"
    );
    assert!(page.contains("<html lang=\"en\">"), "{page}");
    assert_eq!(
        f.linked(&alice_at_idp).await.as_deref(),
        Some(local.as_str())
    );

    link("retired-provider", "old-subject").await.unwrap();
    let (status, _, _) = unlink(&j, &csrf, &identity).await;
    assert_eq!(
        status, 409,
        "a provider no longer configured signs nobody in"
    );
    assert_eq!(f.links().await, 2, "nothing deleted");

    link(PROVIDER, "second-subject").await.unwrap();
    let (status, _, _) = unlink(&j, &csrf, &identity).await;
    assert_eq!(status, 303, "another live link is left to sign in with");
    assert!(f.linked(&alice_at_idp).await.is_none());
    assert_eq!(f.links().await, 2);
}

/// RFC 6749 §10.12: an unlink without this browser's CSRF token is refused (403); another
/// user's identity or an unknown id is not found (404); nothing is deleted either way.
#[tokio::test]
async fn unlink_refuses_a_bad_csrf_token_rfc6749_10_12_and_another_users_identity() {
    let f = fed(LinkRule::Email).await;
    f.idp.user("alice").await;
    f.idp.user("bob").await;
    f.rp.user("alice").await;
    f.rp.user("bob").await;
    let (alice, _, alices) = f.signed_in_via_idp("alice").await;
    let (bob, _, bobs) = f.signed_in_via_idp("bob").await;
    let (_, bobs_csrf) = dashboard(&bob).await;
    let (_, csrf) = dashboard(&alice).await;

    for (label, token) in [
        ("missing", None),
        ("wrong", Some("x".repeat(43))),
        ("another browser's", Some(bobs_csrf)),
    ] {
        let mut form = vec![("identity_id", alices.as_str())];
        if let Some(t) = &token {
            form.push(("csrf_token", t));
        }
        let (status, _, page) = alice.post("/account/identities/unlink", &form).await;
        assert_eq!(
            status, 403,
            "RFC 6749 §10.12: {label} CSRF token refused: {page}"
        );
    }
    for (label, id) in [
        ("another user's", bobs.as_str()),
        ("an unknown", "no-such-id"),
    ] {
        let (status, _, page) = unlink(&alice, &csrf, id).await;
        assert_eq!(status, 404, "{label} identity is not found: {page}");
    }
    assert_eq!(f.links().await, 2, "nothing deleted");
    let (page, _) = dashboard(&bob).await;
    assert!(
        page.contains("Unlink Upstream ID"),
        "bob's link is left: {page}"
    );

    // The right token and alice's own identity do unlink (the checks above can pass).
    let (status, _, _) = unlink(&alice, &csrf, &alices).await;
    assert_eq!(status, 303);
    assert_eq!(f.links().await, 1);
}

/// A user made by a federated login has no password; at the dashboard the provider's button
/// signs them in directly: back on `/account` (303), the dashboard with its sign-in methods,
/// and a session whose `amr` is "fed" (the ID token of the next authorization says so).
#[tokio::test]
async fn a_user_without_a_password_signs_in_at_the_dashboard_with_the_provider() {
    let f = fed(LinkRule::Create).await;
    let alice_at_idp = f.idp.user("alice").await;
    f.authorize_via_idp("alice").await;
    let local = f.linked(&alice_at_idp).await.expect("created and linked");

    let j = Journey::new(&f.rp);
    let to_idp = f.dashboard_to_idp(&j).await;
    let back = f.at_idp(&to_idp, "alice", "approve").await;
    let (status, next, body) = j.get(&back).await;
    assert_eq!((status, next.as_str()), (303, "/account"), "{body}");
    let (page, _) = dashboard(&j).await;
    assert!(page.contains("Sign-in methods"), "{page}");
    assert!(page.contains("<h3>Upstream ID</h3>"), "{page}");
    assert_eq!(f.rp_users().await, 1, "the same user, not a new one");
    let fed_sessions =
        format!("SELECT COUNT(*) FROM sessions WHERE user_id = '{local}' AND amr = 'fed'");
    assert_eq!(
        f.rp.sql_count(&fed_sessions).await,
        2,
        "a second fed session"
    );

    // That session signs the browser in to an app: its ID token's amr is "fed".
    let c = f.rp.client(json!({})).await;
    let (verifier, challenge) = pkce();
    let (status, interaction, body) = j.authorize(&auth_params(&c, &challenge, &[])).await;
    assert_eq!(status, 303, "{body}");
    let cb = j.decide(&interaction, "approve").await;
    let code = query(&cb)["code"].clone();
    let (status, tokens) = f.rp.exchange_code(&c, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(sub_of(&tokens), local);
    let id_token = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["amr"], json!(["fed"]), "{id_token}");
}

/// RFC 6749 §10.12: the dashboard's provider button needs the page's CSRF token (403), an
/// unknown provider is a clear error; the provider's answer signs in only the browser that
/// started the sign-in (another browser, with no cookies or its own, gets the sign-in page
/// again and no session), and only once (the same answer again is refused).
#[tokio::test]
async fn rfc6749_10_12_the_dashboards_sign_in_is_csrf_checked_bound_to_its_browser_and_single_use()
{
    let f = fed(LinkRule::Create).await;
    f.idp.user("alice").await;
    let j = Journey::new(&f.rp);
    let (_, _, page) = j.get("/account").await;
    let csrf = hidden(&page, "csrf_token").unwrap();
    let button = format!("/account/federated/{PROVIDER}");
    for forged in [vec![], vec![("csrf_token", "forged")]] {
        let (status, _, page) = j.post(&button, &forged).await;
        assert_eq!(status, 403, "RFC 6749 §10.12: CSRF token checked: {page}");
    }
    let (status, _, page) = j
        .post("/account/federated/nowhere", &[("csrf_token", &csrf)])
        .await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("no identity provider of that name"), "{page}");
    let pending = "SELECT COUNT(*) FROM federated_logins";
    assert_eq!(f.rp.sql_count(pending).await, 0, "nothing started");

    let to_idp = f.dashboard_to_idp(&j).await;
    let back = f.at_idp(&to_idp, "alice", "approve").await;
    let stranger = Journey::new(&f.rp);
    let (status, _, _) = stranger.get("/account").await;
    assert_eq!(status, 200, "the stranger's browser has its own cookie");
    for other in [Journey::new(&f.rp), stranger] {
        let (status, next, page) = other.get(&back).await;
        assert_eq!(
            (status, next.as_str()),
            (400, ""),
            "RFC 6749 §10.12: another browser's answer refused: {page}"
        );
        assert!(
            page.contains("action=\"/account/login\""),
            "the sign-in page: {page}"
        );
        assert!(page.contains("role=\"alert\""), "saying why: {page}");
    }
    assert_eq!(f.sessions().await, 0, "nobody signed in");

    let (status, next, body) = j.get(&back).await;
    assert_eq!((status, next.as_str()), (303, "/account"), "{body}");
    assert_eq!(f.sessions().await, 1);
    let (status, next, page) = j.get(&back).await;
    assert_eq!(
        (status, next.as_str()),
        (400, ""),
        "RFC 6749 §10.12: the same answer twice is single use: {page}"
    );
    assert!(page.contains("action=\"/account/login\""), "{page}");
    assert_eq!(f.sessions().await, 1, "no second session");
    assert_eq!(f.rp.sql_count(pending).await, 0, "consumed");
}

/// The user refuses at the provider (`access_denied`): the dashboard's sign-in page again,
/// saying so; nobody is signed in.
#[tokio::test]
async fn upstream_access_denied_shows_the_dashboards_sign_in_page_again() {
    let f = fed(LinkRule::Create).await;
    f.idp.user("alice").await;
    let j = Journey::new(&f.rp);
    let to_idp = f.dashboard_to_idp(&j).await;
    let back = f.at_idp(&to_idp, "alice", "deny").await;
    let (status, _, page) = j.get(&back).await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("Upstream ID did not sign you in"), "{page}");
    assert!(page.contains("action=\"/account/login\""), "{page}");
    assert!(page.contains("Sign in with Upstream ID"), "{page}");
    assert_eq!(f.sessions().await, 0);
}
