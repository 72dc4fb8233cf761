//! Where a cluster's files live, and clearing that place for a fresh
//! cluster.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::ctl_script::WAIT_SECONDS;
use super::postgres_user::{allow_traversal, as_user};
use super::quietly;

/// The longest Unix socket path Linux accepts (`sun_path` less its NUL).
const SOCKET_PATH_MAX: usize = 107;

/// Characters that would break out of the quoting `pg_ctl` gives the data
/// directory and the log file in the shell command it starts the server
/// with, or split the socket directory list the server reads.
const UNSAFE_IN_PATHS: &[char] = &['"', '\'', '\\', '$', '`', ','];

/// Where a cluster's files live.
#[derive(Debug)]
pub(super) struct Layout {
    /// `postgres/` in the target directory, wiped by each start.
    pub(super) dir: PathBuf,
    pub(super) data: PathBuf,
    /// The Unix socket's directory: the default, under /var/run, may not
    /// exist or be writable.
    pub(super) socket: PathBuf,
    pub(super) log: PathBuf,
    pub(super) ctl: PathBuf,
}

impl Layout {
    /// The layout under the target directory `target`, refused up front
    /// where the server would fail on it later with a less clear message.
    pub(super) fn new(target: &Path) -> Result<Self, String> {
        let dir = target.join("postgres");
        let Some(text) = dir.to_str() else {
            return Err(format!(
                "{} is not UTF-8, which the cluster's control script needs; move the checkout",
                dir.display()
            ));
        };
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() || UNSAFE_IN_PATHS.contains(c))
        {
            return Err(format!(
                "{text} holds {c:?}, which pg_ctl cannot pass through the shell it starts \
                 the server with; move the checkout to a plainer path"
            ));
        }
        let layout = Self {
            data: dir.join("data"),
            socket: dir.join("socket"),
            log: dir.join("server.log"),
            ctl: dir.join("ctl"),
            dir,
        };
        let longest = socket_file(&layout.socket, u16::MAX);
        if longest.len() > SOCKET_PATH_MAX {
            return Err(format!(
                "the server's socket, {longest}, would be longer than the {SOCKET_PATH_MAX} \
                 bytes Linux allows; move the checkout to a shorter path"
            ));
        }
        Ok(layout)
    }
}

/// The Unix socket the server creates for `port` in `dir`.
fn socket_file(dir: &Path, port: u16) -> String {
    format!("{}/.s.PGSQL.{port}", dir.display())
}

/// A run that crashed or was killed leaves its server running on the old
/// data directory; it must stop before its files go. Failures are ignored:
/// it may be gone already, leaving only its pid file.
pub(super) fn stop_stale(bin: &Path, layout: &Layout, as_postgres: bool) {
    if !layout.data.join("postmaster.pid").exists() {
        return;
    }
    eprintln!(
        "stopping a PostgreSQL server that an earlier run may have left on {}",
        layout.data.display()
    );
    let _ = as_user(&bin.join("pg_ctl"), as_postgres)
        .arg("-D")
        .arg(&layout.data)
        .args(["-w", "-t", WAIT_SECONDS, "-m", "immediate", "stop"])
        .current_dir(&layout.dir)
        .output();
}

/// Replaces `layout.dir` with empty directories and log file. As root, the
/// `postgres` user gets what the server writes to, and a way through the
/// target directory to it.
pub(super) fn prepare(target: &Path, layout: &Layout, as_postgres: bool) -> Result<(), String> {
    if layout.dir.exists() {
        fs::remove_dir_all(&layout.dir).map_err(|e| {
            format!(
                "cannot remove the previous cluster at {}: {e}; remove it by hand and retry",
                layout.dir.display()
            )
        })?;
    }
    for dir in [&layout.data, &layout.socket] {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    fs::write(&layout.log, "")
        .map_err(|e| format!("cannot create {}: {e}", layout.log.display()))?;
    if as_postgres {
        allow_traversal(target)?;
        allow_traversal(&layout.dir)?;
        // `postgres:` also gives each the user's login group.
        quietly(
            Command::new("chown")
                .arg("postgres:")
                .arg(&layout.data)
                .arg(&layout.socket)
                .arg(&layout.log),
        )?;
    }
    Ok(())
}
