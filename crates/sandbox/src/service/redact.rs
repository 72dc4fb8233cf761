//! Cutting secrets out of what the sandbox keeps or says: a careless
//! caller may put its secret in the path where an id belongs, in the
//! query, in the method, or in a body field's name or value, and neither
//! the request journal, nor a log line, nor an error answer that repeats
//! the input may carry it on.

/// `text` with each key-shaped run replaced by `[redacted]`. Runs are found
/// both in the raw text and in the text as a server percent-decodes it, so
/// `%61mk%5F…` is cut as surely as `amk_…`, and so is `%5amk_…`, whose
/// escape hides the raw `a`. A run goes from the prefix to the next
/// delimiter, not to the first character a secret cannot hold, so that a
/// secret broken by a stray character loses all of its body; overlapping
/// runs (`amk_amk_…`) are cut as one. A long run of letters and digits is
/// cut too, prefix or not: a body pasted alone, or one whose `a` a bad
/// escape ate (`%5amk_…` decodes to `Zmk_…`).
pub(crate) fn redact(text: &str) -> String {
    redact_counting(text, &mut 0)
}

/// [`redact`], adding to `steps` one for each byte it examines, so that a
/// test can hold its work to a multiple of the input's length: it runs on
/// every request, before authentication.
fn redact_counting(text: &str, steps: &mut usize) -> String {
    let prefix = crate::model::keys::SECRET_PREFIX;
    // Every request passes here; most have nothing that could decode to
    // a secret.
    *steps += text.len();
    let long_run = text
        .as_bytes()
        .split(|byte| !byte.is_ascii_alphanumeric())
        .any(|run| run.len() >= BARE_BODY);
    if !text.contains('%') && !text.contains(prefix) && !long_run {
        return text.to_owned();
    }
    let raw: Vec<DecodedUnit> = (0..text.len())
        .map(|at| DecodedUnit {
            start: at,
            end: at + 1,
            byte: text.as_bytes()[at],
        })
        .collect();
    let decoded = decoded_units(text.as_bytes());
    *steps += raw.len() + decoded.len();
    let mut runs = Vec::new();
    for units in [&raw, &decoded] {
        runs.extend(key_runs(units, prefix.as_bytes(), steps));
        runs.extend(bare_runs(units, steps));
    }
    // At most one run starts at each unit of each scan.
    *steps += runs.len();
    runs.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(runs.len());
    for (start, end) in runs {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    // Every run starts on an ASCII byte and ends before one or at the end,
    // so on char boundaries.
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end) in merged {
        out.push_str(&text[copied..start]);
        out.push_str("[redacted]");
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// What ends a run: what separates the parts of a path or query, and what
/// quotes a value in a problem's detail.
const DELIMITERS: &[u8] = b"/?#&=;,`'\" \t\r\n";

/// The spans of `text` (as `units` of it) that hold `prefix` and what
/// follows it up to a delimiter. One pass: a prefix that starts inside a
/// run already found ends at the same delimiter (the prefix holds none),
/// so the scan goes on after that delimiter, and `amk_amk_…` costs no more
/// than its length.
fn key_runs(units: &[DecodedUnit], prefix: &[u8], steps: &mut usize) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut at = 0;
    while at < units.len() {
        let compared = units[at..]
            .iter()
            .zip(prefix)
            .take_while(|(unit, byte)| unit.byte == **byte)
            .count();
        *steps += compared + 1;
        if compared < prefix.len() {
            at += 1;
            continue;
        }
        let mut end = at + prefix.len();
        while end < units.len() && !DELIMITERS.contains(&units[end].byte) {
            *steps += 1;
            end += 1;
        }
        runs.push((units[at].start, units[end - 1].end));
        at = end;
    }
    runs
}

/// How many letters and digits in a row are taken for a secret's body
/// without its prefix. A body is 49; the longest id the API defines is 32.
const BARE_BODY: usize = 40;

/// The spans of `text` (as `units` of it) that hold at least
/// [`BARE_BODY`] letters and digits in a row.
fn bare_runs(units: &[DecodedUnit], steps: &mut usize) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut at = 0;
    while at < units.len() {
        let len = units[at..]
            .iter()
            .take_while(|unit| unit.byte.is_ascii_alphanumeric())
            .count();
        *steps += len + 1;
        if len >= BARE_BODY {
            runs.push((units[at].start, units[at + len - 1].end));
        }
        at += len.max(1);
    }
    runs
}

/// One byte of a URI component, with the span of the text it came from:
/// a literal byte, or a `%XX` escape as a server decodes it.
#[derive(Debug)]
struct DecodedUnit {
    start: usize,
    end: usize,
    byte: u8,
}

