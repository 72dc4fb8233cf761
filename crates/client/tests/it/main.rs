//! The client's integration tests, in one binary so that the shared
//! support code and the crate are built and linked once. Each module is a
//! subject: behaviour against a local server, configuration, the
//! generated surface pinned by insta, and the generated types held
//! against the spec. `tests/redaction.rs` stays a binary of its own: it
//! installs a tracing subscriber, which tests on other threads of one
//! binary would race.

mod support;

mod client_behaviour;
mod client_config;
mod generated_surface;
mod spec_types;
