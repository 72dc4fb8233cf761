//! Unit tests of the parent module.
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rusqlite::{Connection, params};

use super::db::{INSERT_KEY, insert_with};
use super::{SCHEMA_VERSION, SqliteStore};
use crate::model::keys::SecretHash;
use crate::model::org::{Org, StoredKey};
use crate::store::contract::{Acting, SeededOrg, Store, Write};
use crate::store::error::StoreError;

async fn org(store: &SqliteStore, id: &str) {
    let (admin, _) = key(id, 1_000_000);
    add_org(store, id, admin, [0xFF; 32]).await.expect("org");
}

/// Stores organization `id` with `first` as its only key.
async fn add_org(
    store: &SqliteStore,
    id: &str,
    first: StoredKey,
    hash: SecretHash,
) -> Result<bool, StoreError> {
    let org = Org {
        id: id.to_owned(),
        name: id.to_owned(),
    };
    store
        .add_orgs(
            &[SeededOrg {
                org,
                keys: vec![(first, hash)],
            }],
            false,
        )
        .await
}

fn key(org_id: &str, i: usize) -> (StoredKey, SecretHash) {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
    let key = StoredKey {
        id: format!("{i:032x}"),
        org_id: org_id.to_owned(),
        name: format!("k{i}"),
        scopes: vec![alphamoon_client::Scope::WorkspaceFileUpload],
        created_at: i as i64,
        exp: i64::MAX,
    };
    (key, hash)
}

#[tokio::test]
async fn in_memory_stores_are_private_and_their_readers_see_the_writes() {
    let a = SqliteStore::in_memory().expect("a");
    let b = SqliteStore::in_memory().expect("b");
    org(&a, "org").await;
    // Lists read through a reader connection, not the writer.
    assert_eq!(
        a.list_keys("org", 0, 10)
            .await
            .expect("read a")
            .expect("org")
            .1,
        1
    );
    assert!(
        b.list_keys("org", 0, 10).await.expect("read b").is_none(),
        "stores do not share data"
    );
    let (k, hash) = key("org", 1);
    a.insert_key(&k, &hash).await.expect("insert");
    assert_eq!(a.key_by_secret_hash(&hash).await.expect("lookup"), Some(k));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_reads_and_writes_mix_without_errors() {
    let store = SqliteStore::in_memory().expect("store");
    org(&store, "org").await;
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..2000 {
                let (k, hash) = key("org", i);
                store.insert_key(&k, &hash).await.expect("insert");
            }
        })
    };
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut seen = 0;
                while seen < 2000 {
                    let (page, total) = store
                        .list_keys("org", 0, 100)
                        .await
                        .expect("list")
                        .expect("org");
                    assert!(total >= seen, "the total never goes back");
                    assert_eq!(page.len() as u64, total.min(100), "page matches total");
                    seen = total;
                    // A free reader answers in place, without yielding
                    // until the task's budget runs out; on this one thread
                    // the writer would wait out hundreds of reads each time.
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    writer.await.expect("writer");
    for reader in readers {
        reader.await.expect("reader");
    }
}

#[tokio::test]
async fn an_organization_and_its_first_key_are_stored_together_or_not_at_all() {
    let store = SqliteStore::in_memory().expect("store");
    let (first, hash) = key("acme", 1);
    add_org(&store, "acme", first, hash).await.expect("acme");
    // The same secret hash again: the key cannot be stored, so neither is
    // the organization.
    let (clash, _) = key("globex", 2);
    assert!(matches!(
        add_org(&store, "globex", clash, hash).await,
        Err(StoreError::SecretTaken)
    ));
    let (second, other_hash) = key("globex", 3);
    add_org(&store, "globex", second, other_hash)
        .await
        .expect("globex was not half-stored by the failed attempt");
    assert_eq!(
        store
            .list_keys("globex", 0, 10)
            .await
            .expect("list")
            .expect("org")
            .1,
        1
    );
}

#[test]
fn a_database_from_a_newer_sandbox_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sandbox.db");
    drop(SqliteStore::open(&path).expect("create"));
    let newer = SCHEMA_VERSION + 1;
    Connection::open(&path)
        .and_then(|conn| conn.pragma_update(None, "user_version", newer))
        .expect("mark newer");
    let error = SqliteStore::open(&path).expect_err("a newer schema is refused");
    assert!(
        error
            .to_string()
            .contains(&format!("schema version {newer}")),
        "{error}"
    );
    let version: usize = Connection::open(&path)
        .and_then(|conn| conn.query_row("PRAGMA user_version", [], |row| row.get(0)))
        .expect("read");
    assert_eq!(version, newer, "the refusal changed nothing");
}

