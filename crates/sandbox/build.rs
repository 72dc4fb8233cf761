//! Generates the control plane's client from the crate's copy of its spec
//! (`cargo xtask gen` writes it), for `alphamoon-sandbox ctl` and for Rust
//! tests that drive a sandbox in another process. The server answers the
//! control plane with the same generated types, so that the two cannot
//! drift apart. The output goes to `$OUT_DIR/control_client.rs`, which
//! `src/lib.rs` includes and `tests/control_client_surface.rs` pins.

use std::{env, fs, path::PathBuf};

use progenitor::{GenerationSettings, Generator, InterfaceStyle, TagStyle};

/// Written by `cargo xtask gen` from `openapi/alphamoon-sandbox-control.yaml`.
const SPEC: &str = "alphamoon-sandbox-control.json";

fn main() {
    println!("cargo::rerun-if-changed={SPEC}");
    let text = fs::read_to_string(SPEC).unwrap_or_else(|e| panic!("cannot read {SPEC}: {e}"));
    let spec: openapiv3::OpenAPI = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{SPEC} is not an OpenAPI 3.0 document: {e}"));
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged);
    let tokens = Generator::new(&settings)
        .generate_tokens(&spec)
        .unwrap_or_else(|e| panic!("progenitor cannot generate a client from {SPEC}: {e}"));
    let file: syn::File = syn::parse2(tokens).expect("generated code is valid Rust");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("control_client.rs");
    fs::write(&out, prettyplease::unparse(&file))
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
