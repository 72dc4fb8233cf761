//! The vendor API's requests, checked against the spec and the server's
//! rules: what the generated types check, plus what a schema cannot say
//! (an `exp` ahead and within the configured lifetime, no repeated
//! scopes), each refusal naming the offending field.

use std::time::Duration;

use alphamoon_client::types;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::problem::Problem;
use super::request::{nameless_parameter, object_body};
use crate::model::fields::{expiry, name, scope_list};

/// The fields of a create request, in the order they are checked.
const CREATE_FIELDS: [&str; 3] = ["name", "exp", "scopes"];

/// Validates a create request body against the spec and the server's rules.
/// `exp` comes back truncated to whole seconds, as the API stores it.
pub(crate) fn create_request(
    body: &[u8],
    now: DateTime<Utc>,
    max_lifetime: Option<Duration>,
) -> Result<types::CreateApiKeyRequest, Problem> {
    let fields = object_body(body, &CREATE_FIELDS)?;
    let field = |name: &str| {
        fields
            .get(name)
            .ok_or_else(|| Problem::bad_request(name, format!("`{name}` is required.")))
    };
    let name = name(field("name")?)?;

    let Value::String(exp) = field("exp")? else {
        return Err(Problem::bad_request(
            "exp",
            "`exp` must be an RFC 3339 string.",
        ));
    };
    let exp = expiry(exp, now, max_lifetime)?;

    let Value::Array(scopes) = field("scopes")? else {
        return Err(Problem::bad_request("scopes", "`scopes` must be an array."));
    };
    let scopes = scope_list(scopes)?;

    Ok(types::CreateApiKeyRequest { exp, name, scopes })
}

/// Parses `offset` and `limit` (percent-decoded, as any form query is);
/// out-of-range values and unknown parameters are refused, not clamped or
/// ignored, so that a client never gets a page it did not ask for.
pub(crate) fn page_params(query: Option<&str>) -> Result<(u64, u64), Problem> {
    let mut offset = None;
    let mut limit = None;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name.is_empty() {
            return Err(nameless_parameter());
        }
        let target = match name.as_ref() {
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
        if target.is_some() {
            // `limit=1&limit=100` has no one meaning; taking either value
            // would hand the client a page it may not have meant.
            return Err(Problem::bad_request(
                &name,
                format!("`{name}` is given more than once."),
            ));
        }
        // Digits only: Rust's parser would also take a sign (`+5`, which a
        // query can only carry encoded), and the spec says `integer`.
        *target = Some(
            value
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| value.parse::<u64>().ok())
                .flatten()
                .ok_or_else(|| {
                    let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
                    Problem::bad_request(
                        &name,
                        if digits {
                            format!("`{name}` is too large.")
                        } else {
                            format!("`{name}` must be a whole number, not `{value}`.")
                        },
                    )
                })?,
        );
    }
    let (offset, limit) = (offset.unwrap_or(0), limit.unwrap_or(100));
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

/// A key id from the path, in the spec's `ApiKeyId` form. `None` is a path
/// segment that did not even decode to text (`%FF`), which is just as
/// malformed.
pub(crate) fn key_id(id: Option<&str>) -> Result<types::ApiKeyId, Problem> {
    id.and_then(|id| id.parse().ok()).ok_or_else(|| {
        Problem::bad_request(
            "api_key_id",
            "`api_key_id` must be 32 lowercase hexadecimal digits.",
        )
    })
}

#[cfg(test)]
mod tests;
