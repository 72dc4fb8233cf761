//! Client overhead: the client's cost per call over a raw reqwest request,
//! measured by the `bench_overhead` example in interleaved batches.

use std::path::Path;
use std::process::Command;

use super::Scale;
use super::server::{self, Database};

pub(super) fn run(root: &Path, work: &Path, scale: &Scale) -> Result<String, String> {
    let db = server::fresh_db(work, "overhead.db");
    let key = server::seeded_org(root, Database::Sqlite(&db), "overhead", 10)?;
    let sandbox = server::sandbox(root, Database::Sqlite(&db))?;
    let output = Command::new(crate::target_dir(root).join("release/examples/bench_overhead"))
        .arg(&sandbox.url)
        .arg(&key)
        .arg(scale.calls.to_string())
        .output()
        .map_err(|e| format!("cannot run bench_overhead: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "bench_overhead failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let result: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("bench_overhead printed something other than its JSON result: {e}"))?;
    Ok(format!(
        "### Client overhead\n\n\
         {} sequential `GET ?limit=10` calls each, interleaved in batches of 20, against the release sandbox.\n\n\
         | path | µs per call (median batch) |\n|---|---|\n\
         | alphamoon-client | {} |\n| raw reqwest + serde | {} |\n\n\
         Ratio {}× (target ≤ 1.05×).",
        result["calls"], result["client_us"], result["raw_us"], result["ratio"]
    ))
}
