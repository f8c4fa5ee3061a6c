//! Several nodes over one PostgreSQL database (issue: scale-out). Each node is a provider of
//! its own (its own caches, connection pool and TLS certificate) sharing only the database,
//! the issuer and the operator's data key (given by `--data-key`; the DPoP nonce and pairwise
//! subject keys derive from it), as the README tells operators to run them. Every rule of a flow must hold whichever node serves each request.

use crate::harness::*;
use serde_json::json;

pub(crate) struct Cluster {
    pub(crate) nodes: Vec<TestServer>,
    /// A browser that trusts every node's certificate and keeps one cookie jar for all of
    /// them (cookies are per host, not per port), as one browser behind a load balancer.
    pub(crate) browser: reqwest::Client,
    /// The installation's data key, given to every node.
    _key: DataKey,
}

impl Cluster {
    /// `n` nodes on a new schema of the test PostgreSQL server, all with the first one's issuer.
    pub(crate) async fn start(n: usize) -> Cluster {
        Cluster::start_with(n, |_| {}).await
    }

    /// Like `start`, with `tweak` applied to every node's configuration.
    pub(crate) async fn start_with(
        n: usize,
        tweak: impl Fn(&mut consentry::config::Config),
    ) -> Cluster {
        let url = new_postgres_schema().await;
        let key = DataKey::new();
        let first = {
            let (url, key) = (url.clone(), key.file());
            TestServer::start_with(|c| {
                c.database_url = Some(url);
                c.data_key = Some(key);
                tweak(c);
            })
            .await
        };
        let issuer = first.provider.config.issuer();
        let mut nodes = vec![first];
        for _ in 1..n {
            let dir = tempfile::tempdir().unwrap();
            let (url, issuer, key) = (url.clone(), issuer.clone(), key.file());
            nodes.push(
                TestServer::start_in(dir, |c| {
                    c.database_url = Some(url);
                    c.issuer = Some(issuer);
                    c.data_key = Some(key);
                    tweak(c);
                })
                .await,
            );
        }
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none());
        for node in &nodes {
            builder =
                builder.add_root_certificate(reqwest::Certificate::from_pem(&node.ca_pem).unwrap());
        }
        Cluster {
            nodes,
            browser: builder.build().unwrap(),
            _key: key,
        }
    }

    pub(crate) fn node(&self, i: usize) -> &TestServer {
        &self.nodes[i % self.nodes.len()]
    }

    /// The browser, on node `i`.
    pub(crate) fn on(&self, i: usize) -> Journey<'_> {
        Journey {
            server: self.node(i),
            browser: self.browser.clone(),
        }
    }

    /// A client and a user, written through the first node.
    pub(crate) async fn client_and_user(&self) -> TestClient {
        let client = self.nodes[0].client(json!({})).await;
        self.nodes[0].user("alice").await;
        client
    }

    /// A code from `code_hopping`, redeemed at node `at`: the tokens (a 200 is asserted).
    pub(crate) async fn tokens_hopping(&self, client: &TestClient, at: usize) -> serde_json::Value {
        let (verifier, challenge) = pkce();
        let code = self.code_hopping(client, &challenge).await;
        let (status, tokens) = self.node(at).exchange_code(client, &code, &verifier).await;
        assert_eq!(status, 200, "code exchange at node {at}: {tokens}");
        tokens
    }

    /// Authorization, login and consent, each request on the next node; returns the code.
    pub(crate) async fn code_hopping(&self, client: &TestClient, challenge: &str) -> String {
        let (status, interaction, body) = self
            .on(0)
            .authorize(&auth_params(client, challenge, &[]))
            .await;
        assert_eq!(status, 303, "authorize on node 0: {body}");
        let (status, _, page) = self.on(1).get(&interaction).await;
        assert_eq!(status, 200, "login page on node 1: {page}");
        let csrf = hidden(&page, "csrf_token").expect("csrf token");
        let (status, back, body) = self
            .on(2)
            .post(
                &format!("{interaction}/login"),
                &[
                    ("csrf_token", &csrf),
                    ("username", "alice"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(
            (status, back.as_str()),
            (303, interaction.as_str()),
            "login on node 2: {body}"
        );
        let (status, _, page) = self.on(3).get(&interaction).await;
        assert_eq!(status, 200, "consent page on node 0: {page}");
        let csrf = hidden(&page, "csrf_token").expect("csrf token");
        let (status, cb, _) = self
            .on(4)
            .post(
                &format!("{interaction}/consent"),
                &[("csrf_token", &csrf), ("decision", "approve")],
            )
            .await;
        assert_eq!(status, 303, "consent on node 1");
        query(&cb)
            .get("code")
            .cloned()
            .unwrap_or_else(|| panic!("no code in {cb}"))
    }
}

/// A browser that lands on another node at every step completes login and consent, and the
/// code it gets is redeemed at a third (interactions, CSRF state and browser sessions live in
/// the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_hopping_between_nodes_at_every_step_completes_the_flow() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client_and_user().await;
    let tokens = cluster.tokens_hopping(&client, 2).await;
    // The access token node 2 issued is active at node 0 and node 1.
    let at = tokens["access_token"].as_str().unwrap();
    for i in 0..2 {
        let info = cluster.node(i).introspect(&client, at).await;
        assert_eq!(info["active"], true, "node {i}: {info}");
    }
}

/// RFC 6749 §4.1.2: a code used twice is refused and everything issued from it is revoked,
/// across nodes: node A issues the code, node B redeems it, node C refuses the replay, and
/// the tokens node B issued are then dead everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_replayed_at_another_node_is_refused_and_revokes_what_was_issued() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client_and_user().await;
    let (verifier, challenge) = pkce();
    let code = cluster.code_hopping(&client, &challenge).await;
    let (status, tokens) = cluster
        .node(1)
        .exchange_code(&client, &code, &verifier)
        .await;
    assert_eq!(status, 200, "{tokens}");
    let (status, replay) = cluster
        .node(2)
        .exchange_code(&client, &code, &verifier)
        .await;
    assert_eq!(status, 400, "{replay}");
    assert_eq!(replay["error"], "invalid_grant");
    let at = tokens["access_token"].as_str().unwrap();
    let rt = tokens["refresh_token"].as_str().unwrap();
    for i in 0..3 {
        let info = cluster.node(i).introspect(&client, at).await;
        assert_eq!(
            info["active"], false,
            "node {i} still takes the token: {info}"
        );
    }
    let (status, body) = cluster.node(0).refresh(&client, rt).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}

