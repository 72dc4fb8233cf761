//! The `alphamoon-sandbox` command: serve the API, or manage organizations
//! in a sandbox database.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use alphamoon_sandbox::{
    ConnectionLimits, ControlToken, PgStore, RateLimit, Sandbox, Settings, SqliteStore, Store,
};
use clap::{Args, Parser, Subcommand};

// The `ctl` subcommand, a client of the control plane.
mod ctl;
// Fixtures files, read with their limits, for `--fixtures` and `ctl`.
mod fixtures_file;

// Serving a page allocates many small strings; under load glibc's malloc
// and its arena locks took about a seventh of the sandbox's CPU time.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A stateful reference server for the Alphamoon Workspace organization
/// API keys API, on embedded SQLite or a shared PostgreSQL.
///
/// With no subcommand it serves the API. It prints `listening on
/// http://ADDR` once it accepts requests. Keys are `amk_` followed by 49
/// base62 characters (256 random bits and a CRC-32 checksum); the database
/// keeps only their SHA-256.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manage organizations in a sandbox database.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Make keys for fixture files.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Drive a running sandbox's control plane: reset, fixtures, the
    /// request journal, faults and the clock.
    Ctl(ctl::CtlArgs),
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Print a well-formed key derived from TEXT, the same for the same
    /// TEXT, for a fixture's `secret`. Anyone who knows TEXT knows the key:
    /// use it in tests only.
    Make {
        /// The text the key is derived from.
        #[arg(long, value_name = "TEXT")]
        seed: String,
    },
}

#[derive(Debug, Subcommand)]
enum OrgCommand {
    /// Add an organization and print its first admin key (holding every
    /// scope) on standard output. The key is shown once.
    Create {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The organization's name.
        #[arg(long)]
        name: String,
        /// Also fill the organization with this many keys that can be
        /// listed and deleted but never authenticate (for load tests).
        #[arg(long, value_name = "N", default_value_t = 0)]
        filler_keys: usize,
    },
}

/// Where the state lives: a SQLite file (the default), memory, or a
/// PostgreSQL database that several processes can share.
#[derive(Debug, Args)]
struct DatabaseArgs {
    /// The SQLite database file; created if missing. It runs in WAL mode,
    /// so `PATH-wal` and `PATH-shm` appear beside it.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "sandbox.db",
        conflicts_with_all = ["in_memory", "database_url"]
    )]
    db: PathBuf,

    /// Keep everything in memory; it is gone when the server stops.
    #[arg(long, conflicts_with = "database_url")]
    in_memory: bool,

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
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    database_url: Option<String>,

    /// With --database-url: the most connections this process opens to
    /// PostgreSQL (1 to 1000).
    #[arg(long, value_name = "N", default_value_t = alphamoon_sandbox::postgres::DEFAULT_POOL_SIZE as u64, value_parser = clap::value_parser!(u64).range(1..=1000), requires = "database_url")]
    database_pool_size: u64,
}

