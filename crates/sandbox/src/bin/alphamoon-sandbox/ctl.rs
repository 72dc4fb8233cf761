//! `alphamoon-sandbox ctl`: the control plane from a shell, for test
//! setups written in shell. Every call goes through the client generated
//! from the control spec (`alphamoon_sandbox::control_client`); nothing here
//! speaks HTTP itself.

use std::path::{Path, PathBuf};
use std::time::Duration;

use alphamoon_sandbox::control_client::{Client, ResponseValue, types};
use clap::{Args, Subcommand};
use futures_util::TryStreamExt as _;
use progenitor_client::ByteStream;

/// Where the sandbox is and how to open its control plane.
#[derive(Debug, Args)]
pub(crate) struct CtlArgs {
    /// The sandbox's base URL.
    #[arg(
        long,
        value_name = "URL",
        env = "ALPHAMOON_SANDBOX_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,
    /// The file that holds the control token: the sandbox's
    /// `--control-token-file`.
    #[arg(long, value_name = "FILE", env = "ALPHAMOON_SANDBOX_TOKEN_FILE")]
    token_file: PathBuf,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// Delete every organization and key, clear the faults and the journal,
    /// and let the clock run with the wall clock again.
    Reset,
    /// Load a fixtures file (YAML or JSON, the shape of `--fixtures`) and
    /// print what it made as JSON, every secret included.
    Fixtures {
        /// The fixtures file.
        file: PathBuf,
    },
    /// Print the requests the vendor API received, newest first, as JSON.
    Requests {
        /// The most to print.
        #[arg(long, value_name = "N")]
        limit: Option<std::num::NonZeroU64>,
        /// Only those routed to this operation: createApiKey, listApiKeys
        /// or deleteApiKey.
        #[arg(long, value_name = "OPERATION")]
        operation_id: Option<types::VendorOperationId>,
        /// Only those made with the key of this id.
        #[arg(long, value_name = "ID")]
        key_id: Option<String>,
        /// Empty the journal instead of printing it.
        #[arg(long, conflicts_with_all = ["limit", "operation_id", "key_id"])]
        clear: bool,
    },
    /// Add, list, delete or clear injected faults.
    #[command(subcommand)]
    Fault(FaultCommand),
    /// Read or move the sandbox clock.
    #[command(subcommand)]
    Clock(ClockCommand),
}

#[derive(Debug, Subcommand)]
enum FaultCommand {
    /// Add a fault and print it as JSON, with its id.
    Add {
        /// The operation it matches (createApiKey, listApiKeys or
        /// deleteApiKey); every operation if absent.
        #[arg(long, value_name = "OPERATION")]
        operation_id: Option<types::VendorOperationId>,
        /// The status to answer (400 to 599).
        #[arg(long)]
        status: Option<i32>,
        /// Seconds to send in `Retry-After` with the status.
        #[arg(long, value_name = "SECONDS")]
        retry_after: Option<i32>,
        /// Milliseconds to wait before the action, or alone.
        #[arg(long, value_name = "MS", default_value_t = 0)]
        delay_ms: i32,
        /// What to do: respond (answer the status; the default), drop (close
        /// the connection unanswered), or commitThenFail (perform the
        /// operation, then answer the status or, without one, drop).
        #[arg(long, value_name = "ACTION")]
        action: Option<types::FaultAction>,
        /// How many requests it hits before it retires.
        #[arg(long, value_name = "N")]
        times: Option<std::num::NonZeroU32>,
        /// The chance, from 0 to 1, that a matching request is hit.
        #[arg(long, value_name = "P", default_value_t = 1.0)]
        probability: f64,
    },
    /// Print the active faults as JSON, oldest first.
    List,
    /// Delete one fault by its id.
    Delete {
        /// The fault's id.
        id: String,
    },
    /// Delete every fault.
    Clear,
}

#[derive(Debug, Subcommand)]
enum ClockCommand {
    /// Print the sandbox's now, and whether it stands still, as JSON.
    Show,
    /// Stop the clock at an instant (RFC 3339), not before its now.
    Freeze {
        /// Where the clock stops, e.g. 2099-01-01T00:00:00Z.
        at: chrono::DateTime<chrono::Utc>,
    },
    /// Move the clock forward; a frozen clock stays frozen.
    Advance {
        /// Seconds to move forward, at least 1.
        seconds: std::num::NonZeroU64,
    },
    /// Let a frozen clock run again from where it stands.
    Resume,
}

/// What a control call resolves to.
type Call<T> = Result<ResponseValue<T>, progenitor_client::Error<ByteStream>>;

/// Awaits a call whose answer is printed as JSON.
async fn print<T: serde::Serialize>(call: impl Future<Output = Call<T>>) -> Result<(), String> {
    match call.await {
        Ok(answer) => {
            let text =
                serde_json::to_string_pretty(&answer.into_inner()).map_err(|e| e.to_string())?;
            println!("{text}");
            Ok(())
        }
        Err(error) => Err(failed(error).await),
    }
}

/// Awaits a call that answers nothing.
async fn done(call: impl Future<Output = Call<()>>) -> Result<(), String> {
    match call.await {
        Ok(_) => Ok(()),
        Err(error) => Err(failed(error).await),
    }
}

