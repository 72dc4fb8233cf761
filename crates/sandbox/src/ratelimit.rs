//! Rate limits. The API asks a [`Limiter`] before each request. Both
//! limiters run GCRA on the sandbox clock, in microseconds: a process on
//! its own store keeps its cells in memory ([`LocalLimiter`]); replicas on
//! PostgreSQL keep theirs in the database (`crate::postgres`), which is why
//! the interface is async and may fail. Time comes from the caller, so that
//! moving the sandbox clock refills allowances.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::store::{StoreFuture, StoredKey};

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

/// What [`Limiter::check`] resolves to: `Err` inside holds how long until
/// the key may make its next request. A limiter that keeps its state in the
/// database can fail like any store call.
pub type Verdict<'a> = StoreFuture<'a, Result<(), Duration>>;

/// Decides whether a key may make a request now, and counts it if so.
pub trait Limiter: Send + Sync {
    /// Takes one request's worth of `key`'s allowance at the sandbox time
    /// `now`, or says how long to wait.
    fn check<'a>(&'a self, key: &'a StoredKey, now: DateTime<Utc>) -> Verdict<'a>;
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

/// The limits of this process: each key within its own allowance, and each
/// organization within one allowance shared by all its keys, so that a key
/// cannot multiply its allowance by minting more keys.
pub(crate) struct LocalLimiter {
    per_key: Option<Gcra>,
    per_org: Option<Gcra>,
    /// Each cell's theoretical arrival time. A cell whose time has passed
    /// is a full allowance, the same as no cell.
    cells: Mutex<HashMap<String, i64>>,
    checks: AtomicU32,
}

impl LocalLimiter {
    /// `None` from both limits means no limiter is needed.
    pub(crate) fn new(per_key: Option<RateLimit>, per_org: Option<RateLimit>) -> Option<Self> {
        (per_key.is_some() || per_org.is_some()).then(|| Self {
            per_key: per_key.map(Gcra::new),
            per_org: per_org.map(Gcra::new),
            cells: Mutex::new(HashMap::new()),
            checks: AtomicU32::new(0),
        })
    }

    fn max_tolerance(&self) -> i64 {
        [self.per_key, self.per_org]
            .into_iter()
            .flatten()
            .map(|limit| limit.tolerance)
            .max()
            .unwrap_or(0)
    }

