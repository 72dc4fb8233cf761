//! The control plane's operations, for test suites that reset, seed,
//! observe and disturb a running sandbox. [`Controls`] holds them once:
//! the HTTP control API (`crate::http::control`) and `Sandbox`'s methods
//! both call them, so that in-process tests and other languages get the
//! same behaviour. What they take and answer are the control spec's types,
//! as the generated control client has them.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::control_error::ControlError;
use super::journal::{Journal, JournalQuery};
use crate::control_client::types::{Clock, Fault, FaultRequest, LoadedFixtures, RecordedRequest};
use crate::model::clock::{ClockMove, ClockSetting};
use crate::model::control_state::{ControlCommand, ControlState};
use crate::model::faults::{draw, fault_from};
use crate::model::keys;
use crate::model::operation::Operation;
use crate::model::org::Org;
use crate::model::refusal::Refusal;
use crate::store::contract::Store;
use crate::store::error::StoreError;

/// The control plane of one sandbox process: its store, which holds the
/// clock and the faults every process shares, and its own journal.
#[derive(Clone)]
pub struct Controls {
    store: Arc<dyn Store>,
    journal: Arc<Journal>,
    /// The clock as last read from the store, for stamping requests that
    /// never reached it (no key, say).
    clock_seen: Arc<Mutex<ClockSetting>>,
}

impl std::fmt::Debug for Controls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controls").finish_non_exhaustive()
    }
}

impl Controls {
    pub(crate) fn new(store: Arc<dyn Store>, journal_size: usize) -> Self {
        Self {
            store,
            journal: Arc::new(Journal::new(journal_size)),
            clock_seen: Arc::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    pub(crate) fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Notes the clock a store read returned.
    pub(crate) fn saw_clock(&self, clock: ClockSetting) {
        *self.clock_seen.lock().unwrap_or_else(|p| p.into_inner()) = clock;
    }

    /// The sandbox's now by the clock last read.
    pub(crate) fn now_as_seen(&self) -> DateTime<Utc> {
        self.clock_seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .now()
    }

    /// `resetSandbox`: every organization and key is gone, the faults and
    /// this process's journal are cleared, and the clock runs with the wall
    /// clock again.
    pub async fn reset(&self) -> Result<(), ControlError> {
        self.store.reset().await?;
        self.journal.clear();
        self.saw_clock(ClockSetting::default());
        Ok(())
    }

    /// `createSandboxOrg`: a new organization and its admin key's secret.
    pub async fn create_org(&self, name: &str) -> Result<(Org, String), ControlError> {
        super::orgs::create_org(self.store.as_ref(), name).await
    }

    /// `loadFixtures`: stores the organizations and keys of a fixtures
    /// document (the shape of the control API's `Fixtures`), all or none,
    /// and returns what was made, secrets included.
    pub async fn load_fixtures(&self, document: &Value) -> Result<LoadedFixtures, ControlError> {
        super::fixtures::load_fixtures(self.store.as_ref(), document, false)
            .await?
            .ok_or_else(|| {
                ControlError::Store(StoreError::failed("fixtures for any store were not stored"))
            })
    }

    /// `listRecordedRequests`: this process's journal, newest first.
    pub fn requests(&self, query: &JournalQuery) -> Vec<RecordedRequest> {
        self.journal.list(query)
    }

    /// `clearRecordedRequests`.
    pub fn clear_requests(&self) {
        self.journal.clear();
    }

    /// `addFault`: the fault with its id and defaults.
    pub async fn add_fault(&self, request: FaultRequest) -> Result<Fault, ControlError> {
        let fault = fault_from(request, keys::random_hex(16)?)?;
        let (added, _) = self
            .store
            .update_control(ControlCommand::AddFault(fault.clone().into()))
            .await?;
        added.map_err(Refusal::from)?;
        Ok(fault)
    }

    /// `listFaults`: the active faults, oldest first.
    pub async fn faults(&self) -> Result<Vec<Fault>, ControlError> {
        let state = self.store.control_state().await?;
        Ok(state.faults.iter().map(|f| Fault::from(&f.fault)).collect())
    }

    /// `clearFaults`.
    pub async fn clear_faults(&self) -> Result<(), ControlError> {
        let (cleared, _) = self
            .store
            .update_control(ControlCommand::ClearFaults)
            .await?;
        cleared.map_err(Refusal::from)?;
        Ok(())
    }

    /// `deleteFault`: `false` if no active fault has this id.
    pub async fn delete_fault(&self, id: &str) -> Result<bool, ControlError> {
        let (deleted, _) = self
            .store
            .update_control(ControlCommand::DeleteFault(id.to_owned()))
            .await?;
        Ok(deleted.map_err(Refusal::from)?)
    }

    /// `getClock`.
    pub async fn clock(&self) -> Result<Clock, ControlError> {
        let state = self.store.control_state().await?;
        self.saw_clock(state.clock);
        Ok(reading(&state))
    }

    /// `setClock`: moves the clock every process on the store shares. The
    /// clock never moves back: a move that would is refused, and changes
    /// nothing.
    pub async fn set_clock(&self, to: ClockMove) -> Result<Clock, ControlError> {
        let to = to.within_limits()?;
        // Refused or not under the store's lock, against the clock as it
        // is then.
        let (moved, state) = self
            .store
            .update_control(ControlCommand::MoveClock(to))
            .await?;
        self.saw_clock(state.clock);
        moved.map_err(|refused| Refusal::from(refused).with_field(to.field()))?;
        Ok(reading(&state))
    }

    /// The fault a request routed to `operation` is hit by, if any: the
    /// oldest matching fault that its probability draws, and that still has
    /// a hit left when it is counted in the store.
    pub(crate) async fn fault_for(
        &self,
        state: &ControlState,
        operation: Operation,
    ) -> Result<Option<Fault>, StoreError> {
        for candidate in state.faults.iter().filter(|f| f.matches(operation.id())) {
            if !draw(candidate.fault.probability) {
                continue;
            }
            if !candidate.is_counted() {
                return Ok(Some(Fault::from(&candidate.fault)));
            }
            let (taken, _) = self
                .store
                .update_control(ControlCommand::TakeHit(candidate.fault.id.clone()))
                .await?;
            if taken == Ok(true) {
                return Ok(Some(Fault::from(&candidate.fault)));
            }
        }
        Ok(None)
    }
}

fn reading(state: &ControlState) -> Clock {
    Clock {
        now: state.clock.now(),
        frozen: state.clock.is_frozen(),
    }
}
