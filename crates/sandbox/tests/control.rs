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
