//! The embedded SQLite store.
//!
//! On a file, the database runs in WAL mode with `synchronous = FULL`, so a
//! create that was answered survives a crash of the process or the machine.
//! Writes go through one connection; reads use a small pool of their own,
//! which WAL lets run beside a write. An in-memory database lives in
//! SQLite's `memdb` VFS, which lets the same pool of connections share it.
//! memdb has no WAL: a write there shuts readers out from its first change
//! to its commit, and SQLite resolves such clashes by sleeping in its busy
//! handler. So in memory a read-write lock on our side admits either
//! readers side by side or one writer, and SQLite never sees a clash.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::model::control_state::{ControlCommand, ControlRefusal, ControlState};
use crate::model::keys::SecretHash;
use crate::model::org::StoredKey;
use crate::store::columns::{KEY_COLUMNS, schema_too_new, scopes_from_column, scopes_to_column};
use crate::store::contract::{Acting, SeededOrg, Store, Write};
use crate::store::error::{StoreError, StoreFuture};

/// The schema's versions, oldest first; `PRAGMA user_version` records how
/// many of them a database has. The first is the schema the sandbox had
/// before versions were counted, written so that it adopts such a database
/// as it is.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE IF NOT EXISTS orgs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    -- Kept in step by every insert and delete, so that `total` never needs
    -- a COUNT(*) over the org's keys.
    key_count  INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE IF NOT EXISTS api_keys (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,  -- wire values, space-separated
    created_at  INTEGER NOT NULL,
    exp         INTEGER NOT NULL,
    secret_hash BLOB NOT NULL UNIQUE
) STRICT;
-- The list order; a page is a range scan of this index.
CREATE INDEX IF NOT EXISTS api_keys_list_order ON api_keys (org_id, created_at, id);
",
    "
-- The control plane's clock and faults (`ControlState` as JSON): one row,
-- or none for the default.
CREATE TABLE sandbox_control (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL
) STRICT;
",
];

const READERS: usize = 4;

/// How long a statement waits for another connection's lock before it
/// fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A [`Store`] on SQLite. Cloning it shares the database.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    db: Arc<Db>,
}

/// The connections. A call on them can wait on the disk or on a database
/// lock (up to `busy_timeout`), and must not hold an async worker, and
/// with it every request that worker would serve, while it does. So writes
/// run on tokio's blocking pool, and so does any read that would wait
/// (see [`SqliteStore::read`]).
#[derive(Debug)]
struct Db {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    /// The API's writes, waiting for the next group commit.
    pending: group_commit::Pending,
    /// In memory only: readers share it, the writer holds it alone.
    memdb_gate: Option<RwLock<()>>,
}

/// A connection held for one store call, with the in-memory gate if any.
/// The connection is released before the gate (fields drop in order).
struct Held<'a> {
    conn: MutexGuard<'a, Connection>,
    _shared: Option<RwLockReadGuard<'a, ()>>,
    _exclusive: Option<RwLockWriteGuard<'a, ()>>,
}

impl Deref for Held<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl DerefMut for Held<'_> {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

fn db_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{CannotOpen, DatabaseBusy, DatabaseLocked};
    match e.sqlite_error_code() {
        // Another process holds the database longer than `busy_timeout`,
        // or its file is out of reach for now.
        Some(DatabaseBusy | DatabaseLocked | CannotOpen) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::failed(e),
    }
}

