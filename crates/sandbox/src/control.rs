//! The control plane's operations, for test suites that reset, seed,
//! observe and disturb a running sandbox. [`Controls`] holds them once:
//! the HTTP control API (`api::control`) and [`crate::Sandbox`]'s methods
//! both call them, so that in-process tests and other languages get the
//! same behaviour. What they take and answer are the control spec's types,
//! as the generated control client has them.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

use crate::api::{Operation, Problem};
use crate::clock::{ClockMove, ClockRefusal, ClockSetting};
use crate::control_client::types::{
    Clock, Fault, FaultAction, FaultRequest, LoadedFixtures, RecordedRequest,
};
use crate::control_state::{ControlCommand, ControlRefusal, MAX_FAULTS};
use crate::journal::{Journal, JournalQuery};
use crate::keys;
use crate::store::{ControlState, Org, Store, StoreError};

/// A control operation that was refused: bad input, or a store failure.
/// Its text is safe to show; it never holds a secret.
#[derive(Debug)]
pub struct ControlError(pub(crate) Problem);

impl ControlError {
    /// The HTTP status the control API answers it with.
    pub fn status(&self) -> u16 {
        self.0.status().as_u16()
    }

    /// The request field at fault, where there is one.
    pub fn field(&self) -> Option<&str> {
        self.0.field()
    }
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.detail())
    }
}

impl std::error::Error for ControlError {}

impl From<Problem> for ControlError {
    fn from(problem: Problem) -> Self {
        Self(problem)
    }
}

impl From<StoreError> for ControlError {
    fn from(error: StoreError) -> Self {
        Self(error.into())
    }
}

/// The furthest one `advanceBySeconds` moves the clock: 100 years, as the
/// control spec states.
const MAX_ADVANCE_SECONDS: i64 = 3_153_600_000;

/// The longest injected delay.
const MAX_DELAY_MS: i32 = 300_000;

/// The longest injected `Retry-After`.
const MAX_RETRY_AFTER: i32 = 86_400;

/// The fault `request` asks for, with the id `id`, or why it is refused:
/// the limits and rules the control spec's `FaultRequest` states.
fn fault_from(request: FaultRequest, id: String) -> Result<Fault, Problem> {
    if request.status.is_some_and(|s| !(400..=599).contains(&s)) {
        return Err(Problem::bad_request(
            "status",
            "`status` must be between 400 and 599: the answer is a problem.",
        ));
    }
    if request
        .retry_after
        .is_some_and(|s| !(0..=MAX_RETRY_AFTER).contains(&s))
    {
        return Err(Problem::bad_request(
            "retryAfter",
            format!("`retryAfter` must be from 0 to {MAX_RETRY_AFTER} seconds."),
        ));
    }
    if request.retry_after.is_some() && request.status.is_none() {
        return Err(Problem::bad_request(
            "retryAfter",
            "`retryAfter` needs a `status` to be sent with.",
        ));
    }
    if !(0..=MAX_DELAY_MS).contains(&request.delay_ms) {
        return Err(Problem::bad_request(
            "delayMs",
            format!("`delayMs` must be from 0 to {MAX_DELAY_MS}."),
        ));
    }
    let times = request
        .times
        .map(|times| i32::try_from(times.get()))
        .transpose()
        .map_err(|_| {
            Problem::bad_request("times", format!("`times` must be from 1 to {}.", i32::MAX))
        })?;
    if !(0.0..=1.0).contains(&request.probability) {
        return Err(Problem::bad_request(
            "probability",
            "`probability` must be between 0 and 1.",
        ));
    }
    let action = request.action.unwrap_or(FaultAction::Respond);
    if action == FaultAction::Drop && request.status.is_some() {
        return Err(Problem::bad_request(
            "status",
            "A `drop` closes the connection and answers no `status`.",
        ));
    }
    if action == FaultAction::Respond && request.status.is_none() && request.delay_ms == 0 {
        return Err(Problem::bad_request(
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
        crate::create_org(self.store.as_ref(), name).await
    }

    /// `loadFixtures`: stores the organizations and keys of a fixtures
    /// document (the shape of the control API's `Fixtures`), all or none,
    /// and returns what was made, secrets included.
    pub async fn load_fixtures(&self, document: &Value) -> Result<LoadedFixtures, ControlError> {
        Ok(
            crate::fixtures::load_fixtures(self.store.as_ref(), document, false)
                .await?
                .ok_or_else(|| Problem::internal(&"fixtures for any store were not stored"))?,
        )
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
        let fault = fault_from(request, keys::random_hex(16).map_err(Problem::from)?)?;
        let (added, _) = self
            .store
            .update_control(ControlCommand::AddFault(fault.clone().into()))
            .await?;
        added.map_err(refusal)?;
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
        cleared.map_err(refusal)?;
        Ok(())
    }

    /// `deleteFault`: `false` if no active fault has this id.
    pub async fn delete_fault(&self, id: &str) -> Result<bool, ControlError> {
        let (deleted, _) = self
            .store
            .update_control(ControlCommand::DeleteFault(id.to_owned()))
            .await?;
        deleted.map_err(refusal)
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
        if let ClockMove::AdvanceBySeconds(seconds) = to
            && !(1..=MAX_ADVANCE_SECONDS).contains(&seconds)
        {
            return Err(Problem::bad_request(
                "advanceBySeconds",
                format!(
                    "`advanceBySeconds` must be from 1 (the clock never moves back) to \
                     {MAX_ADVANCE_SECONDS} (100 years)."
                ),
            )
            .into());
        }
        // Refused or not under the store's lock, against the clock as it
        // is then.
        let (moved, state) = self
            .store
            .update_control(ControlCommand::MoveClock(to))
            .await?;
        self.saw_clock(state.clock);
        moved.map_err(|refused| {
            let field = match to {
                ClockMove::FreezeAt(_) => "frozenAt",
                ClockMove::AdvanceBySeconds(_) => "advanceBySeconds",
                ClockMove::Resume => "resume",
            };
            refusal(refused).0.with_field(field)
        })?;
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
            if !crate::faults::draw(candidate.fault.probability) {
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

/// The answer to a command the control state refused: the request was
/// well-formed, and it is the state that refuses it, hence 409.
fn refusal(refused: ControlRefusal) -> ControlError {
    let detail = match refused {
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
    };
    ControlError(Problem::new(StatusCode::CONFLICT, detail))
}

fn reading(state: &ControlState) -> Clock {
    Clock {
        now: state.clock.now(),
        frozen: state.clock.is_frozen(),
    }
}

/// The problem a request hit by a `respond` fault is answered with.
pub(crate) fn injected(fault: &Fault, status: i32) -> Problem {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let problem = Problem::new(
        status,
        format!("Injected by the sandbox fault `{}`.", fault.id),
    );
    match fault.retry_after {
        Some(seconds) => problem.with_retry_after(u64::try_from(seconds).unwrap_or(0)),
        None => problem,
    }
}
