//! Podman as this machine needs it: installed from Debian when missing,
//! run with runc, and given limits it may set. See the field notes: crun
//! fails on every container here, and the default ulimits are refused.

use std::process::{Command, Output};

use crate::process::{apt_install, describe};

/// The open-file limit each container gets: room for the sandbox's
/// default 1024 connections and its own files, and no more than the hard
/// limit this machine allows a process.
const NOFILE: u32 = 4096;

/// Installs podman and runc from Debian when either is missing.
pub(super) fn ensure_installed() -> Result<(), String> {
    let runs = |program: &str| Command::new(program).arg("--version").output().is_ok();
    if runs("podman") && runs("runc") {
        return Ok(());
    }
    apt_install(&["podman", "runc"])
}

/// `podman` with the runtime that works here, for any subcommand.
pub(super) fn podman() -> Command {
    let mut command = Command::new("podman");
    command.args(["--runtime", "runc"]);
    command
}

/// `podman run` with the limits this machine lets a container set.
pub(super) fn run() -> Command {
    let mut command = podman();
    command.args([
        "run",
        "--ulimit",
        &format!("nofile={NOFILE}:{NOFILE}"),
        "--ulimit",
        "nproc=4096:4096",
    ]);
    command
}

/// Runs `command` and returns its stdout, trimmed; an error with its
/// stderr if it fails.
pub(super) fn output_of(command: &mut Command) -> Result<String, String> {
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .output()
        .map_err(|e| format!("cannot run `{}`: {e}", describe(command)))?;
    if status.success() {
        Ok(String::from_utf8_lossy(&stdout).trim().to_owned())
    } else {
        Err(format!(
            "`{}` failed ({status}): {}",
            describe(command),
            String::from_utf8_lossy(&stderr).trim()
        ))
    }
}

/// A container, removed with its anonymous volumes when dropped, however
/// the run ends.
pub(super) struct Container {
    pub(super) name: String,
}

impl Container {
    /// Starts a container named `name` from `image` in the background,
    /// with `options` for `podman run`.
    pub(super) fn start(name: &str, options: &[String], image: &str) -> Result<Self, String> {
        // A container of that name left by a killed run would refuse ours.
        let _ = podman().args(["rm", "--force", "--volumes", name]).output();
        output_of(
            run()
                .args(["--detach", "--name", name])
                .args(options)
                .arg(image),
        )?;
        Ok(Self {
            name: name.to_owned(),
        })
    }

    /// `podman inspect --format FORMAT` of this container.
    pub(super) fn inspect(&self, format: &str) -> Result<String, String> {
        output_of(podman().args(["inspect", "--format", format, &self.name]))
    }

    /// Everything the container wrote on stdout and stderr.
    pub(super) fn logs(&self) -> Result<String, String> {
        let output = podman()
            .args(["logs", &self.name])
            .output()
            .map_err(|e| format!("cannot read the logs of {}: {e}", self.name))?;
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman()
            .args(["rm", "--force", "--volumes", &self.name])
            .output();
    }
}
