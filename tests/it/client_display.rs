//! The login and consent pages show the client's registered `logo_uri`, `policy_uri` and
//! `tos_uri` (RFC 7591 §2, OIDC Registration §2: "If present, the server SHOULD display"),
//! safely: https only, HTML-escaped, links opened with `rel="noopener noreferrer"`, the logo
//! with the client's name as alt text, and a Content-Security-Policy that lets the image load.

use crate::harness::*;
use serde_json::json;

const LOGO: &str = "https://rp.example.test/logo.png?size=64&v=2";
const POLICY: &str = "https://rp.example.test/privacy?lang=en&v=1";
const TOS: &str = "https://rp.example.test/terms";

/// The login page and, after signing in, the consent page of a fresh authorization.
async fn pages(s: &TestServer, client: &TestClient) -> (String, String, String) {
    let j = Journey::new(s);
    let (_, challenge) = pkce();
    let params = auth_params(client, &challenge, &[("scope", "openid")]);
    let (status, interaction, body) = j.authorize(&params).await;
    assert_eq!(status, 303, "{body}");
    let res = j
        .browser
        .get(format!("{}{}", s.base, interaction))
        .send()
        .await
        .unwrap();
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    let login = res.text().await.unwrap();
    assert!(login.contains("Sign in"), "{login}");
    let (status, _, body) = j.login(&interaction, "alice", PASSWORD).await;
    assert_eq!(status, 303, "{body}");
    let (status, _, consent) = j.get(&interaction).await;
    assert_eq!(status, 200);
    assert!(consent.contains("Allow access"), "{consent}");
    (login, consent, csp)
}

#[tokio::test]
async fn registration_s2_logo_policy_and_terms_are_shown_escaped_on_login_and_consent() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let (status, reg) = s
        .register(&json!({
            "redirect_uris": [REDIRECT_URI], "client_name": "Acme <Bank> \"RP\"",
            "logo_uri": LOGO, "policy_uri": POLICY, "tos_uri": TOS,
        }))
        .await;
    assert_eq!(status, 201, "{reg}");
    let client = TestClient {
        id: reg["client_id"].as_str().unwrap().into(),
        secret: reg["client_secret"].as_str().unwrap_or_default().into(),
    };
    let (login, consent, csp) = pages(&s, &client).await;
    for (page, html) in [("login", &login), ("consent", &consent)] {
        assert!(
            html.contains(
                "<img class=\"client-logo\" src=\"https://rp.example.test/logo.png?size=64&amp;v=2\" \
alt=\"Acme &lt;Bank&gt; &quot;RP&quot;\""
            ),
            "{page}: logo with escaped src and the client's name as alt: {html}"
        );
        assert!(
            html.contains(
                "<a href=\"https://rp.example.test/privacy?lang=en&amp;v=1\" target=\"_blank\" rel=\"noopener noreferrer\">"
            ),
            "{page}: policy link: {html}"
        );
        assert!(
            html.contains(
                "<a href=\"https://rp.example.test/terms\" target=\"_blank\" rel=\"noopener noreferrer\">"
            ),
            "{page}: terms link: {html}"
        );
        assert!(!html.contains("<Bank>"), "{page}: the name is escaped");
    }
    // The page's policy lets the https logo load, and still nothing else from outside.
    assert!(csp.contains("img-src 'self' data: https:"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
}

#[tokio::test]
async fn a_client_without_display_uris_shows_no_logo_and_no_links() {
    let s = TestServer::start().await;
    s.user("alice").await;
    let client = s.client(json!({"client_name": "Plain RP"})).await;
    let (login, consent, _) = pages(&s, &client).await;
    for html in [&login, &consent] {
        assert!(html.contains("Plain RP"));
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("client-links"), "{html}");
    }
}
