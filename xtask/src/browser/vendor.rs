//! The Swagger UI release the sandbox's reference pages embed, vendored
//! into the sandbox crate so that `cargo build` needs no npm.
//!
//! `cargo xtask gen` copies the files from the npm package pinned in
//! `xtask/browser/package-lock.json` and writes a manifest of their SHA-256
//! hashes beside them; `cargo xtask check` holds the files to that
//! manifest and the manifest to the pin, without npm or the network.

use std::fs;
use std::path::Path;

use sha2::{Digest as _, Sha256};

/// Where the vendored files live, relative to the workspace root.
pub(crate) const DIR: &str = "crates/sandbox/assets/swagger-ui";

/// The npm package they come from.
const PACKAGE: &str = "swagger-ui-dist";

/// The files taken from the package: what the pages load, and the licence
/// and notices that must travel with them.
const FILES: [&str; 5] = [
    "swagger-ui-bundle.js",
    "swagger-ui-bundle.js.LICENSE.txt",
    "swagger-ui.css",
    "LICENSE",
    "NOTICE",
];

/// The manifest's name inside [`DIR`].
const MANIFEST: &str = "VENDORED";

const HEADER: &str = "\
# Written by `cargo xtask gen` from the npm package on the next line, as
# xtask/browser/package.json pins it (and its lock file verifies it).
# `cargo xtask check` holds every file here to its SHA-256 below; never
# edit them by hand.
";

/// The version of [`PACKAGE`] that `xtask/browser/package.json` pins.
fn pinned_version(root: &Path) -> Result<String, String> {
    let path = root.join(super::INPUTS).join("package.json");
    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
    json["devDependencies"][PACKAGE]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{} pins no {PACKAGE}", path.display()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The manifest for `version`, with each file's content as `read` gives it.
fn manifest(
    version: &str,
    mut read: impl FnMut(&str) -> Result<Vec<u8>, String>,
) -> Result<String, String> {
    let mut text = format!("{HEADER}{PACKAGE} {version}\n");
    for file in FILES {
        text.push_str(&format!("{}  {file}\n", sha256_hex(&read(file)?)));
    }
    Ok(text)
}

/// `cargo xtask gen`'s part: installs the pinned package and copies its
/// files in, writing only what changed and removing what no longer
/// belongs. Files that already match the pin are left alone without npm,
/// so that a change to the spec alone regenerates offline.
pub(crate) fn refresh(root: &Path) -> Result<(), String> {
    if verify(root).is_ok() {
        println!("unchanged {DIR} (as pinned)");
        return Ok(());
    }
    let version = pinned_version(root)?;
    let package = super::install(root)?.join("node_modules").join(PACKAGE);
    let installed: serde_json::Value = fs::read_to_string(package.join("package.json"))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .ok_or_else(|| format!("{} holds no package.json", package.display()))?;
    if installed["version"].as_str() != Some(version.as_str()) {
        return Err(format!(
            "{PACKAGE} {} is installed but package.json pins {version}; update \
             xtask/browser/package-lock.json with `npm install --package-lock-only` there",
            installed["version"]
        ));
    }
    let dir = root.join(DIR);
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {DIR}: {e}"))?;
    let read = |file: &str| {
        fs::read(package.join(file)).map_err(|e| format!("cannot read {PACKAGE}/{file}: {e}"))
    };
    let mut files = Vec::new();
    for file in FILES {
        files.push((file.to_owned(), read(file)?));
    }
    files.push((MANIFEST.to_owned(), manifest(&version, read)?.into_bytes()));
    for (file, content) in files {
        let path = dir.join(&file);
        if fs::read(&path).is_ok_and(|old| old == content) {
            println!("unchanged {DIR}/{file}");
            continue;
        }
        let partial = dir.join(format!(".{file}.partial"));
        fs::write(&partial, &content)
            .and_then(|()| fs::rename(&partial, &path))
            .map_err(|e| format!("cannot write {DIR}/{file}: {e}"))?;
        println!("wrote     {DIR}/{file}");
    }
    for stale in strays(&dir)? {
        fs::remove_file(dir.join(&stale))
            .map_err(|e| format!("cannot remove {DIR}/{stale}: {e}"))?;
        println!("removed   {DIR}/{stale}");
    }
    Ok(())
}

/// The files in `dir` that are neither vendored nor the manifest, by name.
fn strays(dir: &Path) -> Result<Vec<String>, String> {
    let mut strays: Vec<String> = fs::read_dir(dir)
        .map_err(|e| format!("cannot list {DIR}: {e}"))?
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name != MANIFEST && !FILES.contains(&name.as_str()))
        .collect();
    strays.sort();
    Ok(strays)
}

