//! `cargo xtask bench`: speed, measured side by side in one run and
//! reported as ratios (medians of repeated runs), because this machine is
//! shared and noisy. Timings are reported, never asserted.
//!
//! - the sandbox against Prism (a stateless mock of the same spec) and a
//!   bare axum server (the ceiling), all driven by wrk;
//! - the sandbox's latency as its store grows;
//! - the client's cost per call over a raw reqwest request;
//! - with `--build`, the client's clean build time over a control crate.
//!
//! `--smoke` runs everything at tiny sizes in seconds, so that the bench
//! cannot rot; `cargo xtask ci` runs it that way.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::conformance::{must, npm_ci};
use crate::process::Server;

/// The scale of a run.
struct Scale {
    /// Seconds per wrk run.
    seconds: u32,
    /// Runs per measurement; the median is reported.
    repeats: usize,
    /// Store sizes for the growth benchmark, smallest first.
    growth: &'static [usize],
    /// Sequential calls for the client overhead benchmark.
    calls: usize,
}

const FULL: Scale = Scale {
    seconds: 5,
    repeats: 3,
    growth: &[1_000, 100_000, 1_000_000],
    calls: 4_000,
};

const SMOKE: Scale = Scale {
    seconds: 1,
    repeats: 1,
    growth: &[100, 1_000],
    calls: 100,
};

/// Concurrent connections for the throughput runs.
const CONNECTIONS: u32 = 16;

/// One wrk measurement.
#[derive(Clone, Copy, Debug, Default)]
struct Load {
    requests_per_sec: f64,
    bytes_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let build = args.iter().any(|a| a == "--build");
    if let Some(unknown) = args
        .iter()
        .find(|a| !matches!(a.as_str(), "--smoke" | "--build"))
    {
        return Err(format!(
            "unknown bench option `{unknown}` (use --smoke, --build)"
        ));
    }
    let scale = if smoke { &SMOKE } else { &FULL };
    let work = root.join("target/bench");
    fs::create_dir_all(&work).map_err(|e| e.to_string())?;

    ensure_wrk()?;
    npm_ci(&root.join("xtask/bench"), &work.join("node"))?;
    // One invocation, so that the shared dependencies are built once with
    // one feature set.
    crate::cargo(
        root,
        &[
            "build",
            "--release",
            "--locked",
            "--package",
            "alphamoon-sandbox",
            "--package",
            "alphamoon-client",
            "--bin",
            "alphamoon-sandbox",
            "--example",
            "bench_ceiling",
            "--example",
            "bench_overhead",
        ],
    )?;

    let mut report = String::new();
    let _ = writeln!(
        report,
        "Run on {} with {} cores{}.\n",
        chrono_free_date(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if smoke {
            " (smoke: tiny sizes, numbers not meaningful)"
        } else {
            ""
        }
    );
    throughput(root, &work, scale, &mut report)?;
    growth(root, &work, scale, &mut report)?;
    client_overhead(root, &work, scale, &mut report)?;
    if build {
        build_cost(root, &work, &mut report)?;
    }
    println!("\n{report}");
    let path = work.join("report.md");
    fs::write(&path, &report).map_err(|e| e.to_string())?;
    println!("written to {}", path.display());
    Ok(())
}

/// Today's date from `date`, to avoid a date dependency for one line.
fn chrono_free_date() -> String {
    Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map_or_else(|| "an unknown date".to_owned(), |d| d.trim().to_owned())
}

/// wrk comes from Debian's packages; install it when missing and allowed.
fn ensure_wrk() -> Result<(), String> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    eprintln!("wrk is missing; installing it with apt-get");
    must(Command::new("apt-get").args(["update", "-qq"]))?;
    must(Command::new("apt-get").args(["install", "-y", "-qq", "wrk"]))
        .map_err(|e| format!("{e}; install wrk (Debian: apt-get install wrk) and retry"))
}

