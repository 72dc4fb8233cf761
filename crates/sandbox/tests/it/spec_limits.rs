//! Every limit the two specs state on what a client sends (`minimum`,
//! `maximum`, `minLength`, `maxLength`, `minItems`, `maxItems`), read from
//! the specs themselves and held against the server over HTTP: the value
//! at the limit is accepted, and one past it is a 400 naming the field.
//! So neither spec can promise a limit the server does not keep.

use crate::support;

use crate::support::{basic, call, sandbox_with};
use alphamoon_sandbox::{ControlToken, Settings};
use serde_json::{Value, json};

const TOKEN: &str = "amc_limits-test-token";

/// One limit of one operation's input.
#[derive(Clone, Debug)]
struct Limit {
    operation: String,
    method: String,
    path: String,
    /// Where the value goes: `query:NAME`, `path:NAME`, or `body` followed
    /// by `.member` and `[]` steps.
    place: String,
    keyword: &'static str,
    /// Exact, even for integers beyond what an `f64` holds.
    bound: serde_json::Number,
    /// The value's JSON type, and for strings the pattern it must match.
    kind: String,
    pattern: Option<String>,
}

const KEYWORDS: [&str; 6] = [
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
];

fn resolve<'a>(spec: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        value = spec
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling {reference}"));
    }
    value
}

fn collect(spec: &Value, schema: &Value, place: &str, found: &mut Vec<(String, Value)>) {
    let schema = resolve(spec, schema);
    if KEYWORDS.iter().any(|k| schema.get(*k).is_some()) {
        found.push((place.to_owned(), schema.clone()));
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            collect(spec, property, &format!("{place}.{name}"), found);
        }
    }
    if let Some(items) = schema.get("items") {
        collect(spec, items, &format!("{place}[]"), found);
    }
    for alternatives in ["oneOf", "anyOf", "allOf"] {
        for alternative in schema[alternatives].as_array().into_iter().flatten() {
            collect(spec, alternative, place, found);
        }
    }
}

/// Every limit on the input of every operation of `spec`.
fn limits(spec: &Value) -> Vec<Limit> {
    let mut limits = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Some(id) = operation["operationId"].as_str() else {
                continue;
            };
            let mut found = Vec::new();
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let parameter = resolve(spec, parameter);
                let place = format!(
                    "{}:{}",
                    parameter["in"].as_str().expect("in"),
                    parameter["name"].as_str().expect("name")
                );
                collect(spec, &parameter["schema"], &place, &mut found);
            }
            if let Some(body) = operation.get("requestBody") {
                let body = resolve(spec, body);
                collect(
                    spec,
                    &body["content"]["application/json"]["schema"],
                    "body",
                    &mut found,
                );
            }
            for (place, schema) in found {
                for keyword in KEYWORDS {
                    let Some(Value::Number(bound)) = schema.get(keyword) else {
                        continue;
                    };
                    let bound = bound.clone();
                    limits.push(Limit {
                        operation: id.to_owned(),
                        method: method.to_ascii_uppercase(),
                        path: path.clone(),
                        place: place.clone(),
                        keyword,
                        bound,
                        kind: schema["type"].as_str().unwrap_or("string").to_owned(),
                        pattern: schema["pattern"].as_str().map(str::to_owned),
                    });
                }
            }
        }
    }
    limits
}

/// A string of `len` characters that matches the field's pattern where
/// the length allows it.
fn text_of(len: usize, pattern: Option<&str>) -> String {
    match pattern {
        Some(p) if p.starts_with("^amk_") => {
            let secret = alphamoon_sandbox::keys::from_seed("limits");
            if len <= secret.len() {
                secret[..len].to_owned()
            } else {
                format!("{secret}{}", "0".repeat(len - secret.len()))
            }
        }
        Some(_) => "0".repeat(len),
        None => "x".repeat(len),
    }
}

/// The value at the limit (`past` false) or one past it.
fn value_at(limit: &Limit, past: bool) -> Value {
    let lower = matches!(limit.keyword, "minimum" | "minLength" | "minItems");
    let step: i128 = match (past, lower) {
        (false, _) => 0,
        (true, true) => -1,
        (true, false) => 1,
    };
    let whole = |n: &serde_json::Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
            .expect("a whole-number bound")
    };
    match limit.keyword {
        "minLength" | "maxLength" => {
            let len = usize::try_from(whole(&limit.bound) + step).expect("a length");
            Value::String(text_of(len, limit.pattern.as_deref()))
        }
        "minItems" | "maxItems" => {
            let len = usize::try_from(whole(&limit.bound) + step).expect("a length");
            Value::Array(vec![json!("workspace.file:upload"); len])
        }
        // Half a unit past a fractional bound.
        _ if limit.kind == "number" => {
            json!(limit.bound.as_f64().expect("a number") + 0.5 * step as f64)
        }
        // Integers as digits, exact beyond 2^53, as a query carries them.
        _ => Value::String((whole(&limit.bound) + step).to_string()),
    }
}