/// `cargo xtask check`'s part: the manifest names the pinned version, and
/// the directory holds exactly the files it lists, with their hashes.
pub(crate) fn verify(root: &Path) -> Result<(), String> {
    let dir = root.join(DIR);
    let version = pinned_version(root)?;
    let expected = manifest(&version, |file| {
        fs::read(dir.join(file)).map_err(|e| format!("cannot read {DIR}/{file}: {e}"))
    })?;
    let found = fs::read_to_string(dir.join(MANIFEST))
        .map_err(|e| format!("cannot read {DIR}/{MANIFEST}: {e}; run `cargo xtask gen`"))?;
    if found != expected {
        return Err(format!(
            "{DIR} does not match its manifest or the pinned {PACKAGE} {version}: \
             run `cargo xtask gen` to vendor the pinned release again"
        ));
    }
    let extra = strays(&dir)?;
    if !extra.is_empty() {
        return Err(format!(
            "{DIR} holds files that no package put there: {}",
            extra.join(", ")
        ));
    }
    println!("{DIR} holds {PACKAGE} {version} as pinned");
    Ok(())
}

/// The vendored files are byte for byte the ones in the package installed
/// at `node_modules`, which npm checked against the lock file's integrity
/// hash: the proof that the manifest's hashes are the release's.
pub(crate) fn matches_installed(root: &Path, node_modules: &Path) -> Result<(), String> {
    for file in FILES {
        let vendored = fs::read(root.join(DIR).join(file))
            .map_err(|e| format!("cannot read {DIR}/{file}: {e}"))?;
        let released = fs::read(node_modules.join(PACKAGE).join(file))
            .map_err(|e| format!("cannot read the installed {PACKAGE}/{file}: {e}"))?;
        if vendored != released {
            return Err(format!(
                "{DIR}/{file} differs from the pinned {PACKAGE}'s: run `cargo xtask gen`"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed step in a test is a failed test
mod tests {
    use super::*;

    /// The committed files pass their own check, and a changed byte fails
    /// it.
    #[test]
    fn a_changed_file_fails_the_check() {
        let root = crate::workspace_root();
        verify(&root).expect("the committed vendored files are as pinned");

        let copy = tempfile_root(&root);
        verify(&copy).expect("a faithful copy passes");
        let css = copy.join(DIR).join("swagger-ui.css");
        let mut bytes = fs::read(&css).unwrap();
        bytes.push(b' ');
        fs::write(&css, bytes).unwrap();
        let err = verify(&copy).expect_err("a changed file fails");
        assert!(err.contains("does not match"), "{err}");

        fs::write(copy.join(DIR).join("extra.js"), "").unwrap();
        fs::copy(
            root.join(DIR).join("swagger-ui.css"),
            copy.join(DIR).join("swagger-ui.css"),
        )
        .unwrap();
        let err = verify(&copy).expect_err("an extra file fails");
        assert!(err.contains("extra.js"), "{err}");
        fs::remove_dir_all(copy).unwrap();
    }

    /// A copy of what `verify` reads, in a fresh directory under the
    /// target directory.
    fn tempfile_root(root: &Path) -> std::path::PathBuf {
        let copy = crate::target_dir(root).join(format!("vendor-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&copy);
        fs::create_dir_all(copy.join(DIR)).unwrap();
        fs::create_dir_all(copy.join(super::super::INPUTS)).unwrap();
        fs::copy(
            root.join(super::super::INPUTS).join("package.json"),
            copy.join(super::super::INPUTS).join("package.json"),
        )
        .unwrap();
        for file in FILES.iter().chain([&MANIFEST]) {
            fs::copy(root.join(DIR).join(file), copy.join(DIR).join(file)).unwrap();
        }
        copy
    }
}