fn sandbox_bin(root: &Path) -> PathBuf {
    root.join("target/release/alphamoon-sandbox")
}

/// Creates an organization holding `keys` keys in `db` (the admin key
/// included) and returns its admin key.
fn seeded_org(root: &Path, db: &Path, name: &str, keys: usize) -> Result<String, String> {
    let output = Command::new(sandbox_bin(root))
        .args(["org", "create", "--name", name, "--filler-keys"])
        .arg((keys.saturating_sub(1)).to_string())
        .arg("--db")
        .arg(db)
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "seeding {} failed: {}",
            db.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn fresh_db(work: &Path, name: &str) -> PathBuf {
    let db = work.join(name);
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", db.display()));
    }
    db
}

fn start_sandbox(root: &Path, db: &Path) -> Result<Server, String> {
    Server::start(
        Command::new(sandbox_bin(root))
            .args(["--listen", "127.0.0.1:0", "--rate-limit", "0", "--db"])
            .arg(db),
    )
}

/// `Basic base64(key + ":")`: the RFC 7617 form, which the sandbox accepts
/// and Prism requires (it refuses credentials without a colon).
fn basic(key: &str) -> String {
    format!(
        "Basic {}",
        base64_free::encode(format!("{key}:").as_bytes())
    )
}

/// Standard base64 for one header, to keep the xtask free of an encoding
/// dependency.
mod base64_free {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub(super) fn encode(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn matches_rfc_4648_vectors() {
            for (plain, encoded) in [
                ("", ""),
                ("f", "Zg=="),
                ("fo", "Zm8="),
                ("foo", "Zm9v"),
                ("foobar", "Zm9vYmFy"),
            ] {
                assert_eq!(super::encode(plain.as_bytes()), encoded);
            }
        }
    }
}

