//! A crash in the middle of token issuance leaves every grant usable: what a request consumes
//! (a code, a refresh token) and what it issues commit together, or not at all. The real
//! server binary is killed with SIGKILL while many code exchanges and refresh rotations are in
//! flight; its database and a restarted server are then checked grant by grant.

use crate::harness::*;
use crate::spawned;
use consentry::secrets::digest;
use rusqlite::OptionalExtension;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Grants whose refresh token is rotated over and over while the server dies.
const ROTATING_GRANTS: usize = 32;
/// Codes whose exchange is in flight when the server dies.
const CODES: usize = 24;

/// Long enough for codes made before the kill to be redeemed after the restart.
fn long_codes(c: &mut consentry::config::Config) {
    c.lifetimes.authorization_code_secs = 600;
}

/// The real server binary, serving HTTPS from `dir` with long-lived codes.
fn spawn(dir: &std::path::Path) -> spawned::Server {
    spawned::Server::start(spawned::Options {
        env: vec![("CONSENTRY_LIFETIMES__AUTHORIZATION_CODE_SECS", "600".into())],
        tls: true,
        data_dir: Some(dir.to_path_buf()),
        ..Default::default()
    })
}

/// The token endpoint of the spawned server.
struct Spawned {
    base: String,
    http: reqwest::Client,
}

impl Spawned {
    /// Talks to `server`, trusting the development CA in its data dir `dir`.
    fn new(server: &spawned::Server, dir: &std::path::Path) -> Spawned {
        let ca = std::fs::read(dir.join("keys").join("ca.pem")).expect("the dev CA");
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("dev CA"))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Spawned {
            base: format!("https://127.0.0.1:{}", server.port),
            http,
        }
    }

    /// A token request; `None` when no answer came (the server died first).
    async fn token(&self, client: &TestClient, form: &[(&str, &str)]) -> Option<(u16, Value)> {
        let res = self
            .http
            .post(format!("{}/oidc/token", self.base))
            .basic_auth(&client.id, Some(&client.secret))
            .form(form)
            .send()
            .await
            .ok()?;
        let status = res.status().as_u16();
        Some((status, res.json().await.ok()?))
    }
}

/// One more code for `params` from a browser that is already logged in and has consented.
async fn code(journey: &Journey<'_>, params: &[(String, String)]) -> String {
    let (status, next, body) = journey.authorize(params).await;
    assert_eq!(status, 303, "authorize: {body}");
    let callback = if next.starts_with(REDIRECT_URI) {
        next
    } else {
        journey.decide(&next, "approve").await
    };
    query(&callback)["code"].clone()
}

/// What a rotating client holds when the server dies.
struct Rotated {
    first: String,
    /// The last refresh token it received.
    held: String,
    /// A rotation of `held` was sent and never answered.
    unanswered: bool,
    rotations: usize,
}

