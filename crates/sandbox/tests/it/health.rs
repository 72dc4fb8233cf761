//! The health probes and the `healthcheck` subcommand: always on, open to
//! anyone, never journaled, and checked against the control spec like
//! every other answer. Their 503 while PostgreSQL is down is tested in
//! `server_wide::postgres_outage`.

use crate::support;

use crate::support::{KEYS, basic, call};
use alphamoon_sandbox::JournalQuery;

const HEALTHZ: &str = "/_sandbox/healthz";
const READYZ: &str = "/_sandbox/readyz";

#[tokio::test]
async fn the_probes_answer_without_the_control_plane_and_without_credentials() {
    let (sandbox, admin) = support::sandbox().await;
    for auth in [None, Some(basic(&admin)), Some("Bearer wrong".to_owned())] {
        let alive = call(&sandbox, "GET", HEALTHZ, auth.as_deref(), None).await;
        assert_eq!(alive.status, 200, "{}", alive.body);
        assert_eq!(alive.body["status"], "ok");
        let ready = call(&sandbox, "GET", READYZ, auth.as_deref(), None).await;
        assert_eq!(ready.status, 200, "{}", ready.body);
        assert_eq!(ready.body["status"], "ready");
    }
    // The rest of `/_sandbox/` stays hidden without the control plane.
    let clock = call(&sandbox, "GET", "/_sandbox/v1/clock", None, None).await;
    assert_eq!(clock.status, 404);
    let posted = call(&sandbox, "POST", READYZ, None, None).await;
    assert_eq!(posted.status, 405);
}

#[tokio::test]
async fn the_probes_need_no_token_with_the_control_plane_on_and_are_never_journaled() {
    let (sandbox, admin) = support::controlled_by("amc_health-test-token").await;
    let page = call(&sandbox, "GET", KEYS, Some(&basic(&admin)), None).await;
    assert_eq!(page.status, 200);
    for _ in 0..3 {
        for path in [HEALTHZ, READYZ] {
            let answer = call(&sandbox, "GET", path, None, None).await;
            assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        }
    }
    // Under the control plane the token is still required.
    let clock = call(&sandbox, "GET", "/_sandbox/v1/clock", None, None).await;
    assert_eq!(clock.status, 401);
    let journal = sandbox.control().requests(&JournalQuery::default());
    let paths: Vec<&str> = journal.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, [KEYS], "only the vendor call is journaled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_exits_0_for_a_ready_sandbox_and_1_otherwise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut server, url) = support::start_binary(
        &dir.path().join("sandbox.db"),
        &[],
        &dir.path().join("stderr.log"),
    );
    let address = url.trim_start_matches("http://").to_owned();
    let port = address.rsplit(':').next().expect("port").to_owned();

    let by_flag = crate::support::binary()
        .args(["healthcheck", "--listen", &address])
        .output()
        .expect("healthcheck");
    assert!(by_flag.status.success(), "{by_flag:?}");
    // As in a container: the server's own variable, with the address it
    // binds, which the check asks on loopback.
    let by_variable = crate::support::binary()
        .arg("healthcheck")
        .env("ALPHAMOON_SANDBOX_LISTEN", format!("0.0.0.0:{port}"))
        .output()
        .expect("healthcheck");
    assert!(by_variable.status.success(), "{by_variable:?}");

    server.kill().expect("kill");
    server.wait().expect("wait");
    let refused = crate::support::binary()
        .args(["healthcheck", "--listen", &address, "--timeout-secs", "2"])
        .output()
        .expect("healthcheck");
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("not ready") && stderr.contains(&address),
        "{stderr}"
    );

    // A server that takes the connection and never answers: the check
    // gives up after its timeout instead of hanging the runtime's probe.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_address = silent.local_addr().expect("address").to_string();
    let held = crate::support::binary()
        .args([
            "healthcheck",
            "--listen",
            &silent_address,
            "--timeout-secs",
            "1",
        ])
        .output()
        .expect("healthcheck");
    assert_eq!(held.status.code(), Some(1), "{held:?}");
    let stderr = String::from_utf8_lossy(&held.stderr);
    assert!(stderr.contains("did not answer in time"), "{stderr}");
    drop(silent);
}
