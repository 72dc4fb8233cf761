//! `cargo xtask conformance`: proves the published spec works with the tools
//! other languages use. Pinned tools are installed under
//! `conformance/` in the target directory from PyPI and npm (a venv, and `npm ci` from the
//! committed lock file); everything they generate stays there too.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

mod schemathesis;

use crate::process::{must, npm_ci, succeeds, up_to_date};

/// The committed inputs: pins, lock file, configs and the scripts.
const INPUTS: &str = "xtask/conformance";
const SPEC: &str = "openapi/alphamoon-workspace.json";

/// The sandbox control plane's published spec: linted like the vendor's,
/// generated into a Python client, and fuzzed against a sandbox of its own,
/// since its resets would disturb any other run.
const CONTROL_SPEC: &str = "openapi/alphamoon-sandbox-control.json";

/// One line of the summary table.
struct Outcome {
    tool: String,
    version: String,
    what: &'static str,
    passed: bool,
}

struct Context {
    root: PathBuf,
    work: PathBuf,
    outcomes: Vec<Outcome>,
}

pub(crate) fn run(root: &Path) -> Result<(), String> {
    let mut cx = Context::new(root)?;
    cx.install_python()?;
    cx.install_node()?;
    crate::cargo(
        root,
        &["build", "--locked", "--package", "alphamoon-sandbox"],
    )?;

    cx.validate();
    cx.python_client()?;
    cx.typescript_types()?;
    cx.schemathesis()?;

    println!("\n| tool | version | checked | result |\n|---|---|---|---|");
    for o in &cx.outcomes {
        let result = if o.passed { "pass" } else { "FAIL" };
        println!("| {} | {} | {} | {result} |", o.tool, o.version, o.what);
    }
    let failed: Vec<&str> = cx
        .outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.tool.as_str())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("conformance failed: {}", failed.join(", ")))
    }
}

