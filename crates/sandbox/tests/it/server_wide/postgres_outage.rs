//! PostgreSQL stopped, or crashed, and started again under running
//! replicas. These tests stop the server every other PostgreSQL test uses,
//! so they are a test binary of their own (cargo runs test binaries one
//! after another), and take turns within it.

use crate::support;

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{KEYS, basic, create_body, try_call};

/// Runs the test server's `pg_ctl` script with `args`.
fn pg_ctl(args: &[&str]) {
    let script = std::env::var(support::POSTGRES_CTL_VAR).unwrap_or_else(|_| {
        panic!(
            "{} is not set: run this test through `cargo xtask ci`",
            support::POSTGRES_CTL_VAR
        )
    });
    let status = Command::new(&script)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(status.success(), "{script} {args:?}: {status}");
}

/// A fresh database holding one organization, and that organization's
/// admin key.
async fn database_with_an_org() -> (String, String) {
    let database_url = support::fresh_postgres_database().await;
    let store = alphamoon_sandbox::PgStore::connect(&database_url, 1)
        .await
        .expect("store");
    let (_, admin) = alphamoon_sandbox::create_org(&store, "Acme")
        .await
        .expect("org");
    (database_url, admin)
}

/// Held by the test that has the server down, so that the others wait.
static SERVER_DOWN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Processes killed when the test ends, however it ends.
struct Killed(Vec<std::process::Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts the server again when dropped, so that a failed assertion does
/// not leave it down.
struct StartOnDrop;

impl Drop for StartOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            pg_ctl(&["start"]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn replicas_answer_503_while_the_database_is_down_and_recover_without_a_restart() {
    let _turn = SERVER_DOWN.lock().await;
    let (database_url, admin) = database_with_an_org().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let flags = [
        "--rate-limit",
        "0",
        "--org-rate-limit",
        "0",
        "--request-timeout-secs",
        "3",
    ];
    let (children, urls): (Vec<_>, Vec<_>) = (0..2)
        .map(|i| {
            support::start_replica(
                &database_url,
                &flags,
                &dir.path().join(format!("replica-{i}.log")),
            )
        })
        .unzip();
    let _running = Killed(children);
    let auth = basic(&admin);
    for url in &urls {
        let page = try_call(url, "GET", KEYS, Some(&auth), None)
            .await
            .expect("answers");
        assert_eq!(page.status, 200);
    }

    pg_ctl(&["stop", "-m", "fast"]);
    let restart = StartOnDrop;
    for url in &urls {
        for (method, body) in [
            ("GET", None),
            (
                "POST",
                Some(create_body("while down", &["workspace.file:upload"])),
            ),
        ] {
            // The replica's own request timeout is 3 s; a hang would show
            // as this call never returning, so the client gives up later.
            let answer = tokio::time::timeout(
                Duration::from_secs(30),
                try_call(url, method, KEYS, Some(&auth), body),
            )
            .await
            .unwrap_or_else(|_| panic!("{method} to {url} hung with the database down"))
            .expect("the replica answers");
            assert_eq!(answer.status, 503, "{method}: {}", answer.body);
            let retry_after: u64 = answer
                .header("retry-after")
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{method}: no Retry-After"));
            assert!(retry_after >= 1);
        }
    }

    pg_ctl(&["start"]);
    drop(restart);
    for url in &urls {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = try_call(url, "GET", KEYS, Some(&auth), None)
                .await
                .expect("the replica answers");
            if answer.status == 200 {
                let names: Vec<&str> = answer.body["apiKeys"]
                    .as_array()
                    .expect("apiKeys")
                    .iter()
                    .filter_map(|k| k["name"].as_str())
                    .collect();
                assert!(
                    !names.contains(&"while down"),
                    "a create answered 503 was stored: {names:?}"
                );
                break;
            }
            assert_eq!(answer.status, 503, "{}", answer.body);
            assert!(
                Instant::now() < deadline,
                "{url} still answers 503 with the database back"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created = try_call(
            url,
            "POST",
            KEYS,
            Some(&auth),
            Some(create_body("after", &["workspace.file:upload"])),
        )
        .await
        .expect("answers");
        assert_eq!(created.status, 201, "{}", created.body);
    }
}

/// What the readiness probe of the replica at `url` answers.
async fn readiness(url: &str) -> u16 {
    try_call(url, "GET", "/_sandbox/readyz", None, None)
        .await
        .expect("the replica answers")
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn readiness_is_503_while_the_database_is_down_and_liveness_stays_200() {
    let _turn = SERVER_DOWN.lock().await;
    let (database_url, _) = database_with_an_org().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, url) = support::start_replica(
        &database_url,
        &["--request-timeout-secs", "3"],
        &dir.path().join("replica.log"),
    );
    let _running = Killed(vec![child]);
    let address = url.trim_start_matches("http://").to_owned();
    let healthcheck = || {
        crate::support::binary()
            .args(["healthcheck", "--listen", &address])
            .output()
            .expect("healthcheck")
            .status
    };
    assert_eq!(readiness(&url).await, 200);
    assert!(healthcheck().success());

    pg_ctl(&["stop", "-m", "fast"]);
    let restart = StartOnDrop;
    assert_eq!(readiness(&url).await, 503);
    assert_eq!(healthcheck().code(), Some(1));
    let alive = try_call(&url, "GET", "/_sandbox/healthz", None, None)
        .await
        .expect("the replica answers");
    assert_eq!(alive.status, 200, "liveness does not touch the database");

    pg_ctl(&["start"]);
    drop(restart);
    let deadline = Instant::now() + Duration::from_secs(30);
    while readiness(&url).await != 200 {
        assert!(
            Instant::now() < deadline,
            "{url} is still not ready with the database back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthcheck().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn answered_creates_survive_a_crash_of_the_database() {
    let _turn = SERVER_DOWN.lock().await;
    let (database_url, admin) = database_with_an_org().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, url) = support::start_replica(
        &database_url,
        &["--rate-limit", "0", "--org-rate-limit", "0"],
        &dir.path().join("replica.log"),
    );
    let _running = Killed(vec![child]);
    let auth = basic(&admin);
    // The setting the answer rests on, on a connection made as the
    // replica makes its own, against the server's default.
    let store = alphamoon_sandbox::PgStore::connect(&database_url, 1)
        .await
        .expect("store");
    assert_eq!(store.synchronous_commit().await.expect("setting"), "on");
    let (plain, connection) = tokio_postgres::connect(&database_url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    let connection = tokio::spawn(connection);
    let default: String = plain
        .query_one("SHOW synchronous_commit", &[])
        .await
        .expect("show")
        .get(0);
    assert_eq!(default, "off", "the test server's own default");
    drop(plain);
    let _ = connection.await;
    // The test server commits asynchronously by default: only the
    // sandbox's own `synchronous_commit = on` makes an answered create wait
    // for the disk. The crash comes right after the last answer, while an
    // asynchronous commit would still be in memory.
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (url, auth) = (url.clone(), auth.clone());
            tokio::spawn(async move {
                let body = create_body(&format!("key {i}"), &["workspace.file:upload"]);
                try_call(&url, "POST", KEYS, Some(&auth), Some(body)).await
            })
        })
        .collect();
    let mut answered = Vec::new();
    for task in tasks {
        let answer = task.await.expect("create").expect("answers");
        assert_eq!(answer.status, 201, "{}", answer.body);
        answered.push(answer.body["id"].as_str().expect("id").to_owned());
    }
    pg_ctl(&["stop", "-m", "immediate"]);
    let restart = StartOnDrop;
    pg_ctl(&["start"]);
    drop(restart);
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed = loop {
        let page = try_call(
            &url,
            "GET",
            &format!("{KEYS}?limit=100&offset=1"),
            Some(&auth),
            None,
        )
        .await
        .expect("answers");
        if page.status == 200 {
            break page;
        }
        assert_eq!(page.status, 503, "{}", page.body);
        assert!(Instant::now() < deadline, "no recovery after the crash");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ids: Vec<&str> = listed.body["apiKeys"]
        .as_array()
        .expect("apiKeys")
        .iter()
        .filter_map(|k| k["id"].as_str())
        .collect();
    let lost: Vec<&String> = answered
        .iter()
        .filter(|id| !ids.contains(&id.as_str()))
        .collect();
    assert!(lost.is_empty(), "answered 201, lost in the crash: {lost:?}");
}
