//! Interop with the `openidconnect` crate as the relying party: discovery, code + PKCE,
//! ID token validation (signature, nonce, at_hash), userinfo, refresh, introspection,
//! revocation.

use crate::harness::*;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IntrospectionUrl,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RevocationUrl, Scope,
    TokenIntrospectionResponse, TokenResponse,
};
use serde_json::json;

#[tokio::test]
async fn openidconnect_crate_completes_the_code_flow() {
    let s = TestServer::start().await;
    let c = s
        .client(json!({"id_token_signed_response_alg": "PS256"}))
        .await;
    let alice = s.user("alice").await;
    let http = openidconnect::reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(openidconnect::reqwest::Certificate::from_pem(&s.ca_pem).unwrap())
        .redirect(openidconnect::reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(s.issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(c.id.clone()),
        Some(ClientSecret::new(c.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap())
    .set_introspection_url(IntrospectionUrl::new(s.url("/token/introspection")).unwrap())
    .set_revocation_url(RevocationUrl::new(s.url("/token/revocation")).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let j = Journey::new(&s);
    let (status, interaction, _) = j.get(url.as_str()).await;
    assert_eq!(status, 303);
    j.login(&interaction, "alice", PASSWORD).await;
    let cb = j.decide(&interaction, "approve").await;
    let q = query(&cb);
    assert_eq!(&q["state"], state.secret());

    let tokens = client
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange");
    let id_token = tokens.id_token().expect("id_token");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).expect("valid ID token");
    assert_eq!(claims.subject().as_str(), alice);
    let expected = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), alice);
    assert_eq!(info.email().map(|e| e.as_str()), Some("alice@example.test"));

    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("refresh token"))
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh");
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        tokens.refresh_token().unwrap().secret()
    );

    let intro = client
        .introspect(refreshed.access_token())
        .request_async(&http)
        .await
        .expect("introspection");
    assert!(intro.active());

    client
        .revoke_token(refreshed.refresh_token().unwrap().into())
        .unwrap()
        .request_async(&http)
        .await
        .expect("revocation");
    let intro = client
        .introspect(refreshed.access_token())
        .request_async(&http)
        .await
        .unwrap();
    assert!(
        !intro.active(),
        "revoking the refresh token revoked the grant"
    );
}
