//! The `claims` request parameter (OIDC Core §5.5): `ClaimsRequest::parse` and what reads a
//! parsed request (the pinned `sub`, claim release by request and by scope).

use super::engine::run;
use super::mutate;
use consentry::error::ErrorCode;
use consentry::protocol::oidc::claims::{self, ClaimsRequest};
use consentry::types::ScopeSet;
use serde_json::json;

const KEYS: &[&str] = &[
    "id_token",
    "userinfo",
    "sub",
    "email",
    "essential",
    "value",
    "values",
    "acr",
    "mh:con_id",
];

/// OIDC Core §5.5: any malformed claims parameter is `invalid_request`, never a panic.
#[tokio::test]
async fn fuzz_claims_parameter() {
    let valid = json!({
        "id_token": {"sub": {"value": "user-1"}, "email": {"essential": true}, "acr": {"values": ["a", "b"]}, "mh:con_id": null},
        "userinfo": {"name": null, "sub": {"value": "user-1"}, "address": {"essential": false}}
    });
    let text = valid.to_string();
    let user = json!({"sub": "user-1", "email": "a@example.test", "name": "A", "acr": "a"})
        .as_object()
        .cloned()
        .unwrap();
    run("claims_parameter", async |case| {
        let rng = &mut case.rng;
        let raw = if rng.one_in(3) {
            mutate::json_text(rng, &text)
        } else {
            let mut v = valid.clone();
            for _ in 0..1 + rng.below(4) {
                mutate::json(rng, &mut v, KEYS);
            }
            v.to_string()
        };
        case.inputs.note("claims", &raw);
        match ClaimsRequest::parse(&raw) {
            Ok(req) => {
                let _ = req.requested_sub();
                let _ = req.id_token_request("sub");
                let _ = claims::by_request(&user, &req.id_token);
                let _ = claims::by_request(&user, &req.userinfo);
                let _ = claims::by_scope(&user, &ScopeSet::parse("openid profile email"));
            }
            Err(e) => assert_eq!((e.code, e.status), (ErrorCode::InvalidRequest, 400)),
        }
    })
    .await;
}
