//! Pairwise subject identifiers (OIDC Core §8.1, §8.1.1; OIDC Registration §2 `subject_type`,
//! `sector_identifier_uri`): one `sub` per (sector, user), the same in every place a `sub`
//! reaches the client and accepted back wherever the client names a user. The client's
//! `sector_identifier_uri` is a loopback server here (so the provider runs with
//! `outbound.allow_private`, except where the policy itself is tested).

use crate::harness::*;
use crate::partner::{bearer, call};
use crate::served::Served;
use serde_json::{json, Value};

/// Dynamic registration over HTTP; the client with its credentials.
async fn registered(s: &TestServer, extra: Value) -> TestClient {
    let (status, body) = s.register(&metadata(extra)).await;
    assert_eq!(status, 201, "{body}");
    TestClient {
        id: body["client_id"].as_str().unwrap().into(),
        secret: body["client_secret"].as_str().unwrap().into(),
    }
}

fn metadata(extra: Value) -> Value {
    let mut m = json!({
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "client_secret_basic",
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        m[k] = v;
    }
    m
}

/// The `sub` the client sees in its ID token, UserInfo, and introspection of its access and
/// refresh tokens, checked to be one value.
async fn seen_sub(s: &TestServer, c: &TestClient, username: &str) -> String {
    let t = tokens_for(s, c, username).await;
    let sub = jwt_claims(t["id_token"].as_str().unwrap())["sub"]
        .as_str()
        .unwrap()
        .to_string();
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(at)["sub"], sub, "JWT access token");
    let me: Value = s
        .browser()
        .get(s.url("/me"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["sub"], sub, "UserInfo");
    assert_eq!(
        s.introspect(c, at).await["sub"],
        sub,
        "introspection (access)"
    );
    let rt = t["refresh_token"].as_str().unwrap();
    assert_eq!(
        s.introspect(c, rt).await["sub"],
        sub,
        "introspection (refresh)"
    );
    sub
}

#[tokio::test]
async fn oidc_core_8_1_pairwise_subs_differ_per_sector_match_within_one_and_survive_a_restart() {
    let s = TestServer::start_with(|c| c.outbound.allow_private = true).await;
    let alice = s.user("alice").await;
    let d = s.discovery().await;
    assert_eq!(d["subject_types_supported"], json!(["public", "pairwise"]));

    // Public: the user id itself.
    let public = registered(&s, json!({})).await;
    assert_eq!(seen_sub(&s, &public, "alice").await, alice);

    // Two pairwise clients of the redirect_uris' sector (rp.example.test) see one sub.
    let a1 = registered(&s, json!({"subject_type": "pairwise"})).await;
    let a2 = registered(&s, json!({"subject_type": "pairwise"})).await;
    let sub_a = seen_sub(&s, &a1, "alice").await;
    assert_ne!(sub_a, alice, "a pairwise sub is not the local id");
    assert!(!sub_a.contains(&alice), "nor contains it");
    assert_eq!(seen_sub(&s, &a2, "alice").await, sub_a, "same sector");

    // A client whose sector_identifier_uri is on another host (127.0.0.1): another sub.
    let doc = Served::start("application/json", json!([REDIRECT_URI]).to_string()).await;
    let b = registered(
        &s,
        json!({"subject_type": "pairwise", "sector_identifier_uri": doc.url("/sector.json")}),
    )
    .await;
    assert_eq!(
        doc.hits(),
        1,
        "the sector document is fetched at registration"
    );
    let sub_b = seen_sub(&s, &b, "alice").await;
    assert_ne!(sub_b, sub_a, "another sector");
    assert_ne!(sub_b, alice);

    // Another user of the same sector: another sub.
    s.user("bob").await;
    assert_ne!(seen_sub(&s, &a1, "bob").await, sub_a);

    // Stable across a restart (the key lives in the data dir).
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, |c| c.outbound.allow_private = true).await;
    assert_eq!(seen_sub(&s, &a1, "alice").await, sub_a, "after a restart");
    assert_eq!(seen_sub(&s, &b, "alice").await, sub_b, "after a restart");
}

