//! The reads, each on whichever reader connection [`SqliteStore::read`]
//! found for it.

use rusqlite::{Connection, OptionalExtension, params};

use super::db::key_from_row;
use super::error::db_error;
use crate::model::control_state::ControlState;
use crate::model::keys::SecretHash;
use crate::model::org::{Org, StoredKey};
use crate::store::columns::KEY_COLUMNS;
use crate::store::contract::{KeysPage, Versioned};
use crate::store::error::StoreError;

/// The key whose secret hashes to `secret_hash`, if any, the control
/// state and the version, in one statement.
pub(super) fn authenticate(
    conn: &Connection,
    secret_hash: &SecretHash,
) -> Result<Versioned<(Option<StoredKey>, ControlState)>, StoreError> {
    // One row whether or not the key exists, so that the control state
    // comes with every lookup.
    let mut statement = conn
        .prepare_cached(&format!(
            "SELECT {KEY_COLUMNS}, (SELECT state FROM sandbox_control),
                    (SELECT n FROM sandbox_version)
             FROM (SELECT 1) LEFT JOIN api_keys ON secret_hash = ?1"
        ))
        .map_err(db_error)?;
    let (key, state, version) = statement
        .query_row(params![secret_hash.as_slice()], |row| {
            let key = match row.get::<_, Option<String>>(0)? {
                Some(_) => Some(key_from_row(row)?),
                None => None,
            };
            Ok((key, row.get::<_, Option<String>>(6)?, row.get(7)?))
        })
        .map_err(db_error)?;
    Ok(Versioned {
        value: (key, ControlState::from_column(state.as_deref())?),
        version,
    })
}

/// The store's version: one row of one table, the cheapest read there is.
pub(super) fn version(conn: &Connection) -> Result<i64, StoreError> {
    conn.prepare_cached("SELECT n FROM sandbox_version")
        .and_then(|mut s| s.query_row([], |row| row.get(0)))
        .map_err(db_error)
}

/// The control state alone; the writer reads it too, inside a write.
pub(super) fn control_state(conn: &Connection) -> Result<ControlState, StoreError> {
    let state: Option<String> = conn
        .prepare_cached("SELECT state FROM sandbox_control")
        .and_then(|mut s| s.query_row([], |row| row.get(0)).optional())
        .map_err(db_error)?;
    ControlState::from_column(state.as_deref())
}

/// One page of an organization's keys, and how many it has (`None` if
/// there is no such organization), with the version they were read at.
pub(super) fn read_page(
    conn: &Connection,
    org_id: &str,
    offset: u64,
    limit: u64,
) -> Result<Versioned<KeysPage>, StoreError> {
    // Every read in one transaction, so `total` and the version match the
    // page.
    conn.prepare_cached("BEGIN")
        .and_then(|mut s| s.execute([]))
        .map_err(db_error)?;
    let result = (|| {
        let version: i64 = conn
            .prepare_cached("SELECT n FROM sandbox_version")?
            .query_row([], |row| row.get(0))?;
        let page = |value| Versioned { value, version };
        let Some(total) = conn
            .prepare_cached("SELECT key_count FROM orgs WHERE id = ?1")?
            .query_row(params![org_id], |row| row.get::<_, i64>(0))
            .optional()?
        else {
            return Ok(page(None));
        };
        let keys = conn
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE org_id = ?1
                 ORDER BY created_at, id LIMIT ?2 OFFSET ?3"
            ))?
            .query_map(
                params![
                    org_id,
                    i64::try_from(limit).unwrap_or(i64::MAX),
                    i64::try_from(offset).unwrap_or(i64::MAX)
                ],
                key_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(page(Some((keys, u64::try_from(total).unwrap_or(0)))))
    })();
    conn.prepare_cached("COMMIT")
        .and_then(|mut s| s.execute([]))
        .map_err(db_error)?;
    result.map_err(db_error)
}

/// One page of the organizations by name then id, with their key counts,
/// and how many there are.
pub(super) fn list_orgs(
    conn: &Connection,
    offset: u64,
    limit: u64,
) -> Result<(Vec<(Org, u64)>, u64), StoreError> {
    // Both reads in one transaction, so `total` matches the page.
    conn.prepare_cached("BEGIN")
        .and_then(|mut s| s.execute([]))
        .map_err(db_error)?;
    let result = (|| {
        let total: i64 = conn
            .prepare_cached("SELECT count(*) FROM orgs")?
            .query_row([], |row| row.get(0))?;
        let orgs = conn
            .prepare_cached(
                "SELECT id, name, key_count FROM orgs ORDER BY name, id LIMIT ?1 OFFSET ?2",
            )?
            .query_map(
                params![
                    i64::try_from(limit).unwrap_or(i64::MAX),
                    i64::try_from(offset).unwrap_or(i64::MAX)
                ],
                |row| {
                    Ok((
                        Org {
                            id: row.get(0)?,
                            name: row.get(1)?,
                        },
                        u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                    ))
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((orgs, u64::try_from(total).unwrap_or(0)))
    })();
    conn.prepare_cached("COMMIT")
        .and_then(|mut s| s.execute([]))
        .map_err(db_error)?;
    result.map_err(db_error)
}
