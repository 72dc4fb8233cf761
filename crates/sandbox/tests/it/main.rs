//! The sandbox's integration tests, in one binary so that the shared
//! support code and the crate are built and linked once.
//!
//! Every test talks over real HTTP on 127.0.0.1 to a real server, in
//! process or as the `alphamoon-sandbox` binary. The behaviour suite runs
//! on SQLite in `cargo test`, and again on PostgreSQL in `cargo xtask ci`,
//! which sets `ALPHAMOON_TEST_POSTGRES_URL` and runs this whole binary with
//! `--include-ignored`: tests that need PostgreSQL are ignored without it,
//! and fail, never skip, when run without the server.
//!
//! The tests under `server_wide` change the PostgreSQL server itself (stop
//! it, turn TLS on): `cargo xtask ci` runs them after the rest, one at a
//! time, so that they disturb no other test.

mod support;

mod api;
mod binary;
mod connections;
mod control;
mod control_client_surface;
mod control_orgs;
mod creates;
mod environment;
mod health;
mod pages;
mod read_model;
mod replicas;
mod resilience;
mod revocation;
mod server_wide;
mod shutdown;
mod spec_limits;
