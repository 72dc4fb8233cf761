//! The PostgreSQL store, for several sandbox processes (replicas) that
//! share one truth.
//!
//! Nothing that decides who may call is kept in a process: every request
//! reads its key from the database, and a write made for a caller locks the
//! caller's row (`FOR SHARE`) in the write's own statement, so a delete
//! committed through any replica is seen by the next request to every
//! replica. Commits wait for the WAL flush (`synchronous_commit = on`), so
//! an answered create survives a crash of its replica or of the database.
//! The rate limits live here too, in an unlogged table, so that spreading a
//! burst over replicas does not multiply anyone's allowance.
//!
//! Lock order. The API's statements take only the table locks that
//! reading and writing rows take, which never conflict with one another
//! (in what order a statement takes them is PostgreSQL's to decide);
//! between them only row locks can make one wait for another, and those
//! are taken in one order: a create locks its caller's key, then its
//! organization's row; a delete locks its caller's key and the doomed key
//! together, in id order, then the organization's row. A reset is the one
//! statement that takes strong table locks: all four tables, in the order
//! of `RESET_LOCK_ORDER`, each wait cut short by a lock timeout well
//! under the server's `deadlock_timeout`. When one runs out (a slow
//! reader such as `pg_dump`, or a statement that holds one table and
//! waits for another the reset holds), the reset lets go of every lock
//! and starts over after a pause. So a reset never holds a table for long
//! while waiting for another, no cycle with it lasts until the deadlock
//! detector picks a victim (with the default `deadlock_timeout` of 1 s),
//! and it waits out a slow reader instead of failing. Under a steady load
//! of writes a reset may need several attempts.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;

use crate::model::control_state::{ControlCommand, ControlRefusal, ControlState};
use crate::model::keys::SecretHash;
use crate::model::org::StoredKey;
use crate::model::rate_limit::{Gcra, IDLE_EVICTION_EVERY, RateLimit, cells_in_order, micros};
use crate::store::columns::{KEY_COLUMNS, schema_too_new, scopes_from_column, scopes_to_column};
use crate::store::contract::{Acting, SeededOrg, Store, Write};
use crate::store::error::{StoreError, StoreFuture};
use crate::store::limiter::{Limiter, Verdict};

mod tls;

