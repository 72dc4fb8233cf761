//! What `alphamoon-client` costs per call over a minimal hand-written
//! reqwest request doing the same work (same list request, same response
//! type), for `cargo xtask bench`. The two are interleaved in batches
//! against the same running server, so that drift on a noisy machine hits
//! both alike.
//!
//! Usage: `bench_overhead BASE_URL API_KEY CALLS`; prints one JSON line.

use std::time::{Duration, Instant};

use alphamoon_client::{Client, RetryPolicy, types};
use base64::Engine as _;

const BATCH: usize = 20;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(base_url), Some(key), Some(calls)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: bench_overhead BASE_URL API_KEY CALLS".into());
    };
    let calls: usize = calls.parse()?;

    let client = Client::builder(&key)
        .base_url(&base_url)
        .retry_policy(RetryPolicy::none())
        .build()?;

    // The baseline: one request built by hand, the body parsed into the
    // same generated type.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let raw = reqwest::Client::new();
    let url = format!("{base_url}/api/v0.4/admin/api-keys?limit=10");
    let authorization = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(&key)
    );
    let raw_call = || async {
        let bytes = raw
            .get(&url)
            .header("authorization", &authorization)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await?;
        let page: types::ApiKeyList = serde_json::from_slice(&bytes)?;
        Ok::<_, Box<dyn std::error::Error>>(page)
    };
    let client_call = || async {
        let page = client.list_api_keys().limit(10).send().await?.into_inner();
        Ok::<_, Box<dyn std::error::Error>>(page)
    };

    // Warm both connection pools.
    for _ in 0..BATCH {
        raw_call().await?;
        client_call().await?;
    }
    let mut raw_batches = Vec::new();
    let mut client_batches = Vec::new();
    for round in 0..calls.div_ceil(BATCH) {
        // Alternate which goes first, so neither always follows the other.
        for first in [round % 2 == 0, round % 2 == 1] {
            let started = Instant::now();
            for _ in 0..BATCH {
                if first {
                    client_call().await?;
                } else {
                    raw_call().await?;
                }
            }
            let per_call = started.elapsed() / BATCH as u32;
            if first {
                client_batches.push(per_call);
            } else {
                raw_batches.push(per_call);
            }
        }
    }
    let client_us = median(&mut client_batches).as_secs_f64() * 1e6;
    let raw_us = median(&mut raw_batches).as_secs_f64() * 1e6;
    println!(
        "{{\"client_us\":{client_us:.1},\"raw_us\":{raw_us:.1},\"ratio\":{:.3},\"calls\":{}}}",
        client_us / raw_us,
        client_batches.len() * BATCH
    );
    Ok(())
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
