//! The runner's configuration: the provider under test, the user to log in as, and the
//! clients provisioned for it (the suite's `server`, `client`, `client2`... configuration).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `server.discoveryUrl`.
    pub discovery_url: String,
    /// PEM of the CA to trust for the provider's TLS (none: the system's roots are not used
    /// either, so this is required for a private CA).
    pub ca_file: Option<PathBuf>,
    pub user: User,
    /// Clients by role: `client_secret_basic`, `client_secret_post`, ...
    pub clients: BTreeMap<String, Client>,
    /// Where the runner serves its own documents (request objects by reference), e.g.
    /// `127.0.0.1:8080`; the clients' `request_uris` point there.
    #[serde(default)]
    pub rp_listen: Option<String>,
    /// The clients' RSA signing key (PKCS#8 DER) and its `kid` in their registered `jwks`.
    #[serde(default)]
    pub rp_rsa_key_file: Option<PathBuf>,
    #[serde(default)]
    pub rp_kid: Option<String>,
    /// Initial access token for the provider's `registration_endpoint` (RFC 7591 §3).
    #[serde(default)]
    pub registration_token: Option<String>,
    /// The command (argv) that rotates the provider's signing keys, for the modules that ask
    /// the operator to rotate them (e.g. `consentry keys rotate --data-dir D`).
    #[serde(default)]
    pub rotate_keys_command: Option<Vec<String>>,
    /// `resource.resourceUrl`: the protected resource the plain OAuth variants call (they
    /// have no UserInfo); the openid variants call UserInfo.
    #[serde(default)]
    pub resource_url: Option<String>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: String,
    pub password: String,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub client_id: String,
    pub client_secret: Option<String>,
    /// The first registered redirect URI; the runner never follows it, it reads the response
    /// from it as the suite's callback endpoint does.
    pub redirect_uri: String,
    /// A second registered redirect URI, where a module needs one.
    #[serde(default)]
    pub redirect_uri2: Option<String>,
    /// The client's registered `post_logout_redirect_uris` entry (OpenID RP-Initiated Logout
    /// 1.0 §3.1; the suite's `base_url + "/post_logout_redirect"`).
    #[serde(default)]
    pub post_logout_redirect_uri: Option<String>,
    /// Its `backchannel_logout_uri` (Back-Channel Logout 1.0 §2.2), on the runner's server.
    #[serde(default)]
    pub backchannel_logout_uri: Option<String>,
    /// Its `frontchannel_logout_uri` (Front-Channel Logout 1.0 §2), on the runner's server.
    #[serde(default)]
    pub frontchannel_logout_uri: Option<String>,
    /// One of the client's registered `request_uris`, served by the runner.
    #[serde(default)]
    pub request_uri: Option<String>,
    /// The client's private signing key (client assertions, request objects); its public JWK
    /// is in the client's registered `jwks`.
    #[serde(default)]
    pub signing_key: Option<SigningKeyConfig>,
    /// The client's TLS certificate, presented on every back-channel request of the client
    /// (RFC 8705 client authentication and certificate-bound tokens).
    #[serde(default)]
    pub tls: Option<ClientTlsConfig>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyConfig {
    /// PKCS#8 DER.
    pub file: PathBuf,
    pub kid: String,
    /// `RS256`, `PS256` or `ES256`.
    pub alg: String,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsConfig {
    /// PEM certificate (chain).
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8).
    pub key_file: PathBuf,
}

/// The certificate and key the runner's server presents to TLS clients (it answers both https
/// and plain http on `rp_listen`); their CA is the provider's `outbound.ca_file`
/// (`--rp-tls-cert`, `--rp-tls-key`, `--rp-tls-ca`).
#[derive(Clone, Debug)]
pub struct RpTlsConfig {
    /// PEM certificate (chain).
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8).
    pub key_file: PathBuf,
    /// PEM of the CA that issued it, which the runner's browser trusts too (it loads the
    /// front-channel logout URIs).
    pub ca_file: PathBuf,
}

impl Config {
    pub fn from_file(path: &std::path::Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn client(&self, role: &str) -> Result<&Client, String> {
        self.clients
            .get(role)
            .ok_or_else(|| format!("no client configured for role '{role}'"))
    }
}
