//! Unit tests of the parent module.
use super::*;

fn org(store: &SqliteStore, id: &str) {
    let (admin, _) = key(id, 1_000_000);
    store
        .create_org(
            &Org {
                id: id.to_owned(),
                name: id.to_owned(),
            },
            &admin,
            &[0xFF; 32],
        )
        .expect("org");
}

fn key(org_id: &str, i: usize) -> (StoredKey, SecretHash) {
    let mut hash = [0u8; 32];
    hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
    let key = StoredKey {
        id: format!("{i:032x}"),
        org_id: org_id.to_owned(),
        name: format!("k{i}"),
        scopes: vec!["workspace.file:upload".to_owned()],
        created_at: i as i64,
        exp: i64::MAX,
    };
    (key, hash)
}

#[test]
fn in_memory_stores_are_private_and_their_readers_see_the_writes() {
    let a = SqliteStore::in_memory().expect("a");
    let b = SqliteStore::in_memory().expect("b");
    org(&a, "org");
    // `is_empty` reads through a reader connection, not the writer.
    assert!(!a.is_empty().expect("read a"));
    assert!(b.is_empty().expect("read b"), "stores do not share data");
    let (k, hash) = key("org", 1);
    a.insert_key(&k, &hash).expect("insert");
    assert_eq!(a.key_by_secret_hash(&hash).expect("lookup"), Some(k));
}

#[test]
fn in_memory_reads_and_writes_mix_without_errors() {
    let store = std::sync::Arc::new(SqliteStore::in_memory().expect("store"));
    org(&store, "org");
    let writer = {
        let store = std::sync::Arc::clone(&store);
        std::thread::spawn(move || {
            for i in 0..2000 {
                let (k, hash) = key("org", i);
                store.insert_key(&k, &hash).expect("insert");
            }
        })
    };
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let store = std::sync::Arc::clone(&store);
            std::thread::spawn(move || {
                let mut seen = 0;
                while seen < 2000 {
                    let (page, total) = store.list_keys("org", 0, 100).expect("list");
                    assert!(total >= seen, "the total never goes back");
                    assert_eq!(page.len() as u64, total.min(100), "page matches total");
                    seen = total;
                }
            })
        })
        .collect();
    writer.join().expect("writer");
    for reader in readers {
        reader.join().expect("reader");
    }
}

#[test]
fn an_organization_and_its_first_key_are_stored_together_or_not_at_all() {
    let store = SqliteStore::in_memory().expect("store");
    let acme = Org {
        id: "acme".to_owned(),
        name: "Acme".to_owned(),
    };
    let (first, hash) = key("acme", 1);
    store.create_org(&acme, &first, &hash).expect("acme");
    let globex = Org {
        id: "globex".to_owned(),
        name: "Globex".to_owned(),
    };
    // The same secret hash again: the key cannot be stored, so neither is
    // the organization.
    let (clash, _) = key("globex", 2);
    assert!(store.create_org(&globex, &clash, &hash).is_err());
    let (second, other_hash) = key("globex", 3);
    store
        .create_org(&globex, &second, &other_hash)
        .expect("globex was not half-stored by the failed attempt");
    assert_eq!(store.list_keys("globex", 0, 10).expect("list").1, 1);
}
