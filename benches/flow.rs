//! Load client for the whole authorization-code flow: authorize → login → consent → token →
//! userinfo, each flow a new browser (its own cookies) on shared keep-alive connections.
//! Reports flows/s, flow latency, the server's CPU per flow, and the argon2id verification
//! cost measured alone, so the share of the flow spent beyond the password hash is visible.
//!
//! `benches/flow.sh` starts a server and runs this; by hand:
//!   cargo bench --bench flow -- --base http://127.0.0.1:18081/oidc --server-pid PID

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Options {
    base: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    username: String,
    password: String,
    concurrency: usize,
    duration: Duration,
    warmup: Duration,
    server_pid: Option<u32>,
    ca: Option<String>,
}

fn options() -> Options {
    let mut o = Options {
        base: "http://127.0.0.1:18081/oidc".into(),
        client_id: "demo-client".into(),
        client_secret: "demo-client-secret-0123456789abcdefghij".into(),
        redirect_uri: "http://localhost:3000/callback".into(),
        username: "demo".into(),
        password: "demo-password".into(),
        concurrency: 4,
        duration: Duration::from_secs(20),
        warmup: Duration::from_secs(3),
        server_pid: None,
        ca: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        // `cargo bench` passes `--bench` to every bench target.
        if flag == "--bench" {
            continue;
        }
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let secs = || Duration::from_secs(value.parse().expect("seconds"));
        match flag.as_str() {
            "--base" => o.base = value.trim_end_matches('/').into(),
            "--client-id" => o.client_id = value.clone(),
            "--client-secret" => o.client_secret = value.clone(),
            "--redirect-uri" => o.redirect_uri = value.clone(),
            "--username" => o.username = value.clone(),
            "--password" => o.password = value.clone(),
            "--concurrency" => o.concurrency = value.parse().expect("a number"),
            "--duration" => o.duration = secs(),
            "--warmup" => o.warmup = secs(),
            "--server-pid" => o.server_pid = Some(value.parse().expect("a pid")),
            "--ca" => o.ca = Some(value.clone()),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

struct Endpoints {
    authorize: String,
    token: String,
    userinfo: String,
}

/// One browser's cookies: name → value, as the server set them.
#[derive(Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn take(&mut self, headers: &HeaderMap) {
        for h in headers.get_all(SET_COOKIE) {
            let Some((name, value)) = h
                .to_str()
                .ok()
                .and_then(|c| c.split(';').next())
                .and_then(|c| c.split_once('='))
            else {
                continue;
            };
            self.0.retain(|(n, _)| n != name);
            self.0.push((name.trim().into(), value.trim().into()));
        }
    }

    fn header(&self) -> String {
        let pairs: Vec<String> = self.0.iter().map(|(n, v)| format!("{n}={v}")).collect();
        pairs.join("; ")
    }
}

fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].replace("&amp;", "&"))
}

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf).expect("random");
    URL_SAFE_NO_PAD.encode(buf)
}

struct Flow<'a> {
    http: &'a reqwest::Client,
    o: &'a Options,
    e: &'a Endpoints,
    origin: url::Url,
    jar: Jar,
}

type Step<T> = Result<T, String>;

