//! PostgreSQL's and the pool's errors as the store's.

use std::time::Duration;

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

use crate::store::error::StoreError;

/// How long a request waits for a pooled connection, or for a new one to
/// be made, before it is answered 503.
pub(super) const POOL_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn pg_error(error: tokio_postgres::Error) -> StoreError {
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

pub(super) fn pool_error(error: PoolError) -> StoreError {
    match error {
        PoolError::Backend(error) => pg_error(error),
        PoolError::Timeout(_) => StoreError::Unavailable(format!(
            "no database connection within {} s",
            POOL_TIMEOUT.as_secs()
        )),
        other => StoreError::failed(other),
    }
}
