//! The control plane over HTTP: off unless a token is configured, open to
//! that token alone, and able to reset and seed the sandbox. Every answer is
//! checked against the control plane's published spec.

mod support;

use alphamoon_sandbox::{ControlToken, Settings};
use serde_json::json;
use support::{KEYS, basic, call, sandbox_with};

const TOKEN: &str = "amc_test-token-0123456789";
const RESET: &str = "/_sandbox/v1/reset";
const ORGS: &str = "/_sandbox/v1/orgs";

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A sandbox with the control plane on, and its first org's admin key.
async fn controlled() -> (alphamoon_sandbox::Sandbox, String) {
    sandbox_with(Settings {
        rate_limit: None,
        org_rate_limit: None,
        control_token: Some(ControlToken::new(TOKEN)),
        ..Settings::default()
    })
    .await
}

fn org_body(name: &str) -> Option<(&'static str, String)> {
    Some(("application/json", json!({ "name": name }).to_string()))
}

#[tokio::test]
async fn without_a_token_the_control_plane_is_not_there() {
    let (sandbox, admin) = support::sandbox().await;
    for auth in [Some(bearer(TOKEN)), Some(basic(&admin)), None] {
        let answer = call(&sandbox, "POST", RESET, auth.as_deref(), None).await;
        assert_eq!(answer.status, 404, "{}", answer.body);
        let unknown = call(&sandbox, "POST", "/api/v0.4/nothing", auth.as_deref(), None).await;
        assert_eq!(
            (answer.body["detail"].clone(), answer.header("content-type")),
            (
                unknown.body["detail"].clone(),
                unknown.header("content-type")
            ),
            "like any unknown path"
        );
    }
    let still = call(&sandbox, "GET", KEYS, Some(&basic(&admin)), None).await;
    assert_eq!(still.body["pagination"]["total"], 1, "nothing was reset");
}

#[tokio::test]
async fn only_the_token_opens_the_control_plane_and_it_opens_nothing_else() {
    let (sandbox, admin) = controlled().await;
    let refused = [
        None,
        Some(basic(&admin)),
        Some(bearer(&admin)),
        Some(bearer("amc_test-token-012345678")),
        Some(bearer(&format!("{TOKEN}0"))),
        Some(basic(TOKEN)),
        Some(format!("Bearer{TOKEN}")),
    ];
    for auth in &refused {
        let answer = call(&sandbox, "POST", RESET, auth.as_deref(), None).await;
        assert_eq!(answer.status, 401, "{auth:?}: {}", answer.body);
    }
    for auth in [bearer(TOKEN), basic(TOKEN)] {
        let answer = call(&sandbox, "GET", KEYS, Some(&auth), None).await;
        assert_eq!(answer.status, 401, "the token on the vendor API: {auth}");
    }
    let listed = call(&sandbox, "GET", KEYS, Some(&basic(&admin)), None).await;
    assert_eq!(
        listed.body["pagination"]["total"], 1,
        "no refused call reset anything"
    );
}

#[tokio::test]
async fn created_organizations_work_on_the_vendor_api_and_reset_removes_everything() {
    let (sandbox, first_admin) = controlled().await;
    let auth = bearer(TOKEN);
    let created = call(&sandbox, "POST", ORGS, Some(&auth), org_body("Globex")).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["name"], "Globex");
    let admin = created.body["adminKey"]
        .as_str()
        .expect("adminKey")
        .to_owned();
    let page = call(&sandbox, "GET", KEYS, Some(&basic(&admin)), None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["pagination"]["total"], 1);
    assert_eq!(page.body["apiKeys"][0]["orgId"], created.body["orgId"]);

    let reset = call(&sandbox, "POST", RESET, Some(&auth), None).await;
    assert_eq!(reset.status, 204, "{}", reset.body);
    for key in [&admin, &first_admin] {
        let gone = call(&sandbox, "GET", KEYS, Some(&basic(key)), None).await;
        assert_eq!(gone.status, 401, "a key outlived the reset");
    }
    let again = call(&sandbox, "POST", ORGS, Some(&auth), org_body("Globex")).await;
    assert_eq!(again.status, 201, "the sandbox works after a reset");
    let fresh = again.body["adminKey"].as_str().expect("adminKey");
    let page = call(&sandbox, "GET", KEYS, Some(&basic(fresh)), None).await;
    assert_eq!(page.body["pagination"]["total"], 1);

    // In process, the same reset.
    sandbox.reset().await.expect("reset");
    let gone = call(&sandbox, "GET", KEYS, Some(&basic(fresh)), None).await;
    assert_eq!(gone.status, 401);
}