/// RFC 9700 §4.14.2 across nodes: two nodes redeeming one refresh token at the same instant
/// give exactly one new pair; the loser answers invalid_grant. The grant then follows the rule
/// a single node applies to a second use: it is revoked, so the winner's pair dies too. (With
/// `refresh_retry_grace_secs` off: within that grace a confidential client's second use is
/// taken as the retry of a lost answer and replaces the first pair, on one node as on many.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_redeeming_one_refresh_token_at_once_give_exactly_one_pair() {
    let cluster = Cluster::start_with(3, |c| c.lifetimes.refresh_retry_grace_secs = 0).await;
    let client = cluster.client_and_user().await;
    let tokens = cluster.tokens_hopping(&client, 0).await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();
    let (a, b) = tokio::join!(
        cluster.node(1).refresh(&client, &rt),
        cluster.node(2).refresh(&client, &rt)
    );
    let won: Vec<_> = [&a, &b].into_iter().filter(|(s, _)| *s == 200).collect();
    let lost: Vec<_> = [&a, &b].into_iter().filter(|(s, _)| *s != 200).collect();
    assert_eq!(won.len(), 1, "exactly one node wins: {a:?} {b:?}");
    assert_eq!(lost[0].0, 400, "{:?}", lost[0]);
    assert_eq!(lost[0].1["error"], "invalid_grant");
    let new_rt = won[0].1["refresh_token"].as_str().unwrap();
    let (status, body) = cluster.node(0).refresh(&client, new_rt).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "the reuse revoked the grant: {body}"
    );
}

