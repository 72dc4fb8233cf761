//! The ceiling for `cargo xtask bench`: a bare axum server that answers
//! every request with one captured answer, the exact bytes the sandbox sent
//! for the request being measured. It does the least work any server on
//! this stack can do to send those bytes, so the gap between it and the
//! sandbox is the sandbox's own work per request, whatever the answer's
//! size.
//!
//! Usage: `bench_ceiling ADDR ANSWER_FILE`, where ANSWER_FILE holds header
//! lines (`name: value`), an empty line and the body, as the bench writes
//! it; prints `listening on http://ADDR`.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// The answer to replay, parsed once.
fn answer(file: &str) -> Result<(HeaderMap, Bytes), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))?;
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("{file} has no empty line after its headers"))?;
    let head = std::str::from_utf8(&bytes[..split]).map_err(|e| format!("{file}: {e}"))?;
    let mut headers = HeaderMap::new();
    for line in head.split("\r\n") {
        let (name, value) = line
            .split_once(": ")
            .ok_or_else(|| format!("{file}: not a header line: {line:?}"))?;
        headers.insert(
            HeaderName::try_from(name).map_err(|e| format!("{file}: {e}"))?,
            HeaderValue::try_from(value).map_err(|e| format!("{file}: {e}"))?,
        );
    }
    Ok((headers, Bytes::copy_from_slice(&bytes[split + 4..])))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(file)) = (args.next(), args.next()) else {
        return Err("usage: bench_ceiling ADDR ANSWER_FILE".to_owned());
    };
    let (headers, body) = answer(&file)?;
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on http://{local}");
    // Both are reference-counted: cloning them per request copies nothing.
    let app = axum::Router::new().fallback(move || {
        let (headers, body) = (headers.clone(), body.clone());
        async move { (headers, body) }
    });
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
