//! The sandbox's first promise: once a DELETE has been answered, or has
//! committed even if its answer was lost, the next request with that key
//! fails with 401, on every process that serves the store. Each case runs
//! against a real server over HTTP.

mod steered;

use crate::support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::{KEYS, basic, call};
use alphamoon_sandbox::{ADMIN_SCOPE, Sandbox, Settings, SqliteStore, Store, StoredKey, issue_key};
use steered::{Steered, Steering};

/// The status a GET of the key list gets with `secret`, on a fresh
/// connection to `addr`.
fn list_status(addr: &str, secret: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(
        stream,
        "GET {KEYS} HTTP/1.1\r\nhost: sandbox\r\nauthorization: {}\r\nconnection: close\r\n\r\n",
        basic(secret)
    )
    .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"))
}

/// Waits until `done` holds, for at most ten seconds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A key of `org` holding the admin scope, so that it can list keys.
async fn admin_scoped_key(store: &dyn Store, org: &str) -> (StoredKey, String) {
    let exp = chrono::Utc::now().timestamp() + 3600;
    issue_key(store, org, "doomed", &[ADMIN_SCOPE], exp)
        .await
        .expect("key")
}

/// A sandbox whose deletes hold after committing until released, with a
/// key of its org (holding the admin scope) already in use: the state in
/// which a server that remembers authenticated keys would go on trusting it.
async fn sandbox_with_a_key_in_use(
    request_timeout: Duration,
) -> (Sandbox, Arc<dyn Store>, Steering, String, StoredKey, String) {
    let settings = Settings {
        rate_limit: None,
        org_rate_limit: None,
        request_timeout,
        ..Settings::default()
    };
    let (steered, steering) = Steered::new(support::fresh_store().await, true);
    let store: Arc<dyn Store> = Arc::new(steered);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let sandbox = Sandbox::serve(listener, Arc::clone(&store), &settings).expect("serve");
    let (org, admin) = sandbox.create_org("Acme").await.expect("org");
    let (doomed, secret) = admin_scoped_key(sandbox.store(), &org.id).await;
    let in_use = call(&sandbox, "GET", KEYS, Some(&basic(&secret)), None).await;
    assert_eq!(in_use.status, 200);
    (sandbox, store, steering, admin, doomed, secret)
}

/// Whether `secret`'s key is stored, asked from a blocking thread.
fn is_stored(store: &dyn Store, secret: &str) -> bool {
    tokio::runtime::Handle::current()
        .block_on(store.key_by_secret_hash(&alphamoon_sandbox::keys::hash(secret)))
        .expect("store")
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_whose_client_went_away_after_the_commit_still_revokes_the_key() {
    let (sandbox, store, steering, admin, doomed, secret) =
        sandbox_with_a_key_in_use(Duration::from_secs(30)).await;
    let addr = sandbox.addr().to_string();
    let watched = Arc::clone(&store);
    let watched_secret = secret.clone();
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&addr).expect("connect");
        write!(
            stream,
            "DELETE {KEYS}/{} HTTP/1.1\r\nhost: sandbox\r\nauthorization: {}\r\n\r\n",
            doomed.id,
            basic(&admin)
        )
        .expect("send");
        // Hang up once the delete has committed, while the store holds
        // its answer back.
        eventually("the delete committed", || {
            !is_stored(watched.as_ref(), &watched_secret)
        });
        drop(stream);
    })
    .await
    .expect("client");
    steering.release_deletes();
    let after = call(&sandbox, "GET", KEYS, Some(&basic(&secret)), None).await;
    assert_eq!(after.status, 401, "the deleted key still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_that_times_out_after_committing_still_revokes_the_key() {
    // The timeout is the server's own timer, the thing under test; the
    // held delete outlasts it whatever it is. It is generous only so that
    // the delete surely commits before the timer cuts it off.
    let (sandbox, store, steering, admin, doomed, secret) =
        sandbox_with_a_key_in_use(Duration::from_secs(1)).await;
    let timed_out = call(
        &sandbox,
        "DELETE",
        &format!("{KEYS}/{}", doomed.id),
        Some(&basic(&admin)),
        None,
    )
    .await;
    assert_eq!(timed_out.status, 503, "{:?}", timed_out.body);
    steering.release_deletes();
    let watched = Arc::clone(&store);
    let watched_secret = secret.clone();
    tokio::task::spawn_blocking(move || {
        eventually("the delete committed", || {
            !is_stored(watched.as_ref(), &watched_secret)
        });
    })
    .await
    .expect("watcher");
    let after = call(&sandbox, "GET", KEYS, Some(&basic(&secret)), None).await;
    assert_eq!(after.status, 401, "the deleted key still works");
}