/// Revocation at one node takes effect at once on every other (RFC 7009: no cache of token
/// state in a node's memory).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_at_one_node_is_inactive_at_every_other_at_once() {
    let cluster = Cluster::start(3).await;
    let client = cluster.client_and_user().await;
    let tokens = cluster.tokens_hopping(&client, 0).await;
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        cluster.node(2).introspect(&client, at).await["active"],
        true
    );
    let res = cluster
        .node(1)
        .browser()
        .post(cluster.node(1).url("/token/revocation"))
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for i in 0..3 {
        let info = cluster.node(i).introspect(&client, at).await;
        assert_eq!(info["active"], false, "node {i}: {info}");
    }
}

/// Issue item 3: the data key is the one secret the operator gives every node. Nodes that were
/// given nothing else hand out the same DPoP nonce (RFC 9449 §8: a nonce from one node is good
/// at the next) and the same pairwise `sub` (OIDC Core §8.1) for a user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_given_only_the_data_key_agree_on_dpop_nonces_and_pairwise_subjects() {
    let cluster = Cluster::start(2).await;
    let nonces: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| consentry::protocol::fapi::dpop::current_nonce(&n.provider.ctx()))
        .collect();
    assert_eq!(nonces[0], nonces[1]);
    let subs: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| {
            n.provider
                .ctx()
                .pairwise
                .subject("https://rp.example", "user-1")
        })
        .collect();
    assert_eq!(subs[0], subs[1]);
    for node in &cluster.nodes {
        let keys = node.provider.config.keys_dir();
        assert!(
            !keys.join("dpop-nonce.secret").exists()
                && !keys.join("pairwise-subject.secret").exists()
        );
    }
}

/// The operator's data key of one installation, given to every node it runs
/// (`--data-key`): it seals the signing keys in the database, so a node without it cannot
/// start.
pub(crate) struct DataKey(tempfile::TempDir);

impl DataKey {
    pub(crate) fn new() -> DataKey {
        let dir = tempfile::tempdir().unwrap();
        consentry::sealing::Sealer::new_data_key_file(&dir.path().join("data.key")).unwrap();
        DataKey(dir)
    }

    pub(crate) fn file(&self) -> std::path::PathBuf {
        self.0.path().join("data.key")
    }
}

/// The real binary as one node of a cluster on `database_url`, serving plain HTTP, with
/// `issuer` (its own address if `None`) and the installation's data key.
pub(crate) fn spawn_node(
    database_url: &str,
    issuer: Option<String>,
    key: &DataKey,
) -> crate::spawned::Server {
    crate::spawned::Server::start(crate::spawned::Options {
        env: vec![
            ("CONSENTRY_DATABASE_URL", database_url.to_string()),
            ("CONSENTRY_DATA_KEY", key.file().display().to_string()),
        ],
        issuer,
        ..Default::default()
    })
}

