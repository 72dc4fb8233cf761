//! The HTTP API: routes, authentication, scope checks, validation and the
//! problem-details shape of every error. Responses are built from the
//! client crate's generated types, so server and client share one wire
//! model.

use std::sync::Arc;
use std::time::Duration;

use alphamoon_client::{ApiKeyStatus, Scope, types};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, post};
use base64::Engine as _;
use chrono::{DateTime, SubsecRound as _, Utc};

use crate::auth_cache::AuthCache;
use crate::keys;
use crate::ratelimit::RateLimiter;
use crate::store::{Store, StoreError, StoredKey};

/// The scope every operation of this API needs.
pub const ADMIN_SCOPE: Scope = Scope::WorkspaceAdminApiKeyManage;

const PROBLEM_JSON: &str = "application/problem+json";
const WWW_AUTHENTICATE: &str = "Basic realm=\"alphamoon\", charset=\"UTF-8\"";

/// Tunables of the API itself, as opposed to where it listens.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Per-key rate limit; `None` turns it off.
    pub rate_limit: Option<crate::ratelimit::RateLimit>,
    /// The longest lifetime a new key may be given; `None` for no limit.
    pub max_key_lifetime: Option<Duration>,
    /// How long one request may take before it is answered with 503.
    pub request_timeout: Duration,
    /// The largest request body accepted.
    pub body_limit: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rate_limit: Some(crate::ratelimit::RateLimit::default()),
            max_key_lifetime: None,
            request_timeout: Duration::from_secs(30),
            body_limit: 16 * 1024,
        }
    }
}

struct AppState {
    store: Arc<dyn Store>,
    auth_cache: AuthCache,
    limiter: Option<RateLimiter>,
    max_key_lifetime: Option<Duration>,
}

/// The API as an axum router, with its middleware.
pub fn router(store: Arc<dyn Store>, settings: &Settings) -> Router {
    let state = Arc::new(AppState {
        store,
        auth_cache: AuthCache::default(),
        limiter: settings.rate_limit.map(RateLimiter::new),
        max_key_lifetime: settings.max_key_lifetime,
    });
    Router::new()
        .route("/api/v0.4/admin/api-keys", post(create_key).get(list_keys))
        .route("/api/v0.4/admin/api-keys/{api_key_id}", delete(delete_key))
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "No such endpoint.") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "This endpoint does not support this method.",
            )
        })
        .with_state(state)
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            settings.body_limit,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.request_timeout,
        ))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .layer(axum::middleware::map_response(finish_response))
        .layer(tower_http::trace::TraceLayer::new_for_http())
}

/// An RFC 9457 problem response, built from the shared `types::Error`.
#[derive(Debug)]
pub(crate) struct Problem {
    status: StatusCode,
    detail: String,
    field: Option<String>,
    retry_after: Option<u64>,
}

impl Problem {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            field: None,
            retry_after: None,
        }
    }

    fn bad_request(field: &str, detail: impl Into<String>) -> Self {
        Self {
            field: Some(field.to_owned()),
            ..Self::new(StatusCode::BAD_REQUEST, detail)
        }
    }

    fn unauthorized(detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    fn internal(error: &StoreError) -> Self {
        tracing::error!(%error, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server failed to handle the request.",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = types::Error {
            type_: "about:blank".to_owned(),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: i32::from(self.status.as_u16()),
            detail: Some(self.detail),
            field: self.field,
            instance: None,
        };
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, PROBLEM_JSON)],
            serde_json::to_string(&body).expect("a problem serializes"),
        )
            .into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(WWW_AUTHENTICATE),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Runs on every response: no caching anywhere, and any error that a layer
/// below produced without a problem body (body limit, timeout, panic) gets
/// one, so that clients see a single error shape.
async fn finish_response(mut response: Response) -> Response {
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == PROBLEM_JSON.as_bytes());
    if (status.is_client_error() || status.is_server_error()) && !is_problem {
        let detail = match status {
            StatusCode::PAYLOAD_TOO_LARGE => "The request body is too large.",
            StatusCode::SERVICE_UNAVAILABLE => "The request took too long; try again.",
            _ => "The server failed to handle the request.",
        };
        let mut replaced = Problem::new(status, detail).into_response();
        for (name, value) in response.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                replaced.headers_mut().insert(name.clone(), value.clone());
            }
        }
        response = replaced;
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl AppState {
    /// Authenticates the request, checks the admin scope and the rate
    /// limit, and returns the calling key.
    fn authorize(&self, headers: &HeaderMap) -> Result<Arc<StoredKey>, Problem> {
        let secret = basic_credentials(headers)?;
        if !keys::is_well_formed(&secret) {
            return Err(Problem::unauthorized("The API key is not valid."));
        }
        let key = self
            .auth_cache
            .key(self.store.as_ref(), &keys::hash(&secret))
            .map_err(|e| Problem::internal(&e))?
            .ok_or_else(|| Problem::unauthorized("The API key is unknown or was deleted."))?;
        if key.exp <= Utc::now().timestamp() {
            return Err(Problem::unauthorized("The API key has expired."));
        }
        if !key.scopes.iter().any(|s| s == ADMIN_SCOPE.as_str()) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!("This operation needs the scope `{ADMIN_SCOPE}`."),
            ));
        }
        if let Some(limiter) = &self.limiter
            && let Err(wait) = limiter.check(&key.id)
        {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            return Err(Problem {
                retry_after: Some(seconds),
                ..Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Rate limit exceeded; retry after {seconds} s."),
                )
            });
        }
        Ok(key)
    }

    async fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Problem> {
        // Writes wait for the disk; keep them off the async workers.
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || work(store.as_ref()))
            .await
            .map_err(|e| Problem::internal(&StoreError(e.to_string())))?
            .map_err(|e| Problem::internal(&e))
    }
}

