//! What several nodes over one PostgreSQL database share besides the flows (issue: scale-out,
//! items 2 and 3): the webhook outbox, the login throttle's counters and the expiry sweeper;
//! and how a node meets its database at start (items 3 and 4: TLS, a wrong password, nobody
//! listening).
//! The nodes and helpers are `cluster.rs`'s.

use crate::cluster::{client_credentials, spawn_node, Cluster, DataKey};
use crate::harness::*;
use parking_lot::Mutex;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// One webhook POST the receiver saw: the event id in its header and in its body, the test's
/// round it arrived in, and what the receiver answered.
#[derive(Clone, Debug)]
struct Delivery {
    header_id: String,
    body_id: String,
    round: usize,
    answered: u16,
}

/// A webhook endpoint on loopback that answers 500 to the first `FAILURES` deliveries of each
/// event and 204 to every later one, and records them all.
#[derive(Clone)]
struct FlakyReceiver {
    url: String,
    seen: Arc<Mutex<Vec<Delivery>>>,
    round: Arc<AtomicUsize>,
}

impl FlakyReceiver {
    async fn start() -> FlakyReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let r = FlakyReceiver {
            url: format!("http://{}/hooks", listener.local_addr().unwrap()),
            seen: Default::default(),
            round: Default::default(),
        };
        let me = r.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(me.clone().handle(stream));
            }
        });
        r
    }

    async fn handle(self, mut stream: tokio::net::TcpStream) {
        let Some(request) = crate::webhooks::read_request(&mut stream).await else {
            return;
        };
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let header_id = request.header("consentry-event-id");
        let answered = {
            let mut seen = self.seen.lock();
            let before = seen.iter().filter(|d| d.header_id == header_id).count();
            let answered = if before < FAILURES { 500 } else { 204 };
            seen.push(Delivery {
                body_id: body["id"].as_str().unwrap_or_default().to_string(),
                header_id,
                round: self.round.load(Ordering::SeqCst),
                answered,
            });
            answered
        };
        let answer =
            format!("HTTP/1.1 {answered} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let _ = stream.write_all(answer.as_bytes()).await;
    }
}

/// How many deliveries of each event the receiver refuses before it accepts one.
const FAILURES: usize = 5;

/// Nodes that poll the outbox often and retry a failed delivery a minute later (with up to
/// 15 s of jitter), so that a test moving the clocks makes every event due at once.
fn outbox_nodes(c: &mut consentry::config::Config) {
    crate::webhooks::tweak(c);
    c.webhooks.poll_interval_ms = 10;
    c.webhooks.retry_base_secs = 60;
    c.webhooks.retry_max_secs = 60;
    // Room for an attempt too many (the test counts them; none may go dead).
    c.webhooks.max_attempts = FAILURES as i64 * 2;
}

