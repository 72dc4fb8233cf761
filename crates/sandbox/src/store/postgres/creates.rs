//! Group commit for creates.
//!
//! Every create of an organization updates its row (the key count) and the
//! version row, and holds both locks until its commit has waited for the
//! WAL flush, so creates made one statement each ran one after another,
//! a flush apiece. Now creates queue up, and one leader task per process
//! writes everything queued for an organization in one statement: one
//! round trip, one flush, one update of each hot row for the whole group.
//! Each create is still checked on its own: its caller must still exist
//! and be unexpired, and its `exp` still ahead, by the clock in the
//! statement. A group that fails as a whole on something one create
//! brought (a duplicate secret, say) is tried again one create at a time,
//! so that one bad create fails alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use chrono::Utc;
use tokio::sync::oneshot;

use crate::model::keys::SecretHash;
use crate::model::org::StoredKey;
use crate::store::columns::scopes_to_column;
use crate::store::contract::Write;
use crate::store::error::StoreError;

use super::PgStore;
use super::error::pg_error;
use super::rows::clock_now_sql;

/// A create waiting for the next group.
struct Queued {
    caller_id: String,
    key: StoredKey,
    secret_hash: SecretHash,
    answer: oneshot::Sender<Result<Write<i64>, StoreError>>,
}

/// The creates waiting for the next group, and whether a leader is
/// writing them.
#[derive(Default)]
pub(super) struct Creates {
    queue: Mutex<Vec<Queued>>,
    leading: AtomicBool,
}

impl Creates {
    fn take(&self) -> Vec<Queued> {
        std::mem::take(&mut *self.queue.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn is_empty(&self) -> bool {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }
}

impl PgStore {
    /// [`Store::insert_key_as`](crate::store::Store::insert_key_as), in
    /// the next group.
    pub(super) async fn create_in_group(
        &self,
        caller_id: &str,
        key: &StoredKey,
        secret_hash: &SecretHash,
    ) -> Result<Write<i64>, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.creates
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Queued {
                caller_id: caller_id.to_owned(),
                key: key.clone(),
                secret_hash: *secret_hash,
                answer,
            });
        if !self.creates.leading.swap(true, Ordering::SeqCst) {
            // A task of its own, so that a request cancelled while it leads
            // does not take the other creates' answers with it.
            let store = self.clone();
            drop(tokio::spawn(async move { store.lead_creates().await }));
        }
        answered
            .await
            .map_err(|_| StoreError::failed("a create was dropped before its commit"))?
    }

