//! A throw-away PostgreSQL server for `cargo xtask ci` and the bench: a
//! fresh cluster under `postgres/` in the target directory, on a free loopback port, with
//! trust authentication, stopped however the run ends.
//!
//! Tests that stop and restart the server under a running sandbox get
//! `postgres/ctl` there, a script that runs `pg_ctl` with this cluster's
//! settings. The xtask starts and stops the server through the same script,
//! so that those settings are written down once.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{describe, must};

/// Where Debian's packages put each major version's programs, which are
/// not on PATH.
const VERSIONS_DIR: &str = "/usr/lib/postgresql";

/// The programs a cluster needs from a version's `bin` directory.
const PROGRAMS: [&str; 4] = ["initdb", "pg_ctl", "postgres", "createdb"];

/// The server's settings beyond its port and socket directory. Commits are
/// asynchronous by default here, so that the sandbox's own per-connection
/// `synchronous_commit = on` is what the crash test checks (fsync stays at
/// its default: on). Tests running in parallel each hold a pool of
/// connections, more in total than the default 100.
const SETTINGS: &str =
    "-c listen_addresses=127.0.0.1 -c max_connections=200 -c synchronous_commit=off";

/// How long, in seconds, `pg_ctl` waits for a start or a stop. Each takes
/// about a second; a loaded 2-core machine gets the rest as a margin.
const WAIT_SECONDS: &str = "30";

/// How much of the server's log a failed start shows: its end, where the
/// reason is.
const LOG_LINES: usize = 30;

/// The longest Unix socket path Linux accepts (`sun_path` less its NUL).
const SOCKET_PATH_MAX: usize = 107;

/// Characters that would break out of the quoting `pg_ctl` gives the data
/// directory and the log file in the shell command it starts the server
/// with, or split the socket directory list the server reads.
const UNSAFE_IN_PATHS: &[char] = &['"', '\'', '\\', '$', '`', ','];