impl SqliteStore {
    /// Opens (creating if need be) the database file at `path`, and brings
    /// its schema up to date.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // The bundled SQLite reads any name that starts with `file:` as a
        // URI, so `file:x.db` would open `x.db`. A path is a path: what the
        // sandbox checks and prints about it is what SQLite opens.
        let path = if path.is_relative() {
            &Path::new(".").join(path)
        } else {
            path
        };
        Db::open(
            path,
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
            None,
        )
    }

    /// A fresh database that lives and dies with this value.
    pub fn in_memory() -> Result<Self, StoreError> {
        // A name starting with `/` is what makes a memdb database shared by
        // every connection of this process that opens it; the random part
        // keeps two stores apart. It is gone when the last connection closes.
        let name = crate::model::keys::random_hex(16).map_err(StoreError::failed)?;
        Db::open(
            Path::new(&format!("file:/alphamoon-sandbox-{name}?vfs=memdb")),
            "",
            Some(RwLock::new(())),
        )
    }

    /// The schema version of this database: how many migrations it has.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        let version: i64 = waiting(&self.db.read(), |conn| {
            conn.query_row("PRAGMA user_version", [], |row| row.get(0))
                .map_err(db_error)
        })?;
        Ok(usize::try_from(version).unwrap_or(usize::MAX))
    }

    /// Runs the read `work`. A read on a reader connection that is free
    /// at once, and that finds no lock in its way, runs right here: it
    /// costs tens of microseconds, less than the two hand-offs between
    /// threads that the blocking pool takes. A read that would have to wait,
    /// for our own connections or for SQLite's locks, waits on the blocking
    /// pool instead.
    fn read<T: Send + 'static>(
        &self,
        work: impl Fn(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let db = Arc::clone(&self.db);
        Box::pin(async move {
            // A read done here never waits on anything tokio can see, so it
            // spends the task's budget itself: a task that reads in a loop
            // still yields to the others on its worker.
            tokio::task::coop::consume_budget().await;
            if let Some(conn) = db.try_read() {
                // Readers keep a busy timeout of zero, so a lock held
                // elsewhere fails the read here rather than stall this
                // async worker.
                match work(&conn) {
                    Err(StoreError::Unavailable(_)) => {}
                    done => return done,
                }
            }
            tokio::task::spawn_blocking(move || waiting(&db.read(), work))
                .await
                .map_err(StoreError::failed)?
        })
    }

    /// Runs `work` for `caller` in the next group commit (see
    /// [`group_commit`]), after checking, in the same transaction, that
    /// `caller` still exists and has not expired. The transaction holds the
    /// write lock from its start (`BEGIN IMMEDIATE`), so no delete and no
    /// clock move, from this process or another, can land between the
    /// check and the write. `work` is given the sandbox clock's now, in
    /// Unix seconds, as read in that transaction.
    fn write_as<T: Send + 'static>(
        &self,
        caller: Acting<'_>,
        work: impl FnOnce(&Connection, i64) -> rusqlite::Result<Write<T>> + Send + 'static,
    ) -> StoreFuture<'static, Write<T>> {
        let caller_id = caller.key_id.to_owned();
        let db = Arc::clone(&self.db);
        Box::pin(async move {
            let (outcome, then) = db.pending.push(move |conn| {
                let now = reads::control_state(conn)?.clock.now().timestamp();
                let live: bool = conn
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = ?1 AND exp > ?2)",
                    )
                    .and_then(|mut s| s.query_row(params![caller_id, now], |row| row.get(0)))
                    .map_err(db_error)?;
                if !live {
                    return Ok(Write::CallerGone);
                }
                work(conn, now).map_err(db_error)
            });
            if let group_commit::Then::Lead = then {
                // Not awaited: the leader may go on to commit later writes
                // than this one, and its outcome arrives on its own.
                drop(tokio::task::spawn_blocking(move || {
                    db.pending.lead(|| db.write());
                }));
            }
            outcome
                .await
                .map_err(|_| StoreError::failed("a write was dropped before its commit"))?
        })
    }

    /// Runs `work` on the blocking pool.
    fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Db) -> Result<T, StoreError> + Send + 'static,
    ) -> StoreFuture<'static, T> {
        let db = Arc::clone(&self.db);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || work(&db))
                .await
                .map_err(StoreError::failed)?
        })
    }
}

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Applies the migrations `conn`'s database lacks, all in one transaction
/// that holds the write lock, so that two processes starting on one file
/// do not both apply them.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db_error)?;
    let version: i64 = tx
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(db_error)?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    if version > MIGRATIONS.len() {
        return Err(schema_too_new(version, MIGRATIONS.len()));
    }
    for (applied, migration) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(migration).map_err(db_error)?;
        tx.pragma_update(None, "user_version", applied + 1)
            .map_err(db_error)?;
    }
    tx.commit().map_err(db_error)
}

/// Runs `work` on the reader `conn` with the busy timeout that every
/// connection waits for another's lock when it may block its thread.
fn waiting<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_error)?;
    let done = work(conn);
    conn.busy_timeout(Duration::ZERO).map_err(db_error)?;
    done
}

/// Opens one connection to `path`.
fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db_error)?;
    // The bundled SQLite (3.50) plans `LIMIT ?` with the value bound at
    // prepare time, so binding any value there expires the statement and
    // the next step parses it again: every page read paid for a parse.
    // With plans that never depend on bound values, cached statements stay
    // prepared.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )
    .map_err(db_error)?;
    Ok(conn)
}