#[tokio::test]
async fn oidc_core_3_1_2_1_id_token_hint_carries_the_pairwise_sub_of_the_client() {
    let s = TestServer::start().await;
    s.user("alice").await;
    s.user("bob").await;
    let c = registered(&s, json!({"subject_type": "pairwise"})).await;

    // Alice signs in; her ID token is the hint for a silent request in her browser.
    let alice = Journey::new(&s);
    let (verifier, challenge) = pkce();
    let cb = alice
        .complete(&auth_params(&c, &challenge, &[]), "alice")
        .await;
    let (_, t) = s.exchange_code(&c, &query(&cb)["code"], &verifier).await;
    let hint = t["id_token"].as_str().unwrap().to_string();

    let (_, challenge) = pkce();
    let silent = auth_params(
        &c,
        &challenge,
        &[("prompt", "none"), ("id_token_hint", hint.as_str())],
    );
    let (status, loc, body) = alice.authorize(&silent).await;
    assert_eq!(status, 303, "{body}");
    let q = query(&loc);
    assert_eq!(q.get("error"), None, "{loc}");
    assert!(q.contains_key("code"), "{loc}");

    // Bob's ID token as a hint in Alice's browser: not the signed-in user (login_required).
    let bob = Journey::new(&s);
    let (verifier, challenge) = pkce();
    let cb = bob.complete(&auth_params(&c, &challenge, &[]), "bob").await;
    let (_, t) = s.exchange_code(&c, &query(&cb)["code"], &verifier).await;
    let bob_hint = t["id_token"].as_str().unwrap().to_string();
    let (_, challenge) = pkce();
    let silent = auth_params(
        &c,
        &challenge,
        &[("prompt", "none"), ("id_token_hint", bob_hint.as_str())],
    );
    let (_, loc, _) = alice.authorize(&silent).await;
    assert_eq!(query(&loc)["error"], "login_required", "{loc}");
}

async fn refused(s: &TestServer, extra: Value, rule: &str) -> String {
    let (status, body) = s.register(&metadata(extra)).await;
    assert_eq!(status, 400, "{rule}: {body}");
    assert_eq!(body["error"], "invalid_client_metadata", "{rule}: {body}");
    body["error_description"]
        .as_str()
        .unwrap_or_default()
        .into()
}

#[tokio::test]
async fn oidc_core_8_1_1_a_sector_identifier_uri_must_list_every_redirect_uri() {
    let s = TestServer::start_with(|c| c.outbound.allow_private = true).await;
    let doc = Served::start("application/json", String::new()).await;
    let pairwise = |extra: Value| {
        let mut m =
            json!({"subject_type": "pairwise", "sector_identifier_uri": doc.url("/s.json")});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            m[k] = v;
        }
        m
    };

    doc.set(json!({"redirect_uris": [REDIRECT_URI]}).to_string());
    let why = refused(&s, pairwise(json!({})), "8.1.1: not a JSON array").await;
    assert!(why.contains("JSON array"), "{why}");

    doc.set("[\"https://rp.example.test/cb\"".into());
    refused(&s, pairwise(json!({})), "8.1.1: not JSON").await;

    doc.set(json!(["https://other.example.test/cb"]).to_string());
    let why = refused(&s, pairwise(json!({})), "8.1.1: redirect_uri missing").await;
    assert!(why.contains(REDIRECT_URI), "{why}");

    let second = "https://app.example.test/cb";
    doc.set(json!([REDIRECT_URI]).to_string());
    refused(
        &s,
        pairwise(json!({"redirect_uris": [REDIRECT_URI, second]})),
        "8.1.1: one of two redirect_uris missing",
    )
    .await;

    // Unreachable: a port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    refused(
        &s,
        pairwise(json!({"sector_identifier_uri": format!("http://127.0.0.1:{closed}/s.json")})),
        "8.1.1: unreachable",
    )
    .await;

    // Listing both hosts' redirect_uris: accepted, whatever the hosts.
    doc.set(json!([REDIRECT_URI, second, "https://more.example.test/x"]).to_string());
    let (status, body) = s
        .register(&metadata(pairwise(
            json!({"redirect_uris": [REDIRECT_URI, second]}),
        )))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["subject_type"], "pairwise");
    assert_eq!(body["sector_identifier_uri"], doc.url("/s.json"));

    // RFC 7592 update: the document is checked again when the redirect_uris change.
    let uri = body["registration_client_uri"].as_str().unwrap();
    let token = body["registration_access_token"].as_str().unwrap();
    let mut update = body.clone();
    for k in [
        "registration_access_token",
        "registration_client_uri",
        "client_secret",
        "client_secret_expires_at",
        "client_id_issued_at",
    ] {
        update.as_object_mut().unwrap().remove(k);
    }
    update["redirect_uris"] = json!([REDIRECT_URI, "https://unlisted.example.test/cb"]);
    let res = s
        .browser()
        .put(uri)
        .bearer_auth(token)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["error"], "invalid_client_metadata", "{answer}");
}

