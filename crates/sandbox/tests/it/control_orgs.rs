//! Looking at the sandbox's state through the control plane: the
//! organizations, and each one's keys as the vendor API lists them. Every
//! answer is checked against the control spec on its way out.

use crate::support;

use crate::support::{KEYS, basic, call, create_body};
use serde_json::{Value, json};

const TOKEN: &str = "amc_orgs-test-token-0123456789";
const ORGS: &str = "/_sandbox/v1/orgs";

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// A sandbox with the control plane on, holding "Acme" and its admin key.
async fn controlled() -> (alphamoon_sandbox::Sandbox, String) {
    support::controlled_by(TOKEN).await
}

/// `GET path` with the control token; the answer's status and body.
async fn get(sandbox: &alphamoon_sandbox::Sandbox, path: &str) -> (u16, Value) {
    let answer = call(sandbox, "GET", path, Some(&bearer()), None).await;
    (answer.status, answer.body)
}

/// The keys path of `org_id`, its `|` percent-encoded.
fn keys_of(org_id: &str) -> String {
    format!("{ORGS}/{}/keys", org_id.replace('|', "%7C"))
}

#[tokio::test]
async fn organizations_are_listed_by_name_with_their_key_counts_a_page_at_a_time() {
    let (sandbox, acme_admin) = controlled().await;
    for name in ["Globex", "Initech"] {
        let created = call(
            &sandbox,
            "POST",
            ORGS,
            Some(&bearer()),
            Some(("application/json", json!({ "name": name }).to_string())),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.body);
    }
    let made = call(
        &sandbox,
        "POST",
        KEYS,
        Some(&basic(&acme_admin)),
        Some(create_body("uploader", &["workspace.file:upload"])),
    )
    .await;
    assert_eq!(made.status, 201);

    let (status, page) = get(&sandbox, ORGS).await;
    assert_eq!(status, 200, "{page}");
    let listed: Vec<(&str, u64)> = page["orgs"]
        .as_array()
        .expect("orgs")
        .iter()
        .map(|org| {
            (
                org["name"].as_str().expect("name"),
                org["keyCount"].as_u64().expect("count"),
            )
        })
        .collect();
    assert_eq!(listed, [("Acme", 2), ("Globex", 1), ("Initech", 1)]);
    assert_eq!(
        page["pagination"],
        json!({ "offset": 0, "limit": 100, "total": 3 })
    );
    assert!(
        !page.to_string().contains("amk_"),
        "no secret is listed: {page}"
    );

    let (_, second) = get(&sandbox, &format!("{ORGS}?offset=1&limit=1")).await;
    assert_eq!(second["orgs"][0]["name"], "Globex");
    assert_eq!(second["orgs"].as_array().expect("orgs").len(), 1);
    let (_, beyond) = get(&sandbox, &format!("{ORGS}?offset=10")).await;
    assert_eq!(beyond["orgs"], json!([]));
    assert_eq!(beyond["pagination"]["total"], 3);

    for bad in ["limit=0", "limit=101", "offset=-1", "page=2"] {
        let (status, body) = get(&sandbox, &format!("{ORGS}?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // The token is needed, and a key is no token.
    for auth in [None, Some(basic(&acme_admin))] {
        let answer = call(&sandbox, "GET", ORGS, auth.as_deref(), None).await;
        assert_eq!(answer.status, 401);
    }
}

#[tokio::test]
async fn an_organizations_keys_are_listed_as_the_vendor_api_lists_them() {
    let (sandbox, admin) = controlled().await;
    let made = call(
        &sandbox,
        "POST",
        KEYS,
        Some(&basic(&admin)),
        Some(create_body("short-lived", &["workspace.file:upload"])),
    )
    .await;
    assert_eq!(made.status, 201);
    let org_id = support::org_of(&sandbox, &admin).await;

    let (status, page) = get(&sandbox, &keys_of(&org_id)).await;
    assert_eq!(status, 200, "{page}");
    let vendor = call(&sandbox, "GET", KEYS, Some(&basic(&admin)), None).await;
    assert_eq!(page, vendor.body, "the same page, member for member");
    assert!(!page.to_string().contains("amk_"), "{page}");

    // Status follows the sandbox clock: 90 days and more on, the new key
    // has expired (the admin key lives a year).
    let moved = call(
        &sandbox,
        "PUT",
        "/_sandbox/v1/clock",
        Some(&bearer()),
        Some((
            "application/json",
            json!({ "advanceBySeconds": 100 * 86_400 }).to_string(),
        )),
    )
    .await;
    assert_eq!(moved.status, 200, "{}", moved.body);
    let (_, page) = get(&sandbox, &format!("{}?offset=1&limit=1", keys_of(&org_id))).await;
    assert_eq!(page["apiKeys"][0]["name"], "short-lived");
    assert_eq!(page["apiKeys"][0]["status"], "Expired");
    assert_eq!(
        page["pagination"],
        json!({ "offset": 1, "limit": 1, "total": 2 })
    );

    for unknown in [
        keys_of("ORG:sandbox|00000000000000000000"),
        format!("{ORGS}/%00/keys"),
        format!("{ORGS}/{}/keys", "x".repeat(300)),
    ] {
        let (status, body) = get(&sandbox, &unknown).await;
        assert_eq!(status, 404, "{unknown}: {body}");
    }
    let (status, _) = get(&sandbox, &format!("{}?limit=500", keys_of(&org_id))).await;
    assert_eq!(status, 400);

    // After a reset the organization is gone.
    let reset = call(
        &sandbox,
        "POST",
        "/_sandbox/v1/reset",
        Some(&bearer()),
        None,
    )
    .await;
    assert_eq!(reset.status, 204);
    let (status, _) = get(&sandbox, &keys_of(&org_id)).await;
    assert_eq!(status, 404);
    let (_, page) = get(&sandbox, ORGS).await;
    assert_eq!(page["orgs"], json!([]));
}
