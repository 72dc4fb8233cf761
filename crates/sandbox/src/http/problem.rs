//! RFC 9457 problem details: the one shape every error response has.

use alphamoon_client::types;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::control_client::types::Fault;
use crate::model::refusal::{Refusal, RefusalKind};
use crate::service::control_error::ControlError;
use crate::service::redact::redact;
use crate::store::error::StoreError;

const PROBLEM_JSON: &str = "application/problem+json";
const WWW_AUTHENTICATE: &str = "Basic realm=\"alphamoon\", charset=\"UTF-8\"";
/// The control plane's challenge: its token is a Bearer credential.
pub(crate) const WWW_AUTHENTICATE_BEARER: &str = "Bearer realm=\"alphamoon-sandbox\"";

/// An error answer, rendered as the shared `types::Error`.
#[derive(Debug)]
pub(crate) struct Problem {
    status: StatusCode,
    detail: String,
    field: Option<String>,
    retry_after: Option<u64>,
    /// The `WWW-Authenticate` of a 401.
    challenge: &'static str,
}

impl Problem {
    pub(crate) fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            field: None,
            retry_after: None,
            challenge: WWW_AUTHENTICATE,
        }
    }

    /// A 401 of the control plane, which asks for its Bearer token.
    pub(crate) fn unauthorized_bearer(detail: &str) -> Self {
        Self {
            challenge: WWW_AUTHENTICATE_BEARER,
            ..Self::new(StatusCode::UNAUTHORIZED, detail)
        }
    }

    /// A 400 that names the offending field or parameter.
    pub(crate) fn bad_request(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail).with_field(field)
    }

    pub(crate) fn unauthorized(detail: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    pub(crate) fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    pub(crate) fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// A 500 whose cause is logged here and never sent to the client.
    pub(crate) fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The server failed to handle the request.",
        )
    }

    #[cfg(test)]
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    #[cfg(test)]
    pub(crate) fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

/// What a client is told to wait before retrying while the database is
/// out of reach or the request timed out.
const RETRY_AFTER_UNAVAILABLE_SECS: u64 = 1;

impl From<StoreError> for Problem {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => {
                tracing::warn!("{error}");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The sandbox's database is unavailable; try again.",
                )
                .with_retry_after(RETRY_AFTER_UNAVAILABLE_SECS)
            }
            StoreError::SecretTaken => Self::new(
                StatusCode::CONFLICT,
                "A key with one of these secrets is already stored; reset first, or use other secrets.",
            ),
            StoreError::Failed(_) => Self::internal(&error),
        }
    }
}

impl From<getrandom::Error> for Problem {
    fn from(error: getrandom::Error) -> Self {
        Self::internal(&error)
    }
}

impl From<Refusal> for Problem {
    fn from(refusal: Refusal) -> Self {
        let status = match refusal.kind() {
            RefusalKind::Invalid => StatusCode::BAD_REQUEST,
            RefusalKind::Conflict => StatusCode::CONFLICT,
        };
        let problem = Self::new(status, refusal.detail());
        match refusal.field() {
            Some(field) => problem.with_field(field),
            None => problem,
        }
    }
}

impl From<ControlError> for Problem {
    fn from(error: ControlError) -> Self {
        match error {
            ControlError::Refused(refusal) => refusal.into(),
            ControlError::Store(error) => error.into(),
            ControlError::NoRandomness(error) => error.into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = types::Error {
            type_: "about:blank".to_owned(),
            title: Some(self.status.canonical_reason().unwrap_or("Error").to_owned()),
            status: Some(i32::from(self.status.as_u16())),
            // A detail or field may repeat what the caller sent, which may
            // be a secret in the wrong place.
            detail: Some(redact(&self.detail)),
            field: self.field.as_deref().map(redact),
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
                HeaderValue::from_static(self.challenge),
            );
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The longest request target accepted, in bytes.
const MAX_TARGET_BYTES: usize = 8 * 1024;
/// The most header fields accepted.
const MAX_HEADERS: usize = 64;
/// The largest header section accepted, in bytes, counted as sent.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses a request whose target or header section is larger than any
/// client of this API needs. hyper refuses far larger ones itself, but with
/// a bare status and no body; below its limits these refusals come from
/// here, as problems like every other error.
pub(crate) async fn refuse_oversized_head(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let target = request
        .uri()
        .path_and_query()
        .map_or(0, |target| target.as_str().len());
    if target > MAX_TARGET_BYTES {
        return Problem::new(
            StatusCode::URI_TOO_LONG,
            format!("The request target is longer than {MAX_TARGET_BYTES} bytes."),
        )
        .into_response();
    }
    let headers = request.headers();
    // Name, `: `, value and CRLF, as on the wire.
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return Problem::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!(
                "The request has more than {MAX_HEADERS} header fields or more than \
                 {MAX_HEADER_BYTES} bytes of them."
            ),
        )
        .into_response();
    }
    next.run(request).await
}

/// Runs on every response: no caching or type sniffing anywhere, and any error that a layer
/// below produced without a problem body (body limit, timeout, panic) gets
/// one, so that clients see a single error shape.
pub(crate) async fn finish_response(mut response: Response) -> Response {
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
        let mut replaced = Problem::new(status, detail);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            replaced = replaced.with_retry_after(RETRY_AFTER_UNAVAILABLE_SECS);
        }
        let mut replaced = replaced.into_response();
        for (name, value) in response.headers() {
            if name != header::CONTENT_TYPE
                && name != header::CONTENT_LENGTH
                && !replaced.headers().contains_key(name)
            {
                replaced.headers_mut().insert(name.clone(), value.clone());
            }
        }
        response = replaced;
    }
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // No answer here is meant to be read as any type but its own.
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

impl Problem {
    /// The answer to a request hit by a `respond` fault.
    pub(crate) fn injected(fault: &Fault, status: i32) -> Self {
        let status = u16::try_from(status)
            .ok()
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let problem = Problem::new(
            status,
            format!("Injected by the sandbox fault `{}`.", fault.id),
        );
        match fault.retry_after {
            Some(seconds) => problem.with_retry_after(u64::try_from(seconds).unwrap_or(0)),
            None => problem,
        }
    }
}
