//! Storage: the [`Store`] trait the service and HTTP layers are written
//! against, and its two backends, SQLite (`sqlite`) and PostgreSQL
//! (`postgres`), one folder each. A store keeps rows and applies control
//! commands in its transactions; the rules it applies are the model's.

pub(crate) mod columns;
pub mod contract;
pub mod error;
pub mod limiter;
pub mod postgres;
pub mod read_model;
pub mod sqlite;

pub use crate::model::control_state::{ControlCommand, ControlRefusal, ControlState, MAX_FAULTS};
pub use crate::model::org::{Org, StoredKey};
pub use contract::{Acting, KeysPage, SeededOrg, Store, Versioned, Write};
pub use error::{StoreError, StoreFuture};
