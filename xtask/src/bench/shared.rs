//! The shared sandbox: one replica, then two, on a PostgreSQL server that
//! the bench starts, compared with Prism and the SQLite sandbox as measured
//! in the same run.

use std::fmt::Write as _;
use std::path::Path;

use super::Scale;
use super::server::{self, Database, LIST};
use super::throughput::{Baseline, CONNECTIONS, create_script, shown, verdict};
use super::wrk::{self, Load, basic, median_of};
use crate::postgres::Cluster;

/// The targets of the second performance round: two replicas this many
/// times Prism's throughput on `GET ?limit=10`, and one replica this many
/// times Prism on create, with a p99 under this.
const LIST_TIMES_PRISM: f64 = 6.0;
const CREATE_TIMES_PRISM: f64 = 4.0;
const CREATE_P99_MS: f64 = 15.0;

pub(super) fn run(
    root: &Path,
    work: &Path,
    scale: &Scale,
    baseline: &Baseline,
) -> Result<String, String> {
    let cluster = Cluster::start(root)?;
    cluster.create_database("bench")?;
    let url = cluster.url("bench");
    let db = Database::Postgres(&url);
    let key10 = server::seeded_org(root, db, "ten", 10)?;
    let key_create = server::seeded_org(root, db, "creates", 1)?;
    let replicas = [server::sandbox(root, db)?, server::sandbox(root, db)?];
    let script = create_script(work)?;

    let mut report = format!(
        "### A shared sandbox: replicas on PostgreSQL\n\n\
         The same wrk load ({CONNECTIONS} connections in all; with two replicas, two wrk \
         processes with half the connections each, summed), against release sandboxes on one \
         local PostgreSQL server, with `synchronous_commit` on. Everything shares the same \
         cores.\n\n\
         | request | server | req/s | p50 ms | p99 ms | × Prism | × SQLite sandbox |\n\
         |---|---|---|---|---|---|---|\n"
    );
    let cases = [
        (
            "GET ?limit=10 (10 keys)",
            format!("{LIST}?limit=10"),
            &key10,
            None,
            baseline.list10,
        ),
        (
            "POST create",
            LIST.to_owned(),
            &key_create,
            Some(script.as_path()),
            baseline.create,
        ),
    ];
    let mut two_on_list = None;
    let mut one_on_create = None;
    for (label, path, key, script, (sqlite, prism)) in cases {
        let auth = basic(key);
        let one = median_of(scale.repeats, || {
            wrk::run(
                &format!("{}{path}", replicas[0].url),
                &auth,
                CONNECTIONS,
                scale.seconds,
                script,
            )
        })?;
        let two = median_of(scale.repeats, || {
            side_by_side(
                &replicas.each_ref().map(|r| format!("{}{path}", r.url)),
                |url| wrk::run(url, &auth, CONNECTIONS / 2, scale.seconds, script),
            )
        })?;
        if script.is_none() {
            two_on_list = wrk::ratio(two, prism);
        } else {
            one_on_create = wrk::ratio(one, prism).map(|times| (times, one.p99_ms));
        }
        for (server, load) in [
            ("PostgreSQL, 1 replica", one),
            ("PostgreSQL, 2 replicas", two),
        ] {
            let _ = writeln!(
                report,
                "| {label} | {server} | {:.0} | {:.2} | {:.2} | {} | {} |",
                load.requests_per_sec,
                load.p50_ms,
                load.p99_ms,
                shown(wrk::ratio(load, prism), |times| format!("{times:.1}×")),
                shown(wrk::ratio(load, sqlite), |times| format!("{times:.2}×")),
            );
        }
    }
    let _ = write!(
        report,
        "\nTargets:\n\
         - two replicas at least {LIST_TIMES_PRISM:.0}× Prism on `GET ?limit=10`: {}, {}.\n\
         - one replica at least {CREATE_TIMES_PRISM:.0}× Prism on create: {}, {}.\n\
         - one replica's create p99 under {CREATE_P99_MS:.0} ms: {}, {}.",
        shown(two_on_list, |times| format!("{times:.1}×")),
        verdict(two_on_list.map(|times| times >= LIST_TIMES_PRISM)),
        shown(one_on_create.map(|(times, _)| times), |times| format!(
            "{times:.1}×"
        )),
        verdict(one_on_create.map(|(times, _)| times >= CREATE_TIMES_PRISM)),
        shown(one_on_create.map(|(_, p99)| p99), |ms| format!(
            "{ms:.2} ms"
        )),
        verdict(one_on_create.map(|(_, p99)| p99 < CREATE_P99_MS)),
    );
    drop(replicas);
    cluster.stop()?;
    Ok(report)
}

/// Runs `measure` on both URLs at once and adds the results up: the
/// throughputs sum, and the latencies are the worse of the two.
fn side_by_side(
    urls: &[String; 2],
    measure: impl Fn(&str) -> Result<Load, String> + Sync,
) -> Result<Load, String> {
    let [a, b] = std::thread::scope(|scope| {
        let runs = urls.each_ref().map(|url| {
            let measure = &measure;
            scope.spawn(move || measure(url))
        });
        runs.map(|run| {
            run.join()
                .unwrap_or_else(|_| Err("a wrk thread panicked".to_owned()))
        })
    });
    let (a, b) = (a?, b?);
    Ok(Load {
        requests: a.requests + b.requests,
        requests_per_sec: a.requests_per_sec + b.requests_per_sec,
        bytes_per_sec: a.bytes_per_sec + b.bytes_per_sec,
        p50_ms: a.p50_ms.max(b.p50_ms),
        p99_ms: a.p99_ms.max(b.p99_ms),
    })
}
