//! The servers under measurement: the release sandbox on a seeded
//! database, Prism, and the bare ceiling.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{START_TIMEOUT, Server, unthrottled_sandbox};

/// The API keys collection: listed with GET, created with POST.
pub(super) const LIST: &str = "/api/v0.4/admin/api-keys";

fn sandbox_bin(root: &Path) -> PathBuf {
    root.join("target/release/alphamoon-sandbox")
}

/// Where a benchmarked sandbox keeps its state.
#[derive(Clone, Copy, Debug)]
pub(super) enum Database<'a> {
    /// A SQLite file.
    Sqlite(&'a Path),
    /// A PostgreSQL database, by URL.
    Postgres(&'a str),
}

impl Database<'_> {
    /// The sandbox's flags for this database.
    fn args(self) -> Vec<std::ffi::OsString> {
        match self {
            Self::Sqlite(path) => vec!["--db".into(), path.into()],
            Self::Postgres(url) => vec!["--database-url".into(), url.into()],
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Sqlite(path) => path.display().to_string(),
            // No password in these URLs, but no reason to print them either.
            Self::Postgres(_) => "the PostgreSQL database".to_owned(),
        }
    }
}

/// Creates an organization holding `keys` keys in `db` (the admin key
/// included) and returns its admin key.
pub(super) fn seeded_org(
    root: &Path,
    db: Database<'_>,
    name: &str,
    keys: usize,
) -> Result<String, String> {
    let output = Command::new(sandbox_bin(root))
        .args(["org", "create", "--name", name, "--filler-keys"])
        .arg(keys.saturating_sub(1).to_string())
        .args(db.args())
        .output()
        .map_err(|e| format!("cannot run the sandbox to seed {}: {e}", db.describe()))?;
    if !output.status.success() {
        return Err(format!(
            "seeding {} failed ({}): {}",
            db.describe(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A path for a new database under `work`, with any earlier one removed.
pub(super) fn fresh_db(work: &Path, name: &str) -> PathBuf {
    let db = work.join(name);
    remove_db(&db);
    db
}

/// Removes a database with its WAL files; a large one should not outlive
/// its benchmark.
pub(super) fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// The release sandbox on `db`, with its rate limit off.
pub(super) fn sandbox(root: &Path, db: Database<'_>) -> Result<Server, String> {
    Server::start(
        unthrottled_sandbox(&sandbox_bin(root)).args(db.args()),
        START_TIMEOUT,
    )
}

/// The bare axum server that bounds what any server on this stack can do.
pub(super) fn ceiling(root: &Path) -> Result<Server, String> {
    Server::start(
        &mut Command::new(root.join("target/release/examples/bench_ceiling")),
        START_TIMEOUT,
    )
}

/// Prism mocking the published spec, as installed under `work` by `npm ci`.
pub(super) fn prism(root: &Path, work: &Path) -> Result<Server, String> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| format!("cannot find a free port for Prism: {e}"))?
        .port();
    Server::start_and_probe(
        Command::new(work.join("node/node_modules/.bin/prism"))
            .args(["mock", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--errors", "false"])
            .arg(root.join("openapi/alphamoon-workspace.json")),
        format!("http://127.0.0.1:{port}"),
        START_TIMEOUT,
    )
}
