//! `alphamoon-sandbox`: a stateful reference server for the Alphamoon
//! Workspace organization API keys API, on embedded SQLite or, for several
//! processes sharing one truth, on PostgreSQL.
//!
//! It follows the project's OpenAPI spec, enforces Basic auth and scopes
//! like the real service, and keeps its state, so that the client, the CLI
//! and other languages' generated clients are tested against a real peer on
//! loopback.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use alphamoon_sandbox::{Sandbox, Settings};
//!
//! let sandbox = Sandbox::start_in_memory(Settings::default()).await?;
//! let (org, admin_key) = sandbox.create_org("Acme").await?;
//! let client = alphamoon_client::Client::builder(&admin_key)
//!     .base_url(&sandbox.url())
//!     .build()?;
//! # let _ = (org, client);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

// The layers, lowest first: each module imports only from those above it
// in this list (`cargo xtask check` holds them to it).
pub mod control_client;
mod http;
mod model;
mod server;
mod service;
pub mod store;

pub use http::app::{app, router};
pub use http::record::DroppedConnection;
pub use model::clock::ClockMove;
pub use model::fixtures::MAX_FIXTURES_BYTES;
pub use model::org::ADMIN_KEY_LIFETIME;
pub use model::rate_limit::RateLimit;
pub use model::refusal::{Refusal, RefusalKind};
pub use model::settings::{
    ADMIN_SCOPE, ConnectionLimits, ControlToken, DEFAULT_JOURNAL_SIZE, Settings,
};
pub use model::{clock, faults, keys};
pub use server::{Sandbox, ShutdownError};
pub use service::control_error::ControlError;
pub use service::controls::Controls;
pub use service::fixtures::load_fixtures;
pub use service::journal::JournalQuery;
pub use service::orgs::{create_first_org, create_org, issue_key, seed_keys};
pub use store::limiter::{Limiter, Verdict};
pub use store::postgres::{self, PgStore};
pub use store::sqlite::{self, SqliteStore};
pub use store::{Org, Store, StoreError, StoreFuture, StoredKey};
