//! What a store call resolves to, and how it fails.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A failure of the storage backend. Its text is logged, never sent to
/// clients.
#[derive(Clone, Debug)]
pub enum StoreError {
    /// The database cannot be reached or is busy: the same request may
    /// succeed later, and clients are told so (503 with `Retry-After`).
    Unavailable(String),
    /// A write would store a secret that another key already has (only a
    /// fixture can fix a secret in advance).
    SecretTaken,
    /// Anything else.
    Failed(String),
}

impl StoreError {
    /// A failure that retrying will not cure.
    pub fn failed(error: impl fmt::Display) -> Self {
        Self::Failed(error.to_string())
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable(message) => write!(f, "database unavailable: {message}"),
            Self::SecretTaken => f.write_str("a key with this secret is already stored"),
            Self::Failed(message) => write!(f, "storage error: {message}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// What a store call resolves to.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;
