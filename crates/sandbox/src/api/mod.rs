//! The HTTP API: the router and its settings. Each job has its file:
//! `auth` (who is calling), `validate` (what they sent), `keys` (the three
//! operations) and `problem` (the shape of every error). Responses are
//! built from the client crate's generated types, so server and client
//! share one wire model.

mod auth;
mod control;
mod keys;
mod problem;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use alphamoon_client::Scope;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{delete, post};

use crate::ratelimit::{Limiter, LocalLimiter, RateLimit};
use crate::store::Store;
pub use control::ControlToken;
pub(crate) use control::load_fixtures;
use problem::Problem;

/// The scope every operation of this API needs.
pub const ADMIN_SCOPE: Scope = Scope::WorkspaceAdminApiKeyManage;

/// Tunables of the API and of the connections it is served on.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Per-key rate limit; `None` turns it off.
    pub rate_limit: Option<RateLimit>,
    /// Rate limit shared by all keys of an organization, so that minting
    /// keys does not multiply the allowance; `None` turns it off.
    pub org_rate_limit: Option<RateLimit>,
    /// The longest lifetime a new key may be given; `None` for no limit.
    pub max_key_lifetime: Option<Duration>,
    /// How long one request may take before it is answered with 503.
    pub request_timeout: Duration,
    /// The largest request body accepted.
    pub body_limit: usize,
    /// Timeouts and the cap on open connections.
    pub connections: crate::ConnectionLimits,
    /// The token that opens the control plane under `/_sandbox/v1`; `None`
    /// leaves it off, and its paths answer 404 like any unknown path.
    pub control_token: Option<ControlToken>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rate_limit: Some(RateLimit::default()),
            org_rate_limit: Some(RateLimit::ORG_DEFAULT),
            max_key_lifetime: None,
            request_timeout: Duration::from_secs(30),
            body_limit: 16 * 1024,
            connections: crate::ConnectionLimits::default(),
            control_token: None,
        }
    }
}

/// What every handler shares.
struct AppState {
    store: Arc<dyn Store>,
    limiter: Option<Box<dyn Limiter>>,
    max_key_lifetime: Option<Duration>,
    control_token: Option<ControlToken>,
}

/// The API as an axum router, with its middleware.
pub fn router(store: Arc<dyn Store>, settings: &Settings) -> Router {
    // A store that several processes share keeps the limits' state too, so
    // that spreading requests over processes does not multiply allowances.
    let limiter = store
        .shared_limiter(settings.rate_limit, settings.org_rate_limit)
        .or_else(|| {
            LocalLimiter::new(settings.rate_limit, settings.org_rate_limit)
                .map(|limiter| Box::new(limiter) as Box<dyn Limiter>)
        });
    let state = Arc::new(AppState {
        store,
        limiter,
        max_key_lifetime: settings.max_key_lifetime,
        control_token: settings.control_token.clone(),
    });
    let control = if settings.control_token.is_some() {
        Router::new().nest("/_sandbox/v1", control::router())
    } else {
        Router::new()
    };
    control
        .route(
            "/api/v0.4/admin/api-keys",
            post(keys::create).get(keys::list),
        )
        .route(
            "/api/v0.4/admin/api-keys/{api_key_id}",
            delete(keys::delete),
        )
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "No such endpoint.") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "This endpoint does not support this method.",
            )
        })
        .with_state(state)
        .layer(axum::middleware::from_fn(problem::refuse_oversized_head))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            settings.body_limit,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(axum::middleware::map_response(problem::finish_response))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}