/// The schema's versions, oldest first. `schema_migrations` records the
/// ones a database has.
const MIGRATIONS: &[&str] = &[
    "
CREATE TABLE orgs (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    -- Kept in step by every insert and delete, so that `total` never needs
    -- a count(*) over the org's keys.
    key_count  BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    name        TEXT NOT NULL,
    scopes      TEXT NOT NULL,  -- wire values, space-separated
    created_at  BIGINT NOT NULL,
    exp         BIGINT NOT NULL,
    secret_hash BYTEA NOT NULL UNIQUE
);
-- The list order; a page is a range scan of this index.
CREATE INDEX api_keys_list_order ON api_keys (org_id, created_at, id);
-- Rate-limit state: one GCRA cell per key or organization, holding its
-- theoretical arrival time in Unix microseconds. Losing it in a crash only
-- refills allowances, so it skips the WAL.
CREATE UNLOGGED TABLE rate_limit_cells (
    id  TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);
",
    "
-- The control plane's clock and faults (`ControlState` as JSON): one row,
-- or none for the default.
CREATE TABLE sandbox_control (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL
);
",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Serializes schema changes and bootstraps between processes: a
/// transaction-scoped advisory lock, one number for this program.
const SCHEMA_LOCK: i64 = 0x616d_6b5f_7363_686d;

/// How long a request waits for a pooled connection, or for a new one to
/// be made, before it is answered 503.
const POOL_TIMEOUT: Duration = Duration::from_secs(5);

/// The tables a reset empties, in the order it locks them.
const RESET_LOCK_ORDER: &str = "api_keys, orgs, rate_limit_cells, sandbox_control";

/// The longest a reset waits for any one table's lock before it lets go
/// of all of them and starts over; shorter still when the server's
/// `deadlock_timeout` is short.
const RESET_LOCK_WAIT_MS: f64 = 100.0;

/// The pause between a reset's attempts, in which the statements that
/// queued behind it run.
const RESET_PAUSE: Duration = Duration::from_millis(10);

/// How long a reset keeps trying before it reports the database
/// unavailable: the tables are held by someone that is not letting go.
const RESET_PATIENCE: Duration = Duration::from_secs(30);

/// How long a connection may be silent before TCP keepalives probe it.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);

/// The default number of connections each process keeps. Measured on 2
/// cores: with 16, a replica's throughput fell by about a tenth and its p99
/// latency grew fourfold against 4 or 8, as more server processes competed
/// for the same cores.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// A [`Store`] on PostgreSQL. Cloning it shares the pool.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool's configuration holds the password.
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

fn pg_error(error: tokio_postgres::Error) -> StoreError {
    let transient = match error.code() {
        // No SQLSTATE: the connection failed, broke or timed out, or the
        // driver itself refused (a bad configuration, a type mismatch),
        // which no retry cures.
        None => {
            error.is_closed()
                || std::error::Error::source(&error)
                    .is_some_and(|source| source.is::<std::io::Error>())
        }
        Some(code) => {
            // 08 connection exception, 53 insufficient resources, 57 operator
            // intervention (shutdown), 40 serialization failure or deadlock.
            matches!(&code.code()[..2], "08" | "53" | "57" | "40")
                // A standby that was the primary a moment ago: a failover.
                || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        }
    };
    // The driver's own text is often only "error connecting to server";
    // the reason (refused, timed out, no such database) is in its source.
    let mut message = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    if transient {
        StoreError::Unavailable(message)
    } else {
        StoreError::Failed(message)
    }
}

fn pool_error(error: PoolError) -> StoreError {
    match error {
        PoolError::Backend(error) => pg_error(error),
        PoolError::Timeout(_) => StoreError::Unavailable(format!(
            "no database connection within {} s",
            POOL_TIMEOUT.as_secs()
        )),
        other => StoreError::failed(other),
    }
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://USER@HOST:PORT/DB`,
    /// with libpq's `sslmode` and `sslrootcert` in its query if need be)
    /// with a pool of up to `pool_size` connections, and brings its schema
    /// up to date. Fails if the database cannot be reached now.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Self, StoreError> {
        // `sslmode` and `sslrootcert` as libpq reads them: see the `tls` module.
        let (url, tls) = tls::TlsParams::take_from(url)?;
        let mut config: tokio_postgres::Config = url
            .parse()
            // Neither the parser's message nor its cause (an unknown
            // option, a bad value) repeats the URL, which may hold a
            // password.
            .map_err(|e: tokio_postgres::Error| {
                let cause = std::error::Error::source(&e)
                    .map(|cause| format!(": {cause}"))
                    .unwrap_or_default();
                StoreError::Failed(format!("invalid database URL: {e}{cause}"))
            })?;
        // Answered writes must be on disk, whatever the server's default;
        // options the URL gives are kept.
        let options = match config.get_options() {
            Some(given) => format!("{given} -c synchronous_commit=on"),
            None => "-c synchronous_commit=on".to_owned(),
        };
        config
            .application_name("alphamoon-sandbox")
            .connect_timeout(POOL_TIMEOUT)
            .options(&options)
            // A server that vanished without closing its connections (a
            // host gone from the network) is noticed within seconds, not
            // when TCP gives up a quarter of an hour later.
            .keepalives(true)
            .keepalives_idle(KEEPALIVE_IDLE)
            .tcp_user_timeout(POOL_TIMEOUT);
        let tls = tls.connector(&mut config)?;
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                // A connection the server closed is dropped on its next
                // checkout; a query that fails on it answers 503 once.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_TIMEOUT))
            .create_timeout(Some(POOL_TIMEOUT))
            .recycle_timeout(Some(POOL_TIMEOUT))
            .build()
            .map_err(StoreError::failed)?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// The schema version of this database: how many migrations it has.
    pub async fn schema_version(&self) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                &[],
            )
            .await
            .map_err(pg_error)?;
        Ok(usize::try_from(row.get::<_, i32>(0)).unwrap_or(usize::MAX))
    }

    /// The `synchronous_commit` this store's connections run with: `on`
    /// whatever the server's default, so that a write is answered only
    /// once it is on disk.
    pub async fn synchronous_commit(&self) -> Result<String, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_one("SHOW synchronous_commit", &[])
            .await
            .map_err(pg_error)?;
        Ok(row.get(0))
    }

    /// Applies the migrations the database lacks, in one transaction under
    /// the schema lock, so that replicas starting together apply each once.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = locked_transaction(&mut client).await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(pg_error)?;
        let version: i32 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM schema_migrations",
                &[],
            )
            .await
            .map_err(pg_error)?
            .get(0);
        let version = usize::try_from(version).unwrap_or(0);
        if version > MIGRATIONS.len() {
            return Err(schema_too_new(version, MIGRATIONS.len()));
        }
        for (applied, migration) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.batch_execute(migration).await.map_err(pg_error)?;
            let number = i32::try_from(applied + 1).unwrap_or(i32::MAX);
            tx.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[&number],
            )
            .await
            .map_err(pg_error)?;
        }
        tx.commit().await.map_err(pg_error)
    }
}

