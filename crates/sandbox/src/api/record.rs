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

use super::Operation;
use crate::control::{Controls, injected};
use crate::control_client::types::{Fault, RecordedRequest};

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

/// `text` with each key-shaped run replaced by `[redacted]`: a careless
/// caller may put its secret in the path where an id belongs, or in the
/// query, and the journal must not keep it. Runs are found both in the raw
/// text and in the text as a server percent-decodes it, so `%61mk%5F…` is
/// cut as surely as `amk_…`, and so is `%5amk_…`, whose escape hides the
/// raw `a`. A run ends at the first character a secret cannot hold;
/// overlapping runs (`amk_amk_…`) are cut as one.
fn redact(text: &str) -> String {
    let prefix = crate::keys::SECRET_PREFIX;
    // Every request passes here; most have nothing that could decode to
    // a secret.
    if !text.contains('%') && !text.contains(prefix) {
        return text.to_owned();
    }
    let raw: Vec<DecodedUnit> = (0..text.len())
        .map(|at| DecodedUnit {
            start: at,
            end: at + 1,
            byte: text.as_bytes()[at],
        })
        .collect();
    let mut runs = key_runs(&raw, prefix.as_bytes());
    runs.extend(key_runs(&decoded_units(text.as_bytes()), prefix.as_bytes()));
    runs.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(runs.len());
    for (start, end) in runs {
        match merged.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => merged.push((start, end)),
        }
    }
    // Every run starts and ends on an ASCII byte, so on a char boundary.
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end) in merged {
        out.push_str(&text[copied..start]);
        out.push_str("[redacted]");
        copied = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// The spans of `text` (as `units` of it) that hold `prefix` and the
/// alphanumeric run after it, one for each place `prefix` starts.
fn key_runs(units: &[DecodedUnit], prefix: &[u8]) -> Vec<(usize, usize)> {
    (0..units.len())
        .filter(|&at| {
            let bytes = units[at..].iter().map(|unit| unit.byte);
            bytes.take(prefix.len()).eq(prefix.iter().copied())
        })
        .map(|at| {
            let body = units[at + prefix.len()..]
                .iter()
                .take_while(|unit| unit.byte.is_ascii_alphanumeric())
                .count();
            (units[at].start, units[at + prefix.len() + body - 1].end)
        })
        .collect()
}

/// One byte of a URI component, with the span of the text it came from:
/// a literal byte, or a `%XX` escape as a server decodes it.
#[derive(Debug)]
struct DecodedUnit {
    start: usize,
    end: usize,
    byte: u8,
}

fn decoded_units(text: &[u8]) -> Vec<DecodedUnit> {
    let mut units = Vec::with_capacity(text.len());
    let mut at = 0;
    while at < text.len() {
        let escape = match text.get(at..at + 3) {
            Some(&[b'%', high, low]) => hex_digit(high).zip(hex_digit(low)),
            _ => None,
        };
        let (byte, len) = match escape {
            Some((high, low)) => (high * 16 + low, 3),
            None => (text[at], 1),
        };
        units.push(DecodedUnit {
            start: at,
            end: at + len,
            byte,
        });
        at += len;
    }
    units
}

fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// The middleware: journals vendor API requests (not the control plane's
/// own) and applies a fault's aftermath.
pub(crate) async fn record(
    State(controls): State<Controls>,
    mut request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/_sandbox/") {
        return next.run(request).await;
    }
    let note = RequestNote::default();
    request.extensions_mut().insert(note.clone());
    let mut in_flight = controls.journal().is_on().then(|| InFlight {
        at: controls.now_as_seen(),
        controls: controls.clone(),
        note: note.clone(),
        arrived: Instant::now(),
        method: request.method().to_string(),
        path: redact(request.uri().path()),
        query: redact(request.uri().query().unwrap_or_default()),
        status: None,
    });
    let response = next.run(request).await;
    let aftermath = note.with(|n| n.aftermath.take());
    let response = match aftermath {
        None => response,
        Some(Aftermath::Respond(fault, status)) => injected(&fault, status).into_response(),
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

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn key_shaped_text_is_cut_from_paths_and_queries() {
        let key = crate::keys::from_seed("journal");
        assert_eq!(
            redact(&format!("/api/v0.4/admin/api-keys/{key}")),
            "/api/v0.4/admin/api-keys/[redacted]"
        );
        assert_eq!(
            redact(&format!("limit=5&key={key}&x=amk%5Fabc%2B1&y=1")),
            "limit=5&key=[redacted]&x=[redacted]%2B1&y=1"
        );
        let body = &key[crate::keys::SECRET_PREFIX.len()..];
        for encoded in [
            format!("%61mk_{body}"),
            format!("am%6B%5f{body}"),
            format!("%61%6D%6B%5F{}", percent_encode_all(body)),
        ] {
            assert_eq!(redact(&format!("k={encoded}&y=1")), "k=[redacted]&y=1");
        }
        // An escape that swallows the raw `a` does not hide the raw key,
        // and a doubled prefix does not leave the body behind.
        for (sloppy, kept) in [
            (format!("%5{key}"), "%5"),
            (format!("%a{key}"), "%a"),
            (format!("amk_{key}"), ""),
            (format!("amk%5f{key}"), ""),
            (format!("amk_xyz{key}"), ""),
        ] {
            assert_eq!(
                redact(&format!("k={sloppy}&y=1")),
                format!("k={kept}[redacted]&y=1"),
            );
        }
        assert_eq!(redact("offset=0&limit=100"), "offset=0&limit=100");
        assert_eq!(redact("amk_"), "[redacted]");
        assert_eq!(redact("%zz%4%"), "%zz%4%");
        assert_eq!(redact("é/amk_x/é"), "é/[redacted]/é");
    }

    fn percent_encode_all(text: &str) -> String {
        text.bytes().map(|b| format!("%{b:02X}")).collect()
    }
}
