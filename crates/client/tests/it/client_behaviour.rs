//! The hand-written client layer against a scripted server on 127.0.0.1:
//! statuses, paging, retries, timeouts, open enums and secret hygiene.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use crate::support::{
    SECRET, Server, client, create_body, create_key, created_json, fast_retries, json, key_json,
    page_json, problem,
};
use alphamoon_client::{
    ApiKeyStatus, Client, Error, RetryPolicy, Scope, ScopeGroup, StatusCode, types,
};
use futures_util::TryStreamExt as _;
use wiremock::ResponseTemplate;

/// A server that holds `total` keys and pages through them honestly,
/// applying at most `max_limit` per page.
async fn paging_server(total: usize, max_limit: u64) -> Server {
    let keys: Vec<_> = (0..total).map(key_json).collect();
    Server::start(move |req, _| {
        let offset = req.query("offset").unwrap_or(0);
        let limit = req.query("limit").unwrap_or(100).min(max_limit);
        let start = (offset as usize).min(keys.len());
        let end = (start + limit as usize).min(keys.len());
        json(
            200,
            page_json(&keys[start..end], offset, limit, total as u64),
        )
    })
    .await
}

#[tokio::test]
async fn stream_yields_each_key_exactly_once_for_any_page_size() {
    const N: usize = 23;
    for page_size in [1u64, 7, 100] {
        let server = paging_server(N, 100).await;
        let keys: Vec<types::ApiKey> = client(&server)
            .list_all_api_keys(page_size)
            .try_collect()
            .await
            .expect("list all");
        let ids: std::collections::BTreeSet<_> = keys.iter().map(|k| k.id.to_string()).collect();
        assert_eq!(keys.len(), N, "page size {page_size}");
        assert_eq!(ids.len(), N, "page size {page_size}: distinct ids");

        let seen = server.seen();
        assert!(seen.iter().all(|r| r.query("limit") == Some(page_size)));
        // Stops on the short (or, when N divides evenly, empty) last page.
        let pages = (N as u64).div_ceil(page_size);
        assert!(
            seen.len() as u64 == pages || seen.len() as u64 == pages + 1,
            "page size {page_size}: {} requests for {pages} pages",
            seen.len()
        );
    }
}

