//! The control plane, `/_sandbox/v1/...`: the sandbox's own API, described
//! by `openapi/alphamoon-sandbox-control.yaml`, for test suites that reset
//! and seed a running sandbox. It is mounted only when a control token is
//! configured, and it takes that token alone, as a Bearer credential: an
//! API key never works here, and the token never works on the vendor API
//! (it is neither Basic nor a well-formed key).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::keys::json;
use super::problem::Problem;
use super::{AppState, validate};

/// The secret that opens the control plane. Only its SHA-256 is kept, and
/// a presented token is compared with it in constant time, so that timing
/// tells an attacker nothing about how much of a guess was right.
#[derive(Clone)]
pub struct ControlToken {
    digest: [u8; 32],
}

impl ControlToken {
    /// The token `token`, as read from the token file.
    pub fn new(token: &str) -> Self {
        Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    fn admits(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        presented.ct_eq(&self.digest).into()
    }
}

impl std::fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlToken(..)")
    }
}

/// The control plane's routes, relative to `/_sandbox/v1`.
pub(super) fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/reset", post(reset))
        .route("/orgs", post(create_org))
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
    validate::no_parameters(query.as_deref())?;
    state.store.reset().await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The answer of `createSandboxOrg`.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct SandboxOrg {
    org_id: String,
    name: String,
    admin_key: String,
}

/// `createSandboxOrg`.
async fn create_org(
    State(state): State<Arc<AppState>>,
    _: Controller,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    validate::no_parameters(query.as_deref())?;
    let body = validate::json_body(&headers, body)?;
    let name = validate::sandbox_org_request(&body)?;
    let (org, admin_key) = crate::create_org(state.store.as_ref(), &name).await?;
    Ok(json(
        StatusCode::CREATED,
        &SandboxOrg {
            org_id: org.id,
            name: org.name,
            admin_key,
        },
    ))
}
