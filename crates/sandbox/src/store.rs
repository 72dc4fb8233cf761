//! The storage interface the API is written against. SQLite
//! (`crate::sqlite`) and PostgreSQL (`crate::postgres`) implement it. The
//! API's rules live in the handlers, above this interface: a store only
//! keeps rows, and does each write as one transaction.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use alphamoon_client::Scope;

pub use crate::control_state::{ControlCommand, ControlRefusal, ControlState, MAX_FAULTS};
use crate::keys::SecretHash;

/// An organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Org {
    /// The `orgId` keys carry.
    pub id: String,
    /// A human-readable name.
    pub name: String,
}

/// A stored key. The secret itself is never stored, only its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    /// 32 lowercase hex digits.
    pub id: String,
    /// The owning organization's id.
    pub org_id: String,
    /// The label given at creation.
    pub name: String,
    /// Its scopes, in the order given at creation.
    pub scopes: Vec<Scope>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Expiry time, Unix seconds.
    pub exp: i64,
}

/// A failure of the storage backend. Its text is logged, never sent to
/// clients.
#[derive(Clone, Debug)]
pub enum StoreError {
    /// The database cannot be reached or is busy: the same request may
    /// succeed later, and clients are told so (503 with `Retry-After`).
    Unavailable(String),
    /// A write would store a secret that another key already has (only a
    /// fixture can fix a secret in advance).
    SecretTaken,
    /// Anything else.
    Failed(String),
}

impl StoreError {
    /// A failure that retrying will not cure.
    pub fn failed(error: impl fmt::Display) -> Self {
        Self::Failed(error.to_string())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(message) => write!(f, "database unavailable: {message}"),
            Self::SecretTaken => f.write_str("a key with this secret is already stored"),
            Self::Failed(message) => write!(f, "storage error: {message}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The key a write is made for. The store checks, in the write's own
/// transaction, that this key still exists and has not expired by the
/// sandbox clock as it stands in that transaction: a request authenticated
/// before its key was deleted (its body still arriving, say), or before the
/// clock was moved past its key's `exp` (a delay fault holding it), must
/// not act after that.
#[derive(Clone, Copy, Debug)]
pub struct Acting<'a> {
    /// The calling key's id.
    pub key_id: &'a str,
}

/// What a write made for a caller came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write<T> {
    /// The write happened; its result.
    Done(T),
    /// Nothing was written: the calling key was deleted or expired after
    /// the request was authenticated.
    CallerGone,
    /// Nothing was written: by the sandbox clock in the write's
    /// transaction, the new key's `exp` had already come (the clock was
    /// moved while the request was under way).
    BornExpired,
}

/// An organization to store together with its keys, the first of which is
/// its admin key.
#[derive(Clone, Debug)]
pub struct SeededOrg {
    /// The organization.
    pub org: Org,
    /// Its keys with the hashes of their secrets, the admin key first.
    pub keys: Vec<(StoredKey, SecretHash)>,
}

impl ControlState {
    /// The state as a backend reads it from its one text column; no row is
    /// the default state.
    pub(crate) fn from_column(column: Option<&str>) -> Result<Self, StoreError> {
        match column {
            None => Ok(Self::default()),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| StoreError::Failed(format!("unreadable control state: {e}"))),
        }
    }

    /// The text a backend keeps.
    pub(crate) fn to_column(&self) -> String {
        serde_json::to_string(self).expect("the control state serializes")
    }
}

