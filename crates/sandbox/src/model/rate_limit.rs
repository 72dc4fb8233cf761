//! Rate limits as numbers: the limits a key and an organization may use,
//! and GCRA, the rule every limiter applies to them, on the sandbox clock
//! in microseconds. The limiters that keep the cells are the store's
//! (`crate::store::limiter`), since where cells live depends on the store.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::org::StoredKey;

/// How many requests a key may make: `per_second` on average, in bursts of
/// up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// The sustained rate.
    pub per_second: f64,
    /// The most requests allowed back to back.
    pub burst: u32,
}

impl RateLimit {
    /// The default per-organization limit: five busy keys' worth.
    pub const ORG_DEFAULT: Self = Self {
        per_second: 100.0,
        burst: 200,
    };
}

impl Default for RateLimit {
    /// The default per-key limit.
    fn default() -> Self {
        Self {
            per_second: 20.0,
            burst: 40,
        }
    }
}

/// The slowest rate honoured: one request a day.
const MAX_WAIT_SECS: f64 = 86_400.0;

/// The largest burst honoured.
const MAX_BURST: u32 = 100_000;

/// Every this many checks, the cells of keys whose allowance is full again
/// are dropped, so that memory follows the keys in use, not every key seen.
pub(crate) const IDLE_EVICTION_EVERY: u32 = 10_000;

/// The cells a request draws on, in the order every limiter takes them:
/// the key's own first, so that a request its key's limit refuses uses up
/// nothing of the organization's allowance for its other keys; then the
/// organization's, shared by all its keys, so that minting keys does not
/// multiply the allowance. Each comes with its limit and a cell id unique
/// across both kinds.
pub(crate) fn cells_in_order<L: Copy>(
    key: &StoredKey,
    per_key: Option<L>,
    per_org: Option<L>,
) -> impl Iterator<Item = (L, String)> {
    [
        per_key.map(|limit| (limit, format!("key:{}", key.id))),
        per_org.map(|limit| (limit, format!("org:{}", key.org_id))),
    ]
    .into_iter()
    .flatten()
}

/// A limit as GCRA's parameters, in microseconds: one request is let
/// through every `period`, and a cell's theoretical arrival time may run at
/// most `tolerance` (`burst` periods) ahead of now. Both are bounded, at
/// most a day between requests and at most 100,000 in a burst, so that
/// their product cannot overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Gcra {
    pub(crate) period: i64,
    pub(crate) tolerance: i64,
}

impl Gcra {
    pub(crate) fn new(limit: RateLimit) -> Self {
        let period_secs = 1.0 / limit.per_second.max(1.0 / MAX_WAIT_SECS);
        let period = ((period_secs * 1e6) as i64).max(1);
        Self {
            period,
            tolerance: period * i64::from(limit.burst.clamp(1, MAX_BURST)),
        }
    }

    /// One request against a cell whose arrival time is `tat` (`None` for a
    /// fresh cell): the cell's new time if it is let through, or how long
    /// until it would be. The PostgreSQL limiter runs the same rule in SQL.
    pub(crate) fn take(self, tat: Option<i64>, now: i64) -> Result<i64, Duration> {
        let next = tat.unwrap_or(now).max(now) + self.period;
        if next <= now + self.tolerance {
            Ok(next)
        } else {
            // At most a day: a request whose now was read before the clock
            // moved on may meet a cell stamped after the move.
            let wait = u64::try_from(next - self.tolerance - now).unwrap_or(0);
            Err(Duration::from_micros(wait).min(Duration::from_secs_f64(MAX_WAIT_SECS)))
        }
    }
}

/// The sandbox time as GCRA's microseconds.
pub(crate) fn micros(now: DateTime<Utc>) -> i64 {
    now.timestamp_micros()
}
