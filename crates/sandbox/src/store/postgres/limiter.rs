//! The rate limits of every replica, kept in the database.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::Pool;

use crate::model::org::StoredKey;
use crate::model::rate_limit::{Gcra, IDLE_EVICTION_EVERY, RateLimit, cells_in_order, micros};
use crate::store::error::StoreError;
use crate::store::limiter::{Limiter, Verdict};

use super::error::{pg_error, pool_error};

/// The rate limits of every process on one database, kept in it. Time is
/// the sandbox clock's, which every replica reads from the database; the
/// replicas' wall clocks under it are assumed to agree, as they do on one
/// host or under NTP.
pub(super) struct PgLimiter {
    pool: Pool,
    per_key: Option<Gcra>,
    per_org: Option<Gcra>,
    checks: AtomicU32,
}

impl PgLimiter {
    /// The limiter on `pool`'s database; `None` from both limits means no
    /// limiter is needed.
    pub(super) fn new(
        pool: Pool,
        per_key: Option<RateLimit>,
        per_org: Option<RateLimit>,
    ) -> Option<Self> {
        (per_key.is_some() || per_org.is_some()).then(|| Self {
            pool,
            per_key: per_key.map(Gcra::new),
            per_org: per_org.map(Gcra::new),
            checks: AtomicU32::new(0),
        })
    }

    /// Takes one request from the cell `id` at `now` (microseconds), in one
    /// statement: [`Gcra::take`]'s rule, in SQL.
    async fn take(
        &self,
        client: &deadpool_postgres::Object,
        id: &str,
        limit: Gcra,
        now: i64,
    ) -> Result<Result<(), Duration>, StoreError> {
        let statement = client
            .prepare_cached(
                "INSERT INTO rate_limit_cells AS c (id, tat) VALUES ($1, $4::bigint + $2::bigint)
                 ON CONFLICT (id) DO UPDATE SET tat = greatest(c.tat, $4) + $2
                 WHERE greatest(c.tat, $4) + $2 <= $4 + $3::bigint
                 RETURNING tat",
            )
            .await
            .map_err(pg_error)?;
        let taken = client
            .query_opt(&statement, &[&id, &limit.period, &limit.tolerance, &now])
            .await
            .map_err(pg_error)?;
        if taken.is_some() {
            return Ok(Ok(()));
        }
        // Refused: the same rule says how long until the cell lets one more
        // through.
        let tat: Option<i64> = client
            .query_opt("SELECT tat FROM rate_limit_cells WHERE id = $1", &[&id])
            .await
            .map_err(pg_error)?
            .map(|row| row.get(0));
        Ok(match tat {
            Some(tat) => limit.take(Some(tat), now).map(drop),
            // Gone between the two statements (a reset, or tidying by a
            // request with a later now): refused all the same, since the
            // guarded write refused it.
            None => Err(Duration::from_micros(
                u64::try_from(limit.period).unwrap_or(1),
            )),
        })
    }

    async fn check_at(
        &self,
        key: &StoredKey,
        now: i64,
    ) -> Result<Result<(), Duration>, StoreError> {
        let client = self.pool.get().await.map_err(pool_error)?;
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(IDLE_EVICTION_EVERY)
        {
            // A cell whose time has passed is a full allowance, the same as
            // no cell. Tidying is no reason to fail a request.
            let _ = client
                .execute("DELETE FROM rate_limit_cells WHERE tat <= $1", &[&now])
                .await;
        }
        for (limit, id) in cells_in_order(key, self.per_key, self.per_org) {
            if let Err(wait) = self.take(&client, &id, limit, now).await? {
                return Ok(Err(wait));
            }
        }
        Ok(Ok(()))
    }
}

impl Limiter for PgLimiter {
    fn check<'a>(&'a self, key: &'a StoredKey, now: DateTime<Utc>) -> Verdict<'a> {
        Box::pin(self.check_at(key, micros(now)))
    }
}
