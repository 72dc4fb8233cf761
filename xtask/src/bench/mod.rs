//! `cargo xtask bench`: speed, measured side by side in one run and
//! reported as ratios (medians of repeated runs), because this machine is
//! shared and noisy. Timings are reported, never asserted.
//!
//! - the sandbox against Prism (a stateless mock of the same spec) and a
//!   bare axum server (the ceiling), all driven by wrk;
//! - one and two sandbox replicas on PostgreSQL against both;
//! - the sandbox's latency as its store grows;
//! - an unauthenticated caller's hostile target beside a plain one;
//! - the client's cost per call over a raw reqwest request;
//! - with `--build`, the client's clean build time over a control crate.
//!
//! A full run writes the committed reports that `cargo xtask gen` splices
//! into docs/benchmarks.md, so the guide always shows a real measurement.
//! The build cost has a file of its own, so that a run without `--build`
//! keeps the last one. `--smoke` runs everything at tiny sizes in seconds, so that
//! the bench cannot rot; `cargo xtask ci` runs it that way, and its
//! meaningless numbers stay under `bench/` in the target directory.

mod build_cost;
mod growth;
mod hostile;
mod overhead;
mod server;
mod shared;
mod throughput;
mod wrk;

use std::fs;
use std::path::Path;

use crate::process::npm_ci;

/// The committed report of the latest full run.
const REPORT: &str = "xtask/bench/report.md";
/// The committed report of the latest `--build` run.
const BUILD_COST_REPORT: &str = "xtask/bench/build-cost.md";
/// Every committed report, in the order in which the bench guide shows them.
pub(crate) const REPORTS: [&str; 2] = [REPORT, BUILD_COST_REPORT];

#[derive(clap::Args, Debug)]
pub(crate) struct Options {
    /// Run every benchmark at tiny sizes, in seconds, only to prove that each
    /// one still produces numbers. The report goes to bench/ in the target
    /// directory (target/ or CARGO_TARGET_DIR), and the committed one (shown
    /// in docs/benchmarks.md) is left alone.
    #[arg(long)]
    pub(crate) smoke: bool,
    /// Also time clean debug builds of the client and of a control crate
    /// with the same dependencies but no code generation (a few minutes).
    #[arg(long)]
    pub(crate) build: bool,
}

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

/// Builds the release sandbox, the `alphamoon` CLI and the bench's
/// examples. One invocation, so that the shared dependencies are built
/// once with one feature set; the image and the browser tests build
/// through here too, so that CI does not build them again with another.
pub(crate) fn build_release(root: &Path) -> Result<(), String> {
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
            "--package",
            "alphamoon-cli",
            "--bin",
            "alphamoon-sandbox",
            "--bin",
            "alphamoon",
            "--example",
            "bench_ceiling",
            "--example",
            "bench_floor",
            "--example",
            "bench_overhead",
        ],
    )
}

pub(crate) fn run(root: &Path, options: &Options) -> Result<(), String> {
    let scale = if options.smoke { &SMOKE } else { &FULL };
    let work = crate::target_dir(root).join("bench");
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;

    wrk::ensure_installed()?;
    npm_ci(&root.join("xtask/bench"), &work.join("node"))?;
    build_release(root)?;

    let when = format!(
        "{} with {} cores",
        chrono::Local::now().format("%Y-%m-%d"),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let note = if options.smoke {
        " (smoke: tiny sizes, numbers not meaningful)"
    } else {
        ""
    };
    let (throughput, baseline) = throughput::run(root, &work, scale)?;
    let report = [
        format!("Run on {when}{note}."),
        throughput,
        shared::run(root, &work, scale, &baseline)?,
        growth::run(root, &work, scale)?,
        hostile::run(root, &work, scale)?,
        overhead::run(root, &work, scale)?,
    ]
    .join("\n\n");
    let mut reports = vec![(REPORT, report)];
    if options.build {
        reports.push((BUILD_COST_REPORT, build_cost::run(root, &work, &when)?));
    }

    for (committed, report) in reports {
        let path = if options.smoke {
            work.join(Path::new(committed).file_name().unwrap_or_default())
        } else {
            root.join(committed)
        };
        let report = format!("{}\n", report.trim_end());
        println!("\n{report}");
        fs::write(&path, report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("written to {}", path.display());
    }
    if !options.smoke {
        println!("\nnext: `cargo xtask gen` puts the report into docs/benchmarks.md");
    }
    Ok(())
}
