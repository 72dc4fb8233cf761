//! The read model answers from memory only while the store's version says
//! nothing has changed. Each case warms sandbox A until it answers from
//! memory, changes the store through sandbox B, which has connections and
//! a read model of its own (all a second process has that matters here),
//! and checks that A's very next answer shows the change. Each case runs
//! on SQLite (two stores open on one file) and on PostgreSQL (two stores
//! on one database); a model that skipped its check, or that a change
//! failed to invalidate, would fail them.

use std::sync::Arc;

use alphamoon_sandbox::{
    ADMIN_SCOPE, ClockMove, PgStore, Sandbox, Settings, SqliteStore, Store, issue_key,
};
use serde_json::Value;

use crate::support::{self, KEYS, basic, call, create_body};

/// Two servers on one store, and the organization's admin key.
struct Pair {
    a: Sandbox,
    b: Sandbox,
    admin: String,
    org_id: String,
    _dir: Option<tempfile::TempDir>,
}

async fn serve(store: Arc<dyn Store>) -> Sandbox {
    let settings = Settings {
        rate_limit: None,
        org_rate_limit: None,
        ..Settings::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    Sandbox::serve(listener, store, &settings).expect("serve")
}

impl Pair {
    async fn on(a: Arc<dyn Store>, b: Arc<dyn Store>, dir: Option<tempfile::TempDir>) -> Self {
        let (a, b) = (serve(a).await, serve(b).await);
        let (org, admin) = b.create_org("Acme").await.expect("org");
        Self {
            a,
            b,
            admin,
            org_id: org.id,
            _dir: dir,
        }
    }

    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sandbox.db");
        let a = Arc::new(SqliteStore::open(&path).expect("store a"));
        let b = Arc::new(SqliteStore::open(&path).expect("store b"));
        Self::on(a, b, Some(dir)).await
    }

    async fn postgres() -> Self {
        let url = support::fresh_postgres_database().await;
        let a = Arc::new(PgStore::connect(&url, 4).await.expect("store a"));
        let b = Arc::new(PgStore::connect(&url, 4).await.expect("store b"));
        Self::on(a, b, None).await
    }

    /// A key of the organization that may list, expiring in `seconds`.
    async fn key(&self, name: &str, seconds: i64) -> (String, String) {
        let exp = chrono::Utc::now().timestamp() + seconds;
        let (key, secret) = issue_key(self.b.store(), &self.org_id, name, &[ADMIN_SCOPE], exp)
            .await
            .expect("key");
        (key.id, secret)
    }
}

/// A's list with `secret`, asked twice so that the second answer (the
/// one returned) comes from A's memory when the model keeps it.
async fn warm_list(sandbox: &Sandbox, secret: &str) -> Value {
    let first = call(sandbox, "GET", KEYS, Some(&basic(secret)), None).await;
    assert_eq!(first.status, 200, "{}", first.body);
    let again = call(sandbox, "GET", KEYS, Some(&basic(secret)), None).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(first.body, again.body, "nothing changed in between");
    again.body
}

async fn list_status(sandbox: &Sandbox, secret: &str) -> u16 {
    call(sandbox, "GET", KEYS, Some(&basic(secret)), None)
        .await
        .status
}

fn listed(page: &Value, id: &str) -> Option<Value> {
    page["apiKeys"]
        .as_array()
        .expect("apiKeys")
        .iter()
        .find(|key| key["id"] == id)
        .cloned()
}

fn total(page: &Value) -> u64 {
    page["pagination"]["total"].as_u64().expect("total")
}

async fn a_delete_through_b_shows_on_a_at_once(pair: Pair) {
    let (doomed, secret) = pair.key("doomed", 3600).await;
    warm_list(&pair.a, &secret).await;
    let before = warm_list(&pair.a, &pair.admin).await;
    assert!(listed(&before, &doomed).is_some());
    let deleted = call(
        &pair.b,
        "DELETE",
        &format!("{KEYS}/{doomed}"),
        Some(&basic(&pair.admin)),
        None,
    )
    .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(
        list_status(&pair.a, &secret).await,
        401,
        "A still accepts it"
    );
    let after = call(&pair.a, "GET", KEYS, Some(&basic(&pair.admin)), None).await;
    assert_eq!(listed(&after.body, &doomed), None, "A still lists it");
    assert_eq!(total(&after.body), total(&before) - 1);
}

