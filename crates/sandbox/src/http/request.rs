//! What every JSON request shares: a body declared and sent as JSON, an
//! object of known members, and no query parameters where none are
//! defined.

use axum::http::StatusCode;
use serde_json::Value;

use super::problem::Problem;
use crate::model::fields::json_object;

/// A request body that must be a JSON object with members from `allowed`,
/// none of them repeated.
pub(crate) fn object_body(
    body: &[u8],
    allowed: &[&str],
) -> Result<serde_json::Map<String, Value>, Problem> {
    let Value::Object(fields) = json_object(body)? else {
        unreachable!("json_object answers objects only");
    };
    if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Problem::bad_request(
            unknown,
            format!("`{unknown}` is not a field of this request."),
        ));
    }
    Ok(fields)
}

/// Refuses any query parameter, for the operations that define none.
/// The body of a request that takes a JSON body and no query parameters.
pub(crate) fn json_request(
    query: Option<&str>,
    headers: &axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::body::Bytes, Problem> {
    no_parameters(query)?;
    json_body(headers, body)
}

/// The body of a request that must be JSON: refused with 415 when it is
/// declared as anything else, and with the body limit's own answer when it
/// could not be read.
fn json_body(
    headers: &axum::http::HeaderMap,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::body::Bytes, Problem> {
    let is_json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Problem::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The request body must be `application/json`.",
        ));
    }
    // A body said to be compressed is not read as if it were not: that
    // would guess at what the client meant. None is decoded (RFC 9110
    // answers an unsupported coding with 415).
    let mut codings = headers.get_all(axum::http::header::CONTENT_ENCODING).iter();
    if codings.any(|coding| !coding.as_bytes().eq_ignore_ascii_case(b"identity")) {
        return Err(Problem::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The request body must be sent without a content coding \
             (`Content-Encoding`).",
        ));
    }
    body.map_err(|e| Problem::new(e.status(), e.body_text()))
}

pub(crate) fn no_parameters(query: Option<&str>) -> Result<(), Problem> {
    match form_urlencoded::parse(query.unwrap_or_default().as_bytes()).next() {
        None => Ok(()),
        Some((name, _)) if name.is_empty() => Err(nameless_parameter()),
        Some((name, _)) => Err(Problem::bad_request(
            &name,
            format!("`{name}` is not a parameter of this operation."),
        )),
    }
}

pub(crate) fn nameless_parameter() -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "The query has a parameter with no name.",
    )
}
