//! The pages a person looks at: the API reference at `/docs`, and, with
//! the control plane on, the control plane's reference at `/_sandbox/docs`
//! and the console at `/_sandbox/console`.
//!
//! Every file is compiled into the binary, so the pages work with no
//! network and no files beside the binary. The reference renderer is
//! Swagger UI, vendored under `assets/swagger-ui/` by `cargo xtask gen`
//! from its pinned npm package; the rest is written here.
//!
//! Both pages show what requests carried (key and organization names, the
//! journal's paths and queries), so they are served with a policy that
//! allows scripts only from this origin and no inline script, and they
//! render that text as text.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{MethodRouter, get};

use super::problem::Problem;
use super::state::AppState;

/// What the pages may load and where they may send requests: this origin
/// only, and no inline script. Swagger UI's icons are `data:` images in
/// its stylesheet, and it sets styles through the DOM, which the policy
/// allows without `'unsafe-inline'`.
const SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JSON: &str = "application/json";

/// The reference page. Its links are relative, so one page serves both
/// references: under `/docs` they lead to `/docs/...`, under
/// `/_sandbox/docs` to `/_sandbox/docs/...`.
const REFERENCE_HTML: &str = include_str!("../../assets/pages/reference.html");

/// The files the reference page loads from `<page>/assets/`, and the
/// licence and notices that travel with Swagger UI, which its footer links.
const REFERENCE_ASSETS: [(&str, &str, &[u8]); 7] = [
    (
        "swagger-ui-bundle.js",
        JAVASCRIPT,
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        CSS,
        include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    ),
    (
        "reference.js",
        JAVASCRIPT,
        include_bytes!("../../assets/pages/reference.js"),
    ),
    (
        "reference.css",
        CSS,
        include_bytes!("../../assets/pages/reference.css"),
    ),
    (
        "LICENSE",
        TEXT,
        include_bytes!("../../assets/swagger-ui/LICENSE"),
    ),
    (
        "NOTICE",
        TEXT,
        include_bytes!("../../assets/swagger-ui/NOTICE"),
    ),
    (
        "swagger-ui-bundle.js.LICENSE.txt",
        TEXT,
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js.LICENSE.txt"),
    ),
];

const CONSOLE_HTML: &str = include_str!("../../assets/pages/console.html");

/// The files the console loads from `/_sandbox/console/`.
const CONSOLE_ASSETS: [(&str, &str, &[u8]); 2] = [
    (
        "console.js",
        JAVASCRIPT,
        include_bytes!("../../assets/pages/console.js"),
    ),
    (
        "console.css",
        CSS,
        include_bytes!("../../assets/pages/console.css"),
    ),
];

/// The control plane's spec: the crate's copy, from which its build
/// generates the control client.
const CONTROL_SPEC_JSON: &str = include_str!("../../alphamoon-sandbox-control.json");

/// Whether a request is for a page rather than the API: the journal
/// leaves these out, as it does the control plane.
pub(super) fn is_page(path: &str) -> bool {
    path == "/docs" || path.starts_with("/docs/")
}

/// The vendor API's reference, mounted always.
pub(super) fn reference() -> Router<Arc<AppState>> {
    reference_at("/docs", alphamoon_client::OPENAPI_JSON).layer(map_response(secure))
}

/// The control plane's reference and the console, mounted with it.
pub(super) fn control() -> Router<Arc<AppState>> {
    reference_at("/_sandbox/docs", CONTROL_SPEC_JSON)
        .route(
            "/_sandbox/console",
            get(|| async { page(HTML, CONSOLE_HTML) }),
        )
        .route("/_sandbox/console/", redirect_to("/_sandbox/console"))
        .route(
            "/_sandbox/console/{file}",
            get(|Path(file): Path<String>| async move { asset(&CONSOLE_ASSETS, &file) }),
        )
        .layer(map_response(secure))
}

/// The reference page at `at`, rendering `spec`.
fn reference_at(at: &'static str, spec: &'static str) -> Router<Arc<AppState>> {
    Router::new()
        .route(at, get(|| async { page(HTML, REFERENCE_HTML) }))
        .route(&format!("{at}/"), redirect_to(at))
        .route(
            &format!("{at}/openapi.json"),
            get(move || async move { page(JSON, spec) }),
        )
        .route(
            &format!("{at}/assets/{{file}}"),
            get(|Path(file): Path<String>| async move { asset(&REFERENCE_ASSETS, &file) }),
        )
}

/// A page's address with a trailing slash leads to the page: from there,
/// its relative links would resolve one level too deep.
fn redirect_to(page: &'static str) -> MethodRouter<Arc<AppState>> {
    get(move || async move { Redirect::permanent(page) })
}

/// The file named `file` among `assets`, or a 404.
fn asset(assets: &[(&str, &'static str, &'static [u8])], file: &str) -> Response {
    match assets.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => page(content_type, *body),
        None => Problem::new(StatusCode::NOT_FOUND, "No such file.").into_response(),
    }
}

/// A page or one of its files.
fn page(content_type: &'static str, body: impl Into<axum::body::Body>) -> Response {
    let mut response = (StatusCode::OK, body.into()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// The headers of every answer under a page's paths (files, redirects,
/// 404s and 405s alike): the policy, and no referrer sent on.
async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SECURITY_POLICY),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file a page names is one the router serves, so a renamed
    /// asset cannot leave a page loading a 404.
    #[test]
    fn pages_load_only_served_files() {
        for (page, assets, prefix) in [
            (REFERENCE_HTML, &REFERENCE_ASSETS[..], "docs/assets/"),
            (CONSOLE_HTML, &CONSOLE_ASSETS[..], "console/"),
        ] {
            let mut named = 0;
            for attribute in ["src=\"", "href=\""] {
                for piece in page.split(attribute).skip(1) {
                    let target = piece.split('"').next().unwrap_or_default();
                    // An empty icon, so that the browser asks for no
                    // favicon and leaves no 404 in the journal.
                    // The spec is served beside the reference page.
                    if target == "data:," || target == "docs/openapi.json" {
                        continue;
                    }
                    let file = target
                        .strip_prefix(prefix)
                        .unwrap_or_else(|| panic!("{target} is not under {prefix}"));
                    assert!(
                        assets.iter().any(|(name, _, _)| *name == file),
                        "{file} is not served"
                    );
                    named += 1;
                }
            }
            assert!(named >= 2, "a page loads its script and its stylesheet");
        }
    }

    #[test]
    fn pages_are_told_apart_from_the_api() {
        assert!(is_page("/docs"));
        assert!(is_page("/docs/assets/reference.js"));
        assert!(!is_page("/docsx"));
        assert!(!is_page("/api/v0.4/admin/api-keys"));
    }
}
