//! The sandbox's API over real HTTP on 127.0.0.1: every success and error
//! path, each response checked against the spec.

use crate::support;

use std::time::Duration;

use crate::support::{
    KEYS, add_keys, basic, call, client, create_body, org_of, sandbox, sandbox_with,
};
use alphamoon_client::{Error, Scope, StatusCode, types};
use alphamoon_sandbox::{ADMIN_SCOPE, RateLimit, Settings, issue_key};
use base64::Engine as _;
use chrono::Utc;
use futures_util::TryStreamExt as _;

#[tokio::test]
async fn create_list_delete_through_the_generated_client() {
    let (sandbox, admin) = sandbox().await;
    let client = client(&sandbox, &admin);

    let exp = Utc::now() + chrono::Duration::days(90);
    let created = client
        .create_api_key()
        .body(
            types::CreateApiKeyRequest::builder()
                .name("TEST API key")
                .exp(exp)
                .scopes(vec![Scope::WorkspaceCollectionCreate, ADMIN_SCOPE]),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), StatusCode::CREATED);
    let created = created.into_inner();
    assert_eq!(created.name.as_str(), "TEST API key");
    assert_eq!(created.status, alphamoon_client::ApiKeyStatus::Active);
    assert_eq!(
        created.exp.timestamp(),
        exp.timestamp(),
        "exp in whole seconds"
    );
    assert_eq!(created.exp.timestamp_subsec_nanos(), 0);
    assert!(created.key.expose_secret().starts_with("amk_"));
    assert!(alphamoon_sandbox::keys::is_well_formed(
        created.key.expose_secret()
    ));

    // The new key works on its own.
    let second = support::client(&sandbox, created.key.expose_secret());
    let page = second
        .list_api_keys()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.pagination.total, 2);
    assert_eq!(page.pagination.offset, 0);
    assert_eq!(page.pagination.limit, 100);
    assert!(page.api_keys.iter().any(|k| k.id == created.id));

    client
        .delete_api_key()
        .api_key_id(created.id.clone())
        .send()
        .await
        .expect("delete");
    // Deleted keys stop authenticating at once, and a second delete is 404.
    let err = Error::from(second.list_api_keys().send().await.expect_err("deleted"));
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    let err = Error::from(
        client
            .delete_api_key()
            .api_key_id(created.id.clone())
            .send()
            .await
            .expect_err("gone"),
    );
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    let page = client
        .list_api_keys()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.pagination.total, 1);
}

