//! SQL pieces the store's statements share: writing keys in bulk, the
//! sandbox clock as SQL, and reading a key from a row.

use crate::model::keys::SecretHash;
use crate::model::org::StoredKey;
use crate::store::columns::{scopes_from_column, scopes_to_column};

use super::PgStore;

impl PgStore {
    /// Inserts `keys` in one statement; with `counted`, the same statement
    /// adds them to their organizations' counts, so that it locks the
    /// organizations' rows before the version row, as every write does.
    pub(super) async fn insert_rows(
        tx: &deadpool_postgres::Transaction<'_>,
        keys: &[(StoredKey, SecretHash)],
        counted: bool,
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
        let insert = "INSERT INTO api_keys (id, org_id, name, scopes, created_at, exp, secret_hash)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                  $5::bigint[], $6::bigint[], $7::bytea[])";
        let statement = if counted {
            format!(
                "WITH added AS ({insert} RETURNING org_id)
                 UPDATE orgs SET key_count = key_count + c.n
                 FROM (SELECT org_id, count(*) AS n FROM added GROUP BY org_id) AS c
                 WHERE orgs.id = c.org_id"
            )
        } else {
            insert.to_owned()
        };
        tx.execute(
            &statement,
            &[&ids, &org_ids, &names, &scopes, &created, &exps, &hashes],
        )
        .await
    }
}

/// An SQL expression for the sandbox clock's now in whole Unix seconds, as
/// [`ClockSetting::now_at`](crate::model::clock::ClockSetting::now_at) reckons
/// it: from the control row as the statement sees it, and the wall clock
/// given as the parameter `wall` (Unix milliseconds). So a write checks
/// and stamps by the clock as it stands when the write is made, not as it
/// stood when its request was authenticated. The JSON paths are the
/// serialized names of `ClockSetting`'s fields; a test holds them to it.
pub(super) fn clock_now_sql(wall: &str) -> String {
    format!(
        "(SELECT least(greatest(coalesce((c.state #>> '{{clock,frozenAtMs}}')::bigint, \
                  {wall}::bigint + coalesce((c.state #>> '{{clock,offsetMs}}')::bigint, 0)), 0), \
                  {latest}) / 1000 \
          FROM (SELECT (SELECT state::jsonb FROM sandbox_control) AS state) AS c)",
        latest = crate::model::clock::LATEST
    )
}

pub(super) fn key_from_row(row: &tokio_postgres::Row, first: usize) -> StoredKey {
    StoredKey {
        id: row.get(first),
        org_id: row.get(first + 1),
        name: row.get(first + 2),
        scopes: scopes_from_column(row.get(first + 3)),
        created_at: row.get(first + 4),
        exp: row.get(first + 5),
    }
}

#[cfg(test)]
mod tests {
    use crate::model::clock::ClockSetting;
    use crate::store::ControlState;

    /// [`clock_now_sql`] reads the clock out of the control row's
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
