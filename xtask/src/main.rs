//! Project tooling, run as `cargo xtask <command>`.
//!
//! The OpenAPI YAML under `openapi/` is the only hand-written description of
//! the API. `gen` writes every file derived from it (and the README's copy of
//! the committed bench report), `check` proves the spec sound and the derived
//! files current, and `ci` runs every gate that CI runs.

mod bench;
mod browser;
mod check;
mod conformance;
mod derived;
mod image;
mod postgres;
mod process;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Parser as _;

/// Project tooling for the spec-first SDK. The OpenAPI YAML under openapi/
/// is the only hand-written description of the API.
#[derive(clap::Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(clap::Subcommand, Debug)]
enum Task {
    /// Regenerate every derived file: the spec's JSON copies, the benchmark report in docs/, and the vendored Swagger UI release (from its pinned npm package)
    Gen,
    /// Lint the spec and the sources' layers and length, and fail, with a diff, if any derived file is out of date
    Check,
    /// Validate the published spec with other languages' tools and fuzz the sandbox with schemathesis
    Conformance,
    /// Benchmark the sandbox against Prism and a bare server, its growth, and the client's overhead
    ///
    /// A full run writes xtask/bench/report.md (with --build, also
    /// xtask/bench/build-cost.md); commit it, and `cargo xtask gen` copies
    /// it into the README. It takes about 8 minutes.
    Bench(bench::Options),
    /// Build the sandbox's container image with podman, FROM scratch, and print its size
    ///
    /// With --prove, also run it as CI does: on SQLite, then as two
    /// containers on one PostgreSQL database.
    Image(image::Options),
    /// Write the API reference as one self-contained HTML file that opens offline
    Reference(browser::ReferenceOptions),
    /// Test the sandbox's pages (the reference and the console) in Chromium with playwright-core
    Browser,
    /// Run everything CI runs: fmt, check, clippy, tests (again on PostgreSQL), the quickstart, conformance, bench --smoke, the image and its proof, the browser tests, docs, package
    Ci,
}

