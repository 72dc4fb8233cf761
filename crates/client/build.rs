//! Generates the client from the crate's copy of the OpenAPI spec.
//!
//! The generation settings live here and nowhere else. The formatted output
//! is written to `$OUT_DIR/codegen.rs`, which `src/lib.rs` includes and the
//! snapshot test in `tests/generated_surface.rs` pins.

use std::{env, fs, path::PathBuf};

use progenitor::{GenerationSettings, Generator, InterfaceStyle, TagStyle};

/// Written by `cargo xtask gen` from `openapi/alphamoon-workspace.yaml`.
const SPEC: &str = "alphamoon-workspace.json";

fn main() {
    println!("cargo::rerun-if-changed={SPEC}");
    let text = fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("cannot read {SPEC}: {e}"));
    let spec: openapiv3::OpenAPI = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{SPEC} is not an OpenAPI 3.0 document: {e}"));

    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        // Lets tests hold the Rust types' schemas against the spec's.
        .with_derive("schemars::JsonSchema");

    let tokens = Generator::new(&settings)
        .generate_tokens(&spec)
        .unwrap_or_else(|e| panic!("progenitor cannot generate a client from {SPEC}: {e}"));
    let file: syn::File = syn::parse2(tokens).expect("progenitor emits valid Rust");
    let mut code = prettyplease::unparse(&file);

    let base_url = &spec.servers.first().expect("the spec names its server").url;
    code.push_str(&format!(
        "\n/// The production base URL, the first of the spec's `servers`.\n\
         pub const DEFAULT_BASE_URL: &str = {base_url:?};\n"
    ));

    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("codegen.rs");
    fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
