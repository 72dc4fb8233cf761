//! Who is calling: the `Caller` extractor authenticates the request, checks
//! the admin scope and the rate limit, and hands the handler the key.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use base64::Engine as _;
use chrono::Utc;

use super::problem::Problem;
use super::{ADMIN_SCOPE, AppState};
use crate::keys;
use crate::store::StoredKey;

/// The authenticated key a request was made with. A handler that takes a
/// `Caller` runs only for a live key that holds [`ADMIN_SCOPE`] and is
/// within its rate limit; every other request is answered with a problem
/// before the handler starts.
#[derive(Debug)]
pub(crate) struct Caller(pub(crate) StoredKey);

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let secret = basic_credentials(&parts.headers)?;
        if !keys::is_well_formed(&secret) {
            return Err(Problem::unauthorized("The API key is not valid."));
        }
        // No cache in front of the store: a key deleted by any process
        // serving it, or by a request whose answer was lost, fails on the
        // very next lookup. The lookup is one indexed read.
        let hash = keys::hash(&secret);
        let key = state
            .store
            .key_by_secret_hash(&hash)
            .await?
            .ok_or_else(unknown_key)?;
        if key.exp <= Utc::now().timestamp() {
            return Err(Problem::unauthorized("The API key has expired."));
        }
        if !key.scopes.iter().any(|s| s == ADMIN_SCOPE.as_str()) {
            return Err(Problem::new(
                StatusCode::FORBIDDEN,
                format!("This operation needs the scope `{ADMIN_SCOPE}`."),
            ));
        }
        if let Some(limiter) = &state.limiter
            && let Err(wait) = limiter.check(&key).await?
        {
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            return Err(Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("Rate limit exceeded; retry after {seconds} s."),
            )
            .with_retry_after(seconds));
        }
        Ok(Self(key))
    }
}

/// The answer for a key the store does not hold: never made, or deleted,
/// perhaps while its own request was under way.
pub(super) fn unknown_key() -> Problem {
    Problem::unauthorized("The API key is unknown or was deleted.")
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
