//! Reading a fixtures document from a file, for `--fixtures` and `ctl
//! fixtures`, with its size and shape bounded before any parser runs.
//!
//! The YAML reader (libyaml, under serde_yaml) loads a whole document
//! before its recursion limit applies, and the deeper the document, the
//! more each token costs it: a file of nothing but brackets, or a line of
//! `- - - …`, once kept the server from starting, or from refusing, for
//! seconds, and took hundreds of megabytes. So a YAML file's nesting is
//! bounded first by a scan that may overestimate it but never
//! underestimates it. JSON is read by serde_json instead, which stops at
//! its own depth limit at once.

use std::io::Read as _;
use std::path::Path;

/// The largest fixtures file read, in bytes: the largest the control
/// plane takes, since `ctl fixtures` sends the file as it is.
const MAX_BYTES: usize = alphamoon_sandbox::MAX_FIXTURES_BYTES;

/// The most flow collections (`[` or `{`, counted wherever they appear) a
/// YAML fixtures file may hold: a document needs one or two per key, and
/// a larger one can be written as JSON. Counting them all, quoted or not,
/// cannot be fooled by quoting; it bounds flow nesting however deep.
pub(crate) const MAX_YAML_COLLECTIONS: usize = 2_000;

/// The most a YAML line may be indented, counting the block indicators
/// (`- `, `? `, `: `) that open a nested collection on the same line as
/// columns too. Each level of block nesting takes at least one of them,
/// so this bounds block nesting; a fixtures document needs about a dozen.
pub(crate) const MAX_YAML_INDENT: usize = 64;