/// What a store call resolves to.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// What the API needs from storage. Writes are durable when their future
/// resolves. A future dropped before it resolves may or may not have
/// written, but never half of a write.
pub trait Store: Send + Sync + 'static {
    /// Adds a key under its organization, with the hash of its secret, as
    /// the server itself (a fixture, a test): no caller to check.
    fn insert_key<'a>(
        &'a self,
        key: &'a StoredKey,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, ()>;

    /// Adds a key as [`insert_key`](Self::insert_key) does, if `caller`
    /// still may, and if the key's `exp` is still ahead. Its `created_at`
    /// is the sandbox clock's now in the write's transaction, whatever
    /// `key` says, so that a key made later never lists before one made
    /// earlier; resolves to that time.
    fn insert_key_as<'a>(
        &'a self,
        caller: Acting<'a>,
        key: &'a StoredKey,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, Write<i64>>;

    /// The key whose secret has this hash: the authentication lookup.
    fn key_by_secret_hash<'a>(
        &'a self,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, Option<StoredKey>>;

    /// The key whose secret has this hash, and the control state, as of
    /// one instant: the one read every request makes. Backends read both
    /// in one statement.
    fn authenticate<'a>(
        &'a self,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, (Option<StoredKey>, ControlState)> {
        Box::pin(async move {
            let key = self.key_by_secret_hash(secret_hash).await?;
            Ok((key, self.control_state().await?))
        })
    }

    /// The control state: the clock's setting and the active faults.
    fn control_state(&self) -> StoreFuture<'_, ControlState>;

    /// Applies `command` to the control state with
    /// [`ControlState::apply`], in one transaction under the store's write
    /// lock, so that changes from every process on the store apply one
    /// after the other, and writes the state if it changed. Resolves to
    /// what `apply` answered, and the state after.
    fn update_control(
        &self,
        command: ControlCommand,
    ) -> StoreFuture<'_, (Result<bool, ControlRefusal>, ControlState)>;

    /// One page of an organization's keys ordered by creation time then id,
    /// and how many keys it holds in all, read at one instant.
    fn list_keys<'a>(
        &'a self,
        org_id: &'a str,
        offset: u64,
        limit: u64,
    ) -> StoreFuture<'a, (Vec<StoredKey>, u64)>;

    /// Deletes a key of the organization if `caller` still may; `false` if
    /// the organization has no such key.
    fn delete_key<'a>(
        &'a self,
        caller: Acting<'a>,
        org_id: &'a str,
        key_id: &'a str,
    ) -> StoreFuture<'a, Write<bool>>;

    /// Stores every organization with its keys, in one transaction: all of
    /// them, or with [`StoreError::SecretTaken`] or any other error, none.
    /// So an organization nobody holds a key to is never stored, whenever
    /// the process is stopped. With `only_into_empty`, only if the store
    /// holds no organization yet (`false` if it did, and nothing was
    /// stored); of several processes that try at once, exactly one
    /// succeeds: the bootstrap and `--fixtures`.
    fn add_orgs<'a>(
        &'a self,
        orgs: &'a [SeededOrg],
        only_into_empty: bool,
    ) -> StoreFuture<'a, bool>;

    /// Deletes every organization and key, returns the control state to
    /// its default (and, where the store keeps them, clears the rate-limit
    /// allowances), at once for every process on it.
    fn reset(&self) -> StoreFuture<'_, ()>;

    /// Adds many filler keys in as few transactions as the backend likes,
    /// for load tests and large demo stores.
    fn bulk_insert<'a>(&'a self, keys: &'a [(StoredKey, SecretHash)]) -> StoreFuture<'a, ()>;

    /// The rate limiter that shares its state with every process on this
    /// store, if the backend keeps one; `None` means each process limits
    /// on its own.
    fn shared_limiter(
        &self,
        _per_key: Option<crate::RateLimit>,
        _per_org: Option<crate::RateLimit>,
    ) -> Option<Box<dyn crate::ratelimit::Limiter>> {
        None
    }
}

/// The columns both backends read a key from, in [`StoredKey`]'s order.
pub(crate) const KEY_COLUMNS: &str = "id, org_id, name, scopes, created_at, exp";

/// The refusal of a database whose schema a newer sandbox wrote: this one
/// cannot know what the newer migrations changed.
pub(crate) fn schema_too_new(found: usize, known: usize) -> StoreError {
    StoreError::Failed(format!(
        "the database has schema version {found}, newer than this sandbox's {known}; \
         run a newer alphamoon-sandbox"
    ))
}

/// How both backends keep a key's scopes in one column: wire values
/// separated by spaces (no scope contains one).
pub(crate) fn scopes_to_column(scopes: &[Scope]) -> String {
    let mut column = String::new();
    for scope in scopes {
        if !column.is_empty() {
            column.push(' ');
        }
        column.push_str(scope.as_str());
    }
    column
}

/// The inverse of [`scopes_to_column`].
pub(crate) fn scopes_from_column(column: &str) -> Vec<Scope> {
    // Split on the one byte the column is written with: a list page parses
    // thousands of scopes, and Unicode whitespace costs a decode per char.
    column
        .split(' ')
        .filter(|scope| !scope.is_empty())
        .map(Scope::from)
        .collect()
}