/// Issue items 2 and 3: each outbox event is claimed by one node (`FOR UPDATE SKIP LOCKED`),
/// retried after each failure under the same event id, and delivered exactly once once the
/// receiver is healthy, with three nodes' workers polling one outbox and events recorded
/// through all three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_each_outbox_event_once_and_retry_it_under_its_id() {
    const EVENTS: usize = 30;
    let receiver = FlakyReceiver::start().await;
    let cluster = Cluster::start_with(3, outbox_nodes).await;
    let partner = cluster.nodes[0]
        .client(json!({"scope": "user:create user:delete"}))
        .await;
    crate::webhooks::set_webhook(&cluster.nodes[0], &partner, &receiver.url).await;
    let mut bearers = Vec::new();
    for i in 0..3 {
        bearers.push(
            crate::partner::bearer(cluster.node(i), &partner, "user:create user:delete").await,
        );
    }
    // Each user is made at one node and deleted at the next: a `userDeleted` event recorded
    // by each node in turn, the deletions all at once.
    let mut users = Vec::new();
    for i in 0..EVENTS {
        let a = crate::partner::call(
            cluster.node(i),
            "POST",
            "/users",
            Some(&bearers[i % 3]),
            None,
        )
        .await;
        assert_eq!(a.status, 201, "{}", a.body);
        users.push(a.body["userId"].as_str().unwrap().to_string());
    }
    let deletions: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let node = cluster.node(i + 1);
            let request = node
                .browser()
                .delete(format!("{}/users/{user}", node.base))
                .bearer_auth(&bearers[(i + 1) % 3]);
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    for deletion in deletions {
        assert_eq!(deletion.await.unwrap(), 204);
    }

    // Each time every event has failed once more (its outcome recorded, nothing in flight),
    // all three nodes' clocks move past the retry together: every event is due at every node
    // at once, and the three workers race to claim them (five times: one race may go to a
    // single node by chance).
    let db = &cluster.nodes[0];
    let until = Instant::now() + Duration::from_secs(30);
    for round in 1..=FAILURES {
        let failed = format!("SELECT count(*) FROM webhook_events WHERE attempts >= {round}");
        while db.sql_count(&failed).await < EVENTS as i64 {
            let seen = receiver.seen.lock().clone();
            assert!(Instant::now() < until, "round {round}: {seen:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        receiver.round.store(round, Ordering::SeqCst);
        for node in &cluster.nodes {
            node.provider.clock.advance(100);
        }
    }
    let delivered = "SELECT count(*) FROM webhook_events WHERE status = 'delivered'";
    while db.sql_count(delivered).await < EVENTS as i64 {
        let seen = receiver.seen.lock().clone();
        assert!(Instant::now() < until, "not all delivered: {seen:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Room for a late duplicate to arrive.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = receiver.seen.lock().clone();
    let mut by_id: HashMap<&str, Vec<&Delivery>> = HashMap::new();
    for d in &seen {
        assert_eq!(
            d.header_id, d.body_id,
            "the header names the body's event: {d:?}"
        );
        by_id.entry(d.header_id.as_str()).or_default().push(d);
    }
    assert_eq!(by_id.len(), EVENTS, "one event per deletion: {seen:?}");
    // Round 0 is each event's first attempt, round N its attempt after the N-th move.
    let expected: Vec<(usize, u16)> = (0..=FAILURES)
        .map(|round| (round, if round < FAILURES { 500 } else { 204 }))
        .collect();
    for (id, deliveries) in &by_id {
        let attempts: Vec<(usize, u16)> =
            deliveries.iter().map(|d| (d.round, d.answered)).collect();
        assert_eq!(
            attempts, expected,
            "event {id} (round, answer): one attempt per round under the same id, and the \
             success never repeated"
        );
    }
}

/// Starts an authorization in `browser` at `node` and tries to log in as `username`: the
/// status of the login POST (303 signed in, 401 wrong password, 429 throttled).
async fn try_login(
    node: &TestServer,
    browser: reqwest::Client,
    client: &TestClient,
    username: &str,
    password: &str,
) -> u16 {
    let (_, challenge) = pkce();
    let j = Journey {
        server: node,
        browser,
    };
    let (status, interaction, body) = j.authorize(&auth_params(client, &challenge, &[])).await;
    assert_eq!(status, 303, "{body}");
    j.login(&interaction, username, password).await.0
}

/// Issue item 2, "login rate limits count across nodes": five wrong passwords for one account
/// from one address, spread over three nodes (none of which saw more than two), block the
/// sixth attempt at the third node as one node would, the right password included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_spread_over_nodes_are_counted_as_on_one_node() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client_and_user().await;
    let limit = cluster.nodes[0]
        .provider
        .config
        .login
        .max_failures_per_account as usize;
    for i in 0..limit {
        let status = try_login(
            cluster.node(i),
            cluster.browser.clone(),
            &client,
            "alice",
            "guess",
        )
        .await;
        assert_eq!(status, 401, "failure {} at node {}", i + 1, i % 3);
    }
    let status = try_login(
        cluster.node(limit),
        cluster.browser.clone(),
        &client,
        "alice",
        PASSWORD,
    )
    .await;
    assert_eq!(status, 429, "attempt {} at node {}", limit + 1, limit % 3);
}

/// The same limit with guesses arriving at three nodes at once: each node admits an attempt
/// and counts it in one step under a database lock on the account's counter, so exactly the
/// first five reach the password check whichever nodes they land on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_at_three_nodes_cannot_pass_the_limit() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client_and_user().await;
    // Each guess's interaction is made first (in a browser of its own); the logins are then
    // sent together.
    let mut guesses = Vec::new();
    for i in 0..9 {
        let node = cluster.node(i);
        let browser = node.browser();
        let (_, challenge) = pkce();
        let j = Journey {
            server: node,
            browser: browser.clone(),
        };
        let (status, interaction, _) = j.authorize(&auth_params(&client, &challenge, &[])).await;
        assert_eq!(status, 303);
        let (status, _, page) = j.get(&interaction).await;
        assert_eq!(status, 200);
        let csrf = hidden(&page, "csrf_token").unwrap();
        let request = browser
            .post(format!("{}{interaction}/login", node.base))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("username", "alice"),
                ("password", "guess"),
            ]);
        guesses.push(request);
    }
    let sent: Vec<_> = guesses
        .into_iter()
        .map(|r| tokio::spawn(async move { r.send().await.unwrap().status().as_u16() }))
        .collect();
    let mut statuses = Vec::new();
    for s in sent {
        statuses.push(s.await.unwrap());
    }
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert_eq!(checked, 5, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
}

