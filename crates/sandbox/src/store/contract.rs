//! The storage interface the API is written against. SQLite
//! (`super::sqlite`) and PostgreSQL (`super::postgres`) implement it. The
//! API's rules live above this interface: a store only keeps rows, and
//! does each write as one transaction.

use super::error::StoreFuture;
use super::limiter::Limiter;
use crate::model::control_state::{ControlCommand, ControlRefusal, ControlState};
use crate::model::keys::SecretHash;
use crate::model::org::{Org, StoredKey};
use crate::model::rate_limit::RateLimit;

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

/// One page of an organization's keys and how many it holds in all, or
/// `None` if no organization has the id asked for.
pub type KeysPage = Option<(Vec<StoredKey>, u64)>;

/// What a read found, and the store's [version](Store::version) at the
/// instant it read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned<T> {
    /// What was read.
    pub value: T,
    /// The store's version as of the read.
    pub version: i64,
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
    ) -> StoreFuture<'a, Option<StoredKey>> {
        Box::pin(async move { Ok(self.authenticate(secret_hash).await?.value.0) })
    }

    /// The key whose secret has this hash, and the control state, as of
    /// one instant, with the store's version at that instant. Backends
    /// read all three in one statement.
    fn authenticate<'a>(
        &'a self,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, Versioned<(Option<StoredKey>, ControlState)>>;

    /// The store's version: a number that every committed change of its
    /// keys, organizations or control state, by any process, moves up,
    /// and that nothing else moves. Two reads that find the same version
    /// saw the same data, so whatever was read at a version may be used
    /// again for as long as the store still reports it.
    fn version(&self) -> StoreFuture<'_, i64>;

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
    /// and how many keys it holds in all, read at one instant; `None` if no
    /// organization has this id.
    fn list_keys<'a>(
        &'a self,
        org_id: &'a str,
        offset: u64,
        limit: u64,
    ) -> StoreFuture<'a, KeysPage> {
        Box::pin(async move { Ok(self.read_page(org_id, offset, limit).await?.value) })
    }

    /// [`list_keys`](Self::list_keys) with the store's version at the
    /// instant of the read.
    fn read_page<'a>(
        &'a self,
        org_id: &'a str,
        offset: u64,
        limit: u64,
    ) -> StoreFuture<'a, Versioned<KeysPage>>;

    /// One page of the organizations ordered by name then id, each with
    /// how many keys it holds, and how many organizations there are in
    /// all, read at one instant.
    fn list_orgs(&self, offset: u64, limit: u64) -> StoreFuture<'_, (Vec<(Org, u64)>, u64)>;

    /// Deletes a key of the organization if `caller` still may; `false` if
    /// the organization has no such key.
    fn delete_key<'a>(
        &'a self,
        caller: Acting<'a>,
        org_id: &'a str,
        key_id: &'a str,
    ) -> StoreFuture<'a, Write<bool>>;

    /// Stores every organization with its keys, in one transaction: all of
    /// them, or with [`StoreError::SecretTaken`](super::error::StoreError::SecretTaken) or any other error, none.
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
        _per_key: Option<RateLimit>,
        _per_org: Option<RateLimit>,
    ) -> Option<Box<dyn Limiter>> {
        None
    }
}
