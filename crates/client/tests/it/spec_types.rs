//! Holds the generated Rust types against the spec they came from: every
//! example in the spec round-trips through its type, the scope enum matches
//! the spec value for value, and each type's JSON Schema (via `schemars`)
//! names the same properties as the spec's schema.

use std::collections::BTreeSet;
use std::str::FromStr;

use alphamoon_client::{Scope, types};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

#[path = "../../naming.rs"]
mod naming;

fn spec() -> Value {
    serde_json::from_str(include_str!("../../alphamoon-workspace.json")).expect("the spec is JSON")
}

fn round_trip<T: DeserializeOwned + Serialize>(example: &Value) -> Result<Value, String> {
    let typed: T = serde_json::from_value(example.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(typed).map_err(|e| e.to_string())
}

/// Round-trips `example` through the Rust type generated for `schema_ref`.
fn round_trip_as(schema_ref: &str, example: &Value) -> Result<Value, String> {
    let name = schema_ref.trim_start_matches("#/components/schemas/");
    match name {
        "CreateApiKeyRequest" => round_trip::<types::CreateApiKeyRequest>(example),
        "CreatedApiKey" => round_trip::<types::CreatedApiKey>(example),
        "ApiKeyList" => round_trip::<types::ApiKeyList>(example),
        "DeleteApiKeyResult" => round_trip::<types::DeleteApiKeyResult>(example),
        "Error" => round_trip::<types::Error>(example),
        other => panic!("no Rust type is mapped for schema `{other}`; add it to this test"),
    }
}

/// Every request and response example of every operation, resolved through
/// `$ref`s, with the schema it illustrates.
fn media_examples(spec: &Value) -> Vec<(String, String, Value)> {
    let resolve = |v: &Value| -> Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => spec
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("dangling $ref {r}"))
                .clone(),
            None => v.clone(),
        }
    };
    let mut found = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let mut bodies = vec![("request".to_owned(), resolve(&op["requestBody"]))];
            for (status, response) in op["responses"].as_object().expect("responses") {
                bodies.push((status.clone(), resolve(response)));
            }
            for (what, body) in bodies {
                for (media, content) in body["content"].as_object().into_iter().flatten() {
                    let schema = content["schema"]["$ref"]
                        .as_str()
                        .expect("schemas are $refs");
                    for (name, example) in content["examples"].as_object().into_iter().flatten() {
                        found.push((
                            format!("{method} {path} {what} {media} example `{name}`"),
                            schema.to_owned(),
                            resolve(example)["value"].clone(),
                        ));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_example_round_trips_through_its_generated_type() {
    let spec = spec();
    let examples = media_examples(&spec);
    // The vendor page's four examples (create request and response, list
    // response, delete body) plus one problem body per error response.
    assert!(
        examples.len() >= 4 + 6,
        "found only {} examples",
        examples.len()
    );
    for (label, schema, example) in examples {
        let back = round_trip_as(&schema, &example).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(back, example, "{label} changed in a round trip");
    }
}

#[test]
fn vendor_examples_keep_their_timestamps_to_the_letter() {
    // The page sends milliseconds and answers whole seconds; both must
    // survive a round trip unchanged.
    let request = serde_json::json!({
        "name": "TEST API key",
        "exp": "2024-07-17T07:23:51.104Z",
        "scopes": ["workspace.collection:create"]
    });
    let back = round_trip::<types::CreateApiKeyRequest>(&request).expect("request");
    assert_eq!(back["exp"], "2024-07-17T07:23:51.104Z");

    let spec = spec();
    let created = spec
        .pointer("/components/responses/ApiKeyCreated/content/application~1json/examples/vendorPage/value")
        .expect("the create example");
    let back = round_trip::<types::CreatedApiKey>(created).expect("created key");
    assert_eq!(back["createdAt"], "2024-05-17T07:25:33Z");
    assert_eq!(back["key"], "your_api_key_here");
}

fn scope_values(spec: &Value) -> Vec<String> {
    spec["components"]["schemas"]["Scope"]["enum"]
        .as_array()
        .expect("Scope has an enum")
        .iter()
        .map(|v| v.as_str().expect("scope values are strings").to_owned())
        .collect()
}

#[test]
fn scope_has_28_readable_variants_that_round_trip_every_value() {
    // The rule itself, pinned here; the loop below holds every generated
    // variant to it.
    for (value, variant) in [
        (
            "workspace.admin.api_key:manage",
            "WorkspaceAdminApiKeyManage",
        ),
        (
            "workspace.collection_editor:override",
            "WorkspaceCollectionEditorOverride",
        ),
        ("workspace.process:read", "WorkspaceProcessRead"),
        ("Active", "Active"),
        ("a--b__c", "ABC"),
        ("v2.0:x", "V20X"),
    ] {
        assert_eq!(naming::variant_name(value), variant, "{value}");
    }
    let values = scope_values(&spec());
    assert_eq!(values.len(), 28);
    let mut variants = BTreeSet::new();
    for value in &values {
        let Ok(scope) = Scope::from_str(value);
        assert!(scope.is_known(), "{value} is known");
        assert_eq!(scope.to_string(), *value);
        assert_eq!(
            format!("{scope:?}"),
            naming::variant_name(value),
            "variant name of {value}"
        );
        let json = serde_json::to_value(&scope).expect("serialize");
        assert_eq!(json, Value::String(value.clone()));
        assert_eq!(
            serde_json::from_value::<Scope>(json).expect("deserialize"),
            scope
        );
        variants.insert(scope);
    }
    assert_eq!(variants.len(), 28, "two values map to one variant");
    let listed: Vec<&str> = Scope::ALL.iter().map(Scope::as_str).collect();
    assert_eq!(
        listed, values,
        "Scope::ALL lists the spec's values in order"
    );
}

/// The enum values, property names and required names of a JSON Schema,
/// following `$ref`s into its `$defs`/`components` and merging `allOf`.
#[derive(Debug, PartialEq, Default)]
struct Shape {
    enum_values: BTreeSet<String>,
    properties: BTreeSet<String>,
    required: BTreeSet<String>,
}

fn shape_of(root: &Value, schema: &Value) -> Shape {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = root
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {reference}"));
        return shape_of(root, target);
    }
    let strings = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let mut shape = Shape {
        enum_values: strings(&schema["enum"]),
        properties: schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, _)| k.clone())
            .collect(),
        required: strings(&schema["required"]),
    };
    for part in schema["allOf"].as_array().into_iter().flatten() {
        let inner = shape_of(root, part);
        shape.enum_values.extend(inner.enum_values);
        shape.properties.extend(inner.properties);
        shape.required.extend(inner.required);
    }
    shape
}

