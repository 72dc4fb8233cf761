//! The files derived from the hand-written spec and from the committed
//! bench reports, and how each is rendered.

use std::fs;
use std::path::{Path, PathBuf};

use crate::bench;

/// The hand-written source of truth, relative to the workspace root.
pub(crate) const SPEC_YAML: &str = "openapi/alphamoon-workspace.yaml";

/// The sandbox's own control plane, described apart so that the vendor
/// spec stays exactly the vendor's.
pub(crate) const CONTROL_SPEC_YAML: &str = "openapi/alphamoon-sandbox-control.yaml";

/// Every hand-written spec, with the JSON renderings `gen` writes of it.
pub(crate) const SPECS: [(&str, &[&str]); 2] = [
    // The published rendering for other languages' generators, and the
    // copy the client's build script reads: `cargo package` ships only
    // files inside the crate, so the build cannot reach `openapi/`.
    (
        SPEC_YAML,
        &[
            "openapi/alphamoon-workspace.json",
            "crates/client/alphamoon-workspace.json",
        ],
    ),
    // Likewise for the control plane's client, which the sandbox's build
    // script generates.
    (
        CONTROL_SPEC_YAML,
        &[
            "openapi/alphamoon-sandbox-control.json",
            "crates/sandbox/alphamoon-sandbox-control.json",
        ],
    ),
];

/// The guide that shows the committed bench reports.
pub(crate) const BENCH_GUIDE: &str = "docs/benchmarks.md";

/// The guide's lines between which `gen` puts the bench reports; everything
/// outside them stays hand-written.
const REPORT_BEGIN: &str = "<!-- bench-report:begin -->";
const REPORT_END: &str = "<!-- bench-report:end -->";

/// A file that `cargo xtask gen` writes, with the content it should hold.
pub(crate) struct Derived {
    pub(crate) path: PathBuf,
    pub(crate) content: String,
    /// What it is derived from, for the message when it is stale.
    pub(crate) source: &'static str,
}

fn read(root: &Path, path: &str) -> Result<String, String> {
    fs::read_to_string(root.join(path)).map_err(|e| format!("cannot read {path}: {e}"))
}

/// Reads the YAML spec at `path` as a JSON value, the form every consumer
/// uses.
pub(crate) fn load_yaml(root: &Path, path: &str) -> Result<serde_json::Value, String> {
    let text = read(root, path)?;
    serde_yaml::from_str(&text).map_err(|e| format!("{path} is not valid YAML: {e}"))
}

/// Renders every derived file, without touching the disk.
pub(crate) fn render_all(root: &Path) -> Result<Vec<Derived>, String> {
    let mut files = Vec::new();
    for (yaml, renderings) in SPECS {
        let mut json = serde_json::to_string_pretty(&load_yaml(root, yaml)?)
            .map_err(|e| format!("cannot render {yaml} as JSON: {e}"))?;
        json.push('\n');
        files.extend(renderings.iter().map(|path| Derived {
            path: PathBuf::from(path),
            content: json.clone(),
            source: yaml,
        }));
    }
    files.push(Derived {
        path: PathBuf::from(BENCH_GUIDE),
        content: bench_guide(root)?,
        source: "the bench reports in xtask/bench/, which `gen` copies between its bench-report markers",
    });
    Ok(files)
}

/// The bench guide with the committed bench reports between its markers,
/// so that it shows the last real measurement and no hand-edited number.
fn bench_guide(root: &Path) -> Result<String, String> {
    let reports = bench::REPORTS
        .iter()
        .map(|path| read(root, path).map(|report| report.trim_end().to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    splice(&read(root, BENCH_GUIDE)?, &reports.join("\n\n"))
        .map_err(|e| format!("{BENCH_GUIDE}: {e}"))
}

/// Replaces what stands between the report markers in `text` with
/// `content`, set off by blank lines.
fn splice(text: &str, content: &str) -> Result<String, String> {
    let single = |marker: &str| {
        let found: Vec<usize> = text.match_indices(marker).map(|(at, _)| at).collect();
        match found[..] {
            [at] => Ok(at),
            [] => Err(format!("the line `{marker}` is missing")),
            _ => Err(format!(
                "the line `{marker}` appears {} times; keep one",
                found.len()
            )),
        }
    };
    let begin = single(REPORT_BEGIN)? + REPORT_BEGIN.len();
    let end = single(REPORT_END)?;
    if end < begin {
        return Err(format!("`{REPORT_END}` comes before `{REPORT_BEGIN}`"));
    }
    Ok(format!(
        "{}\n\n{}\n\n{}",
        &text[..begin],
        content.trim_end(),
        &text[end..]
    ))
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
/// never leaves a half-written file behind.
pub(crate) fn write_atomically(path: &Path, content: &str) -> Result<(), String> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, content).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed step in a test is a failed test
mod tests {
    use super::*;

    #[test]
    fn the_report_replaces_exactly_what_stands_between_the_markers() {
        let readme =
            format!("# Title\n\nBefore.\n{REPORT_BEGIN}\nold numbers\n\n{REPORT_END}\nAfter.\n");
        let spliced = splice(&readme, "| new | numbers |\n").unwrap();
        assert_eq!(
            spliced,
            format!(
                "# Title\n\nBefore.\n{REPORT_BEGIN}\n\n| new | numbers |\n\n{REPORT_END}\nAfter.\n"
            )
        );
        assert_eq!(splice(&spliced, "| new | numbers |").unwrap(), spliced);
    }

    #[test]
    fn misplaced_markers_are_named() {
        let err = splice("no markers here\n", "x").unwrap_err();
        assert!(
            err.contains(REPORT_BEGIN) && err.contains("missing"),
            "{err}"
        );
        let err = splice(&format!("{REPORT_BEGIN}\n"), "x").unwrap_err();
        assert!(err.contains(REPORT_END) && err.contains("missing"), "{err}");
        let err = splice(&format!("{REPORT_END}\n{REPORT_BEGIN}\n"), "x").unwrap_err();
        assert!(err.contains("comes before"), "{err}");
        let err = splice(
            &format!("{REPORT_BEGIN}\n{REPORT_BEGIN}\n{REPORT_END}\n"),
            "x",
        )
        .unwrap_err();
        assert!(err.contains("appears 2 times"), "{err}");
    }
}
