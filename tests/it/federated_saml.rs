//! Federated login with a SAML 2.0 identity provider: a real IdP (samlify, `tests/interop/
//! saml_idp.mjs`) on loopback signs assertions with its own RSA key; the provider trusts its
//! metadata and nothing else. Negative cases each name the SAML rule they check.

use crate::harness::*;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// The IdP's process, ended when the test is done with it.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running test IdP: its base URL, and the process (killed when dropped).
struct Idp {
    base: String,
    /// The certificate of the IdP's second key pair (PEM), which we hold no key of.
    other_cert: String,
    metadata_file: PathBuf,
    /// Trusts the IdP's certificate when it serves HTTPS.
    http: reqwest::Client,
    /// The CA of its HTTPS certificate (PEM file), when it serves HTTPS.
    ca_file: Option<PathBuf>,
    _process: Running,
    _dir: tempfile::TempDir,
}

/// How the test IdP runs: over HTTPS (a certificate of a CA of its own), and taking
/// AuthnRequests by HTTP-POST only.
#[derive(Default)]
struct IdpOptions {
    https: bool,
    post_binding: bool,
    /// WantAuthnRequestsSigned="true": unsigned or badly signed AuthnRequests are refused.
    want_signed: bool,
    /// Assertions encrypted to the registered SP metadata's encryption certificate.
    encrypt: bool,
}

/// An RSA key (XML-DSig's rsa-sha256) and a self-signed certificate for it, as PEM files.
fn key_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let rsa = josekit::jwk::alg::rsa::RsaKeyPair::generate(2048).expect("rsa key");
    let key_pem = String::from_utf8(rsa.to_pem_private_key()).expect("pem");
    let key = rcgen::KeyPair::from_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
        .expect("rcgen key");
    let cert = rcgen::CertificateParams::new(vec![format!("{name}.idp.test")])
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    let (k, c) = (
        dir.join(format!("{name}.key")),
        dir.join(format!("{name}.crt")),
    );
    std::fs::write(&k, key_pem).unwrap();
    std::fs::write(&c, cert.pem()).unwrap();
    (k, c)
}

impl Idp {
    async fn start() -> Idp {
        Idp::start_with(IdpOptions::default()).await
    }

    async fn start_with(options: IdpOptions) -> Idp {
        let dir = tempfile::tempdir().unwrap();
        let (own_key, own_cert) = key_pair(dir.path(), "own");
        let (other_key, other_cert) = key_pair(dir.path(), "other");
        let interop = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
        assert!(
            interop.join("node_modules/samlify").exists(),
            "run `npm ci --prefix tests/interop` first (the README's test command does)"
        );
        let mut command = std::process::Command::new("node");
        command
            .arg("saml_idp.mjs")
            .current_dir(&interop)
            .env("IDP_KEY", own_key)
            .env("IDP_CERT", own_cert)
            .env("OTHER_KEY", other_key)
            .env("OTHER_CERT", other_cert)
            .stdout(std::process::Stdio::piped());
        let mut http = reqwest::Client::builder();
        let mut ca_file = None;
        if options.https {
            let tls = dir.path().join("tls");
            let pki = consentry::tls::ensure_dev_pki(&tls, &[]).expect("a CA for the IdP");
            command
                .env("TLS_KEY", tls.join("server.key"))
                .env("TLS_CERT", tls.join("server.pem"));
            let ca = std::fs::read(&pki.ca_path).unwrap();
            http = http.add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap());
            ca_file = Some(pki.ca_path);
        }
        if options.post_binding {
            command.env("SSO_BINDING", "post");
        }
        if options.want_signed {
            command.env("WANT_SIGNED", "1");
        }
        if options.encrypt {
            command.env("ENCRYPT", "1");
        }
        let http = http.build().unwrap();
        let mut child = command.spawn().expect("start the SAML IdP (node)");
        let stdout = child.stdout.take().unwrap();
        let process = Running(child);
        // samlify may warn first (no SingleLogoutService); the port comes on its own line.
        let port = tokio::task::spawn_blocking(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .find_map(|l| l.strip_prefix("listening ").map(String::from))
        })
        .await
        .unwrap()
        .expect("the IdP printed its port");
        let scheme = if options.https { "https" } else { "http" };
        let base = format!("{scheme}://127.0.0.1:{port}");
        let metadata = http
            .get(format!("{base}/metadata"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(metadata.contains("IDPSSODescriptor"), "{metadata}");
        let metadata_file = dir.path().join("idp-metadata.xml");
        std::fs::write(&metadata_file, metadata).unwrap();
        Idp {
            other_cert: std::fs::read_to_string(dir.path().join("other.crt")).unwrap(),
            base,
            metadata_file,
            http,
            ca_file,
            _process: process,
            _dir: dir,
        }
    }

    /// How many times the IdP served its metadata.
    async fn metadata_fetches(&self) -> u64 {
        let url = format!("{}/metadata-fetches", self.base);
        let text = self.http.get(url).send().await.unwrap().text().await;
        text.unwrap().parse().unwrap()
    }

    /// The IdP rolls its signing key: it signs with the other pair and publishes its
    /// certificate instead.
    async fn rotate(&self) {
        let url = format!("{}/rotate", self.base);
        let res = self.http.post(url).send().await.unwrap();
        assert_eq!(res.status(), 204);
    }

    /// The IdP's answer to the AuthnRequest at `sso` (HTTP-Redirect binding), as `idp_answer`.
    async fn answer(
        &self,
        sso: &str,
        user: &str,
        variant: &str,
    ) -> (String, Vec<(String, String)>) {
        let url = format!("{sso}&user={user}&variant={variant}");
        let res = self.http.get(url).send().await.unwrap();
        let status = res.status();
        let page = res.text().await.unwrap();
        assert_eq!(status, 200, "IdP: {page}");
        form_of(&page)
    }

    /// Registers our SP metadata at the IdP, as its operator would.
    async fn register(&self, sp_metadata: String) {
        let res = self
            .http
            .post(format!("{}/sp", self.base))
            .body(sp_metadata)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
}

/// A provider trusting `idp` as SAML provider `corp` (first login creates the user), its SP
/// metadata registered at the IdP.
async fn server_with(idp: &Idp) -> TestServer {
    server_with_provider(idp, corp_provider(idp)).await
}

/// A provider trusting `idp` as `provider` says, its SP metadata registered at the IdP.
async fn server_with_provider(
    idp: &Idp,
    provider: consentry::config::federation::ProviderConfig,
) -> TestServer {
    let s = TestServer::start_with(move |c| c.federation.providers.push(provider)).await;
    let (status, metadata) = get_text(&s, &s.url("/saml/metadata")).await;
    assert_eq!(status, 200, "{metadata}");
    idp.register(metadata).await;
    s
}

/// `idp` as SAML provider `corp` (first login creates the user), by its metadata file.
fn corp_provider(idp: &Idp) -> consentry::config::federation::ProviderConfig {
    toml::from_str(&format!(
        r#"
        id = "corp"
        name = "Corp SSO"
        kind = "saml"
        link = "create"
        idp_metadata_file = "{}"
        "#,
        idp.metadata_file.display()
    ))
    .expect("provider config")
}

async fn get_text(s: &TestServer, url: &str) -> (u16, String) {
    let res = s.browser().get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// An auto-submitting form's action and hidden fields.
fn form_of(page: &str) -> (String, Vec<(String, String)>) {
    let action = page
        .split("action=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("form action")
        .replace("&amp;", "&");
    let fields = ["SAMLResponse", "RelayState"]
        .iter()
        .filter_map(|n| hidden(page, n).map(|v| (n.to_string(), v.replace("&amp;", "&"))))
        .collect();
    (action, fields)
}

/// Up to the IdP: authorize, click "Corp SSO" on the login page; returns the journey, its
/// interaction and the IdP's SSO URL (HTTP-Redirect binding) carrying the AuthnRequest.
async fn to_idp<'a>(s: &'a TestServer, client: &TestClient) -> (Journey<'a>, String, String) {
    to_idp_by(Journey::new(s), client).await
}

/// [`to_idp`] by the browser of `j`.
async fn to_idp_by<'a>(j: Journey<'a>, client: &TestClient) -> (Journey<'a>, String, String) {
    let (_, challenge) = pkce();
    let (status, interaction, body) = j.authorize(&auth_params(client, &challenge, &[])).await;
    assert_eq!(status, 303, "{body}");
    let (status, _, page) = j.get(&interaction).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Corp SSO"),
        "the login page offers the IdP: {page}"
    );
    let sso = start_federated(&j, &interaction, &page, "corp").await;
    (j, interaction, sso)
}

