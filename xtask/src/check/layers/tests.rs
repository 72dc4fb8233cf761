//! The layer rules on small synthetic trees, so that they hold whatever
//! state the real sandbox is in.
#![allow(clippy::unwrap_used)] // a failed step in a test is a failed test

use super::*;

/// The violations in a tree given as (path under `src/`, source) pairs,
/// each as `file:line what from->to`, short enough to compare in bulk.
fn lint_tree(files: &[(&str, &str)]) -> Vec<String> {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(path, source)| ((*path).to_owned(), (*source).to_owned()))
        .collect();
    lint(&files)
        .iter()
        .map(|v| match &v.kind {
            Kind::Upward { path, from, to } => {
                format!("{}:{} {path} {}->{}", v.file, v.line, from.name, to.name)
            }
            Kind::ForbiddenCrate { name, layer } => {
                format!("{}:{} {name} in {}", v.file, v.line, layer.name)
            }
            Kind::PathAttribute => format!("{}:{} #[path]", v.file, v.line),
            Kind::OutsideLayers => format!("{} outside", v.file),
        })
        .collect()
}

#[test]
fn a_file_is_the_module_its_path_names() {
    let module = |path| module_of(path).join("::");
    assert_eq!(module("lib.rs"), "");
    assert_eq!(module("server.rs"), "server");
    assert_eq!(module("model/mod.rs"), "model");
    assert_eq!(module("store/sqlite/pool.rs"), "store::sqlite::pool");
    assert_eq!(module("model/lib.rs"), "model::lib");
}

#[test]
fn a_path_up_to_a_higher_layer_is_named_with_both_layers() {
    let found = lint_tree(&[
        ("model/key.rs", "use crate::server::Sandbox;\n"),
        (
            "service/mod.rs",
            "fn f() {\n    crate::http::router();\n}\n",
        ),
        (
            "server.rs",
            "use crate::model::Key;\nuse crate::http::{self};\n",
        ),
        ("control_client.rs", "pub use crate::model::Key;\n"),
    ]);
    assert_eq!(
        found,
        [
            "control_client.rs:1 crate::model::Key wire->model",
            "model/key.rs:1 crate::server::Sandbox model->server",
            "service/mod.rs:2 crate::http::router service->http",
        ]
    );
}

#[test]
fn each_entry_of_a_group_counts_on_its_own_line() {
    let source = "use crate::{\n    model::{Key, Org},\n    service::{self, Op},\n    \
                  Settings,\n    control_client::types,\n    *,\n};\n";
    assert_eq!(
        lint_tree(&[("store/mod.rs", source)]),
        [
            "store/mod.rs:3 crate::service::{…} store->service",
            "store/mod.rs:4 crate::Settings store->facade",
            "store/mod.rs:6 crate::* store->facade",
        ]
    );
}

/// `super` in `foo/mod.rs` is the parent of `foo`, in `foo/bar.rs` it is
/// `foo`, and inside an inline `mod tests { … }` it is the file's module.
#[test]
fn super_is_resolved_from_the_files_own_module() {
    let found = lint_tree(&[
        ("http/mod.rs", "use super::server::Sandbox;\n"),
        ("http/auth.rs", "use super::problem::Problem;\n"),
        // `model::store`, a module of model, not the store layer.
        ("model/a/b.rs", "use super::super::store::Rule;\n"),
        ("model/a/mod.rs", "use super::super::store::Store;\n"),
        (
            "model/mod.rs",
            "use super::Settings;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    \
             mod deeper {\n        use super::super::Key;\n    }\n}\nuse super::*;\n",
        ),
    ]);
    assert_eq!(
        found,
        [
            "http/mod.rs:1 super::server::Sandbox http->server",
            "model/a/mod.rs:1 super::super::store::Store model->store",
            "model/mod.rs:1 super::Settings model->facade",
            "model/mod.rs:9 super::* model->facade",
        ]
    );
}

#[test]
fn a_layer_may_not_use_the_crates_kept_from_it() {
    let model = "use tokio::sync::Mutex;\n#[tracing::instrument]\nfn f() {}\nuse reqwest;\n\
                 extern crate rusqlite;\nfn g() { ::hyper::body(); }\n\
                 use self::tokio::Local;\nlet tokio = 1;\nuse chrono::Utc;\n";
    let store = "use axum::Json;\nuse tokio::task;\nuse tracing::warn;\n";
    let service = "fn f() { hyper_util::rt::spawn(); }\nuse tower_service::Service;\n";
    let http = "use axum::Router;\nuse tower_http::trace;\n";
    assert_eq!(
        lint_tree(&[
            ("model/key.rs", model),
            ("store/mod.rs", store),
            ("service/mod.rs", service),
            ("http/mod.rs", http),
        ]),
        [
            "model/key.rs:1 tokio in model",
            "model/key.rs:2 tracing in model",
            "model/key.rs:4 reqwest in model",
            "model/key.rs:5 rusqlite in model",
            "model/key.rs:6 hyper in model",
            "service/mod.rs:1 hyper_util in service",
            "service/mod.rs:2 tower_service in service",
            "store/mod.rs:1 axum in store",
        ]
    );
}

