//! A scripted server for the client's tests: wiremock on 127.0.0.1, with
//! one catch-all mock whose handler sees every request and its position
//! in order, so that a test can serve what a well-behaved server never
//! produces on demand (a repeated page, a 503 then a 200, a stall).
//!
//! wiremock records requests itself, but not when each arrived; the retry
//! tests measure the wait between attempts as the server saw it, so the
//! handler keeps its own log with arrival times.

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alphamoon_client::{Client, RetryPolicy, Scope, types};
use wiremock::{Mock, MockServer, Request, ResponseTemplate, matchers::any};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: String,
    pub at: Instant,
    request: Request,
}

impl Seen {
    pub fn query(&self, name: &str) -> Option<u64> {
        self.request
            .url
            .query_pairs()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse().ok())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.request.headers.get(name)?.to_str().ok()
    }
}

/// A JSON answer.
pub fn json(status: u16, body: impl ToString) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
}

/// An RFC 9457 problem answer, as the API sends its errors.
pub fn problem(status: u16, detail: &str) -> ResponseTemplate {
    let title = alphamoon_client::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Other");
    let body = serde_json::json!({
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    });
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/problem+json")
}

pub struct Server {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    // Keeps the server up for as long as the test holds this.
    _mock: MockServer,
}

impl Server {
    /// Starts serving on an ephemeral loopback port; `handler` gets each
    /// request and how many came before it.
    pub async fn start<F>(handler: F) -> Self
    where
        F: Fn(&Seen, usize) -> ResponseTemplate + Send + Sync + 'static,
    {
        let mock = MockServer::start().await;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        Mock::given(any())
            .respond_with(move |request: &Request| {
                let seen = Seen {
                    method: request.method.to_string(),
                    path: request.url.path().to_owned(),
                    body: String::from_utf8_lossy(&request.body).into_owned(),
                    at: Instant::now(),
                    request: request.clone(),
                };
                let index = {
                    let mut log = log.lock().expect("log");
                    log.push(seen.clone());
                    log.len() - 1
                };
                handler(&seen, index)
            })
            .mount(&mock)
            .await;
        Self {
            url: mock.uri(),
            seen,
            _mock: mock,
        }
    }

    /// Every request received so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }
}

/// A listed key in the API's JSON form, numbered so that ids are distinct.
pub fn key_json(n: usize) -> serde_json::Value {
    serde_json::json!({
        "id": format!("{n:032x}"),
        "name": format!("key {n}"),
        "orgId": "USER:google-oauth2|123456789123456789123",
        "scopes": ["workspace.collection:create"],
        "status": "Active",
        "createdAt": "2024-05-17T07:25:33Z",
        "exp": "2024-07-17T07:23:51Z"
    })
}

/// A list page of `keys`, as a server holding `total` keys answers it.
pub fn page_json(keys: &[serde_json::Value], offset: u64, limit: u64, total: u64) -> String {
    serde_json::json!({
        "apiKeys": keys,
        "pagination": { "offset": offset, "limit": limit, "total": total }
    })
    .to_string()
}

/// The API key every test client uses; tests assert it never leaks.
pub const SECRET: &str = "amk_s3cretSECRETs3cretSECRETs3cret_0000";

/// Retries on, with short waits so that the tests stay quick.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(3)
        .with_base_delay(Duration::from_millis(10))
        .with_max_delay(Duration::from_secs(5))
}

pub fn client(server: &Server) -> Client {
    Client::builder(SECRET)
        .base_url(&server.url)
        .retry_policy(fast_retries())
        .build()
        .expect("client")
}

pub fn create_body() -> types::builder::CreateApiKeyRequest {
    types::CreateApiKeyRequest::builder()
        .name("TEST API key")
        .exp(chrono::Utc::now() + chrono::Duration::days(90))
        .scopes(vec![Scope::WorkspaceCollectionCreate])
}

/// Creates a key with [`create_body`], expecting success.
pub async fn create_key(client: &Client) -> types::CreatedApiKey {
    client
        .create_api_key()
        .body(create_body())
        .send()
        .await
        .expect("create")
        .into_inner()
}

pub fn created_json() -> serde_json::Value {
    let mut key = key_json(1);
    key["key"] = SECRET.into();
    key
}
