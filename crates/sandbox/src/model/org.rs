//! Organizations and keys as stored, and the rules every new one meets,
//! whichever way it is made: a name with the limits of a key's name, fresh
//! ids, and an expiry that can still be written.

use std::time::Duration;

use alphamoon_client::Scope;
use chrono::{DateTime, SecondsFormat, Utc};

use super::clock::LATEST;
use super::fields::org_name;
use super::keys;
use super::refusal::Refusal;

/// An organization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Org {
    /// The `orgId` keys carry.
    pub id: String,
    /// A human-readable name.
    pub name: String,
}

/// A stored key. The secret itself is never stored, only its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredKey {
    /// 32 lowercase hex digits.
    pub id: String,
    /// The owning organization's id.
    pub org_id: String,
    /// The label given at creation.
    pub name: String,
    /// Its scopes, in the order given at creation.
    pub scopes: Vec<Scope>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Expiry time, Unix seconds.
    pub exp: i64,
}

impl StoredKey {
    /// Whether the key has expired at `now` (Unix seconds): from its `exp`
    /// on, it is listed as expired and no longer authenticates.
    pub fn expired_at(&self, now: i64) -> bool {
        self.exp <= now
    }
}

/// The instants (Unix seconds) over which every key of `keys` keeps the
/// status it has at `now`: from the latest `exp` already passed, up to
/// the earliest still ahead. A page of keys written out at `now` reads
/// the same at any instant in this range.
pub(crate) fn statuses_hold(keys: &[StoredKey], now: i64) -> std::ops::Range<i64> {
    keys.iter().fold(i64::MIN..i64::MAX, |held, key| {
        if key.expired_at(now) {
            held.start.max(key.exp)..held.end
        } else {
            held.start..held.end.min(key.exp)
        }
    })
}

/// How long the first admin key of a new organization lives.
pub const ADMIN_KEY_LIFETIME: Duration = Duration::from_secs(365 * 86_400);

/// The last second any stored instant may hold: the end of the year 9999,
/// after which a date has five digits of year, which RFC 3339 cannot write
/// and strict clients cannot read.
const LAST_SECOND: i64 = LATEST / 1000;

/// Why a new organization or key was not made. The service turns it
/// into a `ControlError`.
#[derive(Debug)]
pub enum Unmade {
    /// Its name or expiry breaks a rule, or the clock stands too late.
    Refused(Refusal),
    /// The system's random source failed, so no id could be drawn.
    NoRandomness(getrandom::Error),
}

impl From<Refusal> for Unmade {
    fn from(refusal: Refusal) -> Self {
        Self::Refused(refusal)
    }
}

impl From<getrandom::Error> for Unmade {
    fn from(error: getrandom::Error) -> Self {
        Self::NoRandomness(error)
    }
}

/// The `exp` of an admin key made at `now`.
pub(crate) fn admin_key_exp(now: DateTime<Utc>) -> i64 {
    now.timestamp()
        .saturating_add(ADMIN_KEY_LIFETIME.as_secs() as i64)
}

/// Whether `id` could name an organization: 1 to 255 characters, none of
/// them control characters, as every id the sandbox makes is. Any other
/// string names none, and need not reach the store, where a NUL byte is
/// an error rather than a miss.
pub(crate) fn could_be_org_id(id: &str) -> bool {
    !id.is_empty() && id.chars().count() <= 255 && !id.chars().any(char::is_control)
}

/// A new organization with a fresh id, and its first admin key, which
/// holds every scope. Every way an organization is made comes here.
pub(crate) fn new_org(name: &str, now: DateTime<Utc>) -> Result<(Org, StoredKey), Unmade> {
    let name = org_name(name)?;
    let exp = admin_key_exp(now);
    if exp > LAST_SECOND {
        return Err(Refusal::conflict(format!(
            "The sandbox clock stands at {}: an admin key made now would expire after the \
             year 9999. Reset the sandbox to bring the clock back.",
            now.to_rfc3339_opts(SecondsFormat::Secs, true)
        ))
        .into());
    }
    let suffix = keys::random_hex(10)?;
    let org = Org {
        id: format!("ORG:sandbox|{suffix}"),
        name: name.to_string(),
    };
    let admin = new_key(&org.id, "admin", Scope::ALL, now, exp)?;
    Ok((org, admin))
}

/// A key made now, with a fresh id; refused if `exp` falls after the year
/// 9999.
pub(crate) fn new_key(
    org_id: &str,
    name: &str,
    scopes: &[Scope],
    now: DateTime<Utc>,
    exp: i64,
) -> Result<StoredKey, Unmade> {
    if exp > LAST_SECOND {
        return Err(
            Refusal::invalid("exp", "`exp` must be in the year 9999 or earlier, in UTC.").into(),
        );
    }
    Ok(StoredKey {
        id: keys::new_id()?,
        org_id: org_id.to_owned(),
        name: name.to_owned(),
        scopes: scopes.to_vec(),
        created_at: now.timestamp(),
        exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiring(exp: i64) -> StoredKey {
        StoredKey {
            id: String::new(),
            org_id: String::new(),
            name: String::new(),
            scopes: Vec::new(),
            created_at: 0,
            exp,
        }
    }

    #[test]
    fn statuses_hold_from_the_last_passed_exp_to_the_next_ahead() {
        let keys = [expiring(100), expiring(300), expiring(200), expiring(50)];
        assert_eq!(statuses_hold(&keys, 150), 100..200);
        // A key expires at its `exp`: at 200 the third one has expired.
        assert_eq!(statuses_hold(&keys, 200), 200..300);
        assert_eq!(statuses_hold(&keys, 10), i64::MIN..50);
        assert_eq!(statuses_hold(&keys, 400), 300..i64::MAX);
        assert_eq!(statuses_hold(&[], 0), i64::MIN..i64::MAX);
    }
}
