//! The schema, as migrations, and bringing a database up to date.

use rusqlite::Connection;

use super::error::db_error;
use crate::store::columns::schema_too_new;
use crate::store::error::StoreError;

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
    "
-- The store's version (`Store::version`): moved up by every change to the
-- data, from any process, by these triggers, so that no write can forget
-- it. A process may answer from what it read at a version for as long as
-- the version stays the same.
CREATE TABLE sandbox_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n  INTEGER NOT NULL
) STRICT;
INSERT INTO sandbox_version (id, n) VALUES (1, 0);
CREATE TRIGGER api_keys_insert_moves_version AFTER INSERT ON api_keys
    BEGIN UPDATE sandbox_version SET n = n + 1; END;
CREATE TRIGGER api_keys_update_moves_version AFTER UPDATE ON api_keys
    BEGIN UPDATE sandbox_version SET n = n + 1; END;
CREATE TRIGGER api_keys_delete_moves_version AFTER DELETE ON api_keys
    BEGIN UPDATE sandbox_version SET n = n + 1; END;
CREATE TRIGGER orgs_insert_moves_version AFTER INSERT ON orgs
    BEGIN UPDATE sandbox_version SET n = n + 1; END;
CREATE TRIGGER orgs_update_moves_version AFTER UPDATE ON orgs
    BEGIN UPDATE sandbox_version SET n = n + 1; END;
CREATE TRIGGER orgs_delete_moves_version AFTER DELETE ON orgs
    BEGIN UPDATE sandbox_version SET n = n + 1; END;
CREATE TRIGGER sandbox_control_insert_moves_version AFTER INSERT ON sandbox_control
    BEGIN UPDATE sandbox_version SET n = n + 1; END;
CREATE TRIGGER sandbox_control_update_moves_version AFTER UPDATE ON sandbox_control
    BEGIN UPDATE sandbox_version SET n = n + 1; END;
CREATE TRIGGER sandbox_control_delete_moves_version AFTER DELETE ON sandbox_control
    BEGIN UPDATE sandbox_version SET n = n + 1; END;
",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// Applies the migrations `conn`'s database lacks, all in one transaction
/// that holds the write lock, so that two processes starting on one file
/// do not both apply them.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
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
