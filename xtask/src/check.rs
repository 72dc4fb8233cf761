//! `cargo xtask check`: proves the spec sound and every derived file current.
//!
//! Each finding names the JSON pointer of the offending node in the spec, so
//! that it can be found in the YAML and in the published JSON alike.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::Path;

use openapiv3::{OpenAPI, ReferenceOr, StatusCode};
use serde_json::Value;

use crate::derived;

/// The schema every error response must use.
const ERROR_SCHEMA_REF: &str = "#/components/schemas/Error";

/// One thing wrong with the spec, located by JSON pointer.
struct Finding {
    pointer: String,
    message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "(document)"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {}", self.message)
    }
}

#[derive(Default)]
struct Findings(Vec<Finding>);

impl Findings {
    fn add(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.0.push(Finding {
            pointer: pointer.into(),
            message: message.into(),
        });
    }
}

/// Runs every lint and the drift check, printing each finding.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    let raw = derived::load_spec(root)?;
    let mut findings = lint(&raw);

    let mut drift = Vec::new();
    for file in derived::render_all(root)? {
        let on_disk = fs::read_to_string(root.join(&file.path)).unwrap_or_default();
        if on_disk != file.content {
            let name = file.path.display().to_string();
            drift.push(format!(
                "{}",
                similar::TextDiff::from_lines(&on_disk, &file.content)
                    .unified_diff()
                    .context_radius(3)
                    .header(&format!("{name} (on disk)"), &format!("{name} (from gen)"))
            ));
            findings.add(
                "",
                format!("{name} is out of date with {}", derived::SPEC_YAML),
            );
        }
    }

    for diff in &drift {
        eprintln!("{diff}");
    }
    for finding in &findings.0 {
        eprintln!("{finding}");
    }
    match findings.0.len() {
        0 => {
            println!("spec and derived files are sound");
            Ok(())
        }
        n if !drift.is_empty() => Err(format!(
            "{n} finding(s); derived files differ: run `cargo xtask gen` and review the diff"
        )),
        n => Err(format!("{n} finding(s) in {}", derived::SPEC_YAML)),
    }
}

/// Every rule that reads only the spec itself.
fn lint(raw: &Value) -> Findings {
    let mut findings = Findings::default();
    match serde_json::from_value::<OpenAPI>(raw.clone()) {
        Ok(spec) => {
            if !spec.openapi.starts_with("3.0.") {
                findings.add(
                    "/openapi",
                    format!(
                        "version {} is not 3.0.x (progenitor refuses 3.1)",
                        spec.openapi
                    ),
                );
            }
            lint_operations(&spec, &mut findings);
        }
        Err(e) => findings.add("", format!("openapiv3 cannot parse the document: {e}")),
    }
    lint_examples(raw, &mut findings);
    lint_enums(raw, &mut findings);
    lint_descriptions(raw, &mut findings);

    findings
}

