//! The `alphamoon-sandbox` binary as outside scripts use it: bootstrap,
//! concurrent creates, `kill -9`, restart, and `org create`.

use crate::support;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::support::BIN;
use alphamoon_client::{Client, RetryPolicy, Scope, types};

/// The binary on `dir/sandbox.db`, bootstrapping `dir/admin.key`.
fn start(dir: &Path) -> (Child, String) {
    let key_file = dir.join("admin.key");
    support::start_binary(
        &dir.join("sandbox.db"),
        &["--bootstrap-key-file".as_ref(), key_file.as_os_str()],
        &dir.join("stderr.log"),
    )
}

/// Runs a command that should refuse to start and exit. One that starts
/// serving instead is killed, and fails the test rather than hanging it.
fn refused(command: &mut Command) -> std::process::Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} is still running after 20 s: it started instead of refusing");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let output = child.wait_with_output().expect("output");
    assert!(!output.status.success(), "{command:?} exited 0");
    output
}

/// The stderr of a start on `db` bootstrapping `key_file`, which should
/// refuse.
fn bootstrap_refused(db: &Path, key_file: &Path) -> String {
    let output = refused(
        crate::support::binary()
            .args(["--listen", "127.0.0.1:0", "--db"])
            .arg(db)
            .arg("--bootstrap-key-file")
            .arg(key_file),
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Checks that `admin` works on `server` and is its only key, then stops
/// `server`.
fn assert_only_key_is(mut server: Child, url: &str, admin: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let page = runtime
        .block_on(client(url, admin).list_api_keys().send())
        .expect("the admin key works")
        .into_inner();
    assert_eq!(page.pagination.total, 1);
    server.kill().expect("kill");
    server.wait().expect("reaped");
}

fn client(url: &str, secret: &str) -> Client {
    Client::builder(secret)
        .base_url(url)
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client")
}

fn db_bytes(dir: &Path) -> Vec<u8> {
    ["sandbox.db", "sandbox.db-wal", "sandbox.db-shm"]
        .iter()
        .filter_map(|name| std::fs::read(dir.join(name)).ok())
        .flatten()
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_keys_survive_kill_9_and_no_secret_is_stored_or_printed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut server, url) = start(dir.path());

    let key_file = dir.path().join("admin.key");
    let admin = std::fs::read_to_string(&key_file).expect("bootstrap key written");
    assert!(alphamoon_sandbox::keys::is_well_formed(&admin), "{admin:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Eight clients create keys at once; every answered create must last.
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let admin_client = client(&url, &admin);
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            for i in 0..5 {
                let created = admin_client
                    .create_api_key()
                    .body(
                        types::CreateApiKeyRequest::builder()
                            .name(format!("worker {worker} key {i}"))
                            .exp(chrono::Utc::now() + chrono::Duration::days(30))
                            .scopes(vec![Scope::WorkspaceAdminApiKeyManage]),
                    )
                    .send()
                    .await
                    .expect("create")
                    .into_inner();
                // Reads interleave with the writes.
                admin_client
                    .list_api_keys()
                    .limit(5)
                    .send()
                    .await
                    .expect("list");
                made.push(created);
            }
            made
        }));
    }
    let mut created = Vec::new();
    for task in tasks {
        created.extend(task.await.expect("worker"));
    }
    assert_eq!(created.len(), 40);

    server.kill().expect("kill -9");
    server.wait().expect("reaped");

    let stored = db_bytes(dir.path());
    assert!(!stored.is_empty());
    for key in created
        .iter()
        .map(|c| c.key.expose_secret())
        .chain([admin.as_str()])
    {
        assert!(
            !contains(&stored, key),
            "a plaintext key is in the database files"
        );
    }

    // Another org, added offline with the subcommand.
    let output = crate::support::binary()
        .args(["org", "create", "--name", "Globex", "--db"])
        .arg(dir.path().join("sandbox.db"))
        .output()
        .expect("org create runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let globex = String::from_utf8(output.stdout)
        .expect("utf8")
        .trim()
        .to_owned();
    assert!(
        alphamoon_sandbox::keys::is_well_formed(&globex),
        "{globex:?}"
    );

    let (mut server, url) = start(dir.path());
    assert_eq!(
        std::fs::read_to_string(&key_file).expect("key file"),
        admin,
        "a restart leaves the bootstrap key file alone"
    );
    let all = client(&url, &admin)
        .list_api_keys()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(all.pagination.total, 41);
    let mut ids: Vec<_> = created.iter().map(|c| c.id.to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 40, "every create got its own id");
    for key in &created {
        let page = client(&url, key.key.expose_secret())
            .list_api_keys()
            .limit(1)
            .send()
            .await
            .expect("a key acknowledged before the crash still works");
        assert_eq!(page.pagination.total, 41);
    }
    let theirs = client(&url, &globex)
        .list_api_keys()
        .send()
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        theirs.pagination.total, 1,
        "the new org sees only its own key"
    );

    server.kill().expect("kill");
    server.wait().expect("reaped");
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).expect("log");
    assert!(!log.contains(&admin), "the bootstrap key was logged");
    assert!(log.contains("admin.key"), "says where the key went: {log}");
    assert!(log.contains("left as it is"), "{log}");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_server_gracefully() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut server, url) = start(dir.path());
    let admin = std::fs::read_to_string(dir.path().join("admin.key")).expect("key");
    client(&url, &admin)
        .list_api_keys()
        .send()
        .await
        .expect("serving");
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = server.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 20 s after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit}");
    let log = std::fs::read_to_string(dir.path().join("stderr.log")).expect("log");
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn help_describes_every_flag_and_the_org_subcommand() {
    let output = crate::support::binary()
        .arg("--help")
        .output()
        .expect("--help");
    let help = String::from_utf8(output.stdout).expect("utf8");
    for flag in [
        "--listen",
        "--db",
        "--in-memory",
        "--bootstrap-key-file",
        "--rate-limit",
        "--org-rate-limit",
        "--header-read-timeout-secs",
        "--idle-timeout-secs",
        "--max-connections",
        "--shutdown-grace-secs",
        "--max-key-lifetime-days",
        "--database-url",
        "ALPHAMOON_SANDBOX_DATABASE_URL",
        "--database-pool-size",
        "--control-token-file",
        "org",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    let output = crate::support::binary()
        .args(["org", "create", "--help"])
        .output()
        .expect("help");
    let help = String::from_utf8(output.stdout).expect("utf8");
    assert!(
        help.contains("--name") && help.contains("--db") && help.contains("--database-url"),
        "{help}"
    );
}

#[test]
fn two_databases_at_once_are_a_usage_error_and_the_url_is_never_shown() {
    let secret_url = "postgres://sandbox:hunter2-secret@127.0.0.1:1/sandbox";
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("sandbox.db");
    for (args, env) in [
        (
            vec![
                "--db",
                db.to_str().expect("utf-8"),
                "--database-url",
                secret_url,
            ],
            None,
        ),
        (vec!["--in-memory", "--database-url", secret_url], None),
        // Two variables, with no flag to settle it.
        (vec![], Some(secret_url)),
    ] {
        let mut command = crate::support::binary();
        command.args(["--listen", "127.0.0.1:0"]).args(&args);
        if let Some(url) = env {
            command
                .env("ALPHAMOON_SANDBOX_DATABASE_URL", url)
                .env("ALPHAMOON_SANDBOX_DB", &db);
        }
        let output = refused(&mut command);
        assert_eq!(output.status.code(), Some(2), "{args:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("each choose a database"),
            "{args:?}: {stderr}"
        );
        assert!(
            !stderr.contains("hunter2"),
            "the password was shown: {stderr}"
        );
    }
    assert!(!db.exists(), "a refused start created the SQLite file");
    // An empty URL is a usage error, and leaves no SQLite file behind.
    let output = refused(
        crate::support::binary()
            .args(["--listen", "127.0.0.1:0"])
            .current_dir(dir.path())
            .env("ALPHAMOON_SANDBOX_DATABASE_URL", ""),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--database-url"), "{stderr}");
    assert!(!dir.path().join("sandbox.db").exists());
    // The env var's value stays out of --help too.
    let help = crate::support::binary()
        .arg("--help")
        .env("ALPHAMOON_SANDBOX_DATABASE_URL", secret_url)
        .output()
        .expect("--help");
    assert!(!String::from_utf8_lossy(&help.stdout).contains("hunter2"));
    // A database that cannot be reached fails the start, and says so
    // without the password.
    let output = refused(crate::support::binary().args([
        "--listen",
        "127.0.0.1:0",
        "--database-url",
        secret_url,
    ]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot open the PostgreSQL database"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the password was shown: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_before_schema_versions_upgrades_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("sandbox.db");
    let secret = alphamoon_sandbox::keys::new_secret().expect("secret");
    {
        // As the 0.2.0 sandbox left it: its schema, one organization and
        // its admin key, and no schema version.
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute_batch("PRAGMA journal_mode = WAL;")
            .expect("wal");
        conn.execute_batch(include_str!("fixtures/sqlite-schema-unversioned.sql"))
            .expect("old schema");
        conn.execute(
            "INSERT INTO orgs (id, name, key_count) VALUES ('ORG:sandbox|old', 'Old', 1)",
            [],
        )
        .expect("org");
        let scopes: Vec<&str> = Scope::ALL.iter().map(Scope::as_str).collect();
        conn.execute(
            "INSERT INTO api_keys (id, org_id, name, scopes, created_at, exp, secret_hash)
             VALUES (?1, 'ORG:sandbox|old', 'kept', ?2, ?3, ?4, ?5)",
            rusqlite::params![
                "0123456789abcdef0123456789abcdef",
                scopes.join(" "),
                chrono::Utc::now().timestamp() - 60,
                chrono::Utc::now().timestamp() + 3600,
                alphamoon_sandbox::keys::hash(&secret).as_slice()
            ],
        )
        .expect("key");
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("version");
        assert_eq!(version, 0);
    }
    let (mut server, url) = support::start_binary(&db, &[], &dir.path().join("stderr.log"));
    let page = client(&url, &secret)
        .list_api_keys()
        .send()
        .await
        .expect("the old key still authenticates")
        .into_inner();
    assert_eq!(page.pagination.total, 1);
    assert_eq!(page.api_keys[0].name, "kept");
    assert_eq!(page.api_keys[0].id, "0123456789abcdef0123456789abcdef");
    let created = client(&url, &secret)
        .create_api_key()
        .body(
            types::CreateApiKeyRequest::builder()
                .name("new")
                .exp(chrono::Utc::now() + chrono::Duration::days(1))
                .scopes(vec![Scope::WorkspaceFileUpload]),
        )
        .send()
        .await;
    assert!(created.is_ok(), "{created:?}");
    server.kill().expect("kill");
    server.wait().expect("reaped");
    let store = alphamoon_sandbox::SqliteStore::open(&db).expect("reopen");
    assert_eq!(
        store.schema_version().expect("version"),
        alphamoon_sandbox::sqlite::SCHEMA_VERSION
    );
}

#[test]
fn a_bootstrap_that_cannot_write_its_key_stores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("sandbox.db");
    let unwritable = dir.path().join("no such directory").join("admin.key");
    let stderr = bootstrap_refused(&db, &unwritable);
    assert!(
        stderr.contains("cannot write the bootstrap key"),
        "{stderr}"
    );
    // Nothing was stored, so the next start, with a writable path,
    // bootstraps as on day one (on a database that held an organization it
    // would write no key file).
    let (server, url) = start(dir.path());
    let admin = std::fs::read_to_string(dir.path().join("admin.key")).expect("key written");
    assert_only_key_is(server, &url, &admin);
}

#[test]
fn a_bootstrap_key_file_on_the_database_is_refused_and_the_database_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut server, _) = start(dir.path());
    let admin = std::fs::read_to_string(dir.path().join("admin.key")).expect("key written");
    server.kill().expect("kill");
    server.wait().expect("reaped");
    let before = db_bytes(dir.path());
    let db = dir.path().join("sandbox.db");
    for key_file in [
        db.clone(),
        dir.path().join("sandbox.db-wal"),
        dir.path().join(".").join("sandbox.db-shm"),
    ] {
        let stderr = bootstrap_refused(&db, &key_file);
        assert!(
            stderr.contains("is the database or one of its files"),
            "{key_file:?}: {stderr}"
        );
        assert_eq!(db_bytes(dir.path()), before, "{key_file:?}");
    }
    // On a fresh database the key would have been renamed over the
    // database the server had just made: named as such, or behind a
    // symlink to a file not made yet, which SQLite follows.
    let fresh = dir.path().join("fresh.db");
    let (link, target) = (dir.path().join("link.db"), dir.path().join("target.db"));
    std::os::unix::fs::symlink("target.db", &link).expect("symlink");
    for (db, key_file) in [(&fresh, &fresh), (&link, &target)] {
        let stderr = bootstrap_refused(db, key_file);
        assert!(stderr.contains("is the database"), "{key_file:?}: {stderr}");
        assert!(!key_file.exists(), "a refused start made {key_file:?}");
    }
    let (server, url) = start(dir.path());
    assert_only_key_is(server, &url, &admin);
}

#[test]
fn a_db_path_starting_with_file_colon_is_a_file_name_not_a_uri() {
    use std::io::BufRead as _;

    // Read as a URI, `file:x.db` would open `x.db`, and the key would be
    // renamed over the database.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = crate::support::binary()
        .args(["--listen", "127.0.0.1:0", "--db", "file:x.db"])
        .args(["--bootstrap-key-file", "x.db"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("runs");
    let mut line = String::new();
    let stdout = server.stdout.take().expect("stdout");
    let read = std::io::BufReader::new(stdout).read_line(&mut line);
    server.kill().expect("kill");
    server.wait().expect("reaped");
    read.expect("stdout");
    assert!(line.starts_with("listening on"), "{line}");
    assert!(dir.path().join("file:x.db").is_file());
    let key = std::fs::read_to_string(dir.path().join("x.db")).expect("key written");
    assert!(alphamoon_sandbox::keys::is_well_formed(key.trim()));
}

#[test]
fn numeric_flags_out_of_range_are_refused_at_startup() {
    for (flag, value) in [
        ("--max-key-lifetime-days", "99999999999999999"),
        ("--max-key-lifetime-days", "0"),
        ("--rate-limit", "1e-9"),
        ("--rate-limit", "-1"),
        ("--rate-limit", "NaN"),
        ("--rate-limit-burst", "0"),
        ("--org-rate-limit", "inf"),
        ("--org-rate-limit-burst", "4294967295"),
        ("--request-timeout-secs", "0"),
        ("--header-read-timeout-secs", "0"),
        ("--idle-timeout-secs", "0"),
        ("--idle-timeout-secs", "3601"),
        ("--max-connections", "0"),
        ("--shutdown-grace-secs", "99999999"),
    ] {
        let output = refused(
            crate::support::binary()
                .args(["--in-memory", "--listen", "127.0.0.1:0"])
                .arg(format!("{flag}={value}")),
        );
        assert_eq!(output.status.code(), Some(2), "{flag} {value} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
    }
}

#[cfg(unix)]
#[test]
fn a_connection_cap_the_open_file_limit_cannot_honour_is_refused() {
    let output = refused(crate::support::isolated(&mut Command::new("sh")).arg("-c").arg(format!(
        "ulimit -n 256 && exec '{BIN}' --in-memory --listen 127.0.0.1:0 --max-connections 1024"
    )));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--max-connections 1024"), "{stderr}");
    // The PostgreSQL pool's connections count too, and are checked before
    // any is opened.
    let output = refused(
        crate::support::isolated(&mut Command::new("sh"))
            .arg("-c")
            .arg(format!(
                "ulimit -n 256 && exec '{BIN}' --listen 127.0.0.1:0 --max-connections 100 \
         --database-url postgres://sandbox@127.0.0.1:1/sandbox --database-pool-size 200"
            )),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--max-connections 100 with --database-pool-size 200 needs 364"),
        "{stderr}"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_token_file_is_made_once_private_and_then_read() {
    use std::os::unix::fs::PermissionsExt as _;

    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("control.token");
    let flags = ["--control-token-file".as_ref(), token_file.as_os_str()];
    let db = dir.path().join("sandbox.db");
    let log = dir.path().join("stderr.log");
    let (mut first, url) = support::start_binary(&db, &flags, &log);
    let token = std::fs::read_to_string(&token_file).expect("token written");
    let mode = std::fs::metadata(&token_file)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the token file is private");
    assert!(token.starts_with("amc_") && token.len() > 40, "{token}");
    let reset = |url: String, token: String| async move {
        support::try_call(
            &url,
            "POST",
            "/_sandbox/v1/reset",
            Some(&format!("Bearer {token}")),
            None,
        )
        .await
        .expect("answers")
        .status
    };
    assert_eq!(reset(url.clone(), token.clone()).await, 204);
    first.kill().expect("kill");
    first.wait().expect("reaped");

    // A restart reads the same token instead of making a new one.
    let (mut second, url) = support::start_binary(&db, &flags, &log);
    assert_eq!(std::fs::read_to_string(&token_file).expect("token"), token);
    assert_eq!(reset(url.clone(), token.clone()).await, 204);
    assert_eq!(reset(url, format!("{token}x")).await, 401);
    second.kill().expect("kill");
    second.wait().expect("reaped");
    assert!(
        !std::fs::read_to_string(&log).expect("log").contains(&token),
        "the token was logged"
    );

    std::fs::write(&token_file, "  \n").expect("empty it");
    let output = refused(
        crate::support::binary()
            .args(["--in-memory", "--listen", "127.0.0.1:0"])
            .args(flags),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is empty"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn a_control_token_file_others_can_open_is_used_with_a_warning() {
    use std::os::unix::fs::PermissionsExt as _;

    let token = "amc_0123456789abcdef0123456789abcdef";
    for (mode, warned) in [(0o644, true), (0o640, true), (0o600, false), (0o400, false)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let token_file = dir.path().join("control.token");
        std::fs::write(&token_file, token).expect("token");
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(mode))
            .expect("chmod");
        let log = dir.path().join("stderr.log");
        let (mut server, _url) = support::start_binary(
            &dir.path().join("sandbox.db"),
            &["--control-token-file".as_ref(), token_file.as_os_str()],
            &log,
        );
        server.kill().expect("kill");
        server.wait().expect("reaped");
        let stderr = std::fs::read_to_string(&log).expect("log");
        let fix = format!("chmod 600 {}", token_file.display());
        assert_eq!(
            stderr.contains(&fix) && stderr.contains("warning"),
            warned,
            "mode {mode:o}: {stderr}"
        );
        assert!(!stderr.contains(token), "the token was printed: {stderr}");
    }
}

#[test]
fn key_make_prints_the_same_well_formed_key_for_the_same_seed() {
    let make = |seed: &[&str]| {
        let output = crate::support::binary()
            .args(["key", "make"])
            .args(seed)
            .output()
            .expect("runs");
        assert!(output.status.success(), "{output:?}");
        let key = String::from_utf8(output.stdout)
            .expect("utf8")
            .trim()
            .to_owned();
        assert!(alphamoon_sandbox::keys::is_well_formed(&key), "{key}");
        key
    };
    let key = make(&["--seed", "acme ci"]);
    assert_eq!(key, make(&["--seed", "acme ci"]));
    assert_ne!(key, make(&["--seed", "acme cd"]));
    assert_eq!(key, alphamoon_sandbox::keys::from_seed("acme ci"));
    // Without a seed, a fresh random key each time: nothing secret on the
    // command line.
    assert_ne!(make(&[]), make(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixtures_file_seeds_a_fresh_database_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = alphamoon_sandbox::keys::from_seed("fixtures file");
    let file = dir.path().join("fixtures.yaml");
    std::fs::write(
        &file,
        format!(
            "orgs:\n  - name: Acme\n    keys:\n      - name: ci\n        scopes: [workspace.admin.api_key:manage]\n        exp: 2099-01-01T00:00:00Z\n        secret: {secret}\n"
        ),
    )
    .expect("write fixtures");
    let db = dir.path().join("sandbox.db");
    let log = dir.path().join("stderr.log");
    let flags = ["--fixtures".as_ref(), file.as_os_str()];
    for start in ["first", "second"] {
        let (mut server, url) = support::start_binary(&db, &flags, &log);
        let page = client(&url, &secret)
            .list_api_keys()
            .send()
            .await
            .unwrap_or_else(|e| panic!("{start} start: the fixture key works: {e}"))
            .into_inner();
        assert_eq!(page.pagination.total, 2, "{start} start: admin key and ci");
        server.kill().expect("kill");
        server.wait().expect("reaped");
    }
    let log = std::fs::read_to_string(&log).expect("log");
    assert!(log.contains("were not loaded"), "{log}");
    assert!(!log.contains(&secret), "a secret was logged");

    let bad = dir.path().join("bad.json");
    let mut broken = secret.clone();
    broken.replace_range(4..5, if secret[4..5] == *"A" { "B" } else { "A" });
    std::fs::write(
        &bad,
        serde_json::json!({"orgs": [{"name": "A", "keys": [{"name": "k", "scopes": ["workspace.file:upload"], "exp": "2099-01-01T00:00:00Z", "secret": broken}]}]}).to_string(),
    )
    .expect("write");
    let output = refused(
        crate::support::binary()
            .args(["--in-memory", "--listen", "127.0.0.1:0", "--fixtures"])
            .arg(&bad),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("orgs[0].keys[0]: `secret`"),
        "the error names the field: {stderr}"
    );
}

/// `org create` holds an organization's name to the limits every other
/// way of making one does, and stores nothing it refuses.
#[test]
fn org_create_refuses_names_outside_the_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("sandbox.db");
    for name in ["", "a\u{7}b", &"x".repeat(256)] {
        let output = refused(
            crate::support::binary()
                .args(["org", "create", "--name", name, "--db"])
                .arg(&db),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("`name` must be 1 to 255 characters"),
            "{name:?}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "no key printed");
    }
    let created = crate::support::binary()
        .args(["org", "create", "--name", "Globex", "--db"])
        .arg(&db)
        .output()
        .expect("runs");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
}

/// A fixtures file is bounded before any parser reads it, for the server
/// and for `ctl` alike: a hostile one is refused by the limit, not by the
/// parser after it has worked through the whole file.
#[test]
fn oversized_or_bracket_heavy_fixtures_files_are_refused_before_parsing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let deep = dir.path().join("deep.yaml");
    std::fs::write(&deep, "[".repeat(400_000)).expect("write");
    let large = dir.path().join("large.yaml");
    std::fs::write(
        &large,
        format!("orgs: []\n{}", "# padding\n".repeat(120_000)),
    )
    .expect("write");
    let token = dir.path().join("control.token");
    std::fs::write(&token, "amc_unused").expect("write");
    for (file, limit) in [
        (&deep, "more than the 2000"),
        (&large, "larger than 1048576 bytes"),
    ] {
        let served = refused(
            crate::support::binary()
                .args(["--in-memory", "--listen", "127.0.0.1:0", "--fixtures"])
                .arg(file),
        );
        // No server is reached: the file is refused first.
        let sent = refused(
            crate::support::binary()
                .args(["ctl", "--url", "http://127.0.0.1:9", "--token-file"])
                .arg(&token)
                .arg("fixtures")
                .arg(file),
        );
        for output in [served, sent] {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains(limit), "{}: {stderr}", file.display());
        }
    }
}

/// Runs `alphamoon-sandbox ctl --url URL --token-file FILE args…` off the
/// test's runtime threads.
async fn ctl(url: &str, token_file: &Path, args: &[&str]) -> std::process::Output {
    let mut command = crate::support::binary();
    command
        .args(["ctl", "--url", url, "--token-file"])
        .arg(token_file)
        .args(args)
        .env_remove("ALPHAMOON_SANDBOX_URL")
        .env_remove("ALPHAMOON_SANDBOX_TOKEN_FILE");
    tokio::task::spawn_blocking(move || command.output().expect("ctl runs"))
        .await
        .expect("join")
}

/// The JSON a successful `ctl` command printed.
fn printed(output: &std::process::Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.stdout.is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_slice(&output.stdout).expect("ctl prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctl_drives_the_control_plane_from_a_shell() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("control.token");
    let flags = ["--control-token-file".as_ref(), token_file.as_os_str()];
    let (mut server, url) = support::start_binary(
        &dir.path().join("sandbox.db"),
        &flags,
        &dir.path().join("log"),
    );
    let token = std::fs::read_to_string(&token_file).expect("token");

    let fixtures = dir.path().join("fixtures.yaml");
    std::fs::write(
        &fixtures,
        "orgs:\n  - name: Acme\n    keys:\n      - name: ci\n        \
         scopes: [workspace.admin.api_key:manage]\n        exp: 2099-01-01T00:00:00Z\n",
    )
    .expect("write fixtures");
    let loaded = printed(
        &ctl(
            &url,
            &token_file,
            &["fixtures", fixtures.to_str().expect("utf-8")],
        )
        .await,
    );
    let secret = loaded["orgs"][0]["keys"][0]["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let key_id = loaded["orgs"][0]["keys"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let fault = printed(
        &ctl(
            &url,
            &token_file,
            &[
                "fault",
                "add",
                "--operation-id",
                "listApiKeys",
                "--status",
                "503",
                "--times",
                "1",
            ],
        )
        .await,
    );
    assert_eq!(
        (fault["status"].as_i64(), fault["times"].as_i64()),
        (Some(503), Some(1))
    );
    let list = |secret: String| {
        let url = url.clone();
        async move {
            support::try_call(
                &url,
                "GET",
                support::KEYS,
                Some(&support::basic(&secret)),
                None,
            )
            .await
            .expect("answers")
            .status
        }
    };
    assert_eq!(list(secret.clone()).await, 503);
    assert_eq!(list(secret.clone()).await, 200);
    assert_eq!(
        printed(&ctl(&url, &token_file, &["fault", "list"]).await)["faults"],
        serde_json::json!([])
    );

    let journal = printed(
        &ctl(
            &url,
            &token_file,
            &[
                "requests",
                "--operation-id",
                "listApiKeys",
                "--key-id",
                &key_id,
            ],
        )
        .await,
    );
    let statuses: Vec<_> = journal["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|r| r["status"].clone())
        .collect();
    assert_eq!(statuses, [serde_json::json!(200), serde_json::json!(503)]);
    printed(&ctl(&url, &token_file, &["requests", "--clear"]).await);
    assert_eq!(
        printed(&ctl(&url, &token_file, &["requests"]).await)["requests"],
        serde_json::json!([])
    );

    let frozen = printed(
        &ctl(
            &url,
            &token_file,
            &["clock", "freeze", "2098-12-31T00:00:00Z"],
        )
        .await,
    );
    assert_eq!(
        frozen,
        serde_json::json!({"now": "2098-12-31T00:00:00Z", "frozen": true})
    );
    let advanced = printed(&ctl(&url, &token_file, &["clock", "advance", "86400"]).await);
    assert_eq!(advanced["now"], "2099-01-01T00:00:00Z");
    assert_eq!(
        list(secret.clone()).await,
        401,
        "the fixture key expired at the new now"
    );
    let back = ctl(
        &url,
        &token_file,
        &["clock", "freeze", "2000-01-01T00:00:00Z"],
    )
    .await;
    assert_eq!(back.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&back.stderr).contains("never moves back"),
        "{back:?}"
    );
    let resumed = printed(&ctl(&url, &token_file, &["clock", "resume"]).await);
    assert_eq!(resumed["frozen"], false);
    assert_eq!(
        printed(&ctl(&url, &token_file, &["clock", "show"]).await)["frozen"],
        false
    );

    printed(&ctl(&url, &token_file, &["reset"]).await);
    assert_eq!(
        printed(&ctl(&url, &token_file, &["clock", "show"]).await)["frozen"],
        false
    );

    // Mistakes: a wrong token, no token file, a sandbox that is not there,
    // a value the spec does not know. None prints the token.
    let wrong = dir.path().join("wrong.token");
    std::fs::write(&wrong, "amc_wrong").expect("write");
    let refused = ctl(&url, &wrong, &["reset"]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("401"),
        "{refused:?}"
    );
    let missing = ctl(&url, &dir.path().join("nope"), &["reset"]).await;
    assert_eq!(missing.status.code(), Some(1));
    let gone = ctl("http://127.0.0.1:9", &token_file, &["reset"]).await;
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("cannot reach"),
        "{gone:?}"
    );
    let unknown = ctl(
        &url,
        &token_file,
        &[
            "fault",
            "add",
            "--operation-id",
            "dropTables",
            "--status",
            "500",
        ],
    )
    .await;
    assert_eq!(unknown.status.code(), Some(2), "a usage error");
    for output in [&refused, &missing, &gone, &unknown] {
        for stream in [&output.stdout, &output.stderr] {
            assert!(
                !String::from_utf8_lossy(stream).contains(token.trim()),
                "the token was printed"
            );
        }
    }
    server.kill().expect("kill");
    server.wait().expect("reaped");
}

/// At debug and at trace level, with careful and careless clients, no
/// secret reaches the log, in any form: not the bootstrap key, not a key
/// the API made, not the control token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log_at_debug_or_trace() {
    for level in ["debug", "trace"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let (key_file, token_file, log) = (
            dir.path().join("admin.key"),
            dir.path().join("control.token"),
            dir.path().join("stderr.log"),
        );
        let (mut server, url) = support::start_binary_with_env(
            &dir.path().join("sandbox.db"),
            &[
                "--bootstrap-key-file".as_ref(),
                key_file.as_os_str(),
                "--control-token-file".as_ref(),
                token_file.as_os_str(),
            ],
            &log,
            &[("RUST_LOG", level)],
        );
        let admin = std::fs::read_to_string(&key_file).expect("bootstrap key");
        let token = std::fs::read_to_string(&token_file).expect("token");
        let made = client(&url, &admin)
            .create_api_key()
            .body(
                types::CreateApiKeyRequest::builder()
                    .name("logged?")
                    .exp(chrono::Utc::now() + chrono::Duration::days(1))
                    .scopes(vec![Scope::WorkspaceAdminApiKeyManage]),
            )
            .send()
            .await
            .expect("create")
            .into_inner();
        let secret = made.key.expose_secret().to_owned();
        client(&url, &secret)
            .list_api_keys()
            .send()
            .await
            .expect("list");
        // A careless client puts the secret where it does not belong.
        let auth = support::basic(&admin);
        let encoded: String = secret.bytes().map(|b| format!("%{b:02X}")).collect();
        for path in [
            format!("{}/{secret}", support::KEYS),
            format!("{}?key={secret}", support::KEYS),
            format!("{}?k=%61mk_{}", support::KEYS, &secret[4..]),
            format!("/{encoded}"),
        ] {
            let method = if path.contains('?') { "GET" } else { "DELETE" };
            support::try_call(&url, method, &path, Some(&auth), None)
                .await
                .expect("answered");
        }
        let journal = support::try_call(
            &url,
            "GET",
            "/_sandbox/v1/requests",
            Some(&format!("Bearer {token}")),
            None,
        )
        .await
        .expect("answered");
        assert_eq!(journal.status, 200);
        server.kill().expect("kill");
        server.wait().expect("reaped");

        let log = std::fs::read_to_string(&log).expect("log");
        assert!(
            log.contains("DEBUG"),
            "{level}: the level took effect: {log}"
        );
        support::assert_text_has_no_secret(
            &format!("the {level} log"),
            &log,
            &[&admin, &secret, token.trim()],
        );
    }
}
