//! Who is calling: the `Caller` extractor authenticates the request, checks
//! the admin scope and the rate limit, applies any fault that hits it, and
//! hands the handler the key and the sandbox time.

use std::sync::Arc;

use std::time::Duration;

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use chrono::{DateTime, Utc};

use super::problem::Problem;
use super::record::{Aftermath, RequestNote};
use super::state::AppState;
use crate::control_client::types::{Fault, FaultAction};
use crate::model::clock::ClockSetting;
use crate::model::keys;
use crate::model::operation::Operation;
use crate::model::settings::ADMIN_SCOPE;
use crate::store::StoredKey;
use crate::store::read_model::View;

/// The authenticated key a request was made with, and the sandbox time it
/// was authenticated at. A handler that takes a `Caller` runs only for a
/// live key that holds [`ADMIN_SCOPE`] and is within its rate limit, and
/// that no fault stopped; every other request is answered with a problem
/// before the handler starts.
#[derive(Debug)]
pub(crate) struct Caller {
    pub(crate) key: Arc<StoredKey>,
    /// The sandbox clock as read with the key.
    clock: ClockSetting,
    /// The store as of the instant the key was read, which the request is
    /// answered from.
    pub(crate) view: Arc<View>,
}

impl Caller {
    /// Now on the sandbox clock: read afresh each time, so that a write
    /// made after a delay (an injected one, say) is checked and stamped
    /// at the time it is made.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let note = parts.extensions.get::<RequestNote>().cloned();
        let operation = parts
            .extensions
            .get::<MatchedPath>()
            .and_then(|route| Operation::routed(&parts.method, route.as_str()));
        if let (Some(note), Some(operation)) = (&note, operation) {
            note.operation(operation);
        }
        let secret = basic_credentials(&parts.headers)?;
        if !keys::is_well_formed(&secret) {
            return Err(Problem::unauthorized("The API key is not valid."));
        }
        // Through the validated read model: a key deleted by any process
        // serving the store, or by a request whose answer was lost, fails
        // on the very next lookup. The clock and faults come with it.
        let hash = keys::hash(&secret);
        let (key, view) = state.model.authenticate(&hash).await?;
        let control = view.control();
        state.controls.saw_clock(control.clock);
        let now = control.clock.now();
        if let Some(note) = &note {
            note.at(now);
        }
        let key = key.ok_or_else(unknown_key)?;
        if key.expired_at(now.timestamp()) {
            return Err(Problem::unauthorized("The API key has expired."));
        }
        if let Some(note) = &note {
            note.key_id(&key.id);
        }
        if !key.scopes.contains(&ADMIN_SCOPE) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!("This operation needs the scope `{ADMIN_SCOPE}`."),
            ));
        }
        if let Some(limiter) = &state.limiter
            && let Err(wait) = limiter.check(&key, now).await?
        {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Rate limit exceeded; retry after {seconds} s."),
            )
            .with_retry_after(seconds));
        }
        if let Some(operation) = operation
            && !control.faults.is_empty()
            && let Some(fault) = state.controls.fault_for(control, operation).await?
        {
            apply_fault(&fault, note.as_ref()).await?;
        }
        Ok(Self {
            key,
            clock: control.clock,
            view,
        })
    }
}

/// Carries out a fault that hit a request: its delay, then its action.
/// `Err` stops the request before its operation; an aftermath for after
/// the operation goes to the note.
async fn apply_fault(fault: &Fault, note: Option<&RequestNote>) -> Result<(), Problem> {
    if let Ok(delay_ms @ 1..) = u64::try_from(fault.delay_ms) {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let aftermath = match (fault.action, fault.status) {
        (FaultAction::Respond, None) => None,
        (FaultAction::Respond, Some(status)) => {
            if let Some(note) = note {
                note.fault(fault, None);
            }
            return Err(Problem::injected(fault, status));
        }
        (FaultAction::Drop, _) => {
            if let Some(note) = note {
                note.fault(fault, Some(Aftermath::Drop));
            }
            return Err(Problem::injected(fault, 500));
        }
        (FaultAction::CommitThenFail, Some(status)) => {
            Some(Aftermath::Respond(fault.clone(), status))
        }
        (FaultAction::CommitThenFail, None) => Some(Aftermath::Drop),
    };
    if let Some(note) = note {
        note.fault(fault, aftermath);
    }
    Ok(())
}

/// The answer for a key the store does not hold: never made, or deleted.
fn unknown_key() -> Problem {
    Problem::unauthorized("The API key is unknown or was deleted.")
}

/// The answer for a request whose key was deleted, or expired by the
/// sandbox clock, after the request was authenticated and before its
/// write: the write was not made.
pub(super) fn caller_gone() -> Problem {
    Problem::unauthorized(
        "The API key was deleted or expired while this request was under way; nothing was changed.",
    )
}

/// The API key from `Authorization: Basic base64(key)`, also accepting the
/// RFC 7617 form `base64(key + ":")`.
fn basic_credentials(headers: &HeaderMap) -> Result<String, Problem> {
    if headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .nth(1)
        .is_some()
    {
        // Which of two credentials would be the caller? Refused, not guessed.
        return Err(Problem::unauthorized(
            "The request has more than one Authorization header.",
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            authorization.parse().expect("header value"),
        );
        headers
    }

    #[test]
    fn reads_both_basic_forms() {
        // base64("amk_x") and base64("amk_x:")
        for value in ["Basic YW1rX3g=", "basic YW1rX3g6", "  Basic   YW1rX3g=  "] {
            assert_eq!(
                basic_credentials(&headers(value)).expect(value),
                "amk_x",
                "{value}"
            );
        }
    }

    #[test]
    fn refuses_missing_or_foreign_credentials() {
        for value in ["Bearer YW1rX3g=", "Basic !!!", "YW1rX3g="] {
            let problem = basic_credentials(&headers(value)).expect_err(value);
            assert_eq!(problem.status(), StatusCode::UNAUTHORIZED, "{value}");
        }
        assert!(basic_credentials(&HeaderMap::new()).is_err());
        let mut two = headers("Basic YW1rX3g=");
        two.append(
            header::AUTHORIZATION,
            "Basic YW1rX3k=".parse().expect("value"),
        );
        assert_eq!(
            basic_credentials(&two).expect_err("two").status(),
            StatusCode::UNAUTHORIZED
        );
    }
}