#[tokio::test]
async fn bad_control_requests_are_refused_with_problems() {
    let (sandbox, _) = controlled().await;
    let auth = bearer(TOKEN);
    let cases = [
        ("control character", org_body("a\u{7}b"), 400, Some("name")),
        ("empty name", org_body(""), 400, Some("name")),
        (
            "unknown member",
            Some((
                "application/json",
                json!({"name": "x", "admin": true}).to_string(),
            )),
            400,
            Some("admin"),
        ),
        (
            "repeated member",
            Some(("application/json", r#"{"name":"a","name":"b"}"#.to_owned())),
            400,
            Some("name"),
        ),
        (
            "not JSON",
            Some(("application/json", "{".to_owned())),
            400,
            None,
        ),
        (
            "not declared JSON",
            Some(("text/plain", "{}".to_owned())),
            415,
            None,
        ),
        ("no body", None, 415, None),
    ];
    for (case, body, status, field) in cases {
        let answer = call(&sandbox, "POST", ORGS, Some(&auth), body).await;
        assert_eq!(answer.status, status, "{case}: {}", answer.body);
        assert_eq!(answer.field(), field, "{case}");
    }
    let with_query = call(
        &sandbox,
        "POST",
        &format!("{RESET}?all=1"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(with_query.status, 400);
    let wrong_method = call(&sandbox, "GET", RESET, Some(&auth), None).await;
    assert_eq!(wrong_method.status, 405);
}

const FIXTURES: &str = "/_sandbox/v1/fixtures";

fn fixtures_body(document: serde_json::Value) -> Option<(&'static str, String)> {
    Some(("application/json", document.to_string()))
}

#[tokio::test]
async fn fixtures_seed_organizations_with_fixed_and_made_secrets() {
    let (sandbox, _) = controlled().await;
    let auth = bearer(TOKEN);
    let ci = alphamoon_sandbox::keys::from_seed("fixtures test: ci");
    let document = json!({"orgs": [
        {"name": "Acme", "keys": [
            {"name": "ci", "scopes": ["workspace.admin.api_key:manage"], "exp": "2099-01-01T00:00:00Z", "secret": ci},
            {"name": "uploader", "scopes": ["workspace.file:upload"], "exp": "2099-01-01T00:00:00.5Z"},
            {"name": "old", "scopes": ["workspace.admin.api_key:manage"], "exp": "2001-01-01T00:00:00Z"}
        ]},
        {"name": "Globex", "keys": []}
    ]});
    let loaded = call(
        &sandbox,
        "POST",
        FIXTURES,
        Some(&auth),
        fixtures_body(document.clone()),
    )
    .await;
    assert_eq!(loaded.status, 201, "{}", loaded.body);
    let acme = &loaded.body["orgs"][0];
    assert_eq!(
        acme["keys"][0]["key"],
        ci.as_str(),
        "the fixed secret is kept"
    );
    let page = call(&sandbox, "GET", KEYS, Some(&basic(&ci)), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.body["pagination"]["total"], 4,
        "admin key and three fixtures"
    );
    assert_eq!(page.body["apiKeys"][0]["orgId"], acme["orgId"]);
    let uploader = acme["keys"][1]["key"].as_str().expect("made secret");
    assert!(alphamoon_sandbox::keys::is_well_formed(uploader));
    let forbidden = call(&sandbox, "GET", KEYS, Some(&basic(uploader)), None).await;
    assert_eq!(forbidden.status, 403, "its scopes are as given");
    let old = acme["keys"][2]["key"].as_str().expect("old");
    let expired = call(&sandbox, "GET", KEYS, Some(&basic(old)), None).await;
    assert_eq!(
        expired.status, 401,
        "an exp in the past seeds an expired key"
    );
    let globex_admin = loaded.body["orgs"][1]["adminKey"].as_str().expect("admin");
    let globex = call(&sandbox, "GET", KEYS, Some(&basic(globex_admin)), None).await;
    assert_eq!(globex.body["pagination"]["total"], 1);

    // The same fixed secret again: refused as a whole, nothing stored.
    let fresh = alphamoon_sandbox::keys::from_seed("fixtures test: fresh");
    let again = json!({"orgs": [
        {"name": "Initech", "keys": [
            {"name": "fresh", "scopes": ["workspace.admin.api_key:manage"], "exp": "2099-01-01T00:00:00Z", "secret": fresh}
        ]},
        {"name": "Acme again", "keys": [
            {"name": "ci", "scopes": ["workspace.admin.api_key:manage"], "exp": "2099-01-01T00:00:00Z", "secret": ci}
        ]}
    ]});
    let taken = call(
        &sandbox,
        "POST",
        FIXTURES,
        Some(&auth),
        fixtures_body(again),
    )
    .await;
    assert_eq!(taken.status, 409, "{}", taken.body);
    let none = call(&sandbox, "GET", KEYS, Some(&basic(&fresh)), None).await;
    assert_eq!(none.status, 401, "a refused load stored part of itself");

    // After a reset the same fixtures load again.
    let reset = call(&sandbox, "POST", RESET, Some(&auth), None).await;
    assert_eq!(reset.status, 204);
    let reloaded = call(
        &sandbox,
        "POST",
        FIXTURES,
        Some(&auth),
        fixtures_body(document.clone()),
    )
    .await;
    assert_eq!(reloaded.status, 201, "{}", reloaded.body);

    // In process, the same load, refused the same way.
    sandbox.reset().await.expect("reset");
    let in_process = sandbox.load_fixtures(&document).await.expect("loaded");
    assert_eq!(in_process["orgs"][0]["keys"][0]["key"], ci.as_str());
    let twice = sandbox.load_fixtures(&document).await;
    assert!(
        twice.as_ref().is_err_and(|e| e.contains("already stored")),
        "{twice:?}"
    );
}

#[tokio::test]
async fn bad_fixtures_name_the_field_and_store_nothing() {
    let (sandbox, _) = controlled().await;
    let auth = bearer(TOKEN);
    let good = alphamoon_sandbox::keys::from_seed("bad fixtures: good");
    let key = |extra: serde_json::Value| {
        let mut key = json!({"name": "k", "scopes": ["workspace.file:upload"], "exp": "2099-01-01T00:00:00Z"});
        key.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        key
    };
    let mut broken_checksum = good.clone();
    broken_checksum.pop();
    broken_checksum.push(if good.ends_with('A') { 'B' } else { 'A' });
    let cases = [
        (
            json!({"orgs": [{"name": "A", "keys": [key(json!({"secret": broken_checksum}))]}]}),
            "orgs[0].keys[0].secret",
        ),
        (
            json!({"orgs": [{"name": "A", "keys": [key(json!({"scopes": ["workspace.nothing"]}))]}]}),
            "orgs[0].keys[0].scopes",
        ),
        (
            json!({"orgs": [{"name": "A", "keys": [key(json!({"exp": "2099-01-01 00:00:00Z"}))]}]}),
            "orgs[0].keys[0].exp",
        ),
        (
            json!({"orgs": [{"name": "A", "keys": [key(json!({"secret": good})), key(json!({"secret": good}))]}]}),
            "orgs[0].keys[1].secret",
        ),
        (
            json!({"orgs": [{"name": "A", "keys": [key(json!({"admin": true}))]}]}),
            "orgs[0].keys[0].admin",
        ),
        (json!({"orgs": [{"name": "A"}]}), "orgs[0].keys"),
        (json!({"orgs": [{"name": "", "keys": []}]}), "orgs[0].name"),
        (json!({"orgs": {}}), "orgs"),
        (json!({}), "orgs"),
    ];
    for (document, field) in cases {
        let answer = call(
            &sandbox,
            "POST",
            FIXTURES,
            Some(&auth),
            fixtures_body(document.clone()),
        )
        .await;
        assert_eq!(answer.status, 400, "{document}: {}", answer.body);
        assert_eq!(answer.field(), Some(field), "{document}: {}", answer.body);
    }
    let unused = call(&sandbox, "GET", KEYS, Some(&basic(&good)), None).await;
    assert_eq!(unused.status, 401, "nothing was stored");
}
