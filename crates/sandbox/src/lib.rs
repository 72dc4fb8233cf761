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

mod api;
pub mod clock;
mod control;
pub mod control_client;
mod control_state;
pub mod faults;
mod fixtures;
mod journal;
pub mod keys;
pub mod postgres;
mod postgres_tls;
mod ratelimit;
mod redact;
mod server;
pub mod sqlite;
pub mod store;

use std::time::Duration;

use alphamoon_client::Scope;
use chrono::{DateTime, Utc};

pub use api::{
    ADMIN_SCOPE, ControlToken, DEFAULT_JOURNAL_SIZE, DroppedConnection, Settings, app, router,
};
pub use clock::ClockMove;
pub use control::{ControlError, Controls};
pub use journal::JournalQuery;
pub use postgres::PgStore;
pub use ratelimit::{Limiter, RateLimit, Verdict};
pub use server::{ConnectionLimits, Sandbox, ShutdownError};
pub use sqlite::SqliteStore;
pub use store::{Org, Store, StoreError, StoreFuture, StoredKey};

/// The largest fixtures document the sandbox reads, in bytes, from a file
/// or as the body of `loadFixtures`: room for thousands of keys, loaded in
/// one transaction.
pub const MAX_FIXTURES_BYTES: usize = 1024 * 1024;

/// How long the first admin key of a new organization lives.
pub const ADMIN_KEY_LIFETIME: Duration = Duration::from_secs(365 * 86_400);

/// Creates an organization and its first admin key, which holds every
/// scope. Returns the organization and the key's secret, which exists
/// nowhere else. The name has the limits of a key's name (1 to 255
/// characters, none of them control characters).
pub async fn create_org(store: &dyn Store, name: &str) -> Result<(Org, String), ControlError> {
    let secret = keys::new_secret().map_err(api::Problem::from)?;
    let now = crate::clock::now_in(store).await?;
    let (org, admin) = new_org(name, now)?;
    store
        .add_orgs(&[seeded(&org, admin, &secret)], false)
        .await?;
    Ok((org, secret))
}

/// Creates an organization whose first admin key, holding every scope, is
/// `secret`, if the store holds no organization yet: the bootstrap of a
/// fresh database, which several processes may try at once. `None` if the
/// store already had one (and `secret` was not stored).
pub async fn create_first_org(
    store: &dyn Store,
    name: &str,
    secret: &str,
) -> Result<Option<Org>, ControlError> {
    let now = crate::clock::now_in(store).await?;
    let (org, admin) = new_org(name, now)?;
    let created = store.add_orgs(&[seeded(&org, admin, secret)], true).await?;
    Ok(created.then_some(org))
}

/// `org` with `admin` as its only key, whose secret is `secret`.
fn seeded(org: &Org, admin: StoredKey, secret: &str) -> store::SeededOrg {
    store::SeededOrg {
        org: org.clone(),
        keys: vec![(admin, keys::hash(secret))],
    }
}

/// The last second any stored instant may hold: the end of the year 9999,
/// after which a date has five digits of year, which RFC 3339 cannot write
/// and strict clients cannot read.
const LAST_SECOND: i64 = clock::LATEST / 1000;

