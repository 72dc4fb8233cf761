//! The sandbox's pages in a real browser.
//!
//! `cargo xtask browser` (and `ci`) starts a release sandbox with its
//! control plane on, and runs `xtask/browser/pages.test.mjs` with
//! `playwright-core` driving Debian's Chromium (installed with apt when
//! missing: Playwright's own browser download needs a host that CI
//! machines without general network access cannot reach)
//! over the reference at `/docs` and `/_sandbox/docs`, the console, and
//! the standalone reference opened from disk. Screenshots land under
//! `browser/screenshots/` in the target directory.
//!
//! The same npm lock file pins the Swagger UI release the pages embed;
//! [`vendor`] copies it into the sandbox crate.

pub(crate) mod standalone;
pub(crate) mod vendor;

use std::fs;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{Server, apt_install, must, npm_ci, random_hex, unthrottled_sandbox};

/// The committed inputs: the npm pins and the tests.
pub(crate) const INPUTS: &str = "xtask/browser";

/// Where Debian puts Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Installs the pinned npm packages under the target directory, and
/// returns that directory.
pub(crate) fn install(root: &Path) -> Result<PathBuf, String> {
    let node = crate::target_dir(root).join("browser").join("node");
    npm_ci(&root.join(INPUTS), &node)?;
    Ok(node)
}

/// What `cargo xtask reference` writes.
#[derive(clap::Args, Debug)]
pub(crate) struct ReferenceOptions {
    /// The file to write; by default reference/alphamoon-workspace.html in
    /// the target directory
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

/// `cargo xtask reference`.
pub(crate) fn reference(root: &Path, options: &ReferenceOptions) -> Result<(), String> {
    standalone::write(root, options.out.as_deref()).map(|_| ())
}

/// `cargo xtask browser`: the browser tests, against the release build.
pub(crate) fn run(root: &Path) -> Result<(), String> {
    if !Path::new(CHROMIUM).exists() {
        apt_install(&["chromium"])?;
    }
    let node = install(root)?;
    vendor::matches_installed(root, &node.join("node_modules"))?;
    crate::bench::build_release(root)?;
    let target = crate::target_dir(root);
    let work = target.join("browser");
    let standalone = standalone::write(root, Some(&work.join("alphamoon-workspace.html")))?;
    let screenshots = work.join("screenshots");
    let _ = fs::remove_dir_all(&screenshots);
    fs::create_dir_all(&screenshots)
        .map_err(|e| format!("cannot create {}: {e}", screenshots.display()))?;

    let token = format!("amc_{}", random_hex()?);
    let token_file = work.join("control-token");
    write_private(&token_file, &token)?;
    let sandbox = Server::start(
        unthrottled_sandbox(&target.join("release/alphamoon-sandbox"))
            .arg("--in-memory")
            .arg("--control-token-file")
            .arg(&token_file),
        Duration::from_secs(30),
    )?;
    crate::step("browser tests: Chromium over the reference pages and the console");
    must(
        Command::new("node")
            .args(["--test", "--test-concurrency=1"])
            .arg(root.join(INPUTS).join("pages.test.mjs"))
            .current_dir(&work)
            .env("NODE_PATH", node.join("node_modules"))
            .env("SANDBOX_URL", &sandbox.url)
            .env("CONTROL_TOKEN", &token)
            .env("ALPHAMOON_CLI", target.join("release/alphamoon"))
            .env("STANDALONE_REFERENCE", &standalone)
            .env("SCREENSHOTS", &screenshots)
            .env("CHROMIUM", CHROMIUM)
            .env("NODE_MODULES", node.join("node_modules"))
            .env("VENDOR_SPEC", root.join("openapi/alphamoon-workspace.json"))
            .env(
                "CONTROL_SPEC",
                root.join("openapi/alphamoon-sandbox-control.json"),
            ),
    )?;
    println!("screenshots for review: {}", screenshots.display());
    Ok(())
}

/// Writes `content` to a file only its owner can read, as the sandbox
/// expects of a token file.
fn write_private(path: &Path, content: &str) -> Result<(), String> {
    let _ = fs::remove_file(path);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, content.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