/// A request that the server accepts, for each operation with limits.
fn base_body(operation: &str) -> Value {
    match operation {
        "createApiKey" => json!({
            "name": "limits",
            "exp": "2099-01-01T00:00:00Z",
            "scopes": ["workspace.file:upload"],
        }),
        "createSandboxOrg" => json!({"name": "Acme"}),
        "loadFixtures" => json!({"orgs": [{"name": "Acme", "keys": [{
            "name": "k",
            "scopes": ["workspace.file:upload"],
            "exp": "2099-01-01T00:00:00Z",
            "secret": alphamoon_sandbox::keys::from_seed("limits"),
        }]}]}),
        "addFault" => json!({"operationId": "listApiKeys", "status": 503, "retryAfter": 1}),
        "setClock" => json!({"advanceBySeconds": 60}),
        other => panic!("no base request for {other}: add one"),
    }
}

/// Puts `value` at `steps` (`.member` and `[]`) in `body`.
fn set(body: &mut Value, steps: &str, value: Value) {
    let mut at = body;
    for step in steps.split('.').filter(|s| !s.is_empty()) {
        let (name, into_item) = match step.strip_suffix("[]") {
            Some(name) => (name, true),
            None => (step, false),
        };
        at = &mut at[name];
        if into_item {
            at = &mut at[0];
        }
    }
    *at = value;
}

/// The `field` a 400 names for a place: `orgs[0].keys[0].name` for
/// `body.orgs[].keys[].name`.
fn field_of(place: &str) -> String {
    match place.split_once(':') {
        Some((_, name)) => name.to_owned(),
        None => place.trim_start_matches("body.").replace("[]", "[0]"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_limit_in_both_specs_holds_at_the_server() {
    let mut all = limits(support::spec());
    all.extend(limits(support::control_spec()));
    assert!(all.len() >= 30, "the specs' limits were not found: {all:?}");
    let mut broken = Vec::new();
    for limit in &all {
        for past in [false, true] {
            // A fresh sandbox each time: a fault or a clock move made by one
            // case must not change the next.
            let (sandbox, admin) = sandbox_with(Settings {
                rate_limit: None,
                org_rate_limit: None,
                control_token: Some(ControlToken::new(TOKEN)),
                ..Settings::default()
            })
            .await;
            let value = value_at(limit, past);
            let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            let mut path = limit.path.clone();
            let mut body = None;
            if let Some(name) = limit.place.strip_prefix("path:") {
                path = path.replace(&format!("{{{name}}}"), &text(&value));
            } else if let Some(name) = limit.place.strip_prefix("query:") {
                path = format!("{path}?{name}={}", text(&value));
            } else {
                let mut document = base_body(&limit.operation);
                let value = match (&value, limit.kind.as_str()) {
                    // Integers travel as JSON numbers in a body.
                    (Value::String(digits), "integer") => {
                        serde_json::from_str(digits).expect("digits")
                    }
                    _ => value.clone(),
                };
                set(&mut document, limit.place.trim_start_matches("body"), value);
                body = Some(("application/json", document.to_string()));
            }
            let auth = if limit.path.starts_with("/_sandbox/") {
                format!("Bearer {TOKEN}")
            } else {
                basic(&admin)
            };
            let answer = call(&sandbox, &limit.method, &path, Some(&auth), body).await;
            let field = field_of(&limit.place);
            let held = if past {
                answer.status == 400 && answer.field() == Some(field.as_str())
            } else {
                answer.status != 400
            };
            if !held {
                broken.push(format!(
                    "{} {} {} {}: {} ({}) got {} {}",
                    limit.operation,
                    limit.place,
                    limit.keyword,
                    limit.bound,
                    if past {
                        "one past the limit"
                    } else {
                        "at the limit"
                    },
                    text(&value).chars().take(40).collect::<String>(),
                    answer.status,
                    answer.body
                ));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "limits the server does not keep:\n{}",
        broken.join("\n")
    );
}
