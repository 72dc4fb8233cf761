//! Why a control operation failed, as a type the HTTP layer maps to a
//! status and that in-process callers can match on.

use std::fmt;

use crate::model::org::Unmade;
use crate::model::refusal::Refusal;
use crate::store::error::StoreError;

/// A control operation that failed: refused input, or a store that failed.
/// Its text never holds a secret.
#[derive(Debug)]
pub enum ControlError {
    /// The input breaks a rule, or the state refuses it; it names the field
    /// at fault where there is one.
    Refused(Refusal),
    /// The store failed (or, with [`StoreError::SecretTaken`], already
    /// holds a secret the input fixes).
    Store(StoreError),
    /// The system's random source failed, so no id or secret could be
    /// drawn.
    NoRandomness(getrandom::Error),
}

impl ControlError {
    /// The request field at fault, where there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Refused(refusal) => refusal.field(),
            Self::Store(_) | Self::NoRandomness(_) => None,
        }
    }
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(refusal) => refusal.fmt(f),
            Self::Store(error) => error.fmt(f),
            Self::NoRandomness(error) => write!(f, "no random id could be drawn: {error}"),
        }
    }
}

impl std::error::Error for ControlError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Refused(refusal) => Some(refusal),
            Self::Store(error) => Some(error),
            Self::NoRandomness(_) => None,
        }
    }
}

impl From<Refusal> for ControlError {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<StoreError> for ControlError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<getrandom::Error> for ControlError {
    fn from(error: getrandom::Error) -> Self {
        Self::NoRandomness(error)
    }
}

impl From<Unmade> for ControlError {
    fn from(unmade: Unmade) -> Self {
        match unmade {
            Unmade::Refused(refusal) => Self::Refused(refusal),
            Unmade::NoRandomness(error) => Self::NoRandomness(error),
        }
    }
}