/// How long one control call may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs one `ctl` command.
pub(crate) async fn run(args: CtlArgs) -> Result<(), String> {
    let client = client(&args.url, &args.token_file)?;
    match args.command {
        CtlCommand::Reset => done(client.reset_sandbox().send()).await,
        CtlCommand::Fixtures { file } => {
            print(client.load_fixtures().body(read_fixtures(&file)?).send()).await
        }
        CtlCommand::Requests { clear: true, .. } => {
            done(client.clear_recorded_requests().send()).await
        }
        CtlCommand::Requests {
            limit,
            operation_id,
            key_id,
            clear: false,
        } => {
            let mut request = client.list_recorded_requests();
            if let Some(limit) = limit {
                request = request.limit(limit);
            }
            if let Some(operation_id) = operation_id {
                request = request.operation_id(operation_id);
            }
            if let Some(key_id) = key_id {
                request = request.key_id(key_id);
            }
            print(request.send()).await
        }
        CtlCommand::Fault(FaultCommand::Add {
            operation_id,
            status,
            retry_after,
            delay_ms,
            action,
            times,
            probability,
        }) => {
            let fault = types::FaultRequest {
                operation_id,
                status,
                retry_after,
                delay_ms,
                action,
                times,
                probability,
            };
            print(client.add_fault().body(fault).send()).await
        }
        CtlCommand::Fault(FaultCommand::List) => print(client.list_faults().send()).await,
        CtlCommand::Fault(FaultCommand::Delete { id }) => {
            done(client.delete_fault().fault_id(id).send()).await
        }
        CtlCommand::Fault(FaultCommand::Clear) => done(client.clear_faults().send()).await,
        CtlCommand::Clock(ClockCommand::Show) => print(client.get_clock().send()).await,
        CtlCommand::Clock(ClockCommand::Freeze { at }) => {
            let to = types::SetClockRequest::from(types::FreezeClock { frozen_at: at });
            print(client.set_clock().body(to).send()).await
        }
        CtlCommand::Clock(ClockCommand::Advance { seconds }) => {
            let to = types::SetClockRequest::from(types::AdvanceClock {
                advance_by_seconds: seconds,
            });
            print(client.set_clock().body(to).send()).await
        }
        CtlCommand::Clock(ClockCommand::Resume) => {
            let to = types::SetClockRequest::from(types::ResumeClock { resume: true });
            print(client.set_clock().body(to).send()).await
        }
    }
}

/// The generated client, sending the token from `token_file` as a Bearer
/// credential with every call.
fn client(url: &str, token_file: &Path) -> Result<Client, String> {
    let token = std::fs::read_to_string(token_file).map_err(|e| {
        format!(
            "cannot read the control token from {}: {e}",
            token_file.display()
        )
    })?;
    let token = token.trim();
    if token.is_empty() {
        return Err(format!("{} holds no control token", token_file.display()));
    }
    if !url.starts_with("http://") {
        return Err(format!(
            "`{url}` is not an http:// URL; the sandbox serves plain HTTP"
        ));
    }
    let mut bearer =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            format!(
                "{} holds characters a header cannot carry",
                token_file.display()
            )
        })?;
    bearer.set_sensitive(true);
    let headers = [(reqwest::header::AUTHORIZATION, bearer)]
        .into_iter()
        .collect();
    Ok(Client::new_with_client(
        url.trim_end_matches('/'),
        http_client(headers, TIMEOUT)?,
    ))
}

/// A plain-HTTP client that sends `headers` with every call and gives up
/// after `timeout`.
pub(crate) fn http_client(
    headers: reqwest::header::HeaderMap,
    timeout: Duration,
) -> Result<reqwest::Client, String> {
    // reqwest is built without a TLS provider of its own (the client crate
    // chooses one); it wants one installed even for plain HTTP.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .default_headers(headers)
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot set up HTTP: {e}"))
}

/// A fixtures file, YAML or JSON, as the control spec's `Fixtures`.
fn read_fixtures(file: &Path) -> Result<types::Fixtures, String> {
    let document = crate::fixtures_file::read(file)?;
    serde_json::from_value(document)
        .map_err(|e| format!("{} is not a fixtures document: {e}", file.display()))
}

/// A failed call in one line: the problem's detail when the server sent
/// one. Never the request, which carries the token.
pub(crate) async fn failed(error: progenitor_client::Error<ByteStream>) -> String {
    match error {
        progenitor_client::Error::ErrorResponse(answer) => {
            let status = answer.status();
            let body: Vec<u8> = answer
                .into_inner()
                .into_inner()
                .try_fold(Vec::new(), |mut body, chunk| {
                    body.extend_from_slice(&chunk);
                    std::future::ready(Ok(body))
                })
                .await
                .unwrap_or_default();
            let detail = serde_json::from_slice::<types::Error>(&body)
                .ok()
                .and_then(|problem| problem.detail.or(problem.title))
                .unwrap_or_default();
            format!("the sandbox answered {status}: {detail}")
        }
        progenitor_client::Error::CommunicationError(e) if e.is_timeout() => {
            "the sandbox did not answer in time".to_owned()
        }
        progenitor_client::Error::CommunicationError(e) => {
            format!("cannot reach the sandbox: {}", e.without_url())
        }
        progenitor_client::Error::InvalidRequest(reason) => format!("not sent: {reason}"),
        // Said without the body, which for fixtures holds secrets.
        progenitor_client::Error::InvalidResponsePayload(_, e) => {
            format!("the sandbox's answer does not match the control spec: {e}")
        }
        other => match other.status() {
            Some(status) => format!("unexpected answer from the sandbox: {status}"),
            None => "unexpected answer from the sandbox".to_owned(),
        },
    }
}
