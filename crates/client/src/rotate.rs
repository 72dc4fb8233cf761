//! Replacing a key with a fresh one of the same name and scopes.

use std::fmt;

use futures_util::TryStreamExt as _;

use crate::{Client, Error, types};

/// The outcome of a completed [`Client::rotate_api_key`].
#[derive(Debug)]
pub struct Rotation {
    /// The new key, with its one-time secret.
    pub created: types::CreatedApiKey,
    /// The id of the key that was replaced and is now deleted.
    pub deleted: types::ApiKeyId,
}

/// Why a rotation stopped, and what state it left behind.
#[derive(Debug)]
#[non_exhaustive]
pub enum RotateError {
    /// The id is not one the API could be sent (32 lowercase hex digits);
    /// nothing was sent.
    InvalidId(String),
    /// The old key could not be looked up; nothing changed.
    Lookup(Error),
    /// No key with this id exists in the organization; nothing changed.
    NotFound(types::ApiKeyId),
    /// Creating the new key failed; nothing changed, the old key remains.
    Create(Error),
    /// The new key exists, but the old one could not be deleted and still
    /// works. The new key's secret is here and nowhere else.
    Delete {
        /// The new key, with its one-time secret.
        created: Box<types::CreatedApiKey>,
        /// The key that should have been deleted.
        old: types::ApiKeyId,
        /// Why the delete failed.
        error: Error,
    },
}

impl fmt::Display for RotateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidId(id) => {
                write!(f, "`{id}` is not a key id (32 lowercase hex digits)")
            }
            Self::Lookup(e) => write!(f, "cannot look up the key to rotate: {e}"),
            Self::NotFound(id) => write!(f, "no API key with id `{}`", id.as_str()),
            Self::Create(e) => write!(f, "cannot create the new key, old key unchanged: {e}"),
            Self::Delete {
                created,
                old,
                error,
            } => write!(
                f,
                "created key {} but could not delete the old key {}, which still exists: {error}",
                created.id.as_str(),
                old.as_str()
            ),
        }
    }
}

impl std::error::Error for RotateError {}

impl Client {
    /// Replaces key `id` with a new key of the same name and scopes that
    /// expires at `exp`, then deletes the old key.
    ///
    /// The old key is deleted only once the new one exists, so a failed
    /// create changes nothing; a failed delete leaves both keys and hands
    /// back the new one in [`RotateError::Delete`].
    ///
    /// `id` is taken as a listed or created key carries it, a plain
    /// string (`&key.id`), or as a [`types::ApiKeyId`] (`&id`). It is
    /// checked first: an id the delete could not send is refused with
    /// [`RotateError::InvalidId`] before anything is created.
    pub async fn rotate_api_key(
        &self,
        id: &str,
        exp: chrono::DateTime<chrono::Utc>,
    ) -> Result<Rotation, RotateError> {
        let id: types::ApiKeyId = id
            .parse()
            .map_err(|_| RotateError::InvalidId(id.to_owned()))?;
        let id = &id;
        let matching = self
            .list_all_api_keys(100)
            .try_filter(|key| std::future::ready(key.id == id.as_str()));
        let old = std::pin::pin!(matching)
            .try_next()
            .await
            .map_err(RotateError::Lookup)?
            .ok_or_else(|| RotateError::NotFound(id.clone()))?;
        let created = self
            .create_api_key()
            .body(
                types::CreateApiKeyRequest::builder()
                    .name(old.name)
                    .exp(exp)
                    .scopes(old.scopes),
            )
            .send()
            .await
            .map_err(|e| RotateError::Create(e.into()))?
            .into_inner();
        match self.delete_api_key().api_key_id(id.clone()).send().await {
            Ok(_) => Ok(Rotation {
                created,
                deleted: id.clone(),
            }),
            Err(error) => Err(RotateError::Delete {
                created: Box::new(created),
                old: id.clone(),
                error: error.into(),
            }),
        }
    }
}
