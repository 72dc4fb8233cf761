//! Request validation. What the spec's types say (a name's length and
//! characters, a key id's form, the known scopes) is checked by the types
//! generated from the spec; this file adds only what a schema cannot say:
//! an `exp` in the future and within the configured lifetime, no repeated
//! scopes, and a problem that names the offending field.

use std::time::Duration;

use alphamoon_client::{Scope, types};
use axum::http::StatusCode;
use chrono::{DateTime, Datelike as _, SubsecRound as _, Utc};
use serde_json::Value;

use super::Operation;
use super::problem::Problem;
use crate::clock::ClockMove;
use crate::control_client::types::FaultRequest;
use crate::journal::JournalQuery;

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

/// A request body that must be a JSON object, none of its top-level
/// members repeated.
pub(crate) fn json_object(body: &[u8]) -> Result<Value, Problem> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("The body is not valid JSON: {e}."),
        )
    })?;
    if !value.is_object() {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "The body must be a JSON object.",
        ));
    }
    if let Some(repeated) = first_repeated_member(body) {
        return Err(Problem::bad_request(
            &repeated,
            format!("`{repeated}` is given more than once."),
        ));
    }
    Ok(value)
}

/// One organization of a fixtures document, validated.
#[derive(Debug)]
pub(crate) struct FixtureOrg {
    pub(crate) name: types::ApiKeyName,
    pub(crate) keys: Vec<FixtureKey>,
}

/// One key of a fixtures document, validated.
#[derive(Debug)]
pub(crate) struct FixtureKey {
    pub(crate) name: types::ApiKeyName,
    pub(crate) scopes: Vec<Scope>,
    pub(crate) exp: DateTime<Utc>,
    /// A secret the document fixes, well-formed; `None` to make one.
    pub(crate) secret: Option<String>,
}

/// Validates a fixtures document, `{"orgs":[{"name","keys":[{"name",
/// "scopes","exp","secret"?}]}]}`, as a whole before anything is stored.
/// It is the server seeding itself, so an `exp` in the past (an expired
/// key) is allowed; a secret must be well-formed and is used once.
pub(crate) fn fixtures(document: &Value) -> Result<Vec<FixtureOrg>, Problem> {
    let fields = object_fields(document, &["orgs"])?;
    let Some(Value::Array(orgs)) = fields.get("orgs") else {
        return Err(Problem::bad_request("orgs", "`orgs` must be an array."));
    };
    let mut secrets = std::collections::HashSet::new();
    orgs.iter()
        .enumerate()
        .map(|(i, org)| {
            let at = format!("orgs[{i}]");
            let fields = object_fields(org, &["name", "keys"]).map_err(|p| p.within(&at))?;
            let name =
                name(fields.get("name").unwrap_or(&Value::Null)).map_err(|p| p.within(&at))?;
            let keys = match fields.get("keys") {
                None => {
                    return Err(Problem::bad_request("keys", "`keys` is required.").within(&at));
                }
                Some(Value::Array(keys)) => keys
                    .iter()
                    .enumerate()
                    .map(|(j, key)| {
                        let at = format!("{at}.keys[{j}]");
                        let key = fixture_key(key).map_err(|p| p.within(&at))?;
                        if let Some(secret) = &key.secret
                            && !secrets.insert(secret.clone())
                        {
                            return Err(Problem::bad_request(
                                "secret",
                                "This secret is given twice.",
                            )
                            .within(&at));
                        }
                        Ok(key)
                    })
                    .collect::<Result<_, Problem>>()?,
                Some(_) => {
                    return Err(
                        Problem::bad_request("keys", "`keys` must be an array.").within(&at)
                    );
                }
            };
            Ok(FixtureOrg { name, keys })
        })
        .collect()
}

fn fixture_key(key: &Value) -> Result<FixtureKey, Problem> {
    let fields = object_fields(key, &["name", "scopes", "exp", "secret"])?;
    let field = |name: &str| {
        fields
            .get(name)
            .ok_or_else(|| Problem::bad_request(name, format!("`{name}` is required.")))
    };
    let name = name(field("name")?)?;
    let Value::Array(scopes) = field("scopes")? else {
        return Err(Problem::bad_request("scopes", "`scopes` must be an array."));
    };
    let scopes = scope_list(scopes)?;
    let Value::String(exp) = field("exp")? else {
        return Err(Problem::bad_request(
            "exp",
            "`exp` must be an RFC 3339 string.",
        ));
    };
    let exp = date_time("exp", exp)?.trunc_subsecs(0);
    let secret = match fields.get("secret") {
        None => None,
        Some(Value::String(secret)) if crate::keys::is_well_formed(secret) => Some(secret.clone()),
        Some(_) => {
            return Err(Problem::bad_request(
                "secret",
                "`secret` must be a well-formed key (prefix and checksum); \
                 `alphamoon-sandbox key make --seed TEXT` prints one.",
            ));
        }
    };
    Ok(FixtureKey {
        name,
        scopes,
        exp,
        secret,
    })
}

/// The members of a JSON object, each one of `allowed`.
fn object_fields<'a>(
    value: &'a Value,
    allowed: &[&str],
) -> Result<&'a serde_json::Map<String, Value>, Problem> {
    let Value::Object(fields) = value else {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "Must be a JSON object.",
        ));
    };
    if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Problem::bad_request(
            unknown,
            format!("`{unknown}` is not a field here."),
        ));
    }
    Ok(fields)
}