/// The expiring tables the sweeper empties, with rows planted as `(id, expires_at)` from a
/// series: the SQL that plants `n` rows named `prefix-N`, for a client `?1` and a user `?2`.
const PLANTS: &[(&str, &str)] = &[
    (
        "grants",
        "INSERT INTO grants (id, client_id, user_id, scopes, created_at, expires_at)
         SELECT ?3 || '-' || n, ?1, ?2, 'openid', 0, ?4::text::bigint FROM generate_series(1, ?5::text::int) n",
    ),
    (
        "authorization_codes",
        "INSERT INTO authorization_codes (code_hash, grant_id, client_id, redirect_uri, expires_at)
         SELECT ?3 || '-' || n, 'kept', ?1, 'https://rp.example.test/cb', ?4::text::bigint FROM generate_series(1, ?5::text::int) n",
    ),
    (
        "access_tokens",
        "INSERT INTO access_tokens (jti, grant_id, client_id, user_id, scopes, expires_at)
         SELECT ?3 || '-' || n, 'kept', ?1, ?2, 'openid', ?4::text::bigint FROM generate_series(1, ?5::text::int) n",
    ),
    (
        "refresh_tokens",
        "INSERT INTO refresh_tokens (token_hash, grant_id, client_id, scopes, expires_at)
         SELECT ?3 || '-' || n, 'kept', ?1, 'openid', ?4::text::bigint FROM generate_series(1, ?5::text::int) n",
    ),
    (
        "interactions",
        "INSERT INTO interactions (id, browser_hash, csrf_token, request, expires_at)
         SELECT ?3 || '-' || n, ?2, 'csrf', '{}', ?4::text::bigint FROM generate_series(1, ?5::text::int) n",
    ),
    (
        "sessions",
        "INSERT INTO sessions (id_hash, sid, user_id, auth_time, amr, expires_at)
         SELECT ?3 || '-' || n, ?3 || '-sid-' || n, ?2, 0, 'pwd', ?4::text::bigint FROM generate_series(1, ?5::text::int) n",
    ),
    (
        "seen_jtis",
        "INSERT INTO seen_jtis (scope, jti, expires_at)
         SELECT ?1, ?3 || '-' || n, ?4::text::bigint FROM generate_series(1, ?5::text::int) n",
    ),
    (
        "pushed_requests",
        "INSERT INTO pushed_requests (id_hash, client_id, request, expires_at)
         SELECT ?3 || '-' || n, ?1, '{}', ?4::text::bigint FROM generate_series(1, ?5::text::int) n",
    ),
    (
        "login_failures",
        "INSERT INTO login_failures (key_hash, failures, expires_at)
         SELECT ?3 || '-' || n, 1, ?4::text::bigint FROM generate_series(1, ?5::text::int) n",
    ),
];

