//! The control API's requests: the journal's query, a fault, a clock
//! move and a new organization, refused with the field at fault.

use alphamoon_client::types;
use axum::http::StatusCode;
use chrono::SubsecRound as _;
use serde_json::Value;

use super::problem::Problem;
use super::request::{nameless_parameter, object_body};
use super::vendor_request::key_id;
use crate::control_client::types::FaultRequest;
use crate::model::clock::ClockMove;
use crate::model::fields::{date_time, name};
use crate::model::operation::Operation;
use crate::service::journal::JournalQuery;

/// Validates the query of `listRecordedRequests`.
pub(crate) fn journal_query(query: Option<&str>) -> Result<JournalQuery, Problem> {
    let mut parsed = JournalQuery::default();
    let mut seen = std::collections::HashSet::new();
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name.is_empty() {
            return Err(nameless_parameter());
        }
        if !seen.insert(name.clone()) {
            return Err(Problem::bad_request(
                &name,
                format!("`{name}` is given more than once."),
            ));
        }
        match name.as_ref() {
            "limit" => {
                let limit = value
                    .bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| value.parse::<usize>().ok())
                    .flatten()
                    .filter(|limit| (1..=MAX_JOURNAL_LIMIT).contains(limit))
                    .ok_or_else(|| {
                        Problem::bad_request(
                            "limit",
                            format!(
                                "`limit` must be a whole number from 1 to {MAX_JOURNAL_LIMIT}."
                            ),
                        )
                    })?;
                parsed.limit = Some(limit);
            }
            "operationId" => {
                let operation = Operation::from_id(&value)
                    .ok_or_else(|| Problem::bad_request("operationId", operation_ids_sentence()))?;
                parsed.operation_id = Some(operation.id().to_owned());
            }
            "keyId" => {
                let id = key_id(Some(&value)).map_err(|_| {
                    Problem::bad_request("keyId", "`keyId` must be 32 lowercase hex digits.")
                })?;
                parsed.key_id = Some(id.to_string());
            }
            other => {
                return Err(Problem::bad_request(
                    other,
                    format!("`{other}` is not a parameter of this operation."),
                ));
            }
        }
    }
    Ok(parsed)
}

/// The largest `limit` of `listRecordedRequests`.
const MAX_JOURNAL_LIMIT: usize = 1_000_000;

fn operation_ids_sentence() -> String {
    format!(
        "`operationId` must be one of the vendor API's: {}.",
        Operation::ALL.map(Operation::id).join(", ")
    )
}

/// Validates an `addFault` body's shape: its members and their types. What
/// they may be together, [`FaultRequest`] decides.
pub(crate) fn fault_request(body: &[u8]) -> Result<FaultRequest, Problem> {
    let fields = object_body(
        body,
        &[
            "operationId",
            "status",
            "retryAfter",
            "delayMs",
            "action",
            "times",
            "probability",
        ],
    )?;
    // Whole numbers as the spec types them (int32), so that the limits
    // `FaultRequest`'s rules state are checked on the values as sent.
    let whole = |name: &str| -> Result<Option<i32>, Problem> {
        match fields.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    Problem::bad_request(name, format!("`{name}` must be a whole number."))
                }),
        }
    };
    let operation_id = match fields.get("operationId") {
        None => None,
        Some(value) => Some(
            value
                .as_str()
                .and_then(|id| id.parse().ok())
                .ok_or_else(|| Problem::bad_request("operationId", operation_ids_sentence()))?,
        ),
    };
    let action = match fields.get("action") {
        None => None,
        Some(value) => Some(value.as_str().and_then(|a| a.parse().ok()).ok_or_else(|| {
            Problem::bad_request(
                "action",
                "`action` must be one of: respond, drop, commitThenFail.",
            )
        })?),
    };
    let times = match whole("times")? {
        None => None,
        Some(times) => Some(
            u32::try_from(times)
                .ok()
                .and_then(std::num::NonZeroU32::new)
                .ok_or_else(|| {
                    Problem::bad_request(
                        "times",
                        format!("`times` must be from 1 to {}.", i32::MAX),
                    )
                })?,
        ),
    };
    let probability = match fields.get("probability") {
        None => 1.0,
        Some(value) => value.as_f64().ok_or_else(|| {
            Problem::bad_request("probability", "`probability` must be a number from 0 to 1.")
        })?,
    };
    Ok(FaultRequest {
        operation_id,
        status: whole("status")?,
        retry_after: whole("retryAfter")?,
        delay_ms: whole("delayMs")?.unwrap_or(0),
        action,
        times,
        probability,
    })
}

/// Validates a `setClock` body: exactly one of its three moves, or `None`
/// for `{"resume": false}`, which moves nothing.
pub(crate) fn clock_move(body: &[u8]) -> Result<Option<ClockMove>, Problem> {
    let fields = object_body(body, &["frozenAt", "advanceBySeconds", "resume"])?;
    let mut moves = fields.iter();
    let (Some((name, value)), None) = (moves.next(), moves.next()) else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "Give exactly one of `frozenAt`, `advanceBySeconds` and `resume`.",
        ));
    };
    match (name.as_str(), value) {
        // Milliseconds, as the clock keeps them, so that a `now` read from
        // the clock can be sent back as it is.
        ("frozenAt", Value::String(at)) => Ok(Some(ClockMove::FreezeAt(
            date_time("frozenAt", at)?.trunc_subsecs(3),
        ))),
        ("frozenAt", _) => Err(Problem::bad_request(
            "frozenAt",
            "`frozenAt` must be an RFC 3339 string.",
        )),
        // The range is checked with the move, for in-process callers too.
        ("advanceBySeconds", value) => value
            .as_i64()
            .map(|seconds| Some(ClockMove::AdvanceBySeconds(seconds)))
            .ok_or_else(|| {
                Problem::bad_request(
                    "advanceBySeconds",
                    "`advanceBySeconds` must be a whole number of seconds, at least 1.",
                )
            }),
        ("resume", Value::Bool(true)) => Ok(Some(ClockMove::Resume)),
        // The spec's `resume` is a plain boolean (generators mishandle
        // `enum: [true]`), so `false` is a valid body: it asks for no move.
        ("resume", Value::Bool(false)) => Ok(None),
        _ => Err(Problem::bad_request(
            "resume",
            "`resume` must be a boolean.",
        )),
    }
}

/// Validates a control-plane request to create an organization: a JSON
/// object holding only `name`, with the limits of a key's name.
pub(crate) fn sandbox_org_request(body: &[u8]) -> Result<types::ApiKeyName, Problem> {
    let fields = object_body(body, &["name"])?;
    Ok(name(fields.get("name").ok_or_else(|| {
        Problem::bad_request("name", "`name` is required.")
    })?)?)
}