/// A token request for the demo client (the binary creates it on start) at `port`.
pub(crate) async fn client_credentials(http: &reqwest::Client, port: u16) -> Option<String> {
    let res = http
        .post(format!("http://127.0.0.1:{port}/oidc/token"))
        .header(
            "authorization",
            format!("Basic {}", crate::spawned::DEMO_BASIC),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .ok()?;
    if res.status() != 200 {
        return None;
    }
    let body: serde_json::Value = res.json().await.ok()?;
    Some(body["access_token"].as_str()?.to_string())
}

/// A node killed with SIGKILL in the middle of a load loses no token it acknowledged: every
/// access token a client received from it is active at another node afterwards (issuance
/// commits before the answer leaves).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_load_loses_no_acknowledged_token() {
    let url = new_postgres_schema().await;
    let key = DataKey::new();
    let mut doomed = spawn_node(&url, None, &key);
    let survivor = spawn_node(
        &url,
        Some(format!("http://127.0.0.1:{}/oidc", doomed.port)),
        &key,
    );
    let http = reqwest::Client::new();
    let acknowledged = std::sync::Arc::new(parking_lot::Mutex::new(Vec::new()));
    let port = doomed.port;
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (http, acknowledged) = (http.clone(), acknowledged.clone());
            tokio::spawn(async move {
                while let Some(token) = client_credentials(&http, port).await {
                    acknowledged.lock().push(token);
                }
            })
        })
        .collect();
    // Let the load run, then kill the node under it.
    while acknowledged.lock().len() < 50 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    doomed.signal("KILL");
    doomed.exit_status(std::time::Duration::from_secs(10));
    for task in load {
        task.await.unwrap();
    }
    let tokens = acknowledged.lock().clone();
    assert!(tokens.len() >= 50, "{} tokens", tokens.len());
    for token in &tokens {
        let res = http
            .post(format!(
                "http://127.0.0.1:{}/oidc/token/introspection",
                survivor.port
            ))
            .header(
                "authorization",
                format!("Basic {}", crate::spawned::DEMO_BASIC),
            )
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        let info: serde_json::Value = res.json().await.unwrap();
        assert_eq!(
            info["active"], true,
            "an acknowledged token was lost: {info}"
        );
    }
}

/// Three nodes started at the same instant on a new database all come up: migrations run
/// once (under an advisory lock) and the demo client and user are made once, not refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_at_the_same_instant_on_a_new_database_all_come_up() {
    let url = new_postgres_schema().await;
    let key = DataKey::new();
    let nodes: Vec<_> = std::thread::scope(|s| {
        let starts: Vec<_> = (0..3)
            .map(|_| s.spawn(|| spawn_node(&url, None, &key)))
            .collect();
        starts.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let http = reqwest::Client::new();
    for node in &nodes {
        let ready = http
            .get(format!("http://127.0.0.1:{}/readyz", node.port))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200, "{}", node.log_text());
        assert!(
            client_credentials(&http, node.port).await.is_some(),
            "the demo client works at every node"
        );
    }
}

/// `/readyz` answers 503 while the database is unreachable and 200 again once it is back,
/// without a restart (the pool replaces the broken connections). On a PostgreSQL server of
/// its own, which this test stops and starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_the_database_is_down_and_recovers_without_a_restart() {
    let dir = tempfile::Builder::new()
        .prefix("consentry-pg-")
        .tempdir_in("/tmp")
        .unwrap();
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pg/server.sh");
    let pg = |verb: &str| {
        let out = std::process::Command::new(&script)
            .arg(verb)
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let exports = pg("start");
    let url = exports
        .lines()
        .find_map(|l| l.strip_prefix("export PG_TEST_DATABASE_URL="))
        .map(|v| v.trim_matches(['\'', '"']).to_string())
        .expect("the script prints PG_TEST_DATABASE_URL");
    let key = DataKey::new();
    let node = spawn_node(&url, None, &key);
    let http = reqwest::Client::new();
    let ready = || async {
        http.get(format!("http://127.0.0.1:{}/readyz", node.port))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ready().await, 200);
    pg("stop");
    assert_eq!(ready().await, 503, "{}", node.log_text());
    pg("start");
    let started = std::time::Instant::now();
    while ready().await != 200 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "not ready again: {}",
            node.log_text()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    drop(node);
    pg("stop");
}