/// Issue item 2, "the expiry sweeper ... run[s] safely with several nodes": three nodes
/// sweeping one database at the same instant, round after round, remove every expired row of
/// every expiring table (more than one round's batch of each) without an error, and leave
/// every live row alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_sweeping_at_once_remove_expired_rows_and_keep_live_ones() {
    const EXPIRED: i64 = 600;
    const LIVE: i64 = 20;
    let cluster = Cluster::start(3).await;
    let client = cluster.nodes[0].client(json!({})).await;
    let user = cluster.nodes[0].user("alice").await;
    let db = &cluster.nodes[0];
    let now = db.provider.now();
    let (expired_at, live_at) = ((now - 60).to_string(), (now + 3600).to_string());
    // One node's sweep running all the while the rows are planted and a second node sweeps
    // (its transaction holds the sweep's lock; here a connection of the test's own holds it):
    // the second skips its round at once rather than queue behind the first's row locks.
    let (holder, connection) =
        tokio_postgres::connect(db.database_url.as_ref().unwrap(), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let lock = consentry::store::sweep::SWEEP_LOCK;
    holder
        .batch_execute(&format!("BEGIN; SELECT pg_advisory_xact_lock({lock})"))
        .await
        .unwrap();
    // A live grant for the planted codes and tokens to belong to.
    let kept = "INSERT INTO grants (id, client_id, user_id, scopes, created_at, expires_at)
                VALUES ('kept', ?1, ?2, 'openid', 0, ?3::text::bigint)";
    assert_eq!(db.sql_exec(kept, &[&client.id, &user, &live_at]).await, 1);
    for (table, plant) in PLANTS {
        // Every argument typed, used by the statement or not.
        let plant = &format!("{plant} WHERE ?1::text <> '' AND ?2::text <> ''");
        let (expired, live) = (EXPIRED.to_string(), LIVE.to_string());
        let args = [client.id.as_str(), &user, "expired", &expired_at, &expired];
        assert_eq!(db.sql_exec(plant, &args).await, EXPIRED as u64, "{table}");
        let args = [client.id.as_str(), &user, "live", &live_at, &live];
        assert_eq!(db.sql_exec(plant, &args).await, LIVE as u64, "{table}");
    }
    let count = |table: &str, which: &str| {
        format!(
            "SELECT count(*) FROM {table} WHERE {} LIKE '{which}-%'",
            key_of(table)
        )
    };
    let expired_left = || async {
        let mut left = 0;
        for (table, _) in PLANTS {
            left += db.sql_count(&count(table, "expired")).await;
        }
        left
    };
    let skipped = tokio::time::timeout(
        Duration::from_secs(10),
        consentry::sweep_once(&cluster.nodes[1].provider),
    )
    .await
    .expect("a second sweep does not wait for the first");
    assert!(skipped.is_ok(), "{skipped:?}");
    assert_eq!(
        expired_left().await,
        EXPIRED * PLANTS.len() as i64,
        "skipped"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();

    // Every node sweeps at once, until nothing expired is left (one holds the sweep at a
    // time; a round removes at most a batch per table, and the holder repeats).
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let rounds: Vec<_> = cluster
            .nodes
            .iter()
            .map(|n| {
                let p = n.provider.clone();
                tokio::spawn(async move { consentry::sweep_once(&p).await.map(|_| ()) })
            })
            .collect();
        for (i, round) in rounds.into_iter().enumerate() {
            let result = round.await.unwrap();
            assert!(result.is_ok(), "node {i}'s sweep failed: {result:?}");
        }
        let left = expired_left().await;
        if left == 0 {
            break;
        }
        assert!(Instant::now() < until, "{left} expired rows left");
    }
    for (table, _) in PLANTS {
        assert_eq!(db.sql_count(&count(table, "live")).await, LIVE, "{table}");
    }
    let kept = "SELECT count(*) FROM grants WHERE id = 'kept'";
    assert_eq!(db.sql_count(kept).await, 1);
}

/// The column that names a planted row.
fn key_of(table: &str) -> &'static str {
    match table {
        "grants" | "interactions" => "id",
        "access_tokens" | "seen_jtis" => "jti",
        "authorization_codes" => "code_hash",
        "refresh_tokens" => "token_hash",
        "sessions" | "pushed_requests" => "id_hash",
        _ => "key_hash",
    }
}

/// `url` with the test database's schema of `schema_url` (its `options` parameter) added.
fn on_schema_of(url: &str, schema_url: &str) -> String {
    let schema = url::Url::parse(schema_url).unwrap();
    let options = schema
        .query_pairs()
        .find(|(k, _)| k == "options")
        .map(|(_, v)| v.into_owned())
        .expect("the schema URL sets options");
    let mut url = url::Url::parse(url).unwrap();
    url.query_pairs_mut().append_pair("options", &options);
    url.to_string()
}

/// Runs `consentry serve` on `database_url` and expects it to give up at start: it must exit
/// with a failure within 20 s (the connection pool waits 10 s at most). Its standard error.
fn refused_start(database_url: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let key = DataKey::new();
    let log = dir.path().join("consentry.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_consentry"))
        .args(["serve", "--http", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path().join("data"))
        .args(["--database-url", database_url])
        .arg("--data-key")
        .arg(key.file())
        .env_remove("CONSENTRY_DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after 20 s: {}",
                std::fs::read_to_string(&log).unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "started on {database_url}: {text}");
    text
}

