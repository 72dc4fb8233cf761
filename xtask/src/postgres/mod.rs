//! A throw-away PostgreSQL server for `cargo xtask ci` and the bench: a
//! fresh cluster under `postgres/` in the target directory, on a free loopback port, with
//! trust authentication, stopped however the run ends.
//!
//! Tests that stop and restart the server under a running sandbox get
//! `postgres/ctl` there, a script that runs `pg_ctl` with this cluster's
//! settings. The xtask starts and stops the server through the same script,
//! so that those settings are written down once.

mod ctl_script;
mod install;
mod layout;
mod postgres_user;
#[cfg(test)]
mod tests;

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{describe, free_port, must};

use ctl_script::ctl_script;
use install::ensure_installed;
use layout::{Layout, prepare, stop_stale};
use postgres_user::{as_user, check_reachable, running_as_root};

/// How much of the server's log a failed start shows: its end, where the
/// reason is.
const LOG_LINES: usize = 30;

/// A PostgreSQL server on a fresh cluster, stopped when this value is
/// dropped unless `stop` stopped it, so that a failing step does not leave
/// it running.
#[derive(Debug)]
pub(crate) struct Cluster {
    bin: PathBuf,
    layout: Layout,
    port: u16,
    /// Whether `stop` ran, so that dropping does not stop it twice.
    stopped: bool,
}

impl Cluster {
    /// Creates a cluster under `postgres/` in the target directory, replacing any
    /// earlier one there, and starts its server on a free loopback port.
    pub(crate) fn start(root: &Path) -> Result<Self, String> {
        let bin = ensure_installed()?;
        let as_postgres = running_as_root()?;
        let target = crate::target_dir(root);
        let layout = Layout::new(&target)?;
        if as_postgres {
            check_reachable(target.parent().unwrap_or(&target))?;
        }
        stop_stale(&bin, &layout, as_postgres);
        prepare(&target, &layout, as_postgres)?;
        // `--no-sync` only skips flushing the new cluster's files once;
        // the server itself keeps fsync on.
        quietly(
            as_user(&bin.join("initdb"), as_postgres)
                .arg("-D")
                .arg(&layout.data)
                .args(["-U", "postgres", "--auth=trust", "--no-sync"])
                // Not the machine's locale, which varies and may not exist.
                .args(["--encoding=UTF8", "--locale=C"])
                .current_dir(&layout.dir),
        )?;
        let port = free_port()?;
        let script = ctl_script(&bin.join("pg_ctl"), &layout, port, as_postgres);
        fs::write(&layout.ctl, script)
            .and_then(|()| fs::set_permissions(&layout.ctl, fs::Permissions::from_mode(0o755)))
            .map_err(|e| format!("cannot write {}: {e}", layout.ctl.display()))?;
        // Built before the start, so that dropping it on the error path
        // stops a server that `pg_ctl` stopped waiting for.
        let cluster = Self {
            bin,
            layout,
            port,
            stopped: false,
        };
        cluster.ctl(&["start"]).map_err(|e| {
            format!(
                "{e}; the end of {}:\n{}",
                cluster.layout.log.display(),
                log_tail(&cluster.layout.log)
            )
        })?;
        Ok(cluster)
    }

    /// `postgres://postgres@127.0.0.1:PORT/DB`; trust authentication needs
    /// no password.
    pub(crate) fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates the database `name`, empty.
    pub(crate) fn create_database(&self, name: &str) -> Result<(), String> {
        must(
            Command::new(self.bin.join("createdb"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", "postgres", name]),
        )
    }

    /// The server's log, for tests that look for what the server
    /// reported (a deadlock, say).
    pub(crate) fn log(&self) -> &Path {
        &self.layout.log
    }

    /// The script that runs `pg_ctl` on this cluster with its settings,
    /// passing its arguments on: `ctl stop -m fast`, `ctl start`.
    pub(crate) fn ctl_script(&self) -> &Path {
        &self.layout.ctl
    }

    /// Stops the server, waiting until it has.
    pub(crate) fn stop(mut self) -> Result<(), String> {
        self.stopped = true;
        self.stop_server()
    }

    fn stop_server(&self) -> Result<(), String> {
        // A test may have stopped it through the script and left it so.
        if !self.layout.data.join("postmaster.pid").exists() {
            return Ok(());
        }
        self.ctl(&["stop", "-m", "fast"])
    }

    fn ctl(&self, args: &[&str]) -> Result<(), String> {
        must(Command::new(&self.layout.ctl).args(args))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if !self.stopped
            && let Err(e) = self.stop_server()
        {
            eprintln!(
                "warning: cannot stop PostgreSQL on port {}: {e}; stop it with `{} stop -m immediate`",
                self.port,
                self.layout.ctl.display()
            );
        }
    }
}

/// Runs `command`, echoed first, showing its output only if it fails:
/// initdb's report, which ends in a warning about the trust authentication
/// that is the point here, would only clutter the log.
fn quietly(command: &mut Command) -> Result<(), String> {
    eprintln!("\n==> {}", describe(command));
    let output = command
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", describe(command)))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "`{}` failed ({}):\n{}{}",
        describe(command),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

/// The end of the server's log, or why it cannot be read.
fn log_tail(log: &Path) -> String {
    match fs::read(log) {
        Ok(bytes) => last_lines(&String::from_utf8_lossy(&bytes), LOG_LINES),
        Err(e) => format!("(cannot read it: {e})"),
    }
}

/// The last `count` lines of `text`, or `(nothing)`.
fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    let tail = lines[lines.len().saturating_sub(count)..].join("\n");
    if tail.is_empty() {
        "(nothing)".to_owned()
    } else {
        tail
    }
}
