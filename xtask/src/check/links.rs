//! The link rule: every relative link in the README and the guides under
//! `docs/` leads somewhere. A link to a file needs the file; a link with a
//! `#fragment` needs a heading with that anchor, as GitHub makes anchors.
//! Links to other sites are not followed: the network here reaches only
//! package registries.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::{Component, Path, PathBuf};

/// A link that leads nowhere.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct BrokenLink {
    /// The file that holds it, from the workspace root.
    pub(super) file: String,
    /// Its line.
    pub(super) line: usize,
    /// The link as written.
    pub(super) target: String,
    /// What is missing.
    pub(super) why: &'static str,
}

impl fmt::Display for BrokenLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: the link `{}` is broken: {}",
            self.file, self.line, self.target, self.why
        )
    }
}

/// Every broken relative link in `README.md` and `docs/**/*.md` under
/// `root`.
pub(super) fn check(root: &Path) -> Result<Vec<BrokenLink>, String> {
    let mut files = vec![PathBuf::from("README.md")];
    files.extend(markdown_under(root, Path::new("docs"))?);
    let mut broken = Vec::new();
    for file in files {
        let Ok(text) = fs::read_to_string(root.join(&file)) else {
            continue;
        };
        for (line, target) in links(&text) {
            let (path, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let why = if path.is_empty() {
                (!anchors(&text).contains(fragment)).then_some("no heading has this anchor")
            } else {
                let Some(to) = resolve(&file, path) else {
                    broken.push(BrokenLink {
                        file: file.display().to_string(),
                        line,
                        target: target.clone(),
                        why: "it leads out of the repository",
                    });
                    continue;
                };
                match fs::read_to_string(root.join(&to)) {
                    Err(_) if !root.join(&to).exists() => Some("no such file"),
                    Ok(linked)
                        if !fragment.is_empty() && to.extension().is_some_and(|e| e == "md") =>
                    {
                        (!anchors(&linked).contains(fragment))
                            .then_some("that file has no heading with this anchor")
                    }
                    _ => None,
                }
            };
            if let Some(why) = why {
                broken.push(BrokenLink {
                    file: file.display().to_string(),
                    line,
                    target: target.clone(),
                    why,
                });
            }
        }
    }
    Ok(broken)
}

/// The `.md` files under `dir` (relative to `root`), sorted; none if
/// there is no such folder.
fn markdown_under(root: &Path, dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        let Ok(entries) = fs::read_dir(root.join(&at)) else {
            continue;
        };
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", at.display()))?;
            let path = at.join(entry.file_name());
            if entry.path().is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The relative targets of the inline links in `text`, with their line
/// numbers; links inside fenced code blocks are code, not links.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut in_code = false;
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let mut rest = line;
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].trim();
            let external = ["http://", "https://", "mailto:"]
                .iter()
                .any(|scheme| target.starts_with(scheme));
            if !external && !target.is_empty() {
                found.push((index + 1, target.to_owned()));
            }
            rest = &after[end..];
        }
    }
    found
}

/// The anchors GitHub gives the headings of `text`: lowercased, with
/// spaces as `-` and other punctuation dropped; a repeated heading gets
/// `-1`, `-2` and so on.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        if in_code {
            continue;
        }
        let heading = heading.trim_start_matches('#').trim();
        let slug: String = heading
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let mut anchor = slug.clone();
        let mut n = 0;
        while !found.insert(anchor.clone()) {
            n += 1;
            anchor = format!("{slug}-{n}");
        }
    }
    found
}

/// `target`, relative to the folder of `from`, as a path from the root;
/// `None` if it climbs out of the root.
fn resolve(from: &Path, target: &str) -> Option<PathBuf> {
    let mut parts: Vec<&std::ffi::OsStr> = from
        .parent()
        .map(|dir| dir.iter().collect())
        .unwrap_or_default();
    for component in Path::new(target).components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(parts.iter().collect())
}

#[cfg(test)]
mod tests {
    use super::{anchors, check, links};
    use std::fs;

    #[test]
    fn anchors_are_githubs() {
        let text = "# The `alphamoon` CLI\n## Run the sandbox in a container\n## Notes\n## Notes\n\
                    ```\n# not a heading\n```\n";
        let found = anchors(text);
        for anchor in [
            "the-alphamoon-cli",
            "run-the-sandbox-in-a-container",
            "notes",
            "notes-1",
        ] {
            assert!(found.contains(anchor), "{anchor}: {found:?}");
        }
        assert!(!found.contains("not-a-heading"));
    }

    #[test]
    fn links_skip_code_and_other_sites() {
        let text =
            "see [a](docs/a.md#x) and [b](https://example.com)\n```\n[c](nope.md)\n```\n[d](#top)";
        assert_eq!(
            links(text),
            [(1, "docs/a.md#x".to_owned()), (5, "#top".to_owned())]
        );
    }

    #[test]
    fn broken_links_are_found_and_good_ones_pass() {
        let root = tempfile_dir();
        fs::create_dir_all(root.join("docs")).expect("docs");
        fs::write(
            root.join("README.md"),
            "# Top\n[ok](docs/guide.md#usage) [self](#top) [gone](docs/missing.md)\n\
             [bad anchor](docs/guide.md#nope) [escape](../outside.md) [dir](docs)\n",
        )
        .expect("readme");
        fs::write(
            root.join("docs/guide.md"),
            "# Usage\n[back](../README.md#top) [lost](#elsewhere)\n",
        )
        .expect("guide");
        let broken: Vec<(String, String)> = check(&root)
            .expect("check")
            .into_iter()
            .map(|b| (b.file, b.target))
            .collect();
        assert_eq!(
            broken,
            [
                ("README.md".to_owned(), "docs/missing.md".to_owned()),
                ("README.md".to_owned(), "docs/guide.md#nope".to_owned()),
                ("README.md".to_owned(), "../outside.md".to_owned()),
                ("docs/guide.md".to_owned(), "#elsewhere".to_owned()),
            ]
        );
        let _ = fs::remove_dir_all(&root);
    }

    /// A fresh folder under the system's temporary directory.
    fn tempfile_dir() -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "xtask-links-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }
}