/// Issue item 3, "TLS to the database (`sslmode`) works": a node reaching PostgreSQL over
/// verified TLS (the role `consentry_tls`, refused by the server without TLS) serves tokens;
/// the same URL with another CA, without a CA, or without TLS is refused at start with the
/// reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_reaches_the_database_over_verified_tls_and_nothing_less() {
    let tls_url = postgres_test_var("PG_TEST_TLS_DATABASE_URL");
    let ca = postgres_test_var("PG_TEST_CA");
    let tls_url = on_schema_of(&tls_url, &new_postgres_schema().await);
    let with_ca = |pem: &str| {
        let mut url = url::Url::parse(&tls_url).unwrap();
        url.query_pairs_mut().append_pair("sslrootcert", pem);
        url.to_string()
    };
    let node = spawn_node(&with_ca(&ca), None, &DataKey::new());
    let http = reqwest::Client::new();
    assert!(
        client_credentials(&http, node.port).await.is_some(),
        "{}",
        node.log_text()
    );
    drop(node);

    // A certificate the server's was not signed by.
    let dir = tempfile::tempdir().unwrap();
    let other_ca = dir.path().join("other-ca.pem");
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(&other_ca, other.cert.pem()).unwrap();
    let text = refused_start(&with_ca(other_ca.to_str().unwrap()));
    assert!(text.contains("invalid peer certificate"), "{text}");

    // sslmode=require alone: TLS here always verifies the server, so it needs the CA.
    let text = refused_start(&tls_url);
    assert!(text.contains("add sslrootcert=PATH"), "{text}");
    assert!(
        !text.contains("could not begin"),
        "a setting, not a transaction: {text}"
    );

    // Without TLS the server refuses the role.
    let plain = tls_url.replace("sslmode=require", "sslmode=disable");
    let text = refused_start(&plain);
    assert!(text.contains("no encryption"), "{text}");
}

/// Issue item 4, "a clear error at start for a bad URL or wrong credentials": a wrong password
/// and a port nobody listens on each stop the node at once, with the database's reason (not
/// the driver's bare "error connecting to server") and without the password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_stops_at_start_saying_why_it_cannot_reach_the_database() {
    let mut url = url::Url::parse(&postgres_base_url()).unwrap();
    url.set_password(Some("not-the-password-0123")).unwrap();
    let text = refused_start(url.as_str());
    assert!(text.contains("password authentication failed"), "{text}");
    assert!(!text.contains("not-the-password-0123"), "{text}");

    let nobody = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = nobody.local_addr().unwrap().port();
    drop(nobody);
    url.set_port(Some(port)).unwrap();
    let text = refused_start(url.as_str());
    assert!(text.contains("Connection refused"), "{text}");
    assert!(
        text.contains(&format!("127.0.0.1:{port}")),
        "names where: {text}"
    );
}

/// Issue item 3: DPoP `htu` (RFC 9449 §4.3) and a client assertion's `aud` (RFC 7523 §3) name
/// the issuer's endpoints whichever node serves the request: a node checks them against the
/// issuer's URLs, never against the Host the request reached it by.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dpop_htu_and_assertion_aud_are_the_issuers_urls_at_every_node() {
    let cluster = Cluster::start(2).await;
    let node = &cluster.nodes[1];
    // The issuer's token endpoint (node 0's address, as behind a balancer), and the same
    // endpoint at the address this request reaches node 1 by.
    let issuers_token = format!("{}/token", node.provider.config.issuer());
    let own_token = node.url("/token");
    assert_ne!(
        own_token, issuers_token,
        "node 1 is not at the issuer's address"
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "accounts:read"),
    ];

    let c = node.client(json!({})).await;
    let key = crate::keys::DpopKey::new();
    for (htu, want) in [(issuers_token.clone(), 200), (own_token.clone(), 400)] {
        let proof = key.proof("POST", &htu, None, node.provider.now());
        let res = node
            .browser()
            .post(&own_token)
            .basic_auth(&c.id, Some(&c.secret))
            .form(&form)
            .header("DPoP", proof)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), want, "DPoP htu {htu}");
    }

    let signer = crate::keys::ClientKey::new("ES256");
    let pk = node
        .client(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": signer.jwks()}))
        .await;
    for (aud, want) in [(issuers_token.clone(), 200), (own_token.clone(), 401)] {
        let now = node.provider.now();
        let assertion = signer.sign(
            &json!({"iss": pk.id, "sub": pk.id, "aud": aud, "iat": now, "exp": now + 60,
                    "jti": consentry::secrets::random_token()}),
            true,
        );
        let res = node
            .browser()
            .post(&own_token)
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
                (
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                ),
                ("client_assertion", &assertion),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), want, "assertion aud {aud}");
    }
}
