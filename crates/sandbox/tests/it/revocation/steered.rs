//! A store for the revocation tests that shows the test where requests
//! are, and holds them there.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use alphamoon_sandbox::keys::SecretHash;
use alphamoon_sandbox::store::{
    Acting, ControlCommand, ControlRefusal, ControlState, KeysPage, Versioned, Write,
};
use alphamoon_sandbox::{Org, Store, StoreFuture, StoredKey};
use tokio::sync::{mpsc, watch};

use crate::support;

/// A store that shows the test where requests are and holds them there:
/// each authentication lookup reports the id of the key it found, and
/// deletes, once committed, wait until the test releases them, so that
/// their answer comes late for certain, not merely after a guessed time.
pub(super) struct Steered {
    inner: Arc<dyn Store>,
    found: mpsc::UnboundedSender<String>,
    release: watch::Receiver<bool>,
    /// The version this store reports: a new one at every read, so that
    /// the sandbox's read model never answers from memory and every
    /// request's lookup reaches this store, where the test sees it.
    versions: AtomicI64,
}

/// The test's side of a [`Steered`] store.
pub(super) struct Steering {
    /// The id of each key an authentication lookup found, in order.
    found: mpsc::UnboundedReceiver<String>,
    /// Committed deletes go on answering once this is `true`.
    release: watch::Sender<bool>,
}

impl Steered {
    /// A store on `inner` whose deletes hold after their commit unless
    /// `hold_deletes` is false.
    pub(super) fn new(inner: Arc<dyn Store>, hold_deletes: bool) -> (Self, Steering) {
        let (found_tx, found) = mpsc::unbounded_channel();
        let (release, release_rx) = watch::channel(!hold_deletes);
        let store = Self {
            inner,
            found: found_tx,
            release: release_rx,
            versions: AtomicI64::new(0),
        };
        (store, Steering { found, release })
    }

    fn next_version(&self) -> i64 {
        self.versions.fetch_add(1, Ordering::Relaxed)
    }
}

impl Steering {
    /// Waits until a request has been authenticated with the key `key_id`:
    /// its lookup found the key, so the request goes on as that key.
    pub(super) async fn authenticated(&mut self, key_id: &str) {
        let found = &mut self.found;
        tokio::time::timeout(support::PATIENCE, async {
            while let Some(id) = found.recv().await {
                if id == key_id {
                    return;
                }
            }
            panic!("the store went away");
        })
        .await
        .unwrap_or_else(|_| panic!("no request was authenticated with key {key_id}"));
    }

    /// Lets held deletes answer.
    pub(super) fn release_deletes(&self) {
        self.release.send_replace(true);
    }
}

impl Store for Steered {
    fn insert_key<'a>(&'a self, key: &'a StoredKey, hash: &'a SecretHash) -> StoreFuture<'a, ()> {
        self.inner.insert_key(key, hash)
    }
    fn authenticate<'a>(
        &'a self,
        hash: &'a SecretHash,
    ) -> StoreFuture<'a, Versioned<(Option<StoredKey>, ControlState)>> {
        Box::pin(async move {
            let found = self.inner.authenticate(hash).await?;
            if let Some(key) = &found.value.0 {
                // The test may have stopped listening; that is its choice.
                let _ = self.found.send(key.id.clone());
            }
            Ok(Versioned {
                version: self.next_version(),
                ..found
            })
        })
    }
    fn version(&self) -> StoreFuture<'_, i64> {
        Box::pin(async move {
            self.inner.version().await?;
            Ok(self.next_version())
        })
    }
    fn read_page<'a>(
        &'a self,
        org_id: &'a str,
        offset: u64,
        limit: u64,
    ) -> StoreFuture<'a, Versioned<KeysPage>> {
        Box::pin(async move {
            let page = self.inner.read_page(org_id, offset, limit).await?;
            Ok(Versioned {
                version: self.next_version(),
                ..page
            })
        })
    }
    fn list_orgs(&self, offset: u64, limit: u64) -> StoreFuture<'_, (Vec<(Org, u64)>, u64)> {
        self.inner.list_orgs(offset, limit)
    }
    fn insert_key_as<'a>(
        &'a self,
        caller: Acting<'a>,
        key: &'a StoredKey,
        hash: &'a SecretHash,
    ) -> StoreFuture<'a, Write<i64>> {
        self.inner.insert_key_as(caller, key, hash)
    }
    fn delete_key<'a>(
        &'a self,
        caller: Acting<'a>,
        org_id: &'a str,
        key_id: &'a str,
    ) -> StoreFuture<'a, Write<bool>> {
        Box::pin(async move {
            let deleted = self.inner.delete_key(caller, org_id, key_id).await;
            let mut release = self.release.clone();
            // Dropped with the request if it is cut off while held.
            let _ = release.wait_for(|released| *released).await;
            deleted
        })
    }
    fn control_state(&self) -> StoreFuture<'_, ControlState> {
        self.inner.control_state()
    }
    fn update_control(
        &self,
        command: ControlCommand,
    ) -> StoreFuture<'_, (Result<bool, ControlRefusal>, ControlState)> {
        self.inner.update_control(command)
    }
    fn reset(&self) -> StoreFuture<'_, ()> {
        self.inner.reset()
    }
    fn add_orgs<'a>(
        &'a self,
        orgs: &'a [alphamoon_sandbox::store::SeededOrg],
        only_into_empty: bool,
    ) -> StoreFuture<'a, bool> {
        self.inner.add_orgs(orgs, only_into_empty)
    }
    fn bulk_insert<'a>(&'a self, keys: &'a [(StoredKey, SecretHash)]) -> StoreFuture<'a, ()> {
        self.inner.bulk_insert(keys)
    }
}