impl Flow<'_> {
    fn absolute(&self, location: &str) -> Step<String> {
        self.origin
            .join(location)
            .map(String::from)
            .map_err(|e| format!("bad Location {location}: {e}"))
    }

    /// Sends a browser request; returns (status, Location, body).
    async fn send(&mut self, req: reqwest::RequestBuilder) -> Step<(u16, String, String)> {
        let res = req
            .header("cookie", self.jar.header())
            .send()
            .await
            .map_err(|e| format!("socket: {e}"))?;
        self.jar.take(res.headers());
        let status = res.status().as_u16();
        let location = res
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = res.text().await.map_err(|e| format!("body: {e}"))?;
        Ok((status, location, body))
    }

    fn expect(what: &str, want: u16, (status, location, body): &(u16, String, String)) -> Step<()> {
        if *status == want {
            Ok(())
        } else {
            let body: String = body.chars().take(200).collect();
            Err(format!(
                "{what}: {status} (wanted {want}) {location} {body}"
            ))
        }
    }

    async fn run(mut self) -> Step<()> {
        let verifier = random_b64(32);
        let challenge = URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            verifier.as_bytes(),
        ));
        let state = random_b64(12);
        let query = [
            ("client_id", self.o.client_id.as_str()),
            ("redirect_uri", &self.o.redirect_uri),
            ("response_type", "code"),
            ("scope", "openid profile email"),
            ("state", &state),
            ("nonce", &random_b64(12)),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
            // Every flow shows the consent page, as a first-time user would see it.
            ("prompt", "consent"),
        ];
        let r = self
            .send(self.http.get(&self.e.authorize).query(&query))
            .await?;
        Self::expect("authorize", 303, &r)?;
        let interaction = self.absolute(&r.1)?;

        let r = self.send(self.http.get(&interaction)).await?;
        Self::expect("login page", 200, &r)?;
        let csrf = hidden(&r.2, "csrf_token").ok_or("no csrf_token on the login page")?;
        let login = [
            ("csrf_token", csrf.as_str()),
            ("username", &self.o.username),
            ("password", &self.o.password),
        ];
        let r = self
            .send(self.http.post(format!("{interaction}/login")).form(&login))
            .await?;
        Self::expect("login", 303, &r)?;

        let r = self.send(self.http.get(&interaction)).await?;
        Self::expect("consent page", 200, &r)?;
        let csrf = hidden(&r.2, "csrf_token").ok_or("no csrf_token on the consent page")?;
        let consent = [("csrf_token", csrf.as_str()), ("decision", "approve")];
        let r = self
            .send(
                self.http
                    .post(format!("{interaction}/consent"))
                    .form(&consent),
            )
            .await?;
        Self::expect("consent", 303, &r)?;
        let callback = url::Url::parse(&r.1).map_err(|e| format!("callback {}: {e}", r.1))?;
        let param = |k: &str| {
            callback
                .query_pairs()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.into_owned())
        };
        if param("state").as_deref() != Some(state.as_str()) {
            return Err(format!("callback without our state: {callback}"));
        }
        let code = param("code").ok_or_else(|| format!("callback without a code: {callback}"))?;

        let form = [
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &self.o.redirect_uri),
            ("code_verifier", &verifier),
        ];
        let res = self
            .http
            .post(&self.e.token)
            .basic_auth(&self.o.client_id, Some(&self.o.client_secret))
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("socket: {e}"))?;
        let status = res.status().as_u16();
        let tokens: serde_json::Value = res.json().await.map_err(|e| format!("token: {e}"))?;
        let (Some(access), true) = (
            tokens["access_token"].as_str(),
            tokens["id_token"].is_string(),
        ) else {
            return Err(format!("token: {status} {tokens}"));
        };

        let res = self
            .http
            .get(&self.e.userinfo)
            .bearer_auth(access)
            .send()
            .await
            .map_err(|e| format!("socket: {e}"))?;
        let status = res.status().as_u16();
        let me: serde_json::Value = res.json().await.map_err(|e| format!("userinfo: {e}"))?;
        if status != 200 || me["sub"].as_str().is_none() {
            return Err(format!("userinfo: {status} {me}"));
        }
        Ok(())
    }
}

async fn endpoints(http: &reqwest::Client, base: &str) -> Endpoints {
    let d: serde_json::Value = http
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .expect("discovery")
        .json()
        .await
        .expect("discovery JSON");
    let get = |k: &str| {
        d[k].as_str()
            .unwrap_or_else(|| panic!("no {k}"))
            .to_string()
    };
    Endpoints {
        authorize: get("authorization_endpoint"),
        token: get("token_endpoint"),
        userinfo: get("userinfo_endpoint"),
    }
}

#[derive(Default)]
struct Tally {
    flows: AtomicU64,
    failures: AtomicU64,
}

/// Runs flows on `concurrency` tasks until `until`; returns each completed flow's latency.
async fn drive(
    o: &Arc<Options>,
    http: &reqwest::Client,
    e: &Arc<Endpoints>,
    until: Instant,
    tally: &Arc<Tally>,
) -> Vec<Duration> {
    let origin = url::Url::parse(&o.base).expect("--base is a URL");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..o.concurrency {
        let (o, http, e, tally, origin) = (
            o.clone(),
            http.clone(),
            e.clone(),
            tally.clone(),
            origin.clone(),
        );
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let started = Instant::now();
                let flow = Flow {
                    http: &http,
                    o: &o,
                    e: &e,
                    origin: origin.clone(),
                    jar: Jar::default(),
                };
                match flow.run().await {
                    Ok(()) => {
                        latencies.push(started.elapsed());
                        tally.flows.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(why) => {
                        if tally.failures.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("flow failed: {why}");
                        }
                    }
                }
            }
            latencies
        });
    }
    let mut all = Vec::new();
    while let Some(done) = tasks.join_next().await {
        all.extend(done.expect("flow task"));
    }
    all
}

/// User + system CPU seconds so far, from a `/proc/.../stat` line.
fn stat_cpu_secs(stat: &str) -> Option<f64> {
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // CLK_TCK is 100 on Linux.
    Some(ticks / 100.0)
}