impl Db {
    fn open(
        path: &Path,
        writer_pragmas: &str,
        memdb_gate: Option<RwLock<()>>,
    ) -> Result<SqliteStore, StoreError> {
        let mut writer = open_connection(path)?;
        // The busy timeout first: switching a fresh file to WAL takes its
        // lock, which another process starting on it may hold.
        writer
            .execute_batch(&format!(
                "PRAGMA busy_timeout = {}; {writer_pragmas} PRAGMA foreign_keys = ON;",
                BUSY_TIMEOUT.as_millis()
            ))
            .map_err(db_error)?;
        migrate(&mut writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let reader = open_connection(path)?;
                reader
                    .execute_batch("PRAGMA query_only = ON;")
                    .map_err(db_error)?;
                // A reader waits for locks only inside [`waiting`].
                reader.busy_timeout(Duration::ZERO).map_err(db_error)?;
                Ok(Mutex::new(reader))
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(SqliteStore {
            db: Arc::new(Self {
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
                pending: group_commit::Pending::default(),
                memdb_gate,
            }),
        })
    }

    // A panic while holding a lock leaves SQLite itself consistent (an
    // unfinished transaction rolls back when its guard drops), so poisoned
    // locks are taken over rather than passed on.

    fn write(&self) -> Held<'_> {
        let exclusive = self
            .memdb_gate
            .as_ref()
            .map(|gate| gate.write().unwrap_or_else(|p| p.into_inner()));
        let conn = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        Held {
            conn,
            _shared: None,
            _exclusive: exclusive,
        }
    }

    /// A reader connection, and the in-memory gate, if both are free now.
    fn try_read(&self) -> Option<Held<'_>> {
        let shared = match &self.memdb_gate {
            Some(gate) => Some(match gate.try_read() {
                Ok(shared) => shared,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return None,
            }),
            None => None,
        };
        let conn = self.free_reader().ok()?;
        Some(Held {
            conn,
            _shared: shared,
            _exclusive: None,
        })
    }

    fn read(&self) -> Held<'_> {
        let shared = self
            .memdb_gate
            .as_ref()
            .map(|gate| gate.read().unwrap_or_else(|p| p.into_inner()));
        let conn = self
            .free_reader()
            .unwrap_or_else(|busy| busy.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        Held {
            conn,
            _shared: shared,
            _exclusive: None,
        }
    }

    /// A reader connection nobody holds, trying each in turn from the next
    /// in rotation; or, when all are held, that next one to wait for.
    fn free_reader(&self) -> Result<MutexGuard<'_, Connection>, &Mutex<Connection>> {
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let count = self.readers.len();
        (0..count)
            .find_map(|i| match self.readers[(start + i) % count].try_lock() {
                Ok(conn) => Some(conn),
                Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            })
            .ok_or(&self.readers[start % count])
    }

    fn bulk_insert(&self, keys: &[(StoredKey, SecretHash)]) -> Result<(), StoreError> {
        let mut conn = self.write();
        let tx = conn.transaction().map_err(db_error)?;
        {
            let mut insert = tx.prepare_cached(INSERT_KEY).map_err(db_error)?;
            let mut added: HashMap<&str, i64> = HashMap::new();
            for (key, hash) in keys {
                insert_with(&mut insert, key, hash).map_err(db_error)?;
                *added.entry(&key.org_id).or_default() += 1;
            }
            let mut count = tx.prepare_cached(ADJUST_COUNT).map_err(db_error)?;
            for (org_id, n) in added {
                count.execute(params![n, org_id]).map_err(db_error)?;
            }
        }
        tx.commit().map_err(db_error)
    }

    fn update_control(
        &self,
        command: &ControlCommand,
    ) -> Result<(Result<bool, ControlRefusal>, ControlState), StoreError> {
        let mut conn = self.write();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db_error)?;
        let state: Option<String> = tx
            .query_row("SELECT state FROM sandbox_control", [], |row| row.get(0))
            .optional()
            .map_err(db_error)?;
        let mut state = ControlState::from_column(state.as_deref())?;
        let applied = state.apply(command, chrono::Utc::now());
        if applied != Ok(true) {
            return Ok((applied, state));
        }
        tx.execute(
            "INSERT INTO sandbox_control (id, state) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state",
            params![state.to_column()],
        )
        .map_err(db_error)?;
        tx.commit().map_err(db_error)?;
        Ok((applied, state))
    }
}

