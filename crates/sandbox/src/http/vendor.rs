//! The three operations of the spec: create, list and delete API keys.

use std::sync::Arc;

use alphamoon_client::{ApiKeyStatus, Scope, types};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};

use super::auth::{self, Caller};
use super::problem::Problem;
use super::response::{json, json_written, to_json};
use super::state::AppState;
use super::{request, vendor_request};
use crate::model::fields;
use crate::model::keys;
use crate::store::{Acting, StoredKey, Write};

/// `createApiKey`.
pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Problem> {
    let body = request::json_request(query.as_deref(), &headers, body)?;
    let request = vendor_request::create_request(&body, caller.now(), state.max_key_lifetime)?;

    let missing: Vec<&str> = request
        .scopes
        .iter()
        .filter(|wanted| !caller.key.scopes.contains(wanted))
        .map(Scope::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!(
                "A key cannot grant scopes it does not hold: `{}`.",
                missing.join("`, `")
            ),
        )
        .with_field("scopes"));
    }

    let secret = keys::new_secret()?;
    let mut key = StoredKey {
        id: keys::new_id()?,
        org_id: caller.key.org_id.clone(),
        name: request.name.to_string(),
        scopes: request.scopes,
        // The store stamps the time the write is made at.
        created_at: 0,
        exp: request.exp.timestamp(),
    };
    key.created_at = match state
        .store
        .insert_key_as(acting(&caller), &key, &keys::hash(&secret))
        .await?
    {
        Write::Done(created_at) => created_at,
        Write::CallerGone => return Err(auth::caller_gone()),
        Write::BornExpired => return Err(fields::exp_not_ahead().into()),
    };

    let now = key.created_at;
    let listed = listed(&key, now);
    let created = types::CreatedApiKey {
        created_at: listed.created_at,
        exp: listed.exp,
        id: listed.id,
        name: listed.name,
        org_id: listed.org_id,
        scopes: listed.scopes,
        status: listed.status,
        key: secret.into(),
    };
    Ok(json(StatusCode::CREATED, &created))
}

/// `listApiKeys`.
pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let (offset, limit) = vendor_request::page_params(query.as_deref())?;
    let now = caller.now().timestamp();
    let page = state
        .model
        .page(&caller.view, &caller.key.org_id, offset, limit)
        .await?;
    let Some(page) = page else {
        // The caller's organization is gone only if a reset came after
        // the key was read: its page is empty.
        return Ok(json(StatusCode::OK, &page_of(&[], 0, offset, limit, now)));
    };
    let body = page.written_at(now, |page| {
        to_json(&page_of(&page.keys, page.total, offset, limit, now))
    });
    Ok(json_written(StatusCode::OK, body))
}

/// `deleteApiKey`.
pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    key_id: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    request::no_parameters(query.as_deref())?;
    let key_id = vendor_request::key_id(key_id.as_deref().ok().map(String::as_str))?.to_string();
    let written = state
        .store
        .delete_key(acting(&caller), &caller.key.org_id, &key_id)
        .await?;
    let deleted = match written {
        Write::Done(deleted) => deleted,
        Write::CallerGone | Write::BornExpired => return Err(auth::caller_gone()),
    };
    if !deleted {
        return Err(Problem::new(
            StatusCode::NOT_FOUND,
            format!("No API key with id `{key_id}`."),
        ));
    }
    Ok(json(StatusCode::OK, &key_id))
}

/// The caller as the store checks it, by the clock in the write's own
/// transaction.
fn acting(caller: &Caller) -> Acting<'_> {
    Acting {
        key_id: &caller.key.id,
    }
}

fn timestamp(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// A page of keys as `listApiKeys` shows it, statuses at `now`: the
/// vendor list's, and the control plane's list of an organization's keys.
pub(super) fn page_of(
    keys: &[StoredKey],
    total: u64,
    offset: u64,
    limit: u64,
    now: i64,
) -> types::ApiKeyList {
    types::ApiKeyList {
        api_keys: keys.iter().map(|key| listed(key, now)).collect(),
        pagination: types::Pagination {
            offset,
            limit,
            total,
        },
    }
}

/// The listed form of a stored key, as the client crate's type.
fn listed(key: &StoredKey, now: i64) -> types::ApiKey {
    types::ApiKey {
        status: if key.expired_at(now) {
            ApiKeyStatus::Expired
        } else {
            ApiKeyStatus::Active
        },
        created_at: timestamp(key.created_at),
        exp: timestamp(key.exp),
        id: key.id.clone(),
        name: key.name.clone(),
        org_id: key.org_id.clone(),
        scopes: key.scopes.clone(),
    }
}
