//! The one way a success is answered: JSON from the generated types.

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A JSON answer.
pub(crate) fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    json_written(status, to_json(value))
}

/// A JSON answer already written out by [`to_json`].
pub(crate) fn json_written(status: StatusCode, body: impl Into<Body>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.into(),
    )
        .into_response()
}

/// `value` as the JSON every answer carries.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Room for a page of ten keys at once: growing from serde_json's
    // default 128 bytes copied the body over and over.
    let mut body = Vec::with_capacity(4096);
    serde_json::to_writer(&mut body, value).expect("response types serialize");
    body
}