const INSERT_KEY: &str =
    "INSERT INTO api_keys (id, org_id, name, scopes, created_at, exp, secret_hash)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
const ADJUST_COUNT: &str = "UPDATE orgs SET key_count = key_count + ?1 WHERE id = ?2";

fn insert_with(
    statement: &mut rusqlite::CachedStatement<'_>,
    key: &StoredKey,
    hash: &SecretHash,
) -> rusqlite::Result<()> {
    statement
        .execute(params![
            key.id,
            key.org_id,
            key.name,
            scopes_to_column(&key.scopes),
            key.created_at,
            key.exp,
            hash.as_slice()
        ])
        .map(drop)
}

fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredKey> {
    Ok(StoredKey {
        id: row.get(0)?,
        org_id: row.get(1)?,
        name: row.get(2)?,
        scopes: scopes_from_column(row.get_ref(3)?.as_str()?),
        created_at: row.get(4)?,
        exp: row.get(5)?,
    })
}

/// The reads, each on whichever reader connection [`SqliteStore::read`]
/// found for it.
mod reads {
    use super::*;

    /// The key whose secret hashes to `secret_hash`, if any, and the
    /// control state, in one statement.
    pub(super) fn authenticate(
        conn: &Connection,
        secret_hash: &SecretHash,
    ) -> Result<(Option<StoredKey>, ControlState), StoreError> {
        // One row whether or not the key exists, so that the control state
        // comes with every lookup.
        let mut statement = conn
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS}, (SELECT state FROM sandbox_control)
                 FROM (SELECT 1) LEFT JOIN api_keys ON secret_hash = ?1"
            ))
            .map_err(db_error)?;
        let (key, state) = statement
            .query_row(params![secret_hash.as_slice()], |row| {
                let key = match row.get::<_, Option<String>>(0)? {
                    Some(_) => Some(key_from_row(row)?),
                    None => None,
                };
                Ok((key, row.get::<_, Option<String>>(6)?))
            })
            .map_err(db_error)?;
        Ok((key, ControlState::from_column(state.as_deref())?))
    }

    /// The control state alone; the writer reads it too, inside a write.
    pub(super) fn control_state(conn: &Connection) -> Result<ControlState, StoreError> {
        let state: Option<String> = conn
            .prepare_cached("SELECT state FROM sandbox_control")
            .and_then(|mut s| s.query_row([], |row| row.get(0)).optional())
            .map_err(db_error)?;
        ControlState::from_column(state.as_deref())
    }

    /// One page of an organization's keys, and how many it has.
    pub(super) fn list_keys(
        conn: &Connection,
        org_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<StoredKey>, u64), StoreError> {
        // Both reads in one transaction, so `total` matches the page.
        conn.prepare_cached("BEGIN")
            .and_then(|mut s| s.execute([]))
            .map_err(db_error)?;
        let result = (|| {
            let total: i64 = conn
                .prepare_cached("SELECT key_count FROM orgs WHERE id = ?1")?
                .query_row(params![org_id], |row| row.get(0))
                .optional()?
                .unwrap_or(0);
            let keys = conn
                .prepare_cached(&format!(
                    "SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = ?1
                     ORDER BY created_at, id LIMIT ?2 OFFSET ?3"
                ))?
                .query_map(
                    params![
                        org_id,
                        i64::try_from(limit).unwrap_or(i64::MAX),
                        i64::try_from(offset).unwrap_or(i64::MAX)
                    ],
                    key_from_row,
                )?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((keys, u64::try_from(total).unwrap_or(0)))
        })();
        conn.prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
            .map_err(db_error)?;
        result.map_err(db_error)
    }
}

