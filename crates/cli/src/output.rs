//! Printing results as tables for people or JSON for programs. JSON uses
//! the API's own field names: it is the generated types, serialized.

use alphamoon_client::{Scope, ScopeGroup, types};
use serde_json::json;

use crate::args::Output;

/// Keys expiring sooner than this are flagged.
const EXPIRY_WARNING_DAYS: i64 = 14;

fn print_json(value: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("API types serialize")
    );
}

/// Prints rows under a header, each column as wide as its widest cell.
/// Cells are shown [`printable`], since most come from the server.
fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| printable(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.iter().map(|h| (*h).to_owned()).collect());
    for row in rows {
        line(row);
    }
}

/// `collection:create`, `file:upload +3`: scopes without the common
/// `workspace.` prefix, the first two shown.
fn abbreviate(scopes: &[Scope]) -> String {
    if scopes.len() == Scope::ALL.len() && Scope::ALL.iter().all(|s| scopes.contains(s)) {
        return format!("all {} scopes", Scope::ALL.len());
    }
    let short: Vec<&str> = scopes
        .iter()
        .map(|s| s.as_str().strip_prefix("workspace.").unwrap_or(s.as_str()))
        .collect();
    match short.len() {
        0..=2 => short.join(", "),
        n => format!("{} +{}", short[..2].join(", "), n - 2),
    }
}

/// `EXPIRED`, `expires in 3d`, or nothing.
fn expiry_flag(exp: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> String {
    let left = exp - now;
    if left <= chrono::Duration::zero() {
        "EXPIRED".to_owned()
    } else if left < chrono::Duration::days(EXPIRY_WARNING_DAYS) {
        match left.num_days() {
            0 => format!("expires in {}h", left.num_hours().max(1)),
            days => format!("expires in {days}d"),
        }
    } else {
        String::new()
    }
}

/// `text` with its control characters escaped (`\u{1b}`), for a terminal.
/// Names and ids come from the server and are no longer held to the
/// request limits when read, so one could carry escape sequences or line
/// breaks that would forge or garble what is shown.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

pub(crate) fn keys(format: Output, keys: &[types::ApiKey], page: Option<&types::Pagination>) {
    if format == Output::Json {
        match page {
            Some(pagination) => print_json(&json!({ "apiKeys": keys, "pagination": pagination })),
            None => print_json(&json!({ "apiKeys": keys })),
        }
        return;
    }
    let now = chrono::Utc::now();
    let rows: Vec<Vec<String>> = keys
        .iter()
        .map(|k| {
            vec![
                k.id.clone(),
                k.name.clone(),
                abbreviate(&k.scopes),
                k.status.to_string(),
                when(k.created_at),
                when(k.exp),
                expiry_flag(k.exp, now),
            ]
        })
        .collect();
    print_table(
        &["ID", "NAME", "SCOPES", "STATUS", "CREATED", "EXPIRES", ""],
        &rows,
    );
    match page {
        Some(p) => println!(
            "\n{} of {} keys (offset {}); --all lists every key",
            keys.len(),
            p.total,
            p.offset
        ),
        None => println!("\n{} keys", keys.len()),
    }
}

fn describe_created(key: &types::CreatedApiKey) {
    println!("id:       {}", printable(&key.id));
    println!("name:     {}", printable(&key.name));
    println!(
        "scopes:   {}",
        key.scopes
            .iter()
            .map(|scope| printable(scope.as_str()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("expires:  {}", key.exp.to_rfc3339());
    println!("key:      {}", key.key.expose_secret());
}

fn save_now_notice() {
    eprintln!("\nSave the key now: it is shown once and cannot be retrieved again.");
}

pub(crate) fn created(format: Output, key: &types::CreatedApiKey) {
    match format {
        Output::Json => print_json(key),
        Output::Table => {
            describe_created(key);
            save_now_notice();
        }
    }
}

pub(crate) fn rotated(
    format: Output,
    key: &types::CreatedApiKey,
    deleted: Option<&types::ApiKeyId>,
) {
    match format {
        Output::Json => print_json(&json!({ "created": key, "deleted": deleted })),
        Output::Table => {
            describe_created(key);
            if let Some(old) = deleted {
                println!("replaced: {} (deleted)", old.as_str());
            }
            save_now_notice();
        }
    }
}

pub(crate) fn deleted(format: Output, id: &types::ApiKeyId) {
    match format {
        Output::Json => print_json(&json!({ "id": id, "deleted": true })),
        Output::Table => println!("Deleted API key {}.", id.as_str()),
    }
}

pub(crate) fn scopes(format: Output, only: Option<ScopeGroup>) {
    let groups: Vec<ScopeGroup> = match only {
        Some(group) => vec![group],
        None => ScopeGroup::ALL.to_vec(),
    };
    let entries: Vec<(ScopeGroup, &Scope)> = groups
        .iter()
        .flat_map(|g| g.scopes().iter().map(move |s| (*g, s)))
        .collect();
    if format == Output::Json {
        let items: Vec<_> = entries
            .iter()
            .map(|(group, scope)| {
                json!({
                    "scope": scope.as_str(),
                    "group": group.name(),
                    "description": scope.description(),
                })
            })
            .collect();
        print_json(&items);
        return;
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|(group, scope)| {
            vec![
                scope.to_string(),
                group.name().to_owned(),
                scope.description().unwrap_or_default().to_owned(),
            ]
        })
        .collect();
    print_table(&["SCOPE", "GROUP", "DESCRIPTION"], &rows);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_keys_near_or_past_expiry() {
        let now = chrono::Utc::now();
        assert_eq!(
            expiry_flag(now - chrono::Duration::seconds(1), now),
            "EXPIRED"
        );
        assert_eq!(
            expiry_flag(now + chrono::Duration::days(3), now),
            "expires in 3d"
        );
        assert_eq!(
            expiry_flag(now + chrono::Duration::hours(5), now),
            "expires in 5h"
        );
        assert_eq!(expiry_flag(now + chrono::Duration::days(20), now), "");
    }

    #[test]
    fn control_characters_from_the_server_are_shown_escaped() {
        assert_eq!(printable("ops\u{1b}[2J\nkey"), "ops\\u{1b}[2J\\u{a}key");
        assert_eq!(printable("CI uploader é"), "CI uploader é");
    }

    #[test]
    fn abbreviates_scopes() {
        assert_eq!(abbreviate(Scope::ALL), "all 28 scopes");
        assert_eq!(
            abbreviate(&[
                Scope::WorkspaceFileUpload,
                Scope::WorkspaceFileDownload,
                Scope::WorkspaceResultRead
            ]),
            "file:upload, file:download +1"
        );
    }
}
