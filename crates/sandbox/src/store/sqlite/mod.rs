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

use std::path::Path;
use std::sync::{Arc, RwLock};

use rusqlite::{Connection, params};

use crate::store::contract::{Acting, Write};
use crate::store::error::{StoreError, StoreFuture};
use error::db_error;

/// A [`Store`](crate::store::Store) on SQLite. Cloning it shares the database.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    db: Arc<Db>,
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
        Self::on(Db::open(
            path,
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
            None,
        )?)
    }

    fn on(db: Db) -> Result<Self, StoreError> {
        Ok(Self { db: Arc::new(db) })
    }

    /// A fresh database that lives and dies with this value.
    pub fn in_memory() -> Result<Self, StoreError> {
        // A name starting with `/` is what makes a memdb database shared by
        // every connection of this process that opens it; the random part
        // keeps two stores apart. It is gone when the last connection closes.
        let name = crate::model::keys::random_hex(16).map_err(StoreError::failed)?;
        Self::on(Db::open(
            Path::new(&format!("file:/alphamoon-sandbox-{name}?vfs=memdb")),
            "",
            Some(RwLock::new(())),
        )?)
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

mod db;
mod error;
mod group_commit;
mod operations;
mod reads;
mod schema;
#[cfg(test)]
mod tests;

use db::{Db, waiting};
pub use schema::SCHEMA_VERSION;