/// Clicks "Sign in with {provider}" on the login page (its form carries the CSRF token);
/// returns where the browser is sent: the IdP's SSO URL with the AuthnRequest.
async fn start_federated(j: &Journey<'_>, interaction: &str, page: &str, provider: &str) -> String {
    let csrf = hidden(page, "csrf_token").expect("csrf token on the login page");
    let (status, to, body) = j
        .post(
            &format!("{interaction}/federated/{provider}"),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(status, 303, "federated sign-in start: {body}");
    to
}

/// The IdP's answer to the AuthnRequest at `sso`, for `user`, broken as `variant` says: the
/// ACS URL and the form the browser would post there.
async fn idp_answer(sso: &str, user: &str, variant: &str) -> (String, Vec<(String, String)>) {
    let url = format!("{sso}&user={user}&variant={variant}");
    let res = reqwest::get(url).await.unwrap();
    let status = res.status();
    let page = res.text().await.unwrap();
    assert_eq!(status, 200, "IdP: {page}");
    form_of(&page)
}

/// Posts the IdP's form to our ACS as the browser would: (status, Location, body).
async fn post_acs(
    j: &Journey<'_>,
    action: &str,
    fields: &[(String, String)],
) -> (u16, String, String) {
    let res = j.browser.post(action).form(fields).send().await.unwrap();
    let (status, loc) = (res.status().as_u16(), location(&res));
    (status, loc, res.text().await.unwrap())
}

/// Our ACS refuses what the IdP answered (`variant`): an error page (400) naming the rule,
/// and no session opened, no identity linked.
async fn assert_refused(variant: &str, rule: &str) {
    let idp = Idp::start().await;
    let s = server_with(&idp).await;
    let client = s.client(json!({})).await;
    let (j, _, sso) = to_idp(&s, &client).await;
    let (action, fields) = idp_answer(&sso, "alice", variant).await;
    let (status, _, body) = post_acs(&j, &action, &fields).await;
    assert_refused_page(&s, status, &body, rule).await;
}

async fn assert_refused_page(s: &TestServer, status: u16, body: &str, rule: &str) {
    assert_eq!(status, 400, "refused ({rule}): {body}");
    assert!(
        body.contains(rule),
        "the error names the rule '{rule}': {body}"
    );
    assert_eq!(
        s.sql_count("SELECT COUNT(*) FROM sessions").await,
        0,
        "no session opened"
    );
    let linked = s
        .sql_count("SELECT COUNT(*) FROM federated_identities")
        .await;
    assert_eq!(linked, 0, "no identity linked");
}

#[tokio::test]
async fn saml_sign_in_completes_an_authorization_for_the_linked_user() {
    let idp = Idp::start().await;
    let s = server_with(&idp).await;
    let client = s.client(json!({})).await;
    let j = Journey::new(&s);
    let (verifier, challenge) = pkce();
    let params = auth_params(&client, &challenge, &[]);
    let (status, interaction, _) = j.authorize(&params).await;
    assert_eq!(status, 303);
    let (_, _, page) = j.get(&interaction).await;
    let sso = start_federated(&j, &interaction, &page, "corp").await;
    assert!(
        sso.starts_with(&format!("{}/sso?SAMLRequest=", idp.base)),
        "{sso}"
    );
    let (action, fields) = idp_answer(&sso, "alice", "good").await;
    assert_eq!(action, s.url("/saml/acs"));
    let (status, back, body) = post_acs(&j, &action, &fields).await;
    assert_eq!(status, 303, "ACS: {body}");
    assert!(back.contains("/saml/continue?state="), "{back}");
    let (status, next, body) = j.get(&back).await;
    assert_eq!(status, 303, "continue: {body}");
    assert_eq!(next, interaction);
    let cb = j.decide(&interaction, "approve").await;
    let code = query(&cb)["code"].clone();
    let (status, tokens) = s.exchange_code(&client, &code, &verifier).await;
    assert_eq!(status, 200, "{tokens}");
    let claims = jwt_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["fed"]), "{claims}");
    // The NameID is linked to the user that signed in, created on this first login.
    let linked = s
        .sql_count(&format!(
            "SELECT COUNT(*) FROM federated_identities WHERE provider = 'corp' AND subject = 'saml-alice' AND user_id = '{}'",
            claims["sub"].as_str().unwrap()
        ))
        .await;
    assert_eq!(linked, 1, "the NameID is linked to the signed-in user");
}

