//! A refusal: what the rules say when input breaks one. The HTTP layer
//! turns it into a problem answer; in process it reaches the caller as it
//! is, with the field it names.

use std::fmt;

/// Why a refusal was made, which decides how it is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// The input breaks a rule of the spec or of the sandbox (HTTP 400).
    Invalid,
    /// The input is well-formed, but the state it would change refuses it
    /// (HTTP 409).
    Conflict,
}

/// Input the rules refuse, with the field at fault where there is one.
/// Its text is safe to show: it never holds a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    kind: RefusalKind,
    detail: String,
    field: Option<String>,
}

impl Refusal {
    /// Input that breaks a rule, naming the offending field or parameter.
    pub fn invalid(field: &str, detail: impl Into<String>) -> Self {
        Self::invalid_as_a_whole(detail).with_field(field)
    }

    /// Input that breaks a rule as a whole (not JSON, say).
    pub fn invalid_as_a_whole(detail: impl Into<String>) -> Self {
        Self {
            kind: RefusalKind::Invalid,
            detail: detail.into(),
            field: None,
        }
    }

    /// Well-formed input that the state refuses.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self {
            kind: RefusalKind::Conflict,
            detail: detail.into(),
            field: None,
        }
    }

    /// The same refusal, naming `field`.
    pub fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_owned());
        self
    }

    /// The same refusal about a part of a larger document: its field
    /// becomes `{prefix}.{field}` (or `prefix`), and the detail says where.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = Some(match self.field.take() {
            Some(field) => format!("{prefix}.{field}"),
            None => prefix.to_owned(),
        });
        self.detail = format!("{prefix}: {}", self.detail);
        self
    }

    /// Why it was refused.
    pub fn kind(&self) -> RefusalKind {
        self.kind
    }

    /// What is wrong, in words.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The field or parameter at fault, where there is one.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for Refusal {}
