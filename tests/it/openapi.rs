//! The OpenAPI document of the REST API (`GET /openapi.json`, committed as
//! `docs/openapi.json`): well formed, every documented route answers on a real server, real
//! answers fit their schemas, and the committed copy is current.
//!
//! Regenerate the committed copy with `UPDATE_OPENAPI=1 cargo test --test it openapi`.

use crate::harness::*;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;

const ADMIN_TOKEN: &str = "admin-token-0123456789abcdefghijklmnopq";
const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");

async fn start() -> TestServer {
    TestServer::start_with(|c| c.admin_token = Some(ADMIN_TOKEN.into())).await
}

async fn served(s: &TestServer) -> Value {
    let res = s
        .browser()
        .get(format!("{}/openapi.json", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    res.json().await.expect("the document is JSON")
}

/// Every (method, path, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((method.clone(), path.clone(), op.clone()));
        }
    }
    out
}

/// The path with each `{param}` replaced by its documented example.
fn concrete(path: &str, op: &Value) -> String {
    let mut out = path.to_string();
    for p in op["parameters"].as_array().into_iter().flatten() {
        if p["in"] == "path" {
            let name = p["name"].as_str().unwrap();
            let example = p["example"]
                .as_str()
                .expect("path parameters have an example");
            out = out.replace(&format!("{{{name}}}"), example);
        }
    }
    assert!(
        !out.contains('{'),
        "{path}: a path parameter is undocumented"
    );
    out
}

struct Reply {
    status: u16,
    challenge: Option<String>,
    body: Value,
}

