//! A code or refresh token presented by a client it was not issued to is refused with
//! `invalid_grant` and changes nothing: it is neither used up nor taken for the owner's replay
//! (which would revoke the owner's grant).

use crate::harness::*;
use serde_json::json;

#[tokio::test]
async fn another_clients_attempt_neither_uses_up_a_code_nor_revokes_its_grant() {
    // RFC 6749 §4.1.3: "ensure that the authorization code was issued to the authenticated
    // confidential client". A code presented by another is invalid_grant for that client only.
    let s = TestServer::start().await;
    let owner = s.client(json!({})).await;
    let other = s.client(json!({})).await;
    s.user("alice").await;

    // A fresh code: the other client's attempt does not use it up.
    let (code, verifier) = code_for(&s, &owner, "alice").await;
    let (status, err) = s.exchange_code(&other, &code, &verifier).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, tokens) = s.exchange_code(&owner, &code, &verifier).await;
    assert_eq!(status, 200, "the owner still redeems its code: {tokens}");

    // A used code: the other client's attempt is no replay by the owner, so the owner's
    // grant stays.
    let (status, err) = s.exchange_code(&other, &code, &verifier).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(s.introspect(&owner, at).await["active"], true);
    let (status, body) = s
        .refresh(&owner, tokens["refresh_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "the owner's grant is intact: {body}");

    // The owner's own replay still revokes (RFC 6749 §4.1.2), so the check above can fail.
    let (status, _) = s.exchange_code(&owner, &code, &verifier).await;
    assert_eq!(status, 400);
    assert_eq!(s.introspect(&owner, at).await["active"], false);
}

#[tokio::test]
async fn another_clients_attempt_with_a_refresh_token_changes_nothing() {
    // RFC 6749 §6: the authorization server must "validate the refresh token and ensure that
    // it was issued to the authenticated client". Another client's attempt, even with a token
    // already rotated, is invalid_grant and revokes nothing of the owner's.
    let s = TestServer::start().await;
    let owner = s.client(json!({})).await;
    let other = s.client(json!({})).await;
    s.user("alice").await;
    let first = tokens_for(&s, &owner, "alice").await;
    let rt1 = first["refresh_token"].as_str().unwrap();

    let (status, err) = s.refresh(&other, rt1).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let (status, second) = s.refresh(&owner, rt1).await;
    assert_eq!(status, 200, "a fresh token is not used up: {second}");
    let rt2 = second["refresh_token"].as_str().unwrap();

    // rt1 is rotated now; presented by another client it is refused, not taken for reuse.
    let (status, err) = s.refresh(&other, rt1).await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let at = second["access_token"].as_str().unwrap();
    assert_eq!(s.introspect(&owner, at).await["active"], true);
    let (status, third) = s.refresh(&owner, rt2).await;
    assert_eq!(status, 200, "the owner's grant is intact: {third}");
}
