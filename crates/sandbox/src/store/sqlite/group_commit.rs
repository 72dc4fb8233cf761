//! Group commit for the writes that API requests make.
//!
//! On a file the database syncs to disk at every commit (`synchronous =
//! FULL`), and that sync is most of what a write costs: sixteen clients
//! creating keys at once used to wait on sixteen syncs, one after another,
//! each on a thread of its own that had to be woken for it. Now writes
//! queue up, and one leader on the blocking pool commits them: everything
//! queued in one transaction, then everything queued meanwhile in the
//! next, until the queue is empty. One sync serves a whole group. Each
//! write still runs in a savepoint of its own, so one that fails undoes
//! only itself; and none is answered before the commit that holds it has
//! returned.

use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::error::db_error;
use crate::store::error::StoreError;

/// A queued write. Given the connection inside the group's transaction, or
/// `None` when that transaction could not begin, it runs itself in a
/// savepoint and returns how to hand over its outcome once the group's
/// commit is known.
type Job = Box<dyn FnOnce(Option<&Connection>) -> Deliver + Send>;

/// Hands a write its outcome: its own result, unless the group failed.
type Deliver = Box<dyn FnOnce(Result<(), &StoreError>) + Send>;

/// The writes waiting for the next commit, in the order they were made,
/// and whether a leader is committing them.
#[derive(Default)]
pub(super) struct Pending {
    jobs: Mutex<Vec<Job>>,
    leading: AtomicBool,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("queued", &self.queue().len())
            .field("leading", &self.leading.load(Ordering::SeqCst))
            .finish()
    }
}

/// What [`Pending::push`] asks of its caller.
#[must_use]
pub(super) enum Then {
    /// No leader is committing: the caller must start one, with
    /// [`Pending::lead`], on a thread that may block.
    Lead,
    /// The running leader will commit the write.
    Wait,
}

impl Pending {
    fn queue(&self) -> std::sync::MutexGuard<'_, Vec<Job>> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `work` for the next commit, and returns where its outcome
    /// will arrive and whether the caller must start a leader.
    pub(super) fn push<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> (oneshot::Receiver<Result<T, StoreError>>, Then) {
        let (sender, receiver) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let outcome = conn.map(|conn| in_savepoint(conn, work));
            Box::new(move |group| {
                let result = match (group, outcome) {
                    (Err(e), _) => Err(e.clone()),
                    (Ok(()), Some(outcome)) => outcome,
                    (Ok(()), None) => Err(StoreError::failed("the write was not run")),
                };
                // No receiver: the request was cancelled. Its write stands,
                // as one made just before a client leaves always has.
                let _ = sender.send(result);
            })
        });
        self.queue().push(job);
        let then = if self.leading.swap(true, Ordering::SeqCst) {
            Then::Wait
        } else {
            Then::Lead
        };
        (receiver, then)
    }

    /// Commits queued writes, a group at a time, each group on a writer
    /// connection from `writer`, until none is left.
    pub(super) fn lead<C: Deref<Target = Connection>>(&self, writer: impl Fn() -> C) {
        // Stands down if a group panics, so the next write starts a leader.
        struct StandDown<'a>(&'a AtomicBool);
        impl Drop for StandDown<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::SeqCst);
            }
        }
        loop {
            let stand_down = StandDown(&self.leading);
            self.commit_on(&writer());
            drop(stand_down);
            // A write queued after the last group but before the stand-down
            // saw a leader at work and counts on it: take it up, unless a
            // new leader already has.
            if self.queue().is_empty() || self.leading.swap(true, Ordering::SeqCst) {
                return;
            }
        }
    }

    /// Commits every queued write in one transaction on `conn`, which the
    /// caller holds alone.
    fn commit_on(&self, conn: &Connection) {
        let jobs = std::mem::take(&mut *self.queue());
        if jobs.is_empty() {
            return;
        }
        // A group cut short by a panic leaves its transaction open.
        if !conn.is_autocommit() {
            roll_back(conn);
        }
        let begun = execute(conn, "BEGIN IMMEDIATE");
        // Some failures (a full disk, an I/O error) make SQLite roll the
        // whole transaction back. A write after that must not run: its
        // savepoint would open a transaction of its own and commit it on
        // release, while the group's commit fails and reports it failed.
        let deliveries: Vec<Deliver> = jobs
            .into_iter()
            .map(|job| job((begun.is_ok() && !conn.is_autocommit()).then_some(conn)))
            .collect();
        let committed = begun.and_then(|()| execute(conn, "COMMIT"));
        if committed.is_err() && !conn.is_autocommit() {
            roll_back(conn);
        }
        for deliver in deliveries {
            deliver(committed.as_ref().map(|_| ()));
        }
    }
}

/// Runs `work` in a savepoint, undone if `work` fails.
fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    execute(conn, "SAVEPOINT request")?;
    let result = work(conn);
    let ended = match &result {
        Ok(_) => execute(conn, "RELEASE request"),
        Err(_) => {
            execute(conn, "ROLLBACK TO request").and_then(|()| execute(conn, "RELEASE request"))
        }
    };
    ended.and(result)
}

fn execute(conn: &Connection, sql: &str) -> Result<(), StoreError> {
    conn.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(drop)
        .map_err(db_error)
}

fn roll_back(conn: &Connection) {
    if let Err(error) = execute(conn, "ROLLBACK") {
        tracing::error!(%error, "cannot roll back an unfinished write");
    }
}
