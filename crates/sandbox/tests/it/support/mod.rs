//! Shared by the sandbox's tests: raw HTTP calls whose every response is
//! checked against the published spec, and a client for typed flows.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use alphamoon_client::{Client, RetryPolicy};
use alphamoon_sandbox::{PgStore, Sandbox, Settings, SqliteStore, Store};
use base64::Engine as _;
use serde_json::Value;

/// The published spec, the contract every response is held to.
pub fn spec() -> &'static Value {
    static SPEC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        serde_json::from_str(include_str!(
            "../../../../../openapi/alphamoon-workspace.json"
        ))
        .expect("the spec is JSON")
    })
}

/// The sandbox control plane's published spec, the contract of every
/// answer under `/_sandbox/`.
pub fn control_spec() -> &'static Value {
    static SPEC: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    SPEC.get_or_init(|| {
        serde_json::from_str(include_str!(
            "../../../../../openapi/alphamoon-sandbox-control.json"
        ))
        .expect("the control spec is JSON")
    })
}

/// The spec that describes `path`, and the authentication scheme its 401s
/// name.
fn contract(path: &str) -> (&'static Value, &'static str) {
    if path.starts_with("/_sandbox/") {
        (control_spec(), "Bearer")
    } else {
        (spec(), "Basic")
    }
}

fn resolve<'a>(spec: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(r) => spec
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {r}")),
        None => value,
    }
}

/// The spec path template an actual request path matches.
fn template<'a>(spec: &'a Value, path: &str) -> Option<&'a str> {
    spec["paths"].as_object()?.keys().find_map(|t| {
        let (t_parts, p_parts): (Vec<_>, Vec<_>) =
            (t.split('/').collect(), path.split('/').collect());
        let matches = t_parts.len() == p_parts.len()
            && t_parts
                .iter()
                .zip(&p_parts)
                .all(|(t, p)| t.starts_with('{') || t == p);
        matches.then_some(t.as_str())
    })
}

/// Checks a response against the spec: the status is documented for the
/// operation, the content type is declared, the body matches the schema,
/// and the headers every response must carry are there.
pub fn assert_conforms(method: &str, path: &str, response: &Answer) {
    assert_eq!(
        response.header("cache-control"),
        Some("no-store"),
        "{method} {path}: every response sends Cache-Control: no-store"
    );
    let (spec, scheme) = contract(path);
    if response.status == 401 {
        assert!(
            response
                .header("www-authenticate")
                .is_some_and(|v| v.starts_with(scheme)),
            "{method} {path}: 401 without WWW-Authenticate: {scheme}"
        );
    }
    let Some(template) = template(spec, path) else {
        // Not an operation of the spec: the body is still a problem.
        assert_eq!(
            response.header("content-type"),
            Some("application/problem+json")
        );
        validate_problem(spec, response, method, path);
        return;
    };
    let operation = &spec["paths"][template][method.to_ascii_lowercase()];
    if operation.is_null() {
        assert_eq!(response.status, 405, "{method} {path}: undocumented method");
        validate_problem(spec, response, method, path);
        return;
    }
    let documented = resolve(spec, &operation["responses"][response.status.to_string()]);
    assert!(
        !documented.is_null(),
        "{method} {path}: status {} is not documented",
        response.status
    );
    if documented["content"].is_null() {
        assert!(
            response.body.is_null(),
            "{method} {path} {}: a body where none is documented",
            response.status
        );
        return;
    }
    let content_type = response.header("content-type").unwrap_or_default();
    let media = &documented["content"][content_type];
    assert!(
        !media.is_null(),
        "{method} {path} {}: content type `{content_type}` is not declared",
        response.status
    );
    validate(spec, &media["schema"], &response.body, method, path);
}

/// Outside the spec's operations, every answer is still a problem body.
fn validate_problem(spec: &Value, response: &Answer, method: &str, path: &str) {
    validate(
        spec,
        &spec["components"]["schemas"]["Error"],
        &response.body,
        method,
        path,
    );
}

