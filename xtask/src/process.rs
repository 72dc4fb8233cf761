//! Child processes the xtask runs: tools that must succeed, and servers
//! that it starts, waits for and must stop however the run ends.

use std::fs;
use std::io::{self, BufRead as _, BufReader, Read as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// How long a server may take to start. A first start on a loaded 2-core
/// machine can be slow, but a hung server must fail the run, not stall it.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(60);

/// What the sandbox and the bench ceiling print on stdout, followed by their
/// base URL, once they accept connections.
const LISTENING: &str = "listening on ";

/// How long a server that failed may take to exit and close its stderr, so
/// that the error shows how it ended and everything it said.
const GRACE: Duration = Duration::from_secs(2);

/// How much of a server's stderr is kept: its end, where the reason for a
/// failure is, and a bound for servers that log every request.
const STDERR_KEPT: usize = 64 * 1024;

/// A command's program and arguments, for messages; never its environment,
/// which can hold the sandbox key.
pub(crate) fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `command`, echoed first, for a check whose failure is recorded
/// rather than fatal: `Ok(false)` if it ran and failed.
pub(crate) fn succeeds(command: &mut Command) -> Result<bool, String> {
    status(command).map(|s| s.success())
}

/// Runs `command`, echoed first, for a step the run cannot go on without.
pub(crate) fn must(command: &mut Command) -> Result<(), String> {
    let status = status(command)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(command)))
    }
}

fn status(command: &mut Command) -> Result<ExitStatus, String> {
    eprintln!("\n==> {}", describe(command));
    command
        .status()
        .map_err(|e| format!("cannot run `{}`: {e}", describe(command)))
}

/// Installs Debian `packages` with apt-get, for a tool the xtask found
/// missing; the error says how to install them by hand.
pub(crate) fn apt_install(packages: &[&str]) -> Result<(), String> {
    let advice = format!(
        "install them (Debian: apt-get install {}) and retry",
        packages.join(" ")
    );
    eprintln!("installing {} with apt-get", packages.join(", "));
    must(Command::new("apt-get").args(["update", "-qq"])).map_err(|e| format!("{e}; {advice}"))?;
    // tzdata, a dependency of several, asks for a time zone unless told not
    // to ask, and would wait for an answer forever.
    must(
        Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .map_err(|e| format!("{e}; {advice}"))
}

/// 32 random bytes as hex, from the kernel.
pub(crate) fn random_hex() -> Result<String, String> {
    let mut bytes = [0; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A port on 127.0.0.1 that nothing listened on a moment ago.
pub(crate) fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))
}

/// Installs the npm packages that `from/package-lock.json` pins into
/// `into/node_modules`, unless that exact lock file was installed there
/// already. Install scripts stay off.
pub(crate) fn npm_ci(from: &Path, into: &Path) -> Result<(), String> {
    fs::create_dir_all(into).map_err(|e| format!("cannot create {}: {e}", into.display()))?;
    let lock = fs::read_to_string(from.join("package-lock.json"))
        .map_err(|e| format!("cannot read {}/package-lock.json: {e}", from.display()))?;
    let stamp = into.join(".installed");
    if up_to_date(&stamp, &lock) {
        return Ok(());
    }
    for file in ["package.json", "package-lock.json"] {
        fs::copy(from.join(file), into.join(file))
            .map_err(|e| format!("cannot copy {file} to {}: {e}", into.display()))?;
    }
    must(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
            .current_dir(into),
    )?;
    fs::write(&stamp, lock).map_err(|e| format!("cannot write {}: {e}", stamp.display()))
}

/// Reinstalls only when a pin file changed since the last install.
pub(crate) fn up_to_date(stamp: &Path, inputs: &str) -> bool {
    fs::read_to_string(stamp).is_ok_and(|s| s == inputs)
}

/// A server under test, killed when this value is dropped, however the run
/// ends. Whatever it writes is read to the end on threads (or discarded), so
/// that it never blocks on a full pipe or dies writing to a closed one.
pub(crate) struct Server {
    child: Child,
    /// The base URL it serves, e.g. `http://127.0.0.1:41234`.
    pub(crate) url: String,
}

/// The sandbox binary at `binary`, on a free loopback port with both of its
/// rate limits off: the benchmarks and the conformance runs send requests
/// as fast as they can, and a 429 would spoil either.
pub(crate) fn unthrottled_sandbox(binary: &Path) -> Command {
    let mut command = Command::new(binary);
    // The sandbox reads every flag from a variable too: none set in the
    // caller's shell may change what is measured or tested.
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ALPHAMOON_SANDBOX_") {
            command.env_remove(name);
        }
    }
    command.args([
        "--listen",
        "127.0.0.1:0",
        "--rate-limit",
        "0",
        "--org-rate-limit",
        "0",
    ]);
    command
}

