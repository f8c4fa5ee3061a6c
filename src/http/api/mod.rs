//! The REST API beside the OIDC protocol — partner users and connections, client
//! administration, webhook dead letters, the bank lists and icons, operations — as ONE table.
//! The router is built from `OPERATIONS` and so is the OpenAPI 3.1 document
//! (`GET /openapi.json`, committed as `docs/openapi.json`): a route cannot exist without its
//! entry, and the document cannot name a route the router lacks.

mod openapi;
mod operations;

pub use openapi::document;
pub use operations::{OPERATIONS, PATH_PARAMS};

use super::{admin, admin_webhooks, banks, ops, partner};
use salvo::http::Method;
use salvo::prelude::*;
use salvo::routing::filters::MethodFilter;

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
        "listUserGrants" => r.goal(partner::user_grants),
        "setGrantBudget" => r.goal(partner::set_budget),
        "removeGrantBudget" => r.goal(partner::remove_budget),
        "deleteUserConnection" | "deleteUserConnectionPlural" => r.goal(partner::delete_connection),
        "getConnectionToken" => r.goal(partner::connection_token),
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
        "listTokenHandouts" => r.goal(admin_webhooks::token_handouts),
        "getOpenApi" => r.goal(openapi::openapi_json),
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
            r = r.hoop(admin::guard);
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