impl Store for SqliteStore {
    fn insert_key<'a>(
        &'a self,
        key: &'a StoredKey,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, ()> {
        let row = vec![(key.clone(), *secret_hash)];
        self.run(move |db| db.bulk_insert(&row))
    }

    fn insert_key_as<'a>(
        &'a self,
        caller: Acting<'a>,
        key: &'a StoredKey,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, Write<i64>> {
        let (key, secret_hash) = (key.clone(), *secret_hash);
        self.write_as(caller, move |conn, now| {
            if key.exp <= now {
                return Ok(Write::BornExpired);
            }
            let key = StoredKey {
                created_at: now,
                ..key
            };
            insert_with(&mut conn.prepare_cached(INSERT_KEY)?, &key, &secret_hash)?;
            conn.prepare_cached(ADJUST_COUNT)?
                .execute(params![1, key.org_id])?;
            Ok(Write::Done(now))
        })
    }

    fn key_by_secret_hash<'a>(
        &'a self,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, Option<StoredKey>> {
        let secret_hash = *secret_hash;
        self.read(move |conn| Ok(reads::authenticate(conn, &secret_hash)?.0))
    }

    fn authenticate<'a>(
        &'a self,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, (Option<StoredKey>, ControlState)> {
        let secret_hash = *secret_hash;
        self.read(move |conn| reads::authenticate(conn, &secret_hash))
    }

    fn control_state(&self) -> StoreFuture<'_, ControlState> {
        self.read(reads::control_state)
    }

    fn update_control(
        &self,
        command: ControlCommand,
    ) -> StoreFuture<'_, (Result<bool, ControlRefusal>, ControlState)> {
        self.run(move |db| db.update_control(&command))
    }

    fn list_keys<'a>(
        &'a self,
        org_id: &'a str,
        offset: u64,
        limit: u64,
    ) -> StoreFuture<'a, (Vec<StoredKey>, u64)> {
        let org_id = org_id.to_owned();
        self.read(move |conn| reads::list_keys(conn, &org_id, offset, limit))
    }

    fn delete_key<'a>(
        &'a self,
        caller: Acting<'a>,
        org_id: &'a str,
        key_id: &'a str,
    ) -> StoreFuture<'a, Write<bool>> {
        let (org_id, key_id) = (org_id.to_owned(), key_id.to_owned());
        self.write_as(caller, move |conn, _now| {
            let deleted = conn
                .prepare_cached("DELETE FROM api_keys WHERE id = ?1 AND org_id = ?2")?
                .execute(params![key_id, org_id])?;
            if deleted == 1 {
                conn.prepare_cached(ADJUST_COUNT)?
                    .execute(params![-1, org_id])?;
            }
            Ok(Write::Done(deleted == 1))
        })
    }

    fn add_orgs<'a>(
        &'a self,
        orgs: &'a [SeededOrg],
        only_into_empty: bool,
    ) -> StoreFuture<'a, bool> {
        let orgs = orgs.to_vec();
        self.run(move |db| {
            let mut conn = db.write();
            // The write lock first, so that the emptiness check holds until
            // the commit, against other processes on the file too.
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db_error)?;
            if only_into_empty {
                let empty: bool = tx
                    .query_row("SELECT NOT EXISTS (SELECT 1 FROM orgs)", [], |row| {
                        row.get(0)
                    })
                    .map_err(db_error)?;
                if !empty {
                    return Ok(false);
                }
            }
            for seeded in &orgs {
                tx.execute(
                    "INSERT INTO orgs (id, name, key_count) VALUES (?1, ?2, ?3)",
                    params![seeded.org.id, seeded.org.name, seeded.keys.len()],
                )
                .map_err(db_error)?;
                let mut insert = tx.prepare_cached(INSERT_KEY).map_err(db_error)?;
                for (key, hash) in &seeded.keys {
                    insert_with(&mut insert, key, hash).map_err(|e| {
                        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
                            StoreError::SecretTaken
                        } else {
                            db_error(e)
                        }
                    })?;
                }
            }
            tx.commit().map_err(db_error)?;
            Ok(true)
        })
    }

    fn reset(&self) -> StoreFuture<'_, ()> {
        self.run(|db| {
            let mut conn = db.write();
            let tx = conn.transaction().map_err(db_error)?;
            tx.execute_batch(
                "DELETE FROM api_keys; DELETE FROM orgs; DELETE FROM sandbox_control;",
            )
            .map_err(db_error)?;
            tx.commit().map_err(db_error)
        })
    }

    fn bulk_insert<'a>(&'a self, keys: &'a [(StoredKey, SecretHash)]) -> StoreFuture<'a, ()> {
        let rows = keys.to_vec();
        self.run(move |db| db.bulk_insert(&rows))
    }
}

mod group_commit;
#[cfg(test)]
mod tests;