async fn a_create_through_b_shows_on_a_at_once(pair: Pair) {
    let before = warm_list(&pair.a, &pair.admin).await;
    let created = call(
        &pair.b,
        "POST",
        KEYS,
        Some(&basic(&pair.admin)),
        Some(create_body("new", &["workspace.file:upload"])),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("id");
    let after = call(&pair.a, "GET", KEYS, Some(&basic(&pair.admin)), None).await;
    assert!(listed(&after.body, id).is_some(), "A does not list it");
    assert_eq!(total(&after.body), total(&before) + 1);
}

async fn a_clock_moved_through_b_shows_on_a_at_once(pair: Pair) {
    let (short, secret) = pair.key("short", 3600).await;
    warm_list(&pair.a, &secret).await;
    let before = warm_list(&pair.a, &pair.admin).await;
    assert_eq!(listed(&before, &short).expect("listed")["status"], "Active");
    pair.b
        .control()
        .set_clock(ClockMove::AdvanceBySeconds(7200))
        .await
        .expect("advance");
    assert_eq!(
        list_status(&pair.a, &secret).await,
        401,
        "A still accepts it"
    );
    let after = call(&pair.a, "GET", KEYS, Some(&basic(&pair.admin)), None).await;
    assert_eq!(
        listed(&after.body, &short).expect("listed")["status"],
        "Expired"
    );
}

async fn a_reset_through_b_shows_on_a_at_once(pair: Pair) {
    warm_list(&pair.a, &pair.admin).await;
    pair.b.reset().await.expect("reset");
    assert_eq!(
        list_status(&pair.a, &pair.admin).await,
        401,
        "A still accepts it"
    );
    let (_, admin) = pair.b.create_org("Acme again").await.expect("org");
    let page = call(&pair.a, "GET", KEYS, Some(&basic(&admin)), None).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(total(&page.body), 1, "only the new admin key");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_delete_elsewhere_shows_at_once() {
    a_delete_through_b_shows_on_a_at_once(Pair::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_create_elsewhere_shows_at_once() {
    a_create_through_b_shows_on_a_at_once(Pair::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_clock_moved_elsewhere_shows_at_once() {
    a_clock_moved_through_b_shows_on_a_at_once(Pair::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_reset_elsewhere_shows_at_once() {
    a_reset_through_b_shows_on_a_at_once(Pair::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn postgres_a_delete_elsewhere_shows_at_once() {
    a_delete_through_b_shows_on_a_at_once(Pair::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn postgres_a_create_elsewhere_shows_at_once() {
    a_create_through_b_shows_on_a_at_once(Pair::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn postgres_a_clock_moved_elsewhere_shows_at_once() {
    a_clock_moved_through_b_shows_on_a_at_once(Pair::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: `cargo xtask ci` runs it"]
async fn postgres_a_reset_elsewhere_shows_at_once() {
    a_reset_through_b_shows_on_a_at_once(Pair::postgres().await).await;
}

/// Nothing in the store changes while a key's `exp` passes on the running
/// clock: the page A keeps in memory must still show it expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_kept_in_memory_follows_the_running_clock() {
    let pair = Pair::sqlite().await;
    let (soon, _) = pair.key("soon", 2).await;
    let before = warm_list(&pair.a, &pair.admin).await;
    assert_eq!(listed(&before, &soon).expect("listed")["status"], "Active");
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    let after = call(&pair.a, "GET", KEYS, Some(&basic(&pair.admin)), None).await;
    assert_eq!(
        listed(&after.body, &soon).expect("listed")["status"],
        "Expired"
    );
}
