//! Upstream token hand-out (`GET /users/{id}/connections/{connection-id}/token`): a second
//! Consentry instance is the institution's authorization server; the partner is handed the
//! bank's access token, refreshed first when it has expired (one refresh at the bank however
//! many ask at once), every answer audited, and an institution may forbid it.

use crate::bank_pair::*;
use crate::harness::*;
use crate::partner::{bearer, call};
use consentry::store::connections::BankConnection;
use consentry::store::token_handouts::{HandoutRecord, HANDED_OUT};
use serde_json::{json, Value};

const ADMIN_TOKEN: &str = "handout-admin-token-0123456789abcdefghijkl";
const SCOPES: &str = "openid user:read connections:token";

/// The partner: an `api` client allowed the hand-out scope.
async fn partner(s: &TestServer) -> TestClient {
    s.client(json!({"connection_types": ["api"], "scope": SCOPES}))
        .await
}

async fn oidc_pair() -> Pair {
    let pr = Pair::start(
        |bank| {
            vec![(
                "oauth-bank",
                oidc_settings(bank, "client_secret_basic", false),
            )]
        },
        |c| c.admin_token = Some(ADMIN_TOKEN.into()),
    )
    .await;
    pr.register_at_bank(json!({})).await;
    pr
}

fn token_path(user: &str, connection: &str) -> String {
    format!("/users/{user}/connections/{connection}/token")
}

