//! Growth: the latency of auth + first page, and of a deep page, as one
//! organization's store grows.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use super::Scale;
use super::server::{self, Database, LIST};
use super::wrk::{self, basic, median_of};

pub(super) fn run(root: &Path, work: &Path, scale: &Scale) -> Result<String, String> {
    let mut report = format!(
        "### Cost as the store grows\n\n\
         One organization holds every key; wrk with 1 connection, {}s per run, median of {}.\n\n\
         | keys | seed s | auth + first page p50 ms | deep page (offset 90 %) p50 ms |\n|---|---|---|---|\n",
        scale.seconds, scale.repeats
    );
    let mut rows = Vec::new();
    for &keys in scale.growth {
        let db = server::fresh_db(work, &format!("growth-{keys}.db"));
        let started = Instant::now();
        let key = server::seeded_org(root, Database::Sqlite(&db), "big", keys)?;
        let seeded = started.elapsed().as_secs_f64();
        let sandbox = server::sandbox(root, Database::Sqlite(&db))?;
        let auth = basic(&key);
        let p50_at = |query: String| {
            median_of(scale.repeats, || {
                wrk::run(
                    &format!("{}{LIST}?{query}", sandbox.url),
                    &auth,
                    1,
                    scale.seconds,
                    None,
                )
            })
            .map(|load| load.p50_ms)
        };
        let first = p50_at("limit=100".to_owned())?;
        let deep = p50_at(format!("offset={}&limit=100", keys * 9 / 10))?;
        let _ = writeln!(report, "| {keys} | {seeded:.1} | {first:.3} | {deep:.3} |");
        rows.push((keys, first, deep));
        drop(sandbox);
        server::remove_db(&db);
    }
    if let (Some(small), Some(large)) = (rows.first(), rows.last()) {
        let _ = write!(
            report,
            "\n{}/{} keys: auth + first page {:.2}× (target ≤ 1.5×), deep page {:.1}×. \
             Each request here repeats the one before, and nothing changes the store, so \
             after the first the read model answers from memory. A deep page read from the \
             store costs what OFFSET costs, since SQLite walks the index past every skipped \
             row (118.9 ms at 1,000,000 keys when every request read it, on 2026-11-27), but \
             it now pays that once per change of the store, not once per request.",
            large.0,
            small.0,
            large.1 / small.1,
            large.2 / small.2
        );
    }
    Ok(report)
}
