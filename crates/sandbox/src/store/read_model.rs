//! The validated read model: what requests read from the store, kept in
//! memory for as long as the store's [version](Store::version) shows that
//! nothing has changed since.
//!
//! Every request reads the version from the store first, one row that any
//! process's commit moves (or, while writes keep moving it, the key's row
//! with the version beside it, in one read). While it stays the same, the keys looked up and
//! the pages listed at that version are still exactly what the store
//! holds, so they are answered from memory; the moment it moves, they are
//! all dropped. So a key deleted by any process, a clock moved, a reset,
//! fail or show on the very next request everywhere, as they did when
//! every request read the rows themselves.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::contract::{Store, Versioned};
use super::error::StoreError;
use crate::model::control_state::ControlState;
use crate::model::keys::SecretHash;
use crate::model::org::{StoredKey, statuses_hold};

/// The most key lookups one version remembers, found or not. Unknown
/// secrets are remembered too, so a client that sends one over and over
/// costs no more than a known one; past this bound, new lookups are read
/// from the store each time, and memory stays bounded whatever is sent.
const MAX_LOOKUPS: usize = 65_536;

/// The most keys one version keeps in remembered pages, all pages
/// together, an empty page counting as one.
const MAX_PAGE_KEYS: usize = 100_000;

/// The read model of one process. See the module's documentation.
pub struct ReadModel {
    store: Arc<dyn Store>,
    /// The view of the latest version this process has seen.
    latest: Mutex<Option<Arc<View>>>,
    /// Whether the last full lookup found the version moved on. Under a
    /// load of writes it moves between any two requests, so a request
    /// that read the version first would read the key after it anyway:
    /// one read of the store instead of two, until the version is seen to
    /// stand still again.
    moving: AtomicBool,
}

/// What was read at one version of the store. A request authenticated
/// against a view is answered from it: the view was current when the
/// request checked the version, and the answer is the store as of that
/// instant.
#[derive(Debug)]
pub struct View {
    version: i64,
    control: ControlState,
    lookups: Mutex<HashMap<SecretHash, Option<Arc<StoredKey>>>>,
    pages: Mutex<Pages>,
}

#[derive(Debug, Default)]
struct Pages {
    by_org: HashMap<String, HashMap<(u64, u64), Arc<Page>>>,
    keys_held: usize,
}

/// One page of an organization's keys, and how many it holds in all.
#[derive(Debug)]
pub struct Page {
    /// The page's keys in list order.
    pub keys: Vec<StoredKey>,
    /// How many keys the organization holds.
    pub total: u64,
    /// The page as last written out, and the instants over which it reads
    /// the same (its keys' statuses follow the clock).
    written: Mutex<Option<(Range<i64>, Bytes)>>,
}

impl Page {
    fn new(keys: Vec<StoredKey>, total: u64) -> Self {
        Self {
            keys,
            total,
            written: Mutex::new(None),
        }
    }

    /// The page written out as at `now` (Unix seconds) by `write`, which
    /// is called only when no earlier writing holds at `now`: the keys'
    /// statuses are the only part that changes, and only when `now`
    /// passes an `exp`.
    pub fn written_at(&self, now: i64, write: impl FnOnce(&Self) -> Vec<u8>) -> Bytes {
        if let Some((holds, bytes)) = &*lock(&self.written)
            && holds.contains(&now)
        {
            return bytes.clone();
        }
        let mut written = write(self);
        // Kept for as long as the version stands: without the slack an
        // answer is written into.
        written.shrink_to_fit();
        let bytes = Bytes::from(written);
        *lock(&self.written) = Some((statuses_hold(&self.keys, now), bytes.clone()));
        bytes
    }
}

impl View {
    fn new(version: i64, control: ControlState) -> Self {
        Self {
            version,
            control,
            lookups: Mutex::default(),
            pages: Mutex::default(),
        }
    }

    /// The control state at this view's version.
    pub fn control(&self) -> &ControlState {
        &self.control
    }

    fn page(&self, org_id: &str, offset: u64, limit: u64) -> Option<Arc<Page>> {
        lock(&self.pages)
            .by_org
            .get(org_id)?
            .get(&(offset, limit))
            .cloned()
    }

    fn remember_page(&self, org_id: &str, offset: u64, limit: u64, page: &Arc<Page>) {
        // An empty page (an offset past the end) counts as one key, so
        // that pages of nothing cannot pile up without bound either.
        let weight = page.keys.len().max(1);
        let mut pages = lock(&self.pages);
        if pages.keys_held + weight > MAX_PAGE_KEYS {
            return;
        }
        pages.keys_held += weight;
        pages
            .by_org
            .entry(org_id.to_owned())
            .or_default()
            .insert((offset, limit), Arc::clone(page));
    }
}

