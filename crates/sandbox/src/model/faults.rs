//! Injected faults: latency and errors that the control plane adds to the
//! vendor API, so that a client's retries and timeouts can be tested. They
//! are kept in the store with the clock, so that every process on it
//! applies the same faults, and a fault limited to `times` requests hits
//! that many across all of them.
//!
//! The store keeps faults as [`StoredFault`], a type of this crate's own,
//! not the control spec's `Fault`: every request reads the stored row, so
//! its format belongs to the database schema, and a change to the spec
//! must not change it unseen. The two convert into each other where the
//! control plane answers.

use serde::{Deserialize, Serialize};

use super::refusal::Refusal;
use crate::control_client::types::{Fault, FaultAction, FaultRequest};

/// A fault as the store keeps it. Its JSON names are the ones sandbox 0.2
/// wrote (then the spec's), so such rows still read. Changing this type
/// changes the database format: it needs a migration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredFault {
    /// Its id.
    pub id: String,
    /// The vendor operation it matches; `None` for every operation.
    #[serde(default)]
    pub operation_id: Option<String>,
    /// The status it answers, if any.
    #[serde(default)]
    pub status: Option<i32>,
    /// The `Retry-After` it sends, in seconds, if any.
    #[serde(default)]
    pub retry_after: Option<i32>,
    /// Milliseconds it waits before its action.
    #[serde(default)]
    pub delay_ms: i32,
    /// What it does.
    pub action: StoredAction,
    /// How many requests it hits in all; `None` for no limit.
    #[serde(default)]
    pub times: Option<i32>,
    /// The chance that a matching request is hit.
    pub probability: f64,
}

/// What a stored fault does, by the names sandbox 0.2 wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum StoredAction {
    /// Answer its status instead of the operation's.
    Respond,
    /// Close the connection without an answer or the operation.
    Drop,
    /// Perform the operation, then answer its status or close.
    CommitThenFail,
}

impl From<Fault> for StoredFault {
    fn from(fault: Fault) -> Self {
        Self {
            id: fault.id,
            operation_id: fault.operation_id,
            status: fault.status,
            retry_after: fault.retry_after,
            delay_ms: fault.delay_ms,
            action: match fault.action {
                FaultAction::Respond => StoredAction::Respond,
                FaultAction::Drop => StoredAction::Drop,
                FaultAction::CommitThenFail => StoredAction::CommitThenFail,
            },
            times: fault.times,
            probability: fault.probability,
        }
    }
}

impl From<&StoredFault> for Fault {
    fn from(fault: &StoredFault) -> Self {
        Self {
            id: fault.id.clone(),
            operation_id: fault.operation_id.clone(),
            status: fault.status,
            retry_after: fault.retry_after,
            delay_ms: fault.delay_ms,
            action: match fault.action {
                StoredAction::Respond => FaultAction::Respond,
                StoredAction::Drop => FaultAction::Drop,
                StoredAction::CommitThenFail => FaultAction::CommitThenFail,
            },
            times: fault.times,
            probability: fault.probability,
        }
    }
}

/// A fault with the count of requests it has hit, as the store keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActiveFault {
    /// The fault.
    #[serde(flatten)]
    pub fault: StoredFault,
    /// How many requests it has hit so far.
    #[serde(default)]
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

/// The longest injected delay.
const MAX_DELAY_MS: i32 = 300_000;

/// The longest injected `Retry-After`.
const MAX_RETRY_AFTER: i32 = 86_400;

/// The fault `request` asks for, with the id `id`, or why it is refused:
/// the limits and rules the control spec's `FaultRequest` states.
pub fn fault_from(request: FaultRequest, id: String) -> Result<Fault, Refusal> {
    if request.status.is_some_and(|s| !(400..=599).contains(&s)) {
        return Err(Refusal::invalid(
            "status",
            "`status` must be between 400 and 599: the answer is a problem.",
        ));
    }
    if request
        .retry_after
        .is_some_and(|s| !(0..=MAX_RETRY_AFTER).contains(&s))
    {
        return Err(Refusal::invalid(
            "retryAfter",
            format!("`retryAfter` must be from 0 to {MAX_RETRY_AFTER} seconds."),
        ));
    }
    if request.retry_after.is_some() && request.status.is_none() {
        return Err(Refusal::invalid(
            "retryAfter",
            "`retryAfter` needs a `status` to be sent with.",
        ));
    }
    if !(0..=MAX_DELAY_MS).contains(&request.delay_ms) {
        return Err(Refusal::invalid(
            "delayMs",
            format!("`delayMs` must be from 0 to {MAX_DELAY_MS}."),
        ));
    }
    let times = request
        .times
        .map(|times| i32::try_from(times.get()))
        .transpose()
        .map_err(|_| {
            Refusal::invalid("times", format!("`times` must be from 1 to {}.", i32::MAX))
        })?;
    if !(0.0..=1.0).contains(&request.probability) {
        return Err(Refusal::invalid(
            "probability",
            "`probability` must be between 0 and 1.",
        ));
    }
    let action = request.action.unwrap_or(FaultAction::Respond);
    if action == FaultAction::Drop && request.status.is_some() {
        return Err(Refusal::invalid(
            "status",
            "A `drop` closes the connection and answers no `status`.",
        ));
    }
    if action == FaultAction::Respond && request.status.is_none() && request.delay_ms == 0 {
        return Err(Refusal::invalid(
            "status",
            "The fault changes nothing: give a `status`, a `delayMs`, or the action \
             `drop` or `commitThenFail`.",
        ));
    }
    Ok(Fault {
        id,
        operation_id: request.operation_id.map(|op| op.to_string()),
        status: request.status,
        retry_after: request.retry_after,
        delay_ms: request.delay_ms,
        action,
        times,
        probability: request.probability,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(operation_id: Option<&str>, times: Option<i32>) -> ActiveFault {
        ActiveFault {
            fault: StoredFault {
                id: "f".repeat(32),
                operation_id: operation_id.map(str::to_owned),
                status: Some(503),
                retry_after: None,
                delay_ms: 0,
                action: StoredAction::Respond,
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

    /// A fault row as sandbox 0.2 wrote it, in the control spec's own
    /// names, still reads, and writes back the same.
    #[test]
    fn a_fault_written_by_0_2_reads() {
        let written = r#"{"action":"commitThenFail","delayMs":250,"id":"5d2b8f0e4c7a4e1d9b3a6c8e2f1d0a7b","operationId":"createApiKey","probability":0.5,"retryAfter":null,"status":500,"times":3,"hits":1}"#;
        let read: ActiveFault = serde_json::from_str(written).expect("reads");
        assert_eq!(read.fault.action, StoredAction::CommitThenFail);
        assert_eq!(read.fault.operation_id.as_deref(), Some("createApiKey"));
        assert_eq!(
            (
                read.fault.delay_ms,
                read.fault.status,
                read.fault.times,
                read.hits
            ),
            (250, Some(500), Some(3), 1)
        );
        let again: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&read).expect("writes")).expect("JSON");
        let before: serde_json::Value = serde_json::from_str(written).expect("JSON");
        assert_eq!(again, before);
        // And the spec's type converts both ways without loss.
        let wire = Fault::from(&read.fault);
        assert_eq!(StoredFault::from(wire), read.fault);
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