async fn send(s: &TestServer, method: &str, path: &str, token: Option<&str>) -> Reply {
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
    let mut req = s.browser().request(method, format!("{}{path}", s.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let text = res.text().await.unwrap_or_default();
    Reply {
        status,
        challenge,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// No route took the request: the catcher's 404 ("no such resource") or 405. A handler's 404
/// names what it did not find.
fn routing_miss(r: &Reply) -> bool {
    match r.status {
        404 => r.body["error_description"] == "no such resource",
        405 => r.body["error"] == "method_not_allowed",
        _ => false,
    }
}

#[tokio::test]
async fn the_openapi_document_is_well_formed() {
    let s = start().await;
    let doc = served(&s).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert!(
        doc.get("servers").is_none(),
        "paths are relative to the serving host"
    );
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "User",
        "UserCreate",
        "Connection",
        "Client",
        "ClientList",
        "Webhook",
        "WebhookEvent",
        "Error",
    ] {
        assert!(schemas.contains_key(name), "schema {name}");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["adminToken"]["type"], "http");
    assert_eq!(schemes["adminToken"]["scheme"], "bearer");
    let cc = &schemes["partnerToken"]["flows"]["clientCredentials"];
    assert_eq!(cc["tokenUrl"], "/oidc/token");
    for scope in ["user:create", "user:read", "user:delete"] {
        assert!(cc["scopes"][scope].is_string(), "{scope}");
    }

    let ops = operations(&doc);
    assert!(ops.len() >= 30, "{} operations", ops.len());
    let mut ids = HashSet::new();
    for (method, path, op) in &ops {
        let id = op["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{method} {path}: operationId");
        assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
        assert!(
            op["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{id}: summary"
        );
        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{id}: responses");
        for (status, r) in responses {
            assert!(status.parse::<u16>().is_ok(), "{id}: status {status}");
            assert!(r["description"].is_string(), "{id} {status}: description");
        }
        for scheme in op["security"].as_array().expect("security").iter() {
            for name in scheme.as_object().unwrap().keys() {
                assert!(schemes.get(name).is_some(), "{id}: security {name}");
            }
        }
        concrete(path, op);
    }
    // Every reference resolves.
    let text = doc.to_string();
    for part in text.split("\"$ref\":\"").skip(1) {
        let target = &part[..part.find('"').unwrap()];
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {target}"));
        assert!(schemas.contains_key(name), "$ref {target}");
    }
    // The REST routes of the partner API, admin and webhooks are all here.
    let documented: HashSet<(String, String)> =
        ops.iter().map(|(m, p, _)| (m.clone(), p.clone())).collect();
    for (m, p) in [
        ("post", "/users"),
        ("get", "/users"),
        ("get", "/users/{user_id}"),
        ("delete", "/users/{user_id}"),
        ("get", "/users/{user_id}/connections"),
        ("delete", "/users/{user_id}/connection/{connection_id}"),
        ("delete", "/users/{user_id}/connections/{connection_id}"),
        ("get", "/admin/clients"),
        ("post", "/admin/clients/{client_id}/secret"),
        ("put", "/admin/clients/{client_id}/webhook"),
        ("get", "/admin/webhooks/dead"),
        ("post", "/admin/webhooks/{event_id}/redeliver"),
        ("get", "/oidc/.well-known/all-connections"),
        ("get", "/bank-icons/{bank_ref}"),
        ("get", "/openapi.json"),
    ] {
        assert!(
            documented.contains(&(m.to_string(), p.to_string())),
            "{m} {p}"
        );
    }
}

#[tokio::test]
async fn every_documented_openapi_route_answers() {
    let s = start().await;
    let doc = served(&s).await;
    // The check below can tell a routing miss from a handler's answer.
    assert!(routing_miss(&send(&s, "patch", "/users", None).await));
    assert!(routing_miss(&send(&s, "get", "/users/x/nope", None).await));
    assert!(!routing_miss(&send(&s, "get", "/users/x", None).await));

    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap();
        let url = concrete(&path, &op);
        let r = send(&s, &method, &url, None).await;
        assert!(
            !routing_miss(&r),
            "{id}: {method} {url} is not routed ({})",
            r.status
        );
        let documented = op["responses"].get(r.status.to_string()).is_some();
        assert!(documented, "{id}: {} is not documented", r.status);
        let protected = op["security"].as_array().is_some_and(|a| !a.is_empty());
        if protected {
            // RFC 6750 §3.1: no credentials → 401 with a challenge and an error body.
            assert_eq!(r.status, 401, "{id}: {method} {url}");
            assert!(
                r.challenge
                    .as_deref()
                    .is_some_and(|c| c.starts_with("Bearer")),
                "{id}: WWW-Authenticate"
            );
            assert_eq!(r.body["error"], "invalid_token", "{id}");
        } else {
            assert_eq!(r.status, 200, "{id}: {method} {url}");
        }
    }
}

/// A small JSON Schema check for the keywords the document uses.
fn conforms(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    if let Some(r) = schema["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return conforms(doc, &doc["components"]["schemas"][name], v, at);
    }
    if let Some(c) = schema.get("const") {
        if c != v {
            return Err(format!("{at}: {v} is not {c}"));
        }
    }
    if let Some(e) = schema["enum"].as_array() {
        if !e.contains(v) {
            return Err(format!("{at}: {v} is not one of {schema}"));
        }
    }
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let allowed: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !allowed.is_empty() && !allowed.contains(&kind) {
        return Err(format!("{at}: {v} is not {allowed:?}"));
    }
    if let Value::Array(items) = v {
        for (i, item) in items.iter().enumerate() {
            conforms(doc, &schema["items"], item, &format!("{at}[{i}]"))?;
        }
    }
    if let Value::Object(members) = v {
        for r in schema["required"].as_array().into_iter().flatten() {
            if !members.contains_key(r.as_str().unwrap()) {
                return Err(format!("{at}: {r} is missing"));
            }
        }
        for (k, member) in members {
            match schema["properties"].get(k) {
                Some(s) => conforms(doc, s, member, &format!("{at}.{k}"))?,
                None if schema["additionalProperties"] == false => {
                    return Err(format!("{at}: {k} is not in the schema"))
                }
                None => {}
            }
        }
    }
    Ok(())
}

/// Calls `id`'s route (path parameters from `params`) and checks the answer against the
/// document: the status is documented and the body fits that status's schema.
async fn check(
    s: &TestServer,
    doc: &Value,
    id: &str,
    params: &[(&str, &str)],
    token: &str,
    body: Option<Value>,
) -> Value {
    let (method, path, op) = operations(doc)
        .into_iter()
        .find(|(_, _, op)| op["operationId"] == id)
        .unwrap_or_else(|| panic!("no operation {id}"));
    let mut url = path.clone();
    for (k, v) in params {
        url = url.replace(&format!("{{{k}}}"), v);
    }
    let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
    let mut req = s
        .browser()
        .request(m, format!("{}{url}", s.base))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let answer: Value = res.json().await.unwrap_or(Value::Null);
    let documented = &op["responses"][status.to_string()];
    assert!(
        documented.is_object(),
        "{id}: {status} undocumented: {answer}"
    );
    assert!(status < 300, "{id}: {status} {answer}");
    let schema = &documented["content"]["application/json"]["schema"];
    if let Err(e) = conforms(doc, schema, &answer, id) {
        panic!("{id}: the answer does not fit its schema: {e}\n{answer}");
    }
    answer
}

#[tokio::test]
async fn real_answers_fit_their_openapi_schemas() {
    let s = start().await;
    let doc = served(&s).await;
    let admin = ADMIN_TOKEN;

    let created = check(
        &s,
        &doc,
        "createClient",
        &[],
        admin,
        Some(json!({
            "redirect_uris": [REDIRECT_URI],
            "grant_types": ["authorization_code", "client_credentials"],
            "scope": "openid user:create user:read user:delete",
            "webhook_url": "https://partner.example.test/hooks",
        })),
    )
    .await;
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let cid = [("client_id", client_id.as_str())];
    check(&s, &doc, "listClients", &[], admin, None).await;
    check(&s, &doc, "getClient", &cid, admin, None).await;
    check(&s, &doc, "disableClient", &cid, admin, None).await;
    check(&s, &doc, "enableClient", &cid, admin, None).await;
    check(
        &s,
        &doc,
        "setClientConnectionTypes",
        &cid,
        admin,
        Some(json!(["api"])),
    )
    .await;
    let secret = check(&s, &doc, "rotateClientSecret", &cid, admin, None).await;
    check(
        &s,
        &doc,
        "setClientWebhook",
        &cid,
        admin,
        Some(json!({"url": "https://partner.example.test/hooks"})),
    )
    .await;
    check(&s, &doc, "listDeadWebhookEvents", &[], admin, None).await;

    let partner = TestClient {
        id: client_id.clone(),
        secret: secret["client_secret"].as_str().unwrap().to_string(),
    };
    let (status, t) = s
        .token(
            &partner,
            &[
                ("grant_type", "client_credentials"),
                ("scope", "user:create user:read"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{t}");
    let token = t["access_token"].as_str().unwrap();
    let user = check(
        &s,
        &doc,
        "createUser",
        &[],
        token,
        Some(json!({"clientUserId": "partner-42"})),
    )
    .await;
    let uid = [("user_id", user["userId"].as_str().unwrap())];
    check(&s, &doc, "getUser", &uid, token, None).await;
    check(&s, &doc, "listUsers", &[], token, None).await;
    check(&s, &doc, "listUserConnections", &uid, token, None).await;

    for id in [
        "listAllConnections",
        "listApiConnections",
        "listLegacyConnections",
        "listTestConnections",
        "getHealth",
        "getReadiness",
    ] {
        let answer = check(&s, &doc, id, &[], "", None).await;
        assert!(answer != Value::Null, "{id}");
    }
}

#[tokio::test]
async fn the_committed_openapi_document_is_current() {
    let s = TestServer::start().await;
    let doc = served(&s).await;
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::create_dir_all(std::path::Path::new(COMMITTED).parent().unwrap()).unwrap();
        std::fs::write(COMMITTED, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    let parsed: Value = serde_json::from_str(&committed).unwrap_or(Value::Null);
    assert!(
        parsed == doc,
        "docs/openapi.json is stale: regenerate it with \
         `UPDATE_OPENAPI=1 cargo test --test it openapi` and commit it"
    );
}