/// A read that cannot start at once (here: an in-memory write holds the
/// database) does not fail: it moves off the async worker and waits for
/// the write, and sees it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_that_must_wait_waits_off_the_worker() {
    use std::sync::atomic::AtomicBool;

    let store = SqliteStore::in_memory().expect("store");
    org(&store, "org").await;
    let released = Arc::new(AtomicBool::new(false));
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let writer = {
        let (store, released) = (store.clone(), Arc::clone(&released));
        std::thread::spawn(move || {
            let conn = store.db.write();
            let (k, hash) = key("org", 1);
            insert_with(
                &mut conn.prepare_cached(INSERT_KEY).expect("prepare"),
                &k,
                &hash,
            )
            .expect("insert");
            held_tx.send(()).expect("signal");
            std::thread::sleep(std::time::Duration::from_millis(300));
            released.store(true, Ordering::SeqCst);
        })
    };
    held_rx.recv().expect("the write holds the database");

    let (page, _) = store
        .list_keys("org", 0, 10)
        .await
        .expect("the read waits")
        .expect("org");
    assert!(
        released.load(Ordering::SeqCst),
        "the read ran after the write"
    );
    assert_eq!(page.len(), 2, "and saw it");
    writer.join().expect("writer");
}

/// Writes made at once are committed in groups, yet each keeps its own
/// outcome: one that fails (a secret already stored) or whose caller is
/// gone changes nothing, and every other write lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_committed_together_keep_their_own_outcomes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("sandbox.db")).expect("store");
    let (admin, admin_hash) = key("org", 1_000_000);
    add_org(&store, "org", admin.clone(), admin_hash)
        .await
        .expect("org");
    let live = Acting { key_id: &admin.id };
    let gone = Acting {
        key_id: "ffffffffffffffffffffffffffffffff",
    };

    let writes = (0..64).map(|i| {
        let store = store.clone();
        let (k, mut hash) = key("org", i);
        let clash = i % 8 == 3;
        if clash {
            hash = admin_hash;
        }
        let caller = if i % 8 == 5 { gone } else { live };
        let key_id = caller.key_id.to_owned();
        tokio::spawn(async move {
            let caller = Acting { key_id: &key_id };
            (i, clash, store.insert_key_as(caller, &k, &hash).await)
        })
    });
    let mut landed = 0;
    for write in writes.collect::<Vec<_>>() {
        let (i, clash, outcome) = write.await.expect("task");
        match (clash, i % 8 == 5, outcome) {
            (true, _, outcome) => assert!(outcome.is_err(), "write {i} reused a secret"),
            (false, true, outcome) => {
                assert!(
                    matches!(outcome, Ok(Write::CallerGone)),
                    "write {i}: caller gone"
                );
            }
            (false, false, outcome) => {
                assert!(
                    matches!(outcome, Ok(Write::Done(_))),
                    "write {i}: {outcome:?}"
                );
                landed += 1;
            }
        }
    }
    let (page, total) = store
        .list_keys("org", 0, 100)
        .await
        .expect("list")
        .expect("org");
    assert_eq!(landed, 48);
    assert_eq!(
        total,
        1 + landed,
        "the count moved with each write that landed"
    );
    assert_eq!(page.len() as u64, total);
}

/// Durability rests on these settings of the writer's connection, and a
/// `kill -9` test alone would not notice them gone: the OS keeps written
/// pages after the process dies.
#[test]
fn the_writer_runs_in_wal_mode_with_full_syncs_and_foreign_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("sandbox.db")).expect("store");
    let conn = store.db.write();
    let pragma = |name: &str| -> String {
        conn.query_row(&format!("PRAGMA {name}"), [], |row| {
            row.get::<_, rusqlite::types::Value>(0)
        })
        .map(|value| match value {
            rusqlite::types::Value::Integer(n) => n.to_string(),
            rusqlite::types::Value::Text(text) => text,
            other => format!("{other:?}"),
        })
        .expect(name)
    };
    assert_eq!(pragma("journal_mode"), "wal");
    assert_eq!(pragma("synchronous"), "2", "FULL");
    assert_eq!(pragma("foreign_keys"), "1");
}

/// A database that sandbox 0.2 left with a fault and a moved clock opens,
/// and its control row reads: the stored format is this crate's own, and
/// a change to the control spec does not change it.
#[tokio::test]
async fn a_control_row_written_by_0_2_reads_after_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sandbox.db");
    drop(SqliteStore::open(&path).expect("made"));
    let row = r#"{"clock":{"frozenAtMs":4102444800000,"offsetMs":0},"faults":[{"action":"drop","delayMs":100,"id":"0123456789abcdef0123456789abcdef","operationId":null,"probability":0.25,"retryAfter":null,"status":null,"times":2,"hits":1}]}"#;
    Connection::open(&path)
        .expect("open")
        .execute(
            "INSERT INTO sandbox_control (id, state) VALUES (1, ?1)",
            params![row],
        )
        .expect("0.2's row");
    let store = SqliteStore::open(&path).expect("reopened");
    let state = store.control_state().await.expect("reads");
    assert!(state.clock.is_frozen());
    assert_eq!(state.clock.now().timestamp(), 4_102_444_800);
    let fault = &state.faults[0];
    assert_eq!(fault.fault.action, crate::model::faults::StoredAction::Drop);
    assert_eq!((fault.fault.times, fault.hits), (Some(2), 1));
    assert!(fault.matches("deleteApiKey"));
}
