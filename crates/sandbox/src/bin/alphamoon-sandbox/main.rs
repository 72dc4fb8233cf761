//! The `alphamoon-sandbox` command: serve the API, or manage organizations
//! in a sandbox database.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

// The command's flags: where the database is and how to serve.
mod args;
// The `ctl` subcommand, a client of the control plane.
mod ctl;
// Where the state lives: the flags that choose it, reconciled.
mod database;
// Fixtures files, read with their limits, for `--fixtures` and `ctl`.
mod fixtures_file;
// The `healthcheck` subcommand, for a container's HEALTHCHECK.
mod healthcheck;
// Files that hold a secret: the bootstrap key and the control token.
mod secret_files;
// Serving: the descriptors, the store, the bootstrap and the signals.
mod serve;

use args::{ServeArgs, or_usage_error};
use database::{Database, DatabaseArgs};

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
    /// Exit 0 if the sandbox at --listen is ready (its /_sandbox/readyz
    /// answers 200), else 1 with the reason: a container's HEALTHCHECK.
    Healthcheck(healthcheck::HealthcheckArgs),
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Print a well-formed key for a fixture's `secret`: derived from
    /// TEXT, the same for the same TEXT, or without --seed a fresh random
    /// one. Anyone who knows TEXT knows the key: use seeds in tests only.
    Make {
        /// The text the key is derived from.
        #[arg(long, value_name = "TEXT")]
        seed: Option<String>,
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

fn main() -> ExitCode {
    let command = <Cli as clap::CommandFactory>::command();
    let matches = or_usage_error(command.clone().try_get_matches(), &command);
    let cli = or_usage_error(
        <Cli as clap::FromArgMatches>::from_arg_matches(&matches),
        &command,
    );
    // Chosen before anything runs, so that two databases at once are a
    // usage error like any other.
    let database = match &cli.command {
        None => Some(cli.serve.database.choose(&matches)),
        Some(Command::Org(OrgCommand::Create { database, .. })) => matches
            .subcommand_matches("org")
            .and_then(|org| org.subcommand_matches("create"))
            .map(|create| database.choose(create)),
        Some(_) => None,
    }
    .transpose();
    let database = or_usage_error(database, &command);
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
                match (cli.command, database) {
                    (
                        Some(Command::Org(OrgCommand::Create {
                            name, filler_keys, ..
                        })),
                        Some(database),
                    ) => create_org(&database, &name, filler_keys).await,
                    (Some(Command::Key(KeyCommand::Make { seed })), _) => make_key(seed.as_deref()),
                    (Some(Command::Ctl(args)), _) => ctl::run(args).await,
                    (Some(Command::Healthcheck(args)), _) => healthcheck::run(args).await,
                    (None, Some(database)) => serve::serve(cli.serve, database).await,
                    (Some(Command::Org(_)) | None, None) => {
                        unreachable!("a database is chosen for every command that opens one")
                    }
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

/// Prints a key for a fixture: derived from `seed`, or fresh and random.
fn make_key(seed: Option<&str>) -> Result<(), String> {
    let key = match seed {
        Some(seed) => alphamoon_sandbox::keys::from_seed(seed),
        None => alphamoon_sandbox::keys::new_secret().map_err(|e| e.to_string())?,
    };
    println!("{key}");
    Ok(())
}

async fn create_org(database: &Database, name: &str, filler_keys: usize) -> Result<(), String> {
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