    fn check_at(&self, key: &StoredKey, now: i64) -> Result<(), Duration> {
        // A panic elsewhere cannot leave a cell half-written: each is one
        // integer. So a poisoned lock is taken over.
        let mut cells = self.cells.lock().unwrap_or_else(|p| p.into_inner());
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(IDLE_EVICTION_EVERY)
        {
            // A cell whose time has passed is a full allowance. One further
            // ahead than any limit allows was stamped by a clock that a
            // reset has since taken back; its key is gone with the reset.
            let furthest = now.saturating_add(self.max_tolerance());
            cells.retain(|_, tat| *tat > now && *tat <= furthest);
        }
        for (limit, id) in cells_in_order(key, self.per_key, self.per_org) {
            let tat = limit.take(cells.get(&id).copied(), now)?;
            cells.insert(id, tat);
        }
        Ok(())
    }
}

impl Limiter for LocalLimiter {
    fn check<'a>(&'a self, key: &'a StoredKey, now: DateTime<Utc>) -> Verdict<'a> {
        Box::pin(std::future::ready(Ok(self.check_at(key, micros(now)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000;

    fn limit(per_second: f64, burst: u32) -> RateLimit {
        RateLimit { per_second, burst }
    }

    fn key(id: &str, org_id: &str) -> StoredKey {
        StoredKey {
            id: id.to_owned(),
            org_id: org_id.to_owned(),
            name: id.to_owned(),
            scopes: Vec::new(),
            created_at: 0,
            exp: i64::MAX,
        }
    }

    fn per_key(per_second: f64, burst: u32) -> LocalLimiter {
        LocalLimiter::new(Some(limit(per_second, burst)), None).expect("a limit")
    }

    #[test]
    fn allows_a_burst_then_refuses_with_a_wait() {
        let limiter = per_key(1.0, 3);
        let k = key("k", "org");
        for _ in 0..3 {
            assert!(limiter.check_at(&k, 0).is_ok());
        }
        let wait = limiter.check_at(&k, 0).expect_err("over the limit");
        assert_eq!(wait, Duration::from_secs(1));
        assert!(
            limiter.check_at(&key("other", "org"), 0).is_ok(),
            "limits are per key"
        );
    }

    #[test]
    fn time_refills_the_allowance_and_only_time_does() {
        let limiter = per_key(1.0, 2);
        let k = key("k", "org");
        assert!(limiter.check_at(&k, 0).is_ok() && limiter.check_at(&k, 0).is_ok());
        assert!(limiter.check_at(&k, SECOND / 2).is_err(), "half a period");
        assert!(
            limiter.check_at(&k, SECOND).is_ok(),
            "one period refills one"
        );
        assert!(limiter.check_at(&k, SECOND).is_err());
        assert!(
            limiter.check_at(&k, 3600 * SECOND).is_ok()
                && limiter.check_at(&k, 3600 * SECOND).is_ok(),
            "a clock moved an hour on finds the burst full"
        );
    }

    #[test]
    fn a_fractional_rate_spaces_requests_further_apart() {
        let limiter = per_key(0.5, 2);
        let k = key("k", "org");
        assert!(limiter.check_at(&k, 0).is_ok() && limiter.check_at(&k, 0).is_ok());
        let wait = limiter.check_at(&k, 0).expect_err("over the limit");
        assert_eq!(wait, Duration::from_secs(2));
    }

    #[test]
    fn extreme_settings_neither_panic_nor_wait_more_than_a_day() {
        let limiter = per_key(1e-12, u32::MAX);
        let k = key("k", "org");
        for _ in 0..10 {
            assert!(limiter.check_at(&k, 0).is_ok());
        }
        let limiter = per_key(1e-12, 1);
        assert!(limiter.check_at(&k, 0).is_ok());
        let wait = limiter.check_at(&k, 0).expect_err("over the limit");
        assert!(wait <= Duration::from_secs(86_400), "{wait:?}");
        let limiter = per_key(f64::MAX, 1);
        assert!(
            limiter.check_at(&k, i64::MAX / 2).is_ok(),
            "year 9999 and beyond"
        );
    }

    #[test]
    fn minting_keys_does_not_multiply_an_organizations_allowance() {
        let limiter =
            LocalLimiter::new(Some(limit(1000.0, 1000)), Some(limit(1.0, 5))).expect("limits");
        let allowed = (0..20)
            .filter(|i| limiter.check_at(&key(&format!("key{i}"), "org"), 0).is_ok())
            .count();
        assert_eq!(allowed, 5, "twenty fresh keys share the org's burst of 5");
        assert!(
            limiter.check_at(&key("key0", "other org"), 0).is_ok(),
            "each organization has its own allowance"
        );
    }

    #[test]
    fn a_key_over_its_own_limit_does_not_use_up_its_organizations() {
        let limiter = LocalLimiter::new(Some(limit(1.0, 1)), Some(limit(1.0, 3))).expect("limits");
        let busy = key("busy", "org");
        assert!(limiter.check_at(&busy, 0).is_ok());
        for _ in 0..10 {
            assert!(limiter.check_at(&busy, 0).is_err());
        }
        for other in ["a", "b"] {
            assert!(limiter.check_at(&key(other, "org"), 0).is_ok(), "{other}");
        }
    }

    #[test]
    fn memory_follows_the_keys_in_use_not_every_key_seen() {
        let limiter = per_key(1000.0, 1);
        for i in 0..5 * i64::from(IDLE_EVICTION_EVERY) {
            // Each key's one request is a millisecond in its past by the
            // next one, so its allowance is full again.
            assert!(
                limiter
                    .check_at(&key(&format!("key{i}"), "org"), i * 1000)
                    .is_ok()
            );
        }
        let held = limiter.cells.lock().expect("lock").len();
        assert!(
            held <= IDLE_EVICTION_EVERY as usize,
            "{held} cells held after {} distinct keys",
            5 * IDLE_EVICTION_EVERY
        );
    }

    #[test]
    fn a_wait_never_exceeds_a_day_even_after_the_clock_moved() {
        let limiter = per_key(1.0, 1);
        let k = key("k", "org");
        let year = 365 * 86_400 * SECOND;
        assert!(limiter.check_at(&k, year).is_ok(), "stamped after a move");
        let wait = limiter.check_at(&k, 0).expect_err("a stale now");
        assert_eq!(wait, Duration::from_secs(86_400));
    }

    #[test]
    fn no_limits_means_no_limiter() {
        assert!(LocalLimiter::new(None, None).is_none());
    }
}
