//! How every generated operation sends its request: retries for idempotent
//! requests, and one tracing event per attempt. This is progenitor's
//! `ClientHooks::exec`, so the generated code needs no changes.

use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::Client;

/// When and how often an idempotent request (`GET`, `DELETE`) is sent again.
///
/// A request is retried when [`Error::is_retryable`](crate::Error::is_retryable)
/// would say yes of its failure: a `429 Too Many Requests`, a `502 Bad
/// Gateway`, a `503 Service Unavailable`, a `504 Gateway Timeout`, a failure
/// to connect, a connection that closed before an answer, or an attempt
/// that timed out. The wait is the server's
/// `Retry-After` when it sends one (in seconds or as an HTTP-date);
/// otherwise it grows exponentially from [`base_delay`](Self::base_delay),
/// capped at [`max_delay`](Self::max_delay), with random jitter so that
/// many clients do not retry in step. A `Retry-After` longer than
/// `max_delay` is not waited out: the error is returned at once.
///
/// `POST` (create) is never retried: the server may have created the key
/// before the failure, and a second attempt would make another. A `DELETE`
/// whose answer was lost (dropped or timed out) and whose retry then gets
/// `404` succeeds: the key is gone, which is what was asked.
///
/// The fields are private so that new settings can be added without
/// breaking anyone: start from [`RetryPolicy::default`] or
/// [`RetryPolicy::none`] and change what you need.
///
/// ```
/// use std::time::Duration;
/// use alphamoon_client::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .with_max_attempts(5)
///     .with_base_delay(Duration::from_millis(50));
/// assert_eq!(policy.max_attempts(), 5);
/// assert_eq!(policy.max_delay(), Duration::from_secs(10));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
}

impl Default for RetryPolicy {
    /// At most 3 attempts, waiting from 200 ms up to 10 s.
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries: every request is sent once.
    pub fn none() -> Self {
        Self::default().with_max_attempts(1)
    }

    /// Sends a request at most `max_attempts` times, the first included.
    /// `1` (or `0`) turns retries off. Default 3.
    #[must_use]
    pub fn with_max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Waits `base_delay` before the first retry when the server gives no
    /// `Retry-After`, doubling for each retry after it. Default 200 ms.
    #[must_use]
    pub fn with_base_delay(mut self, base_delay: Duration) -> Self {
        self.base_delay = base_delay;
        self
    }

    /// Never waits longer than `max_delay` between attempts. Default 10 s.
    #[must_use]
    pub fn with_max_delay(mut self, max_delay: Duration) -> Self {
        self.max_delay = max_delay;
        self
    }

    /// How many times a request is sent at most, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The wait before the first retry when the server gives no
    /// `Retry-After`.
    pub fn base_delay(&self) -> Duration {
        self.base_delay
    }

    /// The longest wait between attempts.
    pub fn max_delay(&self) -> Duration {
        self.max_delay
    }

    /// The wait before attempt `attempt + 1`, or `None` to stop.
    fn delay(&self, attempt: u32, headers: Option<&HeaderMap>) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        if let Some(wait) = headers.and_then(retry_after) {
            return (wait <= self.max_delay).then_some(wait);
        }
        let exponential = self
            .base_delay
            .saturating_mul(2u32.saturating_pow(attempt - 1))
            .min(self.max_delay);
        // "Equal jitter": half the delay fixed, half random.
        let half = exponential / 2;
        Some(half + half.mul_f64(random_fraction()))
    }
}

/// A uniformly random number in `[0, 1)`. `RandomState` is seeded from the
/// OS for every instance, which is all the randomness jitter needs.
fn random_fraction() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// How long a `Retry-After` header asks to wait: delay-seconds or an
/// HTTP-date (RFC 9110 §10.2.3).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.signed_duration_since(chrono::Utc::now());
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// What one attempt came to, as far as trying again is concerned.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Attempt<'a> {
    /// The server answered with this status.
    Answered(StatusCode),
    /// No response arrived.
    Failed(&'a reqwest::Error),
}

