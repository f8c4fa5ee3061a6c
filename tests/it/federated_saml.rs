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
    metadata_file: PathBuf,
    _process: Running,
    _dir: tempfile::TempDir,
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
        let dir = tempfile::tempdir().unwrap();
        let (own_key, own_cert) = key_pair(dir.path(), "own");
        let (other_key, other_cert) = key_pair(dir.path(), "other");
        let interop = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
        assert!(
            interop.join("node_modules/samlify").exists(),
            "run `npm ci --prefix tests/interop` first (the README's test command does)"
        );
        let mut child = std::process::Command::new("node")
            .arg("saml_idp.mjs")
            .current_dir(&interop)
            .env("IDP_KEY", own_key)
            .env("IDP_CERT", own_cert)
            .env("OTHER_KEY", other_key)
            .env("OTHER_CERT", other_cert)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the SAML IdP (node)");
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
        let base = format!("http://127.0.0.1:{port}");
        let metadata = reqwest::get(format!("{base}/metadata"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(metadata.contains("IDPSSODescriptor"), "{metadata}");
        let metadata_file = dir.path().join("idp-metadata.xml");
        std::fs::write(&metadata_file, metadata).unwrap();
        Idp {
            base,
            metadata_file,
            _process: process,
            _dir: dir,
        }
    }

    /// Registers our SP metadata at the IdP, as its operator would.
    async fn register(&self, sp_metadata: String) {
        let res = reqwest::Client::new()
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
    let file = idp.metadata_file.clone();
    let s = TestServer::start_with(move |c| {
        let provider: consentry::config::federation::ProviderConfig = toml::from_str(&format!(
            r#"
            id = "corp"
            name = "Corp SSO"
            kind = "saml"
            link = "create"
            idp_metadata_file = "{}"
            "#,
            file.display()
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
    let j = Journey::new(s);
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
    let (action, fields) = idp_answer(&sso, "alice", "good").await;
    let (status, back, body) = post_acs(&j, &action, &fields).await;
    assert_eq!(status, 303, "{body}");
    let other = Journey::new(&s);
    let (status, _, body) = other.get(&back).await;
    assert_ne!(status, 303, "another browser is not signed in: {body}");
    assert_eq!(s.sql_count("SELECT COUNT(*) FROM sessions").await, 0);
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
