//! Creates made at once, as the store groups them (SQLite in one
//! transaction, PostgreSQL in one statement per organization): each is
//! still checked and answered on its own. Run on SQLite by `cargo test`,
//! and on PostgreSQL by `cargo xtask ci`.

use std::sync::Arc;

use alphamoon_sandbox::store::{Acting, Write};
use alphamoon_sandbox::{ADMIN_SCOPE, Org, Store, StoredKey, create_org, issue_key, keys};

use crate::support;

const PER_CALLER: usize = 6;

/// A fresh store holding one organization, and its admin key.
async fn store_with_org() -> (Arc<dyn Store>, Org, StoredKey) {
    let store = support::fresh_store().await;
    let (org, admin_secret) = create_org(&*store, "Acme").await.expect("org");
    let admin = store
        .key_by_secret_hash(&keys::hash(&admin_secret))
        .await
        .expect("lookup")
        .expect("admin");
    (store, org, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_at_once_are_checked_and_answered_each_on_its_own() {
    let (store, org, admin) = store_with_org().await;
    let exp = chrono::Utc::now().timestamp() + 3600;
    let mut callers = Vec::new();
    for i in 0..4 {
        let (key, _) = issue_key(
            &*store,
            &org.id,
            &format!("caller {i}"),
            &[ADMIN_SCOPE],
            exp,
        )
        .await
        .expect("caller");
        callers.push(key.id);
    }
    // The last caller is gone before any of its creates is made.
    let gone = callers[3].clone();
    let deleted = store
        .delete_key(Acting { key_id: &admin.id }, &org.id, &gone)
        .await
        .expect("delete");
    assert_eq!(deleted, Write::Done(true));

    // Every create at once, and two of them with the same secret.
    let shared_secret = keys::hash("the same secret twice");
    let creates = callers
        .iter()
        .flat_map(|caller| (0..PER_CALLER).map(move |n| (caller.clone(), n)));
    let tasks: Vec<_> = creates
        .enumerate()
        .map(|(i, (caller, n))| {
            let store: Arc<dyn Store> = Arc::clone(&store);
            let org_id = org.id.clone();
            tokio::spawn(async move {
                let key = StoredKey {
                    id: keys::new_id().expect("id"),
                    org_id,
                    name: format!("made by {caller} #{n}"),
                    scopes: vec![ADMIN_SCOPE],
                    created_at: 0,
                    exp,
                };
                let hash = if i == 1 || i == 2 {
                    shared_secret
                } else {
                    keys::hash(&keys::new_secret().expect("secret"))
                };
                let made = store
                    .insert_key_as(Acting { key_id: &caller }, &key, &hash)
                    .await;
                (caller, i, made)
            })
        })
        .collect();

    let mut made = 0;
    for task in tasks {
        let (caller, i, outcome) = task.await.expect("create");
        match (caller == gone, i, outcome) {
            (true, _, outcome) => assert_eq!(
                outcome.expect("answered"),
                Write::CallerGone,
                "a create for the deleted caller"
            ),
            (false, 1 | 2, Ok(Write::Done(_))) => made += 1,
            (false, 1 | 2, Err(_)) => {}
            (false, _, outcome) => {
                assert!(
                    matches!(outcome, Ok(Write::Done(_))),
                    "create {i}: {outcome:?}"
                );
                made += 1;
            }
        }
    }
    // Of the two with one secret, exactly one was made.
    assert_eq!(made, 3 * PER_CALLER - 1);
    let (listed, total) = store
        .list_keys(&org.id, 0, 100)
        .await
        .expect("list")
        .expect("org");
    // The admin key, the three live callers and what they made.
    assert_eq!(total, 1 + 3 + made as u64);
    assert_eq!(listed.len() as u64, total);
}

/// Only a write that changed rows moves the store's version, so a delete
/// that found nothing, or a create refused in its own transaction, leaves
/// every process's reads valid; one that changed something moves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_write_that_changed_rows_moves_the_version() {
    let (store, org, admin) = store_with_org().await;
    let caller = Acting { key_id: &admin.id };
    let before = store.version().await.expect("version");
    let missing = store
        .delete_key(caller, &org.id, &"0".repeat(32))
        .await
        .expect("delete");
    assert_eq!(missing, Write::Done(false));
    let key = StoredKey {
        id: keys::new_id().expect("id"),
        org_id: org.id.clone(),
        name: "refused".to_owned(),
        scopes: vec![ADMIN_SCOPE],
        created_at: 0,
        exp: 1,
    };
    let refused = store
        .insert_key_as(caller, &key, &keys::hash("refused"))
        .await
        .expect("create");
    assert_eq!(refused, Write::BornExpired);
    assert_eq!(store.version().await.expect("version"), before);

    let key = StoredKey {
        exp: chrono::Utc::now().timestamp() + 3600,
        ..key
    };
    let made = store
        .insert_key_as(caller, &key, &keys::hash("made"))
        .await
        .expect("create");
    assert!(matches!(made, Write::Done(_)), "{made:?}");
    assert!(store.version().await.expect("version") > before);
}
