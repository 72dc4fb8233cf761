//! Project tooling, run as `cargo xtask <command>`.
//!
//! The OpenAPI YAML under `openapi/` is the only hand-written description of
//! the API. `gen` writes every file derived from it, `check` proves the spec
//! sound and the derived files current, and `ci` runs every gate that CI runs.

mod bench;
mod check;
mod conformance;
mod derived;
mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  gen     regenerate every file derived from openapi/alphamoon-workspace.yaml
  check   lint the spec and fail if any derived file is out of date
  conformance
          validate the published spec with outside tools, generate Python and
          TypeScript clients from it, and run schemathesis against the sandbox
  bench [--smoke] [--build]
          the sandbox vs Prism vs a bare server, growth, client overhead and
          (with --build) build cost; --smoke runs it all at tiny sizes
  ci      everything CI runs: fmt, check, clippy, tests, the quickstart,
          docs, cargo package
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen") => derived::write_all(&workspace_root()),
        Some("check") => check::run(&workspace_root()),
        Some("conformance") => conformance::run(&workspace_root()),
        Some("bench") => bench::run(&workspace_root(), &args[1..]),
        Some("ci") => ci(&workspace_root()),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root, found from this crate's own location so that the
/// commands work from any directory.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Runs every gate in the order that fails fastest on a typical mistake.
fn ci(root: &Path) -> Result<(), String> {
    cargo(root, &["fmt", "--all", "--check"])?;
    step("xtask check");
    check::run(root)?;
    cargo(
        root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    cargo(root, &["test", "--workspace", "--locked"])?;
    // The README's first command must keep working.
    cargo(root, &["run", "--locked", "--example", "quickstart"])?;
    step("xtask conformance");
    conformance::run(root)?;
    step("xtask bench --smoke");
    bench::run(root, &["--smoke".to_owned()])?;
    // Broken intra-doc links and malformed docs fail like any lint.
    cargo_with_env(
        root,
        &["doc", "--workspace", "--no-deps", "--locked"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    // `--allow-dirty` only lets a developer run this before committing; the
    // verify build of the packaged crate still runs in full.
    cargo(
        root,
        &[
            "package",
            "--package",
            "alphamoon-client",
            "--locked",
            "--allow-dirty",
        ],
    )?;
    step("ci passed");
    Ok(())
}

fn step(name: &str) {
    eprintln!("\n==> {name}");
}

pub(crate) fn cargo(root: &Path, args: &[&str]) -> Result<(), String> {
    cargo_with_env(root, args, &[])
}

fn cargo_with_env(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    step(&format!("cargo {}", args.join(" ")));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {}` failed ({status})", args.join(" ")))
    }
}