/// Finds PostgreSQL's programs, installing Debian's `postgresql` package
/// when none are there, like `wrk` for the bench. Returns their directory.
pub(crate) fn ensure_installed() -> Result<PathBuf, String> {
    if let Some(bin) = newest_bin_dir(Path::new(VERSIONS_DIR)) {
        return Ok(bin);
    }
    eprintln!("PostgreSQL is missing from {VERSIONS_DIR}; installing it with apt-get");
    let advice = "install PostgreSQL (Debian: apt-get install postgresql) and retry";
    must(Command::new("apt-get").args(["update", "-qq"])).map_err(|e| format!("{e}; {advice}"))?;
    // tzdata, a dependency, asks for a time zone unless told not to ask,
    // and would wait for an answer forever.
    must(
        Command::new("apt-get")
            .args(["install", "-y", "-qq", "postgresql"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .map_err(|e| format!("{e}; {advice}"))?;
    newest_bin_dir(Path::new(VERSIONS_DIR)).ok_or_else(|| {
        format!(
            "apt-get installed postgresql, yet no {VERSIONS_DIR}/<version>/bin holds {}; {advice}",
            PROGRAMS.join(", ")
        )
    })
}

/// The `bin` directory of the newest version under `versions` that has
/// every program a cluster needs: a half-removed older version may leave
/// its directory behind.
fn newest_bin_dir(versions: &Path) -> Option<PathBuf> {
    fs::read_dir(versions)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = version(entry.file_name().to_str()?)?;
            let bin = entry.path().join("bin");
            PROGRAMS
                .iter()
                .all(|program| bin.join(program).is_file())
                .then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// `15` or `9.6` as numbers, so that 15 sorts above 9.6; `None` for
/// anything else found there.
fn version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// The server refuses to run as root, so as root every server program runs
/// as the `postgres` user that Debian's package creates.
fn running_as_root() -> Result<bool, String> {
    let status = fs::read_to_string("/proc/self/status").map_err(|e| {
        format!("cannot read /proc/self/status to tell whether we run as root: {e}")
    })?;
    effective_uid(&status)
        .map(|uid| uid == 0)
        .ok_or_else(|| "cannot find the effective user id in /proc/self/status".to_owned())
}

/// The effective user id from `/proc/self/status`, the second of the `Uid:`
/// line's real, effective, saved and filesystem ids.
fn effective_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// `program`, run as the `postgres` user when `as_postgres`.
fn as_user(program: &Path, as_postgres: bool) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// Where a cluster's files live.
#[derive(Debug)]
struct Layout {
    /// `postgres/` in the target directory, wiped by each start.
    dir: PathBuf,
    data: PathBuf,
    /// The Unix socket's directory: the default, under /var/run, may not
    /// exist or be writable.
    socket: PathBuf,
    log: PathBuf,
    ctl: PathBuf,
}

impl Layout {
    /// The layout under the target directory `target`, refused up front
    /// where the server would fail on it later with a less clear message.
    fn new(target: &Path) -> Result<Self, String> {
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

/// Fails early, and says why, when the `postgres` user cannot reach the
/// target directory: otherwise initdb fails on the data directory with a message
/// that does not point at the real cause. Nothing above the target
/// directory is ours to chmod, so `dir` is the directory that holds it.
fn check_reachable(dir: &Path) -> Result<(), String> {
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

/// A run that crashed or was killed leaves its server running on the old
/// data directory; it must stop before its files go. Failures are ignored:
/// it may be gone already, leaving only its pid file.
fn stop_stale(bin: &Path, layout: &Layout, as_postgres: bool) {
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
fn prepare(target: &Path, layout: &Layout, as_postgres: bool) -> Result<(), String> {
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

/// Adds search permission for other users to `dir`, and nothing else.
fn allow_traversal(dir: &Path) -> Result<(), String> {
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

/// A port that was free a moment ago. Another process may take it before
/// the server binds it; the start then fails with the reason in the log.
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))
}

/// The text of the `ctl` script. It changes to the cluster's directory
/// first: as root, `pg_ctl` runs as `postgres`, which may not be allowed to
/// read the caller's working directory.
fn ctl_script(pg_ctl: &Path, layout: &Layout, port: u16, as_postgres: bool) -> String {
    let quote = |path: &Path| sh_quote(&path.to_string_lossy());
    let server_options = format!("-p {port} -k {} {SETTINGS}", quote(&layout.socket));
    let runuser = if as_postgres {
        "runuser -u postgres -- "
    } else {
        ""
    };
    format!(
        "#!/bin/sh\n\
         # Runs pg_ctl on the throw-away PostgreSQL cluster that `cargo xtask` started,\n\
         # with its settings, passing its arguments on: `ctl stop -m fast`, `ctl start`.\n\
         # Written by xtask/src/postgres.rs; each start of a cluster rewrites it.\n\
         cd {dir} || exit\n\
         exec {runuser}{pg_ctl} -D {data} -l {log} -w -t {WAIT_SECONDS} -o {options} \"$@\"\n",
        dir = quote(&layout.dir),
        pg_ctl = quote(pg_ctl),
        data = quote(&layout.data),
        log = quote(&layout.log),
        options = sh_quote(&server_options),
    )
}

/// `text` as one shell word.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
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

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed step in a test is a failed test
mod tests {
    use super::*;

    /// A fresh directory for one test, outside the workspace.
    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("xtask-postgres-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_newest_complete_version_is_chosen() {
        let versions = scratch("versions");
        for (version, programs) in [
            ("9.6", &PROGRAMS[..]),
            ("15", &PROGRAMS[..]),
            ("16", &PROGRAMS[..3]),
            ("17", &[][..]),
        ] {
            let bin = versions.join(version).join("bin");
            fs::create_dir_all(&bin).unwrap();
            for program in programs {
                fs::write(bin.join(program), "").unwrap();
            }
        }
        fs::create_dir_all(versions.join("common/bin")).unwrap();
        assert_eq!(
            newest_bin_dir(&versions),
            Some(versions.join("15").join("bin"))
        );
        assert_eq!(newest_bin_dir(&versions.join("missing")), None);
        fs::remove_dir_all(&versions).unwrap();
    }

    #[test]
    fn the_effective_uid_is_the_second_one() {
        let status =
            "Name:\tcargo\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Name:\tcargo\n"), None);
        assert!(running_as_root().is_ok());
    }

    #[test]
    fn paths_the_server_cannot_take_are_refused_up_front() {
        assert!(Layout::new(Path::new("/work/main/target")).is_ok());
        let err = Layout::new(Path::new("/work/$HOME/target")).unwrap_err();
        assert!(err.contains("'$'"), "{err}");
        let err = Layout::new(&Path::new("/").join("x".repeat(80))).unwrap_err();
        assert!(err.contains("longer than the 107 bytes"), "{err}");
    }

    #[test]
    fn the_script_runs_as_postgres_only_for_root() {
        let layout = Layout::new(Path::new("/w")).unwrap();
        let pg_ctl = Path::new("/usr/lib/postgresql/15/bin/pg_ctl");
        let as_root = ctl_script(pg_ctl, &layout, 5433, true);
        assert!(
            as_root.contains("\nexec runuser -u postgres -- '/usr/lib/postgresql/15/bin/pg_ctl' "),
            "{as_root}"
        );
        let as_user = ctl_script(pg_ctl, &layout, 5433, false);
        assert!(
            as_user.contains("\nexec '/usr/lib/postgresql/15/bin/pg_ctl' "),
            "{as_user}"
        );
    }

    /// The script, run by the shell with a stand-in for `pg_ctl`, passes
    /// the settings and its own arguments as the words they should be, a
    /// path with spaces included.
    #[test]
    fn the_script_passes_settings_and_arguments_as_whole_words() {
        let root = scratch("script").join("with space");
        let layout = Layout::new(&root).unwrap();
        fs::create_dir_all(&layout.dir).unwrap();
        let pg_ctl = layout.dir.join("fake pg_ctl");
        fs::write(&pg_ctl, "#!/bin/sh\npwd\nprintf '%s\\n' \"$@\"\n").unwrap();
        fs::set_permissions(&pg_ctl, fs::Permissions::from_mode(0o755)).unwrap();
        fs::write(&layout.ctl, ctl_script(&pg_ctl, &layout, 5433, false)).unwrap();
        fs::set_permissions(&layout.ctl, fs::Permissions::from_mode(0o755)).unwrap();

        let output = Command::new(&layout.ctl)
            .args(["stop", "-m", "fast"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        let dir = layout.dir.display();
        let socket = layout.socket.display();
        let expected = format!(
            "{dir}\n-D\n{dir}/data\n-l\n{dir}/server.log\n-w\n-t\n30\n-o\n\
             -p 5433 -k '{socket}' {SETTINGS}\nstop\n-m\nfast\n"
        );
        assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
        fs::remove_dir_all(root.parent().unwrap()).unwrap();
    }

    #[test]
    fn quoting_keeps_single_quotes() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn a_log_tail_is_its_last_lines() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a\n", 5), "a");
        assert_eq!(last_lines("\n", 5), "(nothing)");
    }

    #[test]
    fn the_url_names_the_database_on_the_port() {
        let cluster = Cluster {
            bin: PathBuf::new(),
            layout: Layout::new(Path::new("/w")).unwrap(),
            port: 5433,
            stopped: true,
        };
        assert_eq!(
            cluster.url("sandbox"),
            "postgres://postgres@127.0.0.1:5433/sandbox"
        );
    }
}
