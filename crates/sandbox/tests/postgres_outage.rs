//! PostgreSQL stopped and started again under running replicas. It stops
//! the server every other PostgreSQL test uses, so it is a test binary of
//! its own: cargo runs test binaries one after another.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{KEYS, basic, create_body, try_call};

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
    let database_url = support::fresh_postgres_database().await;
    let store = alphamoon_sandbox::PgStore::connect(&database_url, 1)
        .await
        .expect("store");
    let (_, admin) = alphamoon_sandbox::create_org(&store, "Acme")
        .await
        .expect("org");
    drop(store);
    let dir = tempfile::tempdir().expect("tempdir");
    let flags = [
        "--rate-limit",
        "0",
        "--org-rate-limit",
        "0",
        "--request-timeout-secs",
        "3",
    ];
    let mut replicas: Vec<_> = (0..2)
        .map(|i| {
            support::start_replica(
                &database_url,
                &flags,
                &dir.path().join(format!("replica-{i}.log")),
            )
        })
        .collect();
    let auth = basic(&admin);
    for (_, url) in &replicas {
        let page = try_call(url, "GET", KEYS, Some(&auth), None)
            .await
            .expect("answers");
        assert_eq!(page.status, 200);
    }

    pg_ctl(&["stop", "-m", "fast"]);
    let restart = StartOnDrop;
    for (_, url) in &replicas {
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
    for (_, url) in &replicas {
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
    for (child, _) in &mut replicas {
        let _ = child.kill();
        let _ = child.wait();
    }
}
