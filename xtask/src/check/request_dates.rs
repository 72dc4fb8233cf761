//! Every example of what a client sends must be accepted as written, yet
//! the API refuses an `exp` that is not in the future, and JSON Schema
//! cannot say "in the future". So this rule says it: each date-time in a
//! request example (body or parameter, and the schema examples inside
//! them) lies at least a year ahead. It fails here, in `cargo xtask check`,
//! a year before a server would start refusing the example.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Findings, token};

/// How far ahead a request example's date-time must lie.
const MARGIN_DAYS: i64 = 365;

/// HTTP methods, as the keys of a path item.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The node a local `$ref` points to, with its pointer; any other node as
/// it is, at `at`.
fn follow<'a>(doc: &'a Value, node: &'a Value, at: &str) -> Option<(&'a Value, String)> {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference.strip_prefix('#')?;
            Some((doc.pointer(pointer)?, pointer.to_owned()))
        }
        None => Some((node, at.to_owned())),
    }
}

/// Reports each date-time in a request example, or in a schema example
/// inside a request, that lies less than [`MARGIN_DAYS`] after `now`.
pub(super) fn lint(doc: &Value, now: DateTime<Utc>, findings: &mut Findings) {
    let mut rule = Rule {
        doc,
        not_before: now + chrono::Duration::days(MARGIN_DAYS),
        findings,
        walked: BTreeSet::new(),
    };
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let item_at = format!("/paths/{}", token(path));
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let at = format!("{item_at}/{method}");
            let parameters = item
                .get("parameters")
                .and_then(Value::as_array)
                .map(|p| (format!("{item_at}/parameters"), p))
                .into_iter()
                .chain(
                    op.get("parameters")
                        .and_then(Value::as_array)
                        .map(|p| (format!("{at}/parameters"), p)),
                );
            for (list_at, list) in parameters {
                for (i, parameter) in list.iter().enumerate() {
                    if let Some((parameter, at)) = follow(doc, parameter, &format!("{list_at}/{i}"))
                    {
                        rule.holder(parameter, &at);
                    }
                }
            }
            let body = op
                .get("requestBody")
                .and_then(|b| follow(doc, b, &format!("{at}/requestBody")));
            for (media, content) in body
                .as_ref()
                .and_then(|(body, _)| body.get("content"))
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let body_at = body.as_ref().map(|(_, at)| at.as_str()).unwrap_or_default();
                rule.holder(content, &format!("{body_at}/content/{}", token(media)));
            }
        }
    }
}

/// The rule's state while it walks the document.
struct Rule<'a, 'f> {
    doc: &'a Value,
    not_before: DateTime<Utc>,
    findings: &'f mut Findings,
    /// Schemas already searched for examples, so that shared and
    /// recursive schemas are searched once.
    walked: BTreeSet<String>,
}

impl<'a> Rule<'a, '_> {
    /// A media type or parameter: its `example`, its `examples`, and the
    /// examples inside its schema.
    fn holder(&mut self, holder: &'a Value, at: &str) {
        let Some(schema) = holder.get("schema") else {
            return;
        };
        if let Some(example) = holder.get("example") {
            self.value(
                schema,
                &format!("{at}/schema"),
                example,
                &format!("{at}/example"),
            );
        }
        for (name, example) in holder
            .get("examples")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let example_at = format!("{at}/examples/{}", token(name));
            if let Some((example, example_at)) = follow(self.doc, example, &example_at)
                && let Some(value) = example.get("value")
            {
                self.value(
                    schema,
                    &format!("{at}/schema"),
                    value,
                    &format!("{example_at}/value"),
                );
            }
        }
        self.schema_examples(schema, &format!("{at}/schema"));
    }

    /// Every `example` inside `schema`, each held against its own schema.
    fn schema_examples(&mut self, schema: &'a Value, at: &str) {
        let Some((schema, at)) = follow(self.doc, schema, at) else {
            return;
        };
        if !self.walked.insert(at.clone()) {
            return;
        }
        if let Some(example) = schema.get("example") {
            self.value(schema, &at, example, &format!("{at}/example"));
        }
        for (key, child) in children(schema) {
            self.schema_examples(child, &format!("{at}/{key}"));
        }
    }

    /// Finds the date-times in `value` where `schema` expects them, and
    /// reports each that lies too soon.
    fn value(&mut self, schema: &'a Value, schema_at: &str, value: &Value, at: &str) {
        let Some((schema, schema_at)) = follow(self.doc, schema, schema_at) else {
            return;
        };
        if schema.get("format").and_then(Value::as_str) == Some("date-time")
            && let Some(text) = value.as_str()
            && let Ok(moment) = DateTime::parse_from_rfc3339(text)
            && moment < self.not_before
        {
            self.findings.add(
                at,
                format!(
                    "a request example's date-time `{text}` must lie at least \
                     {MARGIN_DAYS} days ahead: the API refuses an `exp` in the past"
                ),
            );
        }
        for part in ["allOf", "anyOf", "oneOf"] {
            for (i, sub) in schema
                .get(part)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                self.value(sub, &format!("{schema_at}/{part}/{i}"), value, at);
            }
        }
        if let (Some(properties), Some(object)) = (
            schema.get("properties").and_then(Value::as_object),
            value.as_object(),
        ) {
            for (name, property) in properties {
                if let Some(member) = object.get(name) {
                    self.value(
                        property,
                        &format!("{schema_at}/properties/{}", token(name)),
                        member,
                        &format!("{at}/{}", token(name)),
                    );
                }
            }
        }
        if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.value(
                    items,
                    &format!("{schema_at}/items"),
                    item,
                    &format!("{at}/{i}"),
                );
            }
        }
    }
}

/// The subschemas of a schema, with the pointer segments that lead to them.
fn children(schema: &Value) -> Vec<(String, &Value)> {
    let mut found = Vec::new();
    for (name, property) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        found.push((format!("properties/{}", token(name)), property));
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = schema.get(key).filter(|c| c.is_object()) {
            found.push((key.to_owned(), child));
        }
    }
    for part in ["allOf", "anyOf", "oneOf"] {
        for (i, sub) in schema
            .get(part)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            found.push((format!("{part}/{i}"), sub));
        }
    }
    found
}
