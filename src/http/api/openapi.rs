//! The OpenAPI 3.1 document, rendered from the operations table.

use super::*;
use crate::http::{provider, respond};
use serde_json::{json, Map, Value};

/// `GET /openapi.json`.
#[handler]
pub async fn openapi_json(depot: &mut Depot, res: &mut Response) {
    let p = provider(depot);
    respond::json(res, StatusCode::OK, &document(&p.base_path));
}

fn schema(text: &str) -> Value {
    serde_json::from_str(text).expect("the table's schemas are JSON")
}

fn content(body: Body) -> Option<Value> {
    let (media, schema) = match body {
        Body::None => return None,
        Body::Json(name) => ("application/json", reference(name)),
        Body::JsonList(name) => (
            "application/json",
            json!({"type": "array", "items": reference(name)}),
        ),
        Body::Media(media) => (media, json!({"type": "string"})),
    };
    Some(json!({ media: { "schema": schema } }))
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn response(a: &Answer) -> Value {
    let mut out = json!({ "description": a.description });
    if let Some(c) = content(a.body) {
        out["content"] = c;
    }
    if !a.headers.is_empty() {
        let headers: Map<String, Value> = a
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    json!({"description": h.description, "schema": schema(h.schema)}),
                )
            })
            .collect();
        out["headers"] = Value::Object(headers);
    }
    out
}

const CHALLENGE: Header = Header {
    name: "WWW-Authenticate",
    description: "The RFC 6750 challenge (`Bearer`, or `DPoP` for DPoP-bound tokens)",
    schema: r#"{"type": "string"}"#,
};

/// The answers `security` adds: 401 and 403 for partner tokens, 401 and 404 for the admin API.
fn auth_answers(op: &Operation) -> Vec<Answer> {
    match op.security {
        Security::Public => vec![],
        Security::Scope(_) => vec![
            Answer {
                status: 401,
                description: "No valid access token (`invalid_token`)",
                body: Body::Json("Error"),
                headers: &[CHALLENGE],
            },
            Answer {
                status: 403,
                description: "The token lacks the scope or was issued for a user \
                              (`insufficient_scope`)",
                body: Body::Json("Error"),
                headers: &[CHALLENGE],
            },
        ],
        Security::Admin => vec![
            Answer {
                status: 401,
                description: "The bearer token is not `admin_token` (`invalid_token`)",
                body: Body::Json("Error"),
                headers: &[CHALLENGE],
            },
            error(404, "The admin API is closed: `admin_token` is unset"),
        ],
    }
}

fn operation(op: &Operation) -> Value {
    let mut params: Vec<Value> = op
        .path_params()
        .map(|name| {
            let p = PATH_PARAMS
                .iter()
                .find(|p| p.name == name)
                .unwrap_or_else(|| panic!("path parameter {name} is not in PATH_PARAMS"));
            json!({
                "name": p.name, "in": "path", "required": true, "description": p.description,
                "schema": schema(p.schema), "example": p.example,
            })
        })
        .collect();
    params.extend(op.query.iter().map(|p| {
        json!({
            "name": p.name, "in": "query", "required": false, "description": p.description,
            "schema": schema(p.schema),
        })
    }));
    let mut responses = Map::new();
    for a in op.answers {
        responses.insert(a.status.to_string(), response(a));
    }
    for a in auth_answers(op) {
        let key = a.status.to_string();
        match responses.get_mut(&key) {
            // The operation's own answer with this status: say both reasons.
            Some(existing) => {
                let both = format!(
                    "{}; or: {}",
                    existing["description"].as_str().unwrap_or_default(),
                    a.description
                );
                existing["description"] = json!(both);
            }
            None => {
                responses.insert(key, response(&a));
            }
        }
    }
    let mut out = json!({
        "operationId": op.id,
        "tags": [op.tag],
        "summary": op.summary,
        "responses": responses,
    });
    if !op.description.is_empty() {
        out["description"] = json!(op.description);
    }
    if !params.is_empty() {
        out["parameters"] = json!(params);
    }
    if let Some(r) = &op.request {
        let mut body = json!({ "required": r.required, "description": r.description });
        if let Some(c) = content(r.body) {
            body["content"] = c;
        }
        out["requestBody"] = body;
    }
    out["security"] = match op.security {
        Security::Public => json!([]),
        Security::Scope(scope) => json!([{ "partnerToken": [scope] }]),
        Security::Admin => json!([{ "adminToken": [] }]),
    };
    out
}

