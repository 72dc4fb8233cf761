//! Rate limits. The API asks a [`Limiter`] before each request; this
//! process's limiter is governor's keyed GCRA ([`LocalLimiter`]). The
//! interface is async and takes the whole key, so that a limiter whose
//! state lives in a shared database (replicas on one store) or one that
//! also counts per organization fits behind it unchanged.

use std::future::Future;
use std::num::NonZeroU32;
use std::pin::Pin;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::store::StoredKey;

/// How many requests a key may make: `per_second` on average, in bursts of
/// up to `burst`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// The sustained rate.
    pub per_second: f64,
    /// The most requests allowed back to back.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: 20.0,
            burst: 40,
        }
    }
}

/// What [`Limiter::check`] resolves to: `Err` holds how long until the key
/// may make its next request.
pub(crate) type Verdict<'a> = Pin<Box<dyn Future<Output = Result<(), Duration>> + Send + 'a>>;

/// Decides whether a key may make a request now, and counts it if so.
pub(crate) trait Limiter: Send + Sync {
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
const IDLE_EVICTION_EVERY: u32 = 10_000;

/// The limits of this process: one GCRA cell per key id.
pub(crate) struct LocalLimiter {
    limiter: RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>,
    checks: std::sync::atomic::AtomicU32,
}

impl LocalLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        // GCRA lets one request through every `period`, and `burst` back to
        // back: the token bucket's rate and depth. governor multiplies the
        // two in u64 nanoseconds, so both are kept where that cannot
        // overflow: at most a day between requests, at most 100,000 in a
        // burst.
        let period = Duration::from_secs_f64(1.0 / limit.per_second.max(1.0 / MAX_WAIT_SECS))
            .max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(limit.burst.clamp(1, MAX_BURST)).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(period)
            .expect("the period is positive")
            .allow_burst(burst);
        Self {
            limiter: RateLimiter::hashmap(quota),
            checks: std::sync::atomic::AtomicU32::new(0),
        }
    }

    fn check_now(&self, key_id: &str) -> Result<(), Duration> {
        let checks = self
            .checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if checks % IDLE_EVICTION_EVERY == IDLE_EVICTION_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key_id.to_owned())
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
            .map_err(|wait| wait.min(Duration::from_secs_f64(MAX_WAIT_SECS)))
    }
}

impl Limiter for LocalLimiter {
    fn check<'a>(&'a self, key: &'a StoredKey) -> Verdict<'a> {
        Box::pin(std::future::ready(self.check_now(&key.id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_a_burst_then_refuses_with_a_wait() {
        let limiter = LocalLimiter::new(RateLimit {
            per_second: 1.0,
            burst: 3,
        });
        for _ in 0..3 {
            assert!(limiter.check_now("k").is_ok());
        }
        let wait = limiter.check_now("k").expect_err("over the limit");
        assert!(wait > Duration::from_millis(900) && wait <= Duration::from_secs(1));
        assert!(limiter.check_now("other").is_ok(), "limits are per key");
    }

    #[test]
    fn extreme_settings_neither_panic_nor_wait_more_than_a_day() {
        let limiter = LocalLimiter::new(RateLimit {
            per_second: 1e-12,
            burst: u32::MAX,
        });
        for _ in 0..10 {
            assert!(limiter.check_now("k").is_ok());
        }
        let limiter = LocalLimiter::new(RateLimit {
            per_second: 1e-12,
            burst: 1,
        });
        assert!(limiter.check_now("k").is_ok());
        let wait = limiter.check_now("k").expect_err("over the limit");
        assert!(wait <= Duration::from_secs(86_400), "{wait:?}");
    }

    #[test]
    fn a_fractional_rate_spaces_requests_further_apart() {
        let limiter = LocalLimiter::new(RateLimit {
            per_second: 0.5,
            burst: 2,
        });
        assert!(limiter.check_now("k").is_ok() && limiter.check_now("k").is_ok());
        let wait = limiter.check_now("k").expect_err("over the limit");
        assert!(wait > Duration::from_millis(1900) && wait <= Duration::from_secs(2));
    }
}
