//! [`Store`] on SQLite: each call as a read on a reader, or a write on
//! the writer or through the group commit.

use rusqlite::params;

use super::SqliteStore;
use super::db::{ADJUST_COUNT, INSERT_KEY, insert_with};
use super::error::db_error;
use super::reads;
use crate::model::control_state::{ControlCommand, ControlRefusal, ControlState};
use crate::model::keys::SecretHash;
use crate::model::org::{Org, StoredKey};
use crate::store::contract::{Acting, KeysPage, SeededOrg, Store, Versioned, Write};
use crate::store::error::{StoreError, StoreFuture};

impl Store for SqliteStore {
    fn insert_key<'a>(
        &'a self,
        key: &'a StoredKey,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, ()> {
        let row = vec![(key.clone(), *secret_hash)];
        self.run(move |db| db.bulk_insert(&row))
    }

    fn insert_key_as<'a>(
        &'a self,
        caller: Acting<'a>,
        key: &'a StoredKey,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, Write<i64>> {
        let (key, secret_hash) = (key.clone(), *secret_hash);
        self.write_as(caller, move |conn, now| {
            if key.exp <= now {
                return Ok(Write::BornExpired);
            }
            let key = StoredKey {
                created_at: now,
                ..key
            };
            insert_with(&mut conn.prepare_cached(INSERT_KEY)?, &key, &secret_hash)?;
            conn.prepare_cached(ADJUST_COUNT)?
                .execute(params![1, key.org_id])?;
            Ok(Write::Done(now))
        })
    }

    fn authenticate<'a>(
        &'a self,
        secret_hash: &'a SecretHash,
    ) -> StoreFuture<'a, Versioned<(Option<StoredKey>, ControlState)>> {
        let secret_hash = *secret_hash;
        self.read(move |conn| reads::authenticate(conn, &secret_hash))
    }

    fn version(&self) -> StoreFuture<'_, i64> {
        self.read(reads::version)
    }

    fn control_state(&self) -> StoreFuture<'_, ControlState> {
        self.read(reads::control_state)
    }

    fn update_control(
        &self,
        command: ControlCommand,
    ) -> StoreFuture<'_, (Result<bool, ControlRefusal>, ControlState)> {
        self.run(move |db| db.update_control(&command))
    }

    fn read_page<'a>(
        &'a self,
        org_id: &'a str,
        offset: u64,
        limit: u64,
    ) -> StoreFuture<'a, Versioned<KeysPage>> {
        let org_id = org_id.to_owned();
        self.read(move |conn| reads::read_page(conn, &org_id, offset, limit))
    }

    fn list_orgs(&self, offset: u64, limit: u64) -> StoreFuture<'_, (Vec<(Org, u64)>, u64)> {
        self.read(move |conn| reads::list_orgs(conn, offset, limit))
    }

    fn delete_key<'a>(
        &'a self,
        caller: Acting<'a>,
        org_id: &'a str,
        key_id: &'a str,
    ) -> StoreFuture<'a, Write<bool>> {
        let (org_id, key_id) = (org_id.to_owned(), key_id.to_owned());
        self.write_as(caller, move |conn, _now| {
            let deleted = conn
                .prepare_cached("DELETE FROM api_keys WHERE id = ?1 AND org_id = ?2")?
                .execute(params![key_id, org_id])?;
            if deleted == 1 {
                conn.prepare_cached(ADJUST_COUNT)?
                    .execute(params![-1, org_id])?;
            }
            Ok(Write::Done(deleted == 1))
        })
    }

    fn add_orgs<'a>(
        &'a self,
        orgs: &'a [SeededOrg],
        only_into_empty: bool,
    ) -> StoreFuture<'a, bool> {
        let orgs = orgs.to_vec();
        self.run(move |db| {
            let mut conn = db.write();
            // The write lock first, so that the emptiness check holds until
            // the commit, against other processes on the file too.
            let tx = conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(db_error)?;
            if only_into_empty {
                let empty: bool = tx
                    .query_row("SELECT NOT EXISTS (SELECT 1 FROM orgs)", [], |row| {
                        row.get(0)
                    })
                    .map_err(db_error)?;
                if !empty {
                    return Ok(false);
                }
            }
            for seeded in &orgs {
                tx.execute(
                    "INSERT INTO orgs (id, name, key_count) VALUES (?1, ?2, ?3)",
                    params![seeded.org.id, seeded.org.name, seeded.keys.len()],
                )
                .map_err(db_error)?;
                let mut insert = tx.prepare_cached(INSERT_KEY).map_err(db_error)?;
                for (key, hash) in &seeded.keys {
                    insert_with(&mut insert, key, hash).map_err(|e| {
                        if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ConstraintViolation) {
                            StoreError::SecretTaken
                        } else {
                            db_error(e)
                        }
                    })?;
                }
            }
            tx.commit().map_err(db_error)?;
            Ok(true)
        })
    }

    fn reset(&self) -> StoreFuture<'_, ()> {
        self.run(|db| {
            let mut conn = db.write();
            let tx = conn.transaction().map_err(db_error)?;
            tx.execute_batch(
                "DELETE FROM api_keys; DELETE FROM orgs; DELETE FROM sandbox_control;",
            )
            .map_err(db_error)?;
            tx.commit().map_err(db_error)
        })
    }

    fn bulk_insert<'a>(&'a self, keys: &'a [(StoredKey, SecretHash)]) -> StoreFuture<'a, ()> {
        let rows = keys.to_vec();
        self.run(move |db| db.bulk_insert(&rows))
    }
}
