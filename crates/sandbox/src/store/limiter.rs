//! Rate limiters: the API asks a [`Limiter`] before each request. Both
//! run GCRA on the sandbox clock: a process on its own store keeps its
//! cells in memory (`LocalLimiter`); replicas on PostgreSQL keep theirs in
//! the database (`super::postgres`), which is why the interface is async
//! and may fail. Time comes from the caller, so that moving the sandbox
//! clock refills allowances.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::error::StoreFuture;
use crate::model::org::StoredKey;
use crate::model::rate_limit::{Gcra, IDLE_EVICTION_EVERY, RateLimit, cells_in_order, micros};

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
