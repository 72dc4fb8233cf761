//! The rules of a key's fields that a schema cannot say, shared by every
//! way a key is made (the API, fixtures, the binary): a name in words, at
//! least one known scope and none twice, an `exp` that RFC 3339 can write
//! and that lies ahead, and JSON objects whose members are not repeated.
//! Each refusal names the offending field.

use std::time::Duration;

use alphamoon_client::{Scope, types};
use chrono::{DateTime, Datelike as _, SubsecRound as _, Utc};
use serde_json::Value;

use super::refusal::Refusal;

/// A request body that must be a JSON object, none of its top-level
/// members repeated.
pub(crate) fn json_object(body: &[u8]) -> Result<Value, Refusal> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::invalid_as_a_whole(format!("The body is not valid JSON: {e}.")))?;
    if !value.is_object() {
        return Err(Refusal::invalid_as_a_whole(
            "The body must be a JSON object.",
        ));
    }
    if let Some(repeated) = first_repeated_member(body) {
        return Err(Refusal::invalid(
            &repeated,
            format!("`{repeated}` is given more than once."),
        ));
    }
    Ok(value)
}

/// The members of a JSON object, each one of `allowed`.
pub(crate) fn object_fields<'a>(
    value: &'a Value,
    allowed: &[&str],
) -> Result<&'a serde_json::Map<String, Value>, Refusal> {
    let Value::Object(fields) = value else {
        return Err(Refusal::invalid_as_a_whole("Must be a JSON object."));
    };
    if let Some(unknown) = fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(Refusal::invalid(
            unknown,
            format!("`{unknown}` is not a field here."),
        ));
    }
    Ok(fields)
}

/// An organization's name given in process, with the limits of a key's
/// name.
pub(crate) fn org_name(name: &str) -> Result<types::ApiKeyName, Refusal> {
    self::name(&Value::String(name.to_owned()))
}

/// A `name` member, as the generated type decides; the sentence says in
/// words what its pattern means, which the type's own message shows as a
/// regex.
pub(crate) fn name(value: &Value) -> Result<types::ApiKeyName, Refusal> {
    let Value::String(name) = value else {
        return Err(Refusal::invalid("name", "`name` must be a string."));
    };
    name.parse().map_err(|_| {
        Refusal::invalid(
            "name",
            "`name` must be 1 to 255 characters, none of them control characters.",
        )
    })
}

/// The first member name that a JSON object body repeats. serde_json keeps
/// only the last of each, which would let `{"name":"a","name":"b"}` pass as
/// `b`; an ambiguous request is refused instead.
pub(crate) fn first_repeated_member(object: &[u8]) -> Option<String> {
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
pub(crate) fn expiry(
    exp: &str,
    now: DateTime<Utc>,
    max_lifetime: Option<Duration>,
) -> Result<DateTime<Utc>, Refusal> {
    let exp = date_time("exp", exp)?.trunc_subsecs(0);
    if exp <= now {
        return Err(exp_not_ahead());
    }
    if let Some(max) = max_lifetime
        && exp - now > chrono::Duration::from_std(max).unwrap_or(chrono::Duration::MAX)
    {
        return Err(Refusal::invalid(
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
pub(crate) fn exp_not_ahead() -> Refusal {
    Refusal::invalid("exp", "`exp` must be in the future.")
}

/// A `date-time` as RFC 3339 defines it, no later than the year that can
/// still be written back in that form; callers choose its precision.
pub(crate) fn date_time(field: &str, text: &str) -> Result<DateTime<Utc>, Refusal> {
    // chrono also takes a space between date and time, which RFC 3339's
    // `date-time`, and so the spec, does not.
    if text
        .as_bytes()
        .get(10)
        .is_some_and(|b| !matches!(b, b'T' | b't'))
    {
        return Err(Refusal::invalid(
            field,
            format!(
                "`{field}` is not an RFC 3339 date-time: the date and time must be joined by `T`."
            ),
        ));
    }
    let at = DateTime::parse_from_rfc3339(text)
        .map_err(|e| {
            Refusal::invalid(
                field,
                format!("`{field}` is not an RFC 3339 date-time: {e}."),
            )
        })?
        .with_timezone(&Utc);
    if at.year() > LAST_EXP_YEAR {
        return Err(Refusal::invalid(
            field,
            format!("`{field}` must be in the year {LAST_EXP_YEAR} or earlier, in UTC."),
        ));
    }
    Ok(at)
}

/// At least one scope, each known to this version of the spec, none twice.
pub(crate) fn scope_list(scopes: &[Value]) -> Result<Vec<Scope>, Refusal> {
    if scopes.is_empty() {
        return Err(Refusal::invalid(
            "scopes",
            "`scopes` needs at least one scope.",
        ));
    }
    let mut valid: Vec<Scope> = Vec::with_capacity(scopes.len());
    for (i, scope) in scopes.iter().enumerate() {
        let Some(text) = scope.as_str() else {
            return Err(Refusal::invalid(
                "scopes",
                format!("`scopes[{i}]` must be a string."),
            ));
        };
        let scope = Scope::from(text);
        if !scope.is_known() {
            return Err(Refusal::invalid(
                "scopes",
                format!("`scopes[{i}]`: unknown scope `{text}`."),
            ));
        }
        if valid.contains(&scope) {
            return Err(Refusal::invalid(
                "scopes",
                format!("`scopes[{i}]`: `{text}` appears twice."),
            ));
        }
        valid.push(scope);
    }
    Ok(valid)
}