/// The fixtures document in the file at `path`, YAML or JSON, as JSON.
pub(crate) fn read(path: &Path) -> Result<serde_json::Value, String> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| format!("cannot read the fixtures file {shown}: {e}"))?;
    // Read one byte past the limit, so that a file that grows, or that
    // never ends (a device, a pipe), is refused as surely as a large one.
    let mut bytes = Vec::new();
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the fixtures file {shown}: {e}"))?;
    if bytes.len() > MAX_BYTES {
        return Err(format!(
            "the fixtures file {shown} is larger than {MAX_BYTES} bytes, the most it may be"
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("the fixtures file {shown} is not UTF-8 text"))?;
    parse(&text).map_err(|e| format!("the fixtures file {shown} {e}"))
}

/// `text` as JSON if it is JSON, else as YAML within the limits above.
fn parse(text: &str) -> Result<serde_json::Value, String> {
    // A byte-order mark at the start says only that the text is UTF-8.
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    // A document that starts as JSON does is most likely meant as JSON:
    // if it is not, its JSON error is the one worth reporting.
    let json = if text.trim_start().starts_with(['{', '[']) {
        match serde_json::from_str(text) {
            Ok(value) => return Ok(value),
            Err(e) => Some(e),
        }
    } else {
        None
    };
    let not_json = |yaml: String| match &json {
        Some(e) => format!("is not valid JSON ({e}), nor YAML: it {yaml}"),
        None => yaml,
    };
    yaml_within_limits(text).map_err(not_json)?;
    serde_yaml::from_str(text).map_err(|e| not_json(format!("is not valid YAML: {e}")))
}

/// Refuses YAML that could nest deeper than a fixtures document needs,
/// before the YAML reader sees it.
fn yaml_within_limits(text: &str) -> Result<(), String> {
    let collections = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    if collections > MAX_YAML_COLLECTIONS {
        return Err(format!(
            "holds {collections} `[` and `{{`, more than the {MAX_YAML_COLLECTIONS} a YAML \
             fixtures file may hold (JSON has no such limit)"
        ));
    }
    // The YAML reader skips a byte-order mark at the start of any line,
    // which would hide the indentation after it from the scan below.
    if text.contains('\u{FEFF}') {
        return Err("holds a byte-order mark after its start".to_owned());
    }
    // Every character the YAML reader takes for a line break, not only
    // `\n`: a bare `\r`, NEL, and the Unicode line and paragraph separators.
    let lines = text.split(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']);
    for (number, line) in lines.enumerate() {
        let indent = block_indent(line);
        if indent > MAX_YAML_INDENT {
            return Err(format!(
                "nests line {} {indent} columns deep, more than the {MAX_YAML_INDENT} a YAML \
                 fixtures file may",
                number + 1
            ));
        }
    }
    Ok(())
}

/// How far `line` is indented, with the block indicators that open
/// collections before its content (`- - x`, `? - x`) counted as columns.
fn block_indent(line: &str) -> usize {
    let bytes = line.as_bytes();
    let mut at = 0;
    loop {
        match bytes.get(at..) {
            Some([b' ' | b'\t', ..]) => at += 1,
            Some([b'-' | b'?' | b':', b' ' | b'\t', ..] | [b'-' | b'?' | b':']) => at += 1,
            _ => return at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn json_and_yaml_both_read() {
        let json = parse(r#"{"orgs": [{"name": "A", "keys": []}]}"#).expect("JSON");
        let yaml = parse("orgs:\n  - name: A\n    keys: []\n").expect("YAML");
        assert_eq!(json, yaml);
    }

    #[test]
    fn deep_or_bracket_heavy_documents_are_refused_before_the_yaml_reader() {
        let deep_json = "[".repeat(200_000);
        let refused = parse(&deep_json).expect_err("deep");
        assert!(refused.contains("more than the 2000"), "{refused}");
        let brackets = format!("orgs: {}", "{".repeat(2_001));
        assert!(
            parse(&brackets)
                .expect_err("brackets")
                .contains("more than")
        );
        for deep in [
            format!("{}x\n", "- ".repeat(500_000)),
            "? ".repeat(500_000),
            "? - ".repeat(250_000),
            (0..100).map(|i| format!("{}- \n", " ".repeat(i))).collect(),
        ] {
            let refused = parse(&deep).expect_err("deep block nesting");
            assert!(refused.contains("columns deep"), "{refused}");
        }
        // Whatever the YAML reader counts as a line break starts a line
        // for the scan too, and a byte-order mark hides nothing.
        for line_break in ["\r", "\r\n", "\u{85}", "\u{2028}", "\u{2029}"] {
            let deep = format!("a:{line_break}{}x\n", "- ".repeat(500_000));
            let refused = parse(&deep).expect_err(line_break);
            assert!(
                refused.contains("columns deep"),
                "{line_break:?}: {refused}"
            );
        }
        let marked = format!("{}{}x\n", "\u{FEFF}", "- ".repeat(500_000));
        assert!(parse(&marked).expect_err("BOM").contains("columns deep"));
        let hidden = format!("a:\n{}{}x\n", "\u{FEFF}", "- ".repeat(500_000));
        assert!(
            parse(&hidden)
                .expect_err("inner BOM")
                .contains("byte-order mark")
        );
        assert!(
            parse("\u{FEFF}orgs: []\r\n").is_ok(),
            "a BOM and CRLF are fine"
        );
        // JSON is read as JSON, however many collections it holds.
        let many = format!(
            "{{\"orgs\": [{}]}}",
            vec![r#"{"name": "A", "keys": []}"#; 6_000].join(",")
        );
        assert!(parse(&many).is_ok());
    }

    #[test]
    fn broken_json_is_reported_as_json() {
        let refused = parse(r#"{"orgs": [}"#).expect_err("unbalanced");
        assert!(refused.starts_with("is not valid JSON ("), "{refused}");
    }

    #[test]
    fn indentation_counts_columns_and_the_indicators_that_open_collections() {
        assert_eq!(super::block_indent("orgs:"), 0);
        assert_eq!(super::block_indent("  - name: Acme"), 4);
        assert_eq!(super::block_indent("- - - x"), 6);
        assert_eq!(super::block_indent("? - x"), 4);
        assert_eq!(super::block_indent("-x"), 0);
    }
}
