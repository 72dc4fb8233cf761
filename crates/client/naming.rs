//! How a spec enum value becomes a Rust variant name, written once.
//!
//! `build.rs` names the generated variants with it, the tests hold the
//! generated enums to it, and `cargo xtask check` rejects spec values that
//! it would turn into the same name. It is a file of its own, outside
//! `src/`, because a build script and the xtask cannot depend on the crate
//! they build or check: each includes it as a module.

/// The Rust variant name for an enum value: each run of ASCII
/// alphanumerics, its first letter capitalised, joined
/// (`workspace.file:upload` → `WorkspaceFileUpload`).
pub(crate) fn variant_name(value: &str) -> String {
    value
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word[..1].to_ascii_uppercase() + &word[1..])
        .collect()
}
