//! The REST API beside the OIDC protocol — partner users and connections, client
//! administration, webhook dead letters, the bank lists and icons, operations — as ONE table.
//! The router is built from `OPERATIONS` and so is the OpenAPI 3.1 document
//! (`GET /openapi.json`, committed as `docs/openapi.json`): a route cannot exist without its
//! entry, and the document cannot name a route the router lacks.

use super::{admin, admin_webhooks, banks, ops, partner, provider, respond};
use salvo::http::Method;
use salvo::prelude::*;
use salvo::routing::filters::MethodFilter;
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    Get,
    Post,
    Put,
    Delete,
}

impl Verb {
    pub fn method(self) -> Method {
        match self {
            Verb::Get => Method::GET,
            Verb::Post => Method::POST,
            Verb::Put => Method::PUT,
            Verb::Delete => Method::DELETE,
        }
    }

    /// The OpenAPI path-item key.
    pub fn key(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
            Verb::Put => "put",
            Verb::Delete => "delete",
        }
    }
}

/// Where a path lives: at the server root, or under the issuer's path (`/oidc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Root,
    Issuer,
}

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Public,
    /// A client-credentials access token carrying this `user:*` scope.
    Scope(&'static str),
    /// `Authorization: Bearer <admin_token>`, checked by `admin::guard`.
    Admin,
}