impl PgStore {
    /// Inserts `keys` in one statement, leaving the organizations' counts
    /// to the caller.
    async fn insert_rows(
        tx: &deadpool_postgres::Transaction<'_>,
        keys: &[(StoredKey, SecretHash)],
    ) -> Result<u64, tokio_postgres::Error> {
        let column = |f: fn(&StoredKey) -> String| -> Vec<String> {
            keys.iter().map(|(key, _)| f(key)).collect()
        };
        let (ids, org_ids, names, scopes) = (
            column(|k| k.id.clone()),
            column(|k| k.org_id.clone()),
            column(|k| k.name.clone()),
            column(|k| scopes_to_column(&k.scopes)),
        );
        let created: Vec<i64> = keys.iter().map(|(k, _)| k.created_at).collect();
        let exps: Vec<i64> = keys.iter().map(|(k, _)| k.exp).collect();
        let hashes: Vec<&[u8]> = keys.iter().map(|(_, h)| h.as_slice()).collect();
        tx.execute(
            "INSERT INTO api_keys (id, org_id, name, scopes, created_at, exp, secret_hash)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                  $5::bigint[], $6::bigint[], $7::bytea[])",
            &[&ids, &org_ids, &names, &scopes, &created, &exps, &hashes],
        )
        .await
    }
}

/// Starts a transaction that holds [`SCHEMA_LOCK`] until it ends. It is
/// READ COMMITTED whatever the database's default, so that each later
/// statement sees what a process that held the lock before committed.
async fn locked_transaction(
    client: &mut deadpool_postgres::Object,
) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    let tx = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::ReadCommitted)
        .start()
        .await
        .map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(pg_error)?;
    Ok(tx)
}

/// An SQL expression for the sandbox clock's now in whole Unix seconds, as
/// [`ClockSetting::now_at`](crate::model::clock::ClockSetting::now_at) reckons
/// it: from the control row as the statement sees it, and the wall clock
/// given as the parameter `wall` (Unix milliseconds). So a write checks
/// and stamps by the clock as it stands when the write is made, not as it
/// stood when its request was authenticated. The JSON paths are the
/// serialized names of `ClockSetting`'s fields; a test holds them to it.
fn clock_now_sql(wall: &str) -> String {
    format!(
        "(SELECT least(greatest(coalesce((c.state #>> '{{clock,frozenAtMs}}')::bigint, \
                  {wall}::bigint + coalesce((c.state #>> '{{clock,offsetMs}}')::bigint, 0)), 0), \
                  {latest}) / 1000 \
          FROM (SELECT (SELECT state::jsonb FROM sandbox_control) AS state) AS c)",
        latest = crate::model::clock::LATEST
    )
}

