//! Keys that recently authenticated, by the hash of their secret, so that
//! a busy key does not cost a database read per request.
//!
//! Only this process deletes keys (through the API), and it evicts a key
//! here when it does. A lookup that raced a delete must not put the
//! deleted key back: every delete bumps an epoch, and a lookup only fills
//! the cache if no delete happened while it read the database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::keys::SecretHash;
use crate::store::{Store, StoreError, StoredKey};

/// Beyond this many cached keys the cache starts over; it only ever holds
/// keys that are in use, so this is rarely reached.
const CAPACITY: usize = 10_000;

#[derive(Default)]
struct Entries {
    by_hash: HashMap<SecretHash, Arc<StoredKey>>,
    hash_of: HashMap<String, SecretHash>,
    epoch: u64,
}

#[derive(Default)]
pub(crate) struct AuthCache {
    entries: Mutex<Entries>,
}

impl AuthCache {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key whose secret hashes to `hash`, if the cache holds it: the
    /// lookup that needs no store and so no thread of the blocking pool.
    pub(crate) fn cached(&self, hash: &SecretHash) -> Option<Arc<StoredKey>> {
        self.lock().by_hash.get(hash).cloned()
    }

    /// The key whose secret hashes to `hash`, from the cache or the store.
    pub(crate) fn key(
        &self,
        store: &dyn Store,
        hash: &SecretHash,
    ) -> Result<Option<Arc<StoredKey>>, StoreError> {
        let epoch = {
            let entries = self.lock();
            if let Some(key) = entries.by_hash.get(hash) {
                return Ok(Some(Arc::clone(key)));
            }
            entries.epoch
        };
        let Some(key) = store.key_by_secret_hash(hash)? else {
            return Ok(None);
        };
        let key = Arc::new(key);
        let mut entries = self.lock();
        if entries.epoch == epoch {
            if entries.by_hash.len() >= CAPACITY {
                entries.by_hash.clear();
                entries.hash_of.clear();
            }
            entries.hash_of.insert(key.id.clone(), *hash);
            entries.by_hash.insert(*hash, Arc::clone(&key));
        }
        Ok(Some(key))
    }

    /// Forgets a deleted key. Call after the delete reached the store.
    pub(crate) fn evict(&self, key_id: &str) {
        let mut entries = self.lock();
        entries.epoch += 1;
        if let Some(hash) = entries.hash_of.remove(key_id) {
            entries.by_hash.remove(&hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Org;

    /// A store holding one key, whose lookup can run code mid-read.
    struct OneKey {
        key: Mutex<Option<StoredKey>>,
        during_lookup: Box<dyn Fn() + Send + Sync>,
    }

    impl Store for OneKey {
        fn is_empty(&self) -> Result<bool, StoreError> {
            Ok(false)
        }
        fn create_org(&self, _: &Org) -> Result<(), StoreError> {
            Ok(())
        }
        fn insert_key(&self, _: &StoredKey, _: &SecretHash) -> Result<(), StoreError> {
            Ok(())
        }
        fn key_by_secret_hash(&self, _: &SecretHash) -> Result<Option<StoredKey>, StoreError> {
            let found = self.key.lock().expect("lock").clone();
            (self.during_lookup)();
            Ok(found)
        }
        fn list_keys(&self, _: &str, _: u64, _: u64) -> Result<(Vec<StoredKey>, u64), StoreError> {
            Ok((Vec::new(), 0))
        }
        fn delete_key(&self, _: &str, _: &str) -> Result<bool, StoreError> {
            Ok(self.key.lock().expect("lock").take().is_some())
        }
    }

    fn key() -> StoredKey {
        StoredKey {
            id: "0".repeat(32),
            org_id: "org".to_owned(),
            name: "k".to_owned(),
            scopes: Vec::new(),
            created_at: 0,
            exp: i64::MAX,
        }
    }

    #[test]
    fn serves_repeat_lookups_and_forgets_evicted_keys() {
        let store = OneKey {
            key: Mutex::new(Some(key())),
            during_lookup: Box::new(|| {}),
        };
        let cache = AuthCache::default();
        assert!(cache.key(&store, &[1; 32]).expect("lookup").is_some());
        store.delete_key("org", &key().id).expect("delete");
        assert!(
            cache.key(&store, &[1; 32]).expect("cached").is_some(),
            "served from the cache"
        );
        cache.evict(&key().id);
        assert!(cache.key(&store, &[1; 32]).expect("lookup").is_none());
    }

    #[test]
    fn a_lookup_that_raced_a_delete_is_not_cached() {
        let cache = Arc::new(AuthCache::default());
        let evicting = Arc::clone(&cache);
        // The delete lands while the lookup is reading the old row.
        let store = OneKey {
            key: Mutex::new(Some(key())),
            during_lookup: Box::new(move || evicting.evict(&"0".repeat(32))),
        };
        assert!(cache.key(&store, &[1; 32]).expect("lookup").is_some());
        assert!(
            cache.lock().by_hash.is_empty(),
            "the stale key was not cached"
        );
    }
}
