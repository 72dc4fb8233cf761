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

/// The targets of the second performance round on the SQLite sandbox's
/// rows: its share of the same-bytes ceiling on each list, and its p99 on
/// create.
const LIST10_OF_CEILING: f64 = 0.45;
const LIST100_OF_CEILING: f64 = 0.35;
const CREATE_P99_MS: f64 = 5.0;

/// "met" or "missed", or "unmeasured" where a run behind the verdict
/// completed too few requests to tell.
pub(super) fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "missed",
        None => "unmeasured",
    }
}

/// A ratio for the report, or "—" where it is unmeasured.
pub(super) fn shown(ratio: Option<f64>, show: impl Fn(f64) -> String) -> String {
    ratio.map_or_else(|| "—".to_owned(), show)
}

pub(super) fn run(root: &Path, work: &Path, scale: &Scale) -> Result<(String, Baseline), String> {
    let db = server::fresh_db(work, "throughput.db");
    let key10 = server::seeded_org(root, Database::Sqlite(&db), "ten", 10)?;
    let key100 = server::seeded_org(root, Database::Sqlite(&db), "hundred", 100)?;
    let key_create = server::seeded_org(root, Database::Sqlite(&db), "creates", 1)?;
    let sandbox = server::sandbox(root, Database::Sqlite(&db))?;
    let prism = server::prism(root, work)?;

    let script = create_script(work)?;
    let mut baseline = Baseline::default();

    let mut report = format!(
        "### Sandbox vs Prism vs a bare axum server\n\n\
         wrk, 1 thread, {CONNECTIONS} connections, {}s per run, median of {}; the sandbox is a release build \
         with its rate limit off. The ceiling is a bare axum server that answers each list with the \
         exact bytes the sandbox answered to the same request, captured once before the run, so the \
         gap between them is the sandbox's own work per request, not the size of its answers. The SQLite \
         floor (`bench_floor`) answers the same bytes doing only what reading SQLite on every request \
         needs: Basic auth, SHA-256, the key's row, its expiry and scope, and the page, in one read \
         transaction with cached statements; the bench checks its bytes against the sandbox's first. \
         It marks the limit of the sandbox's design. A create \
         makes a new key each time, so it has no bytes to replay and no ceiling.\n\n\
         | request | server | req/s | p50 ms | p99 ms | B/req | × Prism | of ceiling |\n|---|---|---|---|---|---|---|---|\n",
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
    let mut shares = Vec::new();
    let mut create_p99 = None;
    for (i, (label, path, key, script)) in cases.into_iter().enumerate() {
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
        // A list has a ceiling of its own, the bytes the sandbox answers
        // to it, replayed; and a floor that must answer those bytes too.
        let (ceiling, floor) = match script {
            Some(_) => (None, None),
            None => {
                let answer = work.join(format!("ceiling-{i}.http"));
                server::capture(&sandbox.url, &path, &auth, &answer)?;
                let floor = server::floor(root, &db)?;
                let floors = work.join(format!("floor-{i}.http"));
                server::capture(&floor.url, &path, &auth, &floors)?;
                if fs::read(&answer).ok() != fs::read(&floors).ok() {
                    return Err(format!(
                        "GET {path}: the SQLite floor does not answer the sandbox's bytes; \
                         compare {} with {}",
                        answer.display(),
                        floors.display()
                    ));
                }
                (Some(server::ceiling(root, &answer)?), Some(floor))
            }
        };
        let ours = measure(&sandbox.url)?;
        let mock = measure(&prism.url)?;
        let bottom = floor.as_ref().map(|f| measure(&f.url)).transpose()?;
        let top = ceiling.as_ref().map(|c| measure(&c.url)).transpose()?;
        drop((ceiling, floor));
        if path.ends_with("limit=10") {
            baseline.list10 = (ours, mock);
        } else if script.is_some() {
            baseline.create = (ours, mock);
            create_p99 = (ours.requests >= wrk::MIN_REQUESTS).then_some(ours.p99_ms);
        }
        if let Some(top) = top {
            shares.push(wrk::ratio(ours, top));
        }
        let rows = [
            ("sandbox", Some(ours)),
            ("SQLite floor", bottom),
            ("Prism", Some(mock)),
            ("ceiling", top),
        ];
        for (server, load) in rows {
            let Some(load) = load else { continue };
            let of_ceiling = shown(top.and_then(|top| wrk::ratio(load, top)), |share| {
                format!("{:.0} %", 100.0 * share)
            });
            let _ = writeln!(
                report,
                "| {label} | {server} | {:.0} | {:.2} | {:.2} | {:.0} | {} | {of_ceiling} |",
                load.requests_per_sec,
                load.p50_ms,
                load.p99_ms,
                load.bytes_per_sec / load.requests_per_sec.max(1.0),
                shown(wrk::ratio(load, mock), |times| format!("{times:.1}×")),
            );
        }
    }
    let (list10, list100) = (shares[0], shares[1]);
    // One decimal, so that a share just short of a target never reads as
    // the target itself.
    let percent = |share: Option<f64>| shown(share, |share| format!("{:.1} %", 100.0 * share));
    let _ = write!(
        report,
        "\nTargets:\n\
         - `GET ?limit=10` at least {:.0} % of its ceiling: {}, {}.\n\
         - `GET ?limit=100` at least {:.0} % of its ceiling: {}, {}.\n\
         - create p99 under {CREATE_P99_MS:.0} ms: {}, {}.",
        100.0 * LIST10_OF_CEILING,
        percent(list10),
        verdict(list10.map(|share| share >= LIST10_OF_CEILING)),
        100.0 * LIST100_OF_CEILING,
        percent(list100),
        verdict(list100.map(|share| share >= LIST100_OF_CEILING)),
        shown(create_p99, |ms| format!("{ms:.2} ms")),
        verdict(create_p99.map(|ms| ms < CREATE_P99_MS)),
    );
    Ok((report, baseline))
}
