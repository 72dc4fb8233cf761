//! What the control plane keeps in the store, so that every process on it
//! shares one clock and one set of faults, and the changes made to it.
//!
//! A change is a value, a [`ControlCommand`], that the store applies with
//! [`ControlState::apply`] inside its own transaction, under its write
//! lock, so that changes from every process apply one after the other.
//! The rules (the cap on faults, how a fault's hits are counted, how the
//! clock may move) live here, in plain code, and are tested without a
//! store.

use chrono::{DateTime, SecondsFormat, Utc};

use super::clock::{ClockMove, ClockRefusal, ClockSetting};
use super::faults::{ActiveFault, StoredFault};
use super::refusal::Refusal;

/// The most faults active at once. Every request reads them all with its
/// key, so their number is kept small.
pub const MAX_FAULTS: usize = 100;

/// The control state. A reset returns it to the default: the wall clock,
/// and no fault. It is stored as JSON in one column; like every stored
/// format, changing it needs a migration.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ControlState {
    /// The sandbox clock.
    pub clock: ClockSetting,
    /// The active faults, oldest first: the order they are tried in.
    pub faults: Vec<ActiveFault>,
}

/// A change to the control state.
#[derive(Clone, Debug, PartialEq)]
pub enum ControlCommand {
    /// Adds a fault, unless [`MAX_FAULTS`] are active.
    AddFault(StoredFault),
    /// Retires every fault.
    ClearFaults,
    /// Retires the fault with this id.
    DeleteFault(String),
    /// Counts one hit of the fault with this id, and retires it once it
    /// has hit all its `times`.
    TakeHit(String),
    /// Moves the clock, by the wall clock as it is when the store applies
    /// the command.
    MoveClock(ClockMove),
}

/// Why a well-formed command changed nothing: the state refused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlRefusal {
    /// [`MAX_FAULTS`] faults are active already.
    TooManyFaults,
    /// The clock cannot move that way.
    Clock(ClockRefusal),
}

impl ControlState {
    /// Applies `command` at the wall-clock time `wall`. Answers whether
    /// anything changed, and so needs writing: a fault hit or deleted, a
    /// clock resumed that was frozen. A refused command changes nothing.
    pub fn apply(
        &mut self,
        command: &ControlCommand,
        wall: DateTime<Utc>,
    ) -> Result<bool, ControlRefusal> {
        match command {
            ControlCommand::AddFault(fault) => {
                if self.faults.len() >= MAX_FAULTS {
                    return Err(ControlRefusal::TooManyFaults);
                }
                self.faults.push(ActiveFault {
                    fault: fault.clone(),
                    hits: 0,
                });
                Ok(true)
            }
            ControlCommand::ClearFaults => {
                let had = !self.faults.is_empty();
                self.faults.clear();
                Ok(had)
            }
            ControlCommand::DeleteFault(id) => {
                let before = self.faults.len();
                self.faults.retain(|f| f.fault.id != *id);
                Ok(self.faults.len() < before)
            }
            ControlCommand::TakeHit(id) => {
                let Some(at) = self.faults.iter().position(|f| f.fault.id == *id) else {
                    return Ok(false);
                };
                let taken = self.faults[at].take_hit();
                if self.faults[at].is_spent() {
                    self.faults.remove(at);
                }
                Ok(taken)
            }
            ControlCommand::MoveClock(to) => {
                self.clock.apply(*to, wall).map_err(ControlRefusal::Clock)
            }
        }
    }
}

