//! Pins the generated client, so that every change to the spec that alters
//! the Rust surface shows up as a snapshot diff to review.

#[test]
fn generated_code_is_pinned() {
    let code = include_str!(concat!(env!("OUT_DIR"), "/codegen.rs"));
    insta::assert_snapshot!("generated_client", code);
}
