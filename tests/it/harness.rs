//! Starting a provider for a test, and driving it as a browser and as a client would.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use consentry::protocol::clients::{self as registration, Registrar};
use consentry::provider::Provider;
use reqwest::redirect::Policy;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;

pub const REDIRECT_URI: &str = "https://rp.example.test/cb";
pub const PASSWORD: &str = "correct horse battery";
pub const INITIAL_ACCESS_TOKEN: &str = "test-initial-access-token-0123456789";

pub struct TestServer {
    pub base: String,
    pub issuer: String,
    pub provider: Arc<Provider>,
    pub ca_pem: Vec<u8>,
    /// The PostgreSQL database (one schema of it) when the suite runs on PostgreSQL.
    pub database_url: Option<String>,
    /// Kept so the data dir lives as long as the server.
    pub _dir: tempfile::TempDir,
    /// The serving task; aborting it stops the server and its background work.
    task: tokio::task::JoinHandle<()>,
    /// Stops the server as SIGTERM does (`shut_down`).
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

pub struct TestClient {
    pub id: String,
    pub secret: String,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a provider with a temp data dir on 127.0.0.1:0, after `tweak` adjusts the config.
    pub async fn start_with(tweak: impl FnOnce(&mut consentry::config::Config)) -> TestServer {
        Self::start_in(tempfile::tempdir().expect("temp dir"), tweak).await
    }

    /// Stops the server (its background work too) and hands back its data dir.
    pub async fn stop(self) -> tempfile::TempDir {
        self.task.abort();
        let _ = self.task.await;
        self._dir
    }

    /// Stops the server as SIGTERM does: no new connections, those open end within the grace
    /// period; returns once it has stopped.
    pub async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Starts a provider on an existing data dir (a restart keeps its database and keys).
    pub async fn start_in(
        dir: tempfile::TempDir,
        tweak: impl FnOnce(&mut consentry::config::Config),
    ) -> TestServer {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = std_listener.local_addr().expect("addr");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let base = format!("https://127.0.0.1:{}", addr.port());
        let mut config = consentry::config::Config {
            data_dir: dir.path().to_path_buf(),
            listen: addr,
            issuer: Some(format!("{base}/oidc")),
            registration_token: Some(INITIAL_ACCESS_TOKEN.into()),
            plugins: consentry::config::PluginsConfig {
                dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("plugins"),
                ..Default::default()
            },
            ..Default::default()
        };
        log_when_asked();
        config.database_url = postgres_schema_for(dir.path());
        config.database_pool_size = 4;
        tweak(&mut config);
        let database_url = config.database_url.clone();
        let app = consentry::build_app(config).await.expect("build app");
        let provider = app.provider.clone();
        let ca_pem = std::fs::read(app.ca_path.clone().expect("https")).expect("ca.pem");
        let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // Dropping the server (not `shut_down`) leaves it running, as before.
        let stopped = async move {
            if stopped.await.is_err() {
                std::future::pending::<()>().await
            }
        };
        let task = tokio::spawn(app.run_until(listener, stopped));
        TestServer {
            issuer: format!("{base}/oidc"),
            base,
            provider,
            ca_pem,
            database_url,
            _dir: dir,
            task,
            stop: Some(stop),
        }
    }

