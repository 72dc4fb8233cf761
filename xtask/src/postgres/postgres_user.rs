//! Running the server's programs as the `postgres` user when the xtask
//! runs as root, and giving that user a way to the cluster's files.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::Command;

/// The server refuses to run as root, so as root every server program runs
/// as the `postgres` user that Debian's package creates.
pub(super) fn running_as_root() -> Result<bool, String> {
    let status = fs::read_to_string("/proc/self/status").map_err(|e| {
        format!("cannot read /proc/self/status to tell whether we run as root: {e}")
    })?;
    effective_uid(&status)
        .map(|uid| uid == 0)
        .ok_or_else(|| "cannot find the effective user id in /proc/self/status".to_owned())
}

/// The effective user id from `/proc/self/status`, the second of the `Uid:`
/// line's real, effective, saved and filesystem ids.
pub(super) fn effective_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `program`, run as the `postgres` user when `as_postgres`.
pub(super) fn as_user(program: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Fails early, and says why, when the `postgres` user cannot reach the
/// target directory: otherwise initdb fails on the data directory with a message
/// that does not point at the real cause. Nothing above the target
/// directory is ours to chmod, so `dir` is the directory that holds it.
pub(super) fn check_reachable(dir: &Path) -> Result<(), String> {
    let output = Command::new("runuser")
        .args(["-u", "postgres", "--", "test", "-x"])
        .arg(dir)
        .output()
        .map_err(|e| {
            format!("cannot run runuser, which runs PostgreSQL as the postgres user: {e}")
        })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.trim().is_empty() {
        Err(format!(
            "PostgreSQL runs as the postgres user, which cannot reach {}: a directory on that \
             path lacks search (x) permission for it; chmod o+x those directories, or put the \
             target directory (CARGO_TARGET_DIR) where other users can reach it",
            dir.display()
        ))
    } else {
        Err(format!(
            "cannot run a command as the postgres user ({}): {}; install PostgreSQL from \
             Debian's package, which creates that user",
            output.status,
            stderr.trim()
        ))
    }
}

/// Adds search permission for other users to `dir`, and nothing else.
pub(super) fn allow_traversal(dir: &Path) -> Result<(), String> {
    let mut permissions = fs::metadata(dir)
        .map_err(|e| format!("cannot read the permissions of {}: {e}", dir.display()))?
        .permissions();
    if permissions.mode() & 0o001 != 0 {
        return Ok(());
    }
    permissions.set_mode(permissions.mode() | 0o001);
    fs::set_permissions(dir, permissions).map_err(|e| {
        format!(
            "cannot let the postgres user through {} (chmod o+x): {e}",
            dir.display()
        )
    })
}
