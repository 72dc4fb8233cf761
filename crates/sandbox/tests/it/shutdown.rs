//! Stopping a sandbox: requests in flight finish, new connections are
//! refused, and a request that outlives the grace period is cut off.

use std::sync::Arc;
use std::time::Duration;

use alphamoon_sandbox::{Sandbox, Settings, ShutdownError, SqliteStore, Store};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// A sandbox whose router also has `/slow/{ms}`, which answers after that
/// many milliseconds: a stand-in for a request that is still running.
/// Each request to it says so on the returned channel as its handler
/// starts, so that a test stops the server only once a request is truly
/// in flight.
async fn sandbox_with_slow_route() -> (Sandbox, tokio::sync::mpsc::UnboundedReceiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::in_memory().expect("store"));
    let (app, controls) = alphamoon_sandbox::app(store, &Settings::default());
    let (started, handlers) = tokio::sync::mpsc::unbounded_channel();
    let app = app.route(
        "/slow/{ms}",
        axum::routing::get(
            |axum::extract::Path(ms): axum::extract::Path<u64>| async move {
                let _ = started.send(());
                tokio::time::sleep(Duration::from_millis(ms)).await;
                "done"
            },
        ),
    );
    let sandbox = Sandbox::serve_app(listener, controls, app, Default::default()).expect("serve");
    (sandbox, handlers)
}

/// Sends a raw GET on its own connection and returns the whole answer.
async fn get(addr: std::net::SocketAddr, path: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await?;
    Ok(answer)
}

#[tokio::test]
async fn a_request_in_flight_finishes_and_new_connections_are_refused() {
    let (sandbox, mut handlers) = sandbox_with_slow_route().await;
    let addr = sandbox.addr();
    let in_flight = tokio::spawn(get(addr, "/slow/400"));
    handlers
        .recv()
        .await
        .expect("the request reached its handler");
    sandbox
        .shutdown(Duration::from_secs(10))
        .await
        .expect("a clean stop");
    let answer = in_flight.await.expect("task").expect("answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("done"), "{answer}");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test]
async fn a_request_that_outlives_the_grace_period_is_cut_off() {
    let (sandbox, mut handlers) = sandbox_with_slow_route().await;
    let addr = sandbox.addr();
    let in_flight = tokio::spawn(get(addr, "/slow/60000"));
    handlers
        .recv()
        .await
        .expect("the request reached its handler");
    let started = std::time::Instant::now();
    let stopped = sandbox.shutdown(Duration::from_millis(200)).await;
    assert!(
        matches!(stopped, Err(ShutdownError::GraceExpired(_))),
        "{stopped:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "shutdown returned long before the request would have"
    );
    let answer = tokio::time::timeout(Duration::from_secs(10), in_flight)
        .await
        .expect("the connection is closed, not left hanging")
        .expect("task");
    assert!(
        !answer.is_ok_and(|a| a.contains("done")),
        "the cut-off request was not answered"
    );
}

#[tokio::test]
async fn a_connection_that_never_sent_its_headers_does_not_make_shutdown_fail() {
    let (sandbox, mut handlers) = sandbox_with_slow_route().await;
    let mut stalled = TcpStream::connect(sandbox.addr()).await.expect("connect");
    stalled
        .write_all(b"GET /slow/1 HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("half a request");
    // The server takes connections one at a time in the order they were
    // made, so once a later one is answered the stalled one is the
    // server's to close: shutdown cannot pass merely by never having seen
    // it.
    let later = get(sandbox.addr(), "/slow/1").await.expect("answered");
    assert!(later.starts_with("HTTP/1.1 200"), "{later}");
    handlers.recv().await.expect("only the later request ran");
    assert!(
        handlers.try_recv().is_err(),
        "the stalled request reached a handler"
    );
    sandbox
        .shutdown(Duration::from_millis(300))
        .await
        .expect("no request was running, so nothing was cut off");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut rest))
        .await
        .expect("the stalled connection is closed");
    assert!(read.is_err() || rest.is_empty(), "{rest:?}");
}
