//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use crate::model::settings::ControlToken;
use crate::service::controls::Controls;
use crate::store::contract::Store;
use crate::store::limiter::Limiter;
use crate::store::read_model::ReadModel;

/// What every handler shares.
pub(super) struct AppState {
    pub(super) store: Arc<dyn Store>,
    /// What the vendor API reads, validated against `store` per request.
    pub(super) model: ReadModel,
    pub(super) controls: Controls,
    pub(super) limiter: Option<Box<dyn Limiter>>,
    pub(super) max_key_lifetime: Option<Duration>,
    pub(super) control_token: Option<ControlToken>,
}
