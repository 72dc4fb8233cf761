//! The flags of the command: where the state lives, and how to serve it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use alphamoon_sandbox::{PgStore, RateLimit, SqliteStore, Store};
use clap::Args;

/// Where the state lives: a SQLite file (the default), memory, or a
/// PostgreSQL database that several processes can share.
#[derive(Debug, Args)]
pub(crate) struct DatabaseArgs {
    /// The SQLite database file; created if missing. It runs in WAL mode,
    /// so `PATH-wal` and `PATH-shm` appear beside it.
    #[arg(
        long,
        env = "ALPHAMOON_SANDBOX_DB",
        value_name = "PATH",
        default_value = "sandbox.db",
        conflicts_with_all = ["in_memory", "database_url", "database_url_file"]
    )]
    pub(crate) db: PathBuf,

    /// Keep everything in memory; it is gone when the server stops.
    #[arg(
        long,
        env = "ALPHAMOON_SANDBOX_IN_MEMORY",
        conflicts_with_all = ["database_url", "database_url_file"]
    )]
    pub(crate) in_memory: bool,

    /// A PostgreSQL database to keep everything in, as
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`, shared by every sandbox
    /// process pointed at it. The schema is created or upgraded at start.
    #[arg(
        long,
        value_name = "URL",
        env = "ALPHAMOON_SANDBOX_DATABASE_URL",
        hide_env_values = true,
        // `VAR=$UNSET_VAR` must not pass for a URL, nor quietly leave
        // each replica on a SQLite file of its own.
        value_parser = clap::builder::NonEmptyStringValueParser::new(),
        group = "postgres"
    )]
    pub(crate) database_url: Option<String>,

    /// A file that holds the --database-url, for a URL with a password:
    /// unlike a variable, a mounted file shows in no `podman inspect` or
    /// `docker inspect`. Surrounding whitespace is ignored.
    #[arg(
        long,
        env = "ALPHAMOON_SANDBOX_DATABASE_URL_FILE",
        value_name = "PATH",
        group = "postgres"
    )]
    pub(crate) database_url_file: Option<PathBuf>,

    /// With --database-url or --database-url-file: the most connections this process opens to
    /// PostgreSQL (1 to 1000).
    #[arg(long, env = "ALPHAMOON_SANDBOX_DATABASE_POOL_SIZE", value_name = "N", default_value_t = alphamoon_sandbox::postgres::DEFAULT_POOL_SIZE as u64, value_parser = clap::value_parser!(u64).range(1..=1000), requires = "postgres")]
    pub(crate) database_pool_size: u64,
}

impl DatabaseArgs {
    /// Whether the state lives in PostgreSQL.
    pub(crate) fn on_postgres(&self) -> bool {
        self.database_url.is_some() || self.database_url_file.is_some()
    }

    /// The PostgreSQL URL, from its flag or its file.
    fn postgres_url(&self) -> Result<Option<String>, String> {
        let Some(file) = &self.database_url_file else {
            return Ok(self.database_url.clone());
        };
        // The file's content is a secret: no error repeats it.
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read the database URL from {}: {e}", file.display()))?;
        let url = text.trim();
        if url.is_empty() {
            return Err(format!("{} holds no database URL", file.display()));
        }
        Ok(Some(url.to_owned()))
    }

    pub(crate) async fn open(&self) -> Result<Arc<dyn Store>, String> {
        Ok(match &self.postgres_url()? {
            Some(url) => {
                let size = usize::try_from(self.database_pool_size).unwrap_or(usize::MAX);
                // The URL may hold a password: it is never repeated.
                Arc::new(
                    PgStore::connect(url, size)
                        .await
                        .map_err(|e| format!("cannot open the PostgreSQL database: {e}"))?,
                )
            }
            None if self.in_memory => {
                Arc::new(SqliteStore::in_memory().map_err(|e| e.to_string())?)
            }
            None => Arc::new(
                SqliteStore::open(&self.db)
                    .map_err(|e| format!("cannot open {}: {e}", self.db.display()))?,
            ),
        })
    }

    /// The paths a SQLite database on disk may occupy: the database and
    /// the companions SQLite keeps beside it, both where `--db` names them
    /// and where its symlinks lead (SQLite follows them, dangling or not).
    /// None in memory or on PostgreSQL.
    pub(crate) fn sqlite_files(&self) -> Vec<PathBuf> {
        if self.in_memory || self.on_postgres() {
            return Vec::new();
        }
        let mut files = Vec::new();
        for db in in_resolved_dir(&self.db)
            .into_iter()
            .chain(followed(&self.db))
        {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut name = db.clone().into_os_string();
                name.push(suffix);
                files.push(PathBuf::from(name));
            }
        }
        files
    }
}

/// `path` with its directory resolved and its last component as it is,
/// which is what `rename` replaces. `None` if the directory is not there.
pub(crate) fn in_resolved_dir(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let dir = path.parent().filter(|dir| !dir.as_os_str().is_empty());
    Some(
        std::fs::canonicalize(dir.unwrap_or(Path::new(".")))
            .ok()?
            .join(name),
    )
}

/// Where `path` leads once every symlink, the last one included, is
/// followed, even to a file that is not there yet.
pub(crate) fn followed(path: &Path) -> Option<PathBuf> {
    let mut at = in_resolved_dir(path)?;
    // As many links as Linux follows before it gives up.
    for _ in 0..40 {
        let Ok(target) = std::fs::read_link(&at) else {
            return Some(at);
        };
        at = in_resolved_dir(&at.parent()?.join(target))?;
    }
    None
}

/// Where the sandbox listens unless told otherwise.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "ALPHAMOON_SANDBOX_LISTEN", value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub(crate) listen: SocketAddr,

    #[command(flatten)]
    pub(crate) database: DatabaseArgs,

    /// On a fresh database, create an organization and its first admin key
    /// (holding every scope) and write the key to PATH (mode 0600). On later
    /// starts the file is left alone and no key is printed. Of several
    /// processes started together on one empty database, exactly one
    /// creates the organization and writes PATH.
    #[arg(
        long,
        env = "ALPHAMOON_SANDBOX_BOOTSTRAP_KEY_FILE",
        value_name = "PATH"
    )]
    pub(crate) bootstrap_key_file: Option<PathBuf>,

    /// On a fresh database (no organization yet), load these fixtures
    /// first: a YAML or JSON file shaped like the control plane's
    /// `loadFixtures` body. Give each key you will use a `secret` (see `key
    /// make`); the keys the sandbox makes are not shown. Later starts leave
    /// the database as it is.
    #[arg(long, env = "ALPHAMOON_SANDBOX_FIXTURES", value_name = "FILE")]
    pub(crate) fixtures: Option<PathBuf>,

    /// Turn on the control plane under /_sandbox/v1 (reset, fixtures, the
    /// request journal, faults and the clock; see
    /// openapi/alphamoon-sandbox-control.yaml). Its Bearer token is read
    /// from PATH; if PATH does not exist, a fresh random token is written
    /// there first (mode 0600). Off without this flag.
    #[arg(
        long,
        env = "ALPHAMOON_SANDBOX_CONTROL_TOKEN_FILE",
        value_name = "PATH"
    )]
    pub(crate) control_token_file: Option<PathBuf>,

    /// How many requests this process's journal keeps for the control
    /// plane to list, newest first (0 to 1000000; 0 keeps none). Without
    /// --control-token-file nobody can read it, and it keeps none.
    #[arg(long, env = "ALPHAMOON_SANDBOX_JOURNAL_SIZE", value_name = "N", default_value_t = alphamoon_sandbox::DEFAULT_JOURNAL_SIZE as u64, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub(crate) journal_size: u64,

    /// Requests per second each key may make on average (0.001 to
    /// 1000000); 0 turns the per-key limit off.
    #[arg(long, env = "ALPHAMOON_SANDBOX_RATE_LIMIT", value_name = "N", default_value_t = 20.0, value_parser = parse_rate)]
    pub(crate) rate_limit: f64,

    /// Requests a key may make back to back before its limit applies.
    #[arg(long, env = "ALPHAMOON_SANDBOX_RATE_LIMIT_BURST", value_name = "N", default_value_t = 40, value_parser = burst_range())]
    pub(crate) rate_limit_burst: u32,

    /// Requests per second all keys of one organization may make together
    /// (0.001 to 1000000), so that minting keys does not multiply the
    /// allowance; 0 turns the organization limit off.
    #[arg(long, env = "ALPHAMOON_SANDBOX_ORG_RATE_LIMIT", value_name = "N", default_value_t = RateLimit::ORG_DEFAULT.per_second, value_parser = parse_rate)]
    pub(crate) org_rate_limit: f64,

    /// Requests an organization's keys may make back to back before its
    /// limit applies.
    #[arg(long, env = "ALPHAMOON_SANDBOX_ORG_RATE_LIMIT_BURST", value_name = "N", default_value_t = RateLimit::ORG_DEFAULT.burst, value_parser = burst_range())]
    pub(crate) org_rate_limit_burst: u32,

    /// Refuse new keys that expire more than DAYS from now (1 to 36500;
    /// off by default).
    #[arg(long, env = "ALPHAMOON_SANDBOX_MAX_KEY_LIFETIME_DAYS", value_name = "DAYS", value_parser = clap::value_parser!(u64).range(1..=36_500))]
    pub(crate) max_key_lifetime_days: Option<u64>,

    /// Answer 503 when a request takes longer than this (1 to 3600).
    #[arg(long, env = "ALPHAMOON_SANDBOX_REQUEST_TIMEOUT_SECS", value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) request_timeout_secs: u64,

    /// Close a connection whose request headers have not all arrived this
    /// long after their first byte, or, for its first request, after it
    /// opened (1 to 3600).
    #[arg(long, env = "ALPHAMOON_SANDBOX_HEADER_READ_TIMEOUT_SECS", value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) header_read_timeout_secs: u64,

    /// Close a keep-alive connection that sits this long between requests
    /// with nothing sent either way (1 to 3600).
    #[arg(long, env = "ALPHAMOON_SANDBOX_IDLE_TIMEOUT_SECS", value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) idle_timeout_secs: u64,

    /// The most connections open at once; further clients wait in the
    /// listen queue until one closes (1 to 100000).
    #[arg(long, env = "ALPHAMOON_SANDBOX_MAX_CONNECTIONS", value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub(crate) max_connections: u64,

    /// On SIGTERM or Ctrl-C, stop accepting and give the requests in flight
    /// this long to finish before exiting (0 to 3600).
    #[arg(long, env = "ALPHAMOON_SANDBOX_SHUTDOWN_GRACE_SECS", value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub(crate) shutdown_grace_secs: u64,
}

/// A rate in requests per second: 0 (off), or a finite number in a range
/// the limiter can honour exactly.
pub(crate) fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if rate == 0.0 || (0.001..=1_000_000.0).contains(&rate) {
        Ok(rate)
    } else {
        Err("must be 0 (off) or between 0.001 and 1000000".to_owned())
    }
}

pub(crate) fn burst_range() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=100_000)
}

/// A limit from its two flags; a rate of 0 turns it off.
pub(crate) fn rate_limit(per_second: f64, burst: u32) -> Option<RateLimit> {
    (per_second > 0.0).then_some(RateLimit { per_second, burst })
}