impl Server {
    /// Starts `command` and waits up to `timeout` for its first line on
    /// stdout, which must be `listening on http://ADDR`.
    pub(crate) fn start(command: &mut Command, timeout: Duration) -> Result<Self, String> {
        let (mut child, stderr) = spawn(command, Stdio::piped())?;
        let Some(stdout) = child.stdout.take() else {
            kill(&mut child);
            return Err(format!("`{}` has no stdout", describe(command)));
        };
        let failure = match first_line(stdout).recv_timeout(timeout) {
            Ok(Some(line)) => match line.trim().strip_prefix(LISTENING) {
                Some(url) => {
                    return Ok(Self {
                        child,
                        url: url.to_owned(),
                    });
                }
                None => {
                    kill(&mut child);
                    format!(
                        "`{}` printed {:?} instead of `{LISTENING}http://…`",
                        describe(command),
                        line.trim_end()
                    )
                }
            },
            Ok(None) | Err(RecvTimeoutError::Disconnected) => format!(
                "`{}` closed its stdout before printing `{LISTENING}http://…` ({})",
                describe(command),
                reap(&mut child)
            ),
            Err(RecvTimeoutError::Timeout) => {
                kill(&mut child);
                format!(
                    "`{}` did not print `{LISTENING}http://…` within {timeout:?}",
                    describe(command)
                )
            }
        };
        Err(format!("{failure}; its stderr:\n{}", stderr.text()))
    }

    /// Starts `command`, a server that announces nothing we can read, and
    /// waits up to `timeout` until `url` accepts connections. Its stdout is
    /// discarded unread: Prism logs every request there, and a reader would
    /// take CPU from the measurement.
    pub(crate) fn start_and_probe(
        command: &mut Command,
        url: String,
        timeout: Duration,
    ) -> Result<Self, String> {
        let (mut child, stderr) = spawn(command, Stdio::null())?;
        let addr = url.strip_prefix("http://").unwrap_or(&url);
        let deadline = Instant::now() + timeout;
        let failure = loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    break format!(
                        "`{}` exited ({status}) before accepting connections on {url}",
                        describe(command)
                    );
                }
                Ok(None) => {}
                Err(e) => break format!("cannot tell whether `{}` runs: {e}", describe(command)),
            }
            if TcpStream::connect(addr).is_ok() {
                return Ok(Self { child, url });
            }
            if Instant::now() >= deadline {
                kill(&mut child);
                break format!(
                    "`{}` did not accept connections on {url} within {timeout:?}",
                    describe(command)
                );
            }
            thread::sleep(Duration::from_millis(100));
        };
        Err(format!("{failure}; its stderr:\n{}", stderr.text()))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        kill(&mut self.child);
    }
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Gives a child that closed its stdout a moment to exit, so that the error
/// can say how it ended, and makes sure it is gone.
fn reap(child: &mut Child) -> String {
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(status)) => return format!("it exited with {status}"),
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => return format!("cannot tell how it ended: {e}"),
        }
    }
    kill(child);
    format!("it still ran after {GRACE:?} and was killed")
}

/// Spawns `command` with the end of its stderr kept, by a thread, for
/// error messages.
fn spawn(command: &mut Command, stdout: Stdio) -> Result<(Child, StderrTail), String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(command)))?;
    let Some(stderr) = child.stderr.take() else {
        kill(&mut child);
        return Err(format!("`{}` has no stderr", describe(command)));
    };
    Ok((child, StderrTail::collect(stderr)))
}

/// Sends stdout's first line (`None` at its end) on the channel, then reads
/// the rest to the end and discards it.
fn first_line(stdout: ChildStdout) -> Receiver<Option<String>> {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let first = match reader.read_line(&mut line) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(line),
        };
        // Nobody listens any more once the start has failed or timed out.
        let _ = sender.send(first);
        let _ = io::copy(&mut reader, &mut io::sink());
    });
    receiver
}

/// The end of a child's stderr, as read so far by its thread.
struct StderrTail(Arc<(Mutex<Tail>, Condvar)>);

#[derive(Default)]
struct Tail {
    bytes: Vec<u8>,
    closed: bool,
}

impl StderrTail {
    fn collect(mut stderr: ChildStderr) -> Self {
        let shared = Arc::new((Mutex::new(Tail::default()), Condvar::new()));
        let writer = Arc::clone(&shared);
        thread::spawn(move || {
            let (tail, closed) = &*writer;
            let mut buffer = [0; 8192];
            loop {
                let read = stderr.read(&mut buffer).unwrap_or(0);
                let mut tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
                if read == 0 {
                    tail.closed = true;
                    closed.notify_all();
                    return;
                }
                tail.bytes.extend_from_slice(&buffer[..read]);
                let excess = tail.bytes.len().saturating_sub(STDERR_KEPT);
                tail.bytes.drain(..excess);
            }
        });
        Self(shared)
    }

    /// Everything kept, once the child has closed stderr or `GRACE` has
    /// passed (a grandchild may hold it open).
    fn text(&self) -> String {
        let (tail, closed) = &*self.0;
        let tail = tail.lock().unwrap_or_else(PoisonError::into_inner);
        let (tail, _) = closed
            .wait_timeout_while(tail, GRACE, |tail| !tail.closed)
            .unwrap_or_else(PoisonError::into_inner);
        let text = String::from_utf8_lossy(&tail.bytes);
        match text.trim_end() {
            "" => "(nothing)".to_owned(),
            text => text.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
