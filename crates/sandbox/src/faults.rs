//! Injected faults: latency and errors that the control plane adds to the
//! vendor API, so that a client's retries and timeouts can be tested. They
//! are kept in the store with the clock, so that every process on it
//! applies the same faults, and a fault limited to `times` requests hits
//! that many across all of them. A fault is the control spec's `Fault`, as
//! the generated control client has it.

use serde::{Deserialize, Serialize};

use crate::control_client::types::Fault;

/// A fault with the count of requests it has hit, as the store keeps it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ActiveFault {
    /// The fault.
    #[serde(flatten)]
    pub fault: Fault,
    /// How many requests it has hit so far.
    pub hits: u32,
}

impl ActiveFault {
    /// Whether the fault applies to a request routed to `operation_id`.
    pub fn matches(&self, operation_id: &str) -> bool {
        self.fault
            .operation_id
            .as_deref()
            .is_none_or(|wanted| wanted == operation_id)
    }

    /// Whether it needs a write to count its hits: only a fault limited
    /// to `times` does, so that the others cost no write per request.
    pub fn is_counted(&self) -> bool {
        self.fault.times.is_some()
    }

    /// Counts one hit, unless the fault has hit all its `times`.
    pub fn take_hit(&mut self) -> bool {
        if self.is_spent() {
            return false;
        }
        self.hits = self.hits.saturating_add(1);
        true
    }

    /// Whether it has hit all its `times` and is retired.
    pub fn is_spent(&self) -> bool {
        self.fault
            .times
            .is_some_and(|times| i64::from(self.hits) >= i64::from(times))
    }
}

/// Whether a request is hit by a fault of this probability: a uniform draw
/// from the operating system's random source.
pub fn draw(probability: f64) -> bool {
    if probability >= 1.0 {
        return true;
    }
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        return false;
    }
    // 53 random bits: every double in [0, 1) at that spacing.
    let unit = (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64;
    unit < probability
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::control_client::types::FaultAction;

    fn fault(operation_id: Option<&str>, times: Option<i32>) -> ActiveFault {
        ActiveFault {
            fault: Fault {
                id: "f".repeat(32),
                operation_id: operation_id.map(str::to_owned),
                status: Some(503),
                retry_after: None,
                delay_ms: 0,
                action: FaultAction::Respond,
                times,
                probability: 1.0,
            },
            hits: 0,
        }
    }

    #[test]
    fn matches_its_operation_or_every_operation() {
        assert!(fault(Some("listApiKeys"), None).matches("listApiKeys"));
        assert!(!fault(Some("listApiKeys"), None).matches("createApiKey"));
        assert!(fault(None, None).matches("deleteApiKey"));
    }

    #[test]
    fn retires_after_its_times() {
        let mut limited = fault(None, Some(2));
        assert!(limited.take_hit() && limited.take_hit());
        assert!(limited.is_spent());
        assert!(!limited.take_hit());
        let mut unlimited = fault(None, None);
        for _ in 0..1000 {
            assert!(unlimited.take_hit());
        }
        assert!(!unlimited.is_spent());
    }

    #[test]
    fn probability_bounds_are_exact() {
        assert!((0..1000).all(|_| draw(1.0)));
        assert!((0..1000).all(|_| !draw(0.0)));
        let hits = (0..4000).filter(|_| draw(0.5)).count();
        // Six standard deviations either side of 2000.
        assert!((1810..=2190).contains(&hits), "{hits}");
    }

    #[test]
    fn the_stored_form_round_trips() {
        let mut stored = fault(Some("createApiKey"), Some(3));
        stored.take_hit();
        let text = serde_json::to_string(&stored).expect("serialize");
        let back: ActiveFault = serde_json::from_str(&text).expect("parse");
        assert_eq!(serde_json::to_string(&back).expect("serialize"), text);
        assert_eq!((back.hits, back.fault.times), (1, Some(3)));
    }
}