    /// A client that trusts the dev CA, keeps cookies like a browser, and does not follow
    /// redirects (tests look at each one).
    pub fn browser(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca_pem).expect("ca"))
            .cookie_store(true)
            .redirect(Policy::none())
            .build()
            .expect("http client")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// Runs `sql` (with `?1`.. text arguments) on a connection of the test's own to the
    /// server's database, for tampering with rows the store's operations do not expose; how
    /// many rows it changed.
    pub async fn sql_exec(&self, sql: &str, args: &[&str]) -> u64 {
        match &self.database_url {
            Some(url) => {
                let client = postgres_client(url).await;
                let args: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = args
                    .iter()
                    .map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync))
                    .collect();
                client
                    .execute(&dollar_placeholders(sql), &args)
                    .await
                    .unwrap()
            }
            None => {
                let db = self.sqlite();
                db.execute(sql, rusqlite::params_from_iter(args)).unwrap() as u64
            }
        }
    }

    /// The scripts that failed to load, each as `file[:line]: reason`.
    pub fn plugin_problems(&self) -> Vec<String> {
        let catalog = self.provider.plugins.catalog();
        catalog.problems.values().map(|p| p.to_string()).collect()
    }

    /// The number a query (`SELECT count(*) ...`) returns, read on a connection of the test's
    /// own. Committed writes of the server are visible to it.
    pub async fn sql_count(&self, sql: &str) -> i64 {
        match &self.database_url {
            Some(url) => postgres_client(url)
                .await
                .query_one(sql, &[])
                .await
                .unwrap()
                .get(0),
            None => self.sqlite().query_row(sql, [], |r| r.get(0)).unwrap(),
        }
    }

    fn sqlite(&self) -> rusqlite::Connection {
        let db = rusqlite::Connection::open(self.provider.config.database_path()).unwrap();
        db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
        db
    }

    /// Registers a confidential client (client_secret_basic) with `extra` metadata merged in.
    pub async fn client(&self, extra: Value) -> TestClient {
        let mut meta = json!({
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "client_secret_basic",
            "scope": "openid profile email address phone offline_access accounts:read",
        });
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            meta[k] = v;
        }
        let new = registration::new_client(
            meta,
            Registrar::Operator,
            self.provider.now(),
            &self.provider.sealer,
            &self.provider.config.outbound,
        )
        .expect("valid metadata");
        let client = new.client.clone();
        self.provider
            .store
            .write(move |tx| tx.clients().insert(&client))
            .await
            .expect("insert client");
        TestClient {
            id: new.client.id.into(),
            secret: new.secret.unwrap_or_default(),
        }
    }

    /// Adds a local user with `PASSWORD` and a few claims; returns its id.
    pub async fn user(&self, username: &str) -> String {
        let hash = consentry::protocol::login::hash_password(PASSWORD).expect("hash");
        let user = consentry::store::users::User {
            id: consentry::secrets::random_user_id(),
            username: Some(username.into()),
            password_hash: Some(hash),
            claims: json!({ "name": format!("{username} Example"), "email": format!("{username}@example.test"), "email_verified": true })
                .as_object()
                .cloned()
                .unwrap(),
            managed_by_client: None,
            client_user_id: None,
            created_at: self.provider.now(),
        };
        let id = user.id.clone();
        self.provider
            .store
            .write(move |tx| tx.users().insert(&user))
            .await
            .expect("insert user");
        id
    }

    pub async fn token(&self, client: &TestClient, form: &[(&str, &str)]) -> (u16, Value) {
        let res = self
            .browser()
            .post(self.url("/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(form)
            .send()
            .await
            .expect("token request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// RFC 6749 §4.1.3: exchanges `code` (with its PKCE `verifier`) at the token endpoint.
    pub async fn exchange_code(
        &self,
        client: &TestClient,
        code: &str,
        verifier: &str,
    ) -> (u16, Value) {
        self.token(
            client,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier),
            ],
        )
        .await
    }

    /// RFC 6749 §6: presents the refresh token `rt`.
    pub async fn refresh(&self, client: &TestClient, rt: &str) -> (u16, Value) {
        self.token(
            client,
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await
    }

    /// Dynamic registration (RFC 7591) of `metadata` with the initial access token: the
    /// status and the JSON answer.
    pub async fn register(&self, metadata: &Value) -> (u16, Value) {
        let res = self
            .browser()
            .post(self.url("/reg"))
            .bearer_auth(INITIAL_ACCESS_TOKEN)
            .json(metadata)
            .send()
            .await
            .expect("registration request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The discovery document.
    pub async fn discovery(&self) -> Value {
        self.browser()
            .get(self.url("/.well-known/openid-configuration"))
            .send()
            .await
            .expect("discovery")
            .json()
            .await
            .expect("discovery json")
    }

    pub async fn metrics(&self) -> String {
        let res = self
            .browser()
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .expect("metrics");
        res.text().await.expect("metrics text")
    }

    pub async fn introspect(&self, client: &TestClient, token: &str) -> Value {
        self.browser()
            .post(self.url("/token/introspection"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&[("token", token)])
            .send()
            .await
            .expect("introspect")
            .json()
            .await
            .expect("json")
    }
}

/// A negative case: parameters to change, the expected error code, and the rule it checks.
pub type ParamCase<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);

/// A PKCE pair (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let verifier = consentry::secrets::random_token();
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    (verifier, URL_SAFE_NO_PAD.encode(digest.as_ref()))
}

/// Authorization parameters for `client` with PKCE, state and nonce; `extra` replaces or adds.
pub fn auth_params(
    client: &TestClient,
    challenge: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = vec![
        ("client_id".into(), client.id.clone()),
        ("redirect_uri".into(), REDIRECT_URI.into()),
        ("response_type".into(), "code".into()),
        ("scope".into(), "openid profile email offline_access".into()),
        ("state".into(), "state-123".into()),
        ("nonce".into(), "nonce-456".into()),
        ("code_challenge".into(), challenge.into()),
        ("code_challenge_method".into(), "S256".into()),
    ];
    for (k, v) in extra {
        p.retain(|(pk, _)| pk != k);
        if !v.is_empty() {
            p.push((k.to_string(), v.to_string()));
        }
    }
    p
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// The query parameters of a redirect URL.
pub fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("absolute url")
        .query_pairs()
        .into_owned()
        .collect()
}

/// The value of a named hidden input in a page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].replace("&amp;", "&"))
}

/// Drives a browser from the authorization URL through login and consent. Returns the final
/// redirect to the client.
pub struct Journey<'a> {
    pub server: &'a TestServer,
    pub browser: reqwest::Client,
}

impl<'a> Journey<'a> {
    pub fn new(server: &'a TestServer) -> Self {
        Journey {
            server,
            browser: server.browser(),
        }
    }

    /// GET the authorization endpoint; returns (status, Location, body).
    pub async fn authorize(&self, params: &[(String, String)]) -> (u16, String, String) {
        let res = self
            .browser
            .get(self.server.url("/auth"))
            .query(params)
            .send()
            .await
            .expect("authorize");
        let (status, loc) = (res.status().as_u16(), location(&res));
        (status, loc, res.text().await.unwrap_or_default())
    }

    pub async fn get(&self, path_or_url: &str) -> (u16, String, String) {
        let url = if path_or_url.starts_with("https://") {
            path_or_url.to_string()
        } else {
            format!("{}{}", self.server.base, path_or_url)
        };
        let res = self.browser.get(url).send().await.expect("get");
        let (status, loc) = (res.status().as_u16(), location(&res));
        (status, loc, res.text().await.unwrap_or_default())
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, String, String) {
        let res = self
            .browser
            .post(format!("{}{}", self.server.base, path))
            .form(form)
            .send()
            .await
            .expect("post");
        let (status, loc) = (res.status().as_u16(), location(&res));
        (status, loc, res.text().await.unwrap_or_default())
    }

    /// From the interaction page: log in as `username`; returns the page that follows.
    pub async fn login(
        &self,
        interaction: &str,
        username: &str,
        password: &str,
    ) -> (u16, String, String) {
        let (status, _, page) = self.get(interaction).await;
        assert_eq!(status, 200, "login page: {page}");
        let csrf = hidden(&page, "csrf_token").expect("csrf token on login page");
        self.post(
            &format!("{interaction}/login"),
            &[
                ("csrf_token", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }

    /// On the consent page, approve or deny; returns the redirect to the client. When the
    /// user's consent is remembered, the interaction redirects at once and that is returned.
    pub async fn decide(&self, interaction: &str, decision: &str) -> String {
        let (status, loc, page) = self.get(interaction).await;
        if status == 303 && decision == "approve" {
            return loc;
        }
        assert_eq!(status, 200, "consent page expected, got {status} {loc}");
        assert!(page.contains("Allow access"), "consent page: {page}");
        let csrf = hidden(&page, "csrf_token").expect("csrf token on consent page");
        let (status, loc, _) = self
            .post(
                &format!("{interaction}/consent"),
                &[("csrf_token", &csrf), ("decision", decision)],
            )
            .await;
        assert_eq!(status, 303);
        loc
    }

    /// The whole happy path for a new browser: authorize, log in, approve. Returns the
    /// redirect to the client.
    pub async fn complete(&self, params: &[(String, String)], username: &str) -> String {
        let (status, interaction, body) = self.authorize(params).await;
        assert_eq!(status, 303, "authorize: {body}");
        assert!(
            interaction.starts_with("/interaction/"),
            "to interaction: {interaction}"
        );
        let (status, back, body) = self.login(&interaction, username, PASSWORD).await;
        assert_eq!(status, 303, "login: {body}");
        assert_eq!(back, interaction);
        self.decide(&interaction, "approve").await
    }
}

/// The claims of a JWT, without verifying it (signature checks live in the interop tests).
pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("jwt payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
}

pub fn jwt_header(token: &str) -> Value {
    let h = token.split('.').next().expect("jwt header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).expect("b64")).expect("json")
}

/// The parameters of a response carried in the redirect's fragment (nothing in its query).
pub fn fragment(url: &str) -> std::collections::HashMap<String, String> {
    let u = url::Url::parse(url).unwrap();
    assert!(u.query().is_none(), "nothing in the query: {url}");
    form_urlencoded::parse(u.fragment().expect("a fragment").as_bytes())
        .into_owned()
        .collect()
}

/// OIDC Core §3.3.2.11 (`at_hash`, `c_hash`, `s_hash`): base64url of the left half of the
/// SHA-256 digest (RS256, PS256, ES256).
pub fn half_hash(v: &str) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, v.as_bytes());
    URL_SAFE_NO_PAD.encode(&d.as_ref()[..16])
}

/// Verifies a JWT we signed against the published JWKS (by its kid and alg); its claims.
pub async fn verify_with_jwks(s: &TestServer, jwt: &str) -> Value {
    let jwks: Value = s
        .browser()
        .get(s.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let header = jwt_header(jwt);
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("kid published");
    let jwk = josekit::jwk::Jwk::from_map(key.as_object().unwrap().clone()).unwrap();
    let verifier: Box<dyn josekit::jws::JwsVerifier> = match header["alg"].as_str().unwrap() {
        "ES256" => Box::new(josekit::jws::ES256.verifier_from_jwk(&jwk).unwrap()),
        "PS256" => Box::new(josekit::jws::PS256.verifier_from_jwk(&jwk).unwrap()),
        _ => Box::new(josekit::jws::RS256.verifier_from_jwk(&jwk).unwrap()),
    };
    let (payload, _) =
        josekit::jws::deserialize_compact(jwt, verifier.as_ref()).expect("signature verifies");
    serde_json::from_slice(&payload).unwrap()
}

/// Runs the code flow for `client` and `username` up to a code: the code and its PKCE verifier.
pub async fn code_for(
    server: &TestServer,
    client: &TestClient,
    username: &str,
) -> (String, String) {
    let (verifier, challenge) = pkce();
    let cb = Journey::new(server)
        .complete(&auth_params(client, &challenge, &[]), username)
        .await;
    (query(&cb)["code"].clone(), verifier)
}

/// Runs the code flow to tokens for `client` and `username`.
pub async fn tokens_for(server: &TestServer, client: &TestClient, username: &str) -> Value {
    let (code, verifier) = code_for(server, client, username).await;
    let (status, body) = server.exchange_code(client, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// When the suite runs on PostgreSQL (`IT_BACKEND=postgres`), the URL of a schema of the test
/// database ([`postgres_base_url`]) for the server whose data dir is `dir`: made on first
/// start, the same on a restart in the same dir. `None` on SQLite.
/// (Synchronous, for the helpers that start the binary or its CLI too.)
pub fn postgres_schema_for(dir: &std::path::Path) -> Option<String> {
    if std::env::var("IT_BACKEND").ok()? != "postgres" {
        return None;
    }
    let base = postgres_base_url();
    let marker = dir.join("postgres-schema");
    let schema = match std::fs::read_to_string(&marker) {
        Ok(s) => s,
        Err(_) => {
            let s = format!("t_{}", uuid::Uuid::new_v4().simple());
            create_schema(&base, &s);
            std::fs::create_dir_all(dir).unwrap();
            std::fs::write(&marker, &s).unwrap();
            s
        }
    };
    // The data key the operator gives a PostgreSQL installation (no node makes one), at the
    // data folder's default place.
    let key = dir.join("keys").join(consentry::sealing::DATA_KEY_FILE);
    if !key.exists() {
        std::fs::create_dir_all(dir.join("keys")).unwrap();
        match consentry::sealing::Sealer::new_data_key_file(&key) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            made => made.unwrap(),
        }
    }
    Some(with_search_path(&base, &schema))
}

/// Creates `schema` on a thread and runtime of its own (callers may be inside a runtime, or in
/// none).
fn create_schema(base: &str, schema: &str) {
    let (base, sql) = (base.to_string(), format!("CREATE SCHEMA {schema}"));
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async { postgres_client(&base).await.batch_execute(&sql).await })
            .unwrap()
    })
    .join()
    .unwrap();
}

/// The URL with the schema to use, and commits that do not wait for the disk (the suite's
/// server is thrown away; what a test checks is the provider's own commit rules).
fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}%20-c%20synchronous_commit%3Doff")
}