fn decoded_units(text: &[u8]) -> Vec<DecodedUnit> {
    let mut units = Vec::with_capacity(text.len());
    let mut at = 0;
    while at < text.len() {
        let escape = match text.get(at..at + 3) {
            Some(&[b'%', high, low]) => hex_digit(high).zip(hex_digit(low)),
            _ => None,
        };
        let (byte, len) = match escape {
            Some((high, low)) => (high * 16 + low, 3),
            None => (text[at], 1),
        };
        units.push(DecodedUnit {
            start: at,
            end: at + len,
            byte,
        });
        at += len;
    }
    units
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn key_shaped_text_is_cut_from_paths_and_queries() {
        let key = crate::model::keys::from_seed("journal");
        assert_eq!(
            redact(&format!("/api/v0.4/admin/api-keys/{key}")),
            "/api/v0.4/admin/api-keys/[redacted]"
        );
        assert_eq!(
            redact(&format!("limit=5&key={key}&x=amk%5Fabc%2B1&y=1")),
            "limit=5&key=[redacted]&x=[redacted]&y=1"
        );
        let body = &key[crate::model::keys::SECRET_PREFIX.len()..];
        for encoded in [
            format!("%61mk_{body}"),
            format!("am%6B%5f{body}"),
            format!("%61%6D%6B%5F{}", percent_encode_all(body)),
        ] {
            assert_eq!(redact(&format!("k={encoded}&y=1")), "k=[redacted]&y=1");
        }
        // An escape that swallows the raw `a` does not hide the raw key,
        // and a doubled prefix does not leave the body behind.
        for (sloppy, kept) in [
            (format!("%5{key}"), "%5"),
            (format!("%a{key}"), "%a"),
            (format!("amk_{key}"), ""),
            (format!("amk%5f{key}"), ""),
            (format!("amk_xyz{key}"), ""),
        ] {
            assert_eq!(
                redact(&format!("k={sloppy}&y=1")),
                format!("k={kept}[redacted]&y=1"),
            );
        }
        // A stray character inside a secret does not save what follows it.
        for broken in [
            format!("{}%zz{}", &key[..20], &key[20..]),
            format!("{}-{}", &key[..20], &key[20..]),
            format!("{}%20{}", &key[..20], &key[20..]),
        ] {
            assert_eq!(redact(&format!("k={broken}&y=1")), "k=[redacted]&y=1");
        }
        // A body without its prefix, pasted alone or left by an escape
        // that ate the `a`; an id of 32 hex digits is not one.
        assert_eq!(redact(&format!("k={body}&y=1")), "k=[redacted]&y=1");
        assert_eq!(
            redact(&format!("`Zmk_{body}` is not a parameter.")),
            "`Zmk_[redacted]` is not a parameter."
        );
        let id = "31b7de83bfa24a9dbf2150beb5e5660b";
        assert_eq!(
            redact(&format!("/api-keys/{id}")),
            format!("/api-keys/{id}")
        );
        // Words quoted in a problem's detail, and a method.
        assert_eq!(
            redact(&format!("`{key}` is not a parameter.")),
            "`[redacted]` is not a parameter."
        );
        assert_eq!(redact(&key), "[redacted]");
        assert_eq!(redact("offset=0&limit=100"), "offset=0&limit=100");
        assert_eq!(redact("amk_"), "[redacted]");
        assert_eq!(redact("%zz%4%"), "%zz%4%");
        assert_eq!(redact("é/amk_x/é"), "é/[redacted]/é");
    }

    /// The redactor runs before authentication on every request, so its
    /// work must grow with its input's length and no faster, whatever the
    /// input: counted in steps, not timed.
    #[test]
    fn work_is_linear_in_the_input_even_when_it_is_hostile() {
        let patterns = [
            "amk_",
            "%61mk_",
            "amk%5F",
            "amk%5famk_",
            "a",
            "amk_/",
            "%5",
            "%",
            "ab%zz",
        ];
        for pattern in patterns {
            let mut per_byte = Vec::new();
            for size in [1024, 2048, 4096, 8192] {
                let text = pattern.repeat(size / pattern.len() + 1);
                let mut steps = 0;
                let redacted = super::redact_counting(&text, &mut steps);
                assert_eq!(redacted, redact(&text));
                per_byte.push(steps as f64 / text.len() as f64);
            }
            for ratio in &per_byte {
                assert!(
                    *ratio <= STEPS_PER_BYTE,
                    "`{pattern}` repeated: {per_byte:?} steps per byte of input"
                );
            }
        }
    }

    /// A bound that a linear scan meets with room to spare (it looks at
    /// each byte a few times: as raw text and decoded, for the prefix and
    /// for bare runs), and that any quadratic one breaks long before 8 KiB.
    const STEPS_PER_BYTE: f64 = 20.0;

    fn percent_encode_all(text: &str) -> String {
        text.bytes().map(|b| format!("%{b:02X}")).collect()
    }
}