/// The version a tool is pinned to in `requirements.txt` or `package.json`.
fn pinned(root: &Path, tool: &str) -> String {
    let requirements =
        fs::read_to_string(root.join(INPUTS).join("requirements.txt")).unwrap_or_default();
    if let Some(version) = requirements
        .lines()
        .find_map(|l| l.strip_prefix(tool)?.strip_prefix("=="))
    {
        return version.trim().to_owned();
    }
    let package = fs::read_to_string(root.join(INPUTS).join("package.json")).unwrap_or_default();
    serde_json::from_str::<serde_json::Value>(&package)
        .ok()
        .and_then(|p| p["devDependencies"][tool].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// The venv's Python, with the clients generated from both published specs
/// importable: for scripts that drive a sandbox the xtask started
/// elsewhere, such as in a container.
pub(crate) struct PythonWithClients {
    context: Context,
    path: std::ffi::OsString,
}

impl PythonWithClients {
    /// Installs the venv and generates both clients.
    pub(crate) fn install(root: &Path) -> Result<Self, String> {
        let context = Context::new(root)?;
        context.install_python()?;
        let packages = [
            (SPEC, context.work.join("python-client")),
            (CONTROL_SPEC, context.work.join("python-control-client")),
        ];
        for (spec, out) in &packages {
            if !context.python_generate(spec, out)? {
                return Err(format!(
                    "openapi-python-client cannot generate a client from {spec}"
                ));
            }
        }
        let path = std::env::join_paths(packages.iter().map(|(_, out)| out))
            .map_err(|e| format!("cannot build PYTHONPATH: {e}"))?;
        Ok(Self { context, path })
    }

    /// A command that runs this Python with the clients on its path.
    pub(crate) fn command(&self) -> Command {
        let mut python = self.context.python();
        python.env("PYTHONPATH", &self.path);
        python
    }
}

impl Context {
    fn new(root: &Path) -> Result<Self, String> {
        let work = crate::target_dir(root).join("conformance");
        fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
        Ok(Self {
            root: root.to_path_buf(),
            work,
            outcomes: Vec::new(),
        })
    }

    fn input(&self, name: &str) -> PathBuf {
        self.root.join(INPUTS).join(name)
    }

    /// The debug sandbox that `run` builds.
    fn sandbox_bin(&self) -> PathBuf {
        crate::target_dir(&self.root).join("debug/alphamoon-sandbox")
    }

    fn venv_bin(&self, name: &str) -> PathBuf {
        self.work.join("venv/bin").join(name)
    }

    fn node_bin(&self, name: &str) -> PathBuf {
        self.work.join("node/node_modules/.bin").join(name)
    }

    fn record(&mut self, tool: &str, what: &'static str, passed: bool) {
        self.outcomes.push(Outcome {
            tool: tool.to_owned(),
            version: pinned(&self.root, tool),
            what,
            passed,
        });
    }

    fn install_python(&self) -> Result<(), String> {
        let requirements = fs::read_to_string(self.input("requirements.txt"))
            .map_err(|e| format!("cannot read requirements.txt: {e}"))?;
        let stamp = self.work.join("venv/.installed");
        if up_to_date(&stamp, &requirements) {
            return Ok(());
        }
        must(
            Command::new("python3")
                .args(["-m", "venv"])
                .arg(self.work.join("venv")),
        )?;
        must(
            Command::new(self.venv_bin("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(self.input("requirements.txt")),
        )?;
        fs::write(&stamp, requirements).map_err(|e| e.to_string())
    }

    fn install_node(&self) -> Result<(), String> {
        npm_ci(&self.root.join(INPUTS), &self.work.join("node"))
    }

    /// Three validators over the published JSON; warnings count as
    /// failures unless a committed config accepts them with a reason.
    fn validate(&mut self) {
        let specs = [self.root.join(SPEC), self.root.join(CONTROL_SPEC)];
        let ok = succeeds(Command::new(self.venv_bin("openapi-spec-validator")).args(&specs))
            .unwrap_or(false);
        self.record(
            "openapi-spec-validator",
            "both specs are valid OpenAPI 3.0",
            ok,
        );

        let ok = succeeds(
            Command::new(self.node_bin("redocly"))
                .args(["lint", "--max-problems", "50", "--config"])
                .arg(self.input("redocly.yaml"))
                .args(&specs)
                .env("REDOCLY_TELEMETRY", "off")
                .env("REDOCLY_SUPPRESS_UPDATE_NOTICE", "true"),
        )
        .unwrap_or(false);
        self.record("@redocly/cli", "lint, recommended-strict rules", ok);

        let ok = succeeds(
            Command::new(self.node_bin("spectral"))
                .args(["lint", "--fail-severity", "warn", "--ruleset"])
                .arg(self.input("spectral.yaml"))
                .args(&specs),
        )
        .unwrap_or(false);
        self.record("@stoplight/spectral-cli", "lint, spectral:oas rules", ok);
    }

    /// Generates a Python client from each spec, then drives the sandbox
    /// binary with them: the vendor API alone, then the control plane and
    /// the vendor API together.
    fn python_client(&mut self) -> Result<(), String> {
        let vendor = self.work.join("python-client");
        let control = self.work.join("python-control-client");
        let generated = self.python_generate(SPEC, &vendor)?;
        let used = generated && self.python_run("python_smoke.py", &[&vendor])?;
        self.record(
            "openapi-python-client",
            "generated client drives the sandbox",
            used,
        );
        let generated = self.python_generate(CONTROL_SPEC, &control)?;
        let used = generated && self.python_run("python_control.py", &[&vendor, &control])?;
        self.record(
            "openapi-python-client",
            "control client: fixtures, faults, clock, journal",
            used,
        );
        Ok(())
    }

    /// Runs openapi-python-client on `spec` into `out`.
    fn python_generate(&self, spec: &str, out: &Path) -> Result<bool, String> {
        let venv_path = format!(
            "{}:{}",
            self.work.join("venv/bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        succeeds(
            Command::new(self.venv_bin("openapi-python-client"))
                .args(["generate", "--overwrite", "--path"])
                .arg(self.root.join(spec))
                .arg("--output-path")
                .arg(out)
                // It formats its output with ruff, which the venv holds.
                .env("PATH", &venv_path),
        )
    }

    /// The venv's Python, with `assert` in force: the committed scripts
    /// check with it, and an inherited `PYTHONOPTIMIZE` would strip every
    /// check and let them pass.
    fn python(&self) -> Command {
        let mut command = Command::new(self.venv_bin("python"));
        command.env_remove("PYTHONOPTIMIZE");
        command
    }

    /// Runs one of the committed scripts against the sandbox binary, with
    /// the generated packages in `packages` importable.
    fn python_run(&self, script: &str, packages: &[&Path]) -> Result<bool, String> {
        let path =
            std::env::join_paths(packages).map_err(|e| format!("cannot build PYTHONPATH: {e}"))?;
        succeeds(
            self.python()
                .arg(self.input(script))
                .arg(self.sandbox_bin())
                .env("PYTHONPATH", path),
        )
    }

    /// Generates TypeScript types and type-checks a file that uses them.
    fn typescript_types(&mut self) -> Result<(), String> {
        let dir = self.work.join("typescript");
        fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        fs::copy(self.input("usage.ts"), dir.join("usage.ts")).map_err(|e| e.to_string())?;
        let generated = succeeds(
            Command::new(self.node_bin("openapi-typescript"))
                .arg(self.root.join(SPEC))
                .arg("--output")
                .arg(dir.join("schema.d.ts")),
        )?;
        self.record("openapi-typescript", "types generated", generated);
        let checked = generated
            && succeeds(
                Command::new(self.node_bin("tsc"))
                    .args([
                        "--noEmit",
                        "--strict",
                        "--target",
                        "es2022",
                        "--module",
                        "esnext",
                        "--moduleResolution",
                        "bundler",
                        "usage.ts",
                    ])
                    .current_dir(&dir),
            )?;
        self.record("typescript", "usage.ts type-checks (tsc --noEmit)", checked);
        Ok(())
    }
}