fn validate(spec: &Value, schema: &Value, body: &Value, method: &str, path: &str) {
    let root = draft4(&serde_json::json!({ "components": spec["components"], "allOf": [schema] }));
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(true)
        .build(&root)
        .expect("spec schemas compile");
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{method} {path}: body {body} breaks the spec: {errors:?}"
    );
}

/// OpenAPI 3.0's `nullable: true`, which JSON Schema draft 4 would
/// ignore, as `null` among the allowed types.
fn draft4(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out: serde_json::Map<String, Value> =
                map.iter().map(|(k, v)| (k.clone(), draft4(v))).collect();
            if out.remove("nullable") == Some(Value::Bool(true))
                && let Some(Value::String(kind)) = out.get("type").cloned()
            {
                out.insert("type".to_owned(), serde_json::json!([kind, "null"]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(draft4).collect()),
        other => other.clone(),
    }
}

/// Fails if a journal answer holds any form of a secret: a key or token as
/// such, base64-encoded (as in a Basic header), or as its stored hash; or
/// anything shaped like a key or a credential header.
pub fn assert_no_secret(journal: &Value, secrets: &[&str]) {
    assert_text_has_no_secret("the journal", &journal.to_string(), secrets);
}

/// Fails if `text` (a journal, a log) holds any form of a secret: a key or
/// token as such, percent-encoded as a careless client would send it,
/// base64-encoded (as in a Basic header), or as its stored hash; or
/// anything shaped like a key or a credential header.
pub fn assert_text_has_no_secret(what: &str, text: &str, secrets: &[&str]) {
    use base64::Engine as _;
    for shape in ["amk_", "amc_", "YW1rX", "Basic ", "Bearer "] {
        assert!(!text.contains(shape), "{what} holds `{shape}`: {text}");
    }
    for secret in secrets {
        let hash: String = alphamoon_sandbox::keys::hash(secret)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let body = secret.get(4..).unwrap_or_default();
        let percent_encoded: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
        for form in [
            secret.to_string(),
            base64::engine::general_purpose::STANDARD.encode(secret),
            base64::engine::general_purpose::STANDARD.encode(format!("{secret}:")),
            hash,
            // A secret's body survives any prefix or encoding of its
            // first characters.
            body.to_owned(),
            percent_encoded,
        ] {
            assert!(!text.contains(&form), "{what} holds a secret: {text}");
        }
    }
}

/// A response as the tests see it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `detail` of a problem body.
    pub fn detail(&self) -> &str {
        self.body["detail"].as_str().unwrap_or_default()
    }

    /// The `field` of a problem body.
    pub fn field(&self) -> Option<&str> {
        self.body["field"].as_str()
    }
}

/// `Authorization: Basic base64(secret)`, the vendor's form.
pub fn basic(secret: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(secret)
    )
}

/// Sends one raw request (the server checks its answer against the spec).
pub async fn call(
    sandbox: &Sandbox,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<(&str, String)>,
) -> Answer {
    try_call(&sandbox.url(), method, path, authorization, body)
        .await
        .expect("the sandbox answers")
}

/// Sends one raw request to the sandbox at `url`, a process of its own,
/// and checks its answer against the spec here. `Err` if no answer came
/// (the connection failed or was cut).
pub async fn try_call(
    url: &str,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Option<(&str, String)>,
) -> Result<Answer, reqwest::Error> {
    // reqwest is built without a default TLS provider (the client crate
    // brings its own); these plain-HTTP calls still need one installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::new();
    let method_value = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = http.request(method_value, format!("{url}{path}"));
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    if let Some((content_type, body)) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await?;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{method} {path}: body is not JSON ({e}): {bytes:?}"))
    };
    let answer = Answer {
        status,
        headers,
        body,
    };
    assert_conforms(method, path.split('?').next().unwrap_or(path), &answer);
    Ok(answer)
}

