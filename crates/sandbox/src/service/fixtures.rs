//! Loading a fixtures document: the control plane's `loadFixtures`,
//! `--fixtures` and [`load_fixtures`] all come here.

use serde_json::Value;

use super::control_error::ControlError;
use super::orgs::now_in;
use crate::control_client::types::{self, LoadedFixtures};
use crate::model::fixtures::fixtures;
use crate::model::keys;
use crate::model::org::{new_key, new_org};
use crate::store::contract::{SeededOrg, Store};

/// Validates a fixtures document (the body of the control plane's
/// `loadFixtures`, or a `--fixtures` file read as JSON) as a whole, then
/// stores it in one transaction; each organization also gets an admin key
/// holding every scope. Keys are made at the sandbox clock's now. With
/// `only_into_empty`, it is stored only into a store that holds no
/// organization yet (`None` if it did). Returns every organization's id
/// and admin key, and every key's id and secret.
pub async fn load_fixtures(
    store: &dyn Store,
    document: &Value,
    only_into_empty: bool,
) -> Result<Option<LoadedFixtures>, ControlError> {
    let orgs = fixtures(document)?;
    let now = now_in(store).await?;
    let mut seeded = Vec::with_capacity(orgs.len());
    let mut loaded = Vec::with_capacity(orgs.len());
    for fixture in orgs {
        let (org, admin) = new_org(&fixture.name, now)?;
        let admin_key = keys::new_secret()?;
        let mut rows = vec![(admin, keys::hash(&admin_key))];
        let mut listed = Vec::with_capacity(fixture.keys.len());
        for key in fixture.keys {
            let secret = match key.secret {
                Some(secret) => secret,
                None => keys::new_secret()?,
            };
            let stored = new_key(&org.id, &key.name, &key.scopes, now, key.exp.timestamp())?;
            listed.push(types::LoadedKey {
                id: stored.id.clone(),
                name: stored.name.clone(),
                key: types::ApiKeySecret(secret.clone()),
            });
            rows.push((stored, keys::hash(&secret)));
        }
        loaded.push(types::LoadedOrg {
            org_id: org.id.clone(),
            name: org.name.clone(),
            admin_key: types::ApiKeySecret(admin_key),
            keys: listed,
        });
        seeded.push(SeededOrg { org, keys: rows });
    }
    let stored = store.add_orgs(&seeded, only_into_empty).await?;
    Ok(stored.then_some(LoadedFixtures { orgs: loaded }))
}
