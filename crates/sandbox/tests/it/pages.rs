//! The pages a person reads: served from the binary with their security
//! policy, only where they should be, and never journaled. What they do in
//! a browser is tested by `cargo xtask browser`.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderMap, LOCATION};
use serde_json::Value;

use crate::support;

const TOKEN: &str = "amc_pages-test-token-0123456789";

/// `GET path` without following redirects: status, headers and body.
async fn get(sandbox: &alphamoon_sandbox::Sandbox, path: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let response = http
        .get(format!("{}{path}", sandbox.url()))
        .send()
        .await
        .expect("the sandbox answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    (status, headers, body)
}

/// A page or file answer: 200, its type, and the policy that allows no
/// inline script and no other origin.
fn assert_page(path: &str, status: StatusCode, headers: &HeaderMap, content_type: &str) {
    assert_eq!(status, StatusCode::OK, "{path}");
    assert_eq!(headers[CONTENT_TYPE], content_type, "{path}");
    let policy = headers[CONTENT_SECURITY_POLICY].to_str().expect("policy");
    assert!(policy.contains("default-src 'none'"), "{path}: {policy}");
    assert!(policy.contains("script-src 'self';"), "{path}: {policy}");
    assert!(!policy.contains("unsafe-inline"), "{path}: {policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
}

#[tokio::test]
async fn the_reference_is_served_with_the_published_spec_and_nothing_else() {
    let (sandbox, _) = support::sandbox().await;
    let (status, headers, body) = get(&sandbox, "/docs").await;
    assert_page("/docs", status, &headers, "text/html; charset=utf-8");
    let page = String::from_utf8(body).expect("utf-8");
    assert!(page.contains("docs/assets/swagger-ui-bundle.js"), "{page}");

    let (status, headers, body) = get(&sandbox, "/docs/openapi.json").await;
    assert_page("/docs/openapi.json", status, &headers, "application/json");
    let served: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(&served, support::spec(), "the published spec, unchanged");

    for (file, content_type) in [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("reference.js", "text/javascript; charset=utf-8"),
    ] {
        let path = format!("/docs/assets/{file}");
        let (status, headers, body) = get(&sandbox, &path).await;
        assert_page(&path, status, &headers, content_type);
        assert!(!body.is_empty(), "{path}");
    }
    let (status, headers, body) = get(&sandbox, "/docs/assets/LICENSE").await;
    assert_page(
        "/docs/assets/LICENSE",
        status,
        &headers,
        "text/plain; charset=utf-8",
    );
    assert!(String::from_utf8_lossy(&body).contains("Apache License"));
    for path in [
        "/docs/assets/VENDORED",
        "/docs/assets/..%2F..%2FCargo.toml",
        "/docs/assets/console.js",
        "/docs/nope",
    ] {
        assert_eq!(get(&sandbox, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, headers, _) = get(&sandbox, "/docs/").await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(
        headers[LOCATION], "/docs",
        "relative links resolve from /docs only"
    );

    // Without the control plane, its pages are unknown paths like the rest
    // of /_sandbox/.
    for path in [
        "/_sandbox/docs",
        "/_sandbox/console",
        "/_sandbox/console/console.js",
    ] {
        assert_eq!(get(&sandbox, path).await.0, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn with_the_control_plane_on_its_reference_and_the_console_are_served_and_never_journaled() {
    let (sandbox, _) = support::controlled_by(TOKEN).await;
    let (status, headers, body) = get(&sandbox, "/_sandbox/docs/openapi.json").await;
    assert_page("/_sandbox/docs", status, &headers, "application/json");
    let served: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(&served, support::control_spec());
    for (path, content_type) in [
        ("/_sandbox/docs", "text/html; charset=utf-8"),
        (
            "/_sandbox/docs/assets/reference.css",
            "text/css; charset=utf-8",
        ),
        ("/_sandbox/console", "text/html; charset=utf-8"),
        (
            "/_sandbox/console/console.js",
            "text/javascript; charset=utf-8",
        ),
        ("/_sandbox/console/console.css", "text/css; charset=utf-8"),
        ("/docs", "text/html; charset=utf-8"),
    ] {
        let (status, headers, _) = get(&sandbox, path).await;
        assert_page(path, status, &headers, content_type);
    }
    assert_eq!(
        get(&sandbox, "/_sandbox/console/reference.js").await.0,
        StatusCode::NOT_FOUND
    );

    let journal = support::call(
        &sandbox,
        "GET",
        "/_sandbox/v1/requests",
        Some(&format!("Bearer {TOKEN}")),
        None,
    )
    .await;
    assert_eq!(
        journal.body["requests"],
        serde_json::json!([]),
        "pages are not API requests"
    );
}
