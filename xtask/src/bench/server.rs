//! The servers under measurement: the release sandbox on a seeded
//! database, Prism, and the bare ceiling replaying the sandbox's bytes.

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{START_TIMEOUT, Server, unthrottled_sandbox};

/// The API keys collection: listed with GET, created with POST.
pub(super) const LIST: &str = "/api/v0.4/admin/api-keys";

fn sandbox_bin(root: &Path) -> PathBuf {
    crate::target_dir(root).join("release/alphamoon-sandbox")
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
    sandbox_with(root, db, &[])
}

/// The release sandbox on `db`, with its rate limit off and `flags` added.
pub(super) fn sandbox_with(
    root: &Path,
    db: Database<'_>,
    flags: &[&std::ffi::OsStr],
) -> Result<Server, String> {
    Server::start(
        unthrottled_sandbox(&sandbox_bin(root))
            .args(db.args())
            .args(flags),
        START_TIMEOUT,
    )
}

/// The bare axum server that bounds what any server on this stack can do
/// to send the answer in `answer_file` (written by [`capture`]).
pub(super) fn ceiling(root: &Path, answer_file: &Path) -> Result<Server, String> {
    Server::start(
        Command::new(crate::target_dir(root).join("release/examples/bench_ceiling"))
            .arg("127.0.0.1:0")
            .arg(answer_file),
        START_TIMEOUT,
    )
}

/// The SQLite floor on `db`: the shortest server that reads each list
/// from SQLite as the sandbox does (see `bench_floor`).
pub(super) fn floor(root: &Path, db: &Path) -> Result<Server, String> {
    Server::start(
        Command::new(crate::target_dir(root).join("release/examples/bench_floor"))
            .arg("127.0.0.1:0")
            .arg(db),
        START_TIMEOUT,
    )
}

/// The headers of a captured answer that a ceiling replays; hyper writes
/// `Date` and `Content-Length` itself on both servers.
const REPLAYED: [&str; 3] = ["content-type", "cache-control", "x-content-type-options"];

/// Sends `GET path` to the server at `base_url` once, as wrk will, and
/// writes its answer to `file` for a ceiling to replay. Only a 200 with
/// its whole body is captured: a refusal would make a fast, false ceiling.
/// Returns the body's length.
pub(super) fn capture(
    base_url: &str,
    path: &str,
    authorization: &str,
    file: &Path,
) -> Result<usize, String> {
    let addr = base_url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{base_url} is not an http:// URL"))?;
    let failed = |e: std::io::Error| format!("cannot capture GET {path} from {addr}: {e}");
    let mut stream = std::net::TcpStream::connect(addr).map_err(failed)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(failed)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {authorization}\r\n\
         Connection: close\r\n\r\n"
    )
    .map_err(failed)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(failed)?;
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("GET {path}: the answer has no end of headers"))?;
    let head = String::from_utf8_lossy(&answer[..split]);
    let body = &answer[split + 4..];
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 200 ") {
        return Err(format!("GET {path}: answered `{status}`, not 200"));
    }
    let mut kept = String::new();
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        if name == "content-length" {
            length = value.trim().parse::<usize>().ok();
        } else if REPLAYED.contains(&name.as_str()) {
            kept.push_str(&format!("{name}: {}\r\n", value.trim()));
        }
    }
    if length != Some(body.len()) {
        return Err(format!(
            "GET {path}: a body of {} bytes against a Content-Length of {length:?}",
            body.len()
        ));
    }
    let mut bytes = kept.into_bytes();
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    fs::write(file, bytes).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    Ok(body.len())
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
