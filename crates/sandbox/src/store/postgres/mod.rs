//! The PostgreSQL store, for several sandbox processes (replicas) that
//! share one truth.
//!
//! Nothing that decides who may call is kept in a process unchecked: every
//! request reads the store's version (see `read_model`) or its key from the
//! database, and a write made for a caller locks the caller's row (`FOR
//! SHARE`) in the write's own statement, so a delete committed through any
//! replica is seen by the next request to every replica. Commits wait for
//! the WAL flush (`synchronous_commit = on`), so an answered create
//! survives a crash of its replica or of the database.
//! The rate limits live here too, in an unlogged table, so that spreading a
//! burst over replicas does not multiply anyone's allowance.
//!
//! Lock order. The API's statements take only the table locks that
//! reading and writing rows take, which never conflict with one another
//! (in what order a statement takes them is PostgreSQL's to decide);
//! between them only row locks can make one wait for another, and those
//! are taken in one order: a group of creates locks its callers' keys in
//! id order, then its one organization's row; a delete locks its caller's
//! key and the doomed key together, in id order, then the organization's
//! row; every statement that changes data then locks the version row
//! last, in its triggers. A reset is the one statement that takes strong
//! table locks: all four tables, in the order
//! of `RESET_LOCK_ORDER`, each wait cut short by a lock timeout well
//! under the server's `deadlock_timeout`. When one runs out (a slow
//! reader such as `pg_dump`, or a statement that holds one table and
//! waits for another the reset holds), the reset lets go of every lock
//! and starts over after a pause. So a reset never holds a table for long
//! while waiting for another, no cycle with it lasts until the deadlock
//! detector picks a victim (with the default `deadlock_timeout` of 1 s),
//! and it waits out a slow reader instead of failing. Under a steady load
//! of writes a reset may need several attempts.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};

use crate::store::error::StoreError;

mod creates;
mod error;
mod limiter;
mod operations;
mod reads;
mod reset;
mod rows;
mod schema;
mod tls;

use error::{POOL_TIMEOUT, pg_error, pool_error};
pub use schema::SCHEMA_VERSION;

/// How long a connection may be silent before TCP keepalives probe it.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);

/// The default number of connections each process keeps. Measured on 2
/// cores: with 16, a replica's throughput fell by about a tenth and its p99
/// latency grew fourfold against 4 or 8, as more server processes competed
/// for the same cores.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// A [`Store`](crate::store::Store) on PostgreSQL. Cloning it shares the pool.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    creates: std::sync::Arc<creates::Creates>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pool's configuration holds the password.
        f.debug_struct("PgStore").finish_non_exhaustive()
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
        // Answered writes must be on disk, whatever the server's default.
        // Every statement of the store is written for an index; but the
        // planner's statistics lag a table that grows by thousands of keys
        // a second, and with those of a small table it planned each key
        // lookup as a scan of every key (measured: a thousand full scans in
        // five seconds of creates). Every write is one statement that
        // updates shared rows (an organization's, the version's), which
        // under a stricter default isolation would fail whenever two met,
        // so each runs READ COMMITTED. Options the URL gives are kept.
        let ours = "-c synchronous_commit=on -c enable_seqscan=off -c jit=off \
                    -c default_transaction_isolation=read\\ committed";
        let options = match config.get_options() {
            Some(given) => format!("{given} {ours}"),
            None => ours.to_owned(),
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
        let store = Self {
            pool,
            creates: std::sync::Arc::default(),
        };
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
}
