//! The sandbox's layers: every import in its library points down.
//!
//! The library is cut into layers, from the generated control-API types at
//! the bottom to `lib.rs` at the top. A module may use its own layer and
//! those below it; reaching up, or through `lib.rs`'s re-exports, would tie
//! the pure rules to the server and hide what depends on what. The rules
//! also keep HTTP and I/O crates out of the layers that must not need them.

mod lexer;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::path::Path;

/// Where the sandbox's sources are, from the workspace root.
pub(super) const SANDBOX_SRC: &str = "crates/sandbox/src";

/// One layer of the library; a file may use its own rank and lower ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Layer {
    /// The name used in messages.
    name: &'static str,
    /// Its height: 0 is the bottom.
    rank: u8,
}

/// The generated control-API types, which use nothing of ours.
const WIRE: Layer = Layer {
    name: "wire",
    rank: 0,
};
/// Data and the pure rules on it.
const MODEL: Layer = Layer {
    name: "model",
    rank: 1,
};
/// The Store trait and its SQLite and PostgreSQL backends.
const STORE: Layer = Layer {
    name: "store",
    rank: 2,
};
/// The operations, on top of a store.
const SERVICE: Layer = Layer {
    name: "service",
    rank: 3,
};
/// The HTTP API over the operations.
const HTTP: Layer = Layer {
    name: "http",
    rank: 4,
};
/// The accept loop and the running sandbox.
const SERVER: Layer = Layer {
    name: "server",
    rank: 5,
};
/// `lib.rs`: module declarations and the public re-exports.
const FACADE: Layer = Layer {
    name: "facade",
    rank: 6,
};

/// The folders directly under `src/` that are a layer each.
const LAYER_DIRS: [&str; 5] = ["model", "store", "service", "http", "server"];

/// The layer that a path starting `crate::name` reaches. Any other name at
/// the crate root is something `lib.rs` defines or re-exports.
fn layer_of_module(name: &str) -> Layer {
    match name {
        "control_client" => WIRE,
        "model" => MODEL,
        "store" => STORE,
        "service" => SERVICE,
        "http" => HTTP,
        "server" => SERVER,
        _ => FACADE,
    }
}

/// Where a file sits in the tree, by its path relative to `src/`.
#[derive(Debug, PartialEq, Eq)]
enum Place {
    /// A library file in this layer.
    In(Layer),
    /// Part of the binary, whose `crate::` is the binary's own root.
    Binary,
    /// Neither: named by its entry directly under `src/`.
    Outside(String),
}

/// The place of the file at `path`, relative to `src/`.
fn place(path: &str) -> Place {
    match path.split_once('/') {
        Some(("bin", _)) => Place::Binary,
        Some((dir, _)) if LAYER_DIRS.contains(&dir) => Place::In(layer_of_module(dir)),
        Some((dir, _)) => Place::Outside(format!("{dir}/")),
        None => match path {
            "control_client.rs" => Place::In(WIRE),
            "server.rs" => Place::In(SERVER),
            "lib.rs" => Place::In(FACADE),
            other => Place::Outside(other.to_owned()),
        },
    }
}

/// The module a file defines: `foo.rs` and `foo/mod.rs` are `foo`,
/// `foo/bar.rs` is `foo::bar`, and `lib.rs` is the crate root.
fn module_of(path: &str) -> Vec<String> {
    let stem = path.strip_suffix(".rs").unwrap_or(path);
    if stem == "lib" {
        return Vec::new();
    }
    let mut segments: Vec<String> = stem.split('/').map(str::to_owned).collect();
    if segments.last().is_some_and(|last| last == "mod") {
        segments.pop();
    }
    segments
}

/// What is wrong at one place.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// `path` reaches the higher layer `to` from `from`.
    Upward {
        /// The path as written, group braces left out.
        path: String,
        /// The file's own layer.
        from: Layer,
        /// The layer the path reaches.
        to: Layer,
    },
    /// The crate `name` is used in a layer that must do without it.
    ForbiddenCrate {
        /// The crate's name as code spells it (`tokio_postgres`).
        name: String,
        /// The file's layer.
        layer: Layer,
    },
    /// A `#[path]` attribute, which puts a module's file elsewhere.
    PathAttribute,
    /// A file or folder directly under `src/` that is no layer.
    OutsideLayers,
}

/// One violation, located by the file's path relative to `src/` and, but
/// for [`Kind::OutsideLayers`], a line.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Violation {
    /// The file, or the stray entry, relative to `src/`.
    pub(super) file: String,
    /// The line, from 1; 0 for a whole file or folder.
    pub(super) line: usize,
    /// What is wrong.
    pub(super) kind: Kind,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SANDBOX_SRC}/{}", self.file)?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        match &self.kind {
            Kind::Upward { path, from, to } if *to == FACADE => write!(
                f,
                ": `{path}` goes through lib.rs (facade, rank {}) from {} (rank {}); \
                 hint: name the module that defines it, which must be {} or below",
                to.rank, from.name, from.rank, from.name
            ),
            Kind::Upward { path, from, to } => write!(
                f,
                ": `{path}` points up from {} (rank {}) to {} (rank {}); hint: imports \
                 point down only: move what both need down to {} or below, or have {} \
                 hand it in",
                from.name, from.rank, to.name, to.rank, from.name, to.name
            ),
            Kind::ForbiddenCrate { name, layer } if *layer == MODEL => write!(
                f,
                ": `{name}` is not for model, which holds data and pure rules; hint: do \
                 the I/O, async work or logging in store or service and hand model the values"
            ),
            Kind::ForbiddenCrate { name, layer } => write!(
                f,
                ": `{name}` is an HTTP crate, not for {}; hint: return a plain value or \
                 error and let http/ turn it into HTTP",
                layer.name
            ),
            Kind::PathAttribute => write!(
                f,
                ": a `#[path]` attribute hides which layer a module's file is in; \
                 hint: move the file to where its module path puts it"
            ),
            Kind::OutsideLayers => write!(
                f,
                ": not in a layer; put it in one of model/, store/, service/, http/, or server"
            ),
        }
    }
}

/// Every violation in `files`, each a path relative to `src/` with `/`
/// between its parts and the file's source, sorted by file and line.
pub(super) fn lint(files: &[(String, String)]) -> Vec<Violation> {
    let mut outside = BTreeSet::new();
    let mut violations = Vec::new();
    for (path, source) in files {
        match place(path) {
            Place::In(layer) => {
                rules::lint_file(path, &module_of(path), layer, source, &mut violations);
            }
            Place::Binary => {}
            Place::Outside(entry) => {
                outside.insert(entry);
            }
        }
    }
    violations.extend(outside.into_iter().map(|file| Violation {
        file,
        line: 0,
        kind: Kind::OutsideLayers,
    }));
    violations.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    violations
}

/// Reads every `.rs` file of the sandbox under `root` and lints them. A
/// tree without the sandbox has nothing to lint.
pub(super) fn check(root: &Path) -> Result<Vec<Violation>, String> {
    let dir = root.join(SANDBOX_SRC);
    let mut files = Vec::new();
    for path in super::rust_files(&dir)? {
        let source = fs::read_to_string(dir.join(&path))
            .map_err(|e| format!("cannot read {SANDBOX_SRC}/{path}: {e}"))?;
        files.push((path, source));
    }
    Ok(lint(&files))
}