/// An organization's name given in process, with the limits of a key's
/// name.
pub(crate) fn org_name(name: &str) -> Result<types::ApiKeyName, Problem> {
    self::name(&Value::String(name.to_owned()))
}

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
    name(
        fields
            .get("name")
            .ok_or_else(|| Problem::bad_request("name", "`name` is required."))?,
    )
}

/// A request body that must be a JSON object with members from `allowed`,
/// none of them repeated.
fn object_body(body: &[u8], allowed: &[&str]) -> Result<serde_json::Map<String, Value>, Problem> {
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

/// A `name` member, as the generated type decides; the sentence says in
/// words what its pattern means, which the type's own message shows as a
/// regex.
fn name(value: &Value) -> Result<types::ApiKeyName, Problem> {
    let Value::String(name) = value else {
        return Err(Problem::bad_request("name", "`name` must be a string."));
    };
    name.parse().map_err(|_| {
        Problem::bad_request(
            "name",
            "`name` must be 1 to 255 characters, none of them control characters.",
        )
    })
}

/// The first member name that a JSON object body repeats. serde_json keeps
/// only the last of each, which would let `{"name":"a","name":"b"}` pass as
/// `b`; an ambiguous request is refused instead.
fn first_repeated_member(object: &[u8]) -> Option<String> {
    struct Names(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Names {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Names;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Names, A::Error> {
                    let mut names = Vec::new();
                    while let Some(name) = map.next_key::<String>()? {
                        map.next_value::<serde::de::IgnoredAny>()?;
                        names.push(name);
                    }
                    Ok(Names(names))
                }
            }
            d.deserialize_map(Visitor)
        }
    }
    let Names(names) = serde_json::from_slice(object).ok()?;
    let mut seen = std::collections::HashSet::new();
    names.into_iter().find(|name| !seen.insert(name.clone()))
}

/// The latest `exp` the API can serve: later instants have a year of five
/// digits, which is not RFC 3339 and which strict clients fail to parse.
const LAST_EXP_YEAR: i32 = 9999;

/// `exp` must be an RFC 3339 date-time in the future, at most `max_lifetime`
/// ahead when one is set, and within years the format can write.
fn expiry(
    exp: &str,
    now: DateTime<Utc>,
    max_lifetime: Option<Duration>,
) -> Result<DateTime<Utc>, Problem> {
    let exp = date_time("exp", exp)?.trunc_subsecs(0);
    if exp <= now {
        return Err(exp_not_ahead());
    }
    if let Some(max) = max_lifetime
        && exp - now > chrono::Duration::from_std(max).unwrap_or(chrono::Duration::MAX)
    {
        return Err(Problem::bad_request(
            "exp",
            format!(
                "`exp` may be at most {} days ahead.",
                max.as_secs() / 86_400
            ),
        ));
    }
    Ok(exp)
}

/// The refusal of a new key whose `exp` is not in the future: checked
/// when the request is read, and again by the store when the key is
/// written, against the clock as it stands then.
pub(crate) fn exp_not_ahead() -> Problem {
    Problem::bad_request("exp", "`exp` must be in the future.")
}

/// A `date-time` as RFC 3339 defines it, no later than the year that can
/// still be written back in that form; callers choose its precision.
fn date_time(field: &str, text: &str) -> Result<DateTime<Utc>, Problem> {
    // chrono also takes a space between date and time, which RFC 3339's
    // `date-time`, and so the spec, does not.
    if text
        .as_bytes()
        .get(10)
        .is_some_and(|b| !matches!(b, b'T' | b't'))
    {
        return Err(Problem::bad_request(
            field,
            format!(
                "`{field}` is not an RFC 3339 date-time: the date and time must be joined by `T`."
            ),
        ));
    }
    let at = DateTime::parse_from_rfc3339(text)
        .map_err(|e| {
            Problem::bad_request(
                field,
                format!("`{field}` is not an RFC 3339 date-time: {e}."),
            )
        })?
        .with_timezone(&Utc);
    if at.year() > LAST_EXP_YEAR {
        return Err(Problem::bad_request(
            field,
            format!("`{field}` must be in the year {LAST_EXP_YEAR} or earlier, in UTC."),
        ));
    }
    Ok(at)
}

/// At least one scope, each known to this version of the spec, none twice.
fn scope_list(scopes: &[Value]) -> Result<Vec<Scope>, Problem> {
    if scopes.is_empty() {
        return Err(Problem::bad_request(
            "scopes",
            "`scopes` needs at least one scope.",
        ));
    }
    let mut valid: Vec<Scope> = Vec::with_capacity(scopes.len());
    for (i, scope) in scopes.iter().enumerate() {
        let Some(text) = scope.as_str() else {
            return Err(Problem::bad_request(
                "scopes",
                format!("`scopes[{i}]` must be a string."),
            ));
        };
        let scope = Scope::from(text);
        if !scope.is_known() {
            return Err(Problem::bad_request(
                "scopes",
                format!("`scopes[{i}]`: unknown scope `{text}`."),
            ));
        }
        if valid.contains(&scope) {
            return Err(Problem::bad_request(
                "scopes",
                format!("`scopes[{i}]`: `{text}` appears twice."),
            ));
        }
        valid.push(scope);
    }
    Ok(valid)
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

fn nameless_parameter() -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "The query has a parameter with no name.",
    )
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
