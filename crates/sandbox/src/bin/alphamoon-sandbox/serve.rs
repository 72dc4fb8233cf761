//! Serving the API: open-file limits, the store, fixtures and the
//! bootstrap key, then the server until a signal stops it.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use alphamoon_sandbox::{ConnectionLimits, ControlToken, Sandbox, Settings, Store};

use crate::args::{ServeArgs, rate_limit};
use crate::database::{Database, in_resolved_dir};
use crate::fixtures_file;
use crate::secret_files::{control_token, sync_parent, write_pending};

/// File descriptors kept beyond `--max-connections` and the PostgreSQL
/// pool: the listener, SQLite's connections and files, standard streams.
pub(crate) const RESERVED_FDS: u64 = 64;

/// Raises this process's open-file limit as far as the system allows and
/// checks that `max_connections`, with the database's own connections,
/// fits under it. Otherwise the cap would not protect anything: accept
/// would fail for want of descriptors first.
pub(crate) fn check_descriptors(max_connections: u64, database: &Database) -> Result<(), String> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|e| format!("cannot read the open-file limit: {e}"))?;
    let pool = database.pool_size();
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

/// Serves with `args` from `database`, the one their flags chose.
pub(crate) async fn serve(args: ServeArgs, database: Database) -> Result<(), String> {
    check_descriptors(args.max_connections, &database)?;
    // The key is renamed into place over whatever is there: over the
    // database, that would destroy it.
    if let Some(key_file) = &args.bootstrap_key_file
        && in_resolved_dir(key_file).is_some_and(|file| database.sqlite_files().contains(&file))
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
    let store = database.open().await?;
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
pub(crate) fn settings(args: &ServeArgs, control_token: Option<ControlToken>) -> Settings {
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
pub(crate) async fn bootstrap(store: &dyn Store, path: &Path) -> Result<(), String> {
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
    use crate::Cli;
    use clap::Parser as _;

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
