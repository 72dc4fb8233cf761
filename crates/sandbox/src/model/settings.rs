//! What a sandbox is set up with: limits, timeouts, the control token and
//! the journal's size. Every way of running it (the binary, `Sandbox`,
//! `app`) takes these.

use std::time::Duration;

use alphamoon_client::Scope;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::rate_limit::RateLimit;

/// The scope every operation of this API needs.
pub const ADMIN_SCOPE: Scope = Scope::WorkspaceAdminApiKeyManage;

/// Tunables of the API and of the connections it is served on.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Per-key rate limit; `None` turns it off.
    pub rate_limit: Option<RateLimit>,
    /// Rate limit shared by all keys of an organization, so that minting
    /// keys does not multiply the allowance; `None` turns it off.
    pub org_rate_limit: Option<RateLimit>,
    /// The longest lifetime a new key may be given; `None` for no limit.
    pub max_key_lifetime: Option<Duration>,
    /// How long one request may take before it is answered with 503.
    pub request_timeout: Duration,
    /// The largest request body accepted (`loadFixtures` takes up to
    /// [`MAX_FIXTURES_BYTES`](super::fixtures::MAX_FIXTURES_BYTES)).
    pub body_limit: usize,
    /// Timeouts and the cap on open connections.
    pub connections: ConnectionLimits,
    /// The token that opens the control plane under `/_sandbox/v1`; `None`
    /// leaves it off, and its paths answer 404 like any unknown path.
    pub control_token: Option<ControlToken>,
    /// How many requests the journal keeps; 0 keeps none.
    pub journal_size: usize,
}

/// The journal's default size.
pub const DEFAULT_JOURNAL_SIZE: usize = 1000;

impl Default for Settings {
    fn default() -> Self {
        Self {
            rate_limit: Some(RateLimit::default()),
            org_rate_limit: Some(RateLimit::ORG_DEFAULT),
            max_key_lifetime: None,
            request_timeout: Duration::from_secs(30),
            body_limit: 16 * 1024,
            connections: ConnectionLimits::default(),
            control_token: None,
            journal_size: DEFAULT_JOURNAL_SIZE,
        }
    }
}

/// What a connection may take from the server: how long it may keep us
/// waiting, and how many may be open at once. Without these, clients that
/// send half a request and stop hold their sockets for ever, and enough of
/// them lock everyone else out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a request's headers may take to arrive: counted from the
    /// first byte of the request, or, for a connection's first request,
    /// from when the connection opened (a client that has sent nothing yet
    /// is not idle between requests, it is late with its first).
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may sit between requests with no
    /// byte moving either way before it is closed.
    pub idle_timeout: Duration,
    /// How many connections may be open at once; beyond it, new ones wait
    /// in the listen queue until one closes.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// The secret that opens the control plane. Only its SHA-256 is kept, and
/// a presented token is compared with it in constant time, so that timing
/// tells an attacker nothing about how much of a guess was right.
#[derive(Clone)]
pub struct ControlToken {
    digest: [u8; 32],
}

impl ControlToken {
    /// The token `token`, as read from the token file.
    pub fn new(token: &str) -> Self {
        Self {
            digest: Sha256::digest(token.as_bytes()).into(),
        }
    }

    /// Whether `presented` is this token.
    pub fn admits(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        presented.ct_eq(&self.digest).into()
    }
}

impl std::fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlToken(..)")
    }
}
