//! The table of REST operations: each route, what it takes and what it answers, in the
//! document's order.

use super::*;

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
        name: "grant_id",
        description: "One of the user's grants to the calling client (`grantId`)",
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

const HANDOUT_QUERY: &[Param] = &[
    Param {
        name: "client_id",
        description: "Only this client's entries",
        schema: r#"{"type": "string"}"#,
        example: "",
    },
    Param {
        name: "connection_id",
        description: "Only this connection's entries",
        schema: r#"{"type": "string"}"#,
        example: "",
    },
    Param {
        name: "limit",
        description: "At most this many entries (1–500; anything else is 400)",
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

const ICON_HEADERS: &[Header] = &[
    Header {
        name: "ETag",
        description: "Strong tag: the base64url SHA-256 of the icon, in quotes",
        schema: r#"{"type": "string"}"#,
    },
    Header {
        name: "Cache-Control",
        description: "`no-cache`: keep it, but revalidate before each use",
        schema: r#"{"type": "string", "enum": ["no-cache"]}"#,
    },
];

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
        id: "listUserGrants",
        path: "/users/{user_id}/grants",
        tag: "grants",
        summary: "List the user's live grants to the calling client, with their budgets",
        security: Security::Scope("user:read"),
        answers: &[list(200, "The user's grants", "Grant"), NO_USER],
        ..OP
    },
    Operation {
        id: "setGrantBudget",
        verb: Verb::Put,
        path: "/users/{user_id}/grants/{grant_id}/budget",
        tag: "grants",
        summary: "Set the budget of one of the user's grants",
        description: "A limit of calls or of an amount (minor units) per UTC day, week, month \
                      or in all. What the current period spent is kept when the unit and \
                      period stay the same.",
        security: Security::Scope("user:create"),
        request: Some(RequestBody {
            body: Body::Json("BudgetSet"),
            required: true,
            description: "The budget",
        }),
        answers: &[
            json(200, "The budget as it now stands", "Budget"),
            BAD_REQUEST,
            error(404, "No such user or grant (`not_found`)"),
        ],
        ..OP
    },
    Operation {
        id: "removeGrantBudget",
        verb: Verb::Delete,
        path: "/users/{user_id}/grants/{grant_id}/budget",
        tag: "grants",
        summary: "Remove the budget of one of the user's grants",
        description: "The grant then spends without limit. Removing a budget the grant does \
                      not have succeeds alike (DELETE is idempotent, RFC 9110 section 9.3.5).",
        security: Security::Scope("user:create"),
        answers: &[
            empty(204, "Removed, or there was none"),
            error(404, "No such user or grant (`not_found`)"),
        ],
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
    Operation {
        id: "getConnectionToken",
        path: "/users/{user_id}/connections/{connection_id}/token",
        tag: "connections",
        summary: "A working access token of the connection's institution",
        description: "For connections to institutions with their own authorization server: \
                      the institution's access token, refreshed first when it has expired or \
                      expires within 60 seconds (one refresh at a time per connection). Every \
                      answer is recorded in the audit log (`GET /admin/token-handouts`). 403 \
                      `access_denied` when the institution forbids hand-out.",
        security: Security::Scope("connections:token"),
        answers: &[
            json(200, "The institution's token", "UpstreamToken"),
            error(404, "No such user or connection (`not_found`)"),
            error(
                409,
                "The connection holds no institution tokens, or needs reauthorisation \
                 (`invalid_request`)",
            ),
            error(
                502,
                "The institution refused the refresh (`invalid_grant`); the connection needs \
                 reauthorisation",
            ),
            error(
                503,
                "The institution's server could not be used (`temporarily_unavailable`)",
            ),
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
        description: "Revalidated on every use (`Cache-Control: no-cache`) against a strong \
                      `ETag`, the SHA-256 of the icon: send it back in `If-None-Match` and an \
                      unchanged icon answers 304 without a body (RFC 9110 §13.1.2); a changed \
                      one (a reloaded plugin) answers 200 with its new tag.",
        query: ICON_QUERY,
        answers: &[
            Answer {
                status: 200,
                description: "The icon",
                body: Body::Media("image/svg+xml"),
                headers: ICON_HEADERS,
            },
            Answer {
                status: 304,
                description: "`If-None-Match` names the current icon's tag (or is `*`)",
                body: Body::None,
                headers: ICON_HEADERS,
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
    // The audit log of upstream token hand-outs.
    Operation {
        id: "listTokenHandouts",
        path: "/admin/token-handouts",
        tag: "connections",
        summary: "The audit log of upstream token hand-outs and refusals, newest first",
        security: Security::Admin,
        query: HANDOUT_QUERY,
        answers: &[json(200, "The entries", "TokenHandoutList"), BAD_REQUEST],
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
