//! The layer that journals each vendor API request and carries out what a
//! fault decided should follow the operation: a changed answer, or none.
//! The `Caller` extractor fills in the request's [`RequestNote`] as it
//! learns who is calling and which fault hit; this layer reads it when the
//! answer is ready, or when the request is abandoned.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::problem::Problem;
use crate::control_client::types::{Fault, RecordedRequest};
use crate::model::operation::Operation;
use crate::service::controls::Controls;
use crate::service::journal::{MAX_METHOD_BYTES, MAX_TEXT_BYTES, bounded};
use crate::service::redact::redact;

/// A response extension that tells the server to close the connection
/// without answering: the `drop` and `commitThenFail` faults. The server
/// never sends a response that carries it; a layer that wraps the router
/// should pass such a response through untouched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DroppedConnection;

/// What follows the operation of a request hit by a fault.
#[derive(Clone, Debug)]
pub(crate) enum Aftermath {
    /// Answer the fault's status instead.
    Respond(Fault, i32),
    /// Close the connection without an answer.
    Drop,
}

#[derive(Debug, Default)]
struct Noted {
    operation: Option<Operation>,
    at: Option<DateTime<Utc>>,
    key_id: Option<String>,
    fault: Option<String>,
    aftermath: Option<Aftermath>,
}

/// What the handlers learn about a request, shared with this layer through
/// the request's extensions.
#[derive(Clone, Debug, Default)]
pub(crate) struct RequestNote(Arc<Mutex<Noted>>);

impl RequestNote {
    fn with<T>(&self, f: impl FnOnce(&mut Noted) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub(crate) fn operation(&self, operation: Operation) {
        self.with(|n| n.operation = Some(operation));
    }

    /// The request's time on the sandbox clock, as read with its key.
    pub(crate) fn at(&self, at: DateTime<Utc>) {
        self.with(|n| n.at = Some(at));
    }

    pub(crate) fn key_id(&self, id: &str) {
        self.with(|n| n.key_id = Some(id.to_owned()));
    }

    pub(crate) fn fault(&self, fault: &Fault, aftermath: Option<Aftermath>) {
        self.with(|n| {
            n.fault = Some(fault.id.clone());
            n.aftermath = aftermath;
        });
    }
}

/// A request on its way: recorded when it is answered, or, if its future
/// is dropped first (the client went away, the server stopped), recorded
/// then, without a status.
struct InFlight {
    controls: Controls,
    note: RequestNote,
    arrived: Instant,
    at: DateTime<Utc>,
    method: String,
    path: String,
    query: String,
    status: Option<i32>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let noted = std::mem::take(&mut *self.note.0.lock().unwrap_or_else(|p| p.into_inner()));
        self.controls.journal().record(RecordedRequest {
            at: noted.at.unwrap_or(self.at),
            method: std::mem::take(&mut self.method),
            path: std::mem::take(&mut self.path),
            query: std::mem::take(&mut self.query),
            operation_id: noted.operation.map(|op| op.id().to_owned()),
            status: self.status,
            duration_ms: i64::try_from(self.arrived.elapsed().as_millis()).unwrap_or(i64::MAX),
            key_id: noted.key_id,
            fault: noted.fault,
        });
    }
}

/// The middleware: journals vendor API requests (not the control plane's
/// own, nor the pages') and applies a fault's aftermath.
pub(crate) async fn record(
    State(controls): State<Controls>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path.starts_with("/_sandbox/") || super::pages::is_page(path) {
        return next.run(request).await;
    }
    let note = RequestNote::default();
    request.extensions_mut().insert(note.clone());
    let mut in_flight = controls.journal().is_on().then(|| InFlight {
        at: controls.now_as_seen(),
        controls: controls.clone(),
        note: note.clone(),
        arrived: Instant::now(),
        // Redacted before they are cut, so that a cut cannot leave a piece
        // of a secret too short to be recognised.
        method: bounded(redact(request.method().as_str()), MAX_METHOD_BYTES),
        path: bounded(redact(request.uri().path()), MAX_TEXT_BYTES),
        query: bounded(
            redact(request.uri().query().unwrap_or_default()),
            MAX_TEXT_BYTES,
        ),
        status: None,
    });
    let response = next.run(request).await;
    let aftermath = note.with(|n| n.aftermath.take());
    let response = match aftermath {
        None => response,
        Some(Aftermath::Respond(fault, status)) => {
            Problem::injected(&fault, status).into_response()
        }
        Some(Aftermath::Drop) => {
            let mut dropped = Response::default();
            dropped.extensions_mut().insert(DroppedConnection);
            dropped
        }
    };
    if let Some(in_flight) = &mut in_flight
        && response.extensions().get::<DroppedConnection>().is_none()
    {
        in_flight.status = Some(i32::from(response.status().as_u16()));
    }
    response
}
