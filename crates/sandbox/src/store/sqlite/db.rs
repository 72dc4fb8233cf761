//! The connections: one writer, a few readers, and the in-memory gate,
//! with the statements that write keys.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::error::db_error;
use super::group_commit;
use super::schema::migrate;
use crate::model::control_state::{ControlCommand, ControlRefusal, ControlState};
use crate::model::keys::SecretHash;
use crate::model::org::StoredKey;
use crate::store::columns::{scopes_from_column, scopes_to_column};
use crate::store::error::StoreError;

pub(super) const READERS: usize = 4;

/// How long a statement waits for another connection's lock before it
/// fails.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The connections. A call on them can wait on the disk or on a database
/// lock (up to `busy_timeout`), and must not hold an async worker, and
/// with it every request that worker would serve, while it does. So writes
/// run on tokio's blocking pool, and so does any read that would wait
/// (see [`SqliteStore::read`]).
#[derive(Debug)]
pub(super) struct Db {
    pub(super) writer: Mutex<Connection>,
    pub(super) readers: Vec<Mutex<Connection>>,
    pub(super) next_reader: AtomicUsize,
    /// The API's writes, waiting for the next group commit.
    pub(super) pending: group_commit::Pending,
    /// In memory only: readers share it, the writer holds it alone.
    pub(super) memdb_gate: Option<RwLock<()>>,
}

/// A connection held for one store call, with the in-memory gate if any.
/// The connection is released before the gate (fields drop in order).
pub(super) struct Held<'a> {
    pub(super) conn: MutexGuard<'a, Connection>,
    pub(super) _shared: Option<RwLockReadGuard<'a, ()>>,
    pub(super) _exclusive: Option<RwLockWriteGuard<'a, ()>>,
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

/// Runs `work` on the reader `conn` with the busy timeout that every
/// connection waits for another's lock when it may block its thread.
pub(super) fn waiting<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_error)?;
    let done = work(conn);
    conn.busy_timeout(Duration::ZERO).map_err(db_error)?;
    done
}

/// Opens one connection to `path`.
pub(super) fn open_connection(path: &Path) -> Result<Connection, StoreError> {
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
    pub(super) fn open(
        path: &Path,
        writer_pragmas: &str,
        memdb_gate: Option<RwLock<()>>,
    ) -> Result<Self, StoreError> {
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
        Ok(Self {
            writer: Mutex::new(writer),
            readers,
            next_reader: AtomicUsize::new(0),
            pending: group_commit::Pending::default(),
            memdb_gate,
        })
    }

    // A panic while holding a lock leaves SQLite itself consistent (an
    // unfinished transaction rolls back when its guard drops), so poisoned
    // locks are taken over rather than passed on.

    pub(super) fn write(&self) -> Held<'_> {
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
    pub(super) fn try_read(&self) -> Option<Held<'_>> {
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

    pub(super) fn read(&self) -> Held<'_> {
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
    pub(super) fn free_reader(&self) -> Result<MutexGuard<'_, Connection>, &Mutex<Connection>> {
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

    pub(super) fn bulk_insert(&self, keys: &[(StoredKey, SecretHash)]) -> Result<(), StoreError> {
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

    pub(super) fn update_control(
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

pub(super) const INSERT_KEY: &str =
    "INSERT INTO api_keys (id, org_id, name, scopes, created_at, exp, secret_hash)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
pub(super) const ADJUST_COUNT: &str = "UPDATE orgs SET key_count = key_count + ?1 WHERE id = ?2";

pub(super) fn insert_with(
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

pub(super) fn key_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<StoredKey> {
    Ok(StoredKey {
        id: row.get(0)?,
        org_id: row.get(1)?,
        name: row.get(2)?,
        scopes: scopes_from_column(row.get_ref(3)?.as_str()?),
        created_at: row.get(4)?,
        exp: row.get(5)?,
    })
}
