//! Child processes the xtask starts and must stop: servers under test.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};

/// A child process that is killed when this value is dropped, however the
/// run ends.
pub(crate) struct Server {
    child: Child,
    /// The base URL the server printed.
    pub(crate) url: String,
}

impl Server {
    /// Starts `command` and waits for the `listening on http://ADDR` line
    /// that the sandbox and the bench ceiling print once they accept
    /// connections.
    pub(crate) fn start(command: &mut Command) -> Result<Self, String> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {:?}: {e}", command.get_program()))?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
        match line.trim().strip_prefix("listening on ") {
            Some(url) => Ok(Self {
                child,
                url: url.to_owned(),
            }),
            None => {
                let _ = child.kill();
                Err(format!(
                    "{:?} did not start: {line:?}",
                    command.get_program()
                ))
            }
        }
    }

    /// Wraps a child whose readiness the caller checks itself.
    pub(crate) fn adopt(child: Child, url: String) -> Self {
        Self { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
