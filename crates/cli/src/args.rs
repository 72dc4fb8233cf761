//! The command line, as clap parses it. Scope and group values come from
//! the client's spec-generated metadata, which also feeds tab completion.

use std::path::PathBuf;

use alphamoon_client::{DEFAULT_BASE_URL, Scope, ScopeGroup};
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Manage the API keys of an Alphamoon Workspace organization.
///
/// Authenticate with an organization API key that holds
/// `workspace.admin.api_key:manage`. The key comes from --api-key-file or
/// --api-key (give at most one), else from the ALPHAMOON_API_KEY
/// environment variable: a flag beats the environment. Prefer the file or
/// the variable, since --api-key stays in shell history. The key is never
/// printed.
///
/// Exit codes: 0 success, 1 API or network error, 2 usage error.
#[derive(Debug, Parser)]
#[command(name = "alphamoon", version)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Args)]
pub(crate) struct Global {
    /// The API's base URL.
    #[arg(long, global = true, env = "ALPHAMOON_BASE_URL", hide_env_values = true, default_value = DEFAULT_BASE_URL)]
    pub(crate) base_url: String,

    // No `env` here: clap would count an exported ALPHAMOON_API_KEY as a
    // given --api-key and refuse it beside --api-key-file. No
    // `conflicts_with` either: clap misses the conflict when the two global
    // flags sit on different levels of the command. `credentials` reads the
    // variable and refuses both flags.
    /// The organization API key to authenticate with. Beats
    /// ALPHAMOON_API_KEY; cannot be used with --api-key-file.
    #[arg(long, global = true, value_name = "KEY")]
    pub(crate) api_key: Option<String>,

    /// Read the API key from this file (surrounding whitespace is ignored).
    /// Beats ALPHAMOON_API_KEY; cannot be used with --api-key.
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) api_key_file: Option<PathBuf>,

    /// How to print results: a readable table, or JSON with the API's own
    /// field names.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    pub(crate) output: Output,
}

// By hand, so that no debug print can show the key.
impl std::fmt::Debug for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Global")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_file", &self.api_key_file)
            .field("output", &self.output)
            .finish()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create, list, rotate and delete organization API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// List every scope with its group and description.
    Scopes {
        /// Only the scopes of this group.
        #[arg(long, value_name = "GROUP", value_parser = group_names())]
        group: Option<String>,
    },
    /// Print a shell completion script.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Create a key. Its secret is printed once and cannot be shown again.
    Create {
        /// A label for the key.
        #[arg(long)]
        name: String,
        /// A scope the key carries; repeat for more (`alphamoon scopes`
        /// lists them).
        #[arg(long = "scope", value_name = "SCOPE", value_parser = scope_values(), hide_possible_values = true)]
        scopes: Vec<String>,
        /// Every scope of a group, e.g. `collections`; repeat for more.
        #[arg(long = "scope-group", value_name = "GROUP", value_parser = group_names())]
        scope_groups: Vec<String>,
        #[command(flatten)]
        expiry: Expiry,
    },
    /// List keys: one page, or every key with --all. Keys expiring within
    /// 14 days, and expired ones, are flagged.
    List {
        /// Page through every key.
        #[arg(long, conflicts_with = "offset")]
        all: bool,
        /// Only the active keys that expire within DURATION from now on
        /// this machine's clock, e.g. `30d`, `12w`, `36h`; pages through
        /// every key, like --all.
        #[arg(long, value_name = "DURATION", value_parser = parse_lifetime, conflicts_with = "offset")]
        expiring_within: Option<chrono::Duration>,
        /// How many keys to skip.
        #[arg(long, default_value_t = 0)]
        offset: u64,
        /// Keys per page (1 to 100).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=100))]
        limit: u64,
    },
    /// Delete a key. Asks first on a terminal.
    Delete {
        /// The id of the key.
        id: String,
        /// Do not ask for confirmation (required when not on a terminal).
        #[arg(long, short)]
        yes: bool,
    },
    /// Replace a key with a new one of the same name and scopes, then
    /// delete the old one. If the create fails, nothing is deleted.
    Rotate {
        /// The id of the key to replace.
        id: String,
        /// Lifetime of the new key, e.g. `90d`, `12w`, `36h`. The vendor
        /// advises replacing keys every 3 to 6 months.
        #[arg(long, value_name = "DURATION", default_value = DEFAULT_LIFETIME, value_parser = parse_lifetime)]
        expires_in: chrono::Duration,
    },
}

