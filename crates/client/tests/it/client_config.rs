//! The hand-written client set-up, checked over real HTTP against a
//! one-shot server on 127.0.0.1 that records the request it receives.

use alphamoon_client::{BuildError, Client, ClientInfo as _, DEFAULT_BASE_URL, USER_AGENT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const LIST_BODY: &str = r#"{"apiKeys":[],"pagination":{"offset":0,"limit":100,"total":0}}"#;

/// Serves one request with `body` and returns the request head it read.
async fn serve_once(body: &'static str) -> (String, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let handle = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.expect("read");
            assert!(n > 0, "client closed before sending a request");
            head.extend_from_slice(&buf[..n]);
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(response.as_bytes()).await.expect("write");
        String::from_utf8(head).expect("request head is text")
    });
    (format!("http://{addr}"), handle)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test]
async fn sends_basic_auth_user_agent_and_a_clean_path() {
    let (base, server) = serve_once(LIST_BODY).await;
    // A trailing slash must not turn into `//` in the request path.
    let client = Client::builder("your_api_key_here")
        .base_url(&format!("{base}/"))
        .build()
        .expect("client");
    let page = client
        .list_api_keys()
        .offset(0)
        .limit(100)
        .send()
        .await
        .expect("list");
    assert_eq!(page.pagination.total, 0);

    let head = server.await.expect("server task");
    let request_line = head.lines().next().expect("request line");
    assert_eq!(
        request_line,
        "GET /api/v0.4/admin/api-keys?limit=100&offset=0 HTTP/1.1"
    );
    // base64("your_api_key_here"), the vendor's form with no `user:` part.
    assert_eq!(
        header(&head, "authorization"),
        Some("Basic eW91cl9hcGlfa2V5X2hlcmU=")
    );
    assert_eq!(header(&head, "user-agent"), Some(USER_AGENT));
    assert!(USER_AGENT.starts_with("alphamoon-client/"));
}

#[test]
fn defaults_to_the_production_server_of_the_spec() {
    assert_eq!(DEFAULT_BASE_URL, "https://workspace.alphamoon.ai");
    let client = Client::from_api_key("k").expect("client");
    assert_eq!(client.baseurl(), DEFAULT_BASE_URL);
}

#[test]
fn refuses_bad_settings_without_echoing_the_key() {
    assert_eq!(
        Client::from_api_key("  ").err(),
        Some(BuildError::EmptyApiKey)
    );
    let err = Client::builder("s3cret-key-material")
        .base_url("workspace.alphamoon.ai")
        .build()
        .expect_err("a base URL without a scheme is refused");
    assert!(matches!(err, BuildError::InvalidBaseUrl(_)));
    assert!(!err.to_string().contains("s3cret"));

    let builder = Client::builder("s3cret-key-material");
    assert!(!format!("{builder:?}").contains("s3cret"));
    let client = builder.build().expect("client");
    assert!(!format!("{client:?}").contains("s3cret"));
    assert!(
        !format!("{client:?}").contains("czNjcmV0"),
        "nor its base64"
    );
}
