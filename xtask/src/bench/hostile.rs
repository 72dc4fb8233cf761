//! Hostile request targets: what an unauthenticated caller can make the
//! sandbox do. Every request is refused (401), but before that the
//! journal redacts the target, so a target built to be expensive to redact
//! (the key prefix over and over, as long as the API accepts) is measured
//! beside a plain one. Their ratio is the cost of that work.

use std::fmt::Write as _;
use std::path::Path;

use super::Scale;
use super::server::{self, Database, LIST};
use super::throughput::{CONNECTIONS, shown};
use super::wrk::{self, Answers, Load, median_of};

/// The longest request target the sandbox accepts.
const MAX_TARGET: usize = 8 * 1024;

/// Credentials that are no key at all: every request is a 401.
const NO_KEY: &str = "Basic bm90LWEta2V5";

/// `LIST` with a query of the key prefix repeated, `MAX_TARGET` bytes in
/// all.
fn hostile_target() -> String {
    let mut target = format!("{LIST}?q=");
    let prefix = "amk_";
    while target.len() + prefix.len() <= MAX_TARGET {
        target.push_str(prefix);
    }
    target
}

pub(super) fn run(root: &Path, work: &Path, scale: &Scale) -> Result<String, String> {
    let db = server::fresh_db(work, "hostile.db");
    // The control plane on, so that the journal records (and redacts)
    // every request.
    let token = work.join("hostile.token");
    let _ = std::fs::remove_file(&token);
    let sandbox = server::sandbox_with(
        root,
        Database::Sqlite(&db),
        &["--control-token-file".as_ref(), token.as_os_str()],
    )?;
    let measure = |target: &str| -> Result<Load, String> {
        median_of(scale.repeats, || {
            wrk::run_expecting(
                &format!("{}{target}", sandbox.url),
                NO_KEY,
                CONNECTIONS,
                scale.seconds,
                None,
                Answers::Refusals,
            )
        })
    };
    let plain = measure(LIST)?;
    let hostile = measure(&hostile_target())?;
    drop(sandbox);
    server::remove_db(&db);

    let mut report = format!(
        "### Hostile targets, unauthenticated\n\n\
         wrk, {CONNECTIONS} connections, {}s per run, median of {}, against the release sandbox with \
         its control plane on (so the journal records every request). Both requests carry no valid \
         key and get a 401; the hostile one's target is {MAX_TARGET} bytes, the most the sandbox \
         accepts, of `amk_` over and over, which the journal must redact.\n\n\
         | request | req/s | p50 ms | p99 ms | × plain |\n|---|---|---|---|---|\n",
        scale.seconds, scale.repeats
    );
    for (label, load) in [
        ("plain 401", plain),
        ("8 KiB target of `amk_`, 401", hostile),
    ] {
        let _ = writeln!(
            report,
            "| {label} | {:.0} | {:.2} | {:.2} | {} |",
            load.requests_per_sec,
            load.p50_ms,
            load.p99_ms,
            shown(wrk::ratio(load, plain), |times| format!("{times:.2}×")),
        );
    }
    Ok(report.trim_end().to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_hostile_target_is_as_long_as_the_sandbox_accepts() {
        let target = super::hostile_target();
        assert!(target.len() <= super::MAX_TARGET);
        assert!(target.len() > super::MAX_TARGET - 4);
        assert!(target.ends_with("amk_amk_"));
    }
}