fn key_from_row(row: &tokio_postgres::Row, first: usize) -> StoredKey {
    StoredKey {
        id: row.get(first),
        org_id: row.get(first + 1),
        name: row.get(first + 2),
        scopes: scopes_from_column(row.get(first + 3)),
        created_at: row.get(first + 4),
        exp: row.get(first + 5),
    }
}

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
        Box::pin(async move {
            let client = self.client().await?;
            // One statement, so one round trip and one transaction, which
            // reads the clock it checks the caller and stamps the key by.
            // `FOR SHARE` makes a concurrent delete of the caller wait for
            // this insert, or makes this insert see the delete and do
            // nothing.
            let statement = client
                .prepare_cached(&format!(
                    "WITH clock AS (SELECT {} AS now), caller AS (
                         SELECT 1 FROM api_keys
                         WHERE id = $1 AND exp > (SELECT now FROM clock) FOR SHARE
                     ), added AS (
                         INSERT INTO api_keys (id, org_id, name, scopes, created_at, exp, secret_hash)
                         SELECT $3, $4, $5, $6, clock.now, $7, $8 FROM caller, clock
                         WHERE $7 > clock.now
                         RETURNING org_id
                     ), counted AS (
                         UPDATE orgs SET key_count = key_count + 1
                         WHERE id IN (SELECT org_id FROM added)
                         RETURNING 1
                     )
                     SELECT EXISTS (SELECT 1 FROM caller), (SELECT now FROM clock),
                            EXISTS (SELECT 1 FROM counted)",
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
                        &key.id,
                        &key.org_id,
                        &key.name,
                        &scopes_to_column(&key.scopes),
                        &key.exp,
                        &secret_hash.as_slice(),
                    ],
                )
                .await
                .map_err(pg_error)?;
            let (live, now, added): (bool, i64, bool) = (row.get(0), row.get(1), row.get(2));
            Ok(match (live, added) {
                (false, _) => Write::CallerGone,
                (true, false) => Write::BornExpired,
                (true, true) => Write::Done(now),
            })
        })
    }

    fn key_by_secret_hash<'a>(
        &'a self,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, Option<StoredKey>> {
        Box::pin(async move { Ok(self.authenticate(secret_hash).await?.0) })
    }

    fn authenticate<'a>(
        &'a self,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, (Option<StoredKey>, ControlState)> {
        Box::pin(async move {
            let client = self.client().await?;
            // One row whether or not the key exists, so that the control
            // state comes with every lookup, in the same round trip.
            let statement = client
                .prepare_cached(&format!(
                    "SELECT {KEY_COLUMNS}, (SELECT state FROM sandbox_control)
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
            Ok((key, state))
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

    fn list_keys<'a>(
        &'a self,
        org_id: &'a str,
        offset: u64,
        limit: u64,
    ) -> StoreFuture<'a, (Vec<StoredKey>, u64)> {
        Box::pin(async move {
            let client = self.client().await?;
            // The count and the page in one statement: one snapshot, so
            // `total` matches the page.
            let statement = client
                .prepare_cached(
                    "SELECT o.key_count, k.id, k.org_id, k.name, k.scopes, k.created_at, k.exp
                     FROM orgs o
                     LEFT JOIN LATERAL (
                         SELECT * FROM api_keys WHERE org_id = o.id
                         ORDER BY created_at, id LIMIT $2 OFFSET $3
                     ) k ON true
                     WHERE o.id = $1
                     ORDER BY k.created_at, k.id",
                )
                .await
                .map_err(pg_error)?;
            let rows = client
                .query(
                    &statement,
                    &[
                        &org_id,
                        &i64::try_from(limit).unwrap_or(i64::MAX),
                        &i64::try_from(offset).unwrap_or(i64::MAX),
                    ],
                )
                .await
                .map_err(pg_error)?;
            let total = rows.first().map_or(0, |row| row.get::<_, i64>(0));
            let keys = rows
                .iter()
                .filter(|row| row.get::<_, Option<&str>>(1).is_some())
                .map(|row| key_from_row(row, 1))
                .collect();
            Ok((keys, u64::try_from(total).unwrap_or(0)))
        })
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
                Self::insert_rows(&tx, &seeded.keys).await.map_err(|e| {
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
        Box::pin(async move {
            let mut client = self.client().await?;
            // A wait for one table while holding another must end before
            // PostgreSQL's deadlock detector would pick a victim, which
            // could be an API statement: a fraction of its timeout.
            let deadlock_ms: f64 = client
                .query_one(
                    "SELECT (extract(epoch FROM current_setting('deadlock_timeout')::interval) * 1000)::float8",
                    &[],
                )
                .await
                .map_err(pg_error)?
                .get::<_, f64>(0);
            let lock_ms = (deadlock_ms / 4.0).clamp(1.0, RESET_LOCK_WAIT_MS);
            let give_up = std::time::Instant::now() + RESET_PATIENCE;
            loop {
                let tx = client.transaction().await.map_err(pg_error)?;
                let truncated = tx
                    .batch_execute(&format!(
                        "SET LOCAL lock_timeout = '{lock_ms:.0}ms';
                         LOCK TABLE {RESET_LOCK_ORDER} IN ACCESS EXCLUSIVE MODE;
                         TRUNCATE {RESET_LOCK_ORDER}"
                    ))
                    .await;
                match truncated {
                    Ok(()) => return tx.commit().await.map_err(pg_error),
                    // Every lock taken so far goes with the rollback, so
                    // the statements that waited for them go on.
                    Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                        tx.rollback().await.map_err(pg_error)?;
                        if std::time::Instant::now() > give_up {
                            return Err(StoreError::Unavailable(format!(
                                "the tables stayed locked by other sessions for {} s",
                                RESET_PATIENCE.as_secs()
                            )));
                        }
                        tokio::time::sleep(RESET_PAUSE).await;
                    }
                    Err(e) => return Err(pg_error(e)),
                }
            }
        })
    }

    fn bulk_insert<'a>(&'a self, keys: &'a [(StoredKey, SecretHash)]) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(pg_error)?;
            Self::insert_rows(&tx, keys).await.map_err(pg_error)?;
            let org_ids: Vec<&str> = keys.iter().map(|(k, _)| k.org_id.as_str()).collect();
            tx.execute(
                "UPDATE orgs SET key_count = key_count + added.n
                 FROM (SELECT org_id, count(*) AS n FROM unnest($1::text[]) AS t(org_id)
                       GROUP BY org_id) AS added
                 WHERE orgs.id = added.org_id",
                &[&org_ids],
            )
            .await
            .map_err(pg_error)?;
            tx.commit().await.map_err(pg_error)
        })
    }

    fn shared_limiter(
        &self,
        per_key: Option<RateLimit>,
        per_org: Option<RateLimit>,
    ) -> Option<Box<dyn Limiter>> {
        (per_key.is_some() || per_org.is_some()).then(|| {
            Box::new(PgLimiter {
                pool: self.pool.clone(),
                per_key: per_key.map(Gcra::new),
                per_org: per_org.map(Gcra::new),
                checks: AtomicU32::new(0),
            }) as Box<dyn Limiter>
        })
    }
}