/// A new organization with a fresh id, and its first admin key. Every way
/// an organization is made comes here, so that each meets its rules: a
/// name with the limits of a key's name, and an admin key whose expiry
/// can be written.
pub(crate) fn new_org(name: &str, now: DateTime<Utc>) -> Result<(Org, StoredKey), api::Problem> {
    let name = api::validate::org_name(name)?;
    let exp = now
        .timestamp()
        .saturating_add(ADMIN_KEY_LIFETIME.as_secs() as i64);
    if exp > LAST_SECOND {
        return Err(api::Problem::new(
            axum::http::StatusCode::CONFLICT,
            format!(
                "The sandbox clock stands at {}: an admin key made now would expire after the \
                 year 9999. Reset the sandbox to bring the clock back.",
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        ));
    }
    let suffix = keys::random_hex(10)?;
    let org = Org {
        id: format!("ORG:sandbox|{suffix}"),
        name: name.to_string(),
    };
    let admin = new_key(&org.id, "admin", Scope::ALL, now, exp)?;
    Ok((org, admin))
}

/// Stores a new key for `org_id` directly, bypassing the API's checks (an
/// `exp` in the past makes an expired key; one after the year 9999 is
/// refused). Returns it with its secret.
pub async fn issue_key(
    store: &dyn Store,
    org_id: &str,
    name: &str,
    scopes: &[Scope],
    exp: i64,
) -> Result<(StoredKey, String), ControlError> {
    let secret = keys::new_secret().map_err(api::Problem::from)?;
    let now = crate::clock::now_in(store).await?;
    let key = new_key(org_id, name, scopes, now, exp)?;
    store.insert_key(&key, &keys::hash(&secret)).await?;
    Ok((key, secret))
}

/// A key made now, with a fresh id; refused if `exp` falls after the year
/// 9999.
pub(crate) fn new_key(
    org_id: &str,
    name: &str,
    scopes: &[Scope],
    now: DateTime<Utc>,
    exp: i64,
) -> Result<StoredKey, api::Problem> {
    if exp > LAST_SECOND {
        return Err(api::Problem::bad_request(
            "exp",
            "`exp` must be in the year 9999 or earlier, in UTC.",
        ));
    }
    Ok(StoredKey {
        id: keys::new_id()?,
        org_id: org_id.to_owned(),
        name: name.to_owned(),
        scopes: scopes.to_vec(),
        created_at: now.timestamp(),
        exp,
    })
}

/// Validates a fixtures document (the body of the control plane's
/// `loadFixtures`, or a `--fixtures` file read as JSON) and stores it in one
/// transaction; with `only_into_empty`, only into a store that holds no
/// organization yet (`None` if it did). Returns the answer `loadFixtures`
/// gives: every organization's id and admin key, and every key's id and
/// secret.
pub async fn load_fixtures(
    store: &dyn Store,
    document: &serde_json::Value,
    only_into_empty: bool,
) -> Result<Option<serde_json::Value>, String> {
    let loaded = fixtures::load_fixtures(store, document, only_into_empty)
        .await
        .map_err(|problem| problem.detail().to_owned())?;
    loaded
        .map(|loaded| serde_json::to_value(loaded).map_err(|e| e.to_string()))
        .transpose()
}

/// Adds `count` filler keys to `org_id` in bulk, for load tests and large
/// demo stores. Their secrets are never made (each stores a random hash),
/// so they can be listed and deleted but never authenticate.
pub async fn seed_keys(store: &dyn Store, org_id: &str, count: usize) -> Result<(), ControlError> {
    const BATCH: usize = 10_000;
    let now = crate::clock::now_in(store).await?;
    let exp = now
        .timestamp()
        .saturating_add(ADMIN_KEY_LIFETIME.as_secs() as i64);
    // The same rule as every key made by the server.
    new_key(org_id, "filler", &[], now, exp)?;
    let mut done = 0;
    while done < count {
        let batch = BATCH.min(count - done);
        let mut rows = Vec::with_capacity(batch);
        for i in 0..batch {
            let mut hash = [0u8; 32];
            getrandom::fill(&mut hash).map_err(api::Problem::from)?;
            let key = StoredKey {
                id: keys::new_id().map_err(api::Problem::from)?,
                org_id: org_id.to_owned(),
                name: format!("seeded key {}", done + i + 1),
                scopes: vec![Scope::WorkspaceFileUpload],
                created_at: now.timestamp(),
                exp,
            };
            rows.push((key, hash));
        }
        store.bulk_insert(&rows).await?;
        done += batch;
    }
    Ok(())
}
