//! The files derived from the hand-written spec, and how each is rendered.

use std::fs;
use std::path::{Path, PathBuf};

/// The hand-written source of truth, relative to the workspace root.
pub(crate) const SPEC_YAML: &str = "openapi/alphamoon-workspace.yaml";

/// A file that `cargo xtask gen` writes, with the content it should hold.
pub(crate) struct Derived {
    pub(crate) path: PathBuf,
    pub(crate) content: String,
}

/// Reads the YAML spec as a JSON value, the form every consumer uses.
pub(crate) fn load_spec(root: &Path) -> Result<serde_json::Value, String> {
    let path = root.join(SPEC_YAML);
    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| format!("{SPEC_YAML} is not valid YAML: {e}"))
}

/// Renders every derived file from the spec, without touching the disk.
pub(crate) fn render_all(root: &Path) -> Result<Vec<Derived>, String> {
    let spec = load_spec(root)?;
    let mut json = serde_json::to_string_pretty(&spec)
        .map_err(|e| format!("cannot render the spec as JSON: {e}"))?;
    json.push('\n');
    // The published rendering for other languages' generators, and the copy
    // the client's build script reads: `cargo package` ships only files
    // inside the crate, so the build cannot reach `openapi/`.
    Ok([
        "openapi/alphamoon-workspace.json",
        "crates/client/alphamoon-workspace.json",
    ]
    .into_iter()
    .map(|path| Derived {
        path: PathBuf::from(path),
        content: json.clone(),
    })
    .collect())
}

/// `cargo xtask gen`: writes every derived file that changed.
pub(crate) fn write_all(root: &Path) -> Result<(), String> {
    for file in render_all(root)? {
        let path = root.join(&file.path);
        if fs::read_to_string(&path).ok().as_deref() == Some(file.content.as_str()) {
            println!("unchanged {}", file.path.display());
            continue;
        }
        write_atomically(&path, &file.content)?;
        println!("wrote     {}", file.path.display());
    }
    println!(
        "\nnext: `cargo test -p alphamoon-client` and review any snapshot change \
         with `cargo insta review` (or accept with INSTA_UPDATE=always)"
    );
    Ok(())
}

/// Writes through a temporary file and a rename, so that an interrupted run
/// never leaves a half-written spec behind.
fn write_atomically(path: &Path, content: &str) -> Result<(), String> {
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, content).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}