/// A request or response body.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    None,
    /// `application/json` with the named component schema.
    Json(&'static str),
    /// `application/json`: an array of the named component schema.
    JsonList(&'static str),
    /// Another media type, as a string.
    Media(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub description: &'static str,
    /// The JSON Schema, as JSON text.
    pub schema: &'static str,
    /// A value that names something plausible (path parameters; tests fill paths with it).
    pub example: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: &'static str,
}

#[derive(Debug, Clone, Copy)]
pub struct Answer {
    pub status: u16,
    pub description: &'static str,
    pub body: Body,
    pub headers: &'static [Header],
}

#[derive(Debug, Clone, Copy)]
pub struct RequestBody {
    pub body: Body,
    pub required: bool,
    pub description: &'static str,
}

/// One REST operation: its route, what it takes and what it answers.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// The OpenAPI operationId; also what `goal` maps to the handler.
    pub id: &'static str,
    pub verb: Verb,
    pub base: Base,
    /// OpenAPI path syntax (`/users/{user_id}`), which is also salvo's.
    pub path: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    pub description: &'static str,
    pub security: Security,
    pub request: Option<RequestBody>,
    pub query: &'static [Param],
    /// Answers besides the authentication ones, which `security` adds.
    pub answers: &'static [Answer],
}

const OP: Operation = Operation {
    id: "",
    verb: Verb::Get,
    base: Base::Root,
    path: "",
    tag: "",
    summary: "",
    description: "",
    security: Security::Public,
    request: None,
    query: &[],
    answers: &[],
};

const fn json(status: u16, description: &'static str, schema: &'static str) -> Answer {
    Answer {
        status,
        description,
        body: Body::Json(schema),
        headers: &[],
    }
}

const fn list(status: u16, description: &'static str, schema: &'static str) -> Answer {
    Answer {
        status,
        description,
        body: Body::JsonList(schema),
        headers: &[],
    }
}

const fn error(status: u16, description: &'static str) -> Answer {
    json(status, description, "Error")
}

const fn empty(status: u16, description: &'static str) -> Answer {
    Answer {
        status,
        description,
        body: Body::None,
        headers: &[],
    }
}

const fn body(schema: &'static str, description: &'static str) -> Option<RequestBody> {
    Some(RequestBody {
        body: Body::Json(schema),
        required: true,
        description,
    })
}

/// Every path parameter, by name.
pub const PATH_PARAMS: &[Param] = &[
    Param {
        name: "user_id",
        description: "A user the calling client manages (`userId`)",
        schema: r#"{"type": "string"}"#,
        example: "0123456789abcdef01234567",
    },
    Param {
        name: "connection_id",
        description: "One of the user's connections (`id`, the ID token's `mh:con_id`)",
        schema: r#"{"type": "string"}"#,
        example: "00000000-0000-4000-8000-000000000000",
    },
    Param {
        name: "client_id",
        description: "The client's `client_id`",
        schema: r#"{"type": "string"}"#,
        example: "demo-client",
    },
    Param {
        name: "event_id",
        description: "A dead webhook event's `id`",
        schema: r#"{"type": "string"}"#,
        example: "00000000-0000-4000-8000-000000000000",
    },
    Param {
        name: "bank_ref",
        description: "The institution's `bankRef`; `default` is the generic icon",
        schema: r#"{"type": "string"}"#,
        example: "default",
    },
];

const USER_PAGE: &[Param] = &[
    Param {
        name: "limit",
        description: "Users per page",
        schema: r#"{"type": "integer", "minimum": 0, "maximum": 500, "default": 50}"#,
        example: "",
    },
    Param {
        name: "offset",
        description: "Users to skip",
        schema: r#"{"type": "integer", "minimum": 0, "default": 0}"#,
        example: "",
    },
];

const CLIENT_PAGE: &[Param] = &[
    Param {
        name: "limit",
        description: "Clients per page",
        schema: r#"{"type": "integer", "minimum": 1, "maximum": 500, "default": 50}"#,
        example: "",
    },
    Param {
        name: "offset",
        description: "Clients to skip",
        schema: r#"{"type": "integer", "minimum": 0, "default": 0}"#,
        example: "",
    },
];

const DEAD_QUERY: &[Param] = &[
    Param {
        name: "client_id",
        description: "Only this client's events",
        schema: r#"{"type": "string"}"#,
        example: "",
    },
    Param {
        name: "limit",
        description: "At most this many events (1–500; anything else is 400)",
        schema: r#"{"type": "integer", "minimum": 1, "maximum": 500, "default": 50}"#,
        example: "",
    },
];

const ICON_QUERY: &[Param] = &[Param {
    name: "defaultIcon",
    description: "`true`: answer the generic icon when the institution has none",
    schema: r#"{"type": "string", "enum": ["true", "false"]}"#,
    example: "",
}];

const BAD_REQUEST: Answer = error(400, "Malformed input (`invalid_request`)");
const BAD_METADATA: Answer = error(
    400,
    "The metadata breaks a registration rule (`invalid_client_metadata`, or `invalid_request`)",
);
const NO_USER: Answer = error(
    404,
    "No such user managed by the calling client (`not_found`)",
);
const NO_CLIENT: Answer = error(404, "No client with that id (`not_found`)");
const CLIENT: Answer = json(200, "The client, without secrets", "Client");
const INSTITUTIONS: Answer = list(200, "The institutions", "Institution");

/// The table. Order is the document's order; the router groups operations by path.
pub const OPERATIONS: &[Operation] = &[
    // Partner API (contract: User Management).
    Operation {
        id: "createUser",
        verb: Verb::Post,
        path: "/users",
        tag: "users",
        summary: "Create a user managed by the calling client",
        security: Security::Scope("user:create"),
        request: Some(RequestBody {
            body: Body::Json("UserCreate"),
            required: false,
            description: "Optional: the partner's own id for the user",
        }),
        answers: &[json(201, "The new user", "User"), BAD_REQUEST],
        ..OP
    },
    Operation {
        id: "listUsers",
        path: "/users",
        tag: "users",
        summary: "List the calling client's users, oldest first",
        security: Security::Scope("user:read"),
        query: USER_PAGE,
        answers: &[
            Answer {
                status: 200,
                description: "One page of users",
                body: Body::JsonList("User"),
                headers: &[Header {
                    name: "X-Total-Count",
                    description: "How many users the client has in all",
                    schema: r#"{"type": "integer", "minimum": 0}"#,
                }],
            },
            BAD_REQUEST,
        ],
        ..OP
    },
    Operation {
        id: "getUser",
        path: "/users/{user_id}",
        tag: "users",
        summary: "Read one user",
        security: Security::Scope("user:read"),
        answers: &[json(200, "The user", "User"), NO_USER],
        ..OP
    },
    Operation {
        id: "deleteUser",
        verb: Verb::Delete,
        path: "/users/{user_id}",
        tag: "users",
        summary: "Delete a user with all its connections and data-access tokens",
        description: "Revokes every connection's grants and tokens, destroys the stored \
                      institution tokens, then deletes the user (`userDeleted` webhook).",
        security: Security::Scope("user:delete"),
        answers: &[empty(204, "Deleted"), NO_USER],
        ..OP
    },
    Operation {
        id: "listUserConnections",
        path: "/users/{user_id}/connections",
        tag: "connections",
        summary: "List the user's bank connections",
        security: Security::Scope("user:read"),
        answers: &[list(200, "The user's connections", "Connection"), NO_USER],
        ..OP
    },
    Operation {
        id: "deleteUserConnection",
        verb: Verb::Delete,
        path: "/users/{user_id}/connection/{connection_id}",
        tag: "connections",
        summary: "Delete one of the user's connections",
        description: "Revokes the connection's grants and tokens and destroys its stored \
                      institution tokens (`connectionDeleted` webhook).",
        security: Security::Scope("user:delete"),
        answers: &[
            empty(204, "Deleted"),
            error(404, "No such user or connection (`not_found`)"),
        ],
        ..OP
    },
    Operation {
        id: "deleteUserConnectionPlural",
        verb: Verb::Delete,
        path: "/users/{user_id}/connections/{connection_id}",
        tag: "connections",
        summary: "Delete one of the user's connections (plural path)",
        description: "The same as `deleteUserConnection`; the contract names the singular path.",
        security: Security::Scope("user:delete"),
        answers: &[
            empty(204, "Deleted"),
            error(404, "No such user or connection (`not_found`)"),
        ],
        ..OP
    },
    // The contract's public bank lists (under the issuer's path) and icons.
    Operation {
        id: "listAllConnections",
        base: Base::Issuer,
        path: "/.well-known/all-connections",
        tag: "banks",
        summary: "Every institution",
        answers: &[INSTITUTIONS],
        ..OP
    },
    Operation {
        id: "listApiConnections",
        base: Base::Issuer,
        path: "/.well-known/api-connections",
        tag: "banks",
        summary: "The institutions of type `api`",
        answers: &[INSTITUTIONS],
        ..OP
    },
    Operation {
        id: "listLegacyConnections",
        base: Base::Issuer,
        path: "/.well-known/legacy-connections",
        tag: "banks",
        summary: "The institutions of type `legacy`",
        answers: &[INSTITUTIONS],
        ..OP
    },
    Operation {
        id: "listTestConnections",
        base: Base::Issuer,
        path: "/.well-known/test-connections",
        tag: "banks",
        summary: "The institutions of type `test`",
        answers: &[INSTITUTIONS],
        ..OP
    },
    Operation {
        id: "getBankIcon",
        path: "/bank-icons/{bank_ref}",
        tag: "banks",
        summary: "An institution's SVG icon",
        query: ICON_QUERY,
        answers: &[
            Answer {
                status: 200,
                description: "The icon",
                body: Body::Media("image/svg+xml"),
                headers: &[],
            },
            error(404, "The institution has no icon (`not_found`)"),
        ],
        ..OP
    },
    // Client administration.
    Operation {
        id: "listClients",
        path: "/admin/clients",
        tag: "admin",
        summary: "List clients, oldest first",
        security: Security::Admin,
        query: CLIENT_PAGE,
        answers: &[json(200, "One page of clients", "ClientList"), BAD_REQUEST],
        ..OP
    },
    Operation {
        id: "createClient",
        verb: Verb::Post,
        path: "/admin/clients",
        tag: "admin",
        summary: "Create a client from RFC 7591 metadata",
        description: "The same rules as dynamic registration; `client_id` and `client_secret` \
                      (at least 32 characters) may be fixed. The answer carries the secrets once.",
        security: Security::Admin,
        request: body("ClientMetadata", "RFC 7591 client metadata"),
        answers: &[
            json(201, "The client, with its secrets (shown once)", "Client"),
            BAD_METADATA,
        ],
        ..OP
    },
    Operation {
        id: "getClient",
        path: "/admin/clients/{client_id}",
        tag: "admin",
        summary: "Read a client",
        security: Security::Admin,
        answers: &[CLIENT, NO_CLIENT],
        ..OP
    },
    Operation {
        id: "replaceClient",
        verb: Verb::Put,
        path: "/admin/clients/{client_id}",
        tag: "admin",
        summary: "Replace a client's metadata as a whole",
        description: "The secret is kept; a new one is made and returned once only when the new \
                      authentication method needs one the client lacks.",
        security: Security::Admin,
        request: body("ClientMetadata", "The complete RFC 7591 client metadata"),
        answers: &[CLIENT, BAD_METADATA, NO_CLIENT],
        ..OP
    },
    Operation {
        id: "deleteClient",
        verb: Verb::Delete,
        path: "/admin/clients/{client_id}",
        tag: "admin",
        summary: "Delete a client with everything issued to it",
        security: Security::Admin,
        answers: &[empty(204, "Deleted"), NO_CLIENT],
        ..OP
    },
    Operation {
        id: "disableClient",
        verb: Verb::Post,
        path: "/admin/clients/{client_id}/disable",
        tag: "admin",
        summary: "Disable a client",
        description: "A disabled client cannot authenticate or authorize (`invalid_client`) and \
                      its tokens are not active until it is enabled again.",
        security: Security::Admin,
        answers: &[CLIENT, NO_CLIENT],
        ..OP
    },
    Operation {
        id: "enableClient",
        verb: Verb::Post,
        path: "/admin/clients/{client_id}/enable",
        tag: "admin",
        summary: "Enable a disabled client",
        security: Security::Admin,
        answers: &[CLIENT, NO_CLIENT],
        ..OP
    },
    Operation {
        id: "rotateClientSecret",
        verb: Verb::Post,
        path: "/admin/clients/{client_id}/secret",
        tag: "admin",
        summary: "Make a new client secret; the old one stops working at once",
        security: Security::Admin,
        answers: &[
            json(200, "The new secret (shown once)", "ClientSecret"),
            error(
                400,
                "The client authenticates without a secret (`invalid_request`)",
            ),
            NO_CLIENT,
        ],
        ..OP
    },
    Operation {
        id: "setClientConnectionTypes",
        verb: Verb::Put,
        path: "/admin/clients/{client_id}/connection-types",
        tag: "admin",
        summary: "Set the institution types the client may use beyond `test`",
        security: Security::Admin,
        request: body("ConnectionTypes", "The connection types"),
        answers: &[CLIENT, BAD_METADATA, NO_CLIENT],
        ..OP
    },
    Operation {
        id: "setClientScopes",
        verb: Verb::Put,
        path: "/admin/clients/{client_id}/scopes",
        tag: "admin",
        summary: "Set the scopes the client may be granted",
        security: Security::Admin,
        request: body("ClientScope", "The scopes; null lifts the restriction"),
        answers: &[CLIENT, BAD_METADATA, NO_CLIENT],
        ..OP
    },
    Operation {
        id: "setClientWebhook",
        verb: Verb::Put,
        path: "/admin/clients/{client_id}/webhook",
        tag: "webhooks",
        summary: "Set the client's webhook endpoint and make a new signing secret",
        security: Security::Admin,
        request: body("WebhookEndpoint", "Where events are delivered"),
        answers: &[
            json(
                200,
                "The endpoint and its signing secret (shown once)",
                "Webhook",
            ),
            BAD_METADATA,
            NO_CLIENT,
        ],
        ..OP
    },
    Operation {
        id: "removeClientWebhook",
        verb: Verb::Delete,
        path: "/admin/clients/{client_id}/webhook",
        tag: "webhooks",
        summary: "Remove the client's webhook endpoint and its secret",
        security: Security::Admin,
        answers: &[empty(204, "Removed"), NO_CLIENT],
        ..OP
    },
    // Webhook dead letters.
    Operation {
        id: "listDeadWebhookEvents",
        path: "/admin/webhooks/dead",
        tag: "webhooks",
        summary: "Events that ran out of delivery attempts",
        security: Security::Admin,
        query: DEAD_QUERY,
        answers: &[json(200, "The dead events", "DeadWebhookEventList")],
        ..OP
    },
    Operation {
        id: "redeliverWebhookEvent",
        verb: Verb::Post,
        path: "/admin/webhooks/{event_id}/redeliver",
        tag: "webhooks",
        summary: "Queue a dead event for delivery again",
        security: Security::Admin,
        answers: &[
            json(202, "Queued", "Redelivery"),
            error(404, "No dead event with that id (`not_found`)"),
        ],
        ..OP
    },
    // Operations.
    Operation {
        id: "getOpenApi",
        path: "/openapi.json",
        tag: "operations",
        summary: "This document",
        answers: &[Answer {
            status: 200,
            description: "The OpenAPI 3.1 document",
            body: Body::Media("application/json"),
            headers: &[],
        }],
        ..OP
    },
    Operation {
        id: "getHealth",
        path: "/healthz",
        tag: "operations",
        summary: "Liveness",
        answers: &[json(200, "Alive", "Status")],
        ..OP
    },
    Operation {
        id: "getReadiness",
        path: "/readyz",
        tag: "operations",
        summary: "Readiness: the database takes a write and every background task runs",
        answers: &[
            json(200, "Ready", "Readiness"),
            json(
                503,
                "Not ready: the reasons (e.g. disk full) and the background tasks down",
                "Readiness",
            ),
        ],
        ..OP
    },
    Operation {
        id: "getMetrics",
        path: "/metrics",
        tag: "operations",
        summary: "Prometheus / OpenMetrics metrics",
        answers: &[Answer {
            status: 200,
            description: "The metrics",
            body: Body::Media("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            headers: &[],
        }],
        ..OP
    },
];

impl Operation {
    /// The path as served, with the issuer's path (`/oidc`) in front where it belongs.
    pub fn full_path(&self, base_path: &str) -> String {
        match self.base {
            Base::Root => self.path.to_string(),
            Base::Issuer => format!("{}{}", base_path.trim_end_matches('/'), self.path),
        }
    }

    /// The `{name}` parameters of the path, in order.
    pub fn path_params(&self) -> impl Iterator<Item = &'static str> {
        self.path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
    }
}

/// The operation's handler on a router that already filters its method. Every operation needs
/// an arm here, and a handler is routed only through the table.
fn goal(id: &str, r: Router) -> Router {
    match id {
        "createUser" => r.goal(partner::create_user),
        "listUsers" => r.goal(partner::list_users),
        "getUser" => r.goal(partner::get_user),
        "deleteUser" => r.goal(partner::delete_user),
        "listUserConnections" => r.goal(partner::user_connections),
        "deleteUserConnection" | "deleteUserConnectionPlural" => r.goal(partner::delete_connection),
        "listAllConnections" => r.goal(banks::all_connections),
        "listApiConnections" => r.goal(banks::api_connections),
        "listLegacyConnections" => r.goal(banks::legacy_connections),
        "listTestConnections" => r.goal(banks::test_connections),
        "getBankIcon" => r.goal(banks::bank_icon),
        "listClients" => r.goal(admin::list),
        "createClient" => r.goal(admin::create),
        "getClient" => r.goal(admin::show),
        "replaceClient" => r.goal(admin::replace),
        "deleteClient" => r.goal(admin::delete),
        "disableClient" => r.goal(admin::disable),
        "enableClient" => r.goal(admin::enable),
        "rotateClientSecret" => r.goal(admin::rotate_secret),
        "setClientConnectionTypes" => r.goal(admin::connection_types),
        "setClientScopes" => r.goal(admin::scopes),
        "setClientWebhook" => r.goal(admin::set_webhook),
        "removeClientWebhook" => r.goal(admin::remove_webhook),
        "listDeadWebhookEvents" => r.goal(admin_webhooks::dead),
        "redeliverWebhookEvent" => r.goal(admin_webhooks::redeliver),
        "getOpenApi" => r.goal(openapi_json),
        "getHealth" => r.goal(ops::healthz),
        "getReadiness" => r.goal(ops::readyz),
        "getMetrics" => r.goal(ops::metrics),
        other => panic!("operation {other} has no handler"),
    }
}

/// The routes of every operation: one router per path (in table order), one child per method;
/// admin operations behind `admin::guard`.
pub fn router(base_path: &str) -> Router {
    let mut paths: Vec<(String, Router)> = Vec::new();
    for op in OPERATIONS {
        let mut r = Router::with_filter(MethodFilter(op.verb.method()));
        if op.security == Security::Admin {
            r = r
                .hoop(admin::guard)
                .hoop(super::middleware::forget_clients_after_changes);
        }
        let r = goal(op.id, r);
        let path = op.full_path(base_path);
        match paths.iter_mut().find(|(p, _)| *p == path) {
            Some((_, one)) => *one = std::mem::replace(one, Router::new()).push(r),
            None => {
                let one = Router::with_path(path.trim_start_matches('/')).push(r);
                paths.push((path, one));
            }
        }
    }
    paths.into_iter().fold(
        Router::new().hoop(super::params::refuse_repeated_query),
        |root, (_, one)| root.push(one),
    )
}

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
            "enum": crate::protocol::registration::AUTH_METHODS,
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
            "required": ["id", "name", "type", "bankRef", "iconUrl", "accountTypes", "userTypes"],
            "properties": {
                "id": string,
                "name": string,
                "type": {"type": "string", "enum": ["api", "legacy", "test"]},
                "bankRef": string,
                "parentRef": {"type": "string", "deprecated": true, "description": "The same as bankRef"},
                "iconUrl": {"type": "string", "format": "uri"},
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
