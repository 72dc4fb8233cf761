//! The error every API call can be turned into, with `?`.

use std::fmt;
use std::time::Duration;

use reqwest::StatusCode;

use crate::hooks::{Attempt, is_transient};
use crate::types;

/// What the generated request builders return on failure. Convert it to
/// [`Error`] (`?` does so) before showing it anywhere: this type's
/// `Display` includes raw response bodies, which for create hold the
/// secret.
pub type RawError = progenitor_client::Error<types::Error>;

/// Every way an API call can fail.
///
/// Match on the variant to tell the two main kinds apart:
///
/// - the server answered: [`Api`](Self::Api) for a documented error status
///   with its RFC 9457 problem body, [`UnexpectedStatus`](Self::UnexpectedStatus)
///   for a status the spec does not list, [`InvalidResponse`](Self::InvalidResponse)
///   for a body that does not match the spec;
/// - it did not: [`Transport`](Self::Transport) for a failure to connect, a
///   timeout or a dropped connection, and [`InvalidRequest`](Self::InvalidRequest)
///   for a request refused before it was sent.
///
/// [`status`](Self::status), [`problem`](Self::problem) and
/// [`is_retryable`](Self::is_retryable) answer the usual questions
/// directly. Neither `Display` nor `Debug` ever shows the API key or a
/// response body.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The server answered with a documented error status.
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The problem-details body.
        problem: Box<types::Error>,
        /// How long the server asked to wait, from `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The server answered with a status the spec does not list for this
    /// operation.
    UnexpectedStatus {
        /// The HTTP status.
        status: StatusCode,
        /// How long the server asked to wait, from `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// The server answered, but the body could not be read or does not
    /// match the spec.
    InvalidResponse {
        /// The HTTP status, where known.
        status: Option<StatusCode>,
        /// What was wrong, without the body itself.
        reason: String,
    },
    /// No response arrived: the connection failed, timed out or dropped.
    Transport(reqwest::Error),
    /// The request was not sent because a parameter or the body is invalid.
    InvalidRequest(String),
}

impl Error {
    /// The HTTP status of the response, if one arrived.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Self::Api { status, .. } | Self::UnexpectedStatus { status, .. } => Some(*status),
            Self::InvalidResponse { status, .. } => *status,
            Self::Transport(e) => e.status(),
            Self::InvalidRequest(_) => None,
        }
    }

    /// The problem-details body of a documented error status.
    pub fn problem(&self) -> Option<&types::Error> {
        match self {
            Self::Api { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// How long the server asked to wait before trying again.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Api { retry_after, .. } | Self::UnexpectedStatus { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    /// Whether the same request may succeed if sent again later: rate
    /// limiting (429), a service or its gateway briefly unable to answer
    /// (502, 503, 504), or a connection that failed, timed out or closed
    /// before an answer.
    ///
    /// The client's own retries follow the same rule, with two limits of
    /// their own: they retry only idempotent requests (`GET`, `DELETE`, never
    /// a create), and only within their [`RetryPolicy`](crate::RetryPolicy).
    /// So a retryable error you receive is one the client gave up on: its
    /// attempts ran out, the server asked for a longer wait than the policy
    /// allows, or the request was a create, which may have made a key before
    /// a timeout, a dropped connection or a 502 or 504 (list the keys
    /// before sending it again).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(e) => is_transient(Attempt::Failed(e)),
            _ => self
                .status()
                .is_some_and(|status| is_transient(Attempt::Answered(status))),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Api {
                status, problem, ..
            } => {
                write!(f, "HTTP {status}")?;
                if let Some(text) = problem.detail.as_ref().or(problem.title.as_ref()) {
                    write!(f, ": {text}")?;
                }
                if let Some(field) = &problem.field {
                    write!(f, " (field `{field}`)")?;
                }
                Ok(())
            }
            Self::UnexpectedStatus { status, .. } => {
                write!(f, "HTTP {status}, a status the API does not document here")
            }
            Self::InvalidResponse { status, reason } => match status {
                Some(status) => write!(f, "invalid response (HTTP {status}): {reason}"),
                None => write!(f, "invalid response: {reason}"),
            },
            Self::Transport(e) => {
                write!(f, "request failed: {e}")?;
                // reqwest's own message is generic; the cause (refused,
                // timed out, certificate) is further down the chain.
                let mut source = std::error::Error::source(e);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
            Self::InvalidRequest(reason) => write!(f, "invalid request: {reason}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Transport(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RawError> for Error {
    fn from(error: RawError) -> Self {
        use progenitor_client::Error as E;
        match error {
            E::ErrorResponse(response) => Self::Api {
                status: response.status(),
                retry_after: crate::hooks::retry_after(response.headers()),
                problem: Box::new(response.into_inner()),
            },
            E::UnexpectedResponse(response) => Self::UnexpectedStatus {
                status: response.status(),
                retry_after: crate::hooks::retry_after(response.headers()),
            },
            E::CommunicationError(e) | E::InvalidUpgrade(e) => Self::Transport(e),
            E::ResponseBodyError(e) => Self::InvalidResponse {
                status: e.status(),
                reason: format!("cannot read the body: {e}"),
            },
            // serde_json's message can quote the offending value, and the
            // body of a create holds the secret: report where, not what.
            E::InvalidResponsePayload(_, e) => Self::InvalidResponse {
                status: None,
                reason: format!(
                    "the body does not match the spec ({:?} error at line {}, column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            },
            E::InvalidRequest(reason) | E::Custom(reason) => Self::InvalidRequest(reason),
        }
    }
}
