//! The HTTP API on axum: the vendor's three operations, the control plane
//! under `/_sandbox/v1`, the health probes, the pages a person reads, and
//! the middleware around them. Responses are built from the generated
//! types, so server and client share one wire model.

pub(crate) mod app;
mod auth;
mod control;
mod control_request;
mod health;
mod pages;
mod problem;
pub(crate) mod record;
mod request;
mod response;
mod state;
mod vendor;
mod vendor_request;
