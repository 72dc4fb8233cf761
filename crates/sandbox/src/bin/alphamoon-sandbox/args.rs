//! The flags of the serve command, and usage errors that say where a
//! refused value came from.

use std::net::SocketAddr;
use std::path::PathBuf;

use alphamoon_sandbox::RateLimit;
use clap::Args;

use crate::database::DatabaseArgs;

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

/// `result`'s value, or a usage error printed as clap would, and the exit.
pub(crate) fn or_usage_error<T>(result: Result<T, clap::Error>, command: &clap::Command) -> T {
    result.unwrap_or_else(|error| usage_error(&error, command))
}

/// Prints a usage error and exits as clap would, adding which variable a
/// refused value came from: clap names only the flag, and a user who set
/// the variable in a container's config would look for the flag in vain.
fn usage_error(error: &clap::Error, command: &clap::Command) -> ! {
    use clap::error::{ContextKind, ContextValue};
    let _ = error.print();
    for kind in [ContextKind::InvalidArg, ContextKind::PriorArg] {
        if let Some(ContextValue::String(arg)) = error.get(kind)
            && let Some(variable) = variable_behind(arg, command)
        {
            eprintln!("note: {arg} came from the variable {variable}");
        }
    }
    std::process::exit(error.exit_code())
}

/// The variable that gave `arg` (`--name <VALUE>`, as clap shows it) its
/// value: set, and the flag not on the command line.
fn variable_behind(arg: &str, command: &clap::Command) -> Option<String> {
    let long = arg.split_whitespace().next()?.strip_prefix("--")?;
    let on_command_line = std::env::args()
        .any(|given| given == format!("--{long}") || given.starts_with(&format!("--{long}=")));
    if on_command_line {
        return None;
    }
    let mut pending = vec![command];
    while let Some(command) = pending.pop() {
        let found = command
            .get_arguments()
            .find(|candidate| candidate.get_long() == Some(long))
            .and_then(clap::Arg::get_env);
        if let Some(variable) = found {
            return std::env::var_os(variable)
                .is_some()
                .then(|| variable.to_string_lossy().into_owned());
        }
        pending.extend(command.get_subcommands());
    }
    None
}
