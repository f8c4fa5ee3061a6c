//! The Rhai host for institution scripts: a hardened engine, the plugin API and a registry
//! that hot-reloads `plugins/`.

pub mod call;
pub mod host;
pub mod host_fn;
pub mod host_io;
pub mod host_storage;
pub mod hosts;
pub mod http_stub;
pub mod institution;
pub mod journey;
pub mod lint;
pub mod plugin;
pub mod reference;
pub mod registry;
pub mod rehearsal;
pub mod sandbox;
pub mod shipped;

pub use institution::{ConnectionType, Institution};
pub use journey::{
    Action, FailureReport, Field, Form, HookFailure, JourneyKind, Message, OAuthStart, UpstreamAuth,
};
pub use plugin::{Plugin, PluginError};
pub use registry::{Catalog, Registry, ReloadEvent};
