//! The router: the vendor routes and the control plane, and the
//! middleware stack around them, outermost last.

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode};
use axum::routing::{delete, post};

use super::problem::{Problem, finish_response, refuse_oversized_head};
use super::state::AppState;
use super::{control, health, pages, record, vendor};
use crate::model::operation::Operation;
use crate::model::settings::Settings;
use crate::service::controls::Controls;
use crate::service::redact::redact;
use crate::store::contract::Store;
use crate::store::limiter::{Limiter, LocalLimiter};
use crate::store::read_model::ReadModel;

const KEYS_ROUTE: &str = "/api/v0.4/admin/api-keys";
const KEY_ROUTE: &str = "/api/v0.4/admin/api-keys/{api_key_id}";

/// Where each operation is served.
impl Operation {
    fn route(self) -> (Method, &'static str) {
        match self {
            Self::CreateApiKey => (Method::POST, KEYS_ROUTE),
            Self::ListApiKeys => (Method::GET, KEYS_ROUTE),
            Self::DeleteApiKey => (Method::DELETE, KEY_ROUTE),
        }
    }

    /// The operation a request was routed to, by its method and matched
    /// route.
    pub(super) fn routed(method: &Method, route: &str) -> Option<Self> {
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
        model: ReadModel::new(Arc::clone(&store)),
        store,
        controls: controls.clone(),
        limiter,
        max_key_lifetime: settings.max_key_lifetime,
        control_token: settings.control_token.clone(),
    });
    let control = if settings.control_token.is_some() {
        Router::new()
            .nest("/_sandbox/v1", control::router(settings.body_limit))
            .merge(pages::control())
    } else {
        Router::new()
    };
    let vendor = Router::new()
        .route(KEYS_ROUTE, post(vendor::create).get(vendor::list))
        .route(KEY_ROUTE, delete(vendor::delete))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            settings.body_limit,
        ));
    let router = control
        .merge(health::router())
        .merge(pages::reference())
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
        .layer(axum::middleware::from_fn(refuse_oversized_head))
        .layer(axum::middleware::map_response(finish_response));
    (router, controls)
}

/// The span of a request's log lines. Unlike tower-http's default it
/// leaves the query out and redacts the method and path: a careless caller
/// may have put a secret in any of them.
fn request_span(request: &axum::extract::Request) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %redact(request.method().as_str()),
        path = %redact(request.uri().path()),
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
