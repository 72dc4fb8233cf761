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
use crate::keys;
use crate::store::SeededOrg;

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
        .route("/fixtures", post(fixtures))
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
    let body = validate::json_request(query.as_deref(), &headers, body)?;
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

/// The answer of `loadFixtures`.
#[derive(serde::Serialize)]
pub(crate) struct LoadedFixtures {
    orgs: Vec<LoadedOrg>,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct LoadedOrg {
    org_id: String,
    name: String,
    admin_key: String,
    keys: Vec<LoadedKey>,
}

#[derive(serde::Serialize)]
struct LoadedKey {
    id: String,
    name: String,
    key: String,
}

/// Validates a fixtures document as a whole, then stores it in one
/// transaction; each organization also gets an admin key holding every
/// scope.
pub(crate) async fn load_fixtures(
    store: &dyn crate::Store,
    document: &serde_json::Value,
    only_into_empty: bool,
) -> Result<Option<LoadedFixtures>, Problem> {
    let orgs = validate::fixtures(document)?;
    let mut seeded = Vec::with_capacity(orgs.len());
    let mut loaded = Vec::with_capacity(orgs.len());
    for fixture in orgs {
        let (org, admin) = crate::new_org(&fixture.name)?;
        let admin_key = keys::new_secret()?;
        let mut rows = vec![(admin, keys::hash(&admin_key))];
        let mut listed = Vec::with_capacity(fixture.keys.len());
        for key in fixture.keys {
            let secret = match key.secret {
                Some(secret) => secret,
                None => keys::new_secret()?,
            };
            let stored = crate::new_key(&org.id, &key.name, &key.scopes, key.exp.timestamp())?;
            listed.push(LoadedKey {
                id: stored.id.clone(),
                name: stored.name.clone(),
                key: secret.clone(),
            });
            rows.push((stored, keys::hash(&secret)));
        }
        loaded.push(LoadedOrg {
            org_id: org.id.clone(),
            name: org.name.clone(),
            admin_key,
            keys: listed,
        });
        seeded.push(SeededOrg { org, keys: rows });
    }
    let stored = store.add_orgs(&seeded, only_into_empty).await?;
    Ok(stored.then_some(LoadedFixtures { orgs: loaded }))
}

/// `loadFixtures`.
async fn fixtures(
    State(state): State<Arc<AppState>>,
    _: Controller,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = validate::json_request(query.as_deref(), &headers, body)?;
    let document = validate::json_object(&body)?;
    let loaded = load_fixtures(state.store.as_ref(), &document, false)
        .await?
        .ok_or_else(|| Problem::internal(&"fixtures for any store were not stored"))?;
    Ok(json(StatusCode::CREATED, &loaded))
}