/// Escapes one reference token of a JSON pointer (RFC 6901).
fn token(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Operation-level rules: identity, documentation, security, and the
/// response shapes that progenitor can turn into one success and one error
/// type.
fn lint_operations(spec: &OpenAPI, findings: &mut Findings) {
    let mut seen_ids = BTreeMap::new();
    for (path, method, op) in spec.operations() {
        let at = format!("/paths/{}/{method}", token(path));
        match op.operation_id.as_deref() {
            None | Some("") => findings.add(&at, "operation has no operationId"),
            Some(id) => {
                let camel = id.starts_with(|c: char| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric());
                if !camel {
                    findings.add(
                        format!("{at}/operationId"),
                        format!("`{id}` is not camelCase"),
                    );
                }
                if let Some(other) = seen_ids.insert(id.to_owned(), at.clone()) {
                    findings.add(
                        format!("{at}/operationId"),
                        format!("`{id}` is also the operationId of {other}"),
                    );
                }
            }
        }
        if op.summary.as_deref().is_none_or(str::is_empty) {
            findings.add(&at, "operation has no summary");
        }
        if op.description.as_deref().is_none_or(str::is_empty) {
            findings.add(&at, "operation has no description");
        }
        if op.tags.is_empty() {
            findings.add(&at, "operation has no tag");
        }
        for (i, parameter) in op.parameters.iter().enumerate() {
            if let ReferenceOr::Item(parameter) = parameter
                && parameter
                    .parameter_data_ref()
                    .description
                    .as_deref()
                    .is_none_or(str::is_empty)
            {
                findings.add(
                    format!("{at}/parameters/{i}"),
                    "parameter has no description",
                );
            }
        }
        let security = op.security.as_ref().or(spec.security.as_ref());
        if security.is_none_or(|s| s.is_empty() || s.iter().any(|req| req.is_empty())) {
            findings.add(&at, "operation has no security requirement");
        }

        if op.responses.default.is_some() {
            findings.add(
                format!("{at}/responses/default"),
                "a `default` response panics progenitor; list each status",
            );
        }
        let mut success_schemas = BTreeSet::new();
        for (status, response) in &op.responses.responses {
            let code = match status {
                StatusCode::Code(code) => *code,
                StatusCode::Range(range) => range * 100,
            };
            let at = format!("{at}/responses/{status}");
            let Some(response) = resolve_response(spec, response) else {
                findings.add(&at, "response reference does not resolve");
                continue;
            };
            let schemas: Vec<Option<String>> = response
                .content
                .values()
                .map(|media| match &media.schema {
                    Some(ReferenceOr::Reference { reference }) => Some(reference.clone()),
                    _ => None,
                })
                .collect();
            if code >= 400 {
                if schemas.is_empty()
                    || schemas
                        .iter()
                        .any(|s| s.as_deref() != Some(ERROR_SCHEMA_REF))
                {
                    findings.add(&at, format!("error response must use `{ERROR_SCHEMA_REF}`"));
                }
            } else if (200..300).contains(&code) {
                success_schemas.extend(schemas);
            }
        }
        if success_schemas.len() > 1 {
            findings.add(
                format!("{at}/responses"),
                "success responses use different schemas; progenitor needs one",
            );
        }
    }
}

fn resolve_response<'a>(
    spec: &'a OpenAPI,
    response: &'a ReferenceOr<openapiv3::Response>,
) -> Option<&'a openapiv3::Response> {
    match response {
        ReferenceOr::Item(item) => Some(item),
        ReferenceOr::Reference { reference } => {
            let name = reference.strip_prefix("#/components/responses/")?;
            match spec.components.as_ref()?.responses.get(name)? {
                ReferenceOr::Item(item) => Some(item),
                ReferenceOr::Reference { .. } => None,
            }
        }
    }
}

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
fn lint_examples(doc: &Value, findings: &mut Findings) {
    let components = doc.get("components").cloned().unwrap_or(Value::Null);
    let validate = |schema: &Value, example: &Value, at: &str, findings: &mut Findings| {
        // OpenAPI 3.0 schemas are a JSON Schema draft 4 dialect; wrapping the
        // schema beside `components` lets its `$ref`s resolve.
        let root = serde_json::json!({ "components": components, "allOf": [schema] });
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
fn schemas(doc: &Value) -> Vec<(String, &serde_json::Map<String, Value>)> {
    objects(doc)
        .into_iter()
        .filter(|(at, _)| is_schema_position(at))
        .collect()
}

/// String enums: no duplicate values, no two values that become the same
/// Rust variant, descriptions in step with the values, and for the scope
/// enum, every value in exactly one group.
fn lint_enums(doc: &Value, findings: &mut Findings) {
    for (at, schema) in schemas(doc) {
        let Some(values) = schema.get("enum").and_then(Value::as_array) else {
            continue;
        };
        let values: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
        let mut seen = BTreeSet::new();
        let mut variants = BTreeMap::new();
        for value in &values {
            if !seen.insert(*value) {
                findings.add(format!("{at}/enum"), format!("`{value}` appears twice"));
                continue;
            }
            // Generated variant names keep only the alphanumerics and
            // change case, so values equal under that mapping collide.
            let variant: String = value
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|c| c.to_ascii_lowercase())
                .collect();
            if let Some(other) = variants.insert(variant, *value) {
                findings.add(
                    format!("{at}/enum"),
                    format!("`{value}` and `{other}` would become the same Rust variant"),
                );
            }
        }

        match schema.get("x-enum-descriptions") {
            None => findings.add(&at, "enum has no `x-enum-descriptions`"),
            Some(Value::Array(descriptions)) => {
                if descriptions.len() != values.len() {
                    findings.add(
                        format!("{at}/x-enum-descriptions"),
                        format!(
                            "{} descriptions for {} values; keep one per value, in order",
                            descriptions.len(),
                            values.len()
                        ),
                    );
                }
                for (i, d) in descriptions.iter().enumerate() {
                    if d.as_str().is_none_or(|d| d.trim().is_empty()) {
                        findings.add(format!("{at}/x-enum-descriptions/{i}"), "empty description");
                    }
                }
            }
            Some(_) => findings.add(format!("{at}/x-enum-descriptions"), "must be an array"),
        }

        if let Some(groups) = schema.get("x-scope-groups") {
            lint_scope_groups(&at, groups, &values, findings);
        }
    }
}

fn lint_scope_groups(at: &str, groups: &Value, values: &[&str], findings: &mut Findings) {
    let at = format!("{at}/x-scope-groups");
    let Some(groups) = groups.as_array() else {
        findings.add(at, "must be an array");
        return;
    };
    let mut grouped = BTreeMap::new();
    for (i, group) in groups.iter().enumerate() {
        let name = group
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        for key in ["name", "title"] {
            if group
                .get(key)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                findings.add(format!("{at}/{i}"), format!("group has no `{key}`"));
            }
        }
        let members = group.get("scopes").and_then(Value::as_array);
        for (j, scope) in members.into_iter().flatten().enumerate() {
            let scope = scope.as_str().unwrap_or_default();
            if !values.contains(&scope) {
                findings.add(
                    format!("{at}/{i}/scopes/{j}"),
                    format!("`{scope}` is not in the enum"),
                );
            }
            if let Some(other) = grouped.insert(scope, name) {
                findings.add(
                    format!("{at}/{i}/scopes/{j}"),
                    format!("`{scope}` is also in group `{other}`"),
                );
            }
        }
    }
    for value in values {
        if !grouped.contains_key(value) {
            findings.add(&at, format!("`{value}` is in no group"));
        }
    }
}

