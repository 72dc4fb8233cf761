//! Serving the API on a socket, and stopping gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use crate::http::record::DroppedConnection;
use crate::model::org::Org;
use crate::model::settings::{ConnectionLimits, Settings};
use crate::service::control_error::ControlError;
use crate::service::controls::Controls;
use crate::store::contract::Store;

// A connection's header-read and idle clocks.
mod timers;

/// A sandbox server running in this process.
///
/// [`shutdown`](Self::shutdown) stops it gracefully. Dropping it starts the
/// same graceful stop without waiting for it to finish.
pub struct Sandbox {
    addr: SocketAddr,
    controls: Controls,
    /// Requests whose handler is running, to tell at shutdown a request cut
    /// off from a connection that only held a socket.
    in_flight: Arc<AtomicUsize>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Serves `store` on `listener` until shut down or dropped.
    pub fn serve(
        listener: TcpListener,
        store: Arc<dyn Store>,
        settings: &Settings,
    ) -> std::io::Result<Self> {
        let (app, controls) = crate::http::app::app(store, settings);
        Self::serve_app(listener, controls, app, settings.connections)
    }

    /// Serves `app`, a router made by [`app`](crate::http::app::app) with any extra
    /// layers (tests add one that checks every response against the spec),
    /// with the controls made with it.
    pub fn serve_app(
        listener: TcpListener,
        controls: Controls,
        app: axum::Router,
        limits: ConnectionLimits,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let in_flight = Arc::new(AtomicUsize::new(0));
        let app = app.layer(axum::middleware::from_fn_with_state(
            Arc::clone(&in_flight),
            count_in_flight,
        ));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(accept_loop(listener, app, limits, stopped));
        Ok(Self {
            addr,
            controls,
            in_flight,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Starts a server on `127.0.0.1` at a free port with a fresh in-memory
    /// database: for tests, examples and the quickstart.
    pub async fn start_in_memory(
        settings: Settings,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let store: Arc<dyn Store> = Arc::new(crate::store::sqlite::SqliteStore::in_memory()?);
        Ok(Self::serve(listener, store, &settings)?)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give a client, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's store, for setting up test data directly.
    pub fn store(&self) -> &dyn Store {
        self.controls.store()
    }

    /// The control plane in process: reset, organizations, fixtures, the
    /// journal, faults and the clock, as the HTTP control API offers them.
    pub fn control(&self) -> &Controls {
        &self.controls
    }

    /// Resets the sandbox, as [`Controls::reset`] does.
    pub async fn reset(&self) -> Result<(), ControlError> {
        self.controls.reset().await
    }

    /// Loads a fixtures document, as [`Controls::load_fixtures`] does.
    pub async fn load_fixtures(
        &self,
        document: &serde_json::Value,
    ) -> Result<crate::control_client::types::LoadedFixtures, ControlError> {
        self.controls.load_fixtures(document).await
    }

    /// Adds an organization and returns it with its first admin key, as
    /// [`Controls::create_org`] does.
    pub async fn create_org(&self, name: &str) -> Result<(Org, String), ControlError> {
        self.controls.create_org(name).await
    }

    /// Stops accepting connections, lets the requests in flight finish and
    /// closes idle connections, then returns. After `grace` every connection
    /// left is closed; that is an error only if a request was still running
    /// on one, not if it merely had not finished sending its headers.
    pub async fn shutdown(mut self, grace: Duration) -> Result<(), ShutdownError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        match tokio::time::timeout(grace, &mut task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(error))) => Err(ShutdownError::Serve(error)),
            Ok(Err(join)) => Err(ShutdownError::Serve(std::io::Error::other(join))),
            Err(_) => {
                let running = self.in_flight.load(Ordering::SeqCst);
                task.abort();
                let _ = task.await;
                if running == 0 {
                    Ok(())
                } else {
                    Err(ShutdownError::GraceExpired(grace))
                }
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The router as hyper's service. A response marked [`DroppedConnection`]
/// becomes an error, on which hyper closes the connection without writing
/// anything: the client sees the connection end with no answer. Each
/// request stops the connection's head and idle clocks while it runs.
fn answer_or_drop(
    app: axum::Router,
    timers: Arc<timers::Timers>,
) -> impl hyper::service::Service<
    hyper::Request<hyper::body::Incoming>,
    Response = axum::response::Response,
    Error = DroppedConnectionError,
    Future = impl Future<Output = Result<axum::response::Response, DroppedConnectionError>> + Send,
> + Clone {
    hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let mut app = app.clone();
        let running = timers.request();
        async move {
            let _running = running;
            let response =
                tower_service::Service::call(&mut app, request.map(axum::body::Body::new))
                    .await
                    .unwrap_or_else(|never| match never {});
            if response.extensions().get::<DroppedConnection>().is_some() {
                Err(DroppedConnectionError)
            } else {
                Ok(response)
            }
        }
    })
}

/// Why hyper closed a connection without an answer: a fault asked for it.
#[derive(Debug)]
struct DroppedConnectionError;

impl std::fmt::Display for DroppedConnectionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a fault")
    }
}

impl std::error::Error for DroppedConnectionError {}

/// Counts the request while its handler runs; the guard also counts down a
/// request whose connection went away mid-handler.
async fn count_in_flight(
    axum::extract::State(in_flight): axum::extract::State<Arc<AtomicUsize>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    struct Running(Arc<AtomicUsize>);
    impl Drop for Running {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    in_flight.fetch_add(1, Ordering::SeqCst);
    let _running = Running(in_flight);
    next.run(request).await
}

/// Accepts connections until `stopped` fires, then lets the open ones
/// finish. Each connection runs as a task of this loop's `JoinSet`, so that
/// aborting the loop (a shutdown whose grace ran out) closes them all too.
async fn accept_loop(
    listener: TcpListener,
    app: axum::Router,
    limits: ConnectionLimits,
    mut stopped: oneshot::Receiver<()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut http = http1::Builder::new();
    // A client that sends its request and then shuts down its sending side
    // (`nc -N`, many scripts) still gets its answer, and its DELETE still
    // happens; by default hyper would drop the request on that end of input.
    // hyper's header timer would also run while a keep-alive connection is
    // idle; `timers` keeps the two clocks apart instead.
    http.header_read_timeout(None).half_close(true);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            _ = &mut stopped => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // A client that gave up before we accepted it: nothing to
                // wait for.
                Err(error) if is_connection_error(&error) => continue,
                Err(error) => {
                    // Out of file descriptors and the like: the listener is
                    // fine, but accepting again at once would spin.
                    tracing::error!(%error, "accept failed; pausing before the next");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stopped => break,
        };
        let timers = timers::Timers::new(limits.header_read_timeout, limits.idle_timeout);
        let service = answer_or_drop(app.clone(), Arc::clone(&timers));
        let io = TokioIo::new(timers::Watched::new(stream, Arc::clone(&timers)));
        let connection = graceful.watch(http.serve_connection(io, service));
        connections.spawn(async move {
            // Dropping the connection closes it without an answer, as hyper
            // does when its own header timer fires.
            tokio::select! {
                ended = connection => if let Err(error) = ended {
                    tracing::debug!(%error, "connection ended with an error");
                },
                expired = timers.expired() => tracing::debug!(?expired, "connection timed out"),
            }
            drop(slot);
        });
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// Why [`Sandbox::shutdown`] did not end cleanly.
#[derive(Debug)]
pub enum ShutdownError {
    /// Requests were still running when the grace period ran out; they were
    /// cut off.
    GraceExpired(Duration),
    /// The server itself failed.
    Serve(std::io::Error),
}

impl std::fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::GraceExpired(grace) => write!(
                f,
                "requests were still running after {grace:?} and were cut off"
            ),
            Self::Serve(error) => write!(f, "the server failed: {error}"),
        }
    }
}

impl std::error::Error for ShutdownError {}