/// A command the control state refused: the request was well-formed, and
/// it is the state that refuses it.
impl From<ControlRefusal> for Refusal {
    fn from(refused: ControlRefusal) -> Self {
        Refusal::conflict(match refused {
            ControlRefusal::TooManyFaults => {
                format!("{MAX_FAULTS} faults are active already; delete or clear some first.")
            }
            ControlRefusal::Clock(ClockRefusal::TooLate) => {
                "The clock cannot pass the end of the year 9999.".to_owned()
            }
            ControlRefusal::Clock(ClockRefusal::WouldGoBack(now)) => format!(
                "The clock never moves back, and its now is {}; only a reset does that.",
                now.to_rfc3339_opts(SecondsFormat::AutoSi, true)
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::faults::StoredAction;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(ms).expect("in range")
    }

    fn fault(id: &str, times: Option<i32>) -> StoredFault {
        StoredFault {
            id: id.to_owned(),
            operation_id: None,
            status: Some(503),
            retry_after: None,
            delay_ms: 0,
            action: StoredAction::Respond,
            times,
            probability: 1.0,
        }
    }

    #[test]
    fn faults_are_capped_and_a_refused_one_changes_nothing() {
        let mut state = ControlState::default();
        for i in 0..MAX_FAULTS {
            let added = state.apply(
                &ControlCommand::AddFault(fault(&i.to_string(), None)),
                at(0),
            );
            assert_eq!(added, Ok(true));
        }
        let before = state.clone();
        let over = ControlCommand::AddFault(fault("over", None));
        assert_eq!(
            state.apply(&over, at(0)),
            Err(ControlRefusal::TooManyFaults)
        );
        assert_eq!(state, before);
        assert_eq!(state.apply(&ControlCommand::ClearFaults, at(0)), Ok(true));
        assert_eq!(state.apply(&ControlCommand::ClearFaults, at(0)), Ok(false));
    }

    #[test]
    fn a_limited_fault_is_hit_its_times_then_retired() {
        let mut state = ControlState::default();
        let add = ControlCommand::AddFault(fault("twice", Some(2)));
        state.apply(&add, at(0)).expect("added");
        let hit = ControlCommand::TakeHit("twice".to_owned());
        assert_eq!(state.apply(&hit, at(0)), Ok(true));
        assert_eq!(state.faults[0].hits, 1);
        assert_eq!(state.apply(&hit, at(0)), Ok(true));
        assert!(state.faults.is_empty(), "retired after its second hit");
        assert_eq!(state.apply(&hit, at(0)), Ok(false));
        let gone = ControlCommand::DeleteFault("twice".to_owned());
        assert_eq!(state.apply(&gone, at(0)), Ok(false));
    }

    #[test]
    fn the_clock_moves_as_its_rules_say_and_a_refusal_is_typed() {
        let mut state = ControlState::default();
        let advance = ControlCommand::MoveClock(ClockMove::AdvanceBySeconds(60));
        assert_eq!(state.apply(&advance, at(1_000)), Ok(true));
        let back = ControlCommand::MoveClock(ClockMove::FreezeAt(at(1_000)));
        assert_eq!(
            state.apply(&back, at(1_000)),
            Err(ControlRefusal::Clock(ClockRefusal::WouldGoBack(at(61_000))))
        );
        let resume = ControlCommand::MoveClock(ClockMove::Resume);
        assert_eq!(state.apply(&resume, at(1_000)), Ok(false), "it was running");
        let freeze = ControlCommand::MoveClock(ClockMove::FreezeAt(at(70_000)));
        assert_eq!(state.apply(&freeze, at(1_000)), Ok(true));
        assert_eq!(state.apply(&resume, at(1_000)), Ok(true));
    }

    /// A control row as sandbox 0.2 wrote it: a moved clock and a fault.
    #[test]
    fn a_row_written_by_0_2_reads() {
        let row = r#"{"clock":{"frozenAtMs":null,"offsetMs":7200000},"faults":[{"action":"respond","delayMs":0,"id":"5d2b8f0e4c7a4e1d9b3a6c8e2f1d0a7b","operationId":"listApiKeys","probability":1.0,"retryAfter":7,"status":429,"times":null,"hits":4}]}"#;
        let state: ControlState = serde_json::from_str(row).expect("reads");
        assert_eq!(state.clock.now_at(at(0)), at(7_200_000));
        assert_eq!(state.faults.len(), 1);
        assert_eq!(state.faults[0].fault.retry_after, Some(7));
        assert_eq!(state.faults[0].hits, 4);
        let again: ControlState =
            serde_json::from_str(&serde_json::to_string(&state).expect("writes")).expect("reads");
        assert_eq!(again, state);
    }
}
