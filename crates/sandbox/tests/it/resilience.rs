//! The Rust client against injected faults and a moved clock, end to end:
//! what a caller sees, and what the sandbox's journal saw. Every test ends
//! by checking that the journal held no secret in any form.

use crate::support;

use alphamoon_client::{Client, Error, RetryPolicy, types};
use alphamoon_sandbox::control_client::types::{
    FaultAction, FaultRequest, RecordedRequest, VendorOperationId,
};
use alphamoon_sandbox::{ClockMove, JournalQuery, Sandbox};
use chrono::{Duration, Utc};
use serde_json::json;

/// A client that retries as shipped.
fn retrying_client(sandbox: &Sandbox, secret: &str) -> Client {
    Client::builder(secret)
        .base_url(&sandbox.url())
        .retry_policy(RetryPolicy::default())
        .build()
        .expect("client")
}

fn create_request(name: &str, lifetime: Duration) -> types::builder::CreateApiKeyRequest {
    types::CreateApiKeyRequest::builder()
        .name(name)
        .exp(Utc::now() + lifetime)
        .scopes(vec![alphamoon_client::Scope::WorkspaceFileUpload])
}

/// The journal's entries for one operation, newest first, after checking
/// that the whole journal holds none of `secrets`.
fn journal_of(sandbox: &Sandbox, operation: &str, secrets: &[&str]) -> Vec<RecordedRequest> {
    let all = sandbox.control().requests(&JournalQuery::default());
    support::assert_no_secret(&serde_json::to_value(&all).expect("journal"), secrets);
    sandbox.control().requests(&JournalQuery {
        operation_id: Some(operation.to_owned()),
        ..JournalQuery::default()
    })
}

async fn add_fault(sandbox: &Sandbox, fault: FaultRequest) -> String {
    sandbox.control().add_fault(fault).await.expect("fault").id
}

/// Creates a key named `name` that lives `lifetime`, through `client`.
async fn try_create(
    client: &Client,
    name: &str,
    lifetime: Duration,
) -> Result<types::CreatedApiKey, Error> {
    Ok(client
        .create_api_key()
        .body(create_request(name, lifetime))
        .send()
        .await?
        .into_inner())
}

async fn key_names(client: &Client) -> Vec<String> {
    let page = client
        .list_api_keys()
        .send()
        .await
        .expect("list")
        .into_inner();
    page.api_keys.into_iter().map(|k| k.name).collect()
}

#[tokio::test]
async fn a_rate_limited_list_is_retried_after_the_wait_and_succeeds() {
    let (sandbox, admin) = support::sandbox().await;
    let fault = add_fault(
        &sandbox,
        FaultRequest {
            operation_id: Some(VendorOperationId::ListApiKeys),
            status: Some(429),
            retry_after: Some(1),
            times: std::num::NonZeroU32::new(1),
            ..FaultRequest::default()
        },
    )
    .await;
    let client = retrying_client(&sandbox, &admin);
    let page = client
        .list_api_keys()
        .send()
        .await
        .expect("the retry succeeds");
    assert_eq!(page.pagination.total, 1);

    let lists = journal_of(&sandbox, "listApiKeys", &[&admin]);
    let seen: Vec<_> = lists.iter().map(|r| (r.status, r.fault.clone())).collect();
    assert_eq!(seen, [(Some(200), None), (Some(429), Some(fault))]);
    let waited = lists[0].at - lists[1].at;
    assert!(
        waited >= Duration::milliseconds(900),
        "the retry came {waited} after the 429, not after its Retry-After"
    );
}

#[tokio::test]
async fn a_create_answered_503_is_not_retried() {
    let (sandbox, admin) = support::sandbox().await;
    add_fault(
        &sandbox,
        FaultRequest {
            operation_id: Some(VendorOperationId::CreateApiKey),
            status: Some(503),
            retry_after: Some(1),
            ..FaultRequest::default()
        },
    )
    .await;
    let client = retrying_client(&sandbox, &admin);
    let error: Error = try_create(&client, "once", Duration::hours(1))
        .await
        .expect_err("503");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(503));
    assert!(error.is_retryable(), "the caller is told it may try again");
    assert_eq!(
        journal_of(&sandbox, "createApiKey", &[&admin]).len(),
        1,
        "sent once"
    );
    sandbox.control().clear_faults().await.expect("clear");
    assert_eq!(key_names(&client).await, ["admin"], "nothing was made");
}

