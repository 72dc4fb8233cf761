//! Throughput: the sandbox against Prism and the bare ceiling, for two
//! list sizes and a create.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use super::Scale;
use super::server::{self, Database, LIST};
use super::wrk::{self, Load, basic, median_of};

/// Concurrent connections for every run.
pub(super) const CONNECTIONS: u32 = 16;

/// A create request, far enough from expiring that every run is valid.
const CREATE_SCRIPT: &str = "wrk.method = \"POST\"\n\
    wrk.headers[\"Content-Type\"] = \"application/json\"\n\
    wrk.body = '{\"name\":\"bench\",\"exp\":\"2100-01-01T00:00:00Z\",\"scopes\":[\"workspace.file:upload\"]}'\n";

/// The rows other tables compare against, measured in the same run: the
/// SQLite sandbox's and Prism's load for each request.
#[derive(Debug, Default)]
pub(super) struct Baseline {
    pub(super) list10: (Load, Load),
    pub(super) create: (Load, Load),
}

/// Writes the wrk script that sends a create, and returns its path.
pub(super) fn create_script(work: &Path) -> Result<std::path::PathBuf, String> {
    let script = work.join("create.lua");
    fs::write(&script, CREATE_SCRIPT)
        .map_err(|e| format!("cannot write {}: {e}", script.display()))?;
    Ok(script)
}

pub(super) fn run(root: &Path, work: &Path, scale: &Scale) -> Result<(String, Baseline), String> {
    let db = server::fresh_db(work, "throughput.db");
    let key10 = server::seeded_org(root, Database::Sqlite(&db), "ten", 10)?;
    let key100 = server::seeded_org(root, Database::Sqlite(&db), "hundred", 100)?;
    let key_create = server::seeded_org(root, Database::Sqlite(&db), "creates", 1)?;
    let sandbox = server::sandbox(root, Database::Sqlite(&db))?;
    let ceiling = server::ceiling(root)?;
    let prism = server::prism(root, work)?;

    let script = create_script(work)?;
    let mut baseline = Baseline::default();

    let mut report = format!(
        "### Sandbox vs Prism vs a bare axum server\n\n\
         wrk, 1 thread, {CONNECTIONS} connections, {}s per run, median of {}; the sandbox is a release build \
         with its rate limit off.\n\n\
         | request | server | req/s | p50 ms | p99 ms | MB/s | × Prism | of ceiling |\n|---|---|---|---|---|---|---|---|\n",
        scale.seconds, scale.repeats
    );
    let cases: [(&str, String, &str, Option<&Path>); 3] = [
        (
            "GET ?limit=10 (10 keys)",
            format!("{LIST}?limit=10"),
            &key10,
            None,
        ),
        (
            "GET ?limit=100 (100 keys)",
            format!("{LIST}?limit=100"),
            &key100,
            None,
        ),
        ("POST create", LIST.to_owned(), &key_create, Some(&script)),
    ];
    for (label, path, key, script) in cases {
        let auth = basic(key);
        let measure = |base: &str| {
            median_of(scale.repeats, || {
                wrk::run(
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
        if path.ends_with("limit=10") {
            baseline.list10 = (ours, mock);
        } else if script.is_some() {
            baseline.create = (ours, mock);
        }
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
    report.push_str(
        "\nTargets on `limit=10`: at least 25× Prism and 40 % of the ceiling, with p99 under 5 ms.",
    );
    Ok((report, baseline))
}
