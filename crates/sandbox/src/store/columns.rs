//! How both backends keep values in columns: a key's columns, its scopes,
//! the control state, and the refusal of a schema from the future.

use alphamoon_client::Scope;

use super::error::StoreError;
use crate::model::control_state::ControlState;

impl ControlState {
    /// The state as a backend reads it from its one text column; no row is
    /// the default state.
    pub(crate) fn from_column(column: Option<&str>) -> Result<Self, StoreError> {
        match column {
            None => Ok(Self::default()),
            Some(text) => serde_json::from_str(text)
                .map_err(|e| StoreError::Failed(format!("unreadable control state: {e}"))),
        }
    }

    /// The text a backend keeps.
    pub(crate) fn to_column(&self) -> String {
        serde_json::to_string(self).expect("the control state serializes")
    }
}

/// The columns both backends read a key from, in [`StoredKey`]'s order.
pub(crate) const KEY_COLUMNS: &str = "id, org_id, name, scopes, created_at, exp";

/// The refusal of a database whose schema a newer sandbox wrote: this one
/// cannot know what the newer migrations changed.
pub(crate) fn schema_too_new(found: usize, known: usize) -> StoreError {
    StoreError::Failed(format!(
        "the database has schema version {found}, newer than this sandbox's {known}; \
         run a newer alphamoon-sandbox"
    ))
}

/// How both backends keep a key's scopes in one column: wire values
/// separated by spaces (no scope contains one).
pub(crate) fn scopes_to_column(scopes: &[Scope]) -> String {
    let mut column = String::new();
    for scope in scopes {
        if !column.is_empty() {
            column.push(' ');
        }
        column.push_str(scope.as_str());
    }
    column
}

/// The inverse of [`scopes_to_column`].
pub(crate) fn scopes_from_column(column: &str) -> Vec<Scope> {
    // Split on the one byte the column is written with: a list page parses
    // thousands of scopes, and Unicode whitespace costs a decode per char.
    column
        .split(' ')
        .filter(|scope| !scope.is_empty())
        .map(Scope::from)
        .collect()
}