const TAGS: &[(&str, &str)] = &[
    (
        "users",
        "Partner API: the users a client manages (client-credentials tokens with `user:*` scopes)",
    ),
    (
        "connections",
        "Partner API: the bank connections of those users",
    ),
    (
        "grants",
        "Partner API: those users' grants to the client and their budgets",
    ),
    ("banks", "The institutions (public)"),
    (
        "admin",
        "Client administration for operators (`admin_token`)",
    ),
    (
        "webhooks",
        "Webhook endpoints and dead letters for operators (`admin_token`)",
    ),
    (
        "operations",
        "Liveness, readiness, metrics and this document",
    ),
];

/// The OpenAPI 3.1 document of every operation. No `servers`: paths are relative to the
/// server that serves the document; `base_path` is the issuer's path (`/oidc`).
pub fn document(base_path: &str) -> Value {
    let mut paths = Map::new();
    for op in OPERATIONS {
        let item = paths
            .entry(op.full_path(base_path))
            .or_insert_with(|| json!({}));
        item[op.verb.key()] = operation(op);
    }
    let base = base_path.trim_end_matches('/');
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Consentry REST API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The routes beside the OpenID Connect protocol: the partner API \
                (users and connections), client administration, webhooks, the institutions, \
                and operations. The OIDC endpoints are described by discovery \
                (`/.well-known/openid-configuration` under the issuer).",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "tags": TAGS.iter().map(|(name, d)| json!({"name": name, "description": d})).collect::<Vec<_>>(),
        "paths": paths,
        "webhooks": webhooks(),
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "partnerToken": {
                    "type": "oauth2",
                    "description": "A client-credentials access token from the token endpoint \
                        (Bearer, or DPoP when the client's tokens are DPoP-bound)",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": format!("{base}/token"),
                            "scopes": {
                                "user:create": "Create users",
                                "user:read": "Read users and their connections",
                                "user:delete": "Delete users and connections",
                                "connections:token": "Be handed the institution's access token of a connection",
                            },
                        },
                    },
                },
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The configured `admin_token`",
                },
            },
        },
    })
}

/// What the provider POSTs to a client's webhook endpoint (OpenAPI 3.1 `webhooks`).
fn webhooks() -> Value {
    json!({
        "event": {
            "post": {
                "operationId": "webhookEvent",
                "tags": ["webhooks"],
                "summary": "An event, POSTed to the client's `webhook_url`",
                "description": "Retried with exponential backoff until a 2xx answer or the \
                    last attempt; deduplicate on `Consentry-Event-Id`.",
                "parameters": [
                    {
                        "name": "Consentry-Event-Id", "in": "header", "required": true,
                        "description": "The event id, the same on every retry",
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "Consentry-Signature", "in": "header", "required": true,
                        "description": "`t=<unix time>,v1=<hex HMAC-SHA256(secret, \"<t>.<body>\")>`",
                        "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"},
                    },
                ],
                "requestBody": {
                    "required": true,
                    "content": {"application/json": {"schema": reference("WebhookEvent")}},
                },
                "responses": {
                    "2XX": {"description": "Received; any other answer is retried"},
                },
            },
        },
    })
}