/// A client disabled through the admin API of one node is refused by every other within the
/// stated bound (each node keeps a client for two seconds at most), and never accepted again
/// after that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_disabled_at_one_node_is_refused_at_the_others_within_the_bound() {
    const ADMIN: &str = "admin-token-0123456789abcdefghijklmnopq";
    let cluster = Cluster::start_with(3, |c| c.admin_token = Some(ADMIN.into())).await;
    let client = cluster.client_and_user().await;
    let cc = [("grant_type", "client_credentials")];
    for i in 0..3 {
        let (status, body) = cluster.node(i).token(&client, &cc).await;
        assert_eq!(status, 200, "node {i}: {body}");
    }
    let res = cluster
        .node(0)
        .browser()
        .post(format!(
            "{}/admin/clients/{}/disable",
            cluster.node(0).base,
            client.id
        ))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let disabled = std::time::Instant::now();
    for i in 1..3 {
        loop {
            let (status, body) = cluster.node(i).token(&client, &cc).await;
            if status == 401 {
                assert_eq!(body["error"], "invalid_client", "{body}");
                break;
            }
            assert!(
                disabled.elapsed() < std::time::Duration::from_secs(3),
                "node {i} still takes the disabled client: {status} {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

/// The aggregator's registration at the upstream bank of `bank_journey_hopping`.
const AGGREGATOR: &str = "consentry-aggregator";
const AGGREGATOR_SECRET: &str = "aggregator-secret-0123456789abcdefghijklmnop";

/// Asks for the connection id in the ID token (contract: Claims).
const WANT_CONNECTION: &str = r#"{"id_token":{"mh:con_id":{"essential":true}}}"#;

impl Cluster {
    /// The same request as `url` (an address of node 0, the issuer's origin, as the upstream
    /// bank was told), sent to node `i` instead, as a load balancer would route it.
    fn at(&self, i: usize, url: &str) -> String {
        url.replacen(&self.node(0).base, &self.node(i).base, 1)
    }

    /// The consent page on node `page_at`, approved on node `post_at`; where the browser goes.
    async fn approve_hopping(&self, interaction: &str, page_at: usize, post_at: usize) -> String {
        let (status, _, page) = self.on(page_at).get(interaction).await;
        assert_eq!(status, 200, "consent page on node {page_at}: {page}");
        assert!(
            page.contains("OAuth Bank"),
            "consent names the bank: {page}"
        );
        let csrf = hidden(&page, "csrf_token").expect("csrf token");
        let (status, to, body) = self
            .on(post_at)
            .post(
                &format!("{interaction}/consent"),
                &[("csrf_token", &csrf), ("decision", "approve")],
            )
            .await;
        assert_eq!(status, 303, "consent on node {post_at}: {body}");
        to
    }
}

/// Issue item 6: a browser landing on another node at every request of a bank journey — the
/// authorization, the consent page, the consent (which sends it to the bank), the bank's
/// callback, the code exchange — completes it, and the id_token names the new connection in
/// `mh:con_id` (contract: Claims). The callback goes to a node that neither sent the browser
/// to the bank nor is the one the callback URL names, so the upstream state (PKCE verifier,
/// state, nonce) must come from the database. The connection is then read through the
/// partner API at another node, and a refresh journey hopping again renews it with the
/// bank's sealed refresh token (opened with the operator's shared data key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_hopping_between_nodes_at_every_step_completes_a_bank_journey() {
    // An upstream bank: another Consentry, which the shipped oauth-bank template reaches.
    let bank = TestServer::start().await;
    let hosts = crate::bank_pair::bank_host(&bank);
    let settings: std::collections::BTreeMap<String, String> = [
        ("issuer", bank.issuer.as_str()),
        ("hosts", hosts.as_str()),
        ("client_id", AGGREGATOR),
        ("client_secret", AGGREGATOR_SECRET),
        ("scope", "openid accounts:read offline_access"),
        ("auth", "client_secret_basic"),
        ("par", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let bank_ca = bank.provider.config.keys_dir().join("ca.pem");
    let cluster = Cluster::start_with(3, move |c| {
        c.plugins
            .settings
            .insert("oauth-bank".into(), settings.clone());
        c.plugins.upstream_ca_file = Some(bank_ca.clone());
    })
    .await;
    let callback = format!("{}/bank-callback", cluster.node(0).base);
    bank.client(json!({
        "client_id": AGGREGATOR, "client_secret": AGGREGATOR_SECRET, "redirect_uris": [callback],
    }))
    .await;
    bank.user("banker").await;
    let client = cluster
        .node(0)
        .client(json!({
            "connection_types": ["api"],
            "scope": "openid profile email offline_access accounts:read user:read",
        }))
        .await;

    let (verifier, challenge) = pkce();
    let params = auth_params(
        &client,
        &challenge,
        &[
            ("scope", "openid id:oauth-bank"),
            ("claims", WANT_CONNECTION),
        ],
    );
    let (status, interaction, body) = cluster.on(0).authorize(&params).await;
    assert_eq!(status, 303, "authorize on node 0: {body}");
    let to_bank = cluster.approve_hopping(&interaction, 1, 2).await;
    assert!(
        to_bank.starts_with(&bank.issuer),
        "node 2 sends the browser to the bank: {to_bank}"
    );

    // At the bank, another site with cookies of its own.
    let at_bank = Journey::new(&bank);
    let (status, bank_interaction, body) = at_bank.get(&to_bank).await;
    assert_eq!(status, 303, "bank authorize: {body}");
    let (status, _, _) = at_bank.login(&bank_interaction, "banker", PASSWORD).await;
    assert_eq!(status, 303);
    let back = at_bank.decide(&bank_interaction, "approve").await;
    assert!(back.starts_with(&callback), "{back}");

    // The callback on node 1: not node 2, which began the upstream authorization, nor node 0,
    // whose address the bank was given.
    let (status, cb, body) = cluster.on(1).get(&cluster.at(1, &back)).await;
    assert_eq!(status, 303, "callback on node 1: {body}");
    assert!(cb.starts_with(REDIRECT_URI), "{cb}");
    let code = query(&cb).get("code").cloned().expect("a code");
    let (status, tokens) = cluster
        .node(0)
        .exchange_code(&client, &code, &verifier)
        .await;
    assert_eq!(status, 200, "code exchange on node 0: {tokens}");
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    let con_id = id["mh:con_id"].as_str().expect("mh:con_id").to_string();
    let sub = id["sub"].as_str().unwrap().to_string();

    // The connection, read at node 2 through the partner API (the user is the client's own).
    let (status, cc) = cluster
        .node(2)
        .token(
            &client,
            &[("grant_type", "client_credentials"), ("scope", "user:read")],
        )
        .await;
    assert_eq!(status, 200, "{cc}");
    let res = cluster
        .node(2)
        .browser()
        .get(format!("{}/users/{sub}/connections", cluster.node(2).base))
        .bearer_auth(cc["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let connections: serde_json::Value = res.json().await.unwrap();
    assert_eq!(connections[0]["id"], con_id.as_str(), "{connections}");
    assert_eq!(connections[0]["bankId"], "oauth-bank", "{connections}");
    assert_eq!(connections[0]["status"], "active", "{connections}");

    // A refresh journey, hopping again: node 0 opens the connection's sealed upstream tokens
    // (sealed by node 1) and renews them at the bank, with no bank login.
    let (verifier, challenge) = pkce();
    let claims =
        json!({"id_token": {"sub": {"value": sub}, "mh:con_id": {"value": con_id}}}).to_string();
    let params = auth_params(
        &client,
        &challenge,
        &[("scope", "openid refresh"), ("claims", &claims)],
    );
    let (status, interaction, body) = cluster.on(1).authorize(&params).await;
    assert_eq!(status, 303, "authorize on node 1: {body}");
    let cb = cluster.approve_hopping(&interaction, 2, 0).await;
    assert!(
        cb.starts_with(REDIRECT_URI),
        "renewed without the bank: {cb}"
    );
    let code = query(&cb).get("code").cloned().expect("a code");
    let (status, tokens) = cluster
        .node(1)
        .exchange_code(&client, &code, &verifier)
        .await;
    assert_eq!(status, 200, "code exchange on node 1: {tokens}");
    let id = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["mh:con_id"], con_id.as_str());
}
