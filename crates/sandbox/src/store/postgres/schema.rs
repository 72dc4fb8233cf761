//! The schema, as migrations, applied under a lock that replicas
//! starting together share.

use crate::store::columns::schema_too_new;
use crate::store::error::StoreError;

use super::PgStore;
use super::error::pg_error;

/// The schema's versions, oldest first. `schema_migrations` records the
/// ones a database has.
pub(super) const MIGRATIONS: &[&str] = &[
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
    "
-- The store's version (`Store::version`): moved up by every statement that
-- changes data, from any replica, by these triggers, so that no write
-- can forget it. A replica may answer from what it read at a version for
-- as long as the version stays the same.
CREATE TABLE sandbox_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  BIGINT NOT NULL
);
INSERT INTO sandbox_version (id, n) VALUES (1, 0);
-- Only statements that changed rows move it: a delete that found nothing
-- or a create refused in its statement leaves every replica's reads valid.
CREATE FUNCTION sandbox_version_move() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sandbox_version SET n = n + 1;
    RETURN NULL;
END $$;
CREATE FUNCTION sandbox_version_move_if_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM changed) THEN
        UPDATE sandbox_version SET n = n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER api_keys_insert_moves_version AFTER INSERT ON api_keys
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION sandbox_version_move_if_changed();
CREATE TRIGGER api_keys_update_moves_version AFTER UPDATE ON api_keys
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION sandbox_version_move_if_changed();
CREATE TRIGGER api_keys_delete_moves_version AFTER DELETE ON api_keys
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION sandbox_version_move_if_changed();
CREATE TRIGGER api_keys_truncate_moves_version AFTER TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION sandbox_version_move();
CREATE TRIGGER orgs_insert_moves_version AFTER INSERT ON orgs
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION sandbox_version_move_if_changed();
CREATE TRIGGER orgs_update_moves_version AFTER UPDATE ON orgs
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION sandbox_version_move_if_changed();
CREATE TRIGGER orgs_delete_moves_version AFTER DELETE ON orgs
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION sandbox_version_move_if_changed();
CREATE TRIGGER orgs_truncate_moves_version AFTER TRUNCATE ON orgs
    FOR EACH STATEMENT EXECUTE FUNCTION sandbox_version_move();
CREATE TRIGGER sandbox_control_insert_moves_version AFTER INSERT ON sandbox_control
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION sandbox_version_move_if_changed();
CREATE TRIGGER sandbox_control_update_moves_version AFTER UPDATE ON sandbox_control
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION sandbox_version_move_if_changed();
CREATE TRIGGER sandbox_control_delete_moves_version AFTER DELETE ON sandbox_control
    REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION sandbox_version_move_if_changed();
CREATE TRIGGER sandbox_control_truncate_moves_version AFTER TRUNCATE ON sandbox_control
    FOR EACH STATEMENT EXECUTE FUNCTION sandbox_version_move();
",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Serializes schema changes and bootstraps between processes: a
/// transaction-scoped advisory lock, one number for this program.
pub(super) const SCHEMA_LOCK: i64 = 0x616d_6b5f_7363_686d;

impl PgStore {
    /// Applies the migrations the database lacks, in one transaction under
    /// the schema lock, so that replicas starting together apply each once.
    pub(super) async fn migrate(&self) -> Result<(), StoreError> {
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

/// Starts a transaction that holds [`SCHEMA_LOCK`] until it ends. It is
/// READ COMMITTED whatever the database's default, so that each later
/// statement sees what a process that held the lock before committed.
pub(super) async fn locked_transaction(
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
