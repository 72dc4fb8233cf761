//! A fixtures document, read and checked as a whole before anything is
//! stored: the organizations and keys a test suite starts from.

use std::collections::HashSet;

use alphamoon_client::{Scope, types};
use chrono::{DateTime, SubsecRound as _, Utc};
use serde_json::Value;

use super::fields::{date_time, name, object_fields, scope_list};
use super::keys;
use super::refusal::Refusal;

/// The largest fixtures document the sandbox reads, in bytes, from a file
/// or as the body of `loadFixtures`: room for thousands of keys, loaded in
/// one transaction.
pub const MAX_FIXTURES_BYTES: usize = 1024 * 1024;

/// One organization of a fixtures document, validated.
#[derive(Debug)]
pub(crate) struct FixtureOrg {
    pub(crate) name: types::ApiKeyName,
    pub(crate) keys: Vec<FixtureKey>,
}

/// One key of a fixtures document, validated.
#[derive(Debug)]
pub(crate) struct FixtureKey {
    pub(crate) name: types::ApiKeyName,
    pub(crate) scopes: Vec<Scope>,
    pub(crate) exp: DateTime<Utc>,
    /// A secret the document fixes, well-formed; `None` to make one.
    pub(crate) secret: Option<String>,
}

/// Validates a fixtures document, `{"orgs":[{"name","keys":[{"name",
/// "scopes","exp","secret"?}]}]}`, as a whole before anything is stored.
/// It is the server seeding itself, so an `exp` in the past (an expired
/// key) is allowed; a secret must be well-formed and is used once.
pub(crate) fn fixtures(document: &Value) -> Result<Vec<FixtureOrg>, Refusal> {
    let fields = object_fields(document, &["orgs"])?;
    let Some(Value::Array(orgs)) = fields.get("orgs") else {
        return Err(Refusal::invalid("orgs", "`orgs` must be an array."));
    };
    let mut secrets = HashSet::new();
    orgs.iter()
        .enumerate()
        .map(|(i, org)| {
            let at = format!("orgs[{i}]");
            let fields = object_fields(org, &["name", "keys"]).map_err(|p| p.within(&at))?;
            let name =
                name(fields.get("name").unwrap_or(&Value::Null)).map_err(|p| p.within(&at))?;
            let keys = match fields.get("keys") {
                None => {
                    return Err(Refusal::invalid("keys", "`keys` is required.").within(&at));
                }
                Some(Value::Array(keys)) => keys
                    .iter()
                    .enumerate()
                    .map(|(j, key)| {
                        let at = format!("{at}.keys[{j}]");
                        let key = fixture_key(key).map_err(|p| p.within(&at))?;
                        if let Some(secret) = &key.secret
                            && !secrets.insert(secret.clone())
                        {
                            return Err(Refusal::invalid("secret", "This secret is given twice.")
                                .within(&at));
                        }
                        Ok(key)
                    })
                    .collect::<Result<_, Refusal>>()?,
                Some(_) => {
                    return Err(Refusal::invalid("keys", "`keys` must be an array.").within(&at));
                }
            };
            Ok(FixtureOrg { name, keys })
        })
        .collect()
}

fn fixture_key(key: &Value) -> Result<FixtureKey, Refusal> {
    let fields = object_fields(key, &["name", "scopes", "exp", "secret"])?;
    let field = |name: &str| {
        fields
            .get(name)
            .ok_or_else(|| Refusal::invalid(name, format!("`{name}` is required.")))
    };
    let name = name(field("name")?)?;
    let Value::Array(scopes) = field("scopes")? else {
        return Err(Refusal::invalid("scopes", "`scopes` must be an array."));
    };
    let scopes = scope_list(scopes)?;
    let Value::String(exp) = field("exp")? else {
        return Err(Refusal::invalid("exp", "`exp` must be an RFC 3339 string."));
    };
    let exp = date_time("exp", exp)?.trunc_subsecs(0);
    let secret = match fields.get("secret") {
        None => None,
        Some(Value::String(secret)) if keys::is_well_formed(secret) => Some(secret.clone()),
        Some(_) => {
            return Err(Refusal::invalid(
                "secret",
                "`secret` must be a well-formed key (prefix and checksum); \
                 `alphamoon-sandbox key make --seed TEXT` prints one.",
            ));
        }
    };
    Ok(FixtureKey {
        name,
        scopes,
        exp,
        secret,
    })
}