#[tokio::test]
async fn raw_flow_conforms_to_the_spec() {
    let (sandbox, admin) = sandbox().await;
    let auth = basic(&admin);
    let created = call(
        &sandbox,
        "POST",
        KEYS,
        Some(&auth),
        Some(create_body("raw", &["workspace.file:upload"])),
    )
    .await;
    assert_eq!(created.status, 201);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let listed = call(
        &sandbox,
        "GET",
        &format!("{KEYS}?offset=0&limit=100"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(listed.status, 200);
    assert!(
        listed.body["apiKeys"]
            .as_array()
            .expect("keys")
            .iter()
            .all(|k| k.get("key").is_none())
    );
    let deleted = call(
        &sandbox,
        "DELETE",
        &format!("{KEYS}/{id}"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(deleted.status, 200);
    assert!(deleted.body.is_string());
    let again = call(
        &sandbox,
        "DELETE",
        &format!("{KEYS}/{id}"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(again.status, 404);
}

#[tokio::test]
async fn every_authentication_failure_is_a_401_with_a_challenge() {
    let (sandbox, admin) = sandbox().await;
    let org = org_of(&sandbox, &admin).await;
    let (expired, expired_secret) = issue_key(
        sandbox.store(),
        &org,
        "old",
        &[ADMIN_SCOPE],
        Utc::now().timestamp() - 60,
    )
    .await
    .expect("expired key");
    let (_, deleted_secret) = issue_key(
        sandbox.store(),
        &org,
        "gone",
        &[ADMIN_SCOPE],
        Utc::now().timestamp() + 3600,
    )
    .await
    .expect("key");
    let deleted = call(&sandbox, "GET", KEYS, Some(&basic(&deleted_secret)), None).await;
    assert_eq!(deleted.status, 200, "works before it is deleted");
    let id = sandbox
        .store()
        .key_by_secret_hash(&alphamoon_sandbox::keys::hash(&deleted_secret))
        .await
        .expect("store")
        .expect("key")
        .id;
    let gone = call(
        &sandbox,
        "DELETE",
        &format!("{KEYS}/{id}"),
        Some(&basic(&admin)),
        None,
    )
    .await;
    assert_eq!(gone.status, 200, "deleted through the API, as a user would");
    let unknown = alphamoon_sandbox::keys::new_secret().expect("secret");

    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing header", None),
        ("wrong scheme", Some(format!("Bearer {admin}"))),
        ("bad base64", Some("Basic !!!not-base64!!!".to_owned())),
        ("not a key", Some(basic("your_api_key_here"))),
        ("unknown key", Some(basic(&unknown))),
        ("deleted key", Some(basic(&deleted_secret))),
        ("expired key", Some(basic(&expired_secret))),
    ];
    for (case, authorization) in &cases {
        for (method, path, body) in [
            ("GET", KEYS.to_owned(), None),
            (
                "POST",
                KEYS.to_owned(),
                Some(create_body("x", &["workspace.file:upload"])),
            ),
            ("DELETE", format!("{KEYS}/{}", expired.id), None),
        ] {
            let answer = call(&sandbox, method, &path, authorization.as_deref(), body).await;
            assert_eq!(answer.status, 401, "{case}: {method} {}", answer.body);
        }
    }
    let expired_answer = call(&sandbox, "GET", KEYS, Some(&basic(&expired_secret)), None).await;
    assert!(
        expired_answer.detail().contains("expired"),
        "{}",
        expired_answer.detail()
    );
}

#[tokio::test]
async fn the_rfc_7617_form_with_an_empty_password_is_accepted() {
    let (sandbox, admin) = sandbox().await;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{admin}:"))
    );
    assert_eq!(
        call(&sandbox, "GET", KEYS, Some(&auth), None).await.status,
        200
    );
}

#[tokio::test]
async fn keys_without_the_admin_scope_get_403_everywhere() {
    let (sandbox, admin) = sandbox().await;
    let org = org_of(&sandbox, &admin).await;
    let (_, reader) = issue_key(
        sandbox.store(),
        &org,
        "reader",
        &[Scope::WorkspaceCollectionRead],
        Utc::now().timestamp() + 3600,
    )
    .await
    .expect("key");
    let auth = basic(&reader);
    let some_id = "31b7de83bfa24a9dbf2150beb5e5660b";
    for (method, path, body) in [
        ("GET", KEYS.to_owned(), None),
        (
            "POST",
            KEYS.to_owned(),
            Some(create_body("x", &["workspace.collection:read"])),
        ),
        ("DELETE", format!("{KEYS}/{some_id}"), None),
    ] {
        let answer = call(&sandbox, method, &path, Some(&auth), body).await;
        assert_eq!(answer.status, 403, "{method}");
        assert!(answer.detail().contains(ADMIN_SCOPE.as_str()));
    }
}

#[tokio::test]
async fn a_key_cannot_grant_scopes_it_does_not_hold() {
    let (sandbox, admin) = sandbox().await;
    let org = org_of(&sandbox, &admin).await;
    let (_, limited) = issue_key(
        sandbox.store(),
        &org,
        "limited",
        &[ADMIN_SCOPE, Scope::WorkspaceCollectionCreate],
        Utc::now().timestamp() + 3600,
    )
    .await
    .expect("key");
    let auth = basic(&limited);
    let refused = call(
        &sandbox,
        "POST",
        KEYS,
        Some(&auth),
        Some(create_body(
            "escalate",
            &["workspace.collection:create", "workspace.admin.user:manage"],
        )),
    )
    .await;
    assert_eq!(refused.status, 403);
    assert_eq!(refused.field(), Some("scopes"));
    assert!(refused.detail().contains("workspace.admin.user:manage"));
    assert!(!refused.detail().contains("`workspace.collection:create`"));
    let subset = call(
        &sandbox,
        "POST",
        KEYS,
        Some(&auth),
        Some(create_body("subset", &["workspace.collection:create"])),
    )
    .await;
    assert_eq!(subset.status, 201);
}

#[tokio::test]
async fn organizations_never_see_each_other() {
    let (sandbox, admin_a) = sandbox().await;
    let (_, admin_b) = sandbox.create_org("Globex").await.expect("org");
    let a = client(&sandbox, &admin_a);
    let b = client(&sandbox, &admin_b);
    let a_keys = a.list_api_keys().send().await.expect("list").into_inner();
    let b_keys = b.list_api_keys().send().await.expect("list").into_inner();
    assert_eq!((a_keys.pagination.total, b_keys.pagination.total), (1, 1));
    assert_ne!(a_keys.api_keys[0].org_id, b_keys.api_keys[0].org_id);

    // Another org's key id is "not found", not "forbidden".
    let a_id = a_keys.api_keys[0].id.clone();
    let err = Error::from(
        b.delete_api_key()
            .api_key_id(a_id)
            .send()
            .await
            .expect_err("404"),
    );
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    let still = a.list_api_keys().send().await.expect("list").into_inner();
    assert_eq!(still.pagination.total, 1);
}

#[tokio::test]
async fn create_rejects_bad_input_naming_the_field() {
    let (sandbox, admin) = sandbox_with(Settings {
        rate_limit: None,
        org_rate_limit: None,
        max_key_lifetime: Some(Duration::from_secs(30 * 86_400)),
        ..Settings::default()
    })
    .await;
    let auth = basic(&admin);
    let future = (Utc::now() + chrono::Duration::days(10)).to_rfc3339();
    let past = (Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let too_far = (Utc::now() + chrono::Duration::days(31)).to_rfc3339();
    let ok_scopes = serde_json::json!(["workspace.file:upload"]);
    let long_name = "n".repeat(256);
    let cases: Vec<(&str, serde_json::Value, Option<&str>)> = vec![
        (
            "empty name",
            serde_json::json!({"name": "", "exp": future, "scopes": ok_scopes}),
            Some("name"),
        ),
        (
            "long name",
            serde_json::json!({"name": long_name, "exp": future, "scopes": ok_scopes}),
            Some("name"),
        ),
        (
            "control char",
            serde_json::json!({"name": "a\u{7}b", "exp": future, "scopes": ok_scopes}),
            Some("name"),
        ),
        (
            "name type",
            serde_json::json!({"name": 5, "exp": future, "scopes": ok_scopes}),
            Some("name"),
        ),
        (
            "no name",
            serde_json::json!({"exp": future, "scopes": ok_scopes}),
            Some("name"),
        ),
        (
            "no exp",
            serde_json::json!({"name": "n", "scopes": ok_scopes}),
            Some("exp"),
        ),
        (
            "bad exp",
            serde_json::json!({"name": "n", "exp": "next week", "scopes": ok_scopes}),
            Some("exp"),
        ),
        (
            "past exp",
            serde_json::json!({"name": "n", "exp": past, "scopes": ok_scopes}),
            Some("exp"),
        ),
        (
            "too far",
            serde_json::json!({"name": "n", "exp": too_far, "scopes": ok_scopes}),
            Some("exp"),
        ),
        (
            "no scopes",
            serde_json::json!({"name": "n", "exp": future}),
            Some("scopes"),
        ),
        (
            "empty scopes",
            serde_json::json!({"name": "n", "exp": future, "scopes": []}),
            Some("scopes"),
        ),
        (
            "unknown scope",
            serde_json::json!({"name": "n", "exp": future, "scopes": ["workspace.brand_new:thing"]}),
            Some("scopes"),
        ),
        (
            "duplicate",
            serde_json::json!({"name": "n", "exp": future, "scopes": ["workspace.file:upload", "workspace.file:upload"]}),
            Some("scopes"),
        ),
        (
            "scopes type",
            serde_json::json!({"name": "n", "exp": future, "scopes": "workspace.file:upload"}),
            Some("scopes"),
        ),
        (
            "extra field",
            serde_json::json!({"name": "n", "exp": future, "scopes": ok_scopes, "admin": true}),
            Some("admin"),
        ),
        ("not an object", serde_json::json!(["n"]), None),
    ];
    for (case, body, field) in cases {
        let answer = call(
            &sandbox,
            "POST",
            KEYS,
            Some(&auth),
            Some(("application/json", body.to_string())),
        )
        .await;
        assert_eq!(answer.status, 400, "{case}: {}", answer.body);
        assert_eq!(answer.field(), field, "{case}");
        assert!(!answer.detail().is_empty(), "{case}");
    }

    // Years past 9999 cannot be served as RFC 3339; a repeated member and a
    // repeated query parameter are ambiguous.
    let year_10000 =
        serde_json::json!({"name": "n", "exp": "9999-12-31T23:59:59-23:59", "scopes": ok_scopes});
    let repeated =
        format!(r#"{{"name":"a","name":"b","exp":"{future}","scopes":["workspace.file:upload"]}}"#);
    for (case, body, field) in [
        ("year 10000", year_10000.to_string(), "exp"),
        ("repeated member", repeated, "name"),
    ] {
        let answer = call(
            &sandbox,
            "POST",
            KEYS,
            Some(&auth),
            Some(("application/json", body)),
        )
        .await;
        assert_eq!(answer.status, 400, "{case}: {}", answer.body);
        assert_eq!(answer.field(), Some(field), "{case}");
    }
    for (query, field) in [
        ("limit=1&limit=100", "limit"),
        ("%6Cimit=5&limit=5", "limit"),
    ] {
        let answer = call(
            &sandbox,
            "GET",
            &format!("{KEYS}?{query}"),
            Some(&auth),
            None,
        )
        .await;
        assert_eq!(answer.status, 400, "{query}");
        assert_eq!(answer.field(), Some(field), "{query}");
    }
    let decoded = call(
        &sandbox,
        "GET",
        &format!("{KEYS}?%6Cimit=%35"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(
        decoded.status, 200,
        "percent-encoded names and values are decoded"
    );
    assert_eq!(decoded.body["pagination"]["limit"], 5);

    let malformed = call(
        &sandbox,
        "POST",
        KEYS,
        Some(&auth),
        Some(("application/json", "{\"name\":".to_owned())),
    )
    .await;
    assert_eq!(malformed.status, 400);
    assert!(malformed.detail().contains("not valid JSON"));
    let text = call(
        &sandbox,
        "POST",
        KEYS,
        Some(&auth),
        Some(("text/plain", "{}".to_owned())),
    )
    .await;
    assert_eq!(text.status, 415);
    let huge = format!("{{\"name\":\"{}\"}}", "a".repeat(64 * 1024));
    let too_big = call(
        &sandbox,
        "POST",
        KEYS,
        Some(&auth),
        Some(("application/json", huge)),
    )
    .await;
    assert_eq!(too_big.status, 413);

    let listed = call(&sandbox, "GET", KEYS, Some(&auth), None).await;
    assert_eq!(listed.body["pagination"]["total"], 1, "nothing was created");
}

#[tokio::test]
async fn list_orders_pages_and_flags_expired_keys() {
    let (sandbox, admin) = sandbox().await;
    let org = org_of(&sandbox, &admin).await;
    let (expired, _) = issue_key(
        sandbox.store(),
        &org,
        "expired",
        &[Scope::WorkspaceFileUpload],
        Utc::now().timestamp() - 1,
    )
    .await
    .expect("key");
    add_keys(&sandbox, &org, "k", 5).await;
    let client = client(&sandbox, &admin);
    let all = client
        .list_api_keys()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(all.pagination.total, 7);
    let order: Vec<_> = all
        .api_keys
        .iter()
        .map(|k| (k.created_at, k.id.to_string()))
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "ordered by createdAt, then id");
    let flagged = all
        .api_keys
        .iter()
        .find(|k| k.id.as_str() == expired.id)
        .expect("listed");
    assert_eq!(flagged.status, alphamoon_client::ApiKeyStatus::Expired);

    let page = client
        .list_api_keys()
        .offset(2)
        .limit(3)
        .send()
        .await
        .expect("page")
        .into_inner();
    assert_eq!(page.pagination.offset, 2);
    assert_eq!(page.pagination.limit, 3);
    let ids: Vec<_> = page.api_keys.iter().map(|k| k.id.to_string()).collect();
    assert_eq!(
        ids,
        order[2..5]
            .iter()
            .map(|(_, id)| id.clone())
            .collect::<Vec<_>>()
    );

    let auth = basic(&admin);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("limt=5", "limt"),
    ] {
        let answer = call(
            &sandbox,
            "GET",
            &format!("{KEYS}?{query}"),
            Some(&auth),
            None,
        )
        .await;
        assert_eq!(answer.status, 400, "{query}");
        assert_eq!(answer.field(), Some(field), "{query}");
    }
    let beyond = call(
        &sandbox,
        "GET",
        &format!("{KEYS}?offset=1000"),
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(beyond.status, 200);
    assert_eq!(beyond.body["apiKeys"], serde_json::json!([]));
}

#[tokio::test]
async fn paging_stays_stable_while_keys_are_added() {
    let (sandbox, admin) = sandbox().await;
    let org = org_of(&sandbox, &admin).await;
    add_keys(&sandbox, &org, "k", 9).await;
    let client = client(&sandbox, &admin);
    let first = client
        .list_api_keys()
        .offset(0)
        .limit(5)
        .send()
        .await
        .expect("page")
        .into_inner();
    add_keys(&sandbox, &org, "new", 3).await;
    let second = client
        .list_api_keys()
        .offset(5)
        .limit(5)
        .send()
        .await
        .expect("page")
        .into_inner();
    let mut seen: Vec<_> = first
        .api_keys
        .iter()
        .chain(&second.api_keys)
        .map(|k| k.id.to_string())
        .collect();
    let count = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), count, "no key appears on two pages");
    assert_eq!(second.pagination.total, 13);
    // The ten oldest keys, in order, across the two pages; the new ones
    // wait at the end.
    let names: Vec<String> = first
        .api_keys
        .iter()
        .chain(&second.api_keys)
        .map(|k| k.name.to_string())
        .collect();
    let expected: Vec<String> = std::iter::once("admin".to_owned())
        .chain((0..9).map(|i| format!("k{i}")))
        .collect();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn delete_rejects_a_malformed_id() {
    let (sandbox, admin) = sandbox().await;
    for id in [
        "31B7DE83BFA24A9DBF2150BEB5E5660B",
        "31b7de83-bfa2-4a9d-bf21-50beb5e5660b",
        "short",
        // Not even text once decoded.
        "%FF%FF",
    ] {
        let answer = call(
            &sandbox,
            "DELETE",
            &format!("{KEYS}/{id}"),
            Some(&basic(&admin)),
            None,
        )
        .await;
        assert_eq!(answer.status, 400, "{id}");
        assert_eq!(answer.field(), Some("api_key_id"));
    }
}

#[tokio::test]
async fn an_error_answer_never_repeats_a_secret_sent_in_the_wrong_place() {
    let (sandbox, admin) = sandbox().await;
    let auth = basic(&admin);
    let body = &admin[alphamoon_sandbox::keys::SECRET_PREFIX.len()..];
    let future = (Utc::now() + chrono::Duration::days(10)).to_rfc3339();
    let create = |json: serde_json::Value| Some(("application/json", json.to_string()));
    let cases = [
        ("GET", format!("{KEYS}?{admin}=1"), None),
        ("GET", format!("{KEYS}?limit={admin}"), None),
        ("GET", format!("{KEYS}?%61mk%5F{body}=1"), None),
        ("GET", format!("{KEYS}?%5a{admin}=1"), None),
        ("GET", format!("{KEYS}?k={body}"), None),
        ("DELETE", format!("{KEYS}/{admin}"), None),
        (
            "POST",
            KEYS.to_owned(),
            create(serde_json::json!({"name": "n", "exp": future, "scopes": [admin]})),
        ),
        (
            "POST",
            KEYS.to_owned(),
            create(
                serde_json::json!({"name": "n", "exp": future, "scopes": [], admin.as_str(): 1}),
            ),
        ),
    ];
    for (method, path, request_body) in cases {
        let answer = call(&sandbox, method, &path, Some(&auth), request_body).await;
        assert_eq!(answer.status, 400, "{method} {path}");
        let text = answer.body.to_string();
        assert!(!text.contains(&body[..20]), "{method} {path}: {text}");
    }
}

#[tokio::test]
async fn a_key_may_delete_itself_and_is_gone_at_once() {
    let (sandbox, admin) = sandbox().await;
    let org = org_of(&sandbox, &admin).await;
    let (doomed, secret) = issue_key(
        sandbox.store(),
        &org,
        "self-deleting",
        &[ADMIN_SCOPE],
        Utc::now().timestamp() + 3600,
    )
    .await
    .expect("key");
    let path = format!("{KEYS}/{}", doomed.id);
    let deleted = call(&sandbox, "DELETE", &path, Some(&basic(&secret)), None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    let again = call(&sandbox, "DELETE", &path, Some(&basic(&secret)), None).await;
    assert_eq!(again.status, 401, "{}", again.body);
    let listed = call(&sandbox, "GET", KEYS, Some(&basic(&admin)), None).await;
    assert_eq!(listed.body["pagination"]["total"], 1, "{}", listed.body);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_problems() {
    let (sandbox, admin) = sandbox().await;
    let auth = basic(&admin);
    let missing = call(
        &sandbox,
        "GET",
        "/api/v0.4/admin/nothing",
        Some(&auth),
        None,
    )
    .await;
    assert_eq!(missing.status, 404);
    let wrong = call(&sandbox, "PUT", KEYS, Some(&auth), None).await;
    assert_eq!(wrong.status, 405);
    assert!(wrong.header("allow").is_some_and(|a| a.contains("GET")));
}

/// The seconds of an answer's `Retry-After`.
fn retry_after(answer: &support::Answer) -> u64 {
    answer
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds")
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    // One request's allowance comes back every 2 s.
    let (sandbox, admin) = sandbox_with(Settings {
        rate_limit: Some(RateLimit {
            per_second: 0.5,
            burst: 2,
        }),
        ..Settings::default()
    })
    .await;
    // Allowances refill on the sandbox clock: frozen, it refills exactly as
    // far as the test moves it, however slowly the requests go.
    support::freeze_clock(&sandbox).await;
    let auth = basic(&admin);
    let list = || call(&sandbox, "GET", KEYS, Some(&auth), None);
    for _ in 0..2 {
        assert_eq!(list().await.status, 200);
    }
    let limited = list().await;
    assert_eq!(limited.status, 429);
    assert_eq!(
        retry_after(&limited),
        2,
        "one period until the next request"
    );

    let err = Error::from(
        client(&sandbox, &admin)
            .list_api_keys()
            .send()
            .await
            .expect_err("429"),
    );
    assert_eq!(err.status(), Some(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));

    // Refused requests spend nothing, and the wait is the whole wait: a
    // second on, one second is left.
    support::advance_clock(&sandbox, 1).await;
    let early = list().await;
    assert_eq!(early.status, 429, "let through before Retry-After ran out");
    assert_eq!(retry_after(&early), 1);
    // Once Retry-After has run out, one request's worth is back, no more.
    support::advance_clock(&sandbox, 1).await;
    assert_eq!(list().await.status, 200, "still refused after Retry-After");
    let spent = list().await;
    assert_eq!(spent.status, 429, "more than one request's worth came back");
    assert_eq!(retry_after(&spent), 2);

    // Other keys have buckets of their own.
    let (_, other) = sandbox.create_org("Other").await.expect("org");
    assert_eq!(
        call(&sandbox, "GET", KEYS, Some(&basic(&other)), None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_client_stream_returns_every_key_for_any_page_size() {
    let (sandbox, admin) = sandbox().await;
    let org = org_of(&sandbox, &admin).await;
    add_keys(&sandbox, &org, "k", 22).await;
    let client = client(&sandbox, &admin);
    for page_size in [1, 7, 100] {
        let keys: Vec<_> = client
            .list_all_api_keys(page_size)
            .try_collect()
            .await
            .expect("all");
        let mut ids: Vec<_> = keys.iter().map(|k| k.id.to_string()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!((keys.len(), ids.len()), (23, 23), "page size {page_size}");
    }
}

#[tokio::test]
async fn minting_keys_does_not_multiply_the_rate_limit() {
    let (sandbox, admin) = sandbox_with(Settings {
        rate_limit: Some(RateLimit {
            per_second: 1000.0,
            burst: 1000,
        }),
        org_rate_limit: Some(RateLimit {
            per_second: 0.5,
            burst: 4,
        }),
        ..Settings::default()
    })
    .await;
    let org = org_of(&sandbox, &admin).await;
    let exp = Utc::now().timestamp() + 3600;
    // Minted offline, so that minting spends none of the org's allowance.
    let mut minted = Vec::new();
    for i in 0..5 {
        let (_, secret) = issue_key(
            sandbox.store(),
            &org,
            &format!("minted {i}"),
            &[ADMIN_SCOPE],
            exp,
        )
        .await
        .expect("key");
        minted.push(secret);
    }
    // The organization's allowance refills on the sandbox clock: frozen,
    // not at all until the test moves it, however slowly the requests go.
    support::freeze_clock(&sandbox).await;
    let sandbox = &sandbox;
    let list = move |secret: &str| {
        let auth = basic(secret);
        async move { call(sandbox, "GET", KEYS, Some(&auth), None).await }
    };
    let mut answers = Vec::new();
    for secret in &minted {
        for _ in 0..2 {
            answers.push(list(secret).await);
        }
    }
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 429, 429, 429, 429, 429, 429],
        "ten requests over five fresh keys get the organization's burst of four"
    );
    for refused in &answers[4..] {
        assert_eq!(retry_after(refused), 2, "one period until the next request");
    }
    // The fifth key, never let through, waits as long as the others: the
    // allowance it draws on is the organization's.
    let fresh = &minted[4];
    support::advance_clock(sandbox, 1).await;
    let early = list(fresh).await;
    assert_eq!(early.status, 429, "let through before Retry-After ran out");
    assert_eq!(retry_after(&early), 1);
    support::advance_clock(sandbox, 1).await;
    assert_eq!(list(fresh).await.status, 200, "refused after Retry-After");
    let spent = list(&minted[0]).await;
    assert_eq!(spent.status, 429, "more than one request's worth came back");
    assert_eq!(retry_after(&spent), 2);
    let (_, other) = sandbox.create_org("Other").await.expect("org");
    assert_eq!(
        call(sandbox, "GET", KEYS, Some(&basic(&other)), None)
            .await
            .status,
        200,
        "another organization has its own allowance"
    );
}

/// A body said to be compressed is refused, not read as if it were plain:
/// ambiguous input is refused rather than guessed at.
#[tokio::test]
async fn a_body_with_a_content_coding_is_refused() {
    let (sandbox, admin) = sandbox().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let (_, body) = create_body("coded", &["workspace.file:upload"]);
    let mut statuses = Vec::new();
    for coding in ["gzip", "br, identity", "identity"] {
        let answer = http
            .post(format!("{}{KEYS}", sandbox.url()))
            .header("authorization", basic(&admin))
            .header("content-type", "application/json")
            .header("content-encoding", coding)
            .body(body.clone())
            .send()
            .await
            .expect("answered");
        statuses.push(answer.status().as_u16());
    }
    assert_eq!(statuses, [415, 415, 201]);
    let listed = call(&sandbox, "GET", KEYS, Some(&basic(&admin)), None).await;
    assert_eq!(
        listed.body["pagination"]["total"], 2,
        "only the identity one"
    );
}
