//! Loading a fixtures document: the control plane's `loadFixtures`,
//! `--fixtures` and [`crate::load_fixtures`] all come here.

use serde_json::Value;

use crate::api::{Problem, validate};
use crate::control_client::types::{self, LoadedFixtures};
use crate::keys;
use crate::store::{SeededOrg, Store};

/// Validates a fixtures document as a whole, then stores it in one
/// transaction; each organization also gets an admin key holding every
/// scope. Keys are made at the sandbox clock's now.
pub(crate) async fn load_fixtures(
    store: &dyn Store,
    document: &Value,
    only_into_empty: bool,
) -> Result<Option<LoadedFixtures>, Problem> {
    let orgs = validate::fixtures(document)?;
    let now = crate::clock::now_in(store).await?;
    let mut seeded = Vec::with_capacity(orgs.len());
    let mut loaded = Vec::with_capacity(orgs.len());
    for fixture in orgs {
        let (org, admin) = crate::new_org(&fixture.name, now)?;
        let admin_key = keys::new_secret()?;
        let mut rows = vec![(admin, keys::hash(&admin_key))];
        let mut listed = Vec::with_capacity(fixture.keys.len());
        for key in fixture.keys {
            let secret = match key.secret {
                Some(secret) => secret,
                None => keys::new_secret()?,
            };
            let stored = crate::new_key(&org.id, &key.name, &key.scopes, now, key.exp.timestamp())?;
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