/// One wrk run; `script` (Lua) sets a method and body where needed.
fn wrk(
    url: &str,
    authorization: &str,
    connections: u32,
    seconds: u32,
    script: Option<&Path>,
) -> Result<Load, String> {
    let mut command = Command::new("wrk");
    command
        .args(["--latency", "-t1"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .args(["-H", &format!("Authorization: {authorization}")]);
    if let Some(script) = script {
        command.arg("-s").arg(script);
    }
    let output = command
        .arg(url)
        .output()
        .map_err(|e| format!("cannot run wrk: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!("wrk failed: {text}"));
    }
    parse_wrk(&text).ok_or_else(|| format!("cannot read wrk's output:\n{text}"))
}

/// Reads requests/s, transfer/s and the p50/p99 latencies from wrk's
/// `--latency` report. Non-2xx answers make the run invalid.
fn parse_wrk(text: &str) -> Option<Load> {
    if text.contains("Non-2xx or 3xx responses") {
        return None;
    }
    let value = |prefix: &str| -> Option<&str> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(str::trim)
    };
    let duration_ms = |v: &str| -> Option<f64> {
        let (number, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
        let number: f64 = number.parse().ok()?;
        Some(match unit {
            "us" => number / 1000.0,
            "ms" => number,
            "s" => number * 1000.0,
            "m" => number * 60_000.0,
            _ => return None,
        })
    };
    let bytes = |v: &str| -> Option<f64> {
        let (number, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
        let number: f64 = number.parse().ok()?;
        Some(
            number
                * match unit {
                    "B" => 1.0,
                    "KB" => 1024.0,
                    "MB" => 1024.0 * 1024.0,
                    "GB" => 1024.0 * 1024.0 * 1024.0,
                    _ => return None,
                },
        )
    };
    Some(Load {
        requests_per_sec: value("Requests/sec:")?.parse().ok()?,
        bytes_per_sec: bytes(value("Transfer/sec:")?)?,
        p50_ms: duration_ms(value("50%")?)?,
        p99_ms: duration_ms(value("99%")?)?,
    })
}

/// The run with the median throughput of `repeats` runs.
fn median_of(
    repeats: usize,
    mut measure: impl FnMut() -> Result<Load, String>,
) -> Result<Load, String> {
    let mut runs = (0..repeats)
        .map(|_| measure())
        .collect::<Result<Vec<_>, _>>()?;
    runs.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
    Ok(runs[runs.len() / 2])
}

fn wait_for_port(url: &str, timeout: Duration) -> Result<(), String> {
    let addr = url.trim_start_matches("http://");
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("nothing listens on {url} after {timeout:?}"))
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

const LIST: &str = "/api/v0.4/admin/api-keys";

/// Sandbox vs Prism vs the bare ceiling, for three requests.
fn throughput(root: &Path, work: &Path, scale: &Scale, report: &mut String) -> Result<(), String> {
    let db = fresh_db(work, "throughput.db");
    let key10 = seeded_org(root, &db, "ten", 10)?;
    let key100 = seeded_org(root, &db, "hundred", 100)?;
    let key_create = seeded_org(root, &db, "creates", 1)?;
    let sandbox = start_sandbox(root, &db)?;
    let ceiling = Server::start(&mut Command::new(
        root.join("target/release/examples/bench_ceiling"),
    ))?;
    let prism_port = free_port()?;
    let prism = Server::adopt(
        Command::new(work.join("node/node_modules/.bin/prism"))
            .args([
                "mock",
                "--host",
                "127.0.0.1",
                "--port",
                &prism_port.to_string(),
                "--errors",
                "false",
            ])
            .arg(root.join("openapi/alphamoon-workspace.json"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start prism: {e}"))?,
        format!("http://127.0.0.1:{prism_port}"),
    );
    wait_for_port(&prism.url, Duration::from_secs(60))?;

    let exp_year = 2100;
    let script = work.join("create.lua");
    fs::write(
        &script,
        format!(
            "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n\
             wrk.body = '{{\"name\":\"bench\",\"exp\":\"{exp_year}-01-01T00:00:00Z\",\"scopes\":[\"workspace.file:upload\"]}}'\n"
        ),
    )
    .map_err(|e| e.to_string())?;

    let _ = writeln!(
        report,
        "### Sandbox vs Prism vs a bare axum server\n\n\
         wrk, 1 thread, {CONNECTIONS} connections, {}s per run, median of {}; the sandbox is a release build \
         with its rate limit off.\n\n\
         | request | server | req/s | p50 ms | p99 ms | MB/s | × Prism | of ceiling |\n|---|---|---|---|---|---|---|---|",
        scale.seconds, scale.repeats
    );
    let cases: [(&str, String, &str, Option<&Path>); 3] = [
        (
            "GET ?limit=10 (10 keys)",
            format!("{LIST}?limit=10"),
            key10.as_str(),
            None,
        ),
        (
            "GET ?limit=100 (100 keys)",
            format!("{LIST}?limit=100"),
            key100.as_str(),
            None,
        ),
        (
            "POST create",
            LIST.to_owned(),
            key_create.as_str(),
            Some(script.as_path()),
        ),
    ];
    for (label, path, key, script) in cases {
        let auth = basic(key);
        let measure = |base: &str| {
            median_of(scale.repeats, || {
                wrk(
                    &format!("{base}{path}"),
                    &auth,
                    CONNECTIONS,
                    scale.seconds,
                    script,
                )
            })
        };
        let ours = measure(&sandbox.url)?;
        let mock = measure(&prism.url)?;
        let top = measure(&ceiling.url)?;
        for (server, load) in [("sandbox", ours), ("Prism", mock), ("ceiling", top)] {
            let _ = writeln!(
                report,
                "| {label} | {server} | {:.0} | {:.2} | {:.2} | {:.1} | {:.1}× | {:.0} % |",
                load.requests_per_sec,
                load.p50_ms,
                load.p99_ms,
                load.bytes_per_sec / (1024.0 * 1024.0),
                load.requests_per_sec / mock.requests_per_sec,
                100.0 * load.requests_per_sec / top.requests_per_sec,
            );
        }
    }
    let _ = writeln!(
        report,
        "\nTargets on `limit=10`: at least 25× Prism and 40 % of the ceiling, with p99 under 5 ms.\n"
    );
    Ok(())
}

/// Latency of auth + first page and of a deep page as the store grows.
fn growth(root: &Path, work: &Path, scale: &Scale, report: &mut String) -> Result<(), String> {
    let _ = writeln!(
        report,
        "### Cost as the store grows\n\n\
         One organization holds every key; wrk with 1 connection, {}s per run, median of {}.\n\n\
         | keys | seed s | auth + first page p50 ms | deep page (offset 90 %) p50 ms |\n|---|---|---|---|",
        scale.seconds, scale.repeats
    );
    let mut rows = Vec::new();
    for &keys in scale.growth {
        let db = fresh_db(work, &format!("growth-{keys}.db"));
        let started = Instant::now();
        let key = seeded_org(root, &db, "big", keys)?;
        let seeded = started.elapsed().as_secs_f64();
        let sandbox = start_sandbox(root, &db)?;
        let auth = basic(&key);
        let first = median_of(scale.repeats, || {
            wrk(
                &format!("{}{LIST}?limit=100", sandbox.url),
                &auth,
                1,
                scale.seconds,
                None,
            )
        })?;
        let deep = median_of(scale.repeats, || {
            wrk(
                &format!("{}{LIST}?offset={}&limit=100", sandbox.url, keys * 9 / 10),
                &auth,
                1,
                scale.seconds,
                None,
            )
        })?;
        let _ = writeln!(
            report,
            "| {keys} | {seeded:.1} | {:.3} | {:.3} |",
            first.p50_ms, deep.p50_ms
        );
        rows.push((keys, first.p50_ms, deep.p50_ms));
        drop(sandbox);
        for suffix in ["", "-wal", "-shm"] {
            let _ = fs::remove_file(format!("{}{suffix}", db.display()));
        }
    }
    if let (Some(small), Some(large)) = (rows.first(), rows.last()) {
        let _ = writeln!(
            report,
            "\n{}/{} keys: auth + first page {:.2}× (target ≤ 1.5×), deep page {:.1}×. \
             A deep page costs what OFFSET costs: SQLite walks the index past every skipped \
             row, so it grows with the offset; keyset paging would not, but the API defines \
             offset paging.\n",
            large.0,
            small.0,
            large.1 / small.1,
            large.2 / small.2
        );
    }
    Ok(())
}

/// The client's cost per call over raw reqwest, interleaved.
fn client_overhead(
    root: &Path,
    work: &Path,
    scale: &Scale,
    report: &mut String,
) -> Result<(), String> {
    let db = fresh_db(work, "overhead.db");
    let key = seeded_org(root, &db, "overhead", 10)?;
    let sandbox = start_sandbox(root, &db)?;
    let output = Command::new(root.join("target/release/examples/bench_overhead"))
        .arg(&sandbox.url)
        .arg(&key)
        .arg(scale.calls.to_string())
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "bench_overhead failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let result: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("bench_overhead output: {e}"))?;
    let _ = writeln!(
        report,
        "### Client overhead\n\n\
         {} sequential `GET ?limit=10` calls each, interleaved in batches of 20, against the release sandbox.\n\n\
         | path | µs per call (median batch) |\n|---|---|\n\
         | alphamoon-client | {} |\n| raw reqwest + serde | {} |\n\n\
         Ratio {}× (target ≤ 1.05×).\n",
        result["calls"], result["client_us"], result["raw_us"], result["ratio"]
    );
    Ok(())
}

/// Clean debug builds of the client and of a control crate with the same
/// runtime dependencies but no build script or code generation.
fn build_cost(root: &Path, work: &Path, report: &mut String) -> Result<(), String> {
    let control = work.join("control");
    let _ = fs::remove_dir_all(&control);
    fs::create_dir_all(control.join("crate/src")).map_err(|e| e.to_string())?;
    let workspace = fs::read_to_string(root.join("Cargo.toml")).map_err(|e| e.to_string())?;
    let manifest =
        fs::read_to_string(root.join("crates/client/Cargo.toml")).map_err(|e| e.to_string())?;
    let section = |text: &str, header: &str| -> String {
        text.split(&format!("{header}\n"))
            .nth(1)
            .map(|rest| rest.split("\n[").next().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    // The same pins and features: the workspace's dependency table (less
    // its path dependencies) and the client's runtime dependencies.
    let pins: String = section(&workspace, "[workspace.dependencies]")
        .lines()
        .filter(|l| !l.contains("path ="))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(
        control.join("Cargo.toml"),
        format!(
            "[workspace]\nmembers = [\"crate\"]\nresolver = \"3\"\n\n[workspace.dependencies]\n{pins}\n[profile.dev.package.\"*\"]\ndebug = false\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    fs::write(
        control.join("crate/Cargo.toml"),
        format!(
            "[package]\nname = \"control\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\n{}\n",
            section(&manifest, "[dependencies]")
        ),
    )
    .map_err(|e| e.to_string())?;
    fs::write(
        control.join("crate/src/lib.rs"),
        "//! Links the client's dependencies and nothing else.\n",
    )
    .map_err(|e| e.to_string())?;
    fs::copy(root.join("Cargo.lock"), control.join("Cargo.lock")).map_err(|e| e.to_string())?;

    let timed = |dir: &Path, target: &Path, args: &[&str]| -> Result<f64, String> {
        let _ = fs::remove_dir_all(target);
        let started = Instant::now();
        must(
            Command::new("cargo")
                .args(args)
                .env("CARGO_TARGET_DIR", target)
                .current_dir(dir),
        )?;
        Ok(started.elapsed().as_secs_f64())
    };
    let client = timed(
        root,
        &work.join("build-client"),
        &[
            "build",
            "--locked",
            "--package",
            "alphamoon-client",
            "--timings",
        ],
    )?;
    let baseline = timed(&control, &work.join("build-control"), &["build"])?;
    let _ = writeln!(
        report,
        "### Build cost\n\n\
         Clean debug builds, one after the other.\n\n\
         | crate | seconds |\n|---|---|\n| alphamoon-client | {client:.0} |\n| control (same dependencies, no build script) | {baseline:.0} |\n\n\
         Ratio {:.2}× (target ≤ 1.3×). Per-crate times: `{}`.\n",
        client / baseline,
        work.join("build-client/cargo-timings/cargo-timing.html")
            .display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrk_latency_reports() {
        let text = "Running 1s test @ http://127.0.0.1:1/\n  1 threads and 16 connections\n\
            \x20 Thread Stats   Avg      Stdev     Max   +/- Stdev\n\
            \x20   Latency   200.00us  100.00us   2.00ms   90.00%\n\
            \x20 Latency Distribution\n     50%  180.00us\n     75%  220.00us\n     90%  300.00us\n     99%    1.20ms\n\
            \x20 50000 requests in 1.00s, 10.00MB read\nRequests/sec:  50000.00\nTransfer/sec:     10.00MB\n";
        let load = parse_wrk(text).expect("parsed");
        assert!((load.requests_per_sec - 50_000.0).abs() < 1e-6);
        assert!((load.p50_ms - 0.18).abs() < 1e-9);
        assert!((load.p99_ms - 1.2).abs() < 1e-9);
        assert!((load.bytes_per_sec - 10.0 * 1024.0 * 1024.0).abs() < 1e-3);
        assert!(parse_wrk(&format!("{text}  Non-2xx or 3xx responses: 3\n")).is_none());
    }
}
