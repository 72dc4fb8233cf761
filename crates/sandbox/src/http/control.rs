//! The control plane, `/_sandbox/v1/...`: the sandbox's own API, described
//! by `openapi/alphamoon-sandbox-control.yaml`, for test suites that reset
//! and seed a running sandbox. It is mounted only when a control token is
//! configured, and it takes that token alone, as a Bearer credential: an
//! API key never works here, and the token never works on the vendor API
//! (it is neither Basic nor a well-formed key).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tower_http::limit::RequestBodyLimitLayer;

use super::problem::Problem;
use super::response::json;
use super::state::AppState;
use super::vendor::page_of;
use super::{control_request, request, vendor_request};
use crate::control_client::types;
use crate::model::fields;
use crate::model::fixtures::MAX_FIXTURES_BYTES;
use crate::model::org::could_be_org_id;

/// The control plane's routes, relative to `/_sandbox/v1`.
pub(super) fn router(body_limit: usize) -> Router<Arc<AppState>> {
    Router::new()
        .route("/reset", post(reset))
        .route("/orgs", post(create_org).get(list_orgs))
        .route("/orgs/{org_id}/keys", get(list_org_keys))
        .route("/requests", get(list_requests).delete(clear_requests))
        .route(
            "/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route("/faults/{fault_id}", delete(delete_fault))
        .route("/clock", get(get_clock).put(set_clock))
        .layer(RequestBodyLimitLayer::new(body_limit))
        // Added after the layer above, so that fixtures get a limit of
        // their own: as large as a `--fixtures` file, since `ctl fixtures`
        // sends such a file as it is.
        .route(
            "/fixtures",
            post(fixtures).layer(RequestBodyLimitLayer::new(MAX_FIXTURES_BYTES)),
        )
}

/// A request that presented the control token.
struct Controller;

impl FromRequestParts<Arc<AppState>> for Controller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let mut values = parts.headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(Problem::unauthorized_bearer(
                "Send the control token once, as `Authorization: Bearer <token>`.",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or_else(|| {
                Problem::unauthorized_bearer("The control plane takes a Bearer token.")
            })?;
        let admitted = state
            .control_token
            .as_ref()
            .is_some_and(|expected| expected.admits(token));
        if admitted {
            Ok(Self)
        } else {
            Err(Problem::unauthorized_bearer(
                "The token is not this sandbox's control token.",
            ))
        }
    }
}

/// `resetSandbox`.
async fn reset(
    State(state): State<Arc<AppState>>,
    _: Controller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    request::no_parameters(query.as_deref())?;
    state.controls.reset().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `createSandboxOrg`.
async fn create_org(
    State(state): State<Arc<AppState>>,
    _: Controller,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = request::json_request(query.as_deref(), &headers, body)?;
    let name = control_request::sandbox_org_request(&body)?;
    let (org, admin_key) = state.controls.create_org(&name).await?;
    Ok(json(
        StatusCode::CREATED,
        &types::SandboxOrg {
            org_id: org.id,
            name: org.name,
            admin_key: types::ApiKeySecret(admin_key),
        },
    ))
}

/// `listSandboxOrgs`.
async fn list_orgs(
    State(state): State<Arc<AppState>>,
    _: Controller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let (offset, limit) = vendor_request::page_params(query.as_deref())?;
    let (orgs, total) = state.store.list_orgs(offset, limit).await?;
    Ok(json(
        StatusCode::OK,
        &types::SandboxOrgList {
            orgs: orgs
                .into_iter()
                .map(|(org, key_count)| types::ListedOrg {
                    org_id: org.id,
                    name: org.name,
                    key_count,
                })
                .collect(),
            pagination: types::Pagination {
                offset,
                limit,
                total,
            },
        },
    ))
}

/// `listSandboxOrgKeys`: the page the vendor API would list to a key of
/// the organization, built by the vendor API's own code, so that the two
/// show a key alike.
async fn list_org_keys(
    State(state): State<Arc<AppState>>,
    _: Controller,
    org_id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let (offset, limit) = vendor_request::page_params(query.as_deref())?;
    let no_such_org = || Problem::new(StatusCode::NOT_FOUND, "No organization has this id.");
    let Some(org_id) = org_id
        .ok()
        .map(|Path(id)| id)
        .filter(|id| could_be_org_id(id))
    else {
        return Err(no_such_org());
    };
    let Some((keys, total)) = state.store.list_keys(&org_id, offset, limit).await? else {
        return Err(no_such_org());
    };
    let now = state.controls.clock().await?.now.timestamp();
    Ok(json(
        StatusCode::OK,
        &page_of(&keys, total, offset, limit, now),
    ))
}

/// `loadFixtures`.
async fn fixtures(
    State(state): State<Arc<AppState>>,
    _: Controller,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = request::json_request(query.as_deref(), &headers, body)?;
    let document = fields::json_object(&body)?;
    let loaded = state.controls.load_fixtures(&document).await?;
    Ok(json(StatusCode::CREATED, &loaded))
}

/// `listRecordedRequests`.
async fn list_requests(
    State(state): State<Arc<AppState>>,
    _: Controller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let query = control_request::journal_query(query.as_deref())?;
    let requests = state.controls.requests(&query);
    Ok(json(
        StatusCode::OK,
        &types::RecordedRequestList { requests },
    ))
}

/// `clearRecordedRequests`.
async fn clear_requests(
    State(state): State<Arc<AppState>>,
    _: Controller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    request::no_parameters(query.as_deref())?;
    state.controls.clear_requests();
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `addFault`.
async fn add_fault(
    State(state): State<Arc<AppState>>,
    _: Controller,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = request::json_request(query.as_deref(), &headers, body)?;
    let request = control_request::fault_request(&body)?;
    let fault = state.controls.add_fault(request).await?;
    Ok(json(StatusCode::CREATED, &fault))
}

/// `listFaults`.
async fn list_faults(
    State(state): State<Arc<AppState>>,
    _: Controller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    request::no_parameters(query.as_deref())?;
    let faults = state.controls.faults().await?;
    Ok(json(StatusCode::OK, &types::FaultList { faults }))
}

/// `clearFaults`.
async fn clear_faults(
    State(state): State<Arc<AppState>>,
    _: Controller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    request::no_parameters(query.as_deref())?;
    state.controls.clear_faults().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `deleteFault`.
async fn delete_fault(
    State(state): State<Arc<AppState>>,
    _: Controller,
    fault_id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    request::no_parameters(query.as_deref())?;
    let fault_id = fault_id.map(|Path(id)| id).unwrap_or_default();
    if state.controls.delete_fault(&fault_id).await? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(Problem::new(
            StatusCode::NOT_FOUND,
            "No active fault has this id.",
        ))
    }
}

/// `getClock`.
async fn get_clock(
    State(state): State<Arc<AppState>>,
    _: Controller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    request::no_parameters(query.as_deref())?;
    let clock = state.controls.clock().await?;
    Ok(json(StatusCode::OK, &clock))
}

/// `setClock`.
async fn set_clock(
    State(state): State<Arc<AppState>>,
    _: Controller,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = request::json_request(query.as_deref(), &headers, body)?;
    let clock = match control_request::clock_move(&body)? {
        Some(to) => state.controls.set_clock(to).await?,
        None => state.controls.clock().await?,
    };
    Ok(json(StatusCode::OK, &clock))
}
