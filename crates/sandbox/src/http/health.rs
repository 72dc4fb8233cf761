//! The health probes, `/_sandbox/healthz` and `/_sandbox/readyz`. They are
//! mounted whether or not the control plane is, take no credential, and
//! are never journaled: the journal skips every path under `/_sandbox/`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::problem::Problem;
use super::response::json;
use super::state::AppState;
use crate::control_client::types::Health;
use crate::store::error::StoreError;

/// The probes' routes: at the root, since the control plane's router is
/// mounted only when it is on.
pub(super) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/_sandbox/healthz", get(liveness))
        .route("/_sandbox/readyz", get(readiness))
}

/// Answers while the process serves; it touches nothing else, so that a
/// database outage never gets a healthy process restarted.
async fn liveness() -> Response {
    json(
        StatusCode::OK,
        &Health {
            status: "ok".to_owned(),
        },
    )
}

/// Answers 200 only if the store answers a read now. The sandbox listens
/// only once migrations, the bootstrap and fixtures are done, so an
/// answer at all means those are behind it.
async fn readiness(State(state): State<Arc<AppState>>) -> Response {
    match state.store.control_state().await {
        Ok(_) => json(
            StatusCode::OK,
            &Health {
                status: "ready".to_owned(),
            },
        ),
        Err(error @ StoreError::Unavailable(_)) => Problem::from(error).into_response(),
        // Whatever else went wrong, the probe's answer is "not now", 503,
        // so that traffic moves elsewhere; a 500 would say nothing more.
        Err(error) => Problem::from(StoreError::Unavailable(error.to_string())).into_response(),
    }
}
