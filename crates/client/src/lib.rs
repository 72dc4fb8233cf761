//! Rust client for the Alphamoon Workspace organization API keys API.
//!
//! The [`Client`], its request builders and every type in [`types`] are
//! generated at build time by [progenitor] from `alphamoon-workspace.json`,
//! the published rendering of the project's hand-written OpenAPI spec. So
//! are [`Scope`], [`ScopeGroup`] and [`ApiKeyStatus`], as *open* enums: a
//! value newer than this client deserializes to `Unknown` instead of
//! failing, and serializes back unchanged.
//!
//! The hand-written layer is small:
//!
//! - [`Client::from_api_key`] and [`Client::builder`]: authentication, base
//!   URL, timeouts (defaults [`DEFAULT_TIMEOUT`] per attempt and
//!   [`DEFAULT_CONNECT_TIMEOUT`]), TLS, and the [`RetryPolicy`];
//! - retries of idempotent requests and a `tracing` event per attempt
//!   (operation, method, path, status, duration; never a header);
//! - [`Client::list_all_api_keys`], a stream over every page, and
//!   [`Client::rotate_api_key`], which replaces a key safely;
//! - [`Error`], what every call's failure converts to with `?`;
//! - [`ApiKeySecret`], which keeps the one-time secret out of `Debug`.
//!
//! # Example
//!
//! Create a key, list every key, delete the new one:
//!
//! ```no_run
//! use alphamoon_client::{Client, Error, Scope, StatusCode, types};
//! use futures_util::TryStreamExt as _;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::from_api_key(&std::env::var("ALPHAMOON_API_KEY")?)?;
//!
//! let created = client
//!     .create_api_key()
//!     .body(
//!         types::CreateApiKeyRequest::builder()
//!             .name("CI uploader")
//!             .exp(chrono::Utc::now() + chrono::Duration::days(90))
//!             .scopes(vec![Scope::WorkspaceFileUpload, Scope::WorkspaceFileDownload]),
//!     )
//!     .send()
//!     .await
//!     .map_err(Error::from)?
//!     .into_inner();
//! // Shown once: store it now.
//! let secret: &str = created.key.expose_secret();
//! # let _ = secret;
//!
//! let keys: Vec<types::ApiKey> = client.list_all_api_keys(100).try_collect().await?;
//! for key in &keys {
//!     println!("{} {} {} expires {}", key.id.as_str(), key.name.as_str(), key.status, key.exp);
//! }
//!
//! match client.delete_api_key().api_key_id(created.id.clone()).send().await {
//!     Ok(_) => println!("deleted {}", created.id.as_str()),
//!     Err(e) => match Error::from(e) {
//!         e if e.status() == Some(StatusCode::NOT_FOUND) => println!("already gone"),
//!         e => return Err(e.into()),
//!     },
//! }
//! # Ok(())
//! # }
//! ```
//!
//! [progenitor]: https://github.com/oxidecomputer/progenitor
#![deny(missing_docs)]

mod config;
mod error;
mod hooks;
mod open_enum;
mod paginate;
mod rotate;
mod secret;

// The generated code documents what the spec describes; it is not held to
// this crate's lints.
#[allow(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::restriction
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/codegen.rs"));
}

pub use config::{BuildError, ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, USER_AGENT};
pub use error::{Error, RawError};
pub use generated::{
    ApiKeyStatus, ByteStream, Client, ClientInfo, DEFAULT_BASE_URL, ResponseValue, Scope,
    ScopeGroup, builder, prelude, types,
};
pub use hooks::{ClientState, RetryPolicy};
pub use open_enum::UnknownValue;
pub(crate) use open_enum::open_enum_impls;
pub use reqwest::StatusCode;
pub use rotate::{RotateError, Rotation};
pub use secret::ApiKeySecret;

/// The OpenAPI document this client is generated from, as published (the
/// JSON rendering of the hand-written spec). The sandbox serves its
/// reference page from it; a program can serve or inspect it too.
pub const OPENAPI_JSON: &str = include_str!("../alphamoon-workspace.json");
