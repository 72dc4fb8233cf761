//! The ceiling for `cargo xtask bench`: a bare axum server that answers
//! every request with the same small JSON body. It does the least work any
//! HTTP server built on this stack can do, so no real server of ours can
//! beat it on the same machine.
//!
//! Usage: `bench_ceiling ADDR`; prints `listening on http://ADDR`.

use axum::http::header;
use axum::response::IntoResponse;

const BODY: &str = r#"{"apiKeys":[],"pagination":{"offset":0,"limit":10,"total":0}}"#;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(|| async {
        ([(header::CONTENT_TYPE, "application/json")], BODY).into_response()
    });
    axum::serve(listener, app).await
}
