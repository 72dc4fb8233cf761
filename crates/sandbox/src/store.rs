//! The storage interface the API is written against. SQLite implements it
//! (`crate::sqlite`); a PostgreSQL backend can implement the same trait.

use std::fmt;

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
    /// Scope wire values, in the order given at creation.
    pub scopes: Vec<String>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Expiry time, Unix seconds.
    pub exp: i64,
}

/// A failure of the storage backend. Its text is logged, never sent to
/// clients.
#[derive(Debug)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "storage error: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// The key a write is made for, and the time it is made at. The store
/// checks, in the write's own transaction, that this key still exists and
/// has not expired: a request authenticated before its key was deleted
/// (its body still arriving, say) must not act after the delete.
#[derive(Clone, Copy, Debug)]
pub struct Acting<'a> {
    /// The calling key's id.
    pub key_id: &'a str,
    /// Now, Unix seconds.
    pub now: i64,
}

/// What a write made for a caller came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write<T> {
    /// The write happened; its result.
    Done(T),
    /// Nothing was written: the calling key was deleted or expired after
    /// the request was authenticated.
    CallerGone,
}

/// What the API needs from storage. Every method is a short synchronous
/// call; writes are durable when they return.
pub trait Store: Send + Sync + 'static {
    /// Whether the store holds no organization yet.
    fn is_empty(&self) -> Result<bool, StoreError>;

    /// Adds an organization together with its first key, in one
    /// transaction: an organization nobody holds a key to is never stored,
    /// whenever the process is stopped.
    fn create_org(
        &self,
        org: &Org,
        first_key: &StoredKey,
        secret_hash: &SecretHash,
    ) -> Result<(), StoreError>;

    /// Adds a key under its organization, with the hash of its secret, as
    /// the server itself (a bootstrap, a fixture): no caller to check.
    fn insert_key(&self, key: &StoredKey, secret_hash: &SecretHash) -> Result<(), StoreError>;

    /// Adds a key as [`insert_key`](Self::insert_key) does, if `caller`
    /// still may.
    fn insert_key_as(
        &self,
        caller: Acting<'_>,
        key: &StoredKey,
        secret_hash: &SecretHash,
    ) -> Result<Write<()>, StoreError>;

    /// The key whose secret has this hash: the authentication lookup.
    fn key_by_secret_hash(&self, secret_hash: &SecretHash)
    -> Result<Option<StoredKey>, StoreError>;

    /// One page of an organization's keys ordered by creation time then id,
    /// and how many keys it holds in all.
    fn list_keys(
        &self,
        org_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<StoredKey>, u64), StoreError>;

    /// Deletes a key of the organization if `caller` still may; `false` if
    /// the organization has no such key.
    fn delete_key(
        &self,
        caller: Acting<'_>,
        org_id: &str,
        key_id: &str,
    ) -> Result<Write<bool>, StoreError>;
}