#[tokio::test]
async fn a_create_whose_answer_is_lost_made_the_key_all_the_same() {
    let (sandbox, admin) = support::sandbox().await;
    let client = retrying_client(&sandbox, &admin);
    for (name, status) in [("answered 500", Some(500)), ("answer dropped", None)] {
        let fault = add_fault(
            &sandbox,
            FaultRequest {
                operation_id: Some(VendorOperationId::CreateApiKey),
                action: Some(FaultAction::CommitThenFail),
                status,
                times: std::num::NonZeroU32::new(1),
                ..FaultRequest::default()
            },
        )
        .await;
        let error: Error = try_create(&client, name, Duration::hours(1))
            .await
            .expect_err("the caller sees a failure");
        assert_eq!(
            error.status().map(|s| i32::from(s.as_u16())),
            status,
            "{name}: {error}"
        );
        assert!(
            key_names(&client).await.contains(&name.to_owned()),
            "{name}: the key exists"
        );
        let creates = journal_of(&sandbox, "createApiKey", &[&admin]);
        assert_eq!(
            (creates[0].status, creates[0].fault.as_deref()),
            (status, Some(fault.as_str())),
            "{name}: journaled once, with its fault"
        );
    }
    assert_eq!(
        journal_of(&sandbox, "createApiKey", &[&admin]).len(),
        2,
        "never retried"
    );
}

#[tokio::test]
async fn a_delete_whose_answer_is_dropped_is_done_when_its_retry_finds_the_key_gone() {
    let (sandbox, admin) = support::sandbox().await;
    let client = retrying_client(&sandbox, &admin);
    let lost_answer = FaultRequest {
        operation_id: Some(VendorOperationId::DeleteApiKey),
        action: Some(FaultAction::CommitThenFail),
        times: std::num::NonZeroU32::new(1),
        ..FaultRequest::default()
    };

    let old = try_create(&client, "rotated", Duration::hours(1))
        .await
        .expect("create");
    let fault = add_fault(&sandbox, lost_answer.clone()).await;
    let rotation = client
        .rotate_api_key(&old.id, Utc::now() + Duration::hours(2))
        .await
        .expect("the rotation is reported done");
    assert_eq!(rotation.deleted.as_str(), old.id);
    let deletes = journal_of(
        &sandbox,
        "deleteApiKey",
        &[
            &admin,
            old.key.expose_secret(),
            rotation.created.key.expose_secret(),
        ],
    );
    let seen: Vec<_> = deletes
        .iter()
        .map(|r| (r.status, r.fault.clone()))
        .collect();
    assert_eq!(
        seen,
        [(Some(404), None), (None, Some(fault))],
        "dropped, then 404"
    );
    let page = client
        .list_api_keys()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert!(
        page.api_keys.iter().all(|k| k.id != old.id),
        "the old key is gone"
    );

    // A plain delete, the same way.
    add_fault(&sandbox, lost_answer).await;
    let id: types::ApiKeyId = rotation.created.id.parse().expect("id");
    client
        .delete_api_key()
        .api_key_id(id.clone())
        .send()
        .await
        .expect("the delete is reported done");
    // Without a lost answer, a 404 is still a 404.
    let error: Error = client
        .delete_api_key()
        .api_key_id(id)
        .send()
        .await
        .expect_err("already gone")
        .into();
    assert_eq!(error.status().map(|s| s.as_u16()), Some(404));
}

#[tokio::test]
async fn expiry_is_tested_by_moving_the_clock_not_by_waiting() {
    let (sandbox, admin) = support::sandbox().await;
    let client = retrying_client(&sandbox, &admin);
    let hour = try_create(&client, "an hour", Duration::hours(1))
        .await
        .expect("create");
    let short = support::client(&sandbox, hour.key.expose_secret());
    let before: Error = short
        .list_api_keys()
        .send()
        .await
        .expect_err("no admin scope")
        .into();
    assert_eq!(
        before.status().map(|s| s.as_u16()),
        Some(403),
        "live, without the scope"
    );

    let moved = sandbox
        .control()
        .set_clock(ClockMove::AdvanceBySeconds(2 * 3600))
        .await
        .expect("advance");
    assert!(moved.now >= Utc::now() + Duration::minutes(119));
    let after: Error = short
        .list_api_keys()
        .send()
        .await
        .expect_err("expired")
        .into();
    assert_eq!(after.status().map(|s| s.as_u16()), Some(401));
    let page = client
        .list_api_keys()
        .send()
        .await
        .expect("list")
        .into_inner();
    let listed = page
        .api_keys
        .iter()
        .find(|k| k.id == hour.id)
        .expect("listed");
    assert_eq!(listed.status, alphamoon_client::ApiKeyStatus::Expired);
    let _ = journal_of(&sandbox, "listApiKeys", &[&admin, hour.key.expose_secret()]);
}