#[tokio::test]
async fn saml_profiles_4_1_3_5_unsigned_assertion_refused() {
    assert_refused("unsigned", "SAML Profiles 4.1.3.5").await;
}

#[tokio::test]
async fn saml_core_5_assertion_signed_by_a_key_not_in_the_metadata_refused() {
    assert_refused("other_key", "SAML Profiles 4.1.3.5").await;
}

#[tokio::test]
async fn saml_core_2_5_1_4_wrong_audience_refused() {
    assert_refused("wrong_audience", "SAML Core 2.5.1.4").await;
}

#[tokio::test]
async fn saml_profiles_4_1_4_3_wrong_destination_and_recipient_refused() {
    assert_refused("wrong_recipient", "ACS URL").await;
}

#[tokio::test]
async fn saml_core_2_5_1_2_expired_assertion_not_on_or_after_refused() {
    assert_refused("expired", "NotOnOrAfter").await;
}

#[tokio::test]
async fn saml_profiles_4_1_4_3_in_response_to_of_another_request_refused() {
    assert_refused("wrong_in_response_to", "InResponseTo").await;
}

#[tokio::test]
async fn saml_core_3_2_2_2_status_other_than_success_refused() {
    assert_refused("failed_status", "SAML Core 3.2.2.2").await;
}

/// A signed assertion altered after signing (its NameID changed to another user's) fails its
/// signature: what is consumed must be exactly what was signed.
#[tokio::test]
async fn saml_core_5_assertion_altered_after_signing_refused() {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    let idp = Idp::start().await;
    let s = server_with(&idp).await;
    let client = s.client(json!({})).await;
    let (j, _, sso) = to_idp(&s, &client).await;
    let (action, mut fields) = idp_answer(&sso, "alice", "good").await;
    let xml = String::from_utf8(STANDARD.decode(&fields[0].1).unwrap()).unwrap();
    assert!(xml.contains(">saml-alice<"), "{xml}");
    fields[0].1 = STANDARD.encode(xml.replace(">saml-alice<", ">saml-bob<"));
    let (status, _, body) = post_acs(&j, &action, &fields).await;
    assert_refused_page(&s, status, &body, "SAML Profiles 4.1.3.5").await;
}

/// The same Response posted twice: the second is refused by the replay cache (assertion and
/// response IDs kept in the database until their NotOnOrAfter).
#[tokio::test]
async fn saml_profiles_4_1_4_5_replayed_response_refused() {
    let idp = Idp::start().await;
    let s = server_with(&idp).await;
    let client = s.client(json!({})).await;
    let (j, _, sso) = to_idp(&s, &client).await;
    let (action, fields) = idp_answer(&sso, "alice", "good").await;
    let (status, _, body) = post_acs(&j, &action, &fields).await;
    assert_eq!(status, 303, "first use: {body}");
    let (status, _, body) = post_acs(&j, &action, &fields).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("replayed (SAML Profiles 4.1.4.5)"), "{body}");
    let remembered = s
        .sql_count("SELECT COUNT(*) FROM seen_jtis WHERE scope = 'saml:corp'")
        .await;
    assert!(remembered >= 1, "the assertion ID is in the replay cache");
}

/// A Response with no RelayState answers no request of ours (IdP-initiated SSO is not
/// accepted): refused before any sign-in.
#[tokio::test]
async fn saml_profiles_4_1_4_3_unsolicited_response_refused() {
    let idp = Idp::start().await;
    let s = server_with(&idp).await;
    let client = s.client(json!({})).await;
    let (j, _, sso) = to_idp(&s, &client).await;
    let (action, fields) = idp_answer(&sso, "alice", "good").await;
    let only_response: Vec<_> = fields
        .into_iter()
        .filter(|(k, _)| k == "SAMLResponse")
        .collect();
    let (status, _, body) = post_acs(&j, &action, &only_response).await;
    assert_refused_page(&s, status, &body, "unsolicited").await;
}

/// The browser's return must come from the browser that owns the interaction: another
/// browser holding the verified state signs nobody in.
#[tokio::test]
async fn saml_return_from_another_browser_signs_nobody_in() {
    let idp = Idp::start().await;
    let s = server_with(&idp).await;
    let client = s.client(json!({})).await;
    let (j, _, sso) = to_idp(&s, &client).await;
    let (_, (status, _, body)) = return_in_another_browser(&s, &j, &sso).await;
    assert_ne!(status, 303, "another browser is not signed in: {body}");
    assert_eq!(s.sql_count("SELECT COUNT(*) FROM sessions").await, 0);
}

/// The IdP's good answer for `sso` posted at our ACS by `j`'s browser, then the return it is
/// sent to taken by another browser: that return's URL, and what the other browser got.
async fn return_in_another_browser(
    s: &TestServer,
    j: &Journey<'_>,
    sso: &str,
) -> (String, (u16, String, String)) {
    let (action, fields) = idp_answer(sso, "alice", "good").await;
    let (status, back, body) = post_acs(j, &action, &fields).await;
    assert_eq!(status, 303, "{body}");
    let got = Journey::new(s).get(&back).await;
    (back, got)
}