pub async fn postgres_client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to the test database");
    tokio::spawn(conn);
    client
}

fn dollar_placeholders(sql: &str) -> String {
    (1..=9).fold(sql.to_string(), |s, i| {
        s.replace(&format!("?{i}"), &format!("${i}"))
    })
}

/// `TEST_LOG=consentry=debug` prints the in-process servers' logs (for finding out why a test
/// failed).
fn log_when_asked() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if let Ok(filter) = std::env::var("TEST_LOG") {
        ONCE.call_once(|| {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        });
    }
}

/// A PostgreSQL server for tests that need one whichever backend the suite runs on (several
/// nodes over one database): `PG_TEST_DATABASE_URL`, or else one started (once per machine)
/// by `tests/pg/server.sh` under the system's temporary folder.
pub fn postgres_base_url() -> String {
    postgres_test_var("PG_TEST_DATABASE_URL")
}

/// One of the variables `tests/pg/server.sh` exports (README there): the environment's, or
/// else the one of the server [`postgres_base_url`] starts.
pub fn postgres_test_var(name: &str) -> String {
    if let Ok(v) = std::env::var(name) {
        return v;
    }
    static STARTED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let exports = STARTED.get_or_init(|| {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pg/server.sh");
        let dir = std::env::temp_dir().join("consentry-it-postgres");
        let out = std::process::Command::new(script)
            .arg("start")
            .arg(&dir)
            .output()
            .expect("run tests/pg/server.sh");
        assert!(
            out.status.success(),
            "tests/pg/server.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    });
    let prefix = format!("export {name}=");
    exports
        .lines()
        .find_map(|l| {
            Some(
                l.strip_prefix(&prefix)?
                    .trim_matches(['\'', '"'])
                    .to_string(),
            )
        })
        .unwrap_or_else(|| panic!("tests/pg/server.sh prints no {name}"))
}

/// A new, empty schema of [`postgres_base_url`]'s database, as a URL.
pub async fn new_postgres_schema() -> String {
    let base = postgres_base_url();
    let s = format!("t_{}", uuid::Uuid::new_v4().simple());
    create_schema(&base, &s);
    with_search_path(&base, &s)
}

/// Where a server with data dir `dir` keeps its data, for opening its store directly.
pub fn store_location(dir: &std::path::Path) -> consentry::store::Location {
    match postgres_schema_for(dir) {
        Some(url) => consentry::store::Location::Postgres(url),
        None => consentry::store::Location::Sqlite(dir.join("consentry.sqlite")),
    }
}
