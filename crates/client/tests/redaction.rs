//! No secret reaches `Debug`, `Display` or the request traces.
//!
//! This test has a binary of its own: it installs a tracing subscriber, and
//! tracing caches per call site whether anyone listens, so tests running
//! beside it on other threads would race that cache.

#[path = "it/support/mod.rs"]
mod support;

use std::sync::{Arc, Mutex};

use alphamoon_client::Error;
use support::{SECRET, Server, client, create_key, created_json, json, problem};

#[tokio::test]
async fn no_secret_in_debug_display_or_traces() {
    let traces = Arc::new(Mutex::new(Vec::<u8>::new()));
    let writer = {
        let traces = Arc::clone(&traces);
        move || SharedWriter(Arc::clone(&traces))
    };
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(writer)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = Server::start(|req, _| match req.method.as_str() {
        "POST" => json(201, created_json()),
        _ => problem(
            403,
            "This operation needs the scope `workspace.admin.api_key:manage`.",
        ),
    })
    .await;
    let client = client(&server);
    let created = create_key(&client).await;
    let err = Error::from(client.list_api_keys().send().await.expect_err("403"));

    let authorization = server.seen()[0]
        .header("authorization")
        .expect("sent")
        .to_owned();
    let encoded = authorization.trim_start_matches("Basic ").to_owned();
    let outputs = [
        format!("{created:?}"),
        format!("{:?}", created.key),
        format!("{client:?}"),
        format!("{err}"),
        format!("{err:?}"),
        String::from_utf8(traces.lock().expect("traces").clone()).expect("utf8"),
    ];
    for output in &outputs {
        assert!(!output.contains(SECRET), "secret in {output}");
        assert!(!output.contains(&encoded), "encoded secret in {output}");
    }
    assert!(format!("{created:?}").contains("<redacted>"));
    let traces = &outputs[5];
    assert!(
        traces.contains("create_api_key") && traces.contains("status=201"),
        "{traces}"
    );
    assert!(
        traces.contains("list_api_keys") && traces.contains("status=403"),
        "{traces}"
    );
}

struct SharedWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("traces").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
