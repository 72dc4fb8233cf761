//! Data and pure rules: what organizations, keys, faults, the clock and
//! rate limits are, and what every new one must meet. Nothing here does
//! I/O or knows HTTP, so each rule is tested on its own and every way into
//! the sandbox meets the same one.

pub mod clock;
pub(crate) mod control_state;
pub mod faults;
pub(crate) mod fields;
pub(crate) mod fixtures;
pub mod keys;
pub(crate) mod operation;
pub(crate) mod org;
pub(crate) mod rate_limit;
pub(crate) mod refusal;
pub(crate) mod settings;
