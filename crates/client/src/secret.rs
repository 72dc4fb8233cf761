//! The one-time secret of a created key.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The secret API key, returned once by create.
///
/// `Debug` prints `ApiKeySecret(<redacted>)`, so logging a created key or an
/// error that holds one never leaks it. Reading it takes an explicit call to
/// [`expose_secret`](Self::expose_secret). Serializing writes it out in
/// full: the JSON form of a created key carries its secret, as the API's
/// does.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    /// The secret itself, to store or hand to [`crate::Client::from_api_key`].
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(<redacted>)")
    }
}

impl From<String> for ApiKeySecret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl schemars::JsonSchema for ApiKeySecret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ApiKeySecret".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}
