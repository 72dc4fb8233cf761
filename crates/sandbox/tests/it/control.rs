//! The control plane over HTTP: off unless a token is configured, open to
//! that token alone, and able to reset and seed the sandbox. Every answer is
//! checked against the control plane's published spec.

use crate::support;

use crate::support::{KEYS, basic, call};
use serde_json::json;

const TOKEN: &str = "amc_test-token-0123456789";
const RESET: &str = "/_sandbox/v1/reset";
const ORGS: &str = "/_sandbox/v1/orgs";

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A sandbox with the control plane on, and its first org's admin key.
async fn controlled() -> (alphamoon_sandbox::Sandbox, String) {
    support::controlled_by(TOKEN).await
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

/// The endpoint reads fixtures as JSON, within its body limit (as large
/// as a `--fixtures` file, which `ctl fixtures` sends as it is), and stops
/// at the JSON reader's depth limit: a deep or oversized document is a
/// problem at once, and nothing is stored.
#[tokio::test]
async fn deep_or_oversized_fixtures_bodies_are_refused_and_large_ones_load() {
    let (sandbox, admin) = controlled().await;
    let auth = bearer(TOKEN);
    let load = |document: String| {
        call(
            &sandbox,
            "POST",
            FIXTURES,
            Some(&auth),
            Some(("application/json", document)),
        )
    };
    let refused = load(format!("{{\"orgs\": {}", "[".repeat(16_000))).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(
        refused.detail().contains("recursion limit"),
        "{}",
        refused.body
    );
    let refused = load(format!(
        "{{\"orgs\": [], \"pad\": \"{}\"}}",
        "x".repeat(alphamoon_sandbox::MAX_FIXTURES_BYTES)
    ))
    .await;
    assert_eq!(refused.status, 413, "{}", refused.body);
    let page = call(&sandbox, "GET", KEYS, Some(&basic(&admin)), None).await;
    assert_eq!(page.body["pagination"]["total"], 1, "nothing was stored");

    // Far beyond the 16 KiB every other request may send.
    let keys: Vec<_> = (0..1_000)
        .map(|i| {
            json!({"name": format!("key {i}"), "scopes": ["workspace.file:upload"],
                   "exp": "2099-01-01T00:00:00Z"})
        })
        .collect();
    let document = json!({"orgs": [{"name": "Large", "keys": keys}]}).to_string();
    assert!(document.len() > 64 * 1024, "{}", document.len());
    let loaded = load(document).await;
    assert_eq!(loaded.status, 201, "{}", loaded.body);
    assert_eq!(
        loaded.body["orgs"][0]["keys"].as_array().map(Vec::len),
        Some(1_000)
    );
}

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
    assert_eq!(in_process.orgs[0].keys[0].key.0, ci.as_str());
    let twice = sandbox.load_fixtures(&document).await;
    assert!(
        twice
            .as_ref()
            .is_err_and(|e| e.to_string().contains("already stored")),
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

const REQUESTS: &str = "/_sandbox/v1/requests";
const FAULTS: &str = "/_sandbox/v1/faults";
const CLOCK: &str = "/_sandbox/v1/clock";

fn json_body(value: serde_json::Value) -> Option<(&'static str, String)> {
    Some(("application/json", value.to_string()))
}

/// The journal over HTTP, after checking that it holds no secret.
async fn journal(
    sandbox: &alphamoon_sandbox::Sandbox,
    query: &str,
    secrets: &[&str],
) -> Vec<serde_json::Value> {
    let answer = call(
        sandbox,
        "GET",
        &format!("{REQUESTS}{query}"),
        Some(&bearer(TOKEN)),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    support::assert_no_secret(&answer.body, secrets);
    answer.body["requests"]
        .as_array()
        .expect("requests")
        .clone()
}

#[tokio::test]
async fn the_journal_records_vendor_requests_newest_first_without_secrets() {
    let (sandbox, admin) = controlled().await;
    let auth = basic(&admin);
    let (content_type, body) = support::create_body("ci", &["workspace.file:upload"]);
    let created = call(
        &sandbox,
        "POST",
        KEYS,
        Some(&auth),
        Some((content_type, body)),
    )
    .await;
    assert_eq!(created.status, 201);
    let made = created.body["key"].as_str().expect("key").to_owned();
    call(
        &sandbox,
        "GET",
        &format!("{KEYS}?limit=5"),
        Some(&auth),
        None,
    )
    .await;
    call(&sandbox, "GET", KEYS, Some("Basic bm9wZQ=="), None).await;
    call(&sandbox, "GET", "/api/v0.4/elsewhere", Some(&auth), None).await;
    call(
        &sandbox,
        "POST",
        ORGS,
        Some(&bearer(TOKEN)),
        org_body("not journaled"),
    )
    .await;

    let secrets = [admin.as_str(), made.as_str(), TOKEN];
    let all = journal(&sandbox, "", &secrets).await;
    let seen: Vec<_> = all
        .iter()
        .map(|r| {
            (
                r["method"].as_str().expect("well-formed"),
                r["operationId"].clone(),
                r["status"].clone(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("GET", json!(null), json!(404)),
            ("GET", json!("listApiKeys"), json!(401)),
            ("GET", json!("listApiKeys"), json!(200)),
            ("POST", json!("createApiKey"), json!(201)),
        ],
        "newest first, control calls left out"
    );
    assert_eq!(all[2]["query"], "limit=5");
    assert_eq!(
        all[1]["keyId"],
        json!(null),
        "a request that did not authenticate"
    );
    let admin_id = all[3]["keyId"].as_str().expect("keyId").to_owned();
    assert_eq!(all[2]["keyId"], admin_id);

    let lists = journal(&sandbox, "?operationId=listApiKeys&limit=1", &secrets).await;
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0]["status"], 401);
    let by_key = journal(&sandbox, &format!("?keyId={admin_id}"), &secrets).await;
    assert_eq!(by_key.len(), 2);
    for bad in [
        "?limit=0",
        "?operationId=deleteEverything",
        "?keyId=XYZ",
        "?keyId=a&keyId=b",
        "?since=1",
    ] {
        let answer = call(
            &sandbox,
            "GET",
            &format!("{REQUESTS}{bad}"),
            Some(&bearer(TOKEN)),
            None,
        )
        .await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
    }

    let cleared = call(&sandbox, "DELETE", REQUESTS, Some(&bearer(TOKEN)), None).await;
    assert_eq!(cleared.status, 204);
    assert!(journal(&sandbox, "", &secrets).await.is_empty());
}

#[tokio::test]
async fn faults_are_added_listed_applied_and_retired() {
    let (sandbox, admin) = controlled().await;
    let control = bearer(TOKEN);
    let added = call(
        &sandbox,
        "POST",
        FAULTS,
        Some(&control),
        json_body(
            json!({"operationId": "listApiKeys", "status": 429, "retryAfter": 7, "times": 2}),
        ),
    )
    .await;
    assert_eq!(added.status, 201, "{}", added.body);
    let fault_id = added.body["id"].as_str().expect("id").to_owned();
    assert_eq!(added.body["action"], "respond");
    assert_eq!(added.body["probability"], 1.0);
    assert_eq!(added.body["delayMs"], 0);

    let auth = basic(&admin);
    for _ in 0..2 {
        let hit = call(&sandbox, "GET", KEYS, Some(&auth), None).await;
        assert_eq!(hit.status, 429, "{}", hit.body);
        assert_eq!(hit.header("retry-after"), Some("7"));
    }
    let after = call(&sandbox, "GET", KEYS, Some(&auth), None).await;
    assert_eq!(after.status, 200, "the fault retired after its two hits");
    let listed = call(&sandbox, "GET", FAULTS, Some(&control), None).await;
    assert_eq!(
        listed.body["faults"],
        json!([]),
        "a spent fault is not listed"
    );

    let recorded = journal(&sandbox, "", &[&admin]).await;
    let faults: Vec<_> = recorded.iter().map(|r| r["fault"].clone()).collect();
    assert_eq!(faults, [json!(null), json!(fault_id), json!(fault_id)]);

    // A fault for another operation leaves this one alone; one for every
    // operation does not, and deleting it ends it.
    let other = call(
        &sandbox,
        "POST",
        FAULTS,
        Some(&control),
        json_body(json!({"operationId": "deleteApiKey", "status": 500})),
    )
    .await;
    assert_eq!(other.status, 201);
    assert_eq!(
        call(&sandbox, "GET", KEYS, Some(&auth), None).await.status,
        200
    );
    let every = call(
        &sandbox,
        "POST",
        FAULTS,
        Some(&control),
        json_body(json!({"status": 503})),
    )
    .await;
    assert_eq!(
        call(&sandbox, "GET", KEYS, Some(&auth), None).await.status,
        503
    );
    let unauthenticated = call(&sandbox, "GET", KEYS, Some("Basic bm9wZQ=="), None).await;
    assert_eq!(
        unauthenticated.status, 401,
        "faults apply after authentication"
    );
    let listed = call(&sandbox, "GET", FAULTS, Some(&control), None).await;
    assert_eq!(listed.body["faults"].as_array().map(Vec::len), Some(2));
    let every_id = every.body["id"].as_str().expect("id");
    let deleted = call(
        &sandbox,
        "DELETE",
        &format!("{FAULTS}/{every_id}"),
        Some(&control),
        None,
    )
    .await;
    assert_eq!(deleted.status, 204);
    let again = call(
        &sandbox,
        "DELETE",
        &format!("{FAULTS}/{every_id}"),
        Some(&control),
        None,
    )
    .await;
    assert_eq!(again.status, 404);
    assert_eq!(
        call(&sandbox, "GET", KEYS, Some(&auth), None).await.status,
        200
    );
    let cleared = call(&sandbox, "DELETE", FAULTS, Some(&control), None).await;
    assert_eq!(cleared.status, 204);
    assert_eq!(
        call(&sandbox, "GET", FAULTS, Some(&control), None)
            .await
            .body["faults"],
        json!([])
    );
}

#[tokio::test]
async fn a_fault_that_changes_nothing_or_contradicts_itself_is_refused() {
    let (sandbox, _) = controlled().await;
    let cases = [
        (json!({}), "status"),
        (json!({"operationId": "listApiKeys"}), "status"),
        (
            json!({"operationId": "dropTables", "status": 500}),
            "operationId",
        ),
        (json!({"status": 200}), "status"),
        (json!({"status": 600}), "status"),
        (json!({"status": "500"}), "status"),
        (json!({"retryAfter": 1}), "retryAfter"),
        (json!({"status": 429, "retryAfter": 86401}), "retryAfter"),
        (json!({"delayMs": 300001}), "delayMs"),
        (json!({"delayMs": -1}), "delayMs"),
        (json!({"action": "drop", "status": 500}), "status"),
        (json!({"action": "explode"}), "action"),
        (json!({"status": 500, "times": 0}), "times"),
        (json!({"status": 500, "times": 2147483648u64}), "times"),
        (json!({"status": 500, "probability": 1.5}), "probability"),
        (
            json!({"status": 500, "probability": "often"}),
            "probability",
        ),
        (json!({"status": 500, "when": "now"}), "when"),
    ];
    for (body, field) in cases {
        let answer = call(
            &sandbox,
            "POST",
            FAULTS,
            Some(&bearer(TOKEN)),
            json_body(body.clone()),
        )
        .await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert_eq!(answer.field(), Some(field), "{body}");
    }
    let listed = call(&sandbox, "GET", FAULTS, Some(&bearer(TOKEN)), None).await;
    assert_eq!(
        listed.body["faults"],
        json!([]),
        "no refused fault was added"
    );
}

#[tokio::test]
async fn the_clock_moves_forward_only_and_drives_expiry() {
    let (sandbox, admin) = controlled().await;
    let control = bearer(TOKEN);
    let now = call(&sandbox, "GET", CLOCK, Some(&control), None).await;
    assert_eq!(now.status, 200);
    assert_eq!(now.body["frozen"], false);

    let (content_type, body) = support::create_body("hour", &["workspace.file:upload"]);
    let body: serde_json::Value = serde_json::from_str(&body).expect("json");
    let exp = chrono::Utc::now() + chrono::Duration::hours(1);
    let mut hour = body.clone();
    hour["exp"] = json!(exp.to_rfc3339());
    let created = call(
        &sandbox,
        "POST",
        KEYS,
        Some(&basic(&admin)),
        Some((content_type, hour.to_string())),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let short_lived = basic(created.body["key"].as_str().expect("key"));

    let frozen_at = (chrono::Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let frozen = call(
        &sandbox,
        "PUT",
        CLOCK,
        Some(&control),
        json_body(json!({"frozenAt": frozen_at})),
    )
    .await;
    assert_eq!(frozen.status, 200, "{}", frozen.body);
    assert_eq!(frozen.body, json!({"now": frozen_at, "frozen": true}));
    let expired = call(&sandbox, "GET", KEYS, Some(&short_lived), None).await;
    assert_eq!(
        expired.status, 401,
        "a key past its exp on the sandbox clock"
    );
    let page = call(&sandbox, "GET", KEYS, Some(&basic(&admin)), None).await;
    let statuses: Vec<_> = page.body["apiKeys"]
        .as_array()
        .expect("well-formed")
        .iter()
        .map(|k| k["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("Active"), json!("Expired")]);

    // A key made on a frozen clock is made at its now, and must expire
    // after it.
    let mut past = body.clone();
    past["exp"] = json!(exp.to_rfc3339());
    let refused = call(
        &sandbox,
        "POST",
        KEYS,
        Some(&basic(&admin)),
        Some((content_type, past.to_string())),
    )
    .await;
    assert_eq!(
        refused.status, 400,
        "exp before the sandbox's now: {}",
        refused.body
    );
    let mut later = body.clone();
    later["exp"] = json!((chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339());
    let made = call(
        &sandbox,
        "POST",
        KEYS,
        Some(&basic(&admin)),
        Some((content_type, later.to_string())),
    )
    .await;
    assert_eq!(made.status, 201);
    assert_eq!(made.body["createdAt"], frozen_at);

    let back = call(
        &sandbox,
        "PUT",
        CLOCK,
        Some(&control),
        json_body(json!({"frozenAt": "2020-01-01T00:00:00Z"})),
    )
    .await;
    // Well-formed, so not a 400: the clock's state is what refuses it.
    assert_eq!(
        (back.status, back.field()),
        (409, Some("frozenAt")),
        "{}",
        back.body
    );
    let advanced = call(
        &sandbox,
        "PUT",
        CLOCK,
        Some(&control),
        json_body(json!({"advanceBySeconds": 7200})),
    )
    .await;
    assert_eq!(advanced.body["frozen"], true);
    let two_hours_on = chrono::DateTime::parse_from_rfc3339(&frozen_at).expect("well-formed")
        + chrono::Duration::hours(2);
    assert_eq!(
        advanced.body["now"],
        two_hours_on.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    // `resume` is a boolean in the spec; `false` asks for no move.
    let stayed = call(
        &sandbox,
        "PUT",
        CLOCK,
        Some(&control),
        json_body(json!({"resume": false})),
    )
    .await;
    assert_eq!(
        (stayed.status, &stayed.body),
        (200, &advanced.body),
        "{}",
        stayed.body
    );
    let resumed = call(
        &sandbox,
        "PUT",
        CLOCK,
        Some(&control),
        json_body(json!({"resume": true})),
    )
    .await;
    assert_eq!(resumed.body["frozen"], false);
    let running: chrono::DateTime<chrono::Utc> = resumed.body["now"]
        .as_str()
        .expect("well-formed")
        .parse()
        .expect("well-formed");
    assert!(
        running >= two_hours_on,
        "resuming never jumps back: {running}"
    );

    for bad in [
        json!({}),
        json!({"advanceBySeconds": 0}),
        json!({"advanceBySeconds": 1.5}),
        json!({"advanceBySeconds": -7200}),
        // One past the spec's maximum, 100 years.
        json!({"advanceBySeconds": 3_153_600_001i64}),
        json!({"resume": 1}),
        json!({"frozenAt": "tomorrow"}),
        json!({"frozenAt": frozen_at, "resume": true}),
        json!({"advanceBySeconds": 9_000_000_000_000i64}),
    ] {
        let answer = call(
            &sandbox,
            "PUT",
            CLOCK,
            Some(&control),
            json_body(bad.clone()),
        )
        .await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
    }

    // An advance within the spec's range that would pass the year 9999.
    let end = call(
        &sandbox,
        "PUT",
        CLOCK,
        Some(&control),
        json_body(json!({"frozenAt": "9999-12-31T00:00:00Z"})),
    )
    .await;
    assert_eq!(end.status, 200, "{}", end.body);
    let past_the_end = call(
        &sandbox,
        "PUT",
        CLOCK,
        Some(&control),
        json_body(json!({"advanceBySeconds": 172_800})),
    )
    .await;
    assert_eq!(
        (past_the_end.status, past_the_end.field()),
        (409, Some("advanceBySeconds")),
        "{}",
        past_the_end.body
    );

    // The reset lets the clock run with the wall clock again.
    call(&sandbox, "POST", RESET, Some(&control), None).await;
    let reset = call(&sandbox, "GET", CLOCK, Some(&control), None).await;
    assert_eq!(reset.body["frozen"], false);
    let after: chrono::DateTime<chrono::Utc> = reset.body["now"]
        .as_str()
        .expect("well-formed")
        .parse()
        .expect("well-formed");
    assert!(
        (after - chrono::Utc::now()).num_seconds().abs() < 60,
        "{after}"
    );
}

#[tokio::test]
async fn a_reset_clears_the_journal_and_the_faults() {
    let (sandbox, admin) = controlled().await;
    let control = bearer(TOKEN);
    call(
        &sandbox,
        "POST",
        FAULTS,
        Some(&control),
        json_body(json!({"status": 503})),
    )
    .await;
    call(&sandbox, "GET", KEYS, Some(&basic(&admin)), None).await;
    assert_eq!(journal(&sandbox, "", &[&admin]).await.len(), 1);
    call(&sandbox, "POST", RESET, Some(&control), None).await;
    assert!(journal(&sandbox, "", &[&admin]).await.is_empty());
    let faults = call(&sandbox, "GET", FAULTS, Some(&control), None).await;
    assert_eq!(faults.body["faults"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_limited_by_times_hits_exactly_that_many_of_many_concurrent_requests() {
    let (sandbox, admin) = controlled().await;
    let added = call(
        &sandbox,
        "POST",
        FAULTS,
        Some(&bearer(TOKEN)),
        json_body(json!({"operationId": "listApiKeys", "status": 503, "times": 5})),
    )
    .await;
    assert_eq!(added.status, 201);
    let url = sandbox.url();
    let calls = (0..40).map(|_| {
        let (url, auth) = (url.clone(), basic(&admin));
        tokio::spawn(async move {
            support::try_call(&url, "GET", KEYS, Some(&auth), None)
                .await
                .expect("answers")
                .status
        })
    });
    let mut statuses = Vec::new();
    for call in calls {
        statuses.push(call.await.expect("join"));
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 503).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 35);
}

#[tokio::test]
async fn faults_are_capped_and_the_journal_cuts_keys_out_of_paths_and_queries() {
    let (sandbox, admin) = controlled().await;
    for i in 0..100 {
        let added = call(
            &sandbox,
            "POST",
            FAULTS,
            Some(&bearer(TOKEN)),
            json_body(json!({"operationId": "deleteApiKey", "delayMs": 1 + i})),
        )
        .await;
        assert_eq!(added.status, 201, "{i}: {}", added.body);
    }
    let over = call(
        &sandbox,
        "POST",
        FAULTS,
        Some(&bearer(TOKEN)),
        json_body(json!({"status": 500})),
    )
    .await;
    // Well-formed, so not a 400: the full table is what refuses it.
    assert_eq!(over.status, 409, "{}", over.body);
    call(&sandbox, "DELETE", FAULTS, Some(&bearer(TOKEN)), None).await;

    // A careless caller sends its secret where the id belongs, and in the
    // query: the journal keeps neither.
    let auth = basic(&admin);
    call(
        &sandbox,
        "DELETE",
        &format!("{KEYS}/{admin}"),
        Some(&auth),
        None,
    )
    .await;
    call(
        &sandbox,
        "GET",
        &format!("{KEYS}?key={admin}"),
        Some(&auth),
        None,
    )
    .await;
    let recorded = journal(&sandbox, "", &[&admin]).await;
    assert_eq!(recorded[0]["query"], "key=[redacted]");
    assert_eq!(
        recorded[1]["path"],
        format!("{KEYS}/[redacted]"),
        "{recorded:?}"
    );
}

/// An oversized head is refused before the journal (or anything else
/// that reads the request's text) runs, and what the journal keeps of any
/// request is bounded and marked where it was cut.
#[tokio::test]
async fn the_journal_keeps_no_refused_head_and_a_bounded_part_of_any_other() {
    let (sandbox, _) = controlled().await;
    let hostile = "amk_".repeat(16_000);
    // Off the spec's paths, whose operations do not list 414 and 405.
    for target in [format!("/{hostile}"), format!("/nothing?q={hostile}")] {
        let refused = call(&sandbox, "GET", &target, None, None).await;
        assert_eq!(refused.status, 414, "{}", refused.body);
    }
    assert!(
        journal(&sandbox, "", &[]).await.is_empty(),
        "a refused head was journaled"
    );

    // Just inside the API's 8 KiB target: answered, and journaled in part.
    let path = "/ab".repeat(1_300);
    let query = "a=1&".repeat(1_000);
    let answered = call(&sandbox, "GET", &format!("{path}?{query}"), None, None).await;
    assert_eq!(answered.status, 404, "{}", answered.body);
    let method = "X-".repeat(2_500);
    let answered = call(&sandbox, &method, "/nothing", None, None).await;
    assert_eq!(answered.status, 404, "{}", answered.body);

    let recorded = journal(&sandbox, "", &[]).await;
    assert_eq!(recorded.len(), 2, "{recorded:?}");
    let text =
        |entry: &serde_json::Value, field: &str| entry[field].as_str().expect(field).to_owned();
    assert_eq!(
        text(&recorded[0], "method"),
        format!("{}…[+4984 bytes]", &method[..16])
    );
    assert_eq!(
        text(&recorded[1], "path"),
        format!("{}…[+{} bytes]", &path[..1024], path.len() - 1024)
    );
    assert_eq!(
        text(&recorded[1], "query"),
        format!("{}…[+{} bytes]", &query[..1024], query.len() - 1024)
    );
}

#[tokio::test]
async fn the_clock_freezes_at_its_own_now_to_the_millisecond() {
    let (sandbox, _) = controlled().await;
    let control = bearer(TOKEN);
    let at = |value: &serde_json::Value| {
        chrono::DateTime::parse_from_rfc3339(value.as_str().expect("now")).expect("date-time")
    };
    // A frozen clock, so that the read and the write see the same now.
    let start = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%dT%H:%M:%S.%3fZ");
    let mut read = String::new();
    for frozen_at in [start.to_string(), String::new()] {
        let frozen_at = if frozen_at.is_empty() {
            read.clone()
        } else {
            frozen_at
        };
        let frozen = call(
            &sandbox,
            "PUT",
            CLOCK,
            Some(&control),
            json_body(json!({ "frozenAt": frozen_at })),
        )
        .await;
        assert_eq!(frozen.status, 200, "{}", frozen.body);
        let now = call(&sandbox, "GET", CLOCK, Some(&control), None).await;
        assert_eq!(
            at(&now.body["now"]),
            at(&json!(frozen_at)),
            "frozen where asked"
        );
        read = now.body["now"].as_str().expect("now").to_owned();
    }
}

/// A write is checked and stamped by the clock as it stands when the
/// write is made, in the write's own transaction: a request held (here by
/// a delay fault) while the clock moves past its key's `exp` cannot act,
/// a key made after the move never lists before one made during it, and a
/// key the move made born-expired is not stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_move_stops_writes_already_under_way() {
    let (sandbox, admin) = controlled().await;
    let control = bearer(TOKEN);
    let create = |name: &str, hours: i64| {
        json_body(json!({
            "name": name,
            "exp": (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339(),
            "scopes": ["workspace.admin.api_key:manage"],
        }))
    };
    let as_admin = basic(&admin);
    let create_as_admin =
        |name: &str, hours: i64| call(&sandbox, "POST", KEYS, Some(&as_admin), create(name, hours));
    let short = create_as_admin("short", 1).await;
    assert_eq!(short.status, 201, "{}", short.body);
    let short = short.body["key"].as_str().expect("key").to_owned();

    let hold = call(
        &sandbox,
        "POST",
        FAULTS,
        Some(&control),
        json_body(json!({"operationId": "createApiKey", "delayMs": 3000, "times": 3})),
    )
    .await;
    assert_eq!(hold.status, 201, "{}", hold.body);
    let held = |key: String, name: &'static str, hours: i64| {
        let url = sandbox.url();
        let body = create(name, hours);
        tokio::spawn(async move {
            support::try_call(&url, "POST", KEYS, Some(&basic(&key)), body)
                .await
                .expect("answered")
        })
    };
    let by_short_key = held(short.clone(), "by the short key", 24);
    let stamped = held(admin.clone(), "held", 24);
    let born_expired = held(admin.clone(), "born expired", 1);
    // All three are authenticated, and held, once the fault is used up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let faults = call(&sandbox, "GET", FAULTS, Some(&control), None).await;
        if faults.body["faults"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the creates never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let moved = call(
        &sandbox,
        "PUT",
        CLOCK,
        Some(&control),
        json_body(json!({"advanceBySeconds": 7200})),
    )
    .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let expired = call(&sandbox, "GET", KEYS, Some(&basic(&short)), None).await;
    assert_eq!(expired.status, 401, "the short key expired with the move");
    let meanwhile = create_as_admin("meanwhile", 24).await;
    assert_eq!(meanwhile.status, 201, "{}", meanwhile.body);

    let by_short_key = by_short_key.await.expect("task");
    assert_eq!(by_short_key.status, 401, "{}", by_short_key.body);
    let born_expired = born_expired.await.expect("task");
    assert_eq!(born_expired.status, 400, "{}", born_expired.body);
    assert_eq!(born_expired.field(), Some("exp"));
    let stamped = stamped.await.expect("task");
    assert_eq!(stamped.status, 201, "{}", stamped.body);
    assert!(
        stamped.body["createdAt"].as_str() >= meanwhile.body["createdAt"].as_str(),
        "a key written after the move is stamped after it: {} before {}",
        stamped.body["createdAt"],
        meanwhile.body["createdAt"]
    );

    let page = call(&sandbox, "GET", KEYS, Some(&basic(&admin)), None).await;
    let names: Vec<&str> = page.body["apiKeys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|key| key["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["admin", "short", "meanwhile", "held"],
        "nothing minted for a gone caller or born expired, and in the order made"
    );
}

/// No way of making an organization stores a date after the year 9999:
/// near the end of it, an admin key's year-long lifetime would pass it,
/// and strict clients cannot read a five-digit year. Every entry point is
/// refused, and nothing is stored.
#[tokio::test]
async fn no_entry_point_makes_a_key_that_expires_after_the_year_9999() {
    let (sandbox, admin) = controlled().await;
    let control = bearer(TOKEN);
    let frozen = call(
        &sandbox,
        "PUT",
        CLOCK,
        Some(&control),
        json_body(json!({"frozenAt": "9999-12-31T23:59:59Z"})),
    )
    .await;
    assert_eq!(frozen.status, 200, "{}", frozen.body);
    let org = call(&sandbox, "POST", ORGS, Some(&control), org_body("Late")).await;
    assert_eq!(org.status, 409, "{}", org.body);
    assert!(org.detail().contains("9999"), "{}", org.body);
    let fixtures = call(
        &sandbox,
        "POST",
        FIXTURES,
        Some(&control),
        fixtures_body(json!({"orgs": [{"name": "Late", "keys": []}]})),
    )
    .await;
    assert_eq!(fixtures.status, 409, "{}", fixtures.body);
    let in_process = sandbox.create_org("Late").await.expect_err("refused");
    assert!(
        matches!(
            &in_process,
            alphamoon_sandbox::ControlError::Refused(refusal)
                if refusal.kind() == alphamoon_sandbox::RefusalKind::Conflict
        ),
        "refused as a conflict (409 over HTTP): {in_process:?}"
    );
    let store = sandbox.store();
    assert!(alphamoon_sandbox::create_org(store, "Late").await.is_err());
    assert!(
        alphamoon_sandbox::create_first_org(
            store,
            "Late",
            &alphamoon_sandbox::keys::from_seed("late")
        )
        .await
        .is_err()
    );
    let org_id = support::org_of(&sandbox, &admin).await;
    assert!(
        alphamoon_sandbox::seed_keys(store, &org_id, 3)
            .await
            .is_err()
    );
    let after_9999 = chrono::DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z")
        .expect("date")
        .timestamp()
        + 1;
    let issued = alphamoon_sandbox::issue_key(store, &org_id, "late", &[], after_9999).await;
    assert_eq!(issued.expect_err("refused").field(), Some("exp"));

    // The admin key expired with the freeze, so the store is asked.
    let (keys, total) = store
        .list_keys(&org_id, 0, 100)
        .await
        .expect("list")
        .expect("the org exists");
    assert_eq!(total, 1, "only the first admin key: {keys:?}");
    let reset = call(&sandbox, "POST", RESET, Some(&control), None).await;
    assert_eq!(reset.status, 204, "{}", reset.body);
    let later = call(&sandbox, "POST", ORGS, Some(&control), org_body("After")).await;
    assert_eq!(
        later.status, 201,
        "a reset brings the clock back: {}",
        later.body
    );
}

/// An organization's name has the limits of a key's name however the
/// organization is made: over HTTP, in process, or through the library.
#[tokio::test]
async fn every_way_of_making_an_organization_checks_its_name() {
    let (sandbox, _) = controlled().await;
    let long = "x".repeat(256);
    for name in ["", "a\u{7}b", "tab\there", long.as_str()] {
        let over_http = call(&sandbox, "POST", ORGS, Some(&bearer(TOKEN)), org_body(name)).await;
        assert_eq!(over_http.status, 400, "{name:?}: {}", over_http.body);
        assert_eq!(over_http.field(), Some("name"));
        let in_process = sandbox.create_org(name).await.expect_err(name);
        assert_eq!(in_process.field(), Some("name"), "{name:?}");
        let library = alphamoon_sandbox::create_org(sandbox.store(), name)
            .await
            .expect_err(name);
        assert_eq!(library.field(), Some("name"), "{name:?}");
        let first = alphamoon_sandbox::create_first_org(sandbox.store(), name, "amk_unused")
            .await
            .expect_err(name);
        assert_eq!(first.field(), Some("name"), "{name:?}");
    }
    assert!(sandbox.create_org(&"x".repeat(255)).await.is_ok());
}
