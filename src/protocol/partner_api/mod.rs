//! The REST APIs beside OAuth: the partner API (a client's own users and their bank
//! connections) and the operator's administration (paging, dead webhook events). Client
//! management itself is `protocol::clients`.

pub mod admin;
pub mod partner;