pub const KEYS: &str = "/api/v0.4/admin/api-keys";

/// A create request body.
pub fn create_body(name: &str, scopes: &[&str]) -> (&'static str, String) {
    let exp = (chrono::Utc::now() + chrono::Duration::days(90)).to_rfc3339();
    (
        "application/json",
        serde_json::json!({ "name": name, "exp": exp, "scopes": scopes }).to_string(),
    )
}

/// A sandbox with the rate limit out of the way, and one org's admin key.
pub async fn sandbox() -> (Sandbox, String) {
    sandbox_with(Settings {
        rate_limit: None,
        org_rate_limit: None,
        ..Settings::default()
    })
    .await
}

/// A sandbox as [`sandbox`] makes it, with the control plane on under
/// `token`.
pub async fn controlled_by(token: &str) -> (Sandbox, String) {
    sandbox_with(Settings {
        rate_limit: None,
        org_rate_limit: None,
        control_token: Some(alphamoon_sandbox::ControlToken::new(token)),
        ..Settings::default()
    })
    .await
}

/// A sandbox whose every response, to raw calls and client calls alike,
/// is checked against the spec before it leaves the server.
pub async fn sandbox_with(settings: Settings) -> (Sandbox, String) {
    sandbox_on(fresh_store().await, settings).await
}

/// A sandbox as [`sandbox_with`] makes it, on `store`: a test's own
/// wrapper, say, that tells the test when a request has reached it.
pub async fn sandbox_on(store: Arc<dyn Store>, settings: Settings) -> (Sandbox, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (app, controls) = alphamoon_sandbox::app(store, &settings);
    let app = app.layer(axum::middleware::from_fn(check_against_spec));
    let sandbox =
        Sandbox::serve_app(listener, controls, app, settings.connections).expect("sandbox starts");
    let (_, admin) = sandbox.create_org("Acme").await.expect("org");
    (sandbox, admin)
}

/// The PostgreSQL server the suite runs against, as the URL of its
/// `postgres` database: set by `cargo xtask ci`, which starts the server.
pub const POSTGRES_URL_VAR: &str = "ALPHAMOON_TEST_POSTGRES_URL";

/// A script that runs `pg_ctl` for that server (`stop -m fast`, `start`):
/// set by `cargo xtask ci` beside [`POSTGRES_URL_VAR`].
pub const POSTGRES_CTL_VAR: &str = "ALPHAMOON_TEST_POSTGRES_CTL";

/// That server's log file: set by `cargo xtask ci` beside
/// [`POSTGRES_URL_VAR`].
pub const POSTGRES_LOG_VAR: &str = "ALPHAMOON_TEST_POSTGRES_LOG";

/// How many deadlocks the test PostgreSQL server has reported in its log
/// so far. Fails the test if the log is not configured or readable.
pub fn postgres_deadlocks() -> usize {
    let log = std::env::var(POSTGRES_LOG_VAR).unwrap_or_else(|_| {
        panic!("{POSTGRES_LOG_VAR} is not set: run this test through `cargo xtask ci`")
    });
    let text = std::fs::read(&log).unwrap_or_else(|e| panic!("cannot read {log}: {e}"));
    String::from_utf8_lossy(&text)
        .matches("deadlock detected")
        .count()
}

/// A fresh, empty store for one test: a new database on the PostgreSQL
/// server named by [`POSTGRES_URL_VAR`] when it is set, else SQLite in
/// memory. So `cargo test` runs the behaviour suite on SQLite, and
/// `cargo xtask ci` runs it again on PostgreSQL.
pub async fn fresh_store() -> Arc<dyn Store> {
    if std::env::var_os(POSTGRES_URL_VAR).is_some() {
        Arc::new(
            PgStore::connect(&fresh_postgres_database().await, 8)
                .await
                .expect("PostgreSQL store"),
        )
    } else {
        Arc::new(SqliteStore::in_memory().expect("store"))
    }
}

