//! The API reference as one self-contained HTML file: the page the sandbox
//! serves at `/docs`, with its stylesheets, scripts and the published spec
//! written into it, so that it opens from disk with no server and no
//! network.

use std::fs;
use std::path::{Path, PathBuf};

use crate::derived;

/// Where the page and its own files live in the sandbox crate.
const PAGES: &str = "crates/sandbox/assets/pages";

/// The prefix of the page's links to its files.
const ASSETS: &str = "docs/assets/";

/// The published spec the standalone reference renders.
const SPEC_JSON: &str = "openapi/alphamoon-workspace.json";

/// Where `cargo xtask reference` writes the file unless told otherwise,
/// relative to the target directory.
pub(crate) const DEFAULT_OUT: &str = "reference/alphamoon-workspace.html";

/// The file's contents, from the committed page, files and spec.
pub(crate) fn render(root: &Path) -> Result<String, String> {
    let read = |path: PathBuf| {
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let asset = |name: &str| {
        let dir = if name.starts_with("swagger-ui") {
            root.join(super::vendor::DIR)
        } else {
            root.join(PAGES)
        };
        read(dir.join(name))
    };
    let page = read(root.join(PAGES).join("reference.html"))?;
    let spec = read(root.join(SPEC_JSON))?;
    let mut out = String::with_capacity(4 << 20);
    for line in page.lines() {
        let trimmed = line.trim();
        if let Some(name) = link_target(trimmed, "<link rel=\"stylesheet\" href=\"", "\">") {
            out.push_str(&format!("<style>\n{}\n</style>\n", asset(name)?));
        } else if let Some(name) = link_target(trimmed, "<script src=\"", "\"></script>") {
            out.push_str(&format!(
                "<script>\n{}\n</script>\n",
                inline_script(&asset(name)?)?
            ));
        } else if trimmed.starts_with("<div id=\"reference\"") {
            // The spec goes in as data, which the page's script reads
            // instead of fetching it.
            out.push_str("<div id=\"reference\">\n");
            out.push_str(&format!(
                "<script type=\"application/json\" id=\"spec\">{}</script>\n",
                // `\u003c` is `<` to JSON and nothing to HTML, so no
                // text in the spec can end or open an element here.
                spec.trim_end().replace('<', "\\u003c")
            ));
        } else if trimmed.starts_with("<footer") {
            // The licence texts the served page links to, written in.
            out.push_str(&licence_footer(root)?);
        } else if trimmed.starts_with("<noscript>") {
            out.push_str("<noscript>This reference needs JavaScript.</noscript>\n");
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    for leftover in ["src=\"docs/", "href=\"docs/"] {
        if out.contains(leftover) {
            return Err(format!(
                "{PAGES}/reference.html links a file the standalone page cannot hold ({leftover}…)"
            ));
        }
    }
    Ok(out)
}

/// Swagger UI's licence, notice and its dependencies' licences, in a
/// footer that shows them on request.
fn licence_footer(root: &Path) -> Result<String, String> {
    let mut texts = Vec::new();
    for file in ["LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"] {
        let path = root.join(super::vendor::DIR).join(file);
        let text = fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        texts.push(
            text.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;"),
        );
    }
    Ok(format!(
        "<footer class=\"licence\"><details><summary>Rendered by Swagger UI, under the Apache \
         License 2.0: its licence, its notice and its dependencies' licences</summary>\n\
         <pre>{}</pre></details></footer>\n",
        texts.join("\n\n")
    ))
}

/// The file name in a line that is exactly `start` + [`ASSETS`] + name + `end`.
fn link_target<'a>(line: &'a str, start: &str, end: &str) -> Option<&'a str> {
    line.strip_prefix(start)?
        .strip_suffix(end)?
        .strip_prefix(ASSETS)
}

/// A script's text made safe to sit inside `<script>` … `</script>`:
/// nothing in it may end the element early.
fn inline_script(script: &str) -> Result<String, String> {
    if script.to_ascii_lowercase().contains("</script") {
        return Err("a script holds `</script`, which would end it early inline".to_owned());
    }
    Ok(script.to_owned())
}

/// `cargo xtask reference`: writes the file to `out`, or to
/// [`DEFAULT_OUT`] under the target directory.
pub(crate) fn write(root: &Path, out: Option<&Path>) -> Result<PathBuf, String> {
    let path = out.map_or_else(
        || crate::target_dir(root).join(DEFAULT_OUT),
        Path::to_path_buf,
    );
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    derived::write_atomically(&path, &render(root)?)?;
    println!("wrote {}", path.display());
    Ok(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed step in a test is a failed test
mod tests {
    use super::*;

    /// Everything the page loads is inside it: no link to a file, and the
    /// spec as data that cannot end its element early.
    #[test]
    fn the_standalone_page_holds_everything() {
        let html = render(&crate::workspace_root()).unwrap();
        assert!(
            !html.contains("<script src="),
            "no script is loaded from a file"
        );
        assert!(!html.contains("rel=\"stylesheet\""), "no stylesheet either");
        assert!(html.contains("id=\"spec\">{"));
        assert!(html.contains("SwaggerUIBundle"));
        let spec_start = html.find("id=\"spec\">").unwrap();
        let spec_end = spec_start + html[spec_start..].find("</script>").unwrap();
        let spec = &html[spec_start + "id=\"spec\">".len()..spec_end];
        let parsed: serde_json::Value = serde_json::from_str(spec).unwrap();
        assert_eq!(parsed["openapi"], "3.0.3");
    }
}
