//! The rules applied to one library file's tokens: paths that reach up,
//! crates its layer must do without, and `#[path]` attributes.

use super::lexer::{self, Token};
use super::{FACADE, Kind, Layer, MODEL, SERVICE, STORE, Violation, layer_of_module};

/// Crates that serve HTTP; only http/ and the server may use them.
const HTTP_CRATES: [&str; 5] = ["axum", "hyper", "hyper_util", "tower_http", "tower_service"];

/// Crates for I/O, async work and logging, which pure rules do without.
const IO_CRATES: [&str; 6] = [
    "tokio",
    "rusqlite",
    "tokio_postgres",
    "deadpool_postgres",
    "reqwest",
    "tracing",
];

/// Whether `layer` must not use the crate `name`.
fn forbidden(layer: Layer, name: &str) -> bool {
    let http = HTTP_CRATES.contains(&name);
    if layer == MODEL {
        http || IO_CRATES.contains(&name)
    } else {
        http && (layer == STORE || layer == SERVICE)
    }
}

/// Adds to `out` what is wrong in the file at `path`, which defines
/// `module` and sits in `layer`.
pub(super) fn lint_file(
    path: &str,
    module: &[String],
    layer: Layer,
    source: &str,
    out: &mut Vec<Violation>,
) {
    let tokens = lexer::tokens(source);
    let text = |i: usize| tokens.get(i).map_or("", |t| t.text.as_str());
    let before = |i: usize, n: usize| i.checked_sub(n).map_or("", text);
    let mut push = |line, kind| {
        out.push(Violation {
            file: path.to_owned(),
            line,
            kind,
        });
    };
    // `super` inside an inline `mod name { … }` is relative to that
    // module, so each open one is kept with the brace depth outside it.
    let mut inline: Vec<(&str, usize)> = Vec::new();
    let mut depth: usize = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token.text.as_str() {
            "{" => {
                if before(i, 2) == "mod" && tokens[i - 1].is_word() {
                    inline.push((text(i - 1), depth));
                }
                depth += 1;
            }
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|&(_, outside)| outside == depth) {
                    inline.pop();
                }
            }
            "#" => {
                if let Some(line) = path_attribute(&tokens, i) {
                    push(line, Kind::PathAttribute);
                }
            }
            // A path is read from its first segment; `a::super` is not one.
            "crate" | "super" if text(i + 1) == "::" && before(i, 1) != "::" => {
                let mut here = module.to_vec();
                here.extend(inline.iter().map(|&(name, _)| name.to_owned()));
                for (path, line, to) in references(&tokens, i, &here) {
                    if to.rank > layer.rank {
                        let from = layer;
                        push(line, Kind::Upward { path, from, to });
                    }
                }
            }
            name if forbidden(layer, name) && names_crate(&tokens, i) => push(
                token.line,
                Kind::ForbiddenCrate {
                    name: name.to_owned(),
                    layer,
                },
            ),
            _ => {}
        }
    }
}

/// Whether the word at `i` names an external crate: `use name`,
/// `extern crate name`, or the first segment of a path `name::…`.
fn names_crate(tokens: &[Token], i: usize) -> bool {
    let text = |n: usize| i.checked_sub(n).map_or("", |at| tokens[at].text.as_str());
    let after = tokens.get(i + 1).map_or("", |t| t.text.as_str());
    match text(1) {
        "use" => true,
        "crate" => text(2) == "extern",
        // `x::name::` is a module inside `x`; `::name::` is the crate.
        "::" => after == "::" && (text(2) == "use" || !tokens[i - 2].is_word()),
        _ => after == "::",
    }
}

/// The line of a `path` attribute in the attribute opening at `i` (`#[…]`
/// or `#![…]`), also where `cfg_attr` applies one.
fn path_attribute(tokens: &[Token], i: usize) -> Option<usize> {
    let text = |n: usize| tokens.get(n).map_or("", |t| t.text.as_str());
    let mut open = i + 1;
    if text(open) == "!" {
        open += 1;
    }
    if text(open) != "[" {
        return None;
    }
    let name = open + 1;
    match text(name) {
        "path" if text(name + 1) == "=" => Some(tokens[name].line),
        "cfg_attr" => {
            let mut parens = 0;
            for k in name + 1..tokens.len() {
                match text(k) {
                    "(" => parens += 1,
                    ")" => parens -= 1,
                    "]" if parens == 0 => return None,
                    "," if parens == 1 && text(k + 1) == "path" && text(k + 2) == "=" => {
                        return Some(tokens[k + 1].line);
                    }
                    _ => {}
                }
            }
            None
        }
        _ => None,
    }
}

/// What the path starting at `i` (`crate::…` or `super::…`, in the module
/// `here`) reaches: the path as shown, its line, and the layer. A group at
/// the crate root (`crate::{a::x, b}`) reaches each of its entries.
fn references(tokens: &[Token], i: usize, here: &[String]) -> Vec<(String, usize, Layer)> {
    let text = |n: usize| tokens.get(n).map_or("", |t| t.text.as_str());
    let mut module = Vec::new();
    let mut lead = vec!["crate"];
    let mut j = i + 2;
    if text(i) == "super" {
        module = here.to_vec();
        lead.clear();
        j = i;
        while text(j) == "super" && text(j + 1) == "::" {
            // Above the crate root: rustc refuses it, so nothing to add.
            if module.pop().is_none() {
                return Vec::new();
            }
            lead.push("super");
            j += 2;
        }
    }
    let lead = lead.join("::");
    if let Some(first) = module.first() {
        let shown = format!("{lead}::{}", chain(tokens, j));
        return vec![(shown, tokens[i].line, layer_of_module(first))];
    }
    // At the crate root, each name after it decides.
    let at_root = |k: usize| -> Option<(String, usize, Layer)> {
        let token = tokens.get(k)?;
        let layer = match token.text.as_str() {
            "*" => FACADE,
            "self" => return None,
            name if token.is_word() => layer_of_module(name),
            _ => return None,
        };
        Some((format!("{lead}::{}", chain(tokens, k)), token.line, layer))
    };
    if text(j) != "{" {
        return at_root(j).into_iter().collect();
    }
    let mut found = Vec::new();
    let mut depth = 0;
    for k in j..tokens.len() {
        match text(k) {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            _ if depth == 1 && matches!(text(k - 1), "{" | ",") => found.extend(at_root(k)),
            _ => {}
        }
    }
    found
}

/// The path from `k` on as written, `a::b::c`, up to where it stops being
/// names joined by `::`; a glob or group shows as `*` or `{…}`.
fn chain(tokens: &[Token], k: usize) -> String {
    let mut segments = Vec::new();
    let mut at = k;
    while let Some(token) = tokens.get(at) {
        if token.is_word() || token.text == "*" {
            segments.push(token.text.as_str());
        } else if token.text == "{" {
            segments.push("{…}");
        }
        let joined = token.is_word() && tokens.get(at + 1).is_some_and(|t| t.text == "::");
        if !joined {
            break;
        }
        at += 2;
    }
    segments.join("::")
}
