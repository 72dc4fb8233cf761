//! Making organizations and keys outside a request: the control plane,
//! `Sandbox`'s methods and the binary's `org` command all come here, so
//! that every one of them meets the model's rules.

use alphamoon_client::Scope;
use chrono::{DateTime, Utc};

use super::control_error::ControlError;
use crate::model::keys;
use crate::model::org::{Org, StoredKey, admin_key_exp, new_key, new_org};
use crate::store::contract::{SeededOrg, Store};
use crate::store::error::StoreError;

/// The sandbox's now, by the clock the processes on `store` share: what
/// the server stamps on keys it makes outside a request (organizations,
/// fixtures, filler keys).
pub(crate) async fn now_in(store: &dyn Store) -> Result<DateTime<Utc>, StoreError> {
    Ok(store.control_state().await?.clock.now())
}

/// Creates an organization and its first admin key, which holds every
/// scope. Returns the organization and the key's secret, which exists
/// nowhere else. The name has the limits of a key's name (1 to 255
/// characters, none of them control characters).
pub async fn create_org(store: &dyn Store, name: &str) -> Result<(Org, String), ControlError> {
    let secret = keys::new_secret()?;
    let now = now_in(store).await?;
    let (org, admin) = new_org(name, now)?;
    store
        .add_orgs(&[seeded(&org, admin, &secret)], false)
        .await?;
    Ok((org, secret))
}

/// Creates an organization whose first admin key, holding every scope, is
/// `secret`, if the store holds no organization yet: the bootstrap of a
/// fresh database, which several processes may try at once. `None` if the
/// store already had one (and `secret` was not stored).
pub async fn create_first_org(
    store: &dyn Store,
    name: &str,
    secret: &str,
) -> Result<Option<Org>, ControlError> {
    let now = now_in(store).await?;
    let (org, admin) = new_org(name, now)?;
    let created = store.add_orgs(&[seeded(&org, admin, secret)], true).await?;
    Ok(created.then_some(org))
}

/// `org` with `admin` as its only key, whose secret is `secret`.
fn seeded(org: &Org, admin: StoredKey, secret: &str) -> SeededOrg {
    SeededOrg {
        org: org.clone(),
        keys: vec![(admin, keys::hash(secret))],
    }
}

/// Stores a new key for `org_id` directly, bypassing the API's checks (an
/// `exp` in the past makes an expired key; one after the year 9999 is
/// refused). Returns it with its secret.
pub async fn issue_key(
    store: &dyn Store,
    org_id: &str,
    name: &str,
    scopes: &[Scope],
    exp: i64,
) -> Result<(StoredKey, String), ControlError> {
    let secret = keys::new_secret()?;
    let now = now_in(store).await?;
    let key = new_key(org_id, name, scopes, now, exp)?;
    store.insert_key(&key, &keys::hash(&secret)).await?;
    Ok((key, secret))
}

/// Adds `count` filler keys to `org_id` in bulk, for load tests and large
/// demo stores. Their secrets are never made (each stores a random hash),
/// so they can be listed and deleted but never authenticate.
pub async fn seed_keys(store: &dyn Store, org_id: &str, count: usize) -> Result<(), ControlError> {
    const BATCH: usize = 10_000;
    let now = now_in(store).await?;
    let exp = admin_key_exp(now);
    let mut done = 0;
    while done < count {
        let batch = BATCH.min(count - done);
        let mut rows = Vec::with_capacity(batch);
        for i in 0..batch {
            let mut hash = [0u8; 32];
            getrandom::fill(&mut hash)?;
            let name = format!("seeded key {}", done + i + 1);
            // The same rules as every key the server makes.
            let key = new_key(org_id, &name, &[Scope::WorkspaceFileUpload], now, exp)?;
            rows.push((key, hash));
        }
        store.bulk_insert(&rows).await?;
        done += batch;
    }
    Ok(())
}
