//! The schemathesis runs of `cargo xtask conformance`: each spec fuzzed
//! against a fresh sandbox, the examples phase with no hook, then the
//! generated phases from a fixed seed with a hook whose own test runs
//! first.

use std::fs;
use std::process::Command;

use super::{CONTROL_SPEC, Context, INPUTS, SPEC};
use crate::process::{START_TIMEOUT, Server, succeeds, unthrottled_sandbox};

/// A spec that schemathesis fuzzes, and how.
struct Fuzzed {
    /// The published spec.
    spec: &'static str,
    /// Its settings in `INPUTS`.
    config: &'static str,
    /// The hook module of its generated phases, in `INPUTS`, with the test
    /// that runs before them.
    hook: &'static str,
    /// How its sandbox is authenticated against.
    credential: Credential,
}

/// The credential a fuzzed sandbox is started with and schemathesis is
/// given, in an environment variable (never on a command line).
enum Credential {
    /// The bootstrap admin key, as `ALPHAMOON_ADMIN_KEY`.
    AdminKey,
    /// The control token, as `ALPHAMOON_CONTROL_TOKEN`.
    ControlToken,
}

const VENDOR_FUZZ: Fuzzed = Fuzzed {
    spec: SPEC,
    config: "schemathesis.toml",
    hook: "schemathesis_hooks",
    credential: Credential::AdminKey,
};

const CONTROL_FUZZ: Fuzzed = Fuzzed {
    spec: CONTROL_SPEC,
    config: "schemathesis_control.toml",
    hook: "schemathesis_control_hooks",
    credential: Credential::ControlToken,
};

impl Context {
    /// Every check and all four phases, for the vendor spec and then the
    /// control spec, in two runs each, each against a fresh sandbox. The
    /// examples phase runs with no hook, since every example in a published
    /// spec must be accepted as written. The generated phases run with a
    /// hook for what JSON Schema cannot say: for the vendor spec,
    /// `schemathesis_hooks.py` moves a past `exp` into the future; for the
    /// control spec, `schemathesis_control_hooks.py` gives fixture secrets
    /// their checksum and faults members that agree. Each hook's own test
    /// runs first and proves that it changes nothing else.
    pub(super) fn schemathesis(&mut self) -> Result<(), String> {
        for (fuzzed, examples, hook, generated) in [
            (
                &VENDOR_FUZZ,
                "all checks; examples phase, no hook",
                "the generated phases' hook moves only a past `exp`",
                "all checks; coverage, fuzzing, stateful phases",
            ),
            (
                &CONTROL_FUZZ,
                "control spec: all checks; examples phase, no hook",
                "control spec: the hook fixes only what the schema cannot state",
                "control spec: all checks; coverage, fuzzing, stateful phases",
            ),
        ] {
            let passed = self.schemathesis_run(fuzzed, "examples", false)?;
            self.record("schemathesis", examples, passed);

            let hook_ok = succeeds(
                self.python()
                    .arg(self.input(&format!("{}_test.py", fuzzed.hook)))
                    .env("PYTHONPATH", self.root.join(INPUTS)),
            )?;
            self.record("schemathesis", hook, hook_ok);
            let passed = self.schemathesis_run(fuzzed, "coverage,fuzzing,stateful", true)?;
            self.record("schemathesis", generated, passed);
        }
        Ok(())
    }

    /// One schemathesis run of `phases` of `fuzzed` against a fresh
    /// sandbox, with its hook loaded or with no hook at all.
    fn schemathesis_run(&self, fuzzed: &Fuzzed, phases: &str, hook: bool) -> Result<bool, String> {
        let (flag, file, variable) = match fuzzed.credential {
            Credential::AdminKey => ("--bootstrap-key-file", "admin.key", "ALPHAMOON_ADMIN_KEY"),
            Credential::ControlToken => (
                "--control-token-file",
                "control.token",
                "ALPHAMOON_CONTROL_TOKEN",
            ),
        };
        let secret_file = self.work.join(file);
        let _ = fs::remove_file(&secret_file);
        let server = Server::start(
            unthrottled_sandbox(&self.sandbox_bin())
                .arg("--in-memory")
                .arg(flag)
                .arg(&secret_file),
            START_TIMEOUT,
        )?;
        let secret = fs::read_to_string(&secret_file).map_err(|e| e.to_string())?;
        let mut command = Command::new(self.venv_bin("schemathesis"));
        // Its hooks check their input with `assert`.
        command.env_remove("PYTHONOPTIMIZE");
        command
            .arg("--config-file")
            .arg(self.input(fuzzed.config))
            .args(["run", "--checks", "all", "--phases", phases, "--no-color"])
            .arg(self.root.join(fuzzed.spec))
            .env("ALPHAMOON_SANDBOX_URL", &server.url)
            .env(variable, secret.trim())
            // Nothing from the caller's environment may load a hook.
            .env_remove("SCHEMATHESIS_HOOKS")
            .env_remove("PYTHONPATH")
            .current_dir(&self.work);
        if hook {
            command
                .env("SCHEMATHESIS_HOOKS", fuzzed.hook)
                .env("PYTHONPATH", self.root.join(INPUTS))
                .args(["--seed", &generation_seed()]);
        }
        let passed = succeeds(&mut command)?;
        drop(server);
        Ok(passed)
    }
}

/// The seed of the generated phases. CI must give the same verdict on the
/// same tree, so it runs one fixed seed; `ALPHAMOON_CONFORMANCE_SEED` runs
/// another, to explore (schemathesis prints the seed of every run, so a
/// failure found that way can be replayed).
fn generation_seed() -> String {
    std::env::var("ALPHAMOON_CONFORMANCE_SEED").unwrap_or_else(|_| FIXED_SEED.to_owned())
}

const FIXED_SEED: &str = "231729465176757471464279659578563144407";
