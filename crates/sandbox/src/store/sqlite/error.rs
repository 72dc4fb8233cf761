//! SQLite's errors as the store's.

use crate::store::error::StoreError;

pub(super) fn db_error(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::{CannotOpen, DatabaseBusy, DatabaseLocked};
    match e.sqlite_error_code() {
        // Another process holds the database longer than `busy_timeout`,
        // or its file is out of reach for now.
        Some(DatabaseBusy | DatabaseLocked | CannotOpen) => StoreError::Unavailable(e.to_string()),
        _ => StoreError::failed(e),
    }
}
