//! Emptying every table at once, without deadlocking against requests:
//! the tables are locked in one order, each wait cut short, and on a
//! timeout everything is let go and tried again.

use std::time::Duration;

use tokio_postgres::error::SqlState;

use crate::store::error::StoreError;

use super::PgStore;
use super::error::pg_error;

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

impl PgStore {
    /// Empties every table, as a reset does.
    pub(super) async fn truncate_all(&self) -> Result<(), StoreError> {
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
    }
}
