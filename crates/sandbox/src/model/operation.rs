//! The operations of the vendor API, by their operationIds.

/// The vendor spec's operations. Their operationIds name them in the
/// journal and in faults; a test holds them, with the routes that serve
/// them (`crate::http::app`), against the spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Operation {
    /// `createApiKey`.
    CreateApiKey,
    /// `listApiKeys`.
    ListApiKeys,
    /// `deleteApiKey`.
    DeleteApiKey,
}

impl Operation {
    /// Every operation.
    pub(crate) const ALL: [Self; 3] = [Self::CreateApiKey, Self::ListApiKeys, Self::DeleteApiKey];

    /// Its operationId in the vendor spec.
    pub(crate) fn id(self) -> &'static str {
        match self {
            Self::CreateApiKey => "createApiKey",
            Self::ListApiKeys => "listApiKeys",
            Self::DeleteApiKey => "deleteApiKey",
        }
    }

    /// The operation with this operationId.
    pub(crate) fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.id() == id)
    }
}
