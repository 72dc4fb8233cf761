//! [`Store`] on PostgreSQL: each call as statements in one transaction,
//! the caller's row locked in the statement that writes for it.

use chrono::Utc;
use tokio_postgres::error::SqlState;

use crate::model::control_state::{ControlCommand, ControlRefusal, ControlState};
use crate::model::keys::SecretHash;
use crate::model::org::{Org, StoredKey};
use crate::model::rate_limit::RateLimit;
use crate::store::columns::KEY_COLUMNS;
use crate::store::contract::{Acting, KeysPage, SeededOrg, Store, Versioned, Write};
use crate::store::error::{StoreError, StoreFuture};
use crate::store::limiter::Limiter;

use super::PgStore;
use super::error::pg_error;
use super::limiter::PgLimiter;
use super::rows::{clock_now_sql, key_from_row};
use super::schema::locked_transaction;

impl Store for PgStore {
    fn insert_key<'a>(
        &'a self,
        key: &'a StoredKey,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, ()> {
        Box::pin(async move { self.bulk_insert(&[(key.clone(), *secret_hash)]).await })
    }

    fn insert_key_as<'a>(
        &'a self,
        caller: Acting<'a>,
        key: &'a StoredKey,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, Write<i64>> {
        Box::pin(self.create_in_group(caller.key_id, key, secret_hash))
    }

    fn authenticate<'a>(
        &'a self,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, Versioned<(Option<StoredKey>, ControlState)>> {
        Box::pin(async move {
            let client = self.client().await?;
            // One row whether or not the key exists, so that the control
            // state and the version come with every lookup, in the same
            // round trip and the same snapshot.
            let statement = client
                .prepare_cached(&format!(
                    "SELECT {KEY_COLUMNS}, (SELECT state FROM sandbox_control),
                            (SELECT n FROM sandbox_version)
                     FROM (SELECT 1) AS one LEFT JOIN api_keys ON secret_hash = $1"
                ))
                .await
                .map_err(pg_error)?;
            let row = client
                .query_one(&statement, &[&secret_hash.as_slice()])
                .await
                .map_err(pg_error)?;
            let key = row
                .get::<_, Option<&str>>(0)
                .is_some()
                .then(|| key_from_row(&row, 0));
            let state = ControlState::from_column(row.get(6))?;
            Ok(Versioned {
                value: (key, state),
                version: row.get(7),
            })
        })
    }

    fn version(&self) -> StoreFuture<'_, i64> {
        Box::pin(async move {
            let client = self.client().await?;
            let statement = client
                .prepare_cached("SELECT n FROM sandbox_version")
                .await
                .map_err(pg_error)?;
            let row = client.query_one(&statement, &[]).await.map_err(pg_error)?;
            Ok(row.get(0))
        })
    }

    fn control_state(&self) -> StoreFuture<'_, ControlState> {
        Box::pin(async move {
            let client = self.client().await?;
            let row = client
                .query_opt("SELECT state FROM sandbox_control", &[])
                .await
                .map_err(pg_error)?;
            ControlState::from_column(row.as_ref().map(|row| row.get(0)))
        })
    }

    fn update_control(
        &self,
        command: ControlCommand,
    ) -> StoreFuture<'_, (Result<bool, ControlRefusal>, ControlState)> {
        Box::pin(async move {
            let mut client = self.client().await?;
            // The advisory lock serializes changes even while the row does
            // not exist yet, which `FOR UPDATE` alone could not.
            let tx = locked_transaction(&mut client).await?;
            let row = tx
                .query_opt("SELECT state FROM sandbox_control", &[])
                .await
                .map_err(pg_error)?;
            let mut state = ControlState::from_column(row.as_ref().map(|row| row.get(0)))?;
            let applied = state.apply(&command, Utc::now());
            if applied != Ok(true) {
                return Ok((applied, state));
            }
            tx.execute(
                "INSERT INTO sandbox_control (id, state) VALUES (1, $1)
                 ON CONFLICT (id) DO UPDATE SET state = excluded.state",
                &[&state.to_column()],
            )
            .await
            .map_err(pg_error)?;
            tx.commit().await.map_err(pg_error)?;
            Ok((applied, state))
        })
    }

    fn read_page<'a>(
        &'a self,
        org_id: &'a str,
        offset: u64,
        limit: u64,
    ) -> StoreFuture<'a, Versioned<KeysPage>> {
        Box::pin(self.page_of_keys(org_id, offset, limit))
    }

    fn list_orgs(&self, offset: u64, limit: u64) -> StoreFuture<'_, (Vec<(Org, u64)>, u64)> {
        Box::pin(self.page_of_orgs(offset, limit))
    }

    fn delete_key<'a>(
        &'a self,
        caller: Acting<'a>,
        org_id: &'a str,
        key_id: &'a str,
    ) -> StoreFuture<'a, Write<bool>> {
        Box::pin(async move {
            let client = self.client().await?;
            // The caller's row and the doomed one are locked together in id
            // order, so that two keys deleting each other at once wait for
            // one another instead of deadlocking: the second finds its
            // caller gone.
            let statement = client
                .prepare_cached(&format!(
                    "WITH clock AS (SELECT {} AS now), locked AS (
                         SELECT id, exp FROM api_keys WHERE id IN ($1, $3) ORDER BY id FOR UPDATE
                     ), caller AS (
                         SELECT 1 FROM locked WHERE id = $1 AND exp > (SELECT now FROM clock)
                     ), gone AS (
                         DELETE FROM api_keys
                         WHERE id = $3 AND org_id = $4 AND EXISTS (SELECT 1 FROM caller)
                         RETURNING org_id
                     ), counted AS (
                         UPDATE orgs SET key_count = key_count - 1
                         WHERE id IN (SELECT org_id FROM gone)
                         RETURNING 1
                     )
                     SELECT EXISTS (SELECT 1 FROM caller), EXISTS (SELECT 1 FROM counted)",
                    clock_now_sql("$2")
                ))
                .await
                .map_err(pg_error)?;
            let row = client
                .query_one(
                    &statement,
                    &[
                        &caller.key_id,
                        &Utc::now().timestamp_millis(),
                        &key_id,
                        &org_id,
                    ],
                )
                .await
                .map_err(pg_error)?;
            Ok(if row.get(0) {
                Write::Done(row.get(1))
            } else {
                Write::CallerGone
            })
        })
    }

    fn add_orgs<'a>(
        &'a self,
        orgs: &'a [SeededOrg],
        only_into_empty: bool,
    ) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = if only_into_empty {
                locked_transaction(&mut client).await?
            } else {
                client.transaction().await.map_err(pg_error)?
            };
            if only_into_empty {
                let empty: bool = tx
                    .query_one("SELECT NOT EXISTS (SELECT 1 FROM orgs)", &[])
                    .await
                    .map_err(pg_error)?
                    .get(0);
                if !empty {
                    return Ok(false);
                }
            }
            for seeded in orgs {
                let count = i64::try_from(seeded.keys.len()).unwrap_or(i64::MAX);
                tx.execute(
                    "INSERT INTO orgs (id, name, key_count) VALUES ($1, $2, $3)",
                    &[&seeded.org.id, &seeded.org.name, &count],
                )
                .await
                .map_err(pg_error)?;
                Self::insert_rows(&tx, &seeded.keys, false)
                    .await
                    .map_err(|e| {
                        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
                            StoreError::SecretTaken
                        } else {
                            pg_error(e)
                        }
                    })?;
            }
            tx.commit().await.map_err(pg_error)?;
            Ok(true)
        })
    }

    fn reset(&self) -> StoreFuture<'_, ()> {
        Box::pin(self.truncate_all())
    }

    fn bulk_insert<'a>(&'a self, keys: &'a [(StoredKey, SecretHash)]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(pg_error)?;
            Self::insert_rows(&tx, keys, true).await.map_err(pg_error)?;
            tx.commit().await.map_err(pg_error)
        })
    }

    fn shared_limiter(
        &self,
        per_key: Option<RateLimit>,
        per_org: Option<RateLimit>,
    ) -> Option<Box<dyn Limiter>> {
        PgLimiter::new(self.pool.clone(), per_key, per_org)
            .map(|limiter| Box::new(limiter) as Box<dyn Limiter>)
    }
}