/// Creates an empty database on the test PostgreSQL server and returns
/// its URL. Fails the test if the server is not configured or reachable:
/// a PostgreSQL test never passes by skipping itself.
pub async fn fresh_postgres_database() -> String {
    let admin = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!("{POSTGRES_URL_VAR} is not set: run this test through `cargo xtask ci`")
    });
    let (client, connection) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
    let connection = tokio::spawn(connection);
    let name = format!(
        "sandbox_test_{}",
        alphamoon_sandbox::keys::random_hex(8).expect("random")
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the test database");
    drop(client);
    let _ = connection.await;
    let (server, _) = admin.rsplit_once('/').expect("the URL names a database");
    format!("{server}/{name}")
}

/// Whether `path` is one of the pages a person reads, which neither spec
/// describes: `tests/it/pages.rs` checks them.
fn is_page(path: &str) -> bool {
    ["/docs", "/_sandbox/docs", "/_sandbox/console"]
        .iter()
        .any(|page| path == *page || path.starts_with(&format!("{page}/")))
}

/// Fails the test (the panic drops the connection) if a response breaks
/// the spec.
async fn check_against_spec(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    if method == "HEAD"
        || is_page(&path)
        || response
            .extensions()
            .get::<alphamoon_sandbox::DroppedConnection>()
            .is_some()
    {
        // A dropped connection answers nothing to check.
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.expect("body");
    let answer = Answer {
        status: parts.status.as_u16(),
        headers: parts.headers.clone(),
        body: if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{method} {path}: body is not JSON ({e}): {bytes:?}"))
        },
    };
    assert_conforms(&method, &path, &answer);
    axum::response::Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// The organization whose key `secret` is.
pub async fn org_of(sandbox: &Sandbox, secret: &str) -> String {
    sandbox
        .store()
        .key_by_secret_hash(&alphamoon_sandbox::keys::hash(secret))
        .await
        .expect("store")
        .expect("key exists")
        .org_id
}

/// A client for `secret` against `sandbox`, without retries.
pub fn client(sandbox: &Sandbox, secret: &str) -> Client {
    Client::builder(secret)
        .base_url(&sandbox.url())
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client")
}

/// Stores `count` keys named `{prefix}0`, `{prefix}1`, … in `org`, valid
/// for an hour, in creation order.
pub async fn add_keys(sandbox: &Sandbox, org: &str, prefix: &str, count: usize) {
    for i in 0..count {
        alphamoon_sandbox::issue_key(
            sandbox.store(),
            org,
            &format!("{prefix}{i}"),
            &[alphamoon_client::Scope::WorkspaceFileUpload],
            chrono::Utc::now().timestamp() + 3600,
        )
        .await
        .expect("key");
    }
}

/// The sandbox binary that cargo built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_alphamoon-sandbox");

/// Starts the binary on a free loopback port, with both rate limits off,
/// serving `db`, plus `extra` flags; its stderr is appended to `log`.
/// Waits for its `listening on` line and returns the process and its URL.
///
/// This also tests that line as scripts rely on it: it must be the first
/// line on stdout and name a loopback URL, and anything else fails the
/// test. The xtask's `process::Server` is the tool-side counterpart, which
/// reports failures as errors instead.
pub fn start_binary(
    db: &std::path::Path,
    extra: &[&std::ffi::OsStr],
    log: &std::path::Path,
) -> (std::process::Child, String) {
    let mut args: Vec<&std::ffi::OsStr> = vec![
        "--rate-limit".as_ref(),
        "0".as_ref(),
        "--org-rate-limit".as_ref(),
        "0".as_ref(),
        "--db".as_ref(),
        db.as_os_str(),
    ];
    args.extend_from_slice(extra);
    start_serving(&args, log)
}

/// Starts the binary as a replica on the PostgreSQL database at
/// `database_url`, with `extra` flags (the rate limits stay at their
/// defaults unless given), as [`start_binary`] does.
pub fn start_replica(
    database_url: &str,
    extra: &[&str],
    log: &std::path::Path,
) -> (std::process::Child, String) {
    let mut args: Vec<&std::ffi::OsStr> = vec!["--database-url".as_ref(), database_url.as_ref()];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    start_serving(&args, log)
}

/// Starts the binary serving on a free loopback port with `args`.
fn start_serving(
    args: &[&std::ffi::OsStr],
    log: &std::path::Path,
) -> (std::process::Child, String) {
    start_serving_with(args, log, &[])
}

/// The binary, as a command to run, without the `ALPHAMOON_SANDBOX_*`
/// variables of whoever runs the tests.
pub fn binary() -> std::process::Command {
    let mut command = std::process::Command::new(BIN);
    isolated(&mut command);
    command
}

/// `command` without the `ALPHAMOON_SANDBOX_*` variables of whoever runs
/// the tests: the binary reads every flag from one, so a URL left in a
/// developer's shell would otherwise steer the test.
pub fn isolated(command: &mut std::process::Command) -> &mut std::process::Command {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("ALPHAMOON_SANDBOX_") {
            command.env_remove(name);
        }
    }
    command
}

