//! The length rule: a hand-written source file stays within 400 lines, so
//! that each reads as one subject; past that, it is split by what its parts
//! do. Test files are exempt: a long list of cases is still one subject.

use std::fmt;
use std::fs;
use std::path::Path;

/// The most lines a source file may have.
pub(super) const MAX_LINES: usize = 400;

/// The source folders of the crates, from the workspace root: each one
/// under `crates/`, and the xtask's.
fn source_dirs(root: &Path) -> Result<Vec<String>, String> {
    let crates = root.join("crates");
    let mut dirs = Vec::new();
    // A tree without crates (a test's copy of the specs) has none to check.
    if let Ok(entries) = fs::read_dir(&crates) {
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", crates.display()))?;
            if entry.path().join("src").is_dir() {
                dirs.push(format!(
                    "crates/{}/src",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    dirs.sort();
    dirs.push("xtask/src".to_owned());
    Ok(dirs)
}

/// A source file over the limit.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct LongFile {
    /// The file, from the workspace root.
    pub(super) path: String,
    /// How many lines it has.
    pub(super) lines: usize,
}

impl fmt::Display for LongFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} lines, over the {MAX_LINES} allowed; hint: split it by what its parts do \
             (only tests.rs files and tests/ folders may be longer)",
            self.path, self.lines
        )
    }
}

/// Whether the file at `path`, relative to its source folder, is held to
/// the limit: test files are not.
fn is_held(path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('/').collect();
    let name = parts.pop().unwrap_or_default();
    name != "tests.rs" && !parts.contains(&"tests")
}

/// The files in `dir` (from the root) that break the limit, given each
/// file's path relative to `dir` and its source.
pub(super) fn too_long(dir: &str, files: &[(String, String)]) -> Vec<LongFile> {
    files
        .iter()
        .filter(|(path, _)| is_held(path))
        .map(|(path, source)| LongFile {
            path: format!("{dir}/{path}"),
            lines: source.lines().count(),
        })
        .filter(|file| file.lines > MAX_LINES)
        .collect()
}

/// Reads every source folder under `root` and returns its files over the
/// limit.
pub(super) fn check(root: &Path) -> Result<Vec<LongFile>, String> {
    let mut long = Vec::new();
    for dir in source_dirs(root)? {
        let mut files = Vec::new();
        for path in super::rust_files(&root.join(&dir))? {
            let source = fs::read_to_string(root.join(&dir).join(&path))
                .map_err(|e| format!("cannot read {dir}/{path}: {e}"))?;
            files.push((path, source));
        }
        long.append(&mut too_long(&dir, &files));
    }
    Ok(long)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_over_the_limit_are_named_with_their_length() {
        let lines = |n: usize| "x\n".repeat(n);
        let files = [
            ("short.rs", lines(MAX_LINES)),
            ("long.rs", lines(MAX_LINES + 1)),
            ("api/long.rs", lines(614)),
            ("api/tests.rs", lines(900)),
            ("tests/support.rs", lines(900)),
            ("api/tests/cases.rs", lines(900)),
        ]
        .map(|(path, source)| (path.to_owned(), source));
        let long = too_long("crates/x/src", &files);
        assert_eq!(
            long,
            [
                LongFile {
                    path: "crates/x/src/long.rs".to_owned(),
                    lines: 401,
                },
                LongFile {
                    path: "crates/x/src/api/long.rs".to_owned(),
                    lines: 614,
                },
            ]
        );
        assert!(
            long[1]
                .to_string()
                .starts_with("crates/x/src/api/long.rs: 614 lines")
        );
    }

    #[test]
    fn every_crates_sources_and_the_xtasks_are_checked() {
        let dirs = source_dirs(&crate::workspace_root()).unwrap_or_default();
        for dir in ["crates/client/src", "crates/sandbox/src", "xtask/src"] {
            assert!(dirs.iter().any(|d| d == dir), "{dir} missing from {dirs:?}");
        }
    }
}