fn main() -> ExitCode {
    let root = workspace_root();
    let result = match Cli::parse().command {
        Task::Gen => derived::write_all(&root).and_then(|()| browser::vendor::refresh(&root)),
        Task::Check => check::run(&root),
        Task::Conformance => conformance::run(&root),
        Task::Bench(options) => bench::run(&root, &options),
        Task::Image(options) => image::run(&root, &options),
        Task::Reference(options) => browser::reference(&root, &options),
        Task::Browser => browser::run(&root),
        Task::Ci => ci(&root),
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

/// Where cargo writes this workspace's build output, and where the xtask
/// keeps what it installs and generates: `CARGO_TARGET_DIR`, else
/// `CARGO_BUILD_TARGET_DIR`, else `build.target-dir` in the workspace's
/// `.cargo/config.toml`, else `<root>/target`, in cargo's order.
///
/// A relative value means what it means to cargo: from an environment
/// variable, relative to the directory `cargo xtask` was run from (where
/// the cargo that built this xtask resolved it); from the config file,
/// relative to the directory holding `.cargo/`. Every cargo the xtask
/// starts runs in the root and is given this directory, made absolute, as
/// `CARGO_TARGET_DIR`, so what it builds is where the xtask looks. Config
/// files outside the workspace (`~/.cargo/config.toml`, directories above
/// the root) are not read; because of that variable, they cannot move the
/// xtask's builds away from here either.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| root.to_path_buf());
    let config = std::fs::read_to_string(root.join(".cargo/config.toml")).ok();
    resolve_target_dir(root, &cwd, |name| std::env::var_os(name), config.as_deref())
}

/// [`target_dir`] from its inputs: `var` reads the environment and
/// `config` is the workspace's `.cargo/config.toml`, if any.
fn resolve_target_dir(
    root: &Path,
    cwd: &Path,
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
    config: Option<&str>,
) -> PathBuf {
    // An empty variable is no setting; cargo itself refuses to build with
    // one, so the xtask would not be running.
    let from_env = ["CARGO_TARGET_DIR", "CARGO_BUILD_TARGET_DIR"]
        .into_iter()
        .find_map(|name| var(name).filter(|value| !value.is_empty()))
        .map(|value| cwd.join(value));
    let from_config = || {
        let table: toml::Table = config?.parse().ok()?;
        let dir = table.get("build")?.get("target-dir")?.as_str()?;
        Some(root.join(dir))
    };
    from_env
        .or_else(from_config)
        .unwrap_or_else(|| root.join("target"))
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
    step("sandbox suite and replica tests on PostgreSQL");
    postgres_suite(root)?;
    // The README's first command must keep working.
    cargo(root, &["run", "--locked", "--example", "quickstart"])?;
    step("xtask conformance");
    conformance::run(root)?;
    step("xtask bench --smoke");
    bench::run(
        root,
        &bench::Options {
            smoke: true,
            build: false,
        },
    )?;
    step("xtask image --prove");
    image::run(root, &image::Options { prove: true })?;
    step("xtask browser");
    browser::run(root)?;
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

/// The sandbox's whole test suite again, the tests that need PostgreSQL
/// included, against a real PostgreSQL server started for the purpose and
/// stopped afterwards, on failure too. The variables are the ones the
/// tests' support module reads.
/// The module of the sandbox's tests that change the PostgreSQL server
/// itself, as a test-name filter.
const SERVER_WIDE: &str = "server_wide::";

fn postgres_suite(root: &Path) -> Result<(), String> {
    let cluster = postgres::Cluster::start(root)?;
    let url = cluster.url("postgres");
    let ctl = cluster.ctl_script().to_string_lossy().into_owned();
    let log = cluster.log().to_string_lossy().into_owned();
    let env = [
        ("ALPHAMOON_TEST_POSTGRES_URL", url.as_str()),
        ("ALPHAMOON_TEST_POSTGRES_CTL", ctl.as_str()),
        ("ALPHAMOON_TEST_POSTGRES_LOG", log.as_str()),
    ];
    // Every test target of the crate, so that no test file is left out by
    // a list kept by hand; then the tests that stop the server or change
    // its settings, alone and one at a time, so that they disturb no other.
    let sandbox_tests = [
        "test",
        "--package",
        "alphamoon-sandbox",
        "--locked",
        "--tests",
    ];
    cargo_with_env(
        root,
        &[
            &sandbox_tests[..],
            &["--", "--include-ignored", "--skip", SERVER_WIDE],
        ]
        .concat(),
        &env,
    )?;
    cargo_with_env(
        root,
        &[
            &sandbox_tests[..],
            &[
                "--",
                "--include-ignored",
                "--test-threads",
                "1",
                SERVER_WIDE,
            ],
        ]
        .concat(),
        &env,
    )?;
    cluster.stop()
}

pub(crate) fn step(name: &str) {
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
        .env("CARGO_TARGET_DIR", target_dir(root))
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

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::path::Path;

    use clap::CommandFactory as _;

    use super::{Cli, resolve_target_dir};

    #[test]
    fn the_target_dir_follows_cargos_settings_in_cargos_order() {
        let root = Path::new("/work/repo");
        let cwd = Path::new("/home/me/elsewhere");
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| OsString::from(value))
            }
        };
        let config = "[alias]\nxtask = \"run\"\n[build]\ntarget-dir = \"out\"\n";
        type Vars = &'static [(&'static str, &'static str)];
        let cases: [(Vars, Option<&str>, &str); 7] = [
            (&[], None, "/work/repo/target"),
            (&[], Some("[alias]\nxtask = \"run\"\n"), "/work/repo/target"),
            // A config file's relative path is relative to the workspace.
            (&[], Some(config), "/work/repo/out"),
            // The environment's is relative to where cargo was run.
            (
                &[("CARGO_TARGET_DIR", "build")],
                Some(config),
                "/home/me/elsewhere/build",
            ),
            (&[("CARGO_TARGET_DIR", "/abs/t")], None, "/abs/t"),
            (
                &[
                    ("CARGO_TARGET_DIR", "/abs/t"),
                    ("CARGO_BUILD_TARGET_DIR", "/abs/b"),
                ],
                None,
                "/abs/t",
            ),
            (
                &[("CARGO_TARGET_DIR", ""), ("CARGO_BUILD_TARGET_DIR", "b")],
                Some(config),
                "/home/me/elsewhere/b",
            ),
        ];
        for (vars, config, expected) in cases {
            assert_eq!(
                resolve_target_dir(root, cwd, env(vars), config),
                Path::new(expected),
                "{vars:?} with {config:?}"
            );
        }
    }

    #[test]
    fn every_subcommand_is_listed_with_a_one_line_summary() {
        let command = Cli::command();
        command.clone().debug_assert();
        let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
        assert_eq!(
            names,
            [
                "gen",
                "check",
                "conformance",
                "bench",
                "image",
                "reference",
                "browser",
                "ci"
            ]
        );
        for sub in command.get_subcommands() {
            let about = sub.get_about().map(ToString::to_string).unwrap_or_default();
            assert!(
                !about.is_empty() && !about.contains('\n'),
                "{}: {about:?}",
                sub.get_name()
            );
        }
    }
}