/// How long a new key lives unless told otherwise: the low end of the
/// vendor's advice to replace keys every 3 to 6 months.
const DEFAULT_LIFETIME: &str = "90d";

/// When a new key expires: a lifetime or a moment.
#[derive(Debug, Args)]
#[group(multiple = false)]
pub(crate) struct Expiry {
    /// Lifetime of the key, e.g. `90d`, `12w`, `36h`.
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_LIFETIME, value_parser = parse_lifetime)]
    pub(crate) expires_in: chrono::Duration,
    /// Expiry as an RFC 3339 date-time, e.g. `2027-03-01T00:00:00Z`.
    #[arg(long, value_name = "RFC3339", value_parser = parse_moment)]
    pub(crate) expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

fn scope_values() -> PossibleValuesParser {
    PossibleValuesParser::new(Scope::ALL.iter().map(Scope::as_str))
}

fn group_names() -> PossibleValuesParser {
    PossibleValuesParser::new(ScopeGroup::ALL.iter().map(|g| g.name()))
}

/// `90d`, `12w`, `36h`, `30m` or `45s`.
pub(crate) fn parse_lifetime(text: &str) -> Result<chrono::Duration, String> {
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let number: i64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a lifetime like 90d, 12w or 36h"))?;
    let lifetime = match unit {
        "s" => chrono::Duration::try_seconds(number),
        "m" => chrono::Duration::try_minutes(number),
        "h" => chrono::Duration::try_hours(number),
        "d" => chrono::Duration::try_days(number),
        "w" => chrono::Duration::try_weeks(number),
        _ => return Err(format!("`{text}`: the unit must be s, m, h, d or w")),
    }
    .ok_or_else(|| format!("`{text}` is too long"))?;
    if lifetime <= chrono::Duration::zero() {
        return Err("the lifetime must be positive".to_owned());
    }
    Ok(lifetime)
}

fn parse_moment(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{text}` is not an RFC 3339 date-time: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_new_key_takes_a_lifetime_or_a_moment_and_defaults_to_90_days() {
        let create = |extra: &[&str]| {
            let base = ["alphamoon", "keys", "create", "--name", "n"];
            Cli::try_parse_from(base.iter().chain(extra)).map(|cli| match cli.command {
                Command::Keys(KeysCommand::Create { expiry, .. }) => expiry,
                other => panic!("parsed as {other:?}"),
            })
        };
        let expiry = create(&[]).expect("no expiry given");
        assert_eq!(expiry.expires_in, chrono::Duration::days(90));
        assert_eq!(expiry.expires_at, None);
        let expiry = create(&["--expires-at", "2030-01-01T00:00:00Z"]).expect("a moment");
        assert!(expiry.expires_at.is_some());
        let both = create(&["--expires-in", "1d", "--expires-at", "2030-01-01T00:00:00Z"]);
        assert_eq!(
            both.expect_err("both").kind(),
            clap::error::ErrorKind::ArgumentConflict
        );
    }

    #[test]
    fn the_key_flags_are_read_on_any_level_and_never_debug_printed() {
        // `credentials` refuses the pair, wherever each flag was given.
        let global = Cli::try_parse_from([
            "alphamoon",
            "--api-key",
            "amk_secret",
            "keys",
            "list",
            "--api-key-file",
            "f",
        ])
        .expect("both flags parse")
        .global;
        assert_eq!(global.api_key.as_deref(), Some("amk_secret"));
        assert_eq!(global.api_key_file, Some(PathBuf::from("f")));
        let shown = format!("{global:?}");
        assert!(!shown.contains("amk_secret"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn lifetimes_parse_with_units() {
        assert_eq!(parse_lifetime("90d"), Ok(chrono::Duration::days(90)));
        assert_eq!(parse_lifetime("2w"), Ok(chrono::Duration::weeks(2)));
        assert_eq!(parse_lifetime("36h"), Ok(chrono::Duration::hours(36)));
        assert!(parse_lifetime("0d").is_err());
        assert!(parse_lifetime("90").is_err());
        assert!(parse_lifetime("d").is_err());
        assert!(parse_lifetime("99999999999999w").is_err());
    }
}
