//! The request journal: the requests the vendor API received, for tests to
//! assert on. It is a bounded ring kept in each process's memory; with
//! replicas, each keeps its own. It never holds a secret: no header, no
//! body, only the calling key's id. Entries are the control spec's
//! `RecordedRequest`, as the generated control client has it.
//!
//! Every entry is bounded, so that the ring's memory is too: text that a
//! caller chose (method, path, query) is kept up to a fixed length and
//! marked where it was cut. A test holds an entry's worst case to the
//! figure the README states.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::control_client::types::RecordedRequest;

/// The most of a method the journal keeps. The API serves four methods,
/// the longest of six letters; anything longer was refused.
pub(crate) const MAX_METHOD_BYTES: usize = 16;

/// The most of a path, or of a query, the journal keeps. The longest path
/// the API serves is a key's, 57 bytes (121 with every digit of the id
/// percent-encoded), and its longest page query is 37 bytes: a kilobyte
/// keeps anything a client of the API sends, whole, and enough of anything
/// else to tell what it was.
pub(crate) const MAX_TEXT_BYTES: usize = 1024;

/// What a cut leaves at the end of the text: how many bytes went.
const CUT_MARK: &str = "…[+";

/// `text`, or as much of it as fits in `max` bytes, ending on a character
/// boundary, followed by a mark that says how many bytes were cut.
pub(crate) fn bounded(mut text: String, max: usize) -> String {
    if text.len() <= max {
        return text;
    }
    let mut keep = max;
    while !text.is_char_boundary(keep) {
        keep -= 1;
    }
    let cut = text.len() - keep;
    text.truncate(keep);
    text.push_str(&format!("{CUT_MARK}{cut} bytes]"));
    text.shrink_to_fit();
    text
}

/// Which recorded requests to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalQuery {
    /// The most to return, newest first; `None` for all.
    pub limit: Option<usize>,
    /// Only those routed to this vendor operation.
    pub operation_id: Option<String>,
    /// Only those authenticated with this key.
    pub key_id: Option<String>,
}

/// The ring of recorded requests.
#[derive(Debug)]
pub(crate) struct Journal {
    capacity: usize,
    entries: Mutex<VecDeque<RecordedRequest>>,
}

