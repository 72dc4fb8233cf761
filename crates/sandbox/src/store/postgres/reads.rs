//! The page reads, each one statement: one round trip, one snapshot.

use crate::model::org::Org;
use crate::store::contract::{KeysPage, Versioned};
use crate::store::error::StoreError;

use super::PgStore;
use super::error::pg_error;
use super::rows::key_from_row;

impl PgStore {
    /// [`Store::read_page`](crate::store::Store::read_page).
    pub(super) async fn page_of_keys(
        &self,
        org_id: &str,
        offset: u64,
        limit: u64,
    ) -> Result<Versioned<KeysPage>, StoreError> {
        let client = self.client().await?;
        // The version, the count and the page in one statement: one
        // snapshot, so `total` and the version match the page. The
        // version comes on a row of its own, so that it comes even
        // when no organization has this id.
        let statement = client
            .prepare_cached(
                "SELECT v.n, o.key_count, k.id, k.org_id, k.name, k.scopes, k.created_at, k.exp
                 FROM sandbox_version v
                 LEFT JOIN orgs o ON o.id = $1
                 LEFT JOIN LATERAL (
                     SELECT * FROM api_keys WHERE org_id = o.id
                     ORDER BY created_at, id LIMIT $2 OFFSET $3
                 ) k ON true
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
        let Some(first) = rows.first() else {
            return Err(StoreError::failed("the sandbox_version row is missing"));
        };
        let version = first.get::<_, i64>(0);
        // No count: no such organization.
        let Some(total) = first.get::<_, Option<i64>>(1) else {
            return Ok(Versioned {
                value: None,
                version,
            });
        };
        let keys = rows
            .iter()
            .filter(|row| row.get::<_, Option<&str>>(2).is_some())
            .map(|row| key_from_row(row, 2))
            .collect();
        Ok(Versioned {
            value: Some((keys, u64::try_from(total).unwrap_or(0))),
            version,
        })
    }

    /// [`Store::list_orgs`](crate::store::Store::list_orgs).
    pub(super) async fn page_of_orgs(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<(Org, u64)>, u64), StoreError> {
        let client = self.client().await?;
        // The count and the page in one statement, so that `total`
        // matches the page; one row even when the page is empty.
        let statement = client
            .prepare_cached(
                "SELECT t.total, o.id, o.name, o.key_count
                 FROM (SELECT count(*) AS total FROM orgs) t
                 LEFT JOIN LATERAL (
                     SELECT id, name, key_count FROM orgs
                     ORDER BY name, id LIMIT $1 OFFSET $2
                 ) o ON true
                 ORDER BY o.name, o.id",
            )
            .await
            .map_err(pg_error)?;
        let rows = client
            .query(
                &statement,
                &[
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                    &i64::try_from(offset).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(pg_error)?;
        let total = rows.first().map_or(0, |row| row.get::<_, i64>(0));
        let orgs = rows
            .iter()
            .filter_map(|row| {
                let id: String = row.get::<_, Option<String>>(1)?;
                let org = Org {
                    id,
                    name: row.get(2),
                };
                Some((org, u64::try_from(row.get::<_, i64>(3)).unwrap_or(0)))
            })
            .collect();
        Ok((orgs, u64::try_from(total).unwrap_or(0)))
    }
}
