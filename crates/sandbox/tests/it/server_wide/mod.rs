//! Tests that change the PostgreSQL server every test shares: they stop
//! and restart it, or turn TLS on and off. `cargo xtask ci` runs them
//! alone, after the rest of the suite.

mod postgres_outage;
mod postgres_tls;