impl Journal {
    /// A journal that keeps the latest `capacity` requests; 0 keeps none.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(VecDeque::with_capacity(capacity.min(1024))),
        }
    }

    /// Whether it records anything: with a capacity of 0, callers skip the
    /// work of making entries.
    pub(crate) fn is_on(&self) -> bool {
        self.capacity > 0
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, VecDeque<RecordedRequest>> {
        // Each push or pop leaves the ring whole, so a poisoned lock is
        // taken over.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a request, dropping the oldest when full.
    pub(crate) fn record(&self, entry: RecordedRequest) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries();
        if entries.len() == self.capacity {
            entries.pop_front();
        }
        entries.push_back(entry);
    }

    /// The requests that match `query`, newest first.
    pub(crate) fn list(&self, query: &JournalQuery) -> Vec<RecordedRequest> {
        self.entries()
            .iter()
            .rev()
            .filter(|e| {
                query
                    .operation_id
                    .as_deref()
                    .is_none_or(|op| e.operation_id.as_deref() == Some(op))
            })
            .filter(|e| {
                query
                    .key_id
                    .as_deref()
                    .is_none_or(|id| e.key_id.as_deref() == Some(id))
            })
            .take(query.limit.unwrap_or(usize::MAX))
            .cloned()
            .collect()
    }

    /// Forgets every request.
    pub(crate) fn clear(&self) {
        self.entries().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64, operation_id: Option<&str>, key_id: Option<&str>) -> RecordedRequest {
        RecordedRequest {
            at: chrono::DateTime::from_timestamp_millis(1_700_000_000_123).expect("in range"),
            method: "GET".to_owned(),
            path: "/api/v0.4/admin/api-keys".to_owned(),
            query: String::new(),
            operation_id: operation_id.map(str::to_owned),
            status: Some(200),
            duration_ms: n,
            key_id: key_id.map(str::to_owned),
            fault: None,
        }
    }

    fn durations(entries: &[RecordedRequest]) -> Vec<i64> {
        entries.iter().map(|e| e.duration_ms).collect()
    }

    #[test]
    fn keeps_the_latest_requests_newest_first() {
        let journal = Journal::new(3);
        for n in 1..=5 {
            journal.record(entry(n, None, None));
        }
        assert_eq!(
            durations(&journal.list(&JournalQuery::default())),
            [5, 4, 3]
        );
        let two = JournalQuery {
            limit: Some(2),
            ..JournalQuery::default()
        };
        assert_eq!(durations(&journal.list(&two)), [5, 4]);
        journal.clear();
        assert!(journal.list(&JournalQuery::default()).is_empty());
    }

    #[test]
    fn filters_by_operation_and_key() {
        let journal = Journal::new(10);
        journal.record(entry(1, Some("listApiKeys"), Some("a")));
        journal.record(entry(2, Some("createApiKey"), Some("a")));
        journal.record(entry(3, Some("listApiKeys"), Some("b")));
        journal.record(entry(4, None, None));
        let lists = JournalQuery {
            operation_id: Some("listApiKeys".to_owned()),
            ..JournalQuery::default()
        };
        assert_eq!(durations(&journal.list(&lists)), [3, 1]);
        let of_a = JournalQuery {
            key_id: Some("a".to_owned()),
            ..JournalQuery::default()
        };
        assert_eq!(durations(&journal.list(&of_a)), [2, 1]);
    }

    #[test]
    fn a_zero_size_journal_records_nothing() {
        let journal = Journal::new(0);
        journal.record(entry(1, None, None));
        assert!(!journal.is_on());
        assert!(journal.list(&JournalQuery::default()).is_empty());
    }

    #[test]
    fn long_text_is_cut_on_a_character_boundary_and_marked() {
        assert_eq!(bounded("GET".to_owned(), MAX_METHOD_BYTES), "GET");
        assert_eq!(bounded("x".repeat(16), 16), "x".repeat(16));
        assert_eq!(
            bounded("x".repeat(20), 16),
            format!("{}…[+4 bytes]", "x".repeat(16))
        );
        // `é` is two bytes: a cut never splits it.
        assert_eq!(bounded("aéé".to_owned(), 2), "a…[+4 bytes]");
    }

    /// The most memory one entry can hold, in bytes, as the README states
    /// it: the entry itself in the ring, and its text on the heap (the
    /// three bounded fields with their cut marks, the operation's name,
    /// and the ids of a key and a fault).
    const WORST_CASE_ENTRY_BYTES: usize = 2_600;

    /// The worst case: every bounded field at its longest, and cut, with
    /// every optional field filled.
    #[test]
    fn an_entry_never_holds_more_than_its_worst_case() {
        let cut = |max: usize| bounded("%".repeat(100_000), max);
        let worst = RecordedRequest {
            method: cut(MAX_METHOD_BYTES),
            path: cut(MAX_TEXT_BYTES),
            query: cut(MAX_TEXT_BYTES),
            operation_id: Some("createApiKey".to_owned()),
            key_id: Some("0".repeat(32)),
            fault: Some("0".repeat(32)),
            ..entry(i64::MAX, None, None)
        };
        let heap: usize = [&worst.method, &worst.path, &worst.query]
            .into_iter()
            .chain(
                [&worst.operation_id, &worst.key_id, &worst.fault]
                    .into_iter()
                    .flatten(),
            )
            .map(String::capacity)
            .sum();
        let bytes = std::mem::size_of::<RecordedRequest>() + heap;
        assert!(
            bytes <= WORST_CASE_ENTRY_BYTES,
            "{bytes} bytes, more than the stated {WORST_CASE_ENTRY_BYTES}"
        );
        // And the bound is not loose by much, so that the README's figure
        // means something.
        assert!(bytes * 10 >= WORST_CASE_ENTRY_BYTES * 9, "{bytes} bytes");
    }

    #[test]
    fn at_has_milliseconds() {
        let json = serde_json::to_value(entry(1, None, None)).expect("serialize");
        assert_eq!(json["at"], "2023-11-14T22:13:20.123Z");
        assert_eq!(json["operationId"], serde_json::Value::Null);
    }
}