/// Paths in comments, strings and literals are prose, not code; a
/// lifetime is no character literal, so the real path after it counts.
#[test]
fn comments_strings_and_literals_do_not_count() {
    let source = r####"//! Unlike crate::server, this needs no tokio::.
/* outer /* nested crate::http::x */ still a comment: tokio:: */
/// See [`crate::server::Sandbox`].
/** crate::http::Router */
const SQL: &str = "SELECT tokio:: FROM crate::server \" crate::http";
const RAW: &str = r#"a "quoted" crate::http::Router and tokio::spawn"#;
const BYTES: &[u8] = b"crate::server";
const RAW_BYTES: &[u8] = br##"tokio:: "# crate::server"##;
const QUOTE: char = '"';
const ESCAPED: [char; 3] = ['\'', '\\', '\u{22}'];
const BYTE: u8 = b'"';
fn longest<'a>(a: &'a str, _b: &'static str) -> &'a str { 'outer: loop { break 'outer a; } }
use crate::server::Sandbox;
"####;
    assert_eq!(
        lint_tree(&[("model/prose.rs", source)]),
        ["model/prose.rs:13 crate::server::Sandbox model->server"]
    );
    let blanked = lexer::blank_out(source);
    assert_eq!(blanked.lines().count(), source.lines().count());
    assert!(!blanked.contains("tokio"), "{blanked}");
}

#[test]
fn files_outside_the_layers_are_named_once_per_entry() {
    let found = lint_tree(&[
        ("api/mod.rs", "use crate::server::Sandbox;\n"),
        ("api/keys.rs", ""),
        ("fixtures.rs", ""),
        ("main.rs", ""),
        ("model/mod.rs", ""),
        // The binary's `crate` is its own root, and it may use anything.
        (
            "bin/alphamoon-sandbox/main.rs",
            "mod cli;\nuse crate::cli::Args;\nuse alphamoon_sandbox::Settings;\nuse tokio::main;\n",
        ),
        ("bin/alphamoon-sandbox/cli.rs", "use super::Settings;\n"),
    ]);
    assert_eq!(
        found,
        ["api/ outside", "fixtures.rs outside", "main.rs outside"]
    );
}

#[test]
fn a_path_attribute_is_refused() {
    let source = "#[path = \"../elsewhere.rs\"]\nmod elsewhere;\n\
                  #[cfg_attr(test, derive(Debug), path = \"x.rs\")]\nmod y;\n\
                  #[serde(rename = \"path\")]\nstruct Z;\n#[cfg_attr(test, path(x))]\nmod w;\n";
    assert_eq!(
        lint_tree(&[("model/mod.rs", source)]),
        ["model/mod.rs:1 #[path]", "model/mod.rs:3 #[path]"]
    );
}

#[test]
fn a_tree_in_its_layers_is_clean() {
    let found = lint_tree(&[
        (
            "lib.rs",
            "pub mod model;\nmod store;\nmod service;\nmod http;\nmod server;\n\
             pub mod control_client;\npub use server::{Sandbox, Settings};\n\
             pub async fn start() { crate::server::run().await }\n",
        ),
        (
            "control_client.rs",
            "mod generated {}\npub use generated::types;\n",
        ),
        (
            "model/mod.rs",
            "pub mod key;\nuse crate::control_client::types;\n",
        ),
        ("model/key.rs", "use super::Org;\nuse chrono::Utc;\n"),
        (
            "store/mod.rs",
            "pub mod sqlite;\nuse crate::model::key::Key;\n",
        ),
        (
            "store/sqlite/mod.rs",
            "use super::Store;\nuse super::super::model::Org;\nuse rusqlite::Connection;\n",
        ),
        (
            "store/sqlite/tests.rs",
            "use super::*;\n#[tokio::test]\nasync fn t() {}\n",
        ),
        ("service/mod.rs", "use crate::{model::Key, store::Store};\n"),
        (
            "http/mod.rs",
            "use axum::Router;\nuse crate::service::run;\npub(crate) fn f() {}\n",
        ),
        (
            "server.rs",
            "mod timers;\nuse crate::{http, service, store::Store};\nuse hyper::server;\n",
        ),
        (
            "server/timers.rs",
            "use super::Settings;\nuse tokio::time;\n",
        ),
    ]);
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn a_violation_says_where_what_and_what_to_do() {
    let files = [(
        "model/key.rs".to_owned(),
        "\nuse crate::http::Router;\n".to_owned(),
    )];
    let message = lint(&files)[0].to_string();
    for part in [
        "crates/sandbox/src/model/key.rs:2:",
        "`crate::http::Router`",
        "model (rank 1)",
        "http (rank 4)",
        "hint:",
    ] {
        assert!(message.contains(part), "{part} missing from {message}");
    }
}

/// Only that the real tree is found and read: it may not be in its layers
/// yet, so what the lint says of it is not checked here.
#[test]
fn the_real_sandbox_is_read() {
    let root = crate::workspace_root();
    let files = super::super::rust_files(&root.join(SANDBOX_SRC)).unwrap();
    assert!(files.iter().any(|f| f == "lib.rs"), "{files:?}");
    check(&root).unwrap();
}
