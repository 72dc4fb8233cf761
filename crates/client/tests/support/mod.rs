//! A scripted HTTP/1.1 server on 127.0.0.1 for the client's tests: it
//! records every request it receives and answers each with whatever the
//! test's handler returns. It serves the situations a well-behaved server
//! never produces on demand (a repeated page, a 503, a stall).

#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alphamoon_client::{Client, RetryPolicy, Scope, types};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub at: Instant,
}

impl Seen {
    pub fn query(&self, name: &str) -> Option<u64> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse().ok())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What to answer.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: impl ToString) -> Self {
        Self {
            status,
            headers: vec![("content-type", "application/json".to_owned())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn problem(status: u16, detail: &str) -> Self {
        let body = serde_json::json!({
            "type": "about:blank",
            "title": reason(status),
            "status": status,
            "detail": detail,
        });
        Self {
            status,
            headers: vec![("content-type", "application/problem+json".to_owned())],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl ToString) -> Self {
        self.headers.push((name, value.to_string()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Other",
    }
}

pub struct Server {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Starts serving on an ephemeral loopback port.
    pub async fn start<F>(handler: F) -> Self
    where
        F: Fn(&Seen, usize) -> Reply + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let log = Arc::clone(&log);
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    let Some(request) = read_request(&mut socket).await else {
                        return;
                    };
                    let index = {
                        let mut log = log.lock().expect("log");
                        log.push(request.clone());
                        log.len() - 1
                    };
                    let reply = handler(&request, index);
                    tokio::time::sleep(reply.delay).await;
                    let mut head = format!(
                        "HTTP/1.1 {} {}\r\ncontent-length: {}\r\nconnection: close\r\n",
                        reply.status,
                        reason(reply.status),
                        reply.body.len()
                    );
                    for (name, value) in &reply.headers {
                        head.push_str(&format!("{name}: {value}\r\n"));
                    }
                    head.push_str("\r\n");
                    let _ = socket.write_all(head.as_bytes()).await;
                    let _ = socket.write_all(reply.body.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { url, seen }
    }

    /// Every request received so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("log").clone()
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Seen> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(pos) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.lines();
    let mut parts = lines.next()?.split(' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let body = String::from_utf8_lossy(&data[head_end..]).into_owned();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let query = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Some(Seen {
        method,
        path: path.to_owned(),
        query,
        headers,
        body,
        at: Instant::now(),
    })
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
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(5),
    }
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