impl DatabaseArgs {
    async fn open(&self) -> Result<Arc<dyn Store>, String> {
        Ok(match &self.database_url {
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
    fn sqlite_files(&self) -> Vec<PathBuf> {
        if self.in_memory || self.database_url.is_some() {
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
fn in_resolved_dir(path: &Path) -> Option<PathBuf> {
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
fn followed(path: &Path) -> Option<PathBuf> {
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

#[derive(Debug, Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    #[command(flatten)]
    database: DatabaseArgs,

    /// On a fresh database, create an organization and its first admin key
    /// (holding every scope) and write the key to PATH (mode 0600). On later
    /// starts the file is left alone and no key is printed. Of several
    /// processes started together on one empty database, exactly one
    /// creates the organization and writes PATH.
    #[arg(long, value_name = "PATH")]
    bootstrap_key_file: Option<PathBuf>,

    /// On a fresh database (no organization yet), load these fixtures
    /// first: a YAML or JSON file shaped like the control plane's
    /// `loadFixtures` body. Give each key you will use a `secret` (see `key
    /// make`); the keys the sandbox makes are not shown. Later starts leave
    /// the database as it is.
    #[arg(long, value_name = "FILE")]
    fixtures: Option<PathBuf>,

    /// Turn on the control plane under /_sandbox/v1 (reset, fixtures, the
    /// request journal, faults and the clock; see
    /// openapi/alphamoon-sandbox-control.yaml). Its Bearer token is read
    /// from PATH; if PATH does not exist, a fresh random token is written
    /// there first (mode 0600). Off without this flag.
    #[arg(long, value_name = "PATH")]
    control_token_file: Option<PathBuf>,

    /// How many requests this process's journal keeps for the control
    /// plane to list, newest first (0 to 1000000; 0 keeps none). Without
    /// --control-token-file nobody can read it, and it keeps none.
    #[arg(long, value_name = "N", default_value_t = alphamoon_sandbox::DEFAULT_JOURNAL_SIZE as u64, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    journal_size: u64,

    /// Requests per second each key may make on average (0.001 to
    /// 1000000); 0 turns the per-key limit off.
    #[arg(long, value_name = "N", default_value_t = 20.0, value_parser = parse_rate)]
    rate_limit: f64,

    /// Requests a key may make back to back before its limit applies.
    #[arg(long, value_name = "N", default_value_t = 40, value_parser = burst_range())]
    rate_limit_burst: u32,

    /// Requests per second all keys of one organization may make together
    /// (0.001 to 1000000), so that minting keys does not multiply the
    /// allowance; 0 turns the organization limit off.
    #[arg(long, value_name = "N", default_value_t = RateLimit::ORG_DEFAULT.per_second, value_parser = parse_rate)]
    org_rate_limit: f64,

    /// Requests an organization's keys may make back to back before its
    /// limit applies.
    #[arg(long, value_name = "N", default_value_t = RateLimit::ORG_DEFAULT.burst, value_parser = burst_range())]
    org_rate_limit_burst: u32,

    /// Refuse new keys that expire more than DAYS from now (1 to 36500;
    /// off by default).
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u64).range(1..=36_500))]
    max_key_lifetime_days: Option<u64>,

    /// Answer 503 when a request takes longer than this (1 to 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    request_timeout_secs: u64,

    /// Close a connection whose request headers have not all arrived this
    /// long after their first byte, or, for its first request, after it
    /// opened (1 to 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_read_timeout_secs: u64,

    /// Close a keep-alive connection that sits this long between requests
    /// with nothing sent either way (1 to 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    idle_timeout_secs: u64,

    /// The most connections open at once; further clients wait in the
    /// listen queue until one closes (1 to 100000).
    #[arg(long, value_name = "N", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_connections: u64,

    /// On SIGTERM or Ctrl-C, stop accepting and give the requests in flight
    /// this long to finish before exiting (0 to 3600).
    #[arg(long, value_name = "SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=3600))]
    shutdown_grace_secs: u64,
}

/// A rate in requests per second: 0 (off), or a finite number in a range
/// the limiter can honour exactly.
fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if rate == 0.0 || (0.001..=1_000_000.0).contains(&rate) {
        Ok(rate)
    } else {
        Err("must be 0 (off) or between 0.001 and 1000000".to_owned())
    }
}

fn burst_range() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=100_000)
}

/// A limit from its two flags; a rate of 0 turns it off.
fn rate_limit(per_second: f64, burst: u32) -> Option<RateLimit> {
    (per_second > 0.0).then_some(RateLimit { per_second, burst })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = tokio::runtime::Runtime::new()
        .map_err(|e| e.to_string())
        .and_then(|runtime| {
            runtime.block_on(async {
                match cli.command {
                    Some(Command::Org(OrgCommand::Create {
                        database,
                        name,
                        filler_keys,
                    })) => create_org(&database, &name, filler_keys).await,
                    Some(Command::Key(KeyCommand::Make { seed })) => {
                        println!("{}", alphamoon_sandbox::keys::from_seed(&seed));
                        Ok(())
                    }
                    Some(Command::Ctl(args)) => ctl::run(args).await,
                    None => serve(cli.serve).await,
                }
            })
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn create_org(database: &DatabaseArgs, name: &str, filler_keys: usize) -> Result<(), String> {
    let store = database.open().await?;
    let (org, secret) = alphamoon_sandbox::create_org(store.as_ref(), name)
        .await
        .map_err(|e| e.to_string())?;
    alphamoon_sandbox::seed_keys(store.as_ref(), &org.id, filler_keys)
        .await
        .map_err(|e| e.to_string())?;
    eprintln!(
        "created organization {} ({}); its admin key follows, shown once:",
        org.id, org.name
    );
    println!("{secret}");
    Ok(())
}

/// File descriptors kept beyond `--max-connections` and the PostgreSQL
/// pool: the listener, SQLite's connections and files, standard streams.
const RESERVED_FDS: u64 = 64;

/// Raises this process's open-file limit as far as the system allows and
/// checks that `max_connections`, with the database's own connections,
/// fits under it. Otherwise the cap would not protect anything: accept
/// would fail for want of descriptors first.
fn check_descriptors(max_connections: u64, database: &DatabaseArgs) -> Result<(), String> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|e| format!("cannot read the open-file limit: {e}"))?;
    let pool = if database.database_url.is_some() {
        database.database_pool_size
    } else {
        0
    };
    let needed = max_connections
        .saturating_add(pool)
        .saturating_add(RESERVED_FDS);
    if needed > limit {
        let with_pool = if pool > 0 {
            format!(" with --database-pool-size {pool}")
        } else {
            String::new()
        };
        return Err(format!(
            "--max-connections {max_connections}{with_pool} needs {needed} file descriptors, but \
             this process may open {limit}; lower them or raise the limit (ulimit -n)"
        ));
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    check_descriptors(args.max_connections, &args.database)?;
    // The key is renamed into place over whatever is there: over the
    // database, that would destroy it.
    if let Some(key_file) = &args.bootstrap_key_file
        && in_resolved_dir(key_file)
            .is_some_and(|file| args.database.sqlite_files().contains(&file))
    {
        return Err(format!(
            "--bootstrap-key-file {} is the database or one of its files; choose another path",
            key_file.display()
        ));
    }
    let control_token = args
        .control_token_file
        .as_deref()
        .map(control_token)
        .transpose()?;
    // Read before the database is opened, so that a bad file changes
    // nothing.
    let fixtures = args
        .fixtures
        .as_deref()
        .map(fixtures_file::read)
        .transpose()?;
    let store = args.database.open().await?;
    if let (Some(path), Some(document)) = (&args.fixtures, &fixtures) {
        let loaded = alphamoon_sandbox::load_fixtures(store.as_ref(), document, true)
            .await
            .map_err(|e| format!("cannot load the fixtures in {}: {e}", path.display()))?;
        match loaded {
            Some(_) => eprintln!("loaded the fixtures in {}", path.display()),
            None => eprintln!(
                "database already has organizations; the fixtures in {} were not loaded",
                path.display()
            ),
        }
    }
    if let Some(path) = &args.bootstrap_key_file {
        bootstrap(store.as_ref(), path).await?;
    }
    let settings = settings(&args, control_token);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
    let sandbox = Sandbox::serve(listener, store, &settings).map_err(|e| e.to_string())?;
    println!("listening on {}", sandbox.url());
    let _ = std::io::stdout().flush();
    shutdown_signal().await;
    tracing::info!("shutting down");
    sandbox
        .shutdown(Duration::from_secs(args.shutdown_grace_secs))
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

/// The server's settings from its flags and its control token, if any.
fn settings(args: &ServeArgs, control_token: Option<ControlToken>) -> Settings {
    // The journal is read through the control plane; without it nobody
    // could read what it keeps, and it would only cost memory.
    let journal_size = if control_token.is_some() {
        usize::try_from(args.journal_size).expect("at most 1000000 by the flag's range")
    } else {
        0
    };
    Settings {
        rate_limit: rate_limit(args.rate_limit, args.rate_limit_burst),
        org_rate_limit: rate_limit(args.org_rate_limit, args.org_rate_limit_burst),
        max_key_lifetime: args
            .max_key_lifetime_days
            .map(|days| Duration::from_secs(days * 86_400)),
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        connections: ConnectionLimits {
            header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(args.idle_timeout_secs),
            max_connections: usize::try_from(args.max_connections)
                .expect("at most 100000 by the flag's range"),
        },
        control_token,
        journal_size,
        ..Settings::default()
    }
}

/// Creates the first organization of a fresh database and writes its admin
/// key to `path`. The key is written and synced under a name of its own
/// first, so a path that cannot be written stores nothing. It is renamed
/// into place only by the process whose store found the database empty:
/// of several replicas started together, the one that created the
/// organization, and no other, writes `path`.
async fn bootstrap(store: &dyn Store, path: &Path) -> Result<(), String> {
    let secret = alphamoon_sandbox::keys::new_secret().map_err(|e| e.to_string())?;
    let pending = write_pending(path, &secret)
        .map_err(|e| format!("cannot write the bootstrap key to {}: {e}", path.display()))?;
    let created = match alphamoon_sandbox::create_first_org(store, "sandbox", &secret).await {
        Ok(Some(org)) => Some(org.id),
        Ok(None) => None,
        // A commit whose answer was lost may have happened all the same;
        // then the pending file holds the only copy of a stored key.
        Err(e) => match store
            .key_by_secret_hash(&alphamoon_sandbox::keys::hash(&secret))
            .await
        {
            Ok(Some(key)) => Some(key.org_id),
            Ok(None) => {
                let _ = std::fs::remove_file(&pending);
                return Err(format!("cannot create the bootstrap organization: {e}"));
            }
            Err(_) => {
                return Err(format!(
                    "cannot tell whether the bootstrap organization was created ({e}); if it \
                     was, its admin key is in {}",
                    pending.display()
                ));
            }
        },
    };
    let Some(org_id) = created else {
        let _ = std::fs::remove_file(&pending);
        eprintln!(
            "database already has organizations; {} left as it is",
            path.display()
        );
        return Ok(());
    };
    // The organization is stored: from here on the key must not be lost.
    std::fs::rename(&pending, path)
        .and_then(|()| sync_parent(path))
        .map_err(|e| {
            format!(
                "created organization {org_id} but cannot move its admin key from {} to {}: {e}",
                pending.display(),
                path.display()
            )
        })?;
    eprintln!(
        "created organization {org_id} with an admin key holding every scope; key written to {}",
        path.display()
    );
    Ok(())
}

/// The control token in the file at `path`, which is made first, with a
/// fresh random token, if it does not exist. The token is written in full
/// under a name of its own and then linked into place, which fails rather
/// than overwrite: of several replicas started together, one writes it and
/// every one reads the same token.
fn control_token(path: &Path) -> Result<ControlToken, String> {
    if !path.exists() {
        let token = format!(
            "amc_{}",
            alphamoon_sandbox::keys::random_hex(32).map_err(|e| e.to_string())?
        );
        let linked = write_pending(path, &token).and_then(|pending| {
            let linked = match std::fs::hard_link(&pending, path) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                linked => linked.and_then(|()| sync_parent(path)),
            };
            let _ = std::fs::remove_file(&pending);
            linked
        });
        linked.map_err(|e| format!("cannot write a control token to {}: {e}", path.display()))?;
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the control token from {}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "the control token file {} is empty",
            path.display()
        ));
    }
    #[cfg(unix)]
    warn_if_shared(path);
    Ok(ControlToken::new(token))
}

/// Warns, naming the fix, when the token file at `path` lets its group or
/// others in: whoever can read the token can wipe and rewrite the sandbox.
/// It only warns, since a file shared on purpose (a CI runner's group, say)
/// must keep working; the token itself is never shown.
#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;

    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        eprintln!(
            "warning: the control token file {} has mode {mode:03o}, so users other than its \
             owner may read or change it; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
}

/// Syncs the directory holding `path`, so that a rename into it survives
/// a power loss as the database's commit does.
fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)?.sync_all()
}

