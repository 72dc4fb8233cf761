//! Pins the control plane's generated client, so that every change to the
//! control spec that alters the Rust surface shows up as a snapshot diff
//! to review.

#[test]
fn generated_code_is_pinned() {
    let code = include_str!(concat!(env!("OUT_DIR"), "/control_client.rs"));
    insta::assert_snapshot!("generated_control_client", code);
}
