//! Where the state lives: the four flags that choose it, reconciled into
//! one [`Database`], and opening it.
//!
//! The flags exclude each other, but a choice on the command line beats
//! one from a variable: a container's config or a shell profile may set
//! `ALPHAMOON_SANDBOX_DATABASE_URL`, and `--in-memory` typed for one run
//! must still work. clap's own conflict rules cannot tell the two apart,
//! so the choice is made here from where each value came.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alphamoon_sandbox::{PgStore, SqliteStore, Store};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args};

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
        default_value = "sandbox.db"
    )]
    db: PathBuf,

    /// Keep everything in memory; it is gone when the server stops. Its
    /// variable takes true or false.
    #[arg(long, env = "ALPHAMOON_SANDBOX_IN_MEMORY")]
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

    /// A file that holds the --database-url, for a URL with a password:
    /// unlike a variable, a mounted file shows in no `podman inspect` or
    /// `docker inspect`. Surrounding whitespace is ignored.
    #[arg(long, env = "ALPHAMOON_SANDBOX_DATABASE_URL_FILE", value_name = "PATH")]
    database_url_file: Option<PathBuf>,

    /// On PostgreSQL: the most connections this process opens to it (1 to
    /// 1000).
    #[arg(long, env = "ALPHAMOON_SANDBOX_DATABASE_POOL_SIZE", value_name = "N", default_value_t = alphamoon_sandbox::postgres::DEFAULT_POOL_SIZE as u64, value_parser = clap::value_parser!(u64).range(1..=1000))]
    database_pool_size: u64,
}

/// Where the state lives, chosen.
#[derive(Debug)]
pub(crate) enum Database {
    Sqlite(PathBuf),
    InMemory,
    Postgres { url: PostgresUrl, pool_size: u64 },
}

/// A PostgreSQL URL as given: it may hold a password, so it is read from
/// its file only when it is needed, and never shown.
#[derive(Debug)]
pub(crate) enum PostgresUrl {
    Given(String),
    InFile(PathBuf),
}

/// The flags that choose a database, by their argument ids.
const CHOICES: [(&str, &str); 4] = [
    ("db", "--db"),
    ("in_memory", "--in-memory"),
    ("database_url", "--database-url"),
    ("database_url_file", "--database-url-file"),
];

impl DatabaseArgs {
    /// The one database these flags and variables choose. `matches` are
    /// the parsed arguments of the command these flags belong to, which
    /// say where each value came from.
    pub(crate) fn choose(&self, matches: &ArgMatches) -> Result<Database, clap::Error> {
        let given = |id: &str| match matches.value_source(id) {
            Some(ValueSource::CommandLine) => Some(true),
            Some(ValueSource::EnvVariable) => Some(false),
            _ => None,
        };
        // `ALPHAMOON_SANDBOX_IN_MEMORY=false` chooses nothing.
        let mut made: Vec<(&str, &str, bool)> = CHOICES
            .into_iter()
            .filter(|(id, _)| *id != "in_memory" || self.in_memory)
            .filter_map(|(id, flag)| Some((id, flag, given(id)?)))
            .collect();
        if made.iter().any(|(_, _, on_command_line)| *on_command_line) {
            made.retain(|(_, _, on_command_line)| *on_command_line);
        }
        let chosen = match made.as_slice() {
            [] => "db",
            [(id, _, _)] => id,
            [(_, a, true), (_, b, _), ..] => {
                return Err(usage(format!(
                    "{a} and {b} each choose a database; give one"
                )));
            }
            [(_, a, _), (_, b, _), ..] => {
                return Err(usage(format!(
                    "the variables {} and {} each choose a database; unset one, or choose \
                     with a flag, which beats them",
                    variable_of(a),
                    variable_of(b)
                )));
            }
        };
        let pool_size_given = given("database_pool_size");
        let database = match chosen {
            "in_memory" => Database::InMemory,
            "database_url" => Database::Postgres {
                url: PostgresUrl::Given(self.database_url.clone().unwrap_or_default()),
                pool_size: self.database_pool_size,
            },
            "database_url_file" => Database::Postgres {
                url: PostgresUrl::InFile(self.database_url_file.clone().unwrap_or_default()),
                pool_size: self.database_pool_size,
            },
            _ => Database::Sqlite(self.db.clone()),
        };
        // A pool size typed for a database without a pool is a mistake; one
        // left in a variable for other runs is not.
        if pool_size_given == Some(true) && !matches!(database, Database::Postgres { .. }) {
            return Err(usage(
                "--database-pool-size applies only with --database-url or --database-url-file"
                    .to_owned(),
            ));
        }
        Ok(database)
    }
}

/// The variable that stands for `flag`.
fn variable_of(flag: &str) -> String {
    format!(
        "ALPHAMOON_SANDBOX_{}",
        flag.trim_start_matches("--")
            .replace('-', "_")
            .to_ascii_uppercase()
    )
}

fn usage(message: String) -> clap::Error {
    clap::Error::raw(
        clap::error::ErrorKind::ArgumentConflict,
        format!("{message}\n"),
    )
}

impl Database {
    /// The connections this process may hold to the database server: none
    /// but PostgreSQL's count against its open files.
    pub(crate) fn pool_size(&self) -> u64 {
        match self {
            Self::Postgres { pool_size, .. } => *pool_size,
            Self::Sqlite(_) | Self::InMemory => 0,
        }
    }

    pub(crate) async fn open(&self) -> Result<Arc<dyn Store>, String> {
        Ok(match self {
            Self::Postgres { url, pool_size } => {
                let url = url.read()?;
                let size = usize::try_from(*pool_size).unwrap_or(usize::MAX);
                // The URL may hold a password: it is never repeated.
                Arc::new(
                    PgStore::connect(&url, size)
                        .await
                        .map_err(|e| format!("cannot open the PostgreSQL database: {e}"))?,
                )
            }
            Self::InMemory => Arc::new(SqliteStore::in_memory().map_err(|e| e.to_string())?),
            Self::Sqlite(path) => Arc::new(
                SqliteStore::open(path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?,
            ),
        })
    }

    /// The paths a SQLite database on disk may occupy: the database and
    /// the companions SQLite keeps beside it, both where `--db` names them
    /// and where its symlinks lead (SQLite follows them, dangling or not).
    /// None in memory or on PostgreSQL.
    pub(crate) fn sqlite_files(&self) -> Vec<PathBuf> {
        let Self::Sqlite(path) = self else {
            return Vec::new();
        };
        let mut files = Vec::new();
        for db in in_resolved_dir(path).into_iter().chain(followed(path)) {
            for suffix in ["", "-wal", "-shm", "-journal"] {
                let mut name = db.clone().into_os_string();
                name.push(suffix);
                files.push(PathBuf::from(name));
            }
        }
        files
    }
}

impl PostgresUrl {
    fn read(&self) -> Result<String, String> {
        let file = match self {
            Self::Given(url) => return Ok(url.clone()),
            Self::InFile(file) => file,
        };
        // The file's content is a secret: no error repeats it.
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read the database URL from {}: {e}", file.display()))?;
        let url = text.trim();
        if url.is_empty() {
            return Err(format!("{} holds no database URL", file.display()));
        }
        Ok(url.to_owned())
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
