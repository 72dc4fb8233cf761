//! TLS to PostgreSQL, against the server that `cargo xtask ci` starts,
//! with a certificate authority these tests make with the `openssl` tool.
//!
//! Turning TLS on changes the whole server, so these tests are a test
//! binary of their own (cargo runs test binaries one after another), take
//! turns within it, and turn TLS off again however they end.

use crate::support;

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{KEYS, basic, try_call};
use alphamoon_sandbox::{PgStore, Sandbox, Settings};

/// Held by the test that owns the server's TLS settings.
static SERVER_SETTINGS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A password the server never asks for (it trusts loopback): only there
/// to show that no error repeats the URL.
const PASSWORD: &str = "tls-test-password";

fn admin_url() -> String {
    std::env::var(support::POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{} is not set: run this test through `cargo xtask ci`",
            support::POSTGRES_URL_VAR
        )
    })
}

/// A plain connection to the server's `postgres` database, as the admin.
async fn admin() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&admin_url(), tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
    tokio::spawn(connection);
    client
}

/// Runs `openssl` in `dir` with `args`, words split at spaces.
fn openssl(dir: &Path, args: &str) {
    let output = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl: {e}"));
    assert!(
        output.status.success(),
        "openssl {args}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A new P-256 key, in `openssl req` words.
const NEW_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";

/// Makes `NAME.key` and a self-signed CA certificate `NAME.crt` in `dir`.
fn make_ca(dir: &Path, name: &str) -> PathBuf {
    openssl(
        dir,
        &format!(
            "req -x509 -new {NEW_KEY} -keyout {name}.key -out {name}.crt -days 2 -subj /CN={name} \
             -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign"
        ),
    );
    dir.join(format!("{name}.crt"))
}

/// Makes `server.key` and `server.crt` in `dir`: a certificate that `ca`
/// signed for the name `localhost` only (not for 127.0.0.1).
fn make_server_cert(dir: &Path, ca: &str) {
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions file");
    openssl(
        dir,
        &format!("req -new {NEW_KEY} -keyout server.key -out server.csr -subj /CN=localhost"),
    );
    openssl(
        dir,
        &format!(
            "x509 -req -in server.csr -CA {ca}.crt -CAkey {ca}.key -set_serial 2 -days 2 \
             -extfile server.ext -out server.crt"
        ),
    );
}

/// Waits until a new connection sees `SHOW ssl` as `expected`: the server
/// applies a reload shortly after `pg_reload_conf()` returns.
async fn await_ssl(expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let client = admin().await;
        let row = client.query_one("SHOW ssl", &[]).await.expect("SHOW ssl");
        if row.get::<_, String>(0) == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not reload with ssl = {expected} within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `statements` one by one: ALTER SYSTEM refuses to share the
/// implicit transaction of a multi-statement query.
async fn run_each(statements: &[&str]) {
    let client = admin().await;
    for statement in statements {
        client
            .batch_execute(statement)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

async fn set_ssl_off() {
    run_each(&[
        "ALTER SYSTEM RESET ssl",
        "ALTER SYSTEM RESET ssl_cert_file",
        "ALTER SYSTEM RESET ssl_key_file",
        "SELECT pg_reload_conf()",
    ])
    .await;
    await_ssl("off").await;
}

/// The server with TLS on, its certificate signed by `ca` for
/// `localhost`; `other_ca` signed nothing it serves. Turns TLS off when
/// dropped.
struct TlsServer {
    ca: PathBuf,
    other_ca: PathBuf,
    dir: tempfile::TempDir,
}

impl TlsServer {
    async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        // The server runs as the owner of its data directory (the postgres
        // user when the tests run as root), which must reach these files.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let ca = make_ca(dir.path(), "ca");
        let other_ca = make_ca(dir.path(), "other-ca");
        make_server_cert(dir.path(), "ca");
        let client = admin().await;
        let data: String = client
            .query_one("SHOW data_directory", &[])
            .await
            .expect("SHOW data_directory")
            .get(0);
        let owner = std::fs::metadata(&data).expect("the data directory");
        let key = dir.path().join("server.key");
        // The server refuses a key that others may read.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::os::unix::fs::chown(&key, Some(owner.uid()), Some(owner.gid())).expect("chown");
        std::fs::set_permissions(
            dir.path().join("server.crt"),
            std::fs::Permissions::from_mode(0o644),
        )
        .expect("chmod");
        let server = Self { ca, other_ca, dir };
        let quoted = |name: &str| {
            let path = server.dir.path().join(name);
            format!("'{}'", path.display().to_string().replace('\'', "''"))
        };
        run_each(&[
            &format!("ALTER SYSTEM SET ssl_cert_file = {}", quoted("server.crt")),
            &format!("ALTER SYSTEM SET ssl_key_file = {}", quoted("server.key")),
            "ALTER SYSTEM SET ssl = on",
            "SELECT pg_reload_conf()",
        ])
        .await;
        await_ssl("on").await;
        server
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        // An async drop is not possible; a runtime of its own on a thread
        // of its own works inside the test's runtime too.
        let restored = std::thread::spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(set_ssl_off());
        })
        .join();
        if restored.is_err() && !std::thread::panicking() {
            panic!("could not turn TLS off on the test server");
        }
    }
}

/// Which host name a URL gives. Both reach 127.0.0.1: `localhost` through
/// `hostaddr`, so that the test never depends on how the name resolves.
#[derive(Clone, Copy)]
enum Host {
    /// The name the server's certificate is for.
    Localhost,
    /// An address the certificate does not name.
    Loopback,
}

/// The URL of `database` (a URL from `fresh_postgres_database`) with
/// `host`, a password, and `params` in its query.
fn url(database: &str, host: Host, params: &str) -> String {
    let with_password = database.replacen("postgres@", &format!("postgres:{PASSWORD}@"), 1);
    let mut query = params.to_owned();
    let url = match host {
        Host::Localhost => {
            query.push_str(if query.is_empty() { "" } else { "&" });
            query.push_str("hostaddr=127.0.0.1");
            with_password.replacen("@127.0.0.1:", "@localhost:", 1)
        }
        Host::Loopback => with_password,
    };
    assert!(url.contains(PASSWORD) && !url.contains('?'), "{url}");
    if query.is_empty() {
        url
    } else {
        format!("{url}?{query}")
    }
}

/// `sslrootcert=PATH`, percent-encoded.
fn root_cert(path: &Path) -> String {
    let path = path.to_str().expect("a UTF-8 path");
    format!(
        "sslrootcert={}",
        percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// The name of the database a URL from `fresh_postgres_database` names.
fn name_of(database: &str) -> &str {
    database.rsplit_once('/').expect("a database").1
}

/// Whether each connection to `database` is encrypted, as the server sees
/// it; at least one must be open.
async fn encrypted(database: &str) -> Vec<bool> {
    let rows = admin()
        .await
        .query(
            "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = $1",
            &[&name_of(database)],
        )
        .await
        .expect("pg_stat_ssl");
    let encrypted: Vec<bool> = rows.iter().map(|row| row.get(0)).collect();
    assert!(!encrypted.is_empty(), "no connection to {database}");
    encrypted
}

/// Connects a store with `params` and returns whether its connections are
/// encrypted, or the error, which must not hold the password.
async fn connect(host: Host, params: &str) -> Result<Vec<bool>, String> {
    let database = support::fresh_postgres_database().await;
    match PgStore::connect(&url(&database, host, params), 2).await {
        Ok(store) => {
            let encrypted = encrypted(&database).await;
            drop(store);
            Ok(encrypted)
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.contains(PASSWORD), "{message}");
            Err(message)
        }
    }
}

async fn assert_encrypted(host: Host, params: &str) {
    let encrypted = connect(host, params)
        .await
        .unwrap_or_else(|e| panic!("{params}: {e}"));
    assert!(encrypted.iter().all(|&on| on), "{params}: {encrypted:?}");
}

async fn assert_plain(host: Host, params: &str) {
    let encrypted = connect(host, params)
        .await
        .unwrap_or_else(|e| panic!("{params}: {e}"));
    assert!(encrypted.iter().all(|&on| !on), "{params}: {encrypted:?}");
}

async fn assert_refused(host: Host, params: &str, reason: &str) {
    match connect(host, params).await {
        Ok(encrypted) => panic!("{params} connected ({encrypted:?})"),
        Err(message) => assert!(message.contains(reason), "{params}: {message}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn verify_full_with_the_right_ca_serves_requests_over_tls() {
    let _turn = SERVER_SETTINGS.lock().await;
    let server = TlsServer::start().await;
    let database = support::fresh_postgres_database().await;
    let params = format!("sslmode=verify-full&{}", root_cert(&server.ca));
    let store = Arc::new(
        PgStore::connect(&url(&database, Host::Localhost, &params), 4)
            .await
            .expect("verify-full with the server's CA connects"),
    );
    let (_, admin_key) = alphamoon_sandbox::create_org(store.as_ref(), "Acme")
        .await
        .expect("org");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sandbox = Sandbox::serve(listener, store, &Settings::default()).expect("serve");
    let answer = try_call(&sandbox.url(), "GET", KEYS, Some(&basic(&admin_key)), None)
        .await
        .expect("the sandbox answers");
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.body["pagination"]["total"], 1, "{:?}", answer.body);
    let encrypted = encrypted(&database).await;
    assert!(encrypted.iter().all(|&on| on), "{encrypted:?}");
    sandbox
        .shutdown(Duration::from_secs(5))
        .await
        .expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn a_server_signed_by_another_ca_is_refused_whenever_a_root_cert_is_given() {
    let _turn = SERVER_SETTINGS.lock().await;
    let server = TlsServer::start().await;
    let other = root_cert(&server.other_ca);
    for mode in ["verify-full", "verify-ca", "require", "prefer"] {
        assert_refused(
            Host::Localhost,
            &format!("sslmode={mode}&{other}"),
            "invalid peer certificate: UnknownIssuer",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn verify_full_checks_the_host_name_and_verify_ca_does_not() {
    let _turn = SERVER_SETTINGS.lock().await;
    let server = TlsServer::start().await;
    let ca = root_cert(&server.ca);
    assert_refused(
        Host::Loopback,
        &format!("sslmode=verify-full&{ca}"),
        "certificate not valid for name",
    )
    .await;
    assert_encrypted(Host::Loopback, &format!("sslmode=verify-ca&{ca}")).await;
    assert_encrypted(Host::Localhost, &format!("sslmode=verify-ca&{ca}")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn without_a_ca_require_and_prefer_encrypt_and_disable_does_not() {
    let _turn = SERVER_SETTINGS.lock().await;
    let _server = TlsServer::start().await;
    assert_encrypted(Host::Loopback, "sslmode=require").await;
    assert_encrypted(Host::Loopback, "sslmode=prefer").await;
    // The default is libpq's: prefer.
    assert_encrypted(Host::Loopback, "").await;
    assert_plain(Host::Loopback, "sslmode=disable").await;
    // A verifying mode never goes without a root certificate.
    assert_refused(
        Host::Loopback,
        "sslmode=verify-ca",
        "sslmode=verify-ca needs sslrootcert",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn a_server_without_tls_gets_plain_text_only_from_prefer() {
    let _turn = SERVER_SETTINGS.lock().await;
    // TLS is off unless a test turned it on, and each turns it off again.
    assert_plain(Host::Loopback, "sslmode=prefer").await;
    assert_plain(Host::Loopback, "").await;
    assert_refused(
        Host::Loopback,
        "sslmode=require",
        "server does not support TLS",
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = make_ca(dir.path(), "ca");
    assert_refused(
        Host::Localhost,
        &format!("sslmode=verify-full&{}", root_cert(&ca)),
        "server does not support TLS",
    )
    .await;
}

/// A bad TLS parameter stops the binary at start with a message that names
/// it, before any connection is tried (nothing listens on port 1).
#[test]
fn bad_tls_parameters_stop_the_binary_and_say_why() {
    let base = format!("postgres://sandbox:{PASSWORD}@127.0.0.1:1/sandbox");
    for (query, reason) in [
        (
            "sslmode=verify-everything",
            "invalid sslmode `verify-everything`",
        ),
        (
            "sslmode=verify-full",
            "sslmode=verify-full needs sslrootcert",
        ),
        ("sslcert=client.pem", "unknown option `sslcert`"),
        (
            "sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
            "cannot read the sslrootcert file /nonexistent/ca.pem",
        ),
    ] {
        let output = crate::support::binary()
            .args(["--listen", "127.0.0.1:0", "--database-url"])
            .arg(format!("{base}?{query}"))
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{query}: {stderr}");
        assert!(stderr.contains(reason), "{query}: {stderr}");
        assert!(!stderr.contains(PASSWORD), "{query}: {stderr}");
    }
}
