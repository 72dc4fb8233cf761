//! Several `alphamoon-sandbox` processes on one PostgreSQL database, driven
//! over HTTP: what a team gets when it runs replicas behind a load
//! balancer. Every test starts real processes on a fresh database of the
//! server that `cargo xtask ci` starts; without that server they fail, never
//! skip.

use crate::support;

use std::collections::HashSet;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{KEYS, basic, create_body, try_call};
use alphamoon_sandbox::{ADMIN_SCOPE, PgStore, Store, StoredKey, issue_key};
use serde_json::Value;

/// Processes serving one database; killed when dropped.
struct Replicas {
    children: Vec<Child>,
    urls: Vec<String>,
    database_url: String,
    /// Holds the replicas' logs until the test ends.
    _dir: tempfile::TempDir,
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Replicas {
    /// `count` replicas on a fresh database, each with `extra` flags.
    async fn start(count: usize, extra: &[&str]) -> Self {
        let database_url = support::fresh_postgres_database().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let (children, urls) = (0..count)
            .map(|i| {
                support::start_replica(
                    &database_url,
                    extra,
                    &dir.path().join(format!("replica-{i}.log")),
                )
            })
            .unzip();
        Self {
            children,
            urls,
            database_url,
            _dir: dir,
        }
    }

    /// The store the replicas share, opened from the test.
    async fn store(&self) -> PgStore {
        PgStore::connect(&self.database_url, 4)
            .await
            .expect("the test reaches the database")
    }
}

/// Both rate limits off, for tests about something else.
const UNTHROTTLED: [&str; 4] = ["--rate-limit", "0", "--org-rate-limit", "0"];

/// A key of `org` that holds the admin scope, valid for an hour.
async fn admin_scoped_key(store: &dyn Store, org: &str, name: &str) -> (StoredKey, String) {
    let exp = chrono::Utc::now().timestamp() + 3600;
    issue_key(store, org, name, &[ADMIN_SCOPE], exp)
        .await
        .expect("key")
}

async fn status(url: &str, method: &str, path: &str, secret: &str) -> u16 {
    try_call(url, method, path, Some(&basic(secret)), None)
        .await
        .expect("the replica answers")
        .status
}

/// Every key of the organization, through the replica at `url`, paging
/// `limit` at a time; and the `total` each page reported.
async fn list_all(url: &str, secret: &str, limit: usize) -> (Vec<Value>, Vec<u64>) {
    let (mut keys, mut totals) = (Vec::new(), Vec::new());
    loop {
        let page = try_call(
            url,
            "GET",
            &format!("{KEYS}?offset={}&limit={limit}", keys.len()),
            Some(&basic(secret)),
            None,
        )
        .await
        .expect("the replica answers");
        assert_eq!(page.status, 200, "{}", page.body);
        let got = page.body["apiKeys"].as_array().expect("apiKeys").clone();
        totals.push(page.body["pagination"]["total"].as_u64().expect("total"));
        let done = got.len() < limit;
        keys.extend(got);
        if done {
            return (keys, totals);
        }
    }
}

/// How many requests B answers after the delete's answer, at the least,
/// before the test stops asking it.
const LATE_REQUESTS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn a_key_deleted_through_one_replica_fails_at_once_on_every_replica() {
    let replicas = Replicas::start(2, &UNTHROTTLED).await;
    let store = replicas.store().await;
    let (org, admin) = alphamoon_sandbox::create_org(&store, "Acme")
        .await
        .expect("org");
    let (a, b) = (replicas.urls[0].clone(), replicas.urls[1].clone());
    for round in 0..5 {
        let (doomed, secret) = admin_scoped_key(&store, &org.id, "doomed").await;
        assert_eq!(status(&a, "GET", KEYS, &secret).await, 200, "round {round}");
        assert_eq!(status(&b, "GET", KEYS, &secret).await, 200, "round {round}");
        // B is asked with the key without pause while A deletes it; every
        // request to B sent after A answered the delete must fail.
        let stop = Arc::new(AtomicBool::new(false));
        let answered = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(AtomicUsize::new(0));
        let hammer = {
            let (b, secret) = (b.clone(), secret.clone());
            let (stop, answered, served) = (
                Arc::clone(&stop),
                Arc::clone(&answered),
                Arc::clone(&served),
            );
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let sent = Instant::now();
                    let got = status(&b, "GET", KEYS, &secret).await;
                    seen.push((sent, got));
                    if got == 200 {
                        served.fetch_add(1, Ordering::SeqCst);
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                seen
            })
        };
        // The delete goes out only once the hammer is under way, so that B
        // is being asked while A deletes.
        support::wait_until("B served the key to the hammer", || {
            std::future::ready(served.load(Ordering::SeqCst) > 0)
        })
        .await;
        let deleted = try_call(
            &a,
            "DELETE",
            &format!("{KEYS}/{}", doomed.id),
            Some(&basic(&admin)),
            None,
        )
        .await
        .expect("A answers");
        let answered_at = Instant::now();
        assert_eq!(deleted.status, 200, "round {round}: {}", deleted.body);
        for (replica, url) in [("A, which deleted it,", &a), ("B", &b)] {
            assert_eq!(
                status(url, "GET", KEYS, &secret).await,
                401,
                "round {round}: {replica} accepts the deleted key"
            );
        }
        // One request may have been under way when the delete was
        // answered; every one answered after it was sent after the delete.
        let so_far = answered.load(Ordering::SeqCst);
        support::wait_until("B answered requests sent after the delete", || {
            std::future::ready(answered.load(Ordering::SeqCst) > so_far + LATE_REQUESTS)
        })
        .await;
        stop.store(true, Ordering::SeqCst);
        let seen = hammer.await.expect("hammer");
        assert!(
            seen.iter().any(|&(_, s)| s == 200),
            "round {round}: B never served the key before the delete: {seen:?}"
        );
        let late: Vec<u16> = seen
            .iter()
            .filter(|&&(sent, _)| sent > answered_at)
            .map(|&(_, s)| s)
            .collect();
        assert!(
            late.len() >= LATE_REQUESTS,
            "round {round}: only {} requests to B after the delete was answered",
            late.len()
        );
        assert!(
            late.iter().all(|&s| s == 401),
            "round {round}: requests to B after the delete was answered: {late:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn creates_spread_over_replicas_are_all_listed_once_in_a_stable_order() {
    let replicas = Replicas::start(2, &UNTHROTTLED).await;
    let store = replicas.store().await;
    let (_, admin) = alphamoon_sandbox::create_org(&store, "Acme")
        .await
        .expect("org");
    const CREATES: usize = 60;
    let tasks: Vec<_> = (0..CREATES)
        .map(|i| {
            let url = replicas.urls[i % 2].clone();
            let admin = admin.clone();
            tokio::spawn(async move {
                let body = create_body(&format!("key {i}"), &["workspace.file:upload"]);
                try_call(&url, "POST", KEYS, Some(&basic(&admin)), Some(body))
                    .await
                    .expect("the replica answers")
            })
        })
        .collect();
    let mut created = HashSet::new();
    for task in tasks {
        let answer = task.await.expect("create");
        assert_eq!(answer.status, 201, "{}", answer.body);
        created.insert(answer.body["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(created.len(), CREATES, "ids are unique");

    let (through_a, totals_a) = list_all(&replicas.urls[0], &admin, 100).await;
    let (through_b, totals_b) = list_all(&replicas.urls[1], &admin, 7).await;
    let ids = |keys: &[Value]| -> Vec<String> {
        keys.iter()
            .map(|k| k["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (ids_a, ids_b) = (ids(&through_a), ids(&through_b));
    assert_eq!(ids_a.len(), CREATES + 1, "every create and the admin key");
    assert_eq!(
        ids_a, ids_b,
        "both replicas list the same keys in the same order, in pages of any size"
    );
    assert_eq!(
        ids_a.iter().collect::<HashSet<_>>().len(),
        ids_a.len(),
        "no key is listed twice"
    );
    assert!(created.iter().all(|id| ids_a.contains(id)));
    assert!(
        totals_a
            .iter()
            .chain(&totals_b)
            .all(|&t| t == (CREATES + 1) as u64),
        "total agrees with the list: {totals_a:?} {totals_b:?}"
    );
    let order: Vec<(String, String)> = through_a
        .iter()
        .map(|k| {
            (
                k["createdAt"].as_str().expect("createdAt").to_owned(),
                k["id"].as_str().expect("id").to_owned(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted, "listed by creation time, then id");
}

/// A refill slow enough (one request per 20 s) that a burst test on a busy
/// machine sees the burst allowance and next to nothing more.
const SLOW_REFILL: &str = "0.05";

/// `allowed` is the burst, plus at most what the slow refill added since
/// `started`.
fn assert_within_burst(allowed: usize, burst: usize, started: Instant) {
    let refilled = (started.elapsed().as_secs_f64() / 20.0).ceil() as usize;
    assert!(
        (burst..=burst + refilled).contains(&allowed),
        "{allowed} let through; the burst is {burst}, and {refilled} more may have refilled"
    );
}

/// How many of `count` concurrent list requests with `secrets` (taken in
/// turn), sent to `urls` in turn, were let through.
async fn burst(urls: &[String], secrets: &[String], count: usize) -> usize {
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let url = urls[i % urls.len()].clone();
            let secret = secrets[i % secrets.len()].clone();
            tokio::spawn(async move { status(&url, "GET", KEYS, &secret).await })
        })
        .collect();
    let mut allowed = 0;
    for task in tasks {
        match task.await.expect("request") {
            200 => allowed += 1,
            429 => {}
            other => panic!("a burst got {other}"),
        }
    }
    allowed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn a_keys_burst_spread_over_replicas_gets_no_more_than_against_one() {
    let replicas = Replicas::start(
        2,
        &[
            "--rate-limit",
            SLOW_REFILL,
            "--rate-limit-burst",
            "20",
            "--org-rate-limit",
            "0",
        ],
    )
    .await;
    let store = replicas.store().await;
    let (org, _) = alphamoon_sandbox::create_org(&store, "Acme")
        .await
        .expect("org");
    let (_, one) = admin_scoped_key(&store, &org.id, "one replica").await;
    let (_, two) = admin_scoped_key(&store, &org.id, "two replicas").await;
    let started = Instant::now();
    let against_one = burst(&replicas.urls[..1], &[one], 60).await;
    let against_two = burst(&replicas.urls, &[two], 60).await;
    assert_within_burst(against_one, 20, started);
    assert_within_burst(against_two, 20, started);
    assert!(
        against_two as f64 <= against_one as f64 * 1.1,
        "two replicas let {against_two} through, one let {against_one}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn an_organizations_burst_spread_over_replicas_and_keys_gets_no_more_than_one_key_on_one() {
    let replicas = Replicas::start(
        2,
        &[
            "--rate-limit",
            "0",
            "--org-rate-limit",
            SLOW_REFILL,
            "--org-rate-limit-burst",
            "20",
        ],
    )
    .await;
    let store = replicas.store().await;
    let (acme, _) = alphamoon_sandbox::create_org(&store, "Acme")
        .await
        .expect("org");
    let (globex, _) = alphamoon_sandbox::create_org(&store, "Globex")
        .await
        .expect("org");
    let (_, single) = admin_scoped_key(&store, &acme.id, "single").await;
    let mut many = Vec::new();
    for i in 0..6 {
        many.push(
            admin_scoped_key(&store, &globex.id, &format!("k{i}"))
                .await
                .1,
        );
    }
    let started = Instant::now();
    let against_one = burst(&replicas.urls[..1], &[single], 60).await;
    let spread = burst(&replicas.urls, &many, 60).await;
    assert_within_burst(against_one, 20, started);
    assert_within_burst(spread, 20, started);
    assert!(
        spread as f64 <= against_one as f64 * 1.1,
        "six keys on two replicas let {spread} through, one key on one let {against_one}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn answered_creates_survive_kill_9_of_their_replica() {
    let mut replicas = Replicas::start(2, &UNTHROTTLED).await;
    let store = replicas.store().await;
    let (_, admin) = alphamoon_sandbox::create_org(&store, "Acme")
        .await
        .expect("org");
    let answered = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..120)
        .map(|i| {
            let url = replicas.urls[i % 2].clone();
            let (admin, answered) = (admin.clone(), Arc::clone(&answered));
            tokio::spawn(async move {
                let body = create_body(&format!("key {i}"), &["workspace.file:upload"]);
                let answer = try_call(&url, "POST", KEYS, Some(&basic(&admin)), Some(body)).await;
                answered.fetch_add(1, Ordering::SeqCst);
                answer.ok()
            })
        })
        .collect();
    while answered.load(Ordering::SeqCst) < 20 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // SIGKILL: no shutdown, no flush, nothing run on the way out.
    replicas.children[0].kill().expect("kill -9");
    let mut created = Vec::new();
    for task in tasks {
        if let Some(answer) = task.await.expect("create")
            && answer.status == 201
        {
            created.push(answer.body["id"].as_str().expect("id").to_owned());
        }
    }
    assert!(created.len() >= 20, "{} creates answered", created.len());
    let (listed, totals) = list_all(&replicas.urls[1], &admin, 100).await;
    let listed: HashSet<&str> = listed
        .iter()
        .map(|k| k["id"].as_str().expect("id"))
        .collect();
    let lost: Vec<&String> = created
        .iter()
        .filter(|id| !listed.contains(id.as_str()))
        .collect();
    assert!(lost.is_empty(), "answered 201 but gone: {lost:?}");
    assert!(
        totals.iter().all(|&t| t == listed.len() as u64),
        "{totals:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn replicas_started_together_on_an_empty_database_bootstrap_one_organization() {
    let database_url = support::fresh_postgres_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = |i: usize| dir.path().join(format!("admin-{i}.key"));
    // Started side by side: each migrates the empty database and tries to
    // bootstrap it at the same moment.
    let starting: Vec<_> = (0..3)
        .map(|i| {
            let (database_url, key_file) = (database_url.clone(), key_file(i));
            let log = dir.path().join(format!("replica-{i}.log"));
            std::thread::spawn(move || {
                let key_file = key_file.to_str().expect("utf-8 path").to_owned();
                let mut flags = UNTHROTTLED.to_vec();
                flags.extend(["--bootstrap-key-file", &key_file]);
                support::start_replica(&database_url, &flags, &log)
            })
        })
        .collect();
    let (children, urls): (Vec<Child>, Vec<String>) = starting
        .into_iter()
        .map(|t| t.join().expect("started"))
        .unzip();
    let _running = Killed(children);
    let written: Vec<usize> = (0..3).filter(|&i| key_file(i).exists()).collect();
    assert_eq!(written.len(), 1, "key files written: {written:?}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let admin = std::fs::read_to_string(key_file(written[0])).expect("key");
    for url in &urls {
        let page = try_call(url, "GET", KEYS, Some(&basic(&admin)), None)
            .await
            .expect("answers");
        assert_eq!(page.status, 200);
        assert_eq!(page.body["pagination"]["total"], 1);
    }
    let (client, connection) = tokio_postgres::connect(&database_url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let orgs: i64 = client
        .query_one("SELECT count(*) FROM orgs", &[])
        .await
        .expect("count")
        .get(0);
    assert_eq!(orgs, 1, "one organization, not one per replica");
    let store = PgStore::connect(&database_url, 1).await.expect("store");
    assert_eq!(
        store.schema_version().await.expect("version"),
        alphamoon_sandbox::postgres::SCHEMA_VERSION,
        "the migrations were applied once each"
    );
}

/// A connection of the test's own to the database at `url`, to watch what
/// the replicas' sessions are doing. Each query of it runs in its own
/// transaction, so it sees the sessions as they are, not a snapshot.
async fn watch_database(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("the watcher connects");
    tokio::spawn(connection);
    client
}

/// How many sessions on the watched database are waiting for a lock.
async fn lock_waits(watcher: &tokio_postgres::Client) -> i64 {
    watcher
        .query_one(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
            &[],
        )
        .await
        .expect("pg_stat_activity")
        .get(0)
}

/// Waits until `count` sessions on the watched database wait for a lock.
async fn wait_for_lock_waits(watcher: &tokio_postgres::Client, what: &str, count: i64) {
    support::wait_until(what, || async { lock_waits(watcher).await >= count }).await;
}

/// Processes killed when the test ends, however it ends.
struct Killed(Vec<Child>);

impl Drop for Killed {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn two_keys_deleting_each_other_at_once_through_two_replicas_leave_one_standing() {
    let replicas = Replicas::start(2, &UNTHROTTLED).await;
    let store = replicas.store().await;
    let (org, admin) = alphamoon_sandbox::create_org(&store, "Acme")
        .await
        .expect("org");
    let (first, first_secret) = admin_scoped_key(&store, &org.id, "first").await;
    let (second, second_secret) = admin_scoped_key(&store, &org.id, "second").await;
    // Two deletes that each lock their caller before they reach their
    // target would deadlock. To make them meet for certain, the test holds
    // a share lock on the second key while both deletes start, the way a
    // third request's write would.
    let (mut holder, connection) =
        tokio_postgres::connect(&replicas.database_url, tokio_postgres::NoTls)
            .await
            .expect("connect");
    tokio::spawn(connection);
    let hold = holder.transaction().await.expect("begin");
    hold.execute(
        "SELECT 1 FROM api_keys WHERE id = $1 FOR SHARE",
        &[&second.id],
    )
    .await
    .expect("hold the second key");
    let delete = |url: &str, secret: &str, target: &str| {
        let (url, secret, path) = (
            url.to_owned(),
            secret.to_owned(),
            format!("{KEYS}/{target}"),
        );
        tokio::spawn(async move {
            try_call(&url, "DELETE", &path, Some(&basic(&secret)), None)
                .await
                .expect("the replica answers")
        })
    };
    // Each delete is let go only once PostgreSQL shows it waiting for a
    // row lock: the first queued before the second, both before the hold
    // ends.
    let watcher = watch_database(&replicas.database_url).await;
    let one = delete(&replicas.urls[0], &first_secret, &second.id);
    wait_for_lock_waits(&watcher, "the first delete waits for the held row", 1).await;
    let two = delete(&replicas.urls[1], &second_secret, &first.id);
    wait_for_lock_waits(&watcher, "both deletes wait for the held rows", 2).await;
    assert!(
        !one.is_finished() && !two.is_finished(),
        "a delete was answered while the row was held"
    );
    hold.commit().await.expect("release");
    let (one, two) = (one.await.expect("one"), two.await.expect("two"));
    let mut statuses = [one.status, two.status];
    statuses.sort_unstable();
    // The first wins; the second finds its caller gone. Never both, and
    // never a 503 from a deadlock.
    assert_eq!(statuses, [200, 401], "{} / {}", one.body, two.body);
    let mut survivors = 0;
    for secret in [&first_secret, &second_secret] {
        if status(&replicas.urls[0], "GET", KEYS, secret).await == 200 {
            survivors += 1;
        }
    }
    assert_eq!(survivors, 1, "exactly the winner is left");
    let (listed, _) = list_all(&replicas.urls[1], &admin, 100).await;
    let total = listed.len();
    let page = try_call(&replicas.urls[0], "GET", KEYS, Some(&basic(&admin)), None)
        .await
        .expect("answers");
    assert_eq!(
        page.body["pagination"]["total"], total,
        "the count kept step"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn replicas_share_the_clock_and_the_faults_and_keep_their_own_journals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("control.token");
    let token_flag = token_file.to_str().expect("utf-8 path");
    let mut flags = UNTHROTTLED.to_vec();
    flags.extend(["--control-token-file", token_flag]);
    let replicas = Replicas::start(2, &flags).await;
    let token = std::fs::read_to_string(&token_file).expect("token");
    let control = format!("Bearer {}", token.trim());
    let (a, b) = (&replicas.urls[0], &replicas.urls[1]);
    let json = |value: Value| Some(("application/json", value.to_string()));

    let org = try_call(
        a,
        "POST",
        "/_sandbox/v1/orgs",
        Some(&control),
        json(serde_json::json!({"name": "Acme"})),
    )
    .await
    .expect("answer");
    let admin = org.body["adminKey"].as_str().expect("adminKey").to_owned();

    // The clock, moved through A, is B's clock. It stays within the admin
    // key's year.
    let frozen_at = (chrono::Utc::now() + chrono::Duration::days(30))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let frozen_at = frozen_at.as_str();
    let frozen = try_call(
        a,
        "PUT",
        "/_sandbox/v1/clock",
        Some(&control),
        json(serde_json::json!({"frozenAt": frozen_at})),
    )
    .await
    .expect("answer");
    assert_eq!(frozen.status, 200, "{}", frozen.body);
    for url in [a, b] {
        let seen = try_call(url, "GET", "/_sandbox/v1/clock", Some(&control), None)
            .await
            .expect("answer");
        assert_eq!(seen.body["now"], frozen_at, "{url}");
    }
    let (content_type, body) = create_body("on B", &["workspace.file:upload"]);
    let mut body: Value = serde_json::from_str(&body).expect("json");
    body["exp"] = Value::from((chrono::Utc::now() + chrono::Duration::days(60)).to_rfc3339());
    let created = try_call(
        b,
        "POST",
        KEYS,
        Some(&basic(&admin)),
        Some((content_type, body.to_string())),
    )
    .await
    .expect("answer");
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(
        created.body["createdAt"], frozen_at,
        "made at the shared clock's now"
    );

    // A fault added through B, limited to three hits, hits three requests
    // spread over both replicas, and no more.
    let fault = try_call(
        b,
        "POST",
        "/_sandbox/v1/faults",
        Some(&control),
        json(serde_json::json!({"operationId": "listApiKeys", "status": 503, "times": 3})),
    )
    .await
    .expect("answer");
    assert_eq!(fault.status, 201);
    let mut statuses = Vec::new();
    for url in [a, b, a, b, a, b] {
        statuses.push(status(url, "GET", KEYS, &admin).await);
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 503).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(&statuses[3..], [200, 200, 200], "{statuses:?}");

    // Each journal holds what its own replica served.
    let journal = |url: &String| {
        let url = url.clone();
        let control = control.clone();
        async move {
            try_call(
                &url,
                "GET",
                "/_sandbox/v1/requests?operationId=listApiKeys",
                Some(&control),
                None,
            )
            .await
            .expect("answer")
            .body["requests"]
                .as_array()
                .expect("requests")
                .len()
        }
    };
    assert_eq!((journal(a).await, journal(b).await), (3, 3));

    // A reset through A frees B's clock too.
    try_call(a, "POST", "/_sandbox/v1/reset", Some(&control), None)
        .await
        .expect("answer");
    for url in [a, b] {
        let free = try_call(url, "GET", "/_sandbox/v1/clock", Some(&control), None)
            .await
            .expect("answer");
        assert_eq!(free.body["frozen"], false, "{url}");
    }
}

/// How many clients load the sandbox beside a reset.
const CLIENTS: usize = 4;

/// How many answers each loading client has had.
#[derive(Default)]
struct Progress([AtomicUsize; CLIENTS]);

impl Progress {
    fn counts(&self) -> Vec<usize> {
        self.0.iter().map(|n| n.load(Ordering::SeqCst)).collect()
    }

    /// Waits until client `i` has had more than `done` answers.
    async fn wait_for_client(&self, i: usize, done: usize, what: &str) {
        support::wait_until(what, || {
            std::future::ready(self.0[i].load(Ordering::SeqCst) > done)
        })
        .await;
    }

    /// Waits until every client has had more than `done` answers.
    async fn wait_for_every_client(&self, done: usize, what: &str) {
        for i in 0..CLIENTS {
            self.wait_for_client(i, done, what).await;
        }
    }
}

/// A reset empties every table at once, so it must have them all. Beside
/// a slow reader (a `pg_dump`, a psql session in a transaction) it waits
/// for the reader, then answers 204; under load it never deadlocks with
/// the API's statements, and none of them fails for it. Round after
/// round, with the server's log as the witness.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn a_reset_waits_for_a_slow_reader_and_never_deadlocks_under_load() {
    const TOKEN: &str = "amc_reset-test-token";
    let deadlocks = support::postgres_deadlocks();
    let database_url = support::fresh_postgres_database().await;
    let store = Arc::new(PgStore::connect(&database_url, 8).await.expect("store"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let settings = alphamoon_sandbox::Settings {
        rate_limit: None,
        org_rate_limit: None,
        control_token: Some(alphamoon_sandbox::ControlToken::new(TOKEN)),
        ..alphamoon_sandbox::Settings::default()
    };
    let sandbox = alphamoon_sandbox::Sandbox::serve(listener, store, &settings).expect("serve");
    let url = sandbox.url();
    let reset = || {
        let url = url.clone();
        async move {
            try_call(
                &url,
                "POST",
                "/_sandbox/v1/reset",
                Some(&format!("Bearer {TOKEN}")),
                None,
            )
            .await
            .expect("answered")
        }
    };

    // Clients that list and create all along, each starting over with a
    // fresh organization when a reset has taken theirs.
    let load = |stop: Arc<AtomicBool>, progress: Arc<Progress>| {
        (0..CLIENTS)
            .map(|i| {
                let (url, stop, progress) = (url.clone(), Arc::clone(&stop), Arc::clone(&progress));
                tokio::spawn(async move {
                    let mut statuses = Vec::new();
                    let mut admin = String::new();
                    while !stop.load(Ordering::SeqCst) {
                        if admin.is_empty() {
                            let created = try_call(
                                &url,
                                "POST",
                                "/_sandbox/v1/orgs",
                                Some(&format!("Bearer {TOKEN}")),
                                Some(("application/json", r#"{"name":"load"}"#.to_owned())),
                            )
                            .await
                            .expect("answered");
                            assert_eq!(created.status, 201, "{}", created.body);
                            admin = created.body["adminKey"].as_str().expect("key").to_owned();
                        }
                        let answer = if i % 2 == 0 {
                            try_call(&url, "GET", KEYS, Some(&basic(&admin)), None).await
                        } else {
                            let body = create_body("load", &["workspace.file:upload"]);
                            try_call(&url, "POST", KEYS, Some(&basic(&admin)), Some(body)).await
                        };
                        let status = answer.expect("answered").status;
                        if status == 401 {
                            admin.clear();
                        }
                        statuses.push(status);
                        progress.0[i].fetch_add(1, Ordering::SeqCst);
                    }
                    statuses
                })
            })
            .collect::<Vec<_>>()
    };
    let settle = |tasks: Vec<tokio::task::JoinHandle<Vec<u16>>>, when: String| async move {
        for task in tasks {
            let statuses = task.await.expect("load");
            assert!(
                statuses.iter().all(|s| [200, 201, 401].contains(s)),
                "{when}: an API call failed beside the reset: {statuses:?}"
            );
        }
    };

    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(Progress::default());
    let tasks = load(Arc::clone(&stop), Arc::clone(&progress));
    progress
        .wait_for_every_client(0, "the load is under way")
        .await;
    let (reader, connection) = tokio_postgres::connect(&database_url, tokio_postgres::NoTls)
        .await
        .expect("reader connects");
    tokio::spawn(connection);
    reader
        .batch_execute("BEGIN; SELECT count(*) FROM api_keys")
        .await
        .expect("the reader reads");
    let started = Instant::now();
    let resetting = tokio::spawn(reset());
    // Only a reset asks for an exclusive lock: once PostgreSQL shows it
    // waiting for one, the reset has met the reader.
    let watcher = watch_database(&database_url).await;
    support::wait_until("the reset waits for the reader's lock", || async {
        watcher
            .query_one(
                "SELECT count(*) FROM pg_locks JOIN pg_database ON pg_database.oid = pg_locks.database \
                 WHERE datname = current_database() AND mode = 'AccessExclusiveLock' AND NOT granted",
                &[],
            )
            .await
            .expect("pg_locks")
            .get::<_, i64>(0)
            > 0
    })
    .await;
    // The reader is slow in real time, on purpose: it holds its table far
    // longer than the reset waits for any one lock before it lets go and
    // tries again, which is the patience under test.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !resetting.is_finished(),
        "the reset answered while the reader held a table it empties"
    );
    reader.batch_execute("COMMIT").await.expect("commit");
    let answer = resetting.await.expect("reset");
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the reset cannot have emptied the tables while the reader held one"
    );
    stop.store(true, Ordering::SeqCst);
    settle(tasks, "beside the slow reader".to_owned()).await;

    for round in 0..12 {
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(Progress::default());
        let tasks = load(Arc::clone(&stop), Arc::clone(&progress));
        // Every client has been answered: each is sending all along now.
        progress
            .wait_for_every_client(0, &format!("round {round}: the load is under way"))
            .await;
        let answer = reset().await;
        assert_eq!(answer.status, 204, "round {round}: {}", answer.body);
        // Two more answers to each client: the second was sent after the
        // reset was answered, into the emptied tables.
        let before = progress.counts();
        for (i, done) in before.iter().enumerate() {
            progress
                .wait_for_client(
                    i,
                    done + 1,
                    &format!("round {round}: client {i} goes on after the reset"),
                )
                .await;
        }
        stop.store(true, Ordering::SeqCst);
        settle(tasks, format!("round {round}")).await;
    }
    assert_eq!(
        support::postgres_deadlocks(),
        deadlocks,
        "PostgreSQL reported a deadlock"
    );
}