/// The one rule for "the same request may succeed if sent again later".
/// The retry hook and [`Error::is_retryable`](crate::Error::is_retryable)
/// both ask it, so the client never retries what it would call final, nor
/// tells a caller to retry what it gave up on as hopeless.
///
/// Yes for rate limiting (429), for a service or the gateway in front of it
/// that is briefly unable to answer (502, 503, 504), for a connection that
/// failed, for one that closed before an answer, and for an attempt that
/// timed out. Every other status is the
/// server's considered answer: sending the same request again gets the same
/// one. That includes 500: the server says it failed on this request, not
/// that it is briefly unable to take requests, so nothing suggests that
/// another attempt would fare better.
pub(crate) fn is_transient(attempt: Attempt<'_>) -> bool {
    match attempt {
        Attempt::Answered(status) => matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS
                | StatusCode::BAD_GATEWAY
                | StatusCode::SERVICE_UNAVAILABLE
                | StatusCode::GATEWAY_TIMEOUT
        ),
        Attempt::Failed(error) => error.is_connect() || error.is_timeout() || is_answer_lost(error),
    }
}

/// Whether the request went out but its connection closed before any
/// answer came back: the server may or may not have acted on it.
pub(crate) fn is_answer_lost(error: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if error
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
        {
            return true;
        }
        if let Some(io) = error.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return true;
        }
        cause = error.source();
    }
    false
}

/// A delete whose earlier attempt lost its answer, and whose retry finds no
/// such key, has done what was asked: the key is gone, most likely by that
/// earlier attempt. It is answered as the delete's success (whose body the
/// spec leaves unspecified), so that callers do not report a failure for a
/// key that no longer exists.
fn gone_after_lost_answer(info: &OperationInfo, url: &reqwest::Url) -> reqwest::Response {
    tracing::info!(
        operation = info.operation_id,
        "the retry found the key already gone; the earlier attempt's answer was lost"
    );
    let id = url
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or_default();
    let body = serde_json::to_string(id).expect("a string serializes");
    let answer = http::Response::builder()
        .status(StatusCode::OK)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("a valid response");
    reqwest::Response::from(answer)
}

/// What the generated `Client` carries besides its base URL and
/// `reqwest::Client` (progenitor's "inner type").
#[derive(Clone, Debug, Default)]
pub struct ClientState {
    pub(crate) retry: RetryPolicy,
}

impl ClientHooks<ClientState> for Client {
    async fn exec(
        &self,
        mut request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let policy = &self.inner().retry;
        let idempotent = request.method().is_idempotent();
        let mut attempt = 1;
        let mut answer_lost = false;
        loop {
            // A request whose body cannot be cloned is sent once.
            let retry_copy = (idempotent && attempt < policy.max_attempts)
                .then(|| request.try_clone())
                .flatten();
            let method = request.method().clone();
            let url = request.url().clone();
            let path = url.path().to_owned();
            let started = Instant::now();
            let result = self.client().execute(request).await;
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;

            let delay = match &result {
                Ok(response) => {
                    tracing::debug!(
                        operation = info.operation_id,
                        %method,
                        path,
                        status = response.status().as_u16(),
                        elapsed_ms,
                        attempt,
                        "request finished"
                    );
                    is_transient(Attempt::Answered(response.status()))
                        .then(|| policy.delay(attempt, Some(response.headers())))
                        .flatten()
                }
                Err(error) => {
                    tracing::debug!(
                        operation = info.operation_id,
                        %method,
                        path,
                        elapsed_ms,
                        attempt,
                        error = %error,
                        "request failed"
                    );
                    is_transient(Attempt::Failed(error))
                        .then(|| policy.delay(attempt, None))
                        .flatten()
                }
            };
            if answer_lost
                && info.operation_id == "delete_api_key"
                && result
                    .as_ref()
                    .is_ok_and(|r| r.status() == StatusCode::NOT_FOUND)
            {
                return Ok(gone_after_lost_answer(info, &url));
            }
            // Not a failure to connect: that request never reached the
            // server, so a 404 on its retry means what it says.
            answer_lost = result
                .as_ref()
                .is_err_and(|e| !e.is_connect() && (e.is_timeout() || is_answer_lost(e)));
            let (Some(delay), Some(copy)) = (delay, retry_copy) else {
                return result;
            };
            tracing::info!(
                operation = info.operation_id,
                attempt,
                delay_ms = delay.as_millis() as u64,
                "retrying"
            );
            tokio::time::sleep(delay).await;
            attempt += 1;
            request = copy;
        }
    }
}