/// Every named schema, property and parameter says what it is. A bare
/// `$ref` is exempt: OpenAPI 3.0 ignores siblings of `$ref`, so the
/// description lives on the target.
fn lint_descriptions(doc: &Value, findings: &mut Findings) {
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed step in a test is a failed test
mod tests {
    use super::*;

    fn spec() -> Value {
        derived::load_spec(&crate::workspace_root()).expect("the spec loads")
    }

    /// The pointers of the findings for `spec` after `edit`.
    fn findings_after(edit: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut raw = spec();
        edit(&mut raw);
        lint(&raw).0.into_iter().map(|f| f.pointer).collect()
    }

    const CREATE: &str = "/paths/~1api~1v0.4~1admin~1api-keys/post";
    const DELETE: &str = "/paths/~1api~1v0.4~1admin~1api-keys~1{api_key_id}/delete";

    #[test]
    fn the_committed_spec_is_clean() {
        let findings: Vec<String> = lint(&spec()).0.iter().map(ToString::to_string).collect();
        assert!(findings.is_empty(), "{findings:#?}");
    }

    #[test]
    fn each_rule_names_the_offending_pointer() {
        let at = |p: &str| format!("{CREATE}{p}");
        assert_eq!(
            findings_after(|s| drop(s.pointer_mut(CREATE).unwrap()["summary"].take())),
            [CREATE]
        );
        assert_eq!(
            findings_after(|s| s
                .pointer_mut(CREATE)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove("operationId")
                .map(drop)
                .unwrap()),
            [CREATE]
        );
        assert_eq!(
            findings_after(|s| s.pointer_mut(CREATE).unwrap()["security"] = serde_json::json!([])),
            [CREATE]
        );
        assert_eq!(
            findings_after(|s| {
                s.pointer_mut(&at(
                    "/requestBody/content/application~1json/examples/vendorPage/value/exp",
                ))
                .map(|v| *v = "yesterday".into())
                .unwrap()
            }),
            [at(
                "/requestBody/content/application~1json/examples/vendorPage"
            )]
        );
        assert_eq!(
            findings_after(|s| {
                s.pointer_mut(&format!("{DELETE}/responses")).unwrap()["default"] =
                    serde_json::json!({ "$ref": "#/components/responses/NotFound" })
            }),
            [format!("{DELETE}/responses/default")]
        );
        assert_eq!(
            findings_after(|s| {
                s.pointer_mut(&format!("{DELETE}/responses")).unwrap()["404"] = serde_json::json!({
                    "description": "not the Error schema",
                    "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ApiKey" } } }
                })
            }),
            [format!("{DELETE}/responses/404")]
        );
    }

    #[test]
    fn scope_values_must_stay_unique_described_and_grouped() {
        let enum_at = "/components/schemas/Scope/enum";
        let findings = findings_after(|s| {
            s.pointer_mut(enum_at)
                .unwrap()
                .as_array_mut()
                .unwrap()
                .push("workspace.file.upload".into())
        });
        assert!(
            findings.contains(&enum_at.to_owned()),
            "variant collision: {findings:?}"
        );
        assert!(findings.contains(&"/components/schemas/Scope/x-enum-descriptions".to_owned()));
        assert!(findings.contains(&"/components/schemas/Scope/x-scope-groups".to_owned()));
    }

    #[test]
    fn drift_in_a_derived_file_fails_with_a_diff() {
        let root = std::env::temp_dir().join(format!("xtask-drift-{}", std::process::id()));
        let real = crate::workspace_root();
        for dir in ["openapi", "crates/client"] {
            fs::create_dir_all(root.join(dir)).unwrap();
        }
        for file in [
            derived::SPEC_YAML,
            "openapi/alphamoon-workspace.json",
            "crates/client/alphamoon-workspace.json",
        ] {
            fs::copy(real.join(file), root.join(file)).unwrap();
        }
        assert_eq!(run(&root), Ok(()));
        let yaml = fs::read_to_string(root.join(derived::SPEC_YAML)).unwrap();
        let edited = yaml.replace(
            "summary: Create an organization API key",
            "summary: Create a key",
        );
        assert_ne!(yaml, edited);
        fs::write(root.join(derived::SPEC_YAML), edited).unwrap();
        let err = run(&root).expect_err("stale derived files fail");
        assert!(err.contains("cargo xtask gen"), "{err}");
        derived::write_all(&root).unwrap();
        assert_eq!(run(&root), Ok(()), "gen repairs it");
        fs::remove_dir_all(&root).unwrap();
    }
}
