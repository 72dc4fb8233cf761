//! Rules over the schemas of the raw document: examples that validate, and
//! descriptions where a reader needs them.

use serde_json::Value;

use super::{Findings, token};

/// Follows a local `$ref` (`#/...`) in the raw document.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> Option<&'a Value> {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => doc.pointer(reference.strip_prefix('#')?),
        None => Some(value),
    }
}

/// Validates every example in the document against the schema it
/// illustrates: schema-level `example`s, and the `example`/`examples` of
/// media types, parameters and headers.
pub(super) fn lint_examples(doc: &Value, findings: &mut Findings) {
    let components = draft4(doc.get("components").unwrap_or(&Value::Null));
    let validate = |schema: &Value, example: &Value, at: &str, findings: &mut Findings| {
        // OpenAPI 3.0 schemas are a JSON Schema draft 4 dialect; wrapping the
        // schema beside `components` lets its `$ref`s resolve.
        let root = serde_json::json!({ "components": components, "allOf": [draft4(schema)] });
        let validator = match jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .build(&root)
        {
            Ok(validator) => validator,
            Err(e) => {
                findings.add(at, format!("schema does not compile: {e}"));
                return;
            }
        };
        for error in validator.iter_errors(example) {
            findings.add(
                at,
                format!(
                    "example does not match its schema at `{}`: {error}",
                    error.instance_path()
                ),
            );
        }
    };

    for (at, map) in objects(doc) {
        // A media type, parameter or header: its examples illustrate its
        // `schema`.
        if let Some(schema) = map.get("schema") {
            if let Some(example) = map.get("example") {
                validate(schema, example, &format!("{at}/example"), findings);
            }
            for (name, example) in map
                .get("examples")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let at = format!("{at}/examples/{}", token(name));
                match resolve(doc, example).and_then(|e| e.get("value")) {
                    Some(value) => validate(schema, value, &at, findings),
                    None => findings.add(&at, "example has no resolvable `value`"),
                }
            }
        } else if is_schema_position(&at)
            && let Some(example) = map.get("example")
        {
            let schema = Value::Object(map.clone());
            validate(&schema, example, &format!("{at}/example"), findings);
        }
    }
}

/// An OpenAPI 3.0 schema as plain JSON Schema draft 4: `nullable: true`,
/// which draft 4 does not know and would ignore, becomes `null` among the
/// allowed types (and enum values).
fn draft4(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), draft4(v))).collect();
            if out.remove("nullable") == Some(Value::Bool(true)) {
                if let Some(Value::String(kind)) = out.get("type").cloned() {
                    out.insert("type".to_owned(), serde_json::json!([kind, "null"]));
                }
                if let Some(Value::Array(values)) = out.get_mut("enum") {
                    values.push(Value::Null);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(draft4).collect()),
        other => other.clone(),
    }
}

/// Every object in the document with its JSON pointer, in document order.
fn objects(doc: &Value) -> Vec<(String, &serde_json::Map<String, Value>)> {
    let mut found = Vec::new();
    let mut stack = vec![(String::new(), doc)];
    while let Some((at, node)) = stack.pop() {
        match node {
            Value::Object(map) => {
                for (key, child) in map.iter().rev() {
                    stack.push((format!("{at}/{}", token(key)), child));
                }
                found.push((at, map));
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate().rev() {
                    stack.push((format!("{at}/{i}"), child));
                }
            }
            _ => {}
        }
    }
    found
}

/// Whether the node at this pointer is a schema object, judged by the key
/// that holds it.
fn is_schema_position(pointer: &str) -> bool {
    let mut segments = pointer.rsplit('/');
    let last = segments.next().unwrap_or_default();
    let parent = segments.next().unwrap_or_default();
    matches!(last, "schema" | "items" | "additionalProperties" | "not")
        || matches!(parent, "properties" | "allOf" | "anyOf" | "oneOf")
        || pointer.starts_with("/components/schemas/") && pointer.matches('/').count() == 3
}

/// Every schema in the document, with its pointer.
pub(super) fn schemas(doc: &Value) -> Vec<(String, &serde_json::Map<String, Value>)> {
    objects(doc)
        .into_iter()
        .filter(|(at, _)| is_schema_position(at))
        .collect()
}

/// Every named schema, property and parameter says what it is. A bare
/// `$ref` is exempt: OpenAPI 3.0 ignores siblings of `$ref`, so the
/// description lives on the target.
pub(super) fn lint_descriptions(doc: &Value, findings: &mut Findings) {
    for (at, schema) in schemas(doc) {
        let named = at.starts_with("/components/schemas/") && at.matches('/').count() == 3;
        let property = at.rsplit('/').nth(1) == Some("properties");
        let described = schema
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| !d.trim().is_empty());
        if (named || property) && schema.get("$ref").is_none() && !described {
            findings.add(at, "schema has no description");
        }
    }
    for (name, parameter) in doc
        .pointer("/components/parameters")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if parameter
            .get("description")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            findings.add(
                format!("/components/parameters/{}", token(name)),
                "parameter has no description",
            );
        }
    }
}