fn rust_shape<T: schemars::JsonSchema>() -> Shape {
    let schema = serde_json::to_value(schemars::schema_for!(T)).expect("schema is JSON");
    shape_of(&schema, &schema)
}

#[test]
fn rust_types_have_the_spec_schemas_shape() {
    let spec = spec();
    let check = |name: &str, rust: Shape| {
        let schema = &spec["components"]["schemas"][name];
        let mut wanted = shape_of(&spec, schema);
        // A field with a `default` may be absent on the wire, so schemars
        // rightly leaves it out of `required`.
        assert_eq!(rust.enum_values, wanted.enum_values, "{name}: enum values");
        assert_eq!(rust.properties, wanted.properties, "{name}: properties");
        wanted.required.retain(|p| {
            spec["components"]["schemas"][name]["properties"][p]
                .get("default")
                .is_none()
        });
        assert_eq!(rust.required, wanted.required, "{name}: required");
    };
    check("Scope", rust_shape::<Scope>());
    check(
        "ApiKeyStatus",
        rust_shape::<alphamoon_client::ApiKeyStatus>(),
    );
    check(
        "CreateApiKeyRequest",
        rust_shape::<types::CreateApiKeyRequest>(),
    );
    check("ApiKey", rust_shape::<types::ApiKey>());
    check("CreatedApiKey", rust_shape::<types::CreatedApiKey>());
    check("ApiKeyList", rust_shape::<types::ApiKeyList>());
    check("Pagination", rust_shape::<types::Pagination>());
    check("Error", rust_shape::<types::Error>());
}

#[test]
fn generated_request_types_enforce_the_spec_constraints() {
    // `name` is non-empty with a maximum length, `id` is 32 lowercase hex.
    assert!(types::ApiKeyName::from_str("").is_err());
    assert!(types::ApiKeyName::from_str(&"x".repeat(256)).is_err());
    assert!(types::ApiKeyName::from_str("TEST API key").is_ok());
    assert!(types::ApiKeyId::from_str("31b7de83bfa24a9dbf2150beb5e5660b").is_ok());
    assert!(types::ApiKeyId::from_str("31B7DE83BFA24A9DBF2150BEB5E5660B").is_err());
    assert!(types::ApiKeyId::from_str("31b7de83-bfa2-4a9d-bf21-50beb5e5660b").is_err());
    // `additionalProperties: false` on the request.
    let extra = serde_json::json!({
        "name": "n", "exp": "2030-01-01T00:00:00Z",
        "scopes": ["workspace.file:upload"], "admin": true
    });
    assert!(serde_json::from_value::<types::CreateApiKeyRequest>(extra).is_err());
}
