//! Unit tests of the parent module.
use super::*;
use alphamoon_client::Scope;
use axum::http::StatusCode;

use crate::http::request::no_parameters;

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .expect("date")
        .with_timezone(&Utc)
}

fn create(body: serde_json::Value) -> Result<types::CreateApiKeyRequest, Problem> {
    create_request(
        body.to_string().as_bytes(),
        now(),
        Some(Duration::from_secs(30 * 86_400)),
    )
}

#[test]
fn accepts_a_valid_request_and_drops_fractions_of_a_second() {
    let request = create(serde_json::json!({
        "name": "TEST API key",
        "exp": "2026-01-17T07:23:51.104Z",
        "scopes": ["workspace.collection:create", "workspace.file:upload"],
    }))
    .expect("valid");
    assert_eq!(request.name.as_str(), "TEST API key");
    assert_eq!(request.exp.to_rfc3339(), "2026-01-17T07:23:51+00:00");
    assert_eq!(
        request.scopes,
        [Scope::WorkspaceCollectionCreate, Scope::WorkspaceFileUpload]
    );
}

#[test]
fn names_the_field_of_every_rule_the_schema_cannot_express() {
    let ok = "2026-01-10T00:00:00Z";
    let cases = [
        (
            serde_json::json!({"name": "n", "exp": "2025-12-31T23:59:59Z", "scopes": ["workspace.file:upload"]}),
            "exp",
        ),
        (
            serde_json::json!({"name": "n", "exp": "2026-01-01T00:00:00.9Z", "scopes": ["workspace.file:upload"]}),
            "exp",
        ),
        (
            serde_json::json!({"name": "n", "exp": "2026-03-01T00:00:00Z", "scopes": ["workspace.file:upload"]}),
            "exp",
        ),
        (
            serde_json::json!({"name": "n", "exp": ok, "scopes": ["workspace.file:upload", "workspace.file:upload"]}),
            "scopes",
        ),
        (
            serde_json::json!({"name": "n", "exp": ok, "scopes": ["workspace.brand_new:thing"]}),
            "scopes",
        ),
        (
            serde_json::json!({"name": "n", "exp": ok, "scopes": []}),
            "scopes",
        ),
        (
            serde_json::json!({"name": "a\u{85}b", "exp": ok, "scopes": ["workspace.file:upload"]}),
            "name",
        ),
        (
            serde_json::json!({"name": "n".repeat(256), "exp": ok, "scopes": ["workspace.file:upload"]}),
            "name",
        ),
        (
            serde_json::json!({"name": "n", "exp": ok, "scopes": ["workspace.file:upload"], "admin": true}),
            "admin",
        ),
    ];
    for (body, field) in cases {
        let problem = create(body.clone()).expect_err(&body.to_string());
        assert_eq!(problem.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(problem.field(), Some(field), "{body}");
    }
    // Years past 9999 cannot be written in RFC 3339, whatever offset
    // brought them there.
    let unlimited = |exp: &str| {
        create_request(
            serde_json::json!({"name": "n", "exp": exp, "scopes": ["workspace.file:upload"]})
                .to_string()
                .as_bytes(),
            now(),
            None,
        )
    };
    assert!(unlimited("9999-12-31T23:59:59Z").is_ok());
    assert!(unlimited("2030-06-30t12:00:00z").is_ok());
    assert_eq!(
        unlimited("2030-06-30 12:00:00Z")
            .expect_err("a space is not RFC 3339's date-time")
            .field(),
        Some("exp")
    );
    assert_eq!(
        unlimited("9999-12-31T23:59:59-23:59")
            .expect_err("year 10000 in UTC")
            .field(),
        Some("exp")
    );
    // A repeated member is ambiguous, even with equal values.
    let repeated = br#"{"name":"a","name":"b","exp":"2026-01-10T00:00:00Z","scopes":["workspace.file:upload"]}"#;
    let problem = create_request(repeated, now(), None).expect_err("repeated");
    assert_eq!(problem.field(), Some("name"));
    // 255 characters of any width is the limit, not 255 bytes.
    let widest = "é".repeat(255);
    assert!(
        create(serde_json::json!({"name": widest, "exp": ok, "scopes": ["workspace.file:upload"]}))
            .is_ok()
    );
}

#[test]
fn page_params_decode_and_refuse_what_they_do_not_know() {
    assert_eq!(page_params(None).expect("defaults"), (0, 100));
    assert_eq!(
        page_params(Some("offset=5&limit=%31%30")).expect("decoded"),
        (5, 10)
    );
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("offset=9223372036854775808", "offset"),
        ("offset=2530747759085509607562412032", "offset"),
        ("limt=5", "limt"),
        ("li%6Dit=0", "limit"),
        ("limit=1&limit=100", "limit"),
        ("offset=0&%6Fffset=0", "offset"),
        ("limit=%2B5", "limit"),
        ("limit=", "limit"),
    ] {
        let problem = page_params(Some(query)).expect_err(query);
        assert_eq!(problem.field(), Some(field), "{query}");
    }
}

#[test]
fn operations_without_parameters_refuse_any() {
    assert!(no_parameters(None).is_ok() && no_parameters(Some("")).is_ok());
    assert_eq!(
        no_parameters(Some("x=1")).expect_err("x").field(),
        Some("x")
    );
    let nameless = no_parameters(Some("=5")).expect_err("no name");
    assert_eq!(
        (nameless.status(), nameless.field()),
        (StatusCode::BAD_REQUEST, None)
    );
    assert_eq!(page_params(Some("=5")).expect_err("no name").field(), None);
}

#[test]
fn key_ids_are_the_specs_form() {
    assert!(key_id(Some("31b7de83bfa24a9dbf2150beb5e5660b")).is_ok());
    for id in [
        "31B7DE83BFA24A9DBF2150BEB5E5660B",
        "31b7de83-bfa2-4a9d-bf21-50beb5e5660b",
        "short",
    ] {
        assert_eq!(key_id(Some(id)).expect_err(id).field(), Some("api_key_id"));
    }
    assert_eq!(
        key_id(None).expect_err("not text").field(),
        Some("api_key_id")
    );
}