/// The rate limits of every process on one database, kept in it. Time is
/// the sandbox clock's, which every replica reads from the database; the
/// replicas' wall clocks under it are assumed to agree, as they do on one
/// host or under NTP.
struct PgLimiter {
    pool: Pool,
    per_key: Option<Gcra>,
    per_org: Option<Gcra>,
    checks: AtomicU32,
}

impl PgLimiter {
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

#[cfg(test)]
mod tests {
    use crate::model::clock::ClockSetting;
    use crate::store::ControlState;

    /// [`super::clock_now_sql`] reads the clock out of the control row's
    /// JSON by these names.
    #[test]
    fn the_clock_sql_reads_the_names_the_control_row_is_written_with() {
        let wall = chrono::DateTime::from_timestamp_millis(5_000).expect("in range");
        let column = |clock: ClockSetting| -> serde_json::Value {
            let state = ControlState {
                clock,
                ..ControlState::default()
            };
            serde_json::from_str(&state.to_column()).expect("JSON")
        };
        let mut clock = ClockSetting::default();
        clock.advance(7, wall).expect("advance");
        let running = column(clock);
        assert_eq!(running["clock"]["offsetMs"], 7_000);
        assert_eq!(running["clock"]["frozenAtMs"], serde_json::Value::Null);
        clock
            .freeze(wall + chrono::Duration::seconds(60), wall)
            .expect("freeze");
        assert_eq!(column(clock)["clock"]["frozenAtMs"], 65_000);
        let sql = super::clock_now_sql("$9");
        assert!(sql.contains("'{clock,frozenAtMs}'") && sql.contains("'{clock,offsetMs}'"));
    }
}
