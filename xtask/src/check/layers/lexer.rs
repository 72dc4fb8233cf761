//! Just enough of Rust's lexical grammar to find the paths a file uses.
//!
//! Comments and literals are blanked out first, so that prose, SQL and
//! paths quoted in messages never count as code. Lines are kept, so that a
//! token's line is the line in the file.

/// One identifier, number, `::`, or other punctuation character, and the
/// line it starts on (from 1).
#[derive(Debug)]
pub(super) struct Token {
    /// The token as written; a raw identifier `r#name` is just `name`.
    pub(super) text: String,
    /// Its line in the file, counted from 1.
    pub(super) line: usize,
}

impl Token {
    /// Whether this is an identifier or keyword, which is all a path
    /// segment or a crate name can be.
    pub(super) fn is_word(&self) -> bool {
        self.text
            .starts_with(|c: char| c.is_alphabetic() || c == '_')
    }
}

/// The tokens of `source`, with comments and literals left out.
pub(super) fn tokens(source: &str) -> Vec<Token> {
    let code: Vec<char> = blank_out(source).chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < code.len() {
        let c = code[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if is_word_char(c) {
            let mut end = word_end(&code, i);
            let mut start = i;
            // `r#name` names `name`, even where `name` is a keyword.
            if code[i..end] == ['r'] && code.get(end) == Some(&'#') {
                let after = word_end(&code, end + 1);
                if after > end + 1 {
                    start = end + 1;
                    end = after;
                }
            }
            tokens.push(Token {
                text: code[start..end].iter().collect(),
                line,
            });
            i = end;
        } else if c == ':' && code.get(i + 1) == Some(&':') {
            tokens.push(Token {
                text: "::".to_owned(),
                line,
            });
            i += 2;
        } else {
            tokens.push(Token {
                text: c.to_string(),
                line,
            });
            i += 1;
        }
    }
    tokens
}

/// `source` with every comment (doc comments and nested block comments
/// too), string, byte string, raw string and character literal replaced
/// by spaces, keeping its newlines.
pub(super) fn blank_out(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let literal_end = if c == '/' && next == Some('/') {
            Some(
                chars[i..]
                    .iter()
                    .position(|&c| c == '\n')
                    .map_or(chars.len(), |n| i + n),
            )
        } else if c == '/' && next == Some('*') {
            Some(block_comment_end(&chars, i))
        } else if c == '"' {
            Some(quoted_end(&chars, i + 1))
        } else if c == '\'' {
            char_literal_end(&chars, i)
        } else if is_word_char(c) {
            // Only a word's first letters can open a literal (`b"`, `r#"`);
            // copying the whole word keeps `bar"` from looking like one.
            if i > 0 && is_word_char(chars[i - 1]) {
                None
            } else {
                match prefixed_literal_end(&chars, i) {
                    Some(end) => Some(end),
                    None => {
                        let end = word_end(&chars, i);
                        out.extend(&chars[i..end]);
                        i = end;
                        continue;
                    }
                }
            }
        } else {
            None
        };
        match literal_end {
            Some(end) => {
                out.extend(
                    chars[i..end]
                        .iter()
                        .map(|&c| if c == '\n' { '\n' } else { ' ' }),
                );
                i = end;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Whether `c` can be part of an identifier or a number.
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Where the word starting at `start` ends.
fn word_end(chars: &[char], start: usize) -> usize {
    chars[start..]
        .iter()
        .position(|&c| !is_word_char(c))
        .map_or(chars.len(), |n| start + n)
}

/// Where the block comment opening at `start` ends; block comments nest.
fn block_comment_end(chars: &[char], start: usize) -> usize {
    let mut depth = 0;
    let mut i = start;
    while i < chars.len() {
        match (chars[i], chars.get(i + 1)) {
            ('/', Some('*')) => {
                depth += 1;
                i += 2;
            }
            ('*', Some('/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    chars.len()
}

/// Where a string whose text starts at `start` ends, past its closing `"`,
/// stepping over escapes.
fn quoted_end(chars: &[char], start: usize) -> usize {
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

/// Where the character literal opening at `start` ends, or `None` when the
/// quote opens a lifetime or a label (`'a`, `'static`) instead.
fn char_literal_end(chars: &[char], start: usize) -> Option<usize> {
    match chars.get(start + 1)? {
        // An escape: the escaped character, then anything (`\u{..}`) up
        // to the closing quote on the same line.
        '\\' => {
            let from = start + 3;
            chars
                .get(from..)?
                .iter()
                .take_while(|&&c| c != '\n')
                .position(|&c| c == '\'')
                .map(|n| from + n + 1)
        }
        _ => (chars.get(start + 2) == Some(&'\'')).then_some(start + 3),
    }
}

/// Where a literal opened by a prefix at `start` ends: `b"…"`, `c"…"`,
/// `b'…'`, and raw `r"…"`, `br#"…"#`, `cr#"…"#`. `None` when the word
/// there opens no literal.
fn prefixed_literal_end(chars: &[char], start: usize) -> Option<usize> {
    let at = |i: usize| chars.get(i).copied();
    let mut i = start;
    if matches!(at(i), Some('b' | 'c')) {
        i += 1;
        match at(i) {
            Some('"') => return Some(quoted_end(chars, i + 1)),
            Some('\'') if at(start) == Some('b') => return char_literal_end(chars, i),
            _ => {}
        }
    }
    if at(i) != Some('r') {
        return None;
    }
    let hashes = chars[i + 1..].iter().take_while(|&&c| c == '#').count();
    let open = i + 1 + hashes;
    if at(open) != Some('"') {
        return None;
    }
    // A raw string ends at the first `"` followed by as many `#` as opened it.
    let mut j = open + 1;
    while j < chars.len() {
        if chars[j] == '"'
            && chars[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(chars.len())
}