#[tokio::test]
async fn stream_follows_a_server_that_applies_a_smaller_limit() {
    let server = paging_server(25, 10).await;
    let keys: Vec<_> = client(&server)
        .list_all_api_keys(100)
        .try_collect()
        .await
        .expect("list all");
    assert_eq!(keys.len(), 25);
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn stream_ends_with_an_error_when_the_server_repeats_a_page() {
    // Always the same full page and a total that never comes.
    let server = Server::start(|req, _| {
        let keys: Vec<_> = (0..5).map(key_json).collect();
        json(
            200,
            page_json(&keys, req.query("offset").unwrap_or(0), 5, 1_000_000),
        )
    })
    .await;
    let result: Result<Vec<_>, _> = client(&server).list_all_api_keys(5).try_collect().await;
    let err = result.expect_err("a repeated page is an error");
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err}");
    assert!(err.to_string().contains("already listed"), "{err}");
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn unknown_scope_and_status_survive_a_round_trip() {
    let mut key = key_json(7);
    key["scopes"] = serde_json::json!(["workspace.collection:create", "workspace.brand_new:thing"]);
    key["status"] = "Suspended".into();
    let body = page_json(&[key], 0, 100, 1);
    let wire: serde_json::Value = serde_json::from_str(&body).expect("json");
    let server = Server::start(move |_, _| json(200, &body)).await;

    let page = client(&server)
        .list_api_keys()
        .send()
        .await
        .expect("list")
        .into_inner();
    let key = &page.api_keys[0];
    assert_eq!(key.scopes[0], Scope::WorkspaceCollectionCreate);
    assert!(!key.scopes[1].is_known());
    assert_eq!(key.scopes[1].as_str(), "workspace.brand_new:thing");
    assert_eq!(key.scopes[1].group(), None);
    assert_eq!(key.status.as_str(), "Suspended");
    assert!(!key.status.is_known());
    assert_eq!(serde_json::to_value(&page).expect("serialize"), wire);
}

#[test]
fn scopes_carry_their_group_and_description_from_the_spec() {
    assert_eq!(Scope::ALL.len(), 28);
    assert_eq!(ScopeGroup::ALL.len(), 10);
    let mut grouped = 0;
    for group in ScopeGroup::ALL {
        assert_eq!(ScopeGroup::from_name(group.name()), Some(*group));
        for scope in group.scopes() {
            assert_eq!(scope.group(), Some(*group), "{scope}");
            grouped += 1;
        }
    }
    assert_eq!(grouped, 28, "every scope is in exactly one group");
    for scope in Scope::ALL {
        assert!(
            scope.description().is_some_and(|d| !d.is_empty()),
            "{scope}"
        );
    }
    assert_eq!(
        Scope::WorkspaceAdminApiKeyManage.description(),
        Some("Grants access to manage all API keys in the organization.")
    );
    assert_eq!(
        Scope::WorkspaceAdminApiKeyManage.group(),
        Some(ScopeGroup::ApiKeyAdmin)
    );
    assert_eq!(ScopeGroup::Collections.title(), "Collections & images");
    assert_eq!("Expired".parse::<ApiKeyStatus>(), Ok(ApiKeyStatus::Expired));
}

#[tokio::test]
async fn documented_error_statuses_become_api_errors_with_their_problem() {
    for status in [400u16, 401, 403, 500] {
        let server = Server::start(move |_, _| problem(status, "nope")).await;
        let err = Error::from(
            client(&server)
                .list_api_keys()
                .send()
                .await
                .expect_err("error"),
        );
        assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
        assert_eq!(
            err.problem().and_then(|p| p.status),
            Some(i32::from(status))
        );
        assert_eq!(
            err.problem().and_then(|p| p.detail.as_deref()),
            Some("nope")
        );
        assert!(!err.is_retryable(), "{status}");
        assert!(
            err.to_string().starts_with(&format!("HTTP {status}")),
            "{err}"
        );
        assert_eq!(server.seen().len(), 1, "{status} is not retried");
    }

    let server = Server::start(|_, _| problem(404, "No API key with that id.")).await;
    let err = client(&server)
        .delete_api_key()
        .api_key_id("31b7de83bfa24a9dbf2150beb5e5660b")
        .send()
        .await
        .map_err(Error::from)
        .expect_err("404");
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(
        err.to_string(),
        "HTTP 404 Not Found: No API key with that id."
    );
}

#[tokio::test]
async fn create_accepts_200_and_201_and_delete_its_string_body() {
    for status in [200u16, 201] {
        let server = Server::start(move |_, _| json(status, created_json())).await;
        let created = create_key(&client(&server)).await;
        assert_eq!(created.key.expose_secret(), SECRET);
        let sent: serde_json::Value =
            serde_json::from_str(&server.seen()[0].body).expect("request body");
        assert_eq!(
            sent["scopes"],
            serde_json::json!(["workspace.collection:create"])
        );
    }

    let server = Server::start(|_, _| json(200, "\"string\"")).await;
    let body = client(&server)
        .delete_api_key()
        .api_key_id("31b7de83bfa24a9dbf2150beb5e5660b")
        .send()
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(body.as_str(), "string");
    let seen = server.seen();
    assert_eq!(seen[0].method, "DELETE");
    assert_eq!(
        seen[0].path,
        "/api/v0.4/admin/api-keys/31b7de83bfa24a9dbf2150beb5e5660b"
    );
}

/// Lists once against a server that refuses the first attempt, and returns
/// how long the client waited before the second, as the server saw it.
async fn wait_between_two_attempts(server: &Server) -> Duration {
    client(server)
        .list_api_keys()
        .send()
        .await
        .expect("second attempt succeeds");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    seen[1].at - seen[0].at
}

#[tokio::test]
async fn a_429_is_retried_after_its_retry_after_in_seconds() {
    let server = Server::start(|_, index| match index {
        0 => problem(429, "slow down").insert_header("retry-after", 1),
        _ => json(200, page_json(&[], 0, 100, 0)),
    })
    .await;
    // A floor only: how much longer a loaded machine takes is no verdict
    // on the client.
    let waited = wait_between_two_attempts(&server).await;
    assert!(
        waited >= Duration::from_millis(950),
        "waited {waited:?} for Retry-After: 1"
    );
}

#[tokio::test]
async fn a_retry_after_http_date_is_honoured() {
    // Two seconds ahead, truncated to whole seconds by the format: the
    // wait is between one and two seconds.
    let server = Server::start(|_, index| match index {
        0 => {
            let at = chrono::Utc::now() + chrono::Duration::seconds(2);
            let date = at.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            problem(503, "maintenance").insert_header("retry-after", date)
        }
        _ => json(200, page_json(&[], 0, 100, 0)),
    })
    .await;
    let waited = wait_between_two_attempts(&server).await;
    assert!(
        waited >= Duration::from_millis(900),
        "waited {waited:?} for a Retry-After date 2 s ahead"
    );
}

#[tokio::test]
async fn retries_stop_after_max_attempts_and_report_the_last_answer() {
    let server =
        Server::start(|_, _| problem(429, "slow down").insert_header("retry-after", 0)).await;
    let err = Error::from(
        client(&server)
            .list_api_keys()
            .send()
            .await
            .expect_err("429"),
    );
    assert_eq!(server.seen().len(), 3);
    assert_eq!(err.status(), Some(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(err.retry_after(), Some(Duration::ZERO));
    assert!(err.is_retryable());

    let once = Client::builder(SECRET)
        .base_url(&server.url)
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client");
    let _ = once.list_api_keys().send().await.expect_err("429");
    assert_eq!(server.seen().len(), 4, "RetryPolicy::none sends once");
}

#[tokio::test]
async fn a_retry_after_beyond_max_delay_is_not_waited_out() {
    let server =
        Server::start(|_, _| problem(429, "slow down").insert_header("retry-after", 3600)).await;
    let err = Error::from(
        client(&server)
            .list_api_keys()
            .send()
            .await
            .expect_err("429"),
    );
    assert_eq!(server.seen().len(), 1);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(3600)));
}

#[tokio::test]
async fn create_is_never_retried() {
    for status in [429u16, 503] {
        let server =
            Server::start(move |_, _| problem(status, "busy").insert_header("retry-after", 0))
                .await;
        let err = client(&server)
            .create_api_key()
            .body(create_body())
            .send()
            .await
            .map_err(Error::from)
            .expect_err("busy");
        assert_eq!(server.seen().len(), 1, "create after {status}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
    }
}

#[tokio::test]
async fn delete_is_retried_after_a_503() {
    let server = Server::start(|_, index| match index {
        0 => problem(503, "busy"),
        _ => json(200, "\"string\""),
    })
    .await;
    client(&server)
        .delete_api_key()
        .api_key_id("31b7de83bfa24a9dbf2150beb5e5660b")
        .send()
        .await
        .expect("second attempt succeeds");
    assert_eq!(server.seen().len(), 2);
}

/// The retry hook and `Error::is_retryable` ask one rule. Every error
/// status goes through both here: the client sends a request again exactly
/// when the error it ends with says trying again is worthwhile.
#[tokio::test]
async fn the_retry_hook_and_is_retryable_agree_on_every_error_status() {
    let status = Arc::new(AtomicU16::new(0));
    let answer = Arc::clone(&status);
    let server = Server::start(move |_, _| problem(answer.load(Ordering::SeqCst), "sweep")).await;
    let client = Client::builder(SECRET)
        .base_url(&server.url)
        .retry_policy(
            RetryPolicy::default()
                .with_max_attempts(2)
                .with_base_delay(Duration::ZERO),
        )
        .build()
        .expect("client");
    let mut retried = Vec::new();
    for code in 400u16..=599 {
        status.store(code, Ordering::SeqCst);
        let before = server.seen().len();
        let err = Error::from(
            client
                .list_api_keys()
                .send()
                .await
                .expect_err("error status"),
        );
        let sent = server.seen().len() - before;
        assert_eq!(err.status().map(|s| s.as_u16()), Some(code));
        assert_eq!(sent == 2, err.is_retryable(), "{code}: sent {sent} times");
        if sent == 2 {
            retried.push(code);
        }
    }
    assert_eq!(retried, [429, 502, 503, 504]);
}

#[tokio::test]
async fn a_refused_connection_is_a_retryable_transport_error() {
    // Bind, note the port, close: nothing listens there any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let client = Client::builder(SECRET)
        .base_url(&format!("http://127.0.0.1:{port}"))
        .retry_policy(fast_retries())
        .build()
        .expect("client");
    let err = Error::from(client.list_api_keys().send().await.expect_err("refused"));
    assert!(matches!(err, Error::Transport(_)), "{err}");
    assert!(err.is_retryable());
    assert_eq!(err.status(), None);
}

#[tokio::test]
async fn a_stalled_response_times_out() {
    let server = Server::start(|_, _| {
        json(200, page_json(&[], 0, 100, 0)).set_delay(Duration::from_secs(5))
    })
    .await;
    let client = Client::builder(SECRET)
        .base_url(&server.url)
        .timeout(Duration::from_millis(300))
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client");
    let err = Error::from(client.list_api_keys().send().await.expect_err("timeout"));
    let Error::Transport(inner) = &err else {
        panic!("expected a transport error, got {err}");
    };
    assert!(inner.is_timeout(), "{err}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn a_timed_out_list_is_sent_again() {
    let server = Server::start(|_, index| {
        let page = json(200, page_json(&[], 0, 100, 0));
        match index {
            0 => page.set_delay(Duration::from_secs(5)),
            _ => page,
        }
    })
    .await;
    let client = Client::builder(SECRET)
        .base_url(&server.url)
        .timeout(Duration::from_millis(300))
        .retry_policy(fast_retries())
        .build()
        .expect("client");
    client
        .list_api_keys()
        .send()
        .await
        .expect("second attempt succeeds");
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn undocumented_status_and_malformed_body_are_reported_without_the_body() {
    let server = Server::start(|_, _| problem(502, "upstream")).await;
    let err = Error::from(
        client(&server)
            .list_api_keys()
            .send()
            .await
            .expect_err("502"),
    );
    assert!(matches!(err, Error::UnexpectedStatus { .. }), "{err}");
    assert_eq!(err.status(), Some(StatusCode::BAD_GATEWAY));

    // A create response that breaks the schema while carrying the secret.
    let server = Server::start(|_, _| {
        let mut body = created_json();
        body["status"] = serde_json::json!(42);
        json(201, body)
    })
    .await;
    let raw = client(&server)
        .create_api_key()
        .body(create_body())
        .send()
        .await
        .expect_err("invalid body");
    let err = Error::from(raw);
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err}");
    assert!(!err.to_string().contains(SECRET), "{err}");
    assert!(!format!("{err:?}").contains(SECRET), "{err:?}");
}

/// A listed key that breaks every limit this SDK infers for what it sends:
/// a dashed UUID for an id, a 300-character name with a control character,
/// an offset date with fractions of a second, and members the spec lacks.
fn unusual_key(n: usize) -> serde_json::Value {
    let mut key = key_json(n);
    key["id"] = format!("31b7de83-bfa2-4a9d-bf21-{n:012x}").into();
    key["name"] = format!("{}\u{7}{n}", "n".repeat(300)).into();
    key["createdAt"] = "2024-05-17T09:25:33.250+02:00".into();
    key["lastUsedAt"] = "2024-06-01T00:00:00Z".into();
    key["labels"] = serde_json::json!({ "team": "ops" });
    key
}

#[tokio::test]
async fn a_list_reads_keys_outside_the_limits_of_what_the_client_sends() {
    let keys = vec![key_json(1), unusual_key(2)];
    let mut page: serde_json::Value =
        serde_json::from_str(&page_json(&keys, 0, 0, 2)).expect("json");
    page["nextCursor"] = "abc".into();
    page["pagination"]["pages"] = 1.into();
    let body = page.to_string();
    let server = Server::start(move |_, _| json(200, &body)).await;

    let page = client(&server)
        .list_api_keys()
        .send()
        .await
        .map_err(Error::from)
        .expect("one unusual key does not spoil the list")
        .into_inner();
    assert_eq!(page.api_keys.len(), 2);
    let unusual = &page.api_keys[1];
    assert_eq!(unusual.id, "31b7de83-bfa2-4a9d-bf21-000000000002");
    assert_eq!(unusual.name.chars().count(), 302);
    assert_eq!(
        unusual.created_at,
        "2024-05-17T07:25:33.250Z"
            .parse::<chrono::DateTime<chrono::Utc>>()
            .expect("date")
    );
    assert_eq!(page.pagination.limit, 0);
    // What is sent stays strict: the unusual id cannot be a path parameter.
    let refused = client(&server)
        .delete_api_key()
        .api_key_id(unusual.id.as_str())
        .send()
        .await
        .map_err(Error::from)
        .expect_err("not an ApiKeyId");
    assert!(matches!(refused, Error::InvalidRequest(_)), "{refused}");
    assert_eq!(server.seen().len(), 1, "the delete was never sent");
}

#[tokio::test]
async fn the_stream_pages_on_when_the_server_reports_a_limit_of_0() {
    // Two keys a page, reported as `limit: 0`: the stream must not take a
    // short page for the last one, nor fail on the figure.
    let keys: Vec<_> = (0..5).map(unusual_key).collect();
    let server = Server::start(move |req, _| {
        let offset = req.query("offset").unwrap_or(0);
        let start = (offset as usize).min(keys.len());
        let end = (start + 2).min(keys.len());
        json(200, page_json(&keys[start..end], offset, 0, 5))
    })
    .await;
    let listed: Vec<types::ApiKey> = client(&server)
        .list_all_api_keys(100)
        .try_collect()
        .await
        .expect("list all");
    let ids: Vec<&str> = listed.iter().map(|k| &k.id[24..]).collect();
    assert_eq!(
        ids,
        [
            "000000000000",
            "000000000001",
            "000000000002",
            "000000000003",
            "000000000004"
        ]
    );
    assert_eq!(server.seen().len(), 3, "stops at the total");
}

#[tokio::test]
async fn a_created_key_outside_the_request_limits_is_read_with_its_secret() {
    let server = Server::start(|_, _| {
        let mut body = unusual_key(9);
        body["key"] = SECRET.into();
        json(201, body)
    })
    .await;
    let created = create_key(&client(&server)).await;
    assert_eq!(created.id, "31b7de83-bfa2-4a9d-bf21-000000000009");
    assert_eq!(created.key.expose_secret(), SECRET);
}

#[tokio::test]
async fn a_problem_body_with_fewer_members_is_still_an_api_error() {
    // RFC 9457 makes every member optional; a proxy or framework in front
    // of the API may send only `detail`, or nothing at all.
    for (body, shown) in [
        (
            serde_json::json!({ "detail": "Not authenticated" }),
            "HTTP 401 Unauthorized: Not authenticated",
        ),
        (serde_json::json!({}), "HTTP 401 Unauthorized"),
    ] {
        let server = Server::start(move |_, _| {
            ResponseTemplate::new(401).set_body_raw(body.to_string(), "application/json")
        })
        .await;
        let err = Error::from(
            client(&server)
                .list_api_keys()
                .send()
                .await
                .expect_err("401"),
        );
        assert!(matches!(err, Error::Api { .. }), "{err:?}");
        assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(err.to_string(), shown);
    }
}

#[tokio::test]
async fn rotate_takes_a_listed_keys_id_and_refuses_a_bad_one_before_sending() {
    // The old key is listed; the create and the delete then succeed.
    let server = Server::start(|seen, _| match seen.method.as_str() {
        "GET" => json(200, page_json(&[key_json(7)], 0, 100, 1)),
        "POST" => json(201, created_json()),
        _ => json(200, "\"string\""),
    })
    .await;
    let admin = client(&server);
    let page = admin
        .list_api_keys()
        .send()
        .await
        .expect("list")
        .into_inner();
    let listed = &page.api_keys[0];
    let rotation = admin
        .rotate_api_key(&listed.id, chrono::Utc::now() + chrono::Duration::days(30))
        .await
        .expect("rotated");
    assert_eq!(rotation.deleted.as_str(), listed.id);
    let methods: Vec<String> = server.seen().into_iter().map(|s| s.method).collect();
    assert_eq!(methods, ["GET", "GET", "POST", "DELETE"]);

    for bad in ["", "0123", "0123456789ABCDEF0123456789ABCDEF", "../../keys"] {
        let server = Server::start(|_, _| json(500, "{}")).await;
        let refused = client(&server)
            .rotate_api_key(bad, chrono::Utc::now() + chrono::Duration::days(30))
            .await
            .expect_err("refused");
        assert!(
            matches!(&refused, alphamoon_client::RotateError::InvalidId(id) if id == bad),
            "{refused:?}"
        );
        assert!(server.seen().is_empty(), "{bad:?}: nothing is sent");
    }
}
