//! The HTTP API: the router and its settings. Each job has its file:
//! `auth` (who is calling), `validate` (what they sent), `keys` (the three
//! operations) and `problem` (the shape of every error). Responses are
//! built from the client crate's generated types, so server and client
//! share one wire model.

mod auth;
mod control;
mod keys;
mod problem;
mod record;
pub(crate) mod validate;

use std::sync::Arc;
use std::time::Duration;

use alphamoon_client::Scope;
use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::{delete, post};

use crate::control::Controls;
use crate::ratelimit::{Limiter, LocalLimiter, RateLimit};
use crate::store::Store;
pub use control::ControlToken;
pub(crate) use problem::Problem;
pub use record::DroppedConnection;

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
    /// The largest request body accepted (`loadFixtures` takes up to
    /// [`MAX_FIXTURES_BYTES`](crate::MAX_FIXTURES_BYTES)).
    pub body_limit: usize,
    /// Timeouts and the cap on open connections.
    pub connections: crate::ConnectionLimits,
    /// The token that opens the control plane under `/_sandbox/v1`; `None`
    /// leaves it off, and its paths answer 404 like any unknown path.
    pub control_token: Option<ControlToken>,
    /// How many requests the journal keeps; 0 keeps none.
    pub journal_size: usize,
}

/// The journal's default size.
pub const DEFAULT_JOURNAL_SIZE: usize = 1000;

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
            journal_size: DEFAULT_JOURNAL_SIZE,
        }
    }
}

/// The vendor spec's operations, each with the route and method that serve
/// it. Their operationIds name them in the journal and in faults; a test
/// holds this table against the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    CreateApiKey,
    ListApiKeys,
    DeleteApiKey,
}

const KEYS_ROUTE: &str = "/api/v0.4/admin/api-keys";
const KEY_ROUTE: &str = "/api/v0.4/admin/api-keys/{api_key_id}";

impl Operation {
    pub(crate) const ALL: [Self; 3] = [Self::CreateApiKey, Self::ListApiKeys, Self::DeleteApiKey];

    /// Its operationId in the vendor spec.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Self::CreateApiKey => "createApiKey",
            Self::ListApiKeys => "listApiKeys",
            Self::DeleteApiKey => "deleteApiKey",
        }
    }

    fn route(self) -> (Method, &'static str) {
        match self {
            Self::CreateApiKey => (Method::POST, KEYS_ROUTE),
            Self::ListApiKeys => (Method::GET, KEYS_ROUTE),
            Self::DeleteApiKey => (Method::DELETE, KEY_ROUTE),
        }
    }

    pub(crate) fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.id() == id)
    }

    /// The operation a request was routed to, by its method and matched
    /// route.
    fn routed(method: &Method, route: &str) -> Option<Self> {
        // axum answers HEAD with the GET handler.
        let method = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        Self::ALL
            .into_iter()
            .find(|op| op.route() == (method.clone(), route))
    }
}

/// What every handler shares.
struct AppState {
    store: Arc<dyn Store>,
    controls: Controls,
    limiter: Option<Box<dyn Limiter>>,
    max_key_lifetime: Option<Duration>,
    control_token: Option<ControlToken>,
}

/// The API as an axum router, with its middleware.
pub fn router(store: Arc<dyn Store>, settings: &Settings) -> Router {
    app(store, settings).0
}

/// The API as an axum router, and the control plane that drives it in
/// process: the journal it records to, and the clock and faults of its
/// store.
pub fn app(store: Arc<dyn Store>, settings: &Settings) -> (Router, Controls) {
    let controls = Controls::new(Arc::clone(&store), settings.journal_size);
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
        controls: controls.clone(),
        limiter,
        max_key_lifetime: settings.max_key_lifetime,
        control_token: settings.control_token.clone(),
    });
    let control = if settings.control_token.is_some() {
        Router::new().nest("/_sandbox/v1", control::router(settings.body_limit))
    } else {
        Router::new()
    };
    let vendor = Router::new()
        .route(KEYS_ROUTE, post(keys::create).get(keys::list))
        .route(KEY_ROUTE, delete(keys::delete))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            settings.body_limit,
        ));
    let router = control
        .merge(vendor)
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "No such endpoint.") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "This endpoint does not support this method.",
            )
        })
        .with_state(state)
        // Each route group sets its own limit above.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(axum::middleware::from_fn_with_state(
            controls.clone(),
            record::record,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http().make_span_with(request_span))
        // Outside everything that reads the request's text (the journal
        // and the trace redact it), so that an oversized head is refused
        // by its size alone, before any of that work, and never journaled.
        .layer(axum::middleware::from_fn(problem::refuse_oversized_head))
        .layer(axum::middleware::map_response(problem::finish_response));
    (router, controls)
}

/// The span of a request's log lines. Unlike tower-http's default it
/// leaves the query out and redacts the method and path: a careless caller
/// may have put a secret in any of them.
fn request_span(request: &axum::extract::Request) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %crate::redact::redact(request.method().as_str()),
        path = %crate::redact::redact(request.uri().path()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The routes and operationIds here are the vendor spec's, all of them
    /// and no others: the journal and faults name operations by these ids.
    #[test]
    fn operations_are_the_vendor_specs() {
        let spec: serde_json::Value =
            serde_json::from_str(include_str!("../../../../openapi/alphamoon-workspace.json"))
                .expect("the spec is JSON");
        let mut in_spec = Vec::new();
        for (path, item) in spec["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                if let Some(id) = operation["operationId"].as_str() {
                    in_spec.push((method.to_ascii_uppercase(), path.clone(), id.to_owned()));
                }
            }
        }
        let mut here: Vec<_> = Operation::ALL
            .into_iter()
            .map(|op| {
                let (method, route) = op.route();
                (method.to_string(), route.to_owned(), op.id().to_owned())
            })
            .collect();
        in_spec.sort();
        here.sort();
        assert_eq!(here, in_spec);
        for op in Operation::ALL {
            let (method, route) = op.route();
            assert_eq!(Operation::routed(&method, route), Some(op));
            if method == Method::GET {
                assert_eq!(Operation::routed(&Method::HEAD, route), Some(op));
            }
            assert_eq!(Operation::from_id(op.id()), Some(op));
        }
    }
}