#[tokio::test]
async fn a_key_deleted_through_one_process_fails_at_once_on_every_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("shared.db");
    let store = SqliteStore::open(&db).expect("store");
    let (org, admin) = alphamoon_sandbox::create_org(&store, "Acme")
        .await
        .expect("org");
    let (mut a, url_a) = support::start_binary(&db, &[], &dir.path().join("a.log"));
    let (mut b, url_b) = support::start_binary(&db, &[], &dir.path().join("b.log"));
    let addr_a = url_a.trim_start_matches("http://");
    let addr_b = url_b.trim_start_matches("http://");
    for round in 0..5 {
        let (doomed, secret) = admin_scoped_key(&store, &org.id).await;
        assert_eq!(list_status(addr_a, &secret), 200, "round {round}: A");
        assert_eq!(list_status(addr_b, &secret), 200, "round {round}: B");
        let mut stream = TcpStream::connect(addr_a).expect("connect");
        write!(
            stream,
            "DELETE {KEYS}/{} HTTP/1.1\r\nhost: sandbox\r\nauthorization: {}\r\nconnection: close\r\n\r\n",
            doomed.id,
            basic(&admin)
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        for (process, addr) in [("A, which deleted it", addr_a), ("B", addr_b)] {
            assert_eq!(
                list_status(addr, &secret),
                401,
                "round {round}: {process} still accepts the deleted key"
            );
        }
    }
    for child in [&mut a, &mut b] {
        child.kill().expect("kill");
        child.wait().expect("reaped");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_authenticated_before_the_delete_cannot_act_after_it() {
    let (steered, mut steering) = Steered::new(support::fresh_store().await, false);
    let (sandbox, admin) = support::sandbox_on(
        Arc::new(steered),
        Settings {
            rate_limit: None,
            org_rate_limit: None,
            ..Settings::default()
        },
    )
    .await;
    let org = support::org_of(&sandbox, &admin).await;
    let (doomed, secret) = admin_scoped_key(sandbox.store(), &org).await;
    let (_, body) = support::create_body("minted late", &[ADMIN_SCOPE.as_str()]);
    let addr = sandbox.addr().to_string();
    // The headers now, so that the request is authenticated while the key
    // still exists; the body only after the key is deleted.
    let mut stream = TcpStream::connect(&addr).expect("connect");
    write!(
        stream,
        "POST {KEYS} HTTP/1.1\r\nhost: sandbox\r\nauthorization: {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        basic(&secret),
        body.len()
    )
    .expect("headers");
    steering.authenticated(&doomed.id).await;
    let deleted = call(
        &sandbox,
        "DELETE",
        &format!("{KEYS}/{}", doomed.id),
        Some(&basic(&admin)),
        None,
    )
    .await;
    assert_eq!(deleted.status, 200);
    let answer = tokio::task::spawn_blocking(move || {
        stream.write_all(body.as_bytes()).expect("body");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        answer
    })
    .await
    .expect("client");
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    // Refused at its write, not at its lookup: the request was let in
    // while the key existed, so the race the test names took place.
    assert!(
        answer.contains("while this request was under way"),
        "{answer}"
    );
    let listed = call(&sandbox, "GET", KEYS, Some(&basic(&admin)), None).await;
    assert_eq!(
        listed.body["pagination"]["total"], 1,
        "the revoked key minted a key: {}",
        listed.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_sent_before_the_client_shuts_its_side_is_carried_out() {
    let (sandbox, admin) = support::sandbox().await;
    let org = support::org_of(&sandbox, &admin).await;
    let (doomed, secret) = admin_scoped_key(sandbox.store(), &org).await;
    let addr = sandbox.addr().to_string();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&addr).expect("connect");
        write!(
            stream,
            "DELETE {KEYS}/{} HTTP/1.1\r\nhost: sandbox\r\nauthorization: {}\r\n\r\n",
            doomed.id,
            basic(&admin)
        )
        .expect("send");
        // As `nc -N` does: nothing more to send, but still listening.
        stream
            .shutdown(std::net::Shutdown::Write)
            .expect("half close");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        answer
    })
    .await
    .expect("client");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    let after = call(&sandbox, "GET", KEYS, Some(&basic(&secret)), None).await;
    assert_eq!(after.status, 401);
}