#[tokio::test]
async fn oidc_core_8_1_1_sector_identifier_uri_follows_the_outbound_policy() {
    // Without allow_private: https only, and no loopback address.
    let s = TestServer::start().await;
    let doc = Served::start("application/json", json!([REDIRECT_URI]).to_string()).await;
    let why = refused(
        &s,
        json!({"subject_type": "pairwise", "sector_identifier_uri": doc.url("/s.json")}),
        "Registration 2: sector_identifier_uri is https",
    )
    .await;
    assert!(why.contains("https"), "{why}");
    refused(
        &s,
        json!({"subject_type": "pairwise", "sector_identifier_uri": doc.url("/s.json").replace("http:", "https:")}),
        "outbound policy: loopback",
    )
    .await;
    assert_eq!(doc.hits(), 0, "nothing was fetched");
    // The same registration where the operator allows loopback and http: accepted, so the
    // refusals above are the policy's.
    let dev = TestServer::start_with(|c| c.outbound.allow_private = true).await;
    let (status, body) = dev
        .register(&metadata(
            json!({"subject_type": "pairwise", "sector_identifier_uri": doc.url("/s.json")}),
        ))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(doc.hits(), 1);
}

#[tokio::test]
async fn oidc_core_8_1_pairwise_redirect_uris_on_several_hosts_need_a_sector_identifier_uri() {
    let s = TestServer::start().await;
    let why = refused(
        &s,
        json!({"subject_type": "pairwise", "redirect_uris": [REDIRECT_URI, "https://app.example.test/cb"]}),
        "8.1: one sector",
    )
    .await;
    assert!(why.contains("sector_identifier_uri"), "{why}");
    // Public clients may spread over hosts; pairwise ones on one host need no document.
    let (status, body) = s
        .register(&metadata(json!({
            "redirect_uris": [REDIRECT_URI, "https://app.example.test/cb"],
        })))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = s
        .register(&metadata(json!({
            "subject_type": "pairwise",
            "redirect_uris": [REDIRECT_URI, "https://rp.example.test/other"],
        })))
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn partner_api_works_with_the_pairwise_ids_a_pairwise_client_sees() {
    let s = TestServer::start().await;
    let scopes =
        "openid profile email offline_access user:create user:read user:delete accounts:read";
    let c = s
        .client(json!({"scope": scopes, "subject_type": "pairwise"}))
        .await;
    let t = bearer(&s, &c, "user:create user:read").await;
    let created = call(
        &s,
        "POST",
        "/users",
        Some(&t),
        Some(&json!({"clientUserId": "p-1"}).to_string()),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let user_id = created.body["userId"].as_str().unwrap().to_string();

    let cid = c.id.clone();
    let local = s
        .provider
        .store
        .read(move |tx| tx.users().managed_by(&cid, 10, 0))
        .await
        .unwrap()[0]
        .id
        .clone();
    assert_ne!(user_id, local, "the partner sees its pairwise id");
    let expected = consentry::protocol::oidc::subject::for_client(
        &s.provider.ctx(),
        &s.provider
            .store
            .read({
                let id = c.id.clone();
                move |tx| tx.clients().get(&id)
            })
            .await
            .unwrap()
            .unwrap(),
        &local,
    );
    assert_eq!(user_id, expected);

    let list = call(&s, "GET", "/users", Some(&t), None).await;
    assert_eq!(list.body[0]["userId"], user_id, "{}", list.body);
    let one = call(&s, "GET", &format!("/users/{user_id}"), Some(&t), None).await;
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.body["userId"], user_id);
    let conns = call(
        &s,
        "GET",
        &format!("/users/{user_id}/connections"),
        Some(&t),
        None,
    )
    .await;
    assert_eq!(conns.status, 200, "{}", conns.body);
    // The local id is not a name this client knows the user by.
    let by_local = call(&s, "GET", &format!("/users/{local}"), Some(&t), None).await;
    assert_eq!(by_local.status, 404, "{}", by_local.body);

    // Contract (Client credentials): a data-access token for the user the client names.
    let (status, body) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
                ("sub", &user_id),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap();
    assert_eq!(jwt_claims(at)["sub"], user_id.as_str());
    assert_eq!(s.introspect(&c, at).await["sub"], user_id.as_str());
    let (status, body) = s
        .token(
            &c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
                ("sub", &local),
            ],
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_grant");

    let del = bearer(&s, &c, "user:delete").await;
    let gone = call(&s, "DELETE", &format!("/users/{user_id}"), Some(&del), None).await;
    assert!(gone.status == 204 || gone.status == 200, "{}", gone.body);
}

#[tokio::test]
async fn cli_clients_add_takes_the_subject_type() {
    use crate::cli::consentry;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let meta = r#"{"redirect_uris":["https://partner.example/cb"]}"#;
    let out = consentry(
        &[
            "clients",
            "add",
            "--data-dir",
            d,
            "--metadata",
            meta,
            "--subject-type",
            "pairwise",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added["subject_type"], "pairwise");
    // The registration rules hold: several hosts need a sector_identifier_uri (OIDC Core §8.1).
    let spread = r#"{"redirect_uris":["https://a.example/cb","https://b.example/cb"]}"#;
    let out = consentry(
        &[
            "clients",
            "add",
            "--data-dir",
            d,
            "--metadata",
            spread,
            "--subject-type",
            "pairwise",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("sector_identifier_uri"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = consentry(
        &[
            "clients",
            "add",
            "--data-dir",
            d,
            "--metadata",
            meta,
            "--subject-type",
            "secret",
        ],
        None,
    );
    assert!(!out.status.success(), "only public and pairwise");
}

#[tokio::test]
async fn bank_connections_webhooks_and_pinned_subs_use_the_pairwise_id() {
    use crate::banks::{connect_sandbox, redeem, BankJourney};
    use crate::webhooks::{body, set_webhook, tweak, Receiver};
    let receiver = Receiver::start(0).await;
    let s = TestServer::start_with(tweak).await;
    let c = s
        .client(json!({
            "scope": "openid user:read accounts:read",
            "subject_type": "pairwise",
        }))
        .await;
    set_webhook(&s, &c, &receiver.url).await;
    let (sub, con_id) = connect_sandbox(&s, &c).await;
    let cid = c.id.clone();
    let local = s
        .provider
        .store
        .read(move |tx| tx.users().managed_by(&cid, 10, 0))
        .await
        .unwrap()[0]
        .id
        .clone();
    assert_ne!(sub, local, "the ID token carries the pairwise sub");

    // Webhooks name the user as the client knows it.
    let e = body(&receiver.wait_for(1).await[0]);
    assert_eq!(e["eventType"], "connectionCreated");
    assert_eq!(e["userId"], sub.as_str(), "{e}");

    // The partner API lists the connection under that id.
    let t = bearer(&s, &c, "user:read").await;
    let list = call(
        &s,
        "GET",
        &format!("/users/{sub}/connections"),
        Some(&t),
        None,
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body[0]["id"], con_id.as_str());
    assert_eq!(list.body[0]["userId"], sub.as_str());

    // A refresh journey pins the user by that sub in the claims parameter (OIDC Core §5.5.1).
    let (verifier, challenge) = pkce();
    let claims =
        json!({"id_token": {"sub": {"value": sub}, "mh:con_id": {"value": con_id}}}).to_string();
    let b = BankJourney::new(&s);
    let i = b
        .start(&auth_params(
            &c,
            &challenge,
            &[("scope", "openid refresh"), ("claims", &claims)],
        ))
        .await;
    let (status, cb) = b.approve(&i, "Sandbox Bank").await;
    assert_eq!(status, 303, "{cb}");
    let tokens = redeem(&s, &c, &cb, &verifier).await;
    assert_eq!(
        jwt_claims(tokens["id_token"].as_str().unwrap())["sub"],
        sub.as_str()
    );
}