    async fn lead_creates(&self) {
        // Stands down even if a group panics, so the next create starts a
        // leader; the panicked group's creates get an error.
        struct StandDown<'a>(&'a AtomicBool);
        impl Drop for StandDown<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::SeqCst);
            }
        }
        loop {
            let stand_down = StandDown(&self.creates.leading);
            loop {
                let queued = self.creates.take();
                if queued.is_empty() {
                    break;
                }
                let mut by_org: HashMap<String, Vec<Queued>> = HashMap::new();
                // A create whose request is gone (timed out, cut off) is not
                // made: nobody would ever learn its secret.
                for create in queued.into_iter().filter(|c| !c.answer.is_closed()) {
                    by_org
                        .entry(create.key.org_id.clone())
                        .or_default()
                        .push(create);
                }
                // Each organization's group on a connection of its own, so
                // that one waiting for a lock does not hold up the others.
                futures_util::future::join_all(
                    by_org.into_values().map(|group| self.write_group(group)),
                )
                .await;
            }
            drop(stand_down);
            // A create queued after the last group but before the
            // stand-down saw a leader at work and counts on it.
            if self.creates.is_empty() || self.creates.leading.swap(true, Ordering::SeqCst) {
                return;
            }
        }
    }

    /// Writes one organization's group and answers each of its creates.
    async fn write_group(&self, group: Vec<Queued>) {
        match self.insert_group(&group).await {
            Ok(outcomes) => {
                for (create, outcome) in group.into_iter().zip(outcomes) {
                    let _ = create.answer.send(Ok(outcome));
                }
            }
            // A group that failed on something one create brought (a
            // secret taken, say) is tried one create at a time; one that
            // found the database unavailable fails as a whole, at once.
            Err(StoreError::Failed(_)) if group.len() > 1 => {
                for create in group {
                    let outcome = self
                        .insert_group(std::slice::from_ref(&create))
                        .await
                        .map(|mut one| one.remove(0));
                    let _ = create.answer.send(outcome);
                }
            }
            Err(error) => {
                for create in group {
                    let _ = create.answer.send(Err(error.clone()));
                }
            }
        }
    }

    /// Inserts the keys of `group`, all of one organization, in one
    /// statement; what came of each, in order.
    async fn insert_group(&self, group: &[Queued]) -> Result<Vec<Write<i64>>, StoreError> {
        let client = self.client().await?;
        // One statement, so one round trip and one transaction, which
        // reads the clock it checks the callers and stamps the keys by.
        // `FOR SHARE` makes a concurrent delete of a caller wait for this
        // insert, or makes this insert see the delete and skip the
        // caller's keys. Callers are locked in id order, as deletes lock
        // keys, then the one organization row: no cycle with a delete.
        // `= ANY` of the array keeps the callers' lookup on the primary
        // key, where a join with the unnested input planned a scan of
        // every key.
        let statement = client
            .prepare_cached(&format!(
                "WITH clock AS (SELECT {} AS now), input AS (
                     SELECT * FROM unnest($1::text[], $3::text[], $4::text[], $5::text[],
                                          $6::text[], $7::bigint[], $8::bytea[])
                         WITH ORDINALITY
                         AS t(caller_id, id, org_id, name, scopes, exp, secret_hash, n)
                 ), callers AS (
                     SELECT id FROM api_keys
                     WHERE id = ANY($1::text[]) AND exp > (SELECT now FROM clock)
                     ORDER BY id FOR SHARE
                 ), added AS (
                     INSERT INTO api_keys (id, org_id, name, scopes, created_at, exp, secret_hash)
                     SELECT i.id, i.org_id, i.name, i.scopes, clock.now, i.exp, i.secret_hash
                     FROM input i, clock
                     WHERE i.caller_id IN (SELECT id FROM callers) AND i.exp > clock.now
                     RETURNING id, org_id
                 ), counted AS (
                     UPDATE orgs SET key_count = key_count + c.n
                     FROM (SELECT org_id, count(*) AS n FROM added GROUP BY org_id) AS c
                     WHERE orgs.id = c.org_id
                     RETURNING 1
                 )
                 SELECT i.caller_id IN (SELECT id FROM callers),
                        i.id IN (SELECT id FROM added),
                        (SELECT now FROM clock),
                        (SELECT count(*) FROM counted)
                 FROM input i ORDER BY i.n",
                clock_now_sql("$2")
            ))
            .await
            .map_err(pg_error)?;
        let column = |f: fn(&Queued) -> String| -> Vec<String> { group.iter().map(f).collect() };
        let rows = client
            .query(
                &statement,
                &[
                    &column(|c| c.caller_id.clone()),
                    &Utc::now().timestamp_millis(),
                    &column(|c| c.key.id.clone()),
                    &column(|c| c.key.org_id.clone()),
                    &column(|c| c.key.name.clone()),
                    &column(|c| scopes_to_column(&c.key.scopes)),
                    &group.iter().map(|c| c.key.exp).collect::<Vec<i64>>(),
                    &group
                        .iter()
                        .map(|c| c.secret_hash.as_slice())
                        .collect::<Vec<&[u8]>>(),
                ],
            )
            .await
            .map_err(pg_error)?;
        Ok(rows
            .iter()
            .map(|row| {
                let (live, added, now): (bool, bool, i64) = (row.get(0), row.get(1), row.get(2));
                match (live, added) {
                    (false, _) => Write::CallerGone,
                    (true, false) => Write::BornExpired,
                    (true, true) => Write::Done(now),
                }
            })
            .collect())
    }
}