/// The API key from `Authorization: Basic base64(key)`, also accepting the
/// RFC 7617 form `base64(key + ":")`.
fn basic_credentials(headers: &HeaderMap) -> Result<String, Problem> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| Problem::unauthorized("The Authorization header is missing."))?
        .to_str()
        .map_err(|_| Problem::unauthorized("The Authorization header is not valid text."))?;
    let (scheme, encoded) = value.trim().split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Problem::unauthorized(
            "The Authorization header must use the Basic scheme.",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| Problem::unauthorized("The Basic credentials are not valid base64."))?;
    Ok(match decoded.strip_suffix(':') {
        Some(key) => key.to_owned(),
        None => decoded,
    })
}

fn timestamp(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// The listed form of a stored key, as the client crate's type.
fn listed(key: StoredKey, now: i64) -> types::ApiKey {
    types::ApiKey {
        status: if key.exp <= now {
            ApiKeyStatus::Expired
        } else {
            ApiKeyStatus::Active
        },
        created_at: timestamp(key.created_at),
        exp: timestamp(key.exp),
        id: key.id.parse().expect("stored ids are 32 hex digits"),
        name: key.name.parse().expect("stored names were validated"),
        org_id: key.org_id,
        scopes: key.scopes.iter().map(|s| Scope::from(s.as_str())).collect(),
    }
}

fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(value).expect("response types serialize"),
    )
        .into_response()
}

async fn create_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let caller = state.authorize(&headers)?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The request body must be `application/json`.",
        ));
    }
    let body = body.map_err(|e| Problem::new(e.status(), e.body_text()))?;
    let request = validate_create(&body, Utc::now(), state.max_key_lifetime)?;

    let missing: Vec<&str> = request
        .scopes
        .iter()
        .filter(|wanted| !caller.scopes.iter().any(|held| held == *wanted))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Problem {
            field: Some("scopes".to_owned()),
            ..Problem::new(
                StatusCode::FORBIDDEN,
                format!(
                    "A key cannot grant scopes it does not hold: `{}`.",
                    missing.join("`, `")
                ),
            )
        });
    }

    let secret = keys::new_secret().map_err(|e| Problem::internal(&StoreError(e.to_string())))?;
    let key = StoredKey {
        id: keys::new_id().map_err(|e| Problem::internal(&StoreError(e.to_string())))?,
        org_id: caller.org_id.clone(),
        name: request.name,
        scopes: request.scopes,
        created_at: Utc::now().timestamp(),
        exp: request.exp.timestamp(),
    };
    let hash = keys::hash(&secret);
    let stored = key.clone();
    state
        .write(move |store| store.insert_key(&stored, &hash))
        .await?;

    let listed = listed(key, Utc::now().timestamp());
    let created = types::CreatedApiKey {
        created_at: listed.created_at,
        exp: listed.exp,
        id: listed.id,
        name: listed.name,
        org_id: listed.org_id,
        scopes: listed.scopes,
        status: listed.status,
        key: secret.into(),
    };
    Ok(json(StatusCode::CREATED, &created))
}

/// A create request that passed validation.
#[derive(Debug)]
struct NewKey {
    name: String,
    exp: DateTime<Utc>,
    scopes: Vec<String>,
}

/// The longest name, as in the spec's `ApiKeyName`.
const MAX_NAME_CHARS: usize = 255;

