//! Reading a fixtures document from a file, for `--fixtures` and `ctl
//! fixtures`, with its size and shape bounded before any parser runs.
//!
//! The YAML reader (libyaml, under serde_yaml) loads a whole document
//! before its recursion limit applies, and each flow collection (`[` or
//! `{`) it opens costs it microseconds: a file of nothing but brackets
//! once kept the server from starting, or from refusing, for seconds.
//! JSON is read by serde_json instead, which stops at its own depth limit
//! at once.

use std::io::Read as _;
use std::path::Path;

/// The largest fixtures file read, in bytes: room for thousands of keys.
pub(crate) const MAX_BYTES: usize = 1024 * 1024;

/// The most flow collections (`[` or `{`, counted wherever they appear) a
/// YAML fixtures file may hold: a document needs one or two per key.
pub(crate) const MAX_YAML_COLLECTIONS: usize = 10_000;

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
    if text.trim_start().starts_with(['{', '['])
        && let Ok(value) = serde_json::from_str(text)
    {
        return Ok(value);
    }
    let collections = text.bytes().filter(|b| matches!(b, b'[' | b'{')).count();
    if collections > MAX_YAML_COLLECTIONS {
        return Err(format!(
            "holds {collections} `[` and `{{`, more than the {MAX_YAML_COLLECTIONS} a YAML \
             fixtures file may hold (JSON has no such limit)"
        ));
    }
    serde_yaml::from_str(text).map_err(|e| format!("is not valid YAML or JSON: {e}"))
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
        assert!(refused.contains("more than the 10000"), "{refused}");
        let brackets = format!("orgs: {}", "{".repeat(10_001));
        assert!(
            parse(&brackets)
                .expect_err("brackets")
                .contains("more than")
        );
        // JSON is read as JSON, however many collections it holds.
        let many = format!(
            "{{\"orgs\": [{}]}}",
            vec![r#"{"name": "A", "keys": []}"#; 6_000].join(",")
        );
        assert!(parse(&many).is_ok());
    }
}
