//! The one way a success is answered: JSON from the generated types.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// A JSON answer.
pub(crate) fn json<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    // Room for a page of ten keys at once: growing from serde_json's
    // default 128 bytes copied the body over and over.
    let mut body = Vec::with_capacity(4096);
    serde_json::to_writer(&mut body, value).expect("response types serialize");
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
