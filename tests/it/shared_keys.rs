//! Signing keys shared through the database (issue 21, items 2 and 3): every node signs with
//! and publishes the same keys, a rotation by the CLI or by any node reaches every node within
//! the stated bound, no token fails verification across it, and an earlier version's key file
//! is imported.

use crate::harness::*;
use consentry::jose::stored_keys::{self, Status};
use consentry::store::{Location, PostgresOptions, Store};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// The operator contract's bound for a rotation to reach every node; the nodes check every
/// 2 s (`consentry::keys::CHECK_EVERY`).
const BOUND: Duration = Duration::from_secs(10);

/// The JWKS a server publishes, keyed by `kid`.
async fn jwks(s: &TestServer) -> Vec<Value> {
    let body: Value = s
        .browser()
        .get(s.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut keys = body["keys"].as_array().unwrap().clone();
    keys.sort_by_key(|k| k["kid"].as_str().unwrap().to_string());
    keys
}

fn kids(keys: &[Value]) -> BTreeSet<String> {
    keys.iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

/// The stored key set, as the database holds it.
async fn stored(s: &TestServer) -> consentry::keys::StoredKeySet {
    consentry::keys::load(&s.provider.store, &s.provider.sealer)
        .await
        .unwrap()
        .expect("a stored key set")
}

fn kid_of(keys: &[stored_keys::StoredKey], alg: &str, status: Status) -> String {
    keys.iter()
        .find(|k| k.alg().map(|a| a.name()) == Some(alg) && k.status == status)
        .unwrap()
        .kid()
        .to_string()
}

/// Waits (at most [`BOUND`]) until `s` publishes a JWKS other than `before`; how long it took.
async fn wait_for_new_jwks(s: &TestServer, before: &[Value]) -> (Vec<Value>, Duration) {
    let start = Instant::now();
    while start.elapsed() < BOUND {
        let now = jwks(s).await;
        if now != before {
            return (now, start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not serve the rotated keys within {BOUND:?}");
}

/// A client-credentials access token from `s`.
async fn access_token(s: &TestServer, c: &TestClient) -> String {
    let (status, body) = s
        .token(
            c,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "accounts:read"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_string()
}

async fn userinfo_status(s: &TestServer, access_token: &str) -> u16 {
    s.browser()
        .get(s.url("/me"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The `--data-dir` / `--database-url` arguments that reach `s`'s database from the CLI.
fn cli_database_args(s: &TestServer) -> Vec<String> {
    let mut args = vec![
        "--data-dir".to_string(),
        s.provider.config.data_dir.display().to_string(),
    ];
    if let Some(url) = &s.database_url {
        args.extend(["--database-url".to_string(), url.clone()]);
    }
    args
}

async fn cli(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_consentry"))
            .args(&args)
            .env_remove("CONSENTRY_DATABASE_URL")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// A second node on `first`'s database, with the same issuer (as behind one load balancer):
/// a data folder of its own, holding only the data key the operator gives every node (it
/// seals the signing keys in the database).
async fn second_node(first: &TestServer) -> TestServer {
    second_node_with(first, |_| {}).await
}

/// [`second_node`], after `tweak` adjusts its configuration.
pub(crate) async fn second_node_with(
    first: &TestServer,
    tweak: impl FnOnce(&mut consentry::config::Config),
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    copy_data_key(&first.provider.config.data_dir, dir.path());
    let url = database_url_of(first);
    let issuer = first.issuer.clone();
    TestServer::start_in(dir, move |c| {
        c.database_url = Some(url);
        c.issuer = Some(issuer);
        tweak(c);
    })
    .await
}

fn copy_data_key(from_data_dir: &Path, to_data_dir: &Path) {
    std::fs::create_dir_all(to_data_dir.join("keys")).unwrap();
    std::fs::copy(
        from_data_dir.join("keys/data.key"),
        to_data_dir.join("keys/data.key"),
    )
    .unwrap();
}

/// The URL of `s`'s database: its PostgreSQL schema, or `sqlite:PATH` of its SQLite file.
fn database_url_of(s: &TestServer) -> String {
    match s.provider.store.location() {
        Location::Postgres(url) => url.clone(),
        Location::Sqlite(path) => format!("sqlite:{}", path.display()),
    }
}

#[tokio::test]
async fn a_cli_rotation_reaches_a_running_server_within_the_bound_and_old_tokens_verify() {
    let s = TestServer::start().await;
    let c = s.client(json!({})).await;
    s.user("alice").await;
    let old = tokens_for(&s, &c, "alice").await;
    let old_at = old["access_token"].as_str().unwrap();
    let before = stored(&s).await;
    let next_es256 = kid_of(&before.keys, "ES256", Status::Next);
    let published = jwks(&s).await;

    let mut args = vec!["keys".to_string(), "rotate".to_string()];
    args.extend(cli_database_args(&s));
    let out = cli(args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (after, took) = wait_for_new_jwks(&s, &published).await;
    assert!(took <= BOUND, "served after {took:?}");
    assert!(
        kids(&published).is_subset(&kids(&after)),
        "the retired keys stay published"
    );
    assert_eq!(after.len(), 9, "three retired, three current, three next");
    // The key published as next before the rotation now signs.
    let new_at = access_token(&s, &c).await;
    assert_eq!(jwt_header(&new_at)["kid"], json!(next_es256));
    assert_eq!(stored(&s).await.version, before.version + 1);
    // A token signed before the rotation still verifies, at UserInfo and by introspection.
    assert_eq!(userinfo_status(&s, old_at).await, 200);
    assert_eq!(s.introspect(&c, old_at).await["active"], true);
    assert_eq!(s.introspect(&c, &new_at).await["active"], true);
}

#[tokio::test]
async fn two_nodes_on_one_database_serve_the_same_keys_and_each_others_tokens() {
    let a = TestServer::start().await;
    let b = second_node(&a).await;
    let c = a.client(json!({})).await;
    a.user("alice").await;

    let published = jwks(&a).await;
    assert_eq!(published.len(), 6);
    assert_eq!(jwks(&b).await, published, "both nodes publish one key set");

    // A token issued by one node verifies at the other.
    let from_a = tokens_for(&a, &c, "alice").await;
    let from_a = from_a["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&b, from_a).await, 200);
    let from_b = access_token(&b, &c).await;
    assert_eq!(a.introspect(&c, &from_b).await["active"], true);

    // A rotation on node A reaches node B within the bound; tokens from before verify on both.
    let retention = consentry::keys::retention_secs(&a.provider);
    let p = &a.provider;
    consentry::keys::rotate(
        &p.store,
        &p.sealer,
        &p.config.keys_dir(),
        p.now(),
        retention,
    )
    .await
    .unwrap();
    let (on_b, took) = wait_for_new_jwks(&b, &published).await;
    assert!(took <= BOUND, "served after {took:?}");
    let (on_a, _) = wait_for_new_jwks(&a, &published).await;
    assert_eq!(on_a, on_b, "both nodes publish the rotated set");
    assert_eq!(userinfo_status(&b, from_a).await, 200);
    assert_eq!(a.introspect(&c, &from_b).await["active"], true);
    let rotated_at_a = access_token(&a, &c).await;
    let rotated_at_b = access_token(&b, &c).await;
    assert_eq!(
        jwt_header(&rotated_at_a)["kid"],
        jwt_header(&rotated_at_b)["kid"],
        "both nodes sign with the same current key"
    );
    assert_eq!(b.introspect(&c, &rotated_at_a).await["active"], true);
    assert_eq!(a.introspect(&c, &rotated_at_b).await["active"], true);
}

/// Opens `n` handles on `s`'s database, as `n` nodes would.
fn nodes_on(s: &TestServer, n: usize) -> Vec<Store> {
    let location = s.provider.store.location().clone();
    (0..n)
        .map(|_| Store::open_at(&location, &PostgresOptions { pool_size: 2 }).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_creating_the_keys_at_the_same_instant_end_up_with_one_set() {
    // A new database (migrated once), and three nodes starting on it at the same instant,
    // each with the operator's data key.
    let dir = tempfile::tempdir().unwrap();
    let location = match postgres_schema_for(dir.path()) {
        Some(url) => Location::Postgres(url),
        None => Location::Sqlite(dir.path().join("consentry.sqlite")),
    };
    let options = PostgresOptions { pool_size: 2 };
    let first = Store::open_at(&location, &options).unwrap();
    let mut stores = vec![first.clone()];
    stores.extend((0..2).map(|_| Store::open_at(&location, &options).unwrap()));
    let keys_dir = dir.path().join("keys");
    consentry::sealing::Sealer::load_or_create(&keys_dir).unwrap();
    let now = consentry::clock::Clock::default().now();
    let starts: Vec<_> = stores
        .into_iter()
        .map(|store| {
            let keys_dir = keys_dir.clone();
            tokio::spawn(async move {
                let sealer = consentry::sealing::Sealer::load_or_create(&keys_dir).unwrap();
                let set = consentry::keys::load_or_create(&store, &sealer, &keys_dir, now)
                    .await
                    .unwrap();
                set.keys
                    .iter()
                    .map(|k| k.kid().to_string())
                    .collect::<BTreeSet<_>>()
            })
        })
        .collect();
    let mut sets = BTreeSet::new();
    for start in starts {
        sets.insert(start.await.unwrap());
    }
    assert_eq!(sets.len(), 1, "every node loaded the same set: {sets:?}");
    let version = first.read(|tx| tx.signing_keys().version()).await.unwrap();
    assert_eq!(version, Some(1), "stored once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_rotations_racing_one_wins_and_the_other_is_refused() {
    let s = TestServer::start().await;
    let keys_dir = s.provider.config.keys_dir();
    let now = s.provider.now();
    let retention = consentry::keys::retention_secs(&s.provider);
    let rotations: Vec<_> = nodes_on(&s, 2)
        .into_iter()
        .map(|store| {
            let keys_dir = keys_dir.clone();
            tokio::spawn(async move {
                let sealer = consentry::sealing::Sealer::load_or_create(&keys_dir).unwrap();
                consentry::keys::rotate(&store, &sealer, &keys_dir, now, retention)
                    .await
                    .map(|set| set.version)
                    .map_err(|e| e.to_string())
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for r in rotations {
        outcomes.push(r.await.unwrap());
    }
    let won: Vec<_> = outcomes.iter().filter(|o| o.is_ok()).collect();
    assert_eq!(won, [&Ok(2)], "exactly one rotation: {outcomes:?}");
    let lost = outcomes.iter().find_map(|o| o.as_ref().err()).unwrap();
    assert!(lost.contains("try again in"), "{lost}");
    let set = stored(&s).await;
    assert_eq!(set.version, 2);
    let retired = set.keys.iter().filter(|k| k.status == Status::Retired);
    assert_eq!(retired.count(), 3, "one rotation's worth of retired keys");
}

#[tokio::test]
async fn a_rotation_right_after_another_is_refused_until_every_node_has_seen_it() {
    let s = TestServer::start().await;
    let mut args = vec!["keys".to_string(), "rotate".to_string()];
    args.extend(cli_database_args(&s));
    let first = cli(args.clone()).await;
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let before = stored(&s).await;
    let second = cli(args).await;
    assert!(!second.status.success());
    let why = String::from_utf8_lossy(&second.stderr);
    assert!(why.contains("rotated less than 10 s ago"), "{why}");
    let after = stored(&s).await;
    assert_eq!(after.version, before.version, "nothing changed");
}

#[tokio::test]
async fn an_earlier_key_file_is_imported_and_no_longer_written() {
    // An installation of an earlier version: its keys in keys/signing-keys.json.
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    std::fs::create_dir_all(&keys_dir).unwrap();
    let now = consentry::clock::Clock::default().now();
    let mut earlier = stored_keys::generate(now - 3600).unwrap();
    stored_keys::rotate(&mut earlier, now - 600, 7200).unwrap();
    let file = stored_keys::legacy_path(&keys_dir);
    let text = stored_keys::to_document(&earlier).unwrap();
    std::fs::write(&file, &text).unwrap();
    let file_kids: BTreeSet<String> = earlier.iter().map(|k| k.kid().to_string()).collect();

    let s = TestServer::start_in(dir, |_| {}).await;
    assert_eq!(
        kids(&jwks(&s).await),
        file_kids,
        "the file's keys are published"
    );
    let c = s.client(json!({})).await;
    let at = access_token(&s, &c).await;
    assert_eq!(
        jwt_header(&at)["kid"],
        json!(kid_of(&earlier, "ES256", Status::Current)),
        "the file's current key signs"
    );
    let imported = stored(&s).await;
    assert_eq!(imported.version, 1);

    // From now on the database holds them: a rotation leaves the file alone, and a restart
    // serves the database's keys, not the file's again.
    let p = &s.provider;
    let retention = consentry::keys::retention_secs(p);
    let rotated =
        consentry::keys::rotate(&p.store, &p.sealer, &p.config.keys_dir(), now, retention)
            .await
            .unwrap();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let issuer = s.issuer.clone();
    let dir = s.stop().await;
    let s = TestServer::start_in(dir, move |c| c.issuer = Some(issuer)).await;
    let rotated_kids: BTreeSet<String> = rotated.keys.iter().map(|k| k.kid().to_string()).collect();
    assert_eq!(kids(&jwks(&s).await), rotated_kids);
    assert_eq!(s.introspect(&c, &at).await["active"], true);
}

/// `consentry migrate-store` carries the signing keys: a provider moved from SQLite into
/// PostgreSQL publishes the same keys, and a token signed before the move still verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_to_another_database_keeps_the_signing_keys() {
    let s = TestServer::start_with(|c| c.database_url = None).await;
    let c = s.client(json!({})).await;
    let before = jwks(&s).await;
    let at = access_token(&s, &c).await;
    let issuer = s.issuer.clone();
    let dir = s.stop().await;
    let target = new_postgres_schema().await;
    let sqlite = format!("sqlite:{}", dir.path().join("consentry.sqlite").display());
    let out = cli(vec![
        "migrate-store".into(),
        "--from".into(),
        sqlite,
        "--to".into(),
        target.clone(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let moved = TestServer::start_in(dir, move |c| {
        c.database_url = Some(target);
        c.issuer = Some(issuer);
    })
    .await;
    assert_eq!(jwks(&moved).await, before, "the same keys after the move");
    assert_eq!(moved.introspect(&c, &at).await["active"], true);
}
