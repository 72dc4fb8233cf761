//! `alphamoon`: manage Alphamoon Workspace organization API keys from the
//! shell. Every request goes through `alphamoon-client`; this crate only
//! parses arguments and prints results.

mod args;
mod credentials;
mod output;

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use alphamoon_client::{ApiKeyStatus, Client, Error, RotateError, Scope, ScopeGroup, types};
use clap::{CommandFactory as _, Parser as _};
use futures_util::TryStreamExt as _;

use args::{Cli, Command, Expiry, KeysCommand, Output};

/// Why the command failed, which decides the exit code.
enum Failure {
    /// The API or the network failed: exit 1.
    Api(String),
    /// The command line or the configuration is wrong: exit 2.
    Usage(String),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Self::Api(error.to_string())
    }
}

impl From<alphamoon_client::RawError> for Failure {
    fn from(error: alphamoon_client::RawError) -> Self {
        Error::from(error).into()
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Scopes { ref group } => {
            output::scopes(
                cli.global.output,
                group.as_deref().and_then(ScopeGroup::from_name),
            );
            Ok(())
        }
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "alphamoon",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Keys(command) => run_keys(&cli.global, command),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Api(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn run_keys(global: &args::Global, command: KeysCommand) -> Result<(), Failure> {
    let client = client(global)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Api(format!("cannot start the async runtime: {e}")))?;
    let format = global.output;
    runtime.block_on(async {
        match command {
            KeysCommand::Create {
                name,
                scopes,
                scope_groups,
                expiry,
            } => create(&client, format, name, &scopes, &scope_groups, &expiry).await,
            KeysCommand::List {
                all,
                expiring_within,
                offset,
                limit,
            } => match expiring_within {
                Some(within) => expiring(&client, format, within, limit).await,
                None => list(&client, format, all, offset, limit).await,
            },
            KeysCommand::Delete { id, yes } => delete(&client, format, &id, yes).await,
            KeysCommand::Rotate { id, expires_in } => {
                rotate(&client, format, &id, expires_in).await
            }
        }
    })
}

/// The client, from flags, environment and key file.
fn client(global: &args::Global) -> Result<Client, Failure> {
    let api_key = credentials::api_key(
        global.api_key.as_deref(),
        global.api_key_file.as_deref(),
        std::env::var_os(credentials::API_KEY_ENV),
    )
    .map_err(Failure::Usage)?;
    Client::builder(&api_key)
        .base_url(&global.base_url)
        .build()
        .map_err(|e| Failure::Usage(e.to_string()))
}

fn key_id(id: &str) -> Result<types::ApiKeyId, Failure> {
    id.parse()
        .map_err(|_| Failure::Usage(format!("`{id}` is not a key id (32 lowercase hex digits)")))
}

async fn create(
    client: &Client,
    format: Output,
    name: String,
    scopes: &[String],
    groups: &[String],
    expiry: &Expiry,
) -> Result<(), Failure> {
    let mut wanted: Vec<Scope> = Vec::new();
    let from_groups = groups
        .iter()
        .filter_map(|g| ScopeGroup::from_name(g))
        .flat_map(|g| g.scopes().iter().cloned());
    for scope in scopes
        .iter()
        .map(|s| Scope::from(s.as_str()))
        .chain(from_groups)
    {
        if !wanted.contains(&scope) {
            wanted.push(scope);
        }
    }
    if wanted.is_empty() {
        return Err(Failure::Usage(
            "give at least one --scope or --scope-group".to_owned(),
        ));
    }
    // The group lets only one of the two be given; `expires_in` always has
    // a value because of its default, so `expires_at` wins when present.
    let exp = expiry
        .expires_at
        .unwrap_or_else(|| chrono::Utc::now() + expiry.expires_in);
    let name: types::ApiKeyName = name
        .parse()
        .map_err(|e| Failure::Usage(format!("invalid --name: {e}")))?;
    let created = client
        .create_api_key()
        .body(
            types::CreateApiKeyRequest::builder()
                .name(name)
                .exp(exp)
                .scopes(wanted),
        )
        .send()
        .await?
        .into_inner();
    output::created(format, &created);
    Ok(())
}

async fn list(
    client: &Client,
    format: Output,
    all: bool,
    offset: u64,
    limit: u64,
) -> Result<(), Failure> {
    if all {
        let keys: Vec<types::ApiKey> = client.list_all_api_keys(limit).try_collect().await?;
        output::keys(format, &keys, None);
    } else {
        let page = client
            .list_api_keys()
            .offset(offset)
            .limit(limit)
            .send()
            .await?
            .into_inner();
        output::keys(format, &page.api_keys, Some(&page.pagination));
    }
    Ok(())
}

/// Every active key that expires within `within` from now.
async fn expiring(
    client: &Client,
    format: Output,
    within: chrono::Duration,
    limit: u64,
) -> Result<(), Failure> {
    let until = chrono::Utc::now()
        .checked_add_signed(within)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    let keys: Vec<types::ApiKey> = client
        .list_all_api_keys(limit)
        .try_filter(|key| {
            std::future::ready(key.status == ApiKeyStatus::Active && key.exp <= until)
        })
        .try_collect()
        .await?;
    output::keys(format, &keys, None);
    Ok(())
}

async fn delete(client: &Client, format: Output, id: &str, yes: bool) -> Result<(), Failure> {
    let id = key_id(id)?;
    if !yes {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::Usage(
                "not on a terminal, so cannot ask: pass --yes to delete".to_owned(),
            ));
        }
        eprint!(
            "Delete API key {}? It stops working at once. [y/N] ",
            id.as_str()
        );
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin()
            .read_line(&mut answer)
            .map_err(|e| Failure::Usage(format!("cannot read the answer: {e}")))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            eprintln!("Not deleted.");
            return Ok(());
        }
    }
    client
        .delete_api_key()
        .api_key_id(id.clone())
        .send()
        .await?;
    output::deleted(format, &id);
    Ok(())
}

async fn rotate(
    client: &Client,
    format: Output,
    id: &str,
    lifetime: chrono::Duration,
) -> Result<(), Failure> {
    let exp = chrono::Utc::now() + lifetime;
    match client.rotate_api_key(id, exp).await {
        Ok(rotation) => {
            output::rotated(format, &rotation.created, Some(&rotation.deleted));
            Ok(())
        }
        Err(RotateError::Delete {
            created,
            old,
            error,
        }) => {
            // The new secret exists nowhere else: show it before failing.
            output::rotated(format, &created, None);
            Err(Failure::Api(format!(
                "the old key {} still exists, because deleting it failed: {error}; \
                 delete it with `alphamoon keys delete {}`",
                old.as_str(),
                old.as_str()
            )))
        }
        Err(invalid @ RotateError::InvalidId(_)) => Err(Failure::Usage(invalid.to_string())),
        Err(other) => Err(Failure::Api(other.to_string())),
    }
}