/// At the dashboard (`/account`), the sign-in page's "Corp SSO" button: the journey goes to
/// the IdP and back to the dashboard signed in (the user made on this first login, `amr`
/// "fed"). The same Response posted again is refused by the replay cache, and the browser's
/// return again finds its sign-in used: the dashboard's sign-in page saying so, no session.
#[tokio::test]
async fn saml_profiles_4_1_4_5_sign_in_at_the_dashboard_and_a_replayed_response_refused() {
    let idp = Idp::start().await;
    let s = server_with(&idp).await;
    let j = Journey::new(&s);
    let (status, _, page) = j.get("/account").await;
    assert_eq!(status, 200);
    assert!(
        page.contains("action=\"/account/federated/corp\"") && page.contains("Corp SSO"),
        "the dashboard's sign-in page offers the IdP: {page}"
    );
    let sso = start_federated(&j, "/account", &page, "corp").await;
    assert!(
        sso.starts_with(&format!("{}/sso?SAMLRequest=", idp.base)),
        "{sso}"
    );
    let (action, fields) = idp_answer(&sso, "alice", "good").await;
    let (status, back, body) = post_acs(&j, &action, &fields).await;
    assert_eq!(status, 303, "ACS: {body}");
    let (status, next, body) = j.get(&back).await;
    assert_eq!((status, next.as_str()), (303, "/account"), "{body}");
    let (page, _) = crate::account::dashboard(&j).await;
    assert!(page.contains("Sign-in methods"), "{page}");
    assert!(page.contains("<h3>Corp SSO</h3>"), "{page}");
    let fed = "SELECT COUNT(*) FROM sessions WHERE amr = 'fed'";
    assert_eq!(s.sql_count(fed).await, 1);
    let linked = "SELECT COUNT(*) FROM federated_identities WHERE provider = 'corp' AND subject = 'saml-alice'";
    assert_eq!(s.sql_count(linked).await, 1, "the NameID is linked");

    let (status, _, body) = post_acs(&j, &action, &fields).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("replayed (SAML Profiles 4.1.4.5)"), "{body}");
    let (status, next, page) = j.get(&back).await;
    assert_eq!(
        (status, next.as_str()),
        (400, ""),
        "the return is single use: {page}"
    );
    assert!(page.contains("already used"), "{page}");
    assert!(
        page.contains("action=\"/account/login\""),
        "the sign-in page: {page}"
    );
    assert_eq!(s.sql_count("SELECT COUNT(*) FROM sessions").await, 1);
}

/// The dashboard's sign-in returns only to the browser that started it: another browser
/// holding the verified state gets the sign-in page again, and nobody is signed in.
#[tokio::test]
async fn saml_return_to_the_dashboard_from_another_browser_signs_nobody_in() {
    let idp = Idp::start().await;
    let s = server_with(&idp).await;
    let j = Journey::new(&s);
    let (_, _, page) = j.get("/account").await;
    let sso = start_federated(&j, "/account", &page, "corp").await;
    let (back, (status, next, page)) = return_in_another_browser(&s, &j, &sso).await;
    assert_eq!((status, next.as_str()), (400, ""), "{page}");
    assert!(page.contains("action=\"/account/login\""), "{page}");
    assert_eq!(s.sql_count("SELECT COUNT(*) FROM sessions").await, 0);
    let (status, next, _) = j.get(&back).await;
    assert_eq!(
        (status, next.as_str()),
        (303, "/account"),
        "its own browser can"
    );
}