#[tokio::test]
async fn a_reset_ends_every_fixture_key_at_once() {
    let (sandbox, admin) = support::sandbox().await;
    let started = std::time::Instant::now();
    let loaded = sandbox
        .load_fixtures(&json!({"orgs": [{"name": "Initech", "keys": [
            {"name": "ci", "scopes": ["workspace.admin.api_key:manage"], "exp": "2099-01-01T00:00:00Z"}
        ]}]}))
        .await
        .expect("fixtures");
    let fixture_key = loaded.orgs[0].keys[0].key.0.clone();
    let fixture_admin = loaded.orgs[0].admin_key.0.clone();
    for secret in [&fixture_key, &fixture_admin, &admin] {
        let client = support::client(&sandbox, secret);
        client
            .list_api_keys()
            .send()
            .await
            .expect("works before the reset");
    }
    sandbox.reset().await.expect("reset");
    for secret in [&fixture_key, &fixture_admin, &admin] {
        let client = support::client(&sandbox, secret);
        let error: Error = client
            .list_api_keys()
            .send()
            .await
            .expect_err("reset")
            .into();
        assert_eq!(error.status().map(|s| s.as_u16()), Some(401));
    }
    // Reported, not asserted: the machine is shared, and speed belongs in
    // the benchmarks.
    eprintln!(
        "fixtures, six calls and a reset took {:?}",
        started.elapsed()
    );
    let _ = journal_of(
        &sandbox,
        "listApiKeys",
        &[&admin, &fixture_key, &fixture_admin],
    );
}

#[tokio::test]
async fn a_key_that_expires_during_an_injected_delay_writes_nothing() {
    let (sandbox, admin) = support::sandbox().await;
    // On a frozen clock the key expires when the test moves the clock, and
    // the test moves it only once the request is held: however slow the
    // machine, the expiry falls inside the delay.
    let frozen = support::freeze_clock(&sandbox).await;
    let client = retrying_client(&sandbox, &admin);
    // A key holding the admin scope, living an hour on the sandbox clock.
    let short = client
        .create_api_key()
        .body(
            types::CreateApiKeyRequest::builder()
                .name("short")
                .exp(frozen + Duration::hours(1))
                .scopes(vec![
                    alphamoon_client::Scope::WorkspaceAdminApiKeyManage,
                    alphamoon_client::Scope::WorkspaceFileUpload,
                ]),
        )
        .send()
        .await
        .expect("create")
        .into_inner();
    let fault = add_fault(
        &sandbox,
        FaultRequest {
            operation_id: Some(VendorOperationId::CreateApiKey),
            delay_ms: 4000,
            times: std::num::NonZeroU32::new(1),
            ..FaultRequest::default()
        },
    )
    .await;
    let as_short = support::client(&sandbox, short.key.expose_secret());
    let held =
        tokio::spawn(async move { try_create(&as_short, "too late", Duration::days(1)).await });
    // The fault is used up once the request has been authenticated, with
    // its key still live, and has begun its delay.
    support::wait_until("the create took the delay fault", || async {
        sandbox.control().faults().await.expect("faults").is_empty()
    })
    .await;
    let moved = support::advance_clock(&sandbox, 2 * 3600).await;
    assert!(moved > frozen + Duration::hours(1), "past the key's exp");
    let error: Error = held
        .await
        .expect("task")
        .expect_err("the key expired while the request waited");
    assert_eq!(error.status().map(|s| s.as_u16()), Some(401), "{error}");
    assert!(!key_names(&client).await.contains(&"too late".to_owned()));
    let creates = journal_of(
        &sandbox,
        "createApiKey",
        &[&admin, short.key.expose_secret()],
    );
    assert_eq!(
        (creates[0].status, creates[0].fault.as_deref()),
        (Some(401), Some(fault.as_str()))
    );
    assert!(creates[0].duration_ms >= 4000, "{}", creates[0].duration_ms);
}