/// Starts the binary on SQLite at `db`, as [`start_binary`] does, with
/// `env` set for it (`RUST_LOG`, say).
pub fn start_binary_with_env(
    db: &std::path::Path,
    extra: &[&std::ffi::OsStr],
    log: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    let mut args: Vec<&std::ffi::OsStr> = vec!["--db".as_ref(), db.as_os_str()];
    args.extend_from_slice(extra);
    start_serving_with(&args, log, env)
}

fn start_serving_with(
    args: &[&std::ffi::OsStr],
    log: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    spawn_listening(
        binary()
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied()),
        log,
    )
}

/// Spawns `command`, a sandbox that serves, with its stderr appended to
/// `log`, and waits for its `listening on` line; returns the process and
/// its URL, which must be on 127.0.0.1.
pub fn spawn_listening(
    command: &mut std::process::Command,
    log: &std::path::Path,
) -> (std::process::Child, String) {
    use std::io::BufRead as _;

    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("stderr log");
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("the binary starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("a line on stdout");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| {
            let _ = child.wait();
            panic!(
                "unexpected first line: {line:?}; stderr: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    (child, url)
}

/// How long a test waits for a state it polls for before it fails: far
/// beyond what any of them takes on a loaded machine.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(10);

/// Waits until `done` resolves to true, asking every 10 ms, and fails the
/// test naming `what` once [`PATIENCE`] has run out. A test that must see
/// a state before it goes on waits for that state, not for a guessed time.
pub async fn wait_until<F, Fut>(what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + PATIENCE;
    while !done().await {
        assert!(
            std::time::Instant::now() < deadline,
            "gave up after {PATIENCE:?} waiting until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// Stops the sandbox clock, a second past its now, and returns where it
/// stands: from then on nothing that runs on it (expiry, rate-limit
/// refills) moves unless the test moves it. The second's margin keeps the
/// freeze from being refused as a move back should the clock tick into
/// its next second between the read and the freeze.
pub async fn freeze_clock(sandbox: &Sandbox) -> chrono::DateTime<chrono::Utc> {
    let now = sandbox.control().clock().await.expect("clock").now;
    let frozen = sandbox
        .control()
        .set_clock(alphamoon_sandbox::ClockMove::FreezeAt(
            now + chrono::Duration::seconds(1),
        ))
        .await
        .expect("freeze");
    assert!(frozen.frozen, "{frozen:?}");
    frozen.now
}

/// Moves the sandbox clock `seconds` forward and returns its new now.
pub async fn advance_clock(sandbox: &Sandbox, seconds: i64) -> chrono::DateTime<chrono::Utc> {
    sandbox
        .control()
        .set_clock(alphamoon_sandbox::ClockMove::AdvanceBySeconds(seconds))
        .await
        .expect("advance")
        .now
}
