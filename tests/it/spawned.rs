//! The real `consentry` binary in a child process, for tests of how it meets its environment
//! (signals, a broken stderr, a full disk, file-descriptor limits), and plain HTTP/1.1 over a
//! blocking socket to talk to it without a client library's own timeouts and retries.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The demo client's credentials (the binary creates it on a zero-config start).
pub const DEMO_BASIC: &str = "ZGVtby1jbGllbnQ6ZGVtby1jbGllbnQtc2VjcmV0LTAxMjM0NTY3ODlhYmNkZWZnaGlq";

/// How a test wants the binary started.
#[derive(Default)]
pub struct Options {
    /// `CONSENTRY_*` variables, e.g. `("CONSENTRY_SERVER__IDLE_TIMEOUT_SECS", "1")`.
    pub env: Vec<(&'static str, String)>,
    /// Serve TLS rather than plain HTTP.
    pub tls: bool,
    /// Standard output and error on /dev/full rather than the log file.
    pub dev_full: bool,
    /// The data dir (a fresh temporary one if unset).
    pub data_dir: Option<PathBuf>,
    /// `ulimit -n` for the process.
    pub max_files: Option<u32>,
    /// The issuer (its own address if unset), e.g. another node's for a cluster.
    pub issuer: Option<String>,
    /// More `serve` flags, e.g. `--plugins DIR`.
    pub args: Vec<String>,
    /// The working directory (the test's, the repository, if unset).
    pub cwd: Option<PathBuf>,
}

pub struct Server {
    pub child: Child,
    pub port: u16,
    /// Standard error (the log) and output, unless on /dev/full.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts the binary and waits until it answers discovery.
    pub fn start(o: Options) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = o
            .data_dir
            .clone()
            .unwrap_or_else(|| dir.path().join("data"));
        let port = free_port();
        let log = dir.path().join("consentry.log");
        let scheme = if o.tls { "https" } else { "http" };
        let binary = env!("CARGO_BIN_EXE_consentry");
        let mut args: Vec<String> = vec![
            "serve".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--issuer".into(),
            o.issuer
                .clone()
                .unwrap_or_else(|| format!("{scheme}://127.0.0.1:{port}/oidc")),
        ];
        if !o.tls {
            args.push("--http".into());
        }
        args.extend(o.args.iter().cloned());
        let mut cmd = match o.max_files {
            // exec: the child's pid is the server's.
            Some(n) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(binary)
                    .args(&args);
                c
            }
            None => {
                let mut c = Command::new(binary);
                c.args(&args);
                c
            }
        };
        if let Some(cwd) = &o.cwd {
            cmd.current_dir(cwd);
        }
        cmd.env("CONSENTRY_PLUGINS__RELOAD_INTERVAL_MS", "0")
            .stdin(Stdio::null());
        // The suite's PostgreSQL run: the data dir's schema, as the in-process servers use.
        if let Some(url) = crate::harness::postgres_schema_for(&data_dir) {
            cmd.env("CONSENTRY_DATABASE_URL", url);
        }
        for (k, v) in &o.env {
            cmd.env(k, v);
        }
        if o.dev_full {
            cmd.stdout(std::fs::File::create("/dev/full").unwrap())
                .stderr(std::fs::File::create("/dev/full").unwrap());
        } else {
            let file = std::fs::File::create(&log).unwrap();
            cmd.stdout(file.try_clone().unwrap()).stderr(file);
        }
        let child = cmd.spawn().expect("start consentry");
        let mut server = Server {
            child,
            port,
            log,
            _dir: dir,
        };
        server.wait_until_serving(o.tls.then(|| data_dir.join("keys").join("ca.pem")));
        server
    }

    /// `ca`: over TLS, the CA the server writes into its data dir. A bare TCP connect
    /// is not enough: the port came free from the kernel and another test's server may
    /// hold it, so only a handshake this server's own CA vouches for proves it is up.
    fn wait_until_serving(&mut self, ca: Option<PathBuf>) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("consentry exited at start ({status}): {}", self.log_text());
            }
            let up = if let Some(ca) = &ca {
                tls_handshake_trusting(self.port, ca)
            } else {
                get(self.port, "/oidc/.well-known/openid-configuration").is_ok_and(|r| r.0 == 200)
            };
            if up {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "consentry did not start: {}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (e.g. `TERM`) with the system's `kill`.
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args(["-s", signal, &self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -s {signal}");
    }

    /// Waits for the process to exit, failing the test after `within`.
    pub fn exit_status(&mut self, within: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(started.elapsed() < within, "still running after {within:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CPU time the process has used so far (user + system).
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // Fields after the command name, which ends with ')': utime and stime are 14 and 15.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw HTTP/1.1 exchange on a new connection: `request` is sent as is, and the answer is
/// read to the end (the request should say `Connection: close`). Returns status and body.
pub fn exchange(port: u16, request: &[u8]) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.write_all(request)?;
    read_answer(&mut s)
}

/// Reads an HTTP/1.1 answer until the server closes the connection.
pub fn read_answer(s: &mut TcpStream) -> std::io::Result<(u16, String)> {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Whether a TLS handshake with 127.0.0.1:`port` succeeds trusting only the CA in `ca`.
fn tls_handshake_trusting(port: u16, ca: &std::path::Path) -> bool {
    use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
    let Ok(pem) = std::fs::read(ca) else {
        return false;
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem).flatten() {
        if roots.add(cert).is_err() {
            return false;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let Ok(config) = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth())
    else {
        return false;
    };
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let Ok(mut conn) = rustls::ClientConnection::new(std::sync::Arc::new(config), name) else {
        return false;
    };
    let Ok(mut sock) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
    while conn.is_handshaking() {
        if conn.complete_io(&mut sock).is_err() {
            return false;
        }
    }
    true
}

pub fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    exchange(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// A client-credentials token request for the demo client, split where a test may pause.
pub fn token_request() -> (Vec<u8>, Vec<u8>) {
    let body = "grant_type=client_credentials";
    let head = format!(
        "POST /oidc/token HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Authorization: Basic {DEMO_BASIC}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.split_at(10);
    (
        [head.as_bytes(), first.as_bytes()].concat(),
        rest.as_bytes().to_vec(),
    )
}

/// Starts the demo client's token request on a new connection and returns once the server's
/// handler is reading its body (it asked for it with `100 Continue`), leaving the request in
/// flight until the returned rest of the body is sent.
pub fn token_request_in_flight(port: u16) -> (TcpStream, Vec<u8>) {
    let (head, rest) = token_request();
    let head = String::from_utf8(head).unwrap();
    let (headers, first) = head.split_once("\r\n\r\n").unwrap();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(format!("{headers}\r\nExpect: 100-continue\r\n\r\n").as_bytes())
        .unwrap();
    let mut interim = Vec::new();
    let mut byte = [0u8; 1];
    while !interim.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("a 100 Continue answer");
        interim.push(byte[0]);
    }
    let interim = String::from_utf8_lossy(&interim);
    assert!(interim.starts_with("HTTP/1.1 100"), "{interim}");
    s.write_all(first.as_bytes()).unwrap();
    (s, rest)
}