impl ReadModel {
    /// A read model over `store`, empty until the first request.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            latest: Mutex::new(None),
            moving: AtomicBool::new(false),
        }
    }

    /// The key whose secret has this hash, as of the store's version now,
    /// and the view of that version to answer the request from.
    pub async fn authenticate(
        &self,
        secret_hash: &SecretHash,
    ) -> Result<(Option<Arc<StoredKey>>, Arc<View>), StoreError> {
        if !self.moving.load(Ordering::Relaxed) {
            let version = self.store.version().await?;
            if let Some(view) = self.latest().filter(|view| view.version == version) {
                let found = lock(&view.lookups).get(secret_hash).cloned();
                if let Some(found) = found {
                    return Ok((found, view));
                }
            }
        }
        // A full lookup is a fresh read of the store, whatever came before.
        let Versioned {
            value: (key, control),
            version,
        } = self.store.authenticate(secret_hash).await?;
        let seen = self.latest().map(|view| view.version);
        self.moving.store(seen != Some(version), Ordering::Relaxed);
        let view = self.view_at(version, control);
        let key = key.map(Arc::new);
        let mut lookups = lock(&view.lookups);
        if lookups.len() < MAX_LOOKUPS {
            lookups.insert(*secret_hash, key.clone());
        }
        drop(lookups);
        Ok((key, view))
    }

    /// One page of an organization's keys as of `view`'s version (`None`
    /// if no organization has this id), or as of a later one when `view`
    /// does not hold the page yet: read from the store then, and kept in
    /// `view` if the store still had `view`'s version.
    pub async fn page(
        &self,
        view: &View,
        org_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Option<Arc<Page>>, StoreError> {
        if let Some(page) = view.page(org_id, offset, limit) {
            return Ok(Some(page));
        }
        let Versioned { value, version } = self.store.read_page(org_id, offset, limit).await?;
        let Some((keys, total)) = value else {
            return Ok(None);
        };
        let page = Arc::new(Page::new(keys, total));
        if version == view.version {
            view.remember_page(org_id, offset, limit, &page);
        }
        Ok(Some(page))
    }

    fn latest(&self) -> Option<Arc<View>> {
        lock(&self.latest).clone()
    }

    /// The view of `version`: the latest one if it is of that version,
    /// else a new one that becomes the latest. Even a lower version
    /// replaces it: only an equal version is ever trusted, so an
    /// overtaken read costs the next request a fresh read at most, while a
    /// version seen to go down (a database restored under the process)
    /// drops everything read before.
    fn view_at(&self, version: i64, control: ControlState) -> Arc<View> {
        let mut latest = lock(&self.latest);
        if let Some(view) = latest.as_ref().filter(|view| view.version == version) {
            return Arc::clone(view);
        }
        let view = Arc::new(View::new(version, control));
        *latest = Some(Arc::clone(&view));
        view
    }
}

impl std::fmt::Debug for ReadModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadModel")
            .field("latest_version", &self.latest().map(|view| view.version))
            .finish_non_exhaustive()
    }
}

/// A lock whose holder panicked still guards consistent data: every
/// change under these locks is one insert or one assignment.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_of_nothing_count_toward_the_bound() {
        let view = View::new(1, ControlState::default());
        let empty = Arc::new(Page::new(Vec::new(), 0));
        for offset in 0..(MAX_PAGE_KEYS as u64 + 10) {
            view.remember_page("org", offset, 1, &empty);
        }
        let pages = lock(&view.pages);
        assert_eq!(pages.keys_held, MAX_PAGE_KEYS);
        assert_eq!(pages.by_org["org"].len(), MAX_PAGE_KEYS);
    }

    #[test]
    fn a_written_page_is_reused_only_while_its_statuses_hold() {
        let key = StoredKey {
            id: "k".to_owned(),
            org_id: "org".to_owned(),
            name: "k".to_owned(),
            scopes: Vec::new(),
            created_at: 0,
            exp: 100,
        };
        let page = Page::new(vec![key], 1);
        let mut writes = 0;
        let mut write = |page: &Page, now: i64| {
            page.written_at(now, |_| {
                writes += 1;
                format!("written at {now}").into_bytes()
            })
        };
        assert_eq!(write(&page, 10), "written at 10");
        assert_eq!(write(&page, 99), "written at 10");
        // At its `exp` the key has expired: written again.
        assert_eq!(write(&page, 100), "written at 100");
        assert_eq!(write(&page, 5_000), "written at 100");
        assert_eq!(writes, 2);
    }
}