/// A code the client tried to exchange when the server died.
struct Exchanged {
    code: String,
    verifier: String,
    /// The tokens it received, if an answer came.
    answer: Option<Value>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_kill_during_issuance_leaves_every_grant_usable() {
    // Set up users, grants and codes on an in-process server, then hand its folder to the
    // real binary.
    let s = TestServer::start_with(long_codes).await;
    let client = s.client(json!({})).await;
    s.user("alice").await;
    let journey = Journey::new(&s);
    let (verifier, challenge) = pkce();
    let params = auth_params(&client, &challenge, &[]);
    let first = query(&journey.complete(&params, "alice").await)["code"].clone();
    let mut refresh_tokens = Vec::new();
    for i in 0..ROTATING_GRANTS {
        let code = if i == 0 {
            first.clone()
        } else {
            code(&journey, &params).await
        };
        let (status, body) = s.exchange_code(&client, &code, &verifier).await;
        assert_eq!(status, 200, "{body}");
        refresh_tokens.push(body["refresh_token"].as_str().unwrap().to_string());
    }
    let mut codes = Vec::new();
    for _ in 0..CODES {
        let (verifier, challenge) = pkce();
        let params = auth_params(&client, &challenge, &[]);
        codes.push((code(&journey, &params).await, verifier));
    }
    let dir = s.stop().await;
    let mut server = spawn(dir.path());
    let spawned = Arc::new(Spawned::new(&server, dir.path()));
    let client = Arc::new(client);

    // Every grant rotates its refresh token in a loop, as a client would, until the server
    // stops answering.
    let rotations = Arc::new(AtomicUsize::new(0));
    let rotating: Vec<_> = refresh_tokens
        .into_iter()
        .map(|first| {
            let (server, client, rotations) = (spawned.clone(), client.clone(), rotations.clone());
            tokio::spawn(async move {
                let mut held = first.clone();
                let mut done = 0;
                loop {
                    let form = [("grant_type", "refresh_token"), ("refresh_token", &held)];
                    let Some((status, body)) = server.token(&client, &form).await else {
                        return Rotated {
                            first,
                            held,
                            unanswered: true,
                            rotations: done,
                        };
                    };
                    assert_eq!(status, 200, "a rotation before the kill: {body}");
                    held = body["refresh_token"].as_str().unwrap().to_string();
                    done += 1;
                    rotations.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let until = Instant::now() + Duration::from_secs(60);
    while rotations.load(Ordering::Relaxed) < 3 * ROTATING_GRANTS {
        assert!(Instant::now() < until, "rotations did not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // All codes are exchanged at once; the server dies as the first answer comes back.
    let answered = Arc::new(tokio::sync::Notify::new());
    let exchanging: Vec<_> = codes
        .into_iter()
        .map(|(code, verifier)| {
            let (server, client, answered) = (spawned.clone(), client.clone(), answered.clone());
            tokio::spawn(async move {
                let form = [
                    ("grant_type", "authorization_code"),
                    ("code", code.as_str()),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", verifier.as_str()),
                ];
                let answer = server.token(&client, &form).await;
                answered.notify_one();
                if let Some((status, body)) = &answer {
                    assert_eq!(*status, 200, "an exchange before the kill: {body}");
                }
                Exchanged {
                    code,
                    verifier,
                    answer: answer.map(|(_, body)| body),
                }
            })
        })
        .collect();
    answered.notified().await;
    server.child.kill().expect("SIGKILL");
    server.child.wait().unwrap();

    let mut rotated = Vec::new();
    for t in rotating {
        rotated.push(t.await.unwrap());
    }
    let mut exchanged = Vec::new();
    for t in exchanging {
        exchanged.push(t.await.unwrap());
    }
    let in_flight = rotated.iter().filter(|r| r.unanswered).count()
        + exchanged.iter().filter(|e| e.answer.is_none()).count();
    assert!(in_flight > 0, "the kill found nothing in flight");
    eprintln!(
        "killed with {in_flight} requests in flight after {} rotations",
        rotated.iter().map(|r| r.rotations).sum::<usize>()
    );

    // What the database holds after the crash, before anything else touches it.
    let db = rusqlite::Connection::open(dir.path().join("consentry.sqlite")).unwrap();
    let one = |sql: &str, key: &str| -> Option<i64> {
        db.query_row(sql, [key], |r| r.get::<_, Option<i64>>(0))
            .optional()
            .unwrap()
            .flatten()
    };
    let mut code_committed = Vec::new();
    let mut torn = Vec::new();
    // Rotations that committed but whose answer the kill cut off: the client's retry with its
    // old token must be taken as the retry of a lost answer, not as reuse (RFC 9700 §4.14.2).
    let mut lost_after_commit = 0;
    for r in &rotated {
        let grant: String = db
            .query_row(
                "SELECT grant_id FROM refresh_tokens WHERE token_hash = ?1",
                [digest(&r.first)],
                |row| row.get(0),
            )
            .expect("the grant's first refresh token");
        let live = one(
            "SELECT count(*) FROM refresh_tokens WHERE grant_id = ?1 AND rotated_at IS NULL",
            &grant,
        );
        let revoked = one("SELECT revoked_at FROM grants WHERE id = ?1", &grant);
        let held_rotated = one(
            "SELECT rotated_at FROM refresh_tokens WHERE token_hash = ?1",
            &digest(&r.held),
        );
        // Exactly one working refresh token: the one the client holds, or (if its last
        // rotation committed but the answer was lost) the one that rotation issued.
        if live != Some(1) || revoked.is_some() || (held_rotated.is_some() && !r.unanswered) {
            torn.push(format!(
                "grant {grant}: {live:?} live refresh tokens, revoked {revoked:?}, held token rotated {held_rotated:?}, answer lost {}",
                r.unanswered
            ));
        }
        lost_after_commit += usize::from(held_rotated.is_some());
    }
    for e in &exchanged {
        let hash = digest(&e.code);
        let consumed = one(
            "SELECT consumed_at FROM authorization_codes WHERE code_hash = ?1",
            &hash,
        );
        let issued = one(
            "SELECT count(*) FROM access_tokens WHERE grant_id =
               (SELECT grant_id FROM authorization_codes WHERE code_hash = ?1)",
            &hash,
        )
        .unwrap_or(0);
        // A used code has its tokens; an unused one has none (and can still be redeemed).
        if consumed.is_some() != (issued > 0) || (e.answer.is_some() && consumed.is_none()) {
            torn.push(format!(
                "code: consumed {consumed:?}, {issued} access tokens, answered {}",
                e.answer.is_some()
            ));
        }
        code_committed.push(consumed.is_some());
    }
    drop(db);
    eprintln!("{lost_after_commit} rotations committed without their answer reaching the client");
    assert!(
        torn.is_empty(),
        "torn grants after the crash:\n{}",
        torn.join("\n")
    );

    // After a restart each client carries on with what it holds.
    // (Same issuer as the killed server: its access tokens name it.)
    let issuer = format!("{}/oidc", spawned.base);
    let s = TestServer::start_in(dir, |c| {
        long_codes(c);
        c.issuer = Some(issuer);
    })
    .await;
    let client = Arc::try_unwrap(client).ok().unwrap();
    for r in rotated.iter() {
        // The client retries with the token it holds, whether or not the rotation it sent
        // last committed (it cannot tell): either way it works and the grant stays.
        let (status, body) = s.refresh(&client, &r.held).await;
        assert_eq!(
            status, 200,
            "the refresh token the client holds (answer lost {}): {body}",
            r.unanswered
        );
        let next = body["refresh_token"].as_str().unwrap();
        let (status, body) = s.refresh(&client, next).await;
        assert_eq!(status, 200, "and the one it got for it: {body}");
    }
    let revoked: i64 = s
        .sql_count("SELECT count(*) FROM grants WHERE revoked_at IS NOT NULL")
        .await;
    assert_eq!(
        revoked, 0,
        "no grant is revoked by the crash or the retries"
    );
    for (e, committed) in exchanged.iter().zip(code_committed) {
        match &e.answer {
            Some(tokens) => {
                let at = tokens["access_token"].as_str().unwrap();
                assert_eq!(
                    s.introspect(&client, at).await["active"],
                    true,
                    "tokens the client received work"
                );
            }
            // An exchange that never committed is retried and works.
            None if !committed => {
                let (status, body) = s.exchange_code(&client, &e.code, &e.verifier).await;
                assert_eq!(status, 200, "a retried exchange: {body}");
            }
            None => {}
        }
    }
}

#[tokio::test]
async fn a_code_or_refresh_token_that_lapsed_meanwhile_is_not_used_up() {
    // The write that consumes a code or refresh token commits only with the tokens it issues:
    // when it lapsed between the checks and that write (its grant revoked by a concurrent
    // request, or its lifetime over), the write refuses and leaves it as it was.
    use consentry::store::grants::{AccessToken, Issued, Redeemed, SingleUse};
    let s = TestServer::start().await;
    let client = s.client(json!({})).await;
    s.user("alice").await;
    let rt = tokens_for(&s, &client, "alice").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _) = code_for(&s, &client, "alice").await;
    let (code_hash, rt_hash) = (digest(&code), digest(&rt));
    let now = s.provider.now();
    let (code, refresh, code_used, rt_rotated) = s
        .provider
        .store
        .write(move |tx| {
            let (found, _) = tx.grants().find_code(&code_hash)?.expect("the code");
            let (token, _) = tx
                .grants()
                .find_refresh_token(&rt_hash)?
                .expect("the token");
            let rows = |grant_id: &str| Issued {
                access: AccessToken {
                    jti: "a-new-access-token".into(),
                    grant_id: Some(grant_id.into()),
                    client_id: found.client_id.clone(),
                    user_id: None,
                    scopes: String::new(),
                    expires_at: now + 60,
                    token_hash: None,
                },
                refresh: None,
            };
            tx.grants().revoke_grant(&found.grant_id, now)?;
            let code = SingleUse::Code(code_hash.clone());
            let code = tx.grants().redeem(&code, &rows(&found.grant_id), now)?;
            let expired = token.expires_at;
            let refresh = SingleUse::RefreshToken(rt_hash.clone());
            let refresh = tx
                .grants()
                .redeem(&refresh, &rows(&token.grant_id), expired)?;
            let code_used = tx.grants().find_code(&code_hash)?.expect("the code").1;
            let rotation = tx
                .grants()
                .find_refresh_token(&rt_hash)?
                .expect("the token")
                .1;
            Ok((code, refresh, code_used, rotation.is_some()))
        })
        .await
        .unwrap();
    assert!(matches!(code, Redeemed::Invalid), "{code:?}");
    assert!(matches!(refresh, Redeemed::Invalid), "{refresh:?}");
    assert!(!code_used, "the code is not used up");
    assert!(!rt_rotated, "the refresh token is not rotated");
}