fn validate_create(
    body: &[u8],
    now: DateTime<Utc>,
    max_lifetime: Option<Duration>,
) -> Result<NewKey, Problem> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("The body is not valid JSON: {e}."),
        )
    })?;
    let serde_json::Value::Object(fields) = value else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "The body must be a JSON object.",
        ));
    };
    if let Some(unknown) = fields
        .keys()
        .find(|k| !matches!(k.as_str(), "name" | "exp" | "scopes"))
    {
        return Err(Problem::bad_request(
            unknown,
            format!("`{unknown}` is not a field of this request."),
        ));
    }

    let name = match fields.get("name") {
        None => return Err(Problem::bad_request("name", "`name` is required.")),
        Some(serde_json::Value::String(name)) => name,
        Some(_) => return Err(Problem::bad_request("name", "`name` must be a string.")),
    };
    if name.is_empty() {
        return Err(Problem::bad_request("name", "`name` must not be empty."));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Problem::bad_request(
            "name",
            format!("`name` must be at most {MAX_NAME_CHARS} characters."),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Problem::bad_request(
            "name",
            "`name` must not contain control characters.",
        ));
    }

    let exp = match fields.get("exp") {
        None => return Err(Problem::bad_request("exp", "`exp` is required.")),
        Some(serde_json::Value::String(exp)) => exp,
        Some(_) => {
            return Err(Problem::bad_request(
                "exp",
                "`exp` must be an RFC 3339 string.",
            ));
        }
    };
    let exp = DateTime::parse_from_rfc3339(exp)
        .map_err(|e| {
            Problem::bad_request("exp", format!("`exp` is not an RFC 3339 date-time: {e}."))
        })?
        .with_timezone(&Utc)
        .trunc_subsecs(0);
    if exp <= now {
        return Err(Problem::bad_request("exp", "`exp` must be in the future."));
    }
    if let Some(max) = max_lifetime
        && exp - now > chrono::Duration::from_std(max).unwrap_or(chrono::Duration::MAX)
    {
        return Err(Problem::bad_request(
            "exp",
            format!(
                "`exp` may be at most {} days ahead.",
                max.as_secs() / 86_400
            ),
        ));
    }

    let scopes = match fields.get("scopes") {
        None => return Err(Problem::bad_request("scopes", "`scopes` is required.")),
        Some(serde_json::Value::Array(scopes)) => scopes,
        Some(_) => return Err(Problem::bad_request("scopes", "`scopes` must be an array.")),
    };
    if scopes.is_empty() {
        return Err(Problem::bad_request(
            "scopes",
            "`scopes` needs at least one scope.",
        ));
    }
    let mut valid = Vec::with_capacity(scopes.len());
    for (i, scope) in scopes.iter().enumerate() {
        let Some(scope) = scope.as_str() else {
            return Err(Problem::bad_request(
                "scopes",
                format!("`scopes[{i}]` must be a string."),
            ));
        };
        if !Scope::from(scope).is_known() {
            return Err(Problem::bad_request(
                "scopes",
                format!("`scopes[{i}]`: unknown scope `{scope}`."),
            ));
        }
        if valid.iter().any(|s| s == scope) {
            return Err(Problem::bad_request(
                "scopes",
                format!("`scopes[{i}]`: `{scope}` appears twice."),
            ));
        }
        valid.push(scope.to_owned());
    }
    Ok(NewKey {
        name: name.clone(),
        exp,
        scopes: valid,
    })
}

/// Parses `offset` and `limit`; out-of-range values and unknown parameters
/// are refused, not clamped or ignored, so that a client never gets a page
/// it did not ask for.
fn page_params(query: Option<&str>) -> Result<(u64, u64), Problem> {
    let mut offset = 0u64;
    let mut limit = 100u64;
    for pair in query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let target = match name {
            "offset" => &mut offset,
            "limit" => &mut limit,
            // Refused like unknown body fields, so that a misspelt
            // parameter (`limt=5`) is not silently ignored.
            other => {
                return Err(Problem::bad_request(
                    other,
                    format!("`{other}` is not a parameter of this operation."),
                ));
            }
        };
        *target = value.parse().map_err(|_| {
            Problem::bad_request(
                name,
                format!("`{name}` must be a whole number, not `{value}`."),
            )
        })?;
    }
    if !(1..=100).contains(&limit) {
        return Err(Problem::bad_request(
            "limit",
            "`limit` must be between 1 and 100.",
        ));
    }
    if i64::try_from(offset).is_err() {
        return Err(Problem::bad_request("offset", "`offset` is too large."));
    }
    Ok((offset, limit))
}

async fn list_keys(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let caller = state.authorize(&headers)?;
    let (offset, limit) = page_params(query.as_deref())?;
    let (keys, total) = state
        .store
        .list_keys(&caller.org_id, offset, limit)
        .map_err(|e| Problem::internal(&e))?;
    let now = Utc::now().timestamp();
    let page = types::ApiKeyList {
        api_keys: keys.into_iter().map(|k| listed(k, now)).collect(),
        pagination: types::Pagination {
            offset,
            limit: limit.try_into().expect("limit is at least 1"),
            total,
        },
    };
    Ok(json(StatusCode::OK, &page))
}

async fn delete_key(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(key_id): Path<String>,
) -> Result<Response, Problem> {
    let caller = state.authorize(&headers)?;
    if key_id.len() != 32
        || !key_id
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(Problem::bad_request(
            "api_key_id",
            "`api_key_id` must be 32 lowercase hexadecimal digits.",
        ));
    }
    let org_id = caller.org_id.clone();
    let id = key_id.clone();
    if !state
        .write(move |store| store.delete_key(&org_id, &id))
        .await?
    {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("No API key with id `{key_id}`."),
        ));
    }
    // The key must stop authenticating at once.
    state.auth_cache.evict(&key_id);
    Ok(json(StatusCode::OK, &key_id))
}