/// The server's CPU seconds so far: all of it, and per thread group (the thread's name without
/// its number: `password`, `serve`, `sqlite-writer`, `sqlite-checkpt`, ...).
fn cpu_secs(pid: u32) -> Option<(f64, BTreeMap<String, f64>)> {
    let all = stat_cpu_secs(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    let mut groups = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let group = comm.trim().trim_end_matches(|c: char| c.is_ascii_digit());
        let group = group.strip_suffix('-').unwrap_or(group).to_string();
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        *groups.entry(group).or_insert(0.0) += stat_cpu_secs(&stat).unwrap_or(0.0);
    }
    Some((all, groups))
}

fn peak_rss_mib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// The server's own verification (its parameters, its reused memory), timed alone on one
/// thread per core at once, as the server runs it under load (argon2id is bound by memory
/// bandwidth, which the cores share). Returns the median seconds per verification.
fn argon2id_verify_secs(threads: usize) -> f64 {
    use consentry::protocol::login::{hash_password, verify_password_in};
    let stored = Arc::new(hash_password("demo-password").expect("hash"));
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let stored = stored.clone();
            std::thread::spawn(move || {
                let mut memory = Vec::new();
                assert!(verify_password_in(
                    &mut memory,
                    "demo-password",
                    Some(&stored)
                ));
                (0..30)
                    .map(|_| {
                        let t = Instant::now();
                        assert!(verify_password_in(
                            &mut memory,
                            "demo-password",
                            Some(&stored)
                        ));
                        t.elapsed().as_secs_f64()
                    })
                    .collect::<Vec<f64>>()
            })
        })
        .collect();
    let mut times: Vec<f64> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("argon2 thread"))
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let o = Arc::new(options());
    let mut builder = reqwest::Client::builder()
        .redirect(Policy::none())
        .pool_max_idle_per_host(o.concurrency * 2);
    if let Some(ca) = &o.ca {
        let pem = std::fs::read(ca).expect("--ca file");
        builder = builder
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("CA PEM"));
    }
    let http = builder.build().expect("HTTP client");
    let e = Arc::new(endpoints(&http, &o.base).await);

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let argon = argon2id_verify_secs(cores);

    let warm = Arc::new(Tally::default());
    drive(&o, &http, &e, Instant::now() + o.warmup, &warm).await;

    let tally = Arc::new(Tally::default());
    let cpu0 = o.server_pid.and_then(cpu_secs);
    let started = Instant::now();
    let mut latencies = drive(&o, &http, &e, started + o.duration, &tally).await;
    let wall = started.elapsed().as_secs_f64();
    let cpu1 = o.server_pid.and_then(cpu_secs);
    latencies.sort();

    let flows = tally.flows.load(Ordering::Relaxed);
    let failures = tally.failures.load(Ordering::Relaxed) + warm.failures.load(Ordering::Relaxed);
    let rate = flows as f64 / wall;
    println!("authorization-code flows (authorize → login → consent → token → userinfo)");
    println!(
        "  concurrency {}, {wall:.1} s measured after {} s warm-up",
        o.concurrency,
        o.warmup.as_secs()
    );
    println!("  flows/s: {rate:.1}   completed: {flows}   failed: {failures}");
    println!(
        "  flow latency ms: p50 {:.1}  p99 {:.1}  max {:.1}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    println!(
        "  argon2id verify alone, {cores} at once: {:.2} ms each → at most {:.0} verifies/s",
        argon * 1000.0,
        cores as f64 / argon
    );
    if let (Some((all0, groups0)), Some((all1, groups1)), Some(pid)) = (cpu0, cpu1, o.server_pid) {
        let per_flow_ms = |secs: f64| secs / flows.max(1) as f64 * 1000.0;
        let spent = |group: &str| {
            groups1.get(group).copied().unwrap_or(0.0) - groups0.get(group).copied().unwrap_or(0.0)
        };
        let per_flow = (all1 - all0) / flows.max(1) as f64;
        let hashing = spent("password") / flows.max(1) as f64;
        println!(
            "  server CPU: {:.2} cores, {:.2} ms per flow, of which argon2id {:.2} ms; everything else {:.2} ms ({:.1} %)",
            (all1 - all0) / wall,
            per_flow * 1000.0,
            hashing * 1000.0,
            (per_flow - hashing) * 1000.0,
            (per_flow - hashing) / per_flow * 100.0
        );
        let others: Vec<String> = groups1
            .keys()
            .filter(|g| g.as_str() != "password" && spent(g) > 0.0)
            .map(|g| format!("{g} {:.2}", per_flow_ms(spent(g))))
            .collect();
        println!(
            "  everything else by thread, ms per flow: {}",
            others.join(", ")
        );
        if let Some(rss) = peak_rss_mib(pid) {
            println!("  server peak RSS: {rss} MiB");
        }
    }
    if failures > 0 {
        std::process::exit(1);
    }
}
