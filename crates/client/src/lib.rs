//! Rust client for the Alphamoon Workspace organization API keys API.
//!
//! The [`Client`], its request builders and every type in [`types`] are
//! generated at build time by [progenitor] from `alphamoon-workspace.json`,
//! the published rendering of the project's hand-written OpenAPI spec. The
//! hand-written part of this crate is small: [`Client::from_api_key`] and
//! [`Client::builder`] set up authentication, the base URL, timeouts and
//! TLS.
//!
//! ```no_run
//! use alphamoon_client::{Client, types};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::from_api_key("your_api_key_here")?;
//!
//! let page = client.list_api_keys().limit(10).send().await?;
//! for key in &page.api_keys {
//!     println!("{} {} {}", key.id.as_str(), key.name.as_str(), key.status);
//! }
//!
//! let created = client
//!     .create_api_key()
//!     .body(
//!         types::CreateApiKeyRequest::builder()
//!             .name("CI uploader")
//!             .exp(chrono::Utc::now() + chrono::Duration::days(90))
//!             .scopes(vec![types::Scope::WorkspaceFileUpload]),
//!     )
//!     .send()
//!     .await?;
//! client.delete_api_key().api_key_id(created.id.clone()).send().await?;
//! # Ok(())
//! # }
//! ```
//!
//! [progenitor]: https://github.com/oxidecomputer/progenitor
#![deny(missing_docs)]

mod config;

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
pub use generated::{
    ByteStream, Client, ClientInfo, DEFAULT_BASE_URL, Error, ResponseValue, builder, prelude, types,
};
