//! The ten-second tour: a sandbox server in this process, and the client
//! walking the whole flow against it over real HTTP.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use alphamoon_client::{Client, Error, Scope, types};
use alphamoon_sandbox::{Sandbox, Settings};
use futures_util::TryStreamExt as _;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn step(n: u32, text: &str) {
    println!("\n{n}. {text}");
}

/// A key expiring in `days`, with `scopes`.
fn request(name: &str, days: i64, scopes: Vec<Scope>) -> types::builder::CreateApiKeyRequest {
    types::CreateApiKeyRequest::builder()
        .name(name)
        .exp(chrono::Utc::now() + chrono::Duration::days(days))
        .scopes(scopes)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    step(1, "Start the sandbox (in memory) and make an organization");
    let sandbox = Sandbox::start_in_memory(Settings::default()).await?;
    let (org, admin_key) = sandbox.create_org("Acme").await?;
    println!("   sandbox at {}, organization {}", sandbox.url(), org.id);
    let admin = Client::builder(&admin_key)
        .base_url(&sandbox.url())
        .build()?;

    step(2, "Create a key for an uploader: files only, 90 days");
    let uploader = admin
        .create_api_key()
        .body(request(
            "uploader",
            90,
            vec![Scope::WorkspaceFileUpload, Scope::WorkspaceFileDownload],
        ))
        .send()
        .await
        .map_err(Error::from)?
        .into_inner();
    println!(
        "   {} {:?} expires {}",
        uploader.id.as_str(),
        uploader.key,
        uploader.exp.format("%Y-%m-%d")
    );
    println!("   (the secret is redacted in Debug; `key.expose_secret()` reads it, once)");

    for name in ["reporting", "exports", "backup"] {
        admin
            .create_api_key()
            .body(request(name, 30, vec![Scope::WorkspaceResultRead]))
            .send()
            .await
            .map_err(Error::from)?;
    }

    step(3, "List with paging: two keys per page");
    let mut offset = 0;
    loop {
        let page = admin
            .list_api_keys()
            .offset(offset)
            .limit(2)
            .send()
            .await
            .map_err(Error::from)?;
        let names: Vec<&str> = page.api_keys.iter().map(|k| k.name.as_str()).collect();
        println!(
            "   offset {offset}: {names:?} (total {})",
            page.pagination.total
        );
        offset += page.api_keys.len() as u64;
        if page.api_keys.is_empty() || offset >= page.pagination.total {
            break;
        }
    }
    let every: Vec<types::ApiKey> = admin.list_all_api_keys(2).try_collect().await?;
    println!("   or let the stream page: {} keys", every.len());

    step(4, "The uploader key cannot manage keys: it lacks the scope");
    let as_uploader = Client::builder(uploader.key.expose_secret())
        .base_url(&sandbox.url())
        .build()?;
    match as_uploader
        .list_api_keys()
        .send()
        .await
        .map_err(Error::from)
    {
        Err(refused) => println!("   refused as expected: {refused}"),
        Ok(_) => return Err("the uploader key should have been refused".into()),
    }

    step(
        5,
        "Rotate the uploader key: same name and scopes, new secret",
    );
    // The id as the listed key carries it; the rotation checks it before
    // it creates anything.
    let rotation = admin
        .rotate_api_key(
            &uploader.id,
            chrono::Utc::now() + chrono::Duration::days(90),
        )
        .await?;
    println!(
        "   new key {} replaces {} (now deleted)",
        rotation.created.id.as_str(),
        rotation.deleted.as_str()
    );
    match as_uploader
        .list_api_keys()
        .send()
        .await
        .map_err(Error::from)
    {
        Err(gone) => println!("   the old secret no longer works: {gone}"),
        Ok(_) => return Err("the rotated-out key should no longer work".into()),
    }

    step(6, "Delete the new key");
    admin
        .delete_api_key()
        .api_key_id(rotation.created.id.clone())
        .send()
        .await
        .map_err(Error::from)?;
    let left = admin.list_api_keys().send().await.map_err(Error::from)?;
    println!("   deleted; {} keys left", left.pagination.total);

    println!("\nDone. Next: `cargo xtask ci` runs every check, and the README shows the CLI.");
    Ok(())
}