/// Our SP metadata: entity id `{issuer}/saml/metadata`, the ACS by HTTP-POST, signed
/// assertions wanted; it parses as SAML metadata.
#[tokio::test]
async fn saml_sp_metadata_is_served_and_parses() {
    let idp = Idp::start().await;
    let s = server_with(&idp).await;
    let res = s
        .browser()
        .get(s.url("/saml/metadata"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let kind = res.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(kind, "application/samlmetadata+xml");
    let xml = res.text().await.unwrap();
    let sp = risaml::SpDescriptor::from_metadata_xml(
        &xml,
        risaml::MetadataTrustPolicy::UnsignedForCompatibility,
    )
    .expect("SP metadata parses");
    assert_eq!(sp.entity_id().as_str(), s.url("/saml/metadata"));
    assert!(
        xml.contains(&format!("Location=\"{}\"", s.url("/saml/acs"))),
        "{xml}"
    );
    assert!(
        xml.contains("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"),
        "{xml}"
    );
    assert!(xml.contains("WantAssertionsSigned=\"true\""), "{xml}");
}

/// A provider trusting `idp` by its metadata URL (HTTPS, its CA in `outbound.ca_file`).
async fn server_with_metadata_url(idp: &Idp) -> TestServer {
    let url = format!("{}/metadata", idp.base);
    let ca = idp.ca_file.clone().expect("an HTTPS IdP");
    let s = TestServer::start_with(move |c| {
        c.outbound.allow_private = true;
        c.outbound.ca_file = Some(ca);
        let provider: consentry::config::federation::ProviderConfig = toml::from_str(&format!(
            r#"
            id = "corp"
            name = "Corp SSO"
            kind = "saml"
            link = "create"
            idp_metadata_url = "{url}"
            "#
        ))
        .expect("provider config");
        c.federation.providers.push(provider);
    })
    .await;
    let (status, metadata) = get_text(&s, &s.url("/saml/metadata")).await;
    assert_eq!(status, 200, "{metadata}");
    idp.register(metadata).await;
    s
}

/// A sign-in up to our ACS, the IdP answering as `variant`: the ACS's status and page.
async fn sign_in(s: &TestServer, idp: &Idp, client: &TestClient, variant: &str) -> (u16, String) {
    let (j, _, sso) = to_idp(s, client).await;
    let (action, fields) = idp.answer(&sso, "alice", variant).await;
    let (status, _, body) = post_acs(&j, &action, &fields).await;
    (status, body)
}

#[tokio::test]
async fn saml_idp_metadata_url_is_fetched_over_https_cached_and_fetched_again_for_a_new_key() {
    let idp = Idp::start_with(IdpOptions {
        https: true,
        ..Default::default()
    })
    .await;
    let s = server_with_metadata_url(&idp).await;
    let client = s.client(json!({})).await;
    // Serving our SP metadata (it says whether we sign, which the IdP's metadata decides)
    // fetched the IdP's metadata once already; the first sign-in uses that copy.
    let before = idp.metadata_fetches().await - 1;
    let (status, body) = sign_in(&s, &idp, &client, "good").await;
    assert_eq!(
        status, 303,
        "signed in through metadata fetched over HTTPS: {body}"
    );
    assert_eq!(idp.metadata_fetches().await, before + 1);
    let (status, body) = sign_in(&s, &idp, &client, "good").await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(
        idp.metadata_fetches().await,
        before + 1,
        "the metadata is cached"
    );

    // A key the metadata does not name: refused after one fetch of the metadata (unchanged),
    // and a second such Response within the interval fetches nothing (bounded).
    let (status, body) = sign_in(&s, &idp, &client, "other_key").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("SAML Profiles 4.1.3.5"), "{body}");
    assert_eq!(idp.metadata_fetches().await, before + 2);
    let (status, _) = sign_in(&s, &idp, &client, "other_key").await;
    assert_eq!(status, 400);
    assert_eq!(
        idp.metadata_fetches().await,
        before + 2,
        "at most one forced fetch per outbound.jwks_refetch_interval_secs"
    );

    // The IdP rolls its key: past that interval, a Response signed with the new key makes
    // us fetch the metadata that names it, and is accepted.
    idp.rotate().await;
    s.provider.clock.advance(11);
    let (status, body) = sign_in(&s, &idp, &client, "good").await;
    assert_eq!(status, 303, "signed by the IdP's new key: {body}");
    assert_eq!(idp.metadata_fetches().await, before + 3);

    // And the metadata is fetched again once its refresh interval is over.
    s.provider
        .clock
        .advance(consentry::protocol::federation::saml_metadata::REFRESH_SECS + 1);
    to_idp(&s, &client).await;
    assert_eq!(idp.metadata_fetches().await, before + 4, "refreshed");
}

#[tokio::test]
async fn saml_idp_metadata_url_of_an_untrusted_certificate_is_not_used() {
    // The outbound policy's trust: without the IdP's CA in outbound.ca_file, its metadata
    // is not fetched and the sign-in does not start.
    let idp = Idp::start_with(IdpOptions {
        https: true,
        ..Default::default()
    })
    .await;
    let url = format!("{}/metadata", idp.base);
    let s = TestServer::start_with(move |c| {
        c.outbound.allow_private = true;
        let provider: consentry::config::federation::ProviderConfig = toml::from_str(&format!(
            "id = \"corp\"\nname = \"Corp SSO\"\nkind = \"saml\"\nlink = \"create\"\nidp_metadata_url = \"{url}\""
        ))
        .unwrap();
        c.federation.providers.push(provider);
    })
    .await;
    let client = s.client(json!({})).await;
    let before = idp.metadata_fetches().await;
    let j = Journey::new(&s);
    let (_, challenge) = pkce();
    let (_, interaction, _) = j.authorize(&auth_params(&client, &challenge, &[])).await;
    let (_, _, page) = j.get(&interaction).await;
    let csrf = hidden(&page, "csrf_token").unwrap();
    let (status, to, body) = j
        .post(
            &format!("{interaction}/federated/corp"),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_ne!(status, 303, "not sent to the IdP: {to} {body}");
    assert!(!to.starts_with(&idp.base), "{to}");
    assert_eq!(
        idp.metadata_fetches().await,
        before,
        "no TLS session completed"
    );
}

#[tokio::test]
async fn saml_bindings_3_5_authn_request_by_http_post_when_the_idp_offers_only_post() {
    let idp = Idp::start_with(IdpOptions {
        post_binding: true,
        ..Default::default()
    })
    .await;
    let s = server_with(&idp).await;
    let client = s.client(json!({})).await;
    let j = Journey::new(&s);
    let (verifier, challenge) = pkce();
    let (status, interaction, _) = j.authorize(&auth_params(&client, &challenge, &[])).await;
    assert_eq!(status, 303);
    let (_, _, page) = j.get(&interaction).await;
    let csrf = hidden(&page, "csrf_token").unwrap();
    let (status, _, form) = j
        .post(
            &format!("{interaction}/federated/corp"),
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    // SAML Bindings 3.5.4: an auto-submitting form posting SAMLRequest and RelayState.
    assert_eq!(status, 200, "{form}");
    let action = form
        .split("action=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a form action")
        .replace("&amp;", "&");
    assert_eq!(action, format!("{}/sso", idp.base));
    let request = hidden(&form, "SAMLRequest").expect("SAMLRequest posted");
    let relay = hidden(&form, "RelayState").expect("RelayState posted");
    let res = idp
        .http
        .post(&action)
        .form(&[
            ("SAMLRequest", request.as_str()),
            ("RelayState", relay.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let (status, page) = (res.status(), res.text().await.unwrap());
    assert_eq!(status, 200, "the IdP took the posted AuthnRequest: {page}");
    let (acs, fields) = form_of(&page);
    let (status, back, body) = post_acs(&j, &acs, &fields).await;
    assert_eq!(status, 303, "ACS: {body}");
    let (status, next, _) = j.get(&back).await;
    assert_eq!((status, next.as_str()), (303, interaction.as_str()));
    let cb = j.decide(&interaction, "approve").await;
    let (status, tokens) = s
        .exchange_code(&client, &query(&cb)["code"], &verifier)
        .await;
    assert_eq!(status, 200, "{tokens}");
}

/// An IdP whose metadata says WantAuthnRequestsSigned="true" (and checks): our SP metadata
/// publishes the signing certificate and AuthnRequestsSigned="true", the AuthnRequest carries
/// SigAlg rsa-sha256 and a Signature over the query (SAML Bindings 3.4.4.1) that the IdP
/// verifies with that certificate, and the sign-in completes.
#[tokio::test]
async fn saml_bindings_3_4_4_1_signed_authn_request_is_accepted_by_an_idp_that_wants_it() {
    let idp = Idp::start_with(IdpOptions {
        want_signed: true,
        ..Default::default()
    })
    .await;
    let s = server_with(&idp).await;
    let (_, metadata) = get_text(&s, &s.url("/saml/metadata")).await;
    assert!(
        metadata.contains("AuthnRequestsSigned=\"true\""),
        "{metadata}"
    );
    assert!(metadata.contains("use=\"signing\""), "{metadata}");
    let key = s.provider.config.keys_dir().join("saml-sp.key");
    assert!(
        !key.exists(),
        "no SP key file is made: the database holds it"
    );
    let stored = s.sql_count("SELECT COUNT(*) FROM saml_sp_key").await;
    assert_eq!(stored, 1, "the SP key is kept in the database");
    let client = s.client(json!({})).await;
    let (j, _, sso) = to_idp(&s, &client).await;
    let q = query(&sso);
    assert_eq!(
        q["SigAlg"],
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    );
    assert!(!q["Signature"].is_empty(), "{sso}");
    let (action, fields) = idp.answer(&sso, "alice", "good").await;
    let (status, back, body) = post_acs(&j, &action, &fields).await;
    assert_eq!(status, 303, "ACS: {body}");
    let (status, _, body) = j.get(&back).await;
    assert_eq!(status, 303, "signed in: {body}");
}

/// What the IdP does with an AuthnRequest whose `url` it is sent to: its status and page.
async fn idp_takes(idp: &Idp, url: &str) -> (u16, String) {
    let res = idp.http.get(url).send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// SAML Bindings 3.4.4.1: the signature covers SAMLRequest, RelayState and SigAlg as sent; a
/// broken signature, or a RelayState changed after signing, is refused by the IdP.
#[tokio::test]
async fn saml_bindings_3_4_4_1_authn_request_with_a_broken_signature_is_refused_by_the_idp() {
    let idp = Idp::start_with(IdpOptions {
        want_signed: true,
        ..Default::default()
    })
    .await;
    let s = server_with(&idp).await;
    let client = s.client(json!({})).await;
    let (_, _, sso) = to_idp(&s, &client).await;
    let mut url = url::Url::parse(&sso).unwrap();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let broken = |name: &str| {
        let mut u = url.clone();
        let changed: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| {
                let v = if k == name {
                    // Another first character: another signature (or another RelayState).
                    let first = if v.starts_with('A') { "B" } else { "A" };
                    format!("{first}{}", &v[1..])
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(changed);
        format!("{u}&user=alice&variant=good")
    };
    for name in ["Signature", "RelayState"] {
        let (status, page) = idp_takes(&idp, &broken(name)).await;
        assert_eq!(status, 400, "{name} changed: {page}");
        assert!(
            page.contains("ERR_FAILED_MESSAGE_SIGNATURE_VERIFICATION"),
            "{name} changed: {page}"
        );
    }
    url.query_pairs_mut().clear().extend_pairs(&pairs);
    let (status, page) = idp_takes(&idp, &format!("{url}&user=alice&variant=good")).await;
    assert_eq!(status, 200, "the request as signed is taken: {page}");
}

/// SAML Metadata 2.4.3: an IdP that wants signed AuthnRequests refuses ours with its
/// signature (SigAlg and Signature) taken off: the signature is what it goes by.
#[tokio::test]
async fn saml_metadata_2_4_3_unsigned_authn_request_is_refused_by_an_idp_that_wants_signed_ones() {
    let idp = Idp::start_with(IdpOptions {
        want_signed: true,
        ..Default::default()
    })
    .await;
    let s = server_with(&idp).await;
    let client = s.client(json!({})).await;
    let (_, _, sso) = to_idp(&s, &client).await;
    let mut url = url::Url::parse(&sso).unwrap();
    let unsigned: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "SigAlg" && k != "Signature")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.query_pairs_mut().clear().extend_pairs(unsigned);
    let (status, page) = idp_takes(&idp, &format!("{url}&user=alice&variant=good")).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("wants signed AuthnRequests"), "{page}");
}

/// An IdP that does not ask for signed AuthnRequests gets unsigned ones (risaml keeps our
/// AuthnRequestsSigned in step with its WantAuthnRequestsSigned), and our metadata says so.
#[tokio::test]
async fn saml_authn_request_unsigned_for_an_idp_that_does_not_want_signatures() {
    let idp = Idp::start().await;
    let s = server_with(&idp).await;
    let (_, metadata) = get_text(&s, &s.url("/saml/metadata")).await;
    assert!(
        metadata.contains("AuthnRequestsSigned=\"false\""),
        "{metadata}"
    );
    let client = s.client(json!({})).await;
    let (_, _, sso) = to_idp(&s, &client).await;
    assert!(!sso.contains("Signature="), "{sso}");
}

/// An IdP encrypting its (signed) assertion to a key that is not ours (an SP metadata edited
/// to name another encryption certificate): our ACS refuses it cleanly, naming the rule, with
/// no session, link or replay entry stored.
#[tokio::test]
async fn saml_core_2_3_4_encrypted_assertion_refused_cleanly() {
    let idp = encrypting_idp().await;
    let s = server_with(&idp).await;
    let (_, metadata) = get_text(&s, &s.url("/saml/metadata")).await;
    assert!(
        !metadata.contains("use=\"encryption\""),
        "no encryption key offered: {metadata}"
    );
    let der = idp
        .other_cert
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<String>();
    // After our signing KeyDescriptor, in the metadata's own prefix.
    let md = if metadata.contains("<md:SPSSODescriptor") {
        "md:"
    } else {
        ""
    };
    let key = format!(
        "<{md}KeyDescriptor use=\"encryption\"><ds:KeyInfo xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:X509Data><ds:X509Certificate>{der}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></{md}KeyDescriptor>"
    );
    let close = format!("</{md}KeyDescriptor>");
    let at = metadata.rfind(&close).expect("our signing KeyDescriptor") + close.len();
    let edited = format!("{}{key}{}", &metadata[..at], &metadata[at..]);
    idp.register(edited).await;
    let client = s.client(json!({})).await;
    let (j, _, sso) = to_idp(&s, &client).await;
    let (action, fields) = idp.answer(&sso, "alice", "good").await;
    use base64::Engine;
    let xml = base64::engine::general_purpose::STANDARD
        .decode(&fields[0].1)
        .unwrap();
    let xml = String::from_utf8(xml).unwrap();
    assert!(xml.contains("EncryptedAssertion"), "{xml}");
    assert!(
        !xml.contains("saml-alice"),
        "the NameID is encrypted: {xml}"
    );
    let (status, _, body) = post_acs(&j, &action, &fields).await;
    assert_refused_page(&s, status, &body, "SAML Core 2.3.4").await;
    assert_eq!(
        s.sql_count("SELECT COUNT(*) FROM seen_jtis WHERE scope = 'saml:corp'")
            .await,
        0,
        "nothing in the replay cache"
    );
}

/// A test IdP that encrypts its assertions to the registered SP metadata's encryption key.
async fn encrypting_idp() -> Idp {
    Idp::start_with(IdpOptions {
        encrypt: true,
        ..Default::default()
    })
    .await
}

/// `idp` as provider `corp` with `want_assertions_encrypted`, its SP metadata registered.
async fn server_wanting_encryption(idp: &Idp) -> TestServer {
    let mut provider = corp_provider(idp);
    provider.want_assertions_encrypted = true;
    server_with_provider(idp, provider).await
}

/// The SAMLResponse of the IdP's form, as XML.
fn posted_xml(fields: &[(String, String)]) -> String {
    use base64::Engine;
    let (_, value) = fields
        .iter()
        .find(|(n, _)| n == "SAMLResponse")
        .expect("a SAMLResponse field");
    let xml = base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap();
    String::from_utf8(xml).unwrap()
}

/// SAML Core 2.3.4 / 6: with `want_assertions_encrypted`, our SP metadata offers our SP
/// certificate as the encryption key, the IdP encrypts its signed assertion to it (RSA-OAEP,
/// AES-256-GCM), and the sign-in completes with the NameID and attributes read from the
/// decrypted assertion.
#[tokio::test]
async fn saml_core_2_3_4_encrypted_assertion_is_decrypted_when_the_provider_wants_encryption() {
    let idp = encrypting_idp().await;
    let s = server_wanting_encryption(&idp).await;
    let (_, metadata) = get_text(&s, &s.url("/saml/metadata")).await;
    let encryption = metadata
        .split("use=\"encryption\"")
        .nth(1)
        .unwrap_or_else(|| panic!("an encryption KeyDescriptor: {metadata}"));
    assert_eq!(
        published_certificate(encryption),
        published_certificate(&metadata),
        "the encryption key is our SP certificate"
    );
    let client = s.client(json!({})).await;
    let (j, interaction, sso) = to_idp(&s, &client).await;
    let (action, fields) = idp.answer(&sso, "alice", "good").await;
    let xml = posted_xml(&fields);
    assert!(xml.contains("EncryptedAssertion"), "{xml}");
    assert!(
        !xml.contains("saml-alice"),
        "the NameID is encrypted: {xml}"
    );
    let (status, back, body) = post_acs(&j, &action, &fields).await;
    assert_eq!(status, 303, "ACS: {body}");
    let (status, next, body) = j.get(&back).await;
    assert_eq!(
        (status, next.as_str()),
        (303, interaction.as_str()),
        "{body}"
    );
    let linked = s
        .sql_count("SELECT COUNT(*) FROM federated_identities WHERE provider = 'corp' AND subject = 'saml-alice'")
        .await;
    assert_eq!(linked, 1, "the decrypted NameID is linked");
    let email = s
        .sql_count("SELECT COUNT(*) FROM users WHERE claims LIKE '%\"alice.saml@example.test\"%'")
        .await;
    assert_eq!(
        email, 1,
        "the decrypted e-mail attribute is the new user's claim"
    );
}

/// With `want_assertions_encrypted`, an IdP sending its assertion unencrypted (though signed)
/// is refused: the operator asked that the browser never carry it in the clear.
#[tokio::test]
async fn saml_core_2_3_4_unencrypted_assertion_refused_when_the_provider_wants_encryption() {
    let idp = Idp::start().await;
    let s = server_wanting_encryption(&idp).await;
    let client = s.client(json!({})).await;
    let (j, _, sso) = to_idp(&s, &client).await;
    let (action, fields) = idp.answer(&sso, "alice", "good").await;
    assert!(!posted_xml(&fields).contains("EncryptedAssertion"));
    let (status, _, body) = post_acs(&j, &action, &fields).await;
    assert_refused_page(&s, status, &body, "want_assertions_encrypted").await;
}

/// With `want_assertions_encrypted`, an assertion encrypted to another key than our SP key
/// (the IdP given an SP metadata naming another encryption certificate) cannot be decrypted:
/// refused, nothing stored (SAML Core 6; the check fails without the decryption).
#[tokio::test]
async fn saml_core_6_assertion_encrypted_to_another_key_refused() {
    let idp = encrypting_idp().await;
    let s = server_wanting_encryption(&idp).await;
    let (_, metadata) = get_text(&s, &s.url("/saml/metadata")).await;
    let (head, encryption) = metadata
        .split_once("use=\"encryption\"")
        .expect("an encryption KeyDescriptor");
    let ours = published_certificate(encryption);
    let other = pem_body(&idp.other_cert);
    let edited = format!(
        "{head}use=\"encryption\"{}",
        encryption.replacen(&ours, &other, 1)
    );
    assert_ne!(edited, metadata, "the encryption certificate was replaced");
    idp.register(edited).await;
    let client = s.client(json!({})).await;
    let (j, _, sso) = to_idp(&s, &client).await;
    let (action, fields) = idp.answer(&sso, "alice", "good").await;
    assert!(posted_xml(&fields).contains("EncryptedAssertion"));
    let (status, _, body) = post_acs(&j, &action, &fields).await;
    assert_refused_page(&s, status, &body, "SAML Core 5, 6").await;
    assert_eq!(
        s.sql_count("SELECT COUNT(*) FROM seen_jtis WHERE scope = 'saml:corp'")
            .await,
        0,
        "nothing in the replay cache"
    );
}

/// The certificate an SP metadata document publishes (`<KeyDescriptor use="signing">`), as
/// base64 DER without white space.
fn published_certificate(metadata: &str) -> String {
    let body = metadata
        .split("X509Certificate>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("a certificate in the SP metadata: {metadata}"));
    body.split_whitespace().collect()
}

/// A PEM document's base64 body, without its armour and line breaks.
fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// Node A's SP metadata is registered at an IdP that wants signed AuthnRequests; node B, over
/// the same database with its own data folder, publishes the same certificate, and a login
/// started at B (its AuthnRequest signed by B) is accepted by the IdP and completes.
#[tokio::test]
async fn saml_two_nodes_over_one_database_share_the_sp_key_and_a_login_through_either_succeeds() {
    let idp = Idp::start_with(IdpOptions {
        want_signed: true,
        ..Default::default()
    })
    .await;
    let a = server_with(&idp).await;
    let provider = corp_provider(&idp);
    let b =
        crate::shared_keys::second_node_with(&a, move |c| c.federation.providers.push(provider))
            .await;
    assert_ne!(a.base, b.base, "two nodes");
    let (_, metadata_a) = get_text(&a, &a.url("/saml/metadata")).await;
    let (_, metadata_b) = get_text(&b, &b.url("/saml/metadata")).await;
    assert_eq!(
        published_certificate(&metadata_b),
        published_certificate(&metadata_a),
        "every node publishes the one SP certificate the IdP registered"
    );
    // One browser for both nodes (behind one balancer): the IdP posts to the issuer's ACS.
    let browser = reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&a.ca_pem).unwrap())
        .add_root_certificate(reqwest::Certificate::from_pem(&b.ca_pem).unwrap())
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let client = a.client(json!({})).await;
    let at_b = Journey {
        server: &b,
        browser,
    };
    let (j, _, sso) = to_idp_by(at_b, &client).await;
    assert!(!query(&sso)["Signature"].is_empty(), "B signs: {sso}");
    let (action, fields) = idp.answer(&sso, "alice", "good").await;
    let (status, back, body) = post_acs(&j, &action, &fields).await;
    assert_eq!(status, 303, "ACS: {body}");
    let (status, _, body) = j.get(&back).await;
    assert_eq!(status, 303, "signed in through node B: {body}");
}

/// Nodes starting at the same instant on a database without an SP key each make one; the
/// first stored wins and every node goes on with that one (an insert that loses the race
/// reads the winner's row).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saml_sp_key_made_by_racing_nodes_is_one_key() {
    let idp = Idp::start().await;
    let s = TestServer::start().await;
    let mut federation = s.provider.config.federation.clone();
    federation.providers.push(corp_provider(&idp));
    let p = &s.provider;
    let now = p.now();
    let start = |keys_dir: std::path::PathBuf| {
        let (federation, p) = (federation.clone(), p.clone());
        tokio::spawn(async move {
            consentry::protocol::federation::saml_keys::load_or_create(
                &federation,
                &p.store,
                &p.sealer,
                &keys_dir,
                "localhost",
                now,
            )
            .await
            .unwrap()
            .expect("an SP key")
        })
    };
    let (dir_1, dir_2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (one, two) = tokio::join!(start(dir_1.path().into()), start(dir_2.path().into()));
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.cert_pem, two.cert_pem, "one certificate");
    assert_eq!(one.key_pem, two.key_pem, "one key");
    assert_eq!(s.sql_count("SELECT COUNT(*) FROM saml_sp_key").await, 1);
}

/// An installation of an earlier version made its SP key in `keys/` and its IdP registered
/// that certificate: after the upgrade it publishes the same certificate (imported into the
/// database), and still does once the files are gone (the database copy is what is used).
#[tokio::test]
async fn saml_sp_key_files_of_an_earlier_version_are_imported_and_keep_their_certificate() {
    let idp = Idp::start().await;
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    let (key_file, cert_file) = key_pair(&keys, "earlier");
    let (old_key, old_cert) = (keys.join("saml-sp.key"), keys.join("saml-sp.pem"));
    std::fs::rename(&key_file, &old_key).unwrap();
    std::fs::rename(&cert_file, &old_cert).unwrap();
    let registered = pem_body(&std::fs::read_to_string(&old_cert).unwrap());
    let file_key = std::fs::read_to_string(&old_key).unwrap();

    let provider = corp_provider(&idp);
    let s = TestServer::start_in(dir, move |c| c.federation.providers.push(provider)).await;
    let (_, metadata) = get_text(&s, &s.url("/saml/metadata")).await;
    assert_eq!(
        published_certificate(&metadata),
        registered,
        "the certificate of the earlier version's files is published"
    );
    let sp = s.provider.saml_sp_key.clone().expect("an SP key");
    assert_eq!(sp.key_pem, file_key, "the files' key signs");
    assert_eq!(s.sql_count("SELECT COUNT(*) FROM saml_sp_key").await, 1);

    let issuer = s.issuer.clone();
    let dir = s.stop().await;
    std::fs::remove_file(&old_key).unwrap();
    std::fs::remove_file(&old_cert).unwrap();
    let provider = corp_provider(&idp);
    let s = TestServer::start_in(dir, move |c| {
        c.issuer = Some(issuer);
        c.federation.providers.push(provider);
    })
    .await;
    let (_, metadata) = get_text(&s, &s.url("/saml/metadata")).await;
    assert_eq!(
        published_certificate(&metadata),
        registered,
        "the database's copy is used once imported"
    );
}

/// The private key is stored only sealed with the data key: neither the stored row nor (on
/// SQLite) any byte of the database files holds the PEM or a line of it.
#[tokio::test]
async fn saml_sp_private_key_is_stored_sealed_never_in_plain() {
    let idp = Idp::start().await;
    let s = server_with(&idp).await;
    let sp = s.provider.saml_sp_key.clone().expect("an SP key");
    let row = s
        .provider
        .store
        .read(|tx| tx.saml_sp_key().get())
        .await
        .unwrap()
        .expect("the stored SP key");
    let lines: Vec<&str> = sp
        .key_pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
        .collect();
    assert!(lines.len() > 10, "an RSA PEM key");
    assert!(!row.sealed_key.contains("PRIVATE KEY"), "sealed, not PEM");
    for line in &lines {
        assert!(
            !row.sealed_key.contains(line),
            "no line of the key in plain"
        );
    }
    assert_eq!(
        s.provider.sealer.open(&row.sealed_key).as_deref(),
        Some(sp.key_pem.as_str()),
        "the row opens with the data key to the key in use"
    );
    if s.database_url.is_none() {
        let db = s.provider.config.database_path();
        let mut bytes = std::fs::read(&db).unwrap();
        let wal = db.with_extension("sqlite-wal");
        bytes.extend(std::fs::read(&wal).unwrap_or_default());
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains(&pem_body(&sp.cert_pem)[..64]),
            "the file is read"
        );
        assert!(!text.contains("PRIVATE KEY"), "no PEM in the database file");
        for line in &lines {
            assert!(!text.contains(line), "no line of the key in the file");
        }
    }
}

/// The operator's `federation.sp_key_file` / `sp_cert_file` win over the database's pair: a
/// node given them publishes their certificate and signs with their key, and the database's
/// pair is left as it was.
#[tokio::test]
async fn saml_sp_key_files_set_by_the_operator_win_over_the_database_key() {
    let idp = Idp::start().await;
    let s = server_with(&idp).await;
    let stored = s
        .provider
        .saml_sp_key
        .clone()
        .expect("the database's SP key");
    let issuer = s.issuer.clone();
    let dir = s.stop().await;
    let operator = tempfile::tempdir().unwrap();
    let (key_file, cert_file) = key_pair(operator.path(), "operator");
    let operator_cert = pem_body(&std::fs::read_to_string(&cert_file).unwrap());
    let operator_key = std::fs::read_to_string(&key_file).unwrap();
    let provider = corp_provider(&idp);
    let s = TestServer::start_in(dir, move |c| {
        c.issuer = Some(issuer);
        c.federation.providers.push(provider);
        c.federation.sp_key_file = Some(key_file);
        c.federation.sp_cert_file = Some(cert_file);
    })
    .await;
    let (_, metadata) = get_text(&s, &s.url("/saml/metadata")).await;
    assert_eq!(published_certificate(&metadata), operator_cert);
    let used = s.provider.saml_sp_key.clone().expect("an SP key");
    assert_eq!(used.key_pem, operator_key, "the operator's key signs");
    let row = s.provider.store.read(|tx| tx.saml_sp_key().get()).await;
    let row = row.unwrap().expect("the database's pair stays");
    assert_eq!(
        row.cert_pem, stored.cert_pem,
        "the database's pair is not replaced"
    );
}
