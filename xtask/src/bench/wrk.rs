//! Driving wrk: installing it, running it, reading its report, and taking
//! the median of repeated runs.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;

/// One wrk measurement.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Load {
    /// Requests completed in the whole run.
    pub(super) requests: u64,
    pub(super) requests_per_sec: f64,
    pub(super) bytes_per_sec: f64,
    pub(super) p50_ms: f64,
    pub(super) p99_ms: f64,
}

/// wrk comes from Debian's packages; install it when missing and allowed.
pub(super) fn ensure_installed() -> Result<(), String> {
    if Command::new("wrk").arg("--version").output().is_ok() {
        return Ok(());
    }
    crate::process::apt_install(&["wrk"])
}

/// `Basic base64(key + ":")`: the RFC 7617 form, which the sandbox accepts
/// and Prism requires (it refuses credentials without a colon).
pub(super) fn basic(key: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{key}:"));
    format!("Basic {encoded}")
}

/// One wrk run; `script` (Lua) sets a method and body where needed. Any
/// answer other than a success makes the run invalid.
pub(super) fn run(
    url: &str,
    authorization: &str,
    connections: u32,
    seconds: u32,
    script: Option<&Path>,
) -> Result<Load, String> {
    run_expecting(
        url,
        authorization,
        connections,
        seconds,
        script,
        Answers::Success,
    )
}

/// What a run's answers must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Answers {
    /// Successes only.
    Success,
    /// Refusals are the point of the run (say, a 401 to every request),
    /// and a run that saw none is invalid.
    Refusals,
}

/// One wrk run whose answers must be as `answers` says.
pub(super) fn run_expecting(
    url: &str,
    authorization: &str,
    connections: u32,
    seconds: u32,
    script: Option<&Path>,
    answers: Answers,
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
        return Err(format!(
            "wrk failed ({}) on {url}: {text}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse(&text, answers).map_err(|problem| format!("{problem} for {url}:\n{text}"))
}

/// The fewest requests a run must complete for a ratio to it to mean
/// anything: a peer that barely answered would make any ratio look met.
pub(super) const MIN_REQUESTS: u64 = 50;

/// `numerator`'s throughput over `denominator`'s, or `None` (unmeasured)
/// when either completed too few requests to tell.
pub(super) fn ratio(numerator: Load, denominator: Load) -> Option<f64> {
    (numerator.requests >= MIN_REQUESTS && denominator.requests >= MIN_REQUESTS)
        .then(|| numerator.requests_per_sec / denominator.requests_per_sec)
}

/// Reads the requests completed, requests/s, transfer/s and the p50/p99
/// latencies from wrk's `--latency` report. A run with socket errors
/// (connects, reads or writes that failed, or requests that timed out) is
/// refused, and so is one that expected successes and saw anything else:
/// their numbers do not measure what the row says.
fn parse(text: &str, answers: Answers) -> Result<Load, &'static str> {
    fn split_unit(v: &str) -> Option<(f64, &str)> {
        let (number, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
        Some((number.parse().ok()?, unit))
    }

    if text.contains("Socket errors:") {
        return Err("wrk saw socket errors or timeouts");
    }
    let refused = text.contains("Non-2xx or 3xx responses");
    if answers == Answers::Success && refused {
        return Err("wrk saw answers other than successes");
    }
    if answers == Answers::Refusals && !refused {
        return Err("wrk saw no refusals, which the run is about");
    }
    read_numbers(text, split_unit).ok_or("cannot read wrk's output")
}

fn read_numbers(text: &str, split_unit: fn(&str) -> Option<(f64, &str)>) -> Option<Load> {
    let value = |prefix: &str| -> Option<&str> {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix))
            .map(str::trim)
    };
    let duration_ms = |v: &str| -> Option<f64> {
        let (number, unit) = split_unit(v)?;
        Some(match unit {
            "us" => number / 1000.0,
            "ms" => number,
            "s" => number * 1000.0,
            "m" => number * 60_000.0,
            _ => return None,
        })
    };
    let bytes = |v: &str| -> Option<f64> {
        let (number, unit) = split_unit(v)?;
        let scale = match unit {
            "B" => 1.0,
            "KB" => 1024.0,
            "MB" => 1024.0 * 1024.0,
            "GB" => 1024.0 * 1024.0 * 1024.0,
            _ => return None,
        };
        Some(number * scale)
    };
    let requests = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(count, _)| count.trim().parse().ok())?;
    Some(Load {
        requests,
        requests_per_sec: value("Requests/sec:")?.parse().ok()?,
        bytes_per_sec: bytes(value("Transfer/sec:")?)?,
        p50_ms: duration_ms(value("50%")?)?,
        p99_ms: duration_ms(value("99%")?)?,
    })
}

/// The run with the median throughput of `repeats` runs.
pub(super) fn median_of(
    repeats: usize,
    mut measure: impl FnMut() -> Result<Load, String>,
) -> Result<Load, String> {
    let mut runs = (0..repeats.max(1))
        .map(|_| measure())
        .collect::<Result<Vec<_>, _>>()?;
    runs.sort_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
    Ok(runs[runs.len() / 2])
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
        let load = parse(text, Answers::Success).expect("parsed");
        assert!(parse(text, Answers::Refusals).is_err(), "no refusal seen");
        assert_eq!(load.requests, 50_000);
        assert!((load.requests_per_sec - 50_000.0).abs() < 1e-6);
        assert!((load.p50_ms - 0.18).abs() < 1e-9);
        assert!((load.p99_ms - 1.2).abs() < 1e-9);
        assert!((load.bytes_per_sec - 10.0 * 1024.0 * 1024.0).abs() < 1e-3);
        let refused = format!("{text}  Non-2xx or 3xx responses: 3\n");
        assert!(parse(&refused, Answers::Success).is_err());
        assert!(parse(&refused, Answers::Refusals).is_ok());
        let broken = format!("{text}  Socket errors: connect 0, read 2, write 0, timeout 5\n");
        assert!(parse(&broken, Answers::Refusals).is_err());
    }

    #[test]
    fn a_ratio_to_a_run_that_barely_completed_is_unmeasured() {
        let run = |requests, requests_per_sec| Load {
            requests,
            requests_per_sec,
            ..Load::default()
        };
        assert_eq!(ratio(run(1_000, 100.0), run(500, 50.0)), Some(2.0));
        assert_eq!(ratio(run(1_000, 100.0), run(3, 0.3)), None);
        assert_eq!(ratio(run(2, 0.2), run(1_000, 100.0)), None);
    }

    #[test]
    fn basic_credentials_carry_the_colon() {
        assert_eq!(basic("foo"), "Basic Zm9vOg==");
    }

    #[test]
    fn the_median_run_is_the_middle_one_by_throughput() {
        let mut rates = [300.0, 100.0, 200.0].into_iter();
        let median = median_of(3, || {
            Ok(Load {
                requests_per_sec: rates.next().expect("three runs"),
                ..Load::default()
            })
        });
        assert!((median.expect("measured").requests_per_sec - 200.0).abs() < 1e-9);
    }
}
