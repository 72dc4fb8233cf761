//! Rate limits. The API asks a [`Limiter`] before each request. A process
//! on its own store uses governor's keyed GCRA ([`LocalLimiter`]); replicas
//! on PostgreSQL share theirs in the database (`crate::postgres`), which is
//! why the interface is async and may fail.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

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
    /// Takes one request's worth of `key`'s allowance, or says how long to
    /// wait.
    fn check<'a>(&'a self, key: &'a StoredKey) -> Verdict<'a>;
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

/// The limits of this process: each key within its own allowance, and each
/// organization within one allowance shared by all its keys, so that a key
/// cannot multiply its allowance by minting more keys.
pub(crate) struct LocalLimiter {
    per_key: Option<Cells>,
    per_org: Option<Cells>,
}

impl LocalLimiter {
    /// `None` from both limits means no limiter is needed.
    pub(crate) fn new(per_key: Option<RateLimit>, per_org: Option<RateLimit>) -> Option<Self> {
        (per_key.is_some() || per_org.is_some()).then(|| Self {
            per_key: per_key.map(Cells::new),
            per_org: per_org.map(Cells::new),
        })
    }

    fn check_now(&self, key: &StoredKey) -> Result<(), Duration> {
        for (cells, id) in cells_in_order(key, self.per_key.as_ref(), self.per_org.as_ref()) {
            cells.check(&id)?;
        }
        Ok(())
    }
}

impl Limiter for LocalLimiter {
    fn check<'a>(&'a self, key: &'a StoredKey) -> Verdict<'a> {
        Box::pin(std::future::ready(Ok(self.check_now(key))))
    }
}

/// A limit as GCRA's parameters: one request is let through every
/// `period`, and `burst` back to back (the token bucket's rate and depth).
/// Every limiter multiplies the two, so both are kept where that cannot
/// overflow a u64 of nanoseconds: at most a day between requests, at most
/// 100,000 in a burst.
pub(crate) fn bounded(limit: RateLimit) -> (Duration, u32) {
    let period = Duration::from_secs_f64(1.0 / limit.per_second.max(1.0 / MAX_WAIT_SECS))
        .max(Duration::from_nanos(1));
    (period, limit.burst.clamp(1, MAX_BURST))
}

/// One GCRA cell per id, all under the same limit.
struct Cells {
    limiter: RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>,
    checks: std::sync::atomic::AtomicU32,
}

impl Cells {
    fn new(limit: RateLimit) -> Self {
        let (period, burst) = bounded(limit);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .expect("the period is positive")
            .allow_burst(burst);
        Self {
            limiter: RateLimiter::hashmap(quota),
            checks: std::sync::atomic::AtomicU32::new(0),
        }
    }

    fn check(&self, id: &str) -> Result<(), Duration> {
        let checks = self
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if checks % IDLE_EVICTION_EVERY == IDLE_EVICTION_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&id.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
            .map_err(|wait| wait.min(Duration::from_secs_f64(MAX_WAIT_SECS)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn allows_a_burst_then_refuses_with_a_wait() {
        let cells = Cells::new(limit(1.0, 3));
        for _ in 0..3 {
            assert!(cells.check("k").is_ok());
        }
        let wait = cells.check("k").expect_err("over the limit");
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(cells.check("other").is_ok(), "limits are per id");
    }

    #[test]
    fn a_fractional_rate_spaces_requests_further_apart() {
        let cells = Cells::new(limit(0.5, 2));
        assert!(cells.check("k").is_ok() && cells.check("k").is_ok());
        let wait = cells.check("k").expect_err("over the limit");
        assert!(wait > Duration::from_millis(1900) && wait <= Duration::from_secs(2));
    }

    #[test]
    fn extreme_settings_neither_panic_nor_wait_more_than_a_day() {
        let cells = Cells::new(limit(1e-12, u32::MAX));
        for _ in 0..10 {
            assert!(cells.check("k").is_ok());
        }
        let cells = Cells::new(limit(1e-12, 1));
        assert!(cells.check("k").is_ok());
        let wait = cells.check("k").expect_err("over the limit");
        assert!(wait <= Duration::from_secs(86_400), "{wait:?}");
    }

    #[test]
    fn minting_keys_does_not_multiply_an_organizations_allowance() {
        let limiter =
            LocalLimiter::new(Some(limit(1000.0, 1000)), Some(limit(1.0, 5))).expect("limits");
        let allowed = (0..20)
            .filter(|i| limiter.check_now(&key(&format!("key{i}"), "org")).is_ok())
            .count();
        assert_eq!(allowed, 5, "twenty fresh keys share the org's burst of 5");
        assert!(
            limiter.check_now(&key("key0", "other org")).is_ok(),
            "each organization has its own allowance"
        );
    }

    #[test]
    fn a_key_over_its_own_limit_does_not_use_up_its_organizations() {
        let limiter = LocalLimiter::new(Some(limit(1.0, 1)), Some(limit(1.0, 3))).expect("limits");
        let busy = key("busy", "org");
        assert!(limiter.check_now(&busy).is_ok());
        for _ in 0..10 {
            assert!(limiter.check_now(&busy).is_err());
        }
        for other in ["a", "b"] {
            assert!(limiter.check_now(&key(other, "org")).is_ok(), "{other}");
        }
    }

    #[test]
    fn memory_follows_the_ids_in_use_not_every_id_seen() {
        // Allowances refill within microseconds, so every id is idle
        // (its allowance full) soon after its one request.
        let cells = Cells::new(limit(1e9, 1));
        for i in 0..5 * IDLE_EVICTION_EVERY {
            assert!(cells.check(&format!("key{i}")).is_ok());
        }
        let held = cells.limiter.len();
        assert!(
            held <= IDLE_EVICTION_EVERY as usize,
            "{held} cells held after {} distinct ids",
            5 * IDLE_EVICTION_EVERY
        );
    }

    #[test]
    fn no_limits_means_no_limiter() {
        assert!(LocalLimiter::new(None, None).is_none());
    }
}