/// Writes `secret` to a new file of its own beside `path` (so that moving
/// it to `path` stays within one directory), and returns that file's path;
/// nothing is left behind if writing fails.
fn write_pending(path: &Path, secret: &str) -> std::io::Result<PathBuf> {
    let suffix =
        alphamoon_sandbox::keys::random_hex(6).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut pending = path.as_os_str().to_owned();
    pending.push(format!(".{suffix}.tmp"));
    let pending = PathBuf::from(pending);
    write_secret_file(&pending, secret).inspect_err(|_| {
        let _ = std::fs::remove_file(&pending);
    })?;
    Ok(pending)
}

/// Writes `secret` to a new file at `path`, readable by the owner only and
/// synced to disk before this returns.
fn write_secret_file(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    // A new file only: the name is random, and anything already there is
    // not ours to overwrite.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    // No trailing newline: `base64 < FILE` must encode the key alone.
    file.write_all(secret.as_bytes())?;
    file.sync_all()
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve_args(flags: &[&str]) -> ServeArgs {
        let cli =
            Cli::try_parse_from(std::iter::once("alphamoon-sandbox").chain(flags.iter().copied()))
                .expect("flags parse");
        assert!(cli.command.is_none());
        cli.serve
    }

    #[test]
    fn without_the_control_plane_nothing_is_journaled() {
        let args = serve_args(&["--journal-size", "5000"]);
        assert_eq!(settings(&args, None).journal_size, 0);
        let token = ControlToken::new("amc_test");
        assert_eq!(settings(&args, Some(token)).journal_size, 5000);
    }
}