/// The audit log as the operator reads it (`GET /admin/token-handouts`).
async fn audit(s: &TestServer, connection: &str) -> Vec<Value> {
    let res = s
        .browser()
        .get(format!(
            "{}/admin/token-handouts?connection_id={connection}",
            s.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["entries"].as_array().unwrap().clone()
}

/// The refresh grants the bank has answered: each rotation leaves one more refresh token.
async fn bank_refresh_tokens(pr: &Pair) -> i64 {
    pr.bank
        .sql_count("SELECT count(*) FROM refresh_tokens")
        .await
}

async fn connection(s: &TestServer, id: &str) -> BankConnection {
    let id = id.to_string();
    s.provider
        .store
        .read(move |tx| tx.connections().get(&id))
        .await
        .unwrap()
        .unwrap()
}

fn sealed_refresh_token(s: &TestServer, c: &BankConnection) -> String {
    let secrets: Value = serde_json::from_str(
        &s.provider
            .sealer
            .open(c.data_sealed.as_ref().unwrap())
            .unwrap(),
    )
    .unwrap();
    secrets["upstream"]["refresh_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_fresh_bank_token_is_handed_out_and_refusals_are_audited() {
    let pr = oidc_pair().await;
    let c = partner(&pr.agg).await;
    let (user, con) = pr.connect(&c, "oauth-bank", "OAuth Bank").await;
    let refreshes = bank_refresh_tokens(&pr).await;
    let t = bearer(&pr.agg, &c, "connections:token").await;

    let a = call(&pr.agg, "GET", &token_path(&user, &con), Some(&t), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.headers["cache-control"], "no-store");
    assert_eq!(a.body["token_type"], "Bearer");
    assert_eq!(a.body["scope"], "accounts:read offline_access openid");
    let expires_in = a.body["expires_in"].as_i64().unwrap();
    assert!(expires_in > 60, "{}", a.body);
    assert_eq!(
        a.body["expires_at"].as_i64().unwrap() - expires_in,
        pr.agg.provider.clock.now()
    );
    // It is the bank's working token: active at its introspection, and its UserInfo answers.
    let access_token = a.body["access_token"].as_str().unwrap();
    let i = pr.bank.introspect(&pr.bank_client(), access_token).await;
    assert_eq!(i["active"], true, "{i}");
    let me = pr
        .bank
        .browser()
        .get(pr.bank.url("/me"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(
        bank_refresh_tokens(&pr).await,
        refreshes,
        "no refresh needed"
    );

    // RFC 6750 §3.1: a token without connections:token is refused before anything is read.
    let read_only = bearer(&pr.agg, &c, "user:read").await;
    let a = call(
        &pr.agg,
        "GET",
        &token_path(&user, &con),
        Some(&read_only),
        None,
    )
    .await;
    assert_eq!(a.status, 403, "rfc6750_3_1_insufficient_scope: {}", a.body);
    assert_eq!(a.body["error"], "insufficient_scope");

    // Another partner sees neither the user nor the connection (not found, never forbidden).
    let other = partner(&pr.agg).await;
    let other_t = bearer(&pr.agg, &other, "connections:token").await;
    let a = call(
        &pr.agg,
        "GET",
        &token_path(&user, &con),
        Some(&other_t),
        None,
    )
    .await;
    assert_eq!(a.status, 404, "another client's user: {}", a.body);
    assert_eq!(a.body["error"], "not_found");
    let a = call(&pr.agg, "GET", &token_path(&user, "nope"), Some(&t), None).await;
    assert_eq!(a.status, 404, "an unknown connection: {}", a.body);

    // A connection to an institution without its own server holds no tokens to hand out.
    let real = connection(&pr.agg, &con).await;
    let legacy = BankConnection {
        id: format!("legacy:{}", uuid::Uuid::new_v4()),
        institution_id: "sandbox-bank".into(),
        data_sealed: None,
        ..real
    };
    let (row, legacy_id) = (legacy.clone(), legacy.id.clone());
    pr.agg
        .provider
        .store
        .write(move |tx| tx.connections().insert(&row))
        .await
        .unwrap();
    let a = call(
        &pr.agg,
        "GET",
        &token_path(&user, &legacy_id),
        Some(&t),
        None,
    )
    .await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body["error"], "invalid_request");
    assert!(
        a.body["error_description"]
            .as_str()
            .unwrap()
            .contains("no institution tokens"),
        "{}",
        a.body
    );

    // The operator's audit log: the hand-out and each refusal past authentication, never
    // the token.
    let entries = audit(&pr.agg, &con).await;
    let outcomes: Vec<&str> = entries
        .iter()
        .map(|e| e["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["not_found", "handed_out"], "{entries:?}");
    assert_eq!(entries[1]["clientId"], c.id.as_str());
    assert_eq!(entries[1]["institutionId"], "oauth-bank");
    assert_eq!(entries[1]["refreshed"], false);
    assert_eq!(entries[0]["clientId"], other.id.as_str());
    let legacy_entries = audit(&pr.agg, &legacy_id).await;
    assert_eq!(legacy_entries[0]["outcome"], "invalid_request");
    assert_eq!(legacy_entries[0]["institutionId"], "sandbox-bank");
    let all = serde_json::to_string(&entries).unwrap();
    assert!(!all.contains(access_token), "the audit log holds no token");
}

#[tokio::test]
async fn concurrent_handouts_of_an_expired_token_refresh_it_exactly_once_at_the_bank() {
    let pr = oidc_pair().await;
    let c = partner(&pr.agg).await;
    let (user, con) = pr.connect(&c, "oauth-bank", "OAuth Bank").await;
    let before = connection(&pr.agg, &con).await;
    let old_rt = sealed_refresh_token(&pr.agg, &before);
    let refreshes = bank_refresh_tokens(&pr).await;

    // The bank's token (600 s) now expires within the 60 s margin. (Only the aggregator's
    // clock moves: the ID token of the bank's refresh answer must still be unexpired to it.)
    pr.agg.provider.clock.advance(570);
    // A lease a killed holder left behind has expired: it does not stand in the way.
    let stale_until = (pr.agg.provider.clock.now() - 1).to_string();
    pr.agg
        .sql_exec(
            "INSERT INTO upstream_refresh_leases (connection_id, holder, expires_at) VALUES (?1, 'killed-node', CAST(CAST(?2 AS TEXT) AS BIGINT))",
            &[&con, &stale_until],
        )
        .await;
    let t = bearer(&pr.agg, &c, "connections:token").await;
    let path = token_path(&user, &con);
    let one = || call(&pr.agg, "GET", &path, Some(&t), None);
    let (a, b, c3, d, e, f) = tokio::join!(one(), one(), one(), one(), one(), one());
    let answers = [a, b, c3, d, e, f];
    let first = answers[0].body["access_token"].clone();
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(
            a.body["access_token"], first,
            "every caller gets the one new token"
        );
        assert!(a.body["expires_in"].as_i64().unwrap() > 60);
    }
    assert_eq!(
        bank_refresh_tokens(&pr).await,
        refreshes + 1,
        "exactly one refresh grant at the bank"
    );
    let new_token = first.as_str().unwrap();
    let i = pr.bank.introspect(&pr.bank_client(), new_token).await;
    assert_eq!(i["active"], true, "{i}");
    // The rotated refresh token replaced the old one, and the lease is gone.
    let after = connection(&pr.agg, &con).await;
    assert_ne!(sealed_refresh_token(&pr.agg, &after), old_rt);
    assert_eq!(
        pr.agg
            .sql_count("SELECT count(*) FROM upstream_refresh_leases")
            .await,
        0
    );
    let entries = audit(&pr.agg, &con).await;
    assert_eq!(entries.len(), 6, "{entries:?}");
    assert!(entries.iter().all(|e| e["outcome"] == "handed_out"));
    assert_eq!(
        entries.iter().filter(|e| e["refreshed"] == true).count(),
        1,
        "{entries:?}"
    );

    // The bank revokes the refresh token: the next refresh is refused; every caller waiting on
    // it hears so (502), the refresh is not retried with the refused token, and the connection
    // is marked as needing reauth (RFC 6749 §5.2 invalid_grant: the grant is gone).
    let rt = sealed_refresh_token(&pr.agg, &after);
    let bank = pr.bank_client();
    let res = pr
        .bank
        .browser()
        .post(pr.bank.url("/token/revocation"))
        .basic_auth(&bank.id, Some(&bank.secret))
        .form(&[("token", rt.as_str()), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    pr.agg.provider.clock.advance(570);
    let t = bearer(&pr.agg, &c, "connections:token").await;
    let one = || call(&pr.agg, "GET", &path, Some(&t), None);
    let (a, b, c3) = tokio::join!(one(), one(), one());
    let mut refused = 0;
    for a in [a, b, c3] {
        // A caller that arrives once the refusal is committed hears 409 reauth_required
        // (below) instead: the refusal is never retried either way.
        if a.status == 409 {
            assert!(a.body.to_string().contains("reauth_required"), "{}", a.body);
            continue;
        }
        refused += 1;
        assert_eq!(a.status, 502, "{}", a.body);
        assert_eq!(a.body["error"], "invalid_grant");
        assert!(
            a.body["error_description"]
                .as_str()
                .unwrap()
                .contains("reauthorise"),
            "{}",
            a.body
        );
    }
    assert!(
        refused >= 1,
        "the caller that asked the bank hears its refusal"
    );
    assert_eq!(
        connection(&pr.agg, &con).await.status,
        "reauth_required",
        "rfc6749_5_2_invalid_grant marks the connection as needing reauth"
    );
    // From then on the hand-out says what to do without asking the bank again.
    let a = call(&pr.agg, "GET", &path, Some(&t), None).await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert!(
        a.body["error_description"]
            .as_str()
            .unwrap()
            .contains("reauth_required"),
        "{}",
        a.body
    );
    let entries = audit(&pr.agg, &con).await;
    let failed: Vec<&Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "invalid_grant")
        .collect();
    assert_eq!(
        failed.len(),
        refused,
        "each refused caller is audited: {entries:?}"
    );
    assert_eq!(entries[0]["outcome"], "invalid_request", "{entries:?}");
    assert_eq!(
        failed.iter().filter(|e| e["refreshed"] == true).count(),
        1,
        "one refresh attempt: {entries:?}"
    );
    // The race behind that: a caller that looked before the refusal and only then asks for
    // the lease is refused it while the failure holds (so it answers as the failure did rather
    // than try the refused refresh token again); after the hold it may take it.
    let take = |holder: &'static str, at: i64| {
        let cid = con.clone();
        pr.agg.provider.store.write(move |tx| {
            tx.token_handouts()
                .take_lease(&cid, holder, at, at + 30, at - 5)
        })
    };
    let now = pr.agg.provider.now();
    assert!(
        !take("late-caller", now).await.unwrap(),
        "rfc6749_5_2 a refused refresh is not retried within the hold"
    );
    assert!(take("later-caller", now + 6).await.unwrap());
}

#[tokio::test]
async fn a_plain_oauth2_provider_works_with_settings_only_and_an_institution_may_forbid_handout() {
    // The shipped template as is, plus a copy that declares tokenHandout: false.
    let plugins = tempfile::tempdir().unwrap();
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/oauth-bank.rhai");
    let template = std::fs::read_to_string(shipped).unwrap();
    std::fs::write(plugins.path().join("oauth-bank.rhai"), &template).unwrap();
    let locked = template
        .replace("id: \"oauth-bank\"", "id: \"locked-bank\"")
        .replace("name: \"OAuth Bank\"", "name: \"Locked Bank\"")
        .replace(
            "bankRef: \"oauth-bank\"",
            "bankRef: \"locked-bank\", tokenHandout: false",
        );
    assert!(locked.contains("tokenHandout: false"));
    std::fs::write(plugins.path().join("locked-bank.rhai"), locked).unwrap();
    let dir = plugins.path().to_path_buf();
    let pr = Pair::start(
        |bank| {
            vec![
                ("oauth-bank", plain_settings(bank)),
                ("locked-bank", plain_settings(bank)),
            ]
        },
        move |c| {
            c.plugins.dir = dir;
            c.admin_token = Some(ADMIN_TOKEN.into());
        },
    )
    .await;
    pr.register_at_bank(json!({"token_endpoint_auth_method": "client_secret_post"}))
        .await;
    let c = partner(&pr.agg).await;
    let (user, con) = pr.connect(&c, "oauth-bank", "OAuth Bank").await;
    let t = bearer(&pr.agg, &c, "connections:token").await;
    let a = call(&pr.agg, "GET", &token_path(&user, &con), Some(&t), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    // A plain OAuth 2 grant: no openid scope, and the token works at the bank.
    assert_eq!(a.body["scope"], "accounts:read offline_access");
    let access_token = a.body["access_token"].as_str().unwrap();
    let i = pr.bank.introspect(&pr.bank_client(), access_token).await;
    assert_eq!(i["active"], true, "{i}");
    // Refresh works the same without an issuer.
    let refreshes = bank_refresh_tokens(&pr).await;
    pr.agg.provider.clock.advance(2 * 3600);
    let t = bearer(&pr.agg, &c, "connections:token").await;
    let a = call(&pr.agg, "GET", &token_path(&user, &con), Some(&t), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_ne!(a.body["access_token"].as_str().unwrap(), access_token);
    assert_eq!(bank_refresh_tokens(&pr).await, refreshes + 1);

    // The institution that declares tokenHandout: false: 403, audited.
    let (user2, locked_con) = pr.connect(&c, "locked-bank", "Locked Bank").await;
    let a = call(
        &pr.agg,
        "GET",
        &token_path(&user2, &locked_con),
        Some(&t),
        None,
    )
    .await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(a.body["error"], "access_denied");
    assert!(
        a.body["error_description"]
            .as_str()
            .unwrap()
            .contains("tokenHandout"),
        "{}",
        a.body
    );
    let entries = audit(&pr.agg, &locked_con).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["outcome"], "access_denied");
    assert_eq!(entries[0]["institutionId"], "locked-bank");
}

#[tokio::test]
async fn two_nodes_handing_out_an_expiring_token_at_once_refresh_it_once() {
    // Two aggregator nodes over one PostgreSQL database, the bank beside them.
    let bank = TestServer::start().await;
    let settings = oidc_settings(&bank, "client_secret_basic", false);
    let bank_ca = bank.provider.config.keys_dir().join("ca.pem");
    let mut cluster = crate::cluster::Cluster::start_with(2, move |c| {
        c.plugins
            .settings
            .insert("oauth-bank".into(), settings.clone());
        c.plugins.upstream_ca_file = Some(bank_ca.clone());
    })
    .await;
    let second = cluster.nodes.pop().unwrap();
    let first = cluster.nodes.pop().unwrap();
    let pr = Pair { bank, agg: first };
    pr.register_at_bank(json!({})).await;
    let c = partner(&pr.agg).await;
    let (user, con) = pr.connect(&c, "oauth-bank", "OAuth Bank").await;
    let refreshes = bank_refresh_tokens(&pr).await;
    for node in [&pr.agg, &second] {
        node.provider.clock.advance(570);
    }
    let t = bearer(&pr.agg, &c, "connections:token").await;
    let path = token_path(&user, &con);
    let at = |node| call(node, "GET", &path, Some(&t), None);
    let (a, b, c3, d) = tokio::join!(at(&pr.agg), at(&second), at(&pr.agg), at(&second));
    let answers = [a, b, c3, d];
    for a in &answers {
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["access_token"], answers[0].body["access_token"]);
    }
    assert_eq!(
        bank_refresh_tokens(&pr).await,
        refreshes + 1,
        "exactly one refresh grant at the bank across both nodes"
    );
}

#[tokio::test]
async fn rfc6749_6_an_upstream_grant_without_a_refresh_token_cannot_be_refreshed_and_says_why() {
    // The bank is asked without offline_access: it issues no refresh token (OIDC Core §11).
    let pr = Pair::start(
        |bank| {
            let mut s = oidc_settings(bank, "client_secret_basic", false);
            s.insert("scope".into(), "openid accounts:read".into());
            vec![("oauth-bank", s)]
        },
        |c| c.admin_token = Some(ADMIN_TOKEN.into()),
    )
    .await;
    pr.register_at_bank(json!({})).await;
    let c = partner(&pr.agg).await;
    let (user, con) = pr.connect(&c, "oauth-bank", "OAuth Bank").await;
    let path = token_path(&user, &con);
    let t = bearer(&pr.agg, &c, "connections:token").await;
    // While the bank's access token lasts, it is handed out.
    let a = call(&pr.agg, "GET", &path, Some(&t), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let refreshes = bank_refresh_tokens(&pr).await;

    // Once it is due, there is nothing to refresh it with: a clear answer, not a bare
    // invalid_grant, and nothing asked of the bank.
    pr.agg.provider.clock.advance(570);
    let t = bearer(&pr.agg, &c, "connections:token").await;
    let a = call(&pr.agg, "GET", &path, Some(&t), None).await;
    assert_eq!(a.status, 409, "{}", a.body);
    assert_eq!(a.body["error"], "invalid_request");
    let description = a.body["error_description"].as_str().unwrap();
    assert!(
        description.contains("issued no refresh token") && description.contains("offline_access"),
        "the description names the cause and the fix: {description}"
    );
    assert_eq!(bank_refresh_tokens(&pr).await, refreshes);
    assert_eq!(
        connection(&pr.agg, &con).await.status,
        "reauth_required",
        "the connection is marked as needing reauth"
    );
    let entries = audit(&pr.agg, &con).await;
    assert_eq!(entries[0]["outcome"], "invalid_request", "{entries:?}");
    assert!(entries[0]["detail"]
        .as_str()
        .unwrap()
        .contains("no refresh token"));
}

/// Records a hand-out audit entry `id` made at `at`, as the hand-out does.
async fn audit_entry(s: &TestServer, id: &str, at: i64) {
    let entry = HandoutRecord {
        id: id.into(),
        at,
        client_id: "retention-client".into(),
        user_id: "retention-user".into(),
        connection_id: "retention-connection".into(),
        institution_id: None,
        refreshed: false,
        outcome: HANDED_OUT.into(),
        detail: None,
    };
    s.provider
        .store
        .write(move |tx| tx.token_handouts().record(&entry))
        .await
        .unwrap();
}

async fn audit_entries(s: &TestServer, like: &str) -> i64 {
    s.sql_count(&format!(
        "SELECT count(*) FROM token_handouts WHERE id LIKE '{like}'"
    ))
    .await
}

const DAY: i64 = 24 * 3600;

#[tokio::test]
async fn handout_audit_entries_past_their_retention_are_swept_and_newer_ones_stay() {
    let s = TestServer::start_with(|c| c.handout.audit_retention_days = 30).await;
    let now = s.provider.now();
    for i in 0..3 {
        audit_entry(&s, &format!("old-{i}"), now - 31 * DAY - i).await;
    }
    audit_entry(&s, "new-recent", now - 29 * DAY).await;
    audit_entry(&s, "new-today", now).await;
    consentry::sweep_once(&s.provider).await.unwrap();
    assert_eq!(
        audit_entries(&s, "old-%").await,
        0,
        "handout.audit_retention_days = 30: entries over 30 days old are swept"
    );
    assert_eq!(audit_entries(&s, "new-%").await, 2, "newer entries stay");
}

#[tokio::test]
async fn handout_audit_retention_0_keeps_every_entry_and_a_sweep_round_is_bounded() {
    let s = TestServer::start_with(|c| c.handout.audit_retention_days = 0).await;
    let now = s.provider.now();
    for i in 0..5 {
        audit_entry(&s, &format!("old-{i}"), now - 5000 * DAY - i).await;
    }
    consentry::sweep_once(&s.provider).await.unwrap();
    assert_eq!(
        audit_entries(&s, "old-%").await,
        5,
        "handout.audit_retention_days = 0 keeps the audit forever"
    );
    // With a retention, one round deletes at most its batch and says more are left, so the
    // single writer is never held long (the sweeper repeats it).
    let cutoff = Some(now - 30 * DAY);
    let round = s
        .provider
        .store
        .write(move |tx| tx.sweep().expired_and_audit(now, cutoff, 2))
        .await
        .unwrap();
    assert!(round.more, "rows left for the next round");
    assert_eq!(audit_entries(&s, "old-%").await, 3, "two per round");
}

#[test]
fn handout_audit_retention_days_is_checked_at_startup() {
    let mut config = consentry::config::Config::default();
    assert_eq!(config.handout.audit_retention_days, 400, "over a year");
    for bad in [-1, 36_501] {
        config.handout.audit_retention_days = bad;
        let refused = config.validate().unwrap_err().to_string();
        assert!(
            refused.contains("handout.audit_retention_days"),
            "{bad}: {refused}"
        );
    }
    config.handout.audit_retention_days = 0;
    assert!(config.validate().is_ok(), "0 keeps the audit forever");
}