fn schemas() -> Value {
    let string = json!({"type": "string"});
    let time = json!({"type": "integer", "description": "Unix time (seconds)"});
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let metadata = json!({
        "redirect_uris": {"type": "array", "items": {"type": "string", "format": "uri"}},
        "grant_types": strings,
        "response_types": strings,
        "token_endpoint_auth_method": {
            "type": "string",
            "enum": crate::types::AuthMethod::ALL.map(|m| m.as_str()),
        },
        "scope": {"type": "string", "description": "The scopes the client may be granted, space separated"},
        "client_name": string,
        "jwks_uri": {"type": "string", "format": "uri"},
        "jwks": {"type": "object"},
        "id_token_signed_response_alg": string,
        "id_token_encrypted_response_alg": string,
        "id_token_encrypted_response_enc": string,
        "userinfo_signed_response_alg": string,
        "request_object_signing_alg": string,
        "token_endpoint_auth_signing_alg": string,
        "authorization_signed_response_alg": string,
        "require_pushed_authorization_requests": {"type": "boolean"},
        "require_signed_request_object": {"type": "boolean"},
        "dpop_bound_access_tokens": {"type": "boolean"},
        "tls_client_certificate_bound_access_tokens": {"type": "boolean"},
        "tls_client_auth_subject_dn": string,
        "tls_client_auth_san_dns": string,
        "tls_client_auth_san_uri": string,
        "tls_client_auth_san_ip": string,
        "tls_client_auth_san_email": string,
        "fapi_profile": {"type": "string", "enum": ["fapi1_advanced", "fapi2"]},
        "subject_type": {"type": "string", "enum": ["public", "pairwise"]},
        "sector_identifier_uri": {"type": "string", "format": "uri"},
        "connection_types": {"$ref": "#/components/schemas/ConnectionTypes"},
        "webhook_url": {"type": "string", "format": "uri"},
    });
    let mut request = metadata.clone();
    request["client_id"] =
        json!({"type": "string", "description": "Fixed by the operator (optional)"});
    request["client_secret"] = json!({
        "type": "string", "minLength": 32,
        "description": "Fixed by the operator (optional; create only)",
    });
    let mut client = metadata;
    for (k, v) in [
        ("client_id", string.clone()),
        ("client_id_issued_at", time.clone()),
        ("disabled", json!({"type": "boolean"})),
        ("disabled_at", time.clone()),
        (
            "client_secret",
            json!({"type": "string", "description": "Only in the answer that makes it"}),
        ),
        (
            "client_secret_expires_at",
            json!({"const": 0, "description": "With client_secret: never"}),
        ),
        (
            "webhook_secret",
            json!({"type": "string", "description": "Only in the answer that makes it"}),
        ),
    ] {
        client[k] = v;
    }
    json!({
        "Error": {
            "type": "object",
            "description": "An OAuth-style error (RFC 6749 §5.2)",
            "required": ["error"],
            "properties": {
                "error": {"type": "string", "description": "The error code"},
                "error_description": {"type": "string"},
            },
        },
        "User": {
            "type": "object",
            "required": ["userId", "clientId", "managedBy", "createdAt"],
            "properties": {
                "userId": {"type": "string", "description": "The `sub` of the user's data-access tokens"},
                "clientUserId": {"type": "string", "description": "The partner's own id, when it gave one"},
                "clientId": string,
                "managedBy": {"const": "client"},
                "createdAt": time,
                "scopes": {"type": "string", "description": "Only when created: the scopes of the token that created it"},
                "claims": {"$ref": "#/components/schemas/StandardClaims"},
            },
            "additionalProperties": false,
        },
        "UserCreate": {
            "type": "object",
            "properties": {
                "clientUserId": {"type": ["string", "null"], "minLength": 1, "maxLength": 256},
                "claims": {"$ref": "#/components/schemas/StandardClaims"},
            },
            "additionalProperties": false,
        },
        "StandardClaims": {
            "type": "object",
            "description": "OpenID Connect Core 5.1 standard claims, released by UserInfo and ID tokens by scope (profile, email, address, phone) and the claims parameter",
            "properties": {
                "name": string, "given_name": string, "family_name": string, "middle_name": string,
                "nickname": string, "preferred_username": string,
                "profile": {"type": "string", "format": "uri"},
                "picture": {"type": "string", "format": "uri"},
                "website": {"type": "string", "format": "uri"},
                "email": string, "email_verified": {"type": "boolean"},
                "gender": string,
                "birthdate": {"type": "string", "description": "YYYY-MM-DD, 0000-MM-DD or YYYY"},
                "zoneinfo": string, "locale": string,
                "phone_number": string, "phone_number_verified": {"type": "boolean"},
                "address": {
                    "type": "object",
                    "properties": {
                        "formatted": string, "street_address": string, "locality": string,
                        "region": string, "postal_code": string, "country": string,
                    },
                    "additionalProperties": false,
                },
                "updated_at": {"type": "integer", "minimum": 0, "description": "Seconds since 1970"},
            },
            "additionalProperties": false,
        },
        "Grant": {
            "type": "object",
            "required": ["grantId", "scopes", "createdAt", "expiresAt"],
            "properties": {
                "grantId": string,
                "scopes": {"type": "string", "description": "Space separated"},
                "createdAt": time,
                "expiresAt": time,
                "budget": {"$ref": "#/components/schemas/Budget"},
            },
            "additionalProperties": false,
        },
        "BudgetSet": {
            "type": "object",
            "required": ["limit", "unit", "period"],
            "properties": {
                "limit": {"type": "integer", "minimum": 0, "description": "Calls, or minor units of currency"},
                "unit": {"type": "string", "enum": ["calls", "amount"]},
                "period": {"type": "string", "enum": ["day", "week", "month", "none"], "description": "UTC calendar periods; none never resets"},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217; amount budgets only"},
            },
            "additionalProperties": false,
        },
        "Budget": {
            "type": "object",
            "required": ["limit", "unit", "period", "spent", "remaining", "period_ends_at"],
            "properties": {
                "limit": {"type": "integer", "minimum": 0},
                "unit": {"type": "string", "enum": ["calls", "amount"]},
                "period": {"type": "string", "enum": ["day", "week", "month", "none"]},
                "currency": string,
                "spent": {"type": "integer", "minimum": 0, "description": "This period"},
                "remaining": {"type": "integer", "minimum": 0},
                "period_ends_at": {"type": ["integer", "null"], "description": "Unix time; null for period none"},
            },
            "additionalProperties": false,
        },
        "Connection": {
            "type": "object",
            "required": ["id", "userId", "bankId", "status", "createdAt", "updatedAt"],
            "properties": {
                "id": {"type": "string", "description": "The connection id (`mh:con_id`)"},
                "userId": string,
                "bankId": {"type": "string", "description": "The institution's id (its `id:` scope)"},
                "name": string,
                "bankRef": string,
                "type": {"type": "string", "enum": ["api", "legacy", "test"]},
                "status": {"type": "string", "description": "e.g. `active`, `reauth_required`"},
                "consentExpiresAt": time,
                "createdAt": time,
                "updatedAt": time,
            },
            "additionalProperties": false,
        },
        "Institution": {
            "type": "object",
            "required": ["id", "name", "type", "bankRef", "parentRef", "accountTypes", "userTypes"],
            "properties": {
                "id": string,
                "name": string,
                "type": {"type": "string", "enum": ["api", "legacy", "test"]},
                "bankRef": {"type": "string", "description": "Groups the connections of one institution; names its icon"},
                "parentRef": {"type": "string", "deprecated": true,
                              "description": "Deprecated by the contract: always the same as `bankRef`; use `bankRef`"},
                "iconUrl": {"type": "string", "format": "uri",
                            "description": "`/bank-icons/{bankRef}`; present only when the institution (or another of its `bankRef`) has an icon. Otherwise use your own or `/bank-icons/default`"},
                "accountTypes": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type", "beta"],
                        "properties": {
                            "type": {"type": "string", "enum": ["cash", "card", "pension", "mortgage", "investment", "loan"]},
                            "beta": {"type": "boolean"},
                        },
                    },
                },
                "userTypes": {"type": "array", "items": {"type": "string", "enum": ["personal", "business"]}},
            },
            "additionalProperties": false,
        },
        "ClientMetadata": {
            "type": "object",
            "description": "RFC 7591 client metadata with Consentry's members; other members are kept",
            "properties": request,
        },
        "Client": {
            "type": "object",
            "required": ["client_id", "client_id_issued_at", "disabled", "redirect_uris",
                         "grant_types", "response_types", "token_endpoint_auth_method"],
            "properties": client,
        },
        "ClientList": {
            "type": "object",
            "required": ["clients", "total"],
            "properties": {
                "clients": {"type": "array", "items": reference("Client")},
                "total": {"type": "integer", "minimum": 0},
            },
            "additionalProperties": false,
        },
        "ClientSecret": {
            "type": "object",
            "required": ["client_id", "client_secret", "client_secret_expires_at"],
            "properties": {
                "client_id": string,
                "client_secret": string,
                "client_secret_expires_at": {"const": 0},
            },
            "additionalProperties": false,
        },
        "ConnectionTypes": {
            "type": "array",
            "description": "Institution types the client may use beyond `test`",
            "items": {"type": "string", "enum": ["api", "legacy", "test"]},
        },
        "ClientScope": {
            "type": "object",
            "required": ["scope"],
            "properties": {
                "scope": {"type": ["string", "null"], "description": "Space-separated scopes"},
            },
        },
        "WebhookEndpoint": {
            "type": "object",
            "required": ["url"],
            "properties": {
                "url": {"type": "string", "format": "uri", "description": "https, or http on loopback"},
            },
        },
        "Webhook": {
            "type": "object",
            "required": ["client_id", "url", "secret"],
            "properties": {
                "client_id": string,
                "url": {"type": "string", "format": "uri"},
                "secret": {"type": "string", "description": "The signing secret, shown once"},
            },
            "additionalProperties": false,
        },
        "WebhookEvent": {
            "type": "object",
            "required": ["id", "eventType", "userId", "payload"],
            "properties": {
                "id": string,
                "eventType": {
                    "type": "string",
                    "enum": ["connectionCreated", "connectionDeleted", "connectionReauthRequired",
                             "userDeleted", "newTransactions"],
                },
                "userId": string,
                "payload": {"type": "object"},
            },
        },
        "DeadWebhookEvent": {
            "type": "object",
            "required": ["id", "clientId", "eventType", "status", "attempts", "createdAt", "body"],
            "properties": {
                "id": string,
                "clientId": string,
                "eventType": string,
                "status": {"const": "dead"},
                "attempts": {"type": "integer"},
                "lastError": {"type": ["string", "null"]},
                "createdAt": time,
                "body": reference("WebhookEvent"),
            },
            "additionalProperties": false,
        },
        "UpstreamToken": {
            "type": "object",
            "required": ["access_token", "token_type", "expires_at", "expires_in", "scope"],
            "properties": {
                "access_token": {"type": "string", "description": "The institution's access token"},
                "token_type": {"type": "string", "description": "As the institution named it (`Bearer` by default)"},
                "expires_at": {"type": ["integer", "null"], "description": "Unix time (seconds); null when the institution gave no lifetime"},
                "expires_in": {"type": ["integer", "null"], "description": "Seconds from now"},
                "scope": {"type": ["string", "null"]},
            },
            "additionalProperties": false,
        },
        "TokenHandout": {
            "type": "object",
            "required": ["id", "at", "clientId", "userId", "connectionId", "refreshed", "outcome"],
            "properties": {
                "id": string,
                "at": time,
                "clientId": string,
                "userId": {"type": "string", "description": "The user's internal id (as the partner named it when not found)"},
                "connectionId": string,
                "institutionId": {"type": ["string", "null"]},
                "refreshed": {"type": "boolean", "description": "This request refreshed the tokens at the institution (or tried to)"},
                "outcome": {"type": "string", "description": "`handed_out`, or the error code of the refusal"},
                "detail": {"type": ["string", "null"], "description": "The refusal's error_description"},
            },
            "additionalProperties": false,
        },
        "TokenHandoutList": {
            "type": "object",
            "required": ["entries"],
            "properties": {
                "entries": {"type": "array", "items": reference("TokenHandout")},
            },
            "additionalProperties": false,
        },
        "DeadWebhookEventList": {
            "type": "object",
            "required": ["events"],
            "properties": {
                "events": {"type": "array", "items": reference("DeadWebhookEvent")},
            },
            "additionalProperties": false,
        },
        "Redelivery": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"const": "pending"}},
            "additionalProperties": false,
        },
        "Status": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": string},
            "additionalProperties": false,
        },
        "Readiness": {
            "type": "object",
            "required": ["status", "tasks"],
            "properties": {
                "status": {"enum": ["ready", "not ready"]},
                "reasons": {"type": "array", "items": string},
                "down": {"type": "array", "items": string},
                "tasks": {"type": "object", "additionalProperties": {"enum": ["up", "down"]}},
            },
            "additionalProperties": false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_operation_is_unique_and_routable() {
        let (mut ids, mut routes) = (HashSet::new(), HashSet::new());
        for op in OPERATIONS {
            assert!(ids.insert(op.id), "duplicate operationId {}", op.id);
            assert!(
                routes.insert((op.verb, op.path)),
                "duplicate route {:?} {}",
                op.verb,
                op.path
            );
            assert!(
                !op.summary.is_empty() && !op.answers.is_empty(),
                "{}",
                op.id
            );
            for name in op.path_params() {
                assert!(PATH_PARAMS.iter().any(|p| p.name == name), "{name}");
            }
        }
        // Panics on an operation without a handler.
        let _ = router("/oidc");
    }
}
