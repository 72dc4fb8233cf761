//! The SQLite floor for `cargo xtask bench`: the shortest server that does
//! the work the sandbox's design must do to answer `listApiKeys` from
//! SQLite, and answers the same bytes. Per request: Basic auth, SHA-256 of
//! the key, the key's row, its expiry and scope, and the page, all in one
//! read transaction with cached statements, on a connection each worker
//! thread keeps, right on that thread (a read costs tens of microseconds,
//! less than a hand-off to the blocking pool; the sandbox reads there too
//! when nothing is in its way). No journal, rate limit, clock, fault or
//! bound; only `?limit=N` is understood.
//!
//! The gap between the floor and the bare ceiling is what any server that
//! reads SQLite on every request pays; the gap between the sandbox and the
//! floor is everything else the sandbox does.
//!
//! Usage: `bench_floor ADDR DB_FILE`; prints `listening on http://ADDR`.

use std::cell::RefCell;
use std::sync::Arc;

use alphamoon_client::{ApiKeyStatus, Scope, types};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension as _, params};

// The sandbox's allocator, so that the two differ only in their work.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The scope `listApiKeys` needs.
const MANAGE: &str = "workspace.admin.api_key:manage";

thread_local! {
    static CONNECTION: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

/// The key in `Authorization: Basic base64(key)` (or `base64(key:)`).
fn key_of(headers: &HeaderMap) -> Option<String> {
    let encoded = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()?;
    let key = String::from_utf8(decoded).ok()?;
    Some(key.strip_suffix(':').map(str::to_owned).unwrap_or(key))
}

fn timestamp(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or_default()
}

/// The caller's page, or `None` if the key is unknown, expired or lacks
/// the scope.
fn page(
    db: &str,
    secret_hash: &[u8],
    limit: u64,
    now: i64,
) -> rusqlite::Result<Option<types::ApiKeyList>> {
    CONNECTION.with(|cell| {
        let mut slot = cell.borrow_mut();
        let connection = match &mut *slot {
            Some(connection) => connection,
            None => {
                let connection = Connection::open_with_flags(
                    db,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                // As the sandbox: a bound `LIMIT` would otherwise make
                // SQLite prepare the cached statement again on every use.
                connection.set_db_config(
                    rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
                    true,
                )?;
                slot.insert(connection)
            }
        };
        let read = connection.transaction()?;
        let caller = read
            .prepare_cached("SELECT org_id, scopes, exp FROM api_keys WHERE secret_hash = ?1")?
            .query_row([secret_hash], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, i64>(2)?,
                ))
            })
            .optional()?;
        let Some((org_id, scopes, exp)) = caller else {
            return Ok(None);
        };
        if exp <= now || !scopes.split(' ').any(|scope| scope == MANAGE) {
            return Ok(None);
        }
        let total: u64 = read
            .prepare_cached("SELECT key_count FROM orgs WHERE id = ?1")?
            .query_row([&org_id], |row| row.get(0))?;
        let mut statement = read.prepare_cached(
            "SELECT id, name, org_id, scopes, created_at, exp FROM api_keys \
             WHERE org_id = ?1 ORDER BY created_at, id LIMIT ?2",
        )?;
        let api_keys = statement
            .query_map(params![org_id, limit], |row| {
                let exp: i64 = row.get(5)?;
                Ok(types::ApiKey {
                    id: row.get(0)?,
                    name: row.get(1)?,
                    org_id: row.get(2)?,
                    scopes: row
                        .get_ref(3)?
                        .as_str()?
                        .split(' ')
                        .map(Scope::from)
                        .collect(),
                    created_at: timestamp(row.get(4)?),
                    exp: timestamp(exp),
                    status: if exp <= now {
                        ApiKeyStatus::Expired
                    } else {
                        ApiKeyStatus::Active
                    },
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(types::ApiKeyList {
            api_keys,
            pagination: types::Pagination {
                offset: 0,
                limit,
                total,
            },
        }))
    })
}

async fn list(
    State(db): State<Arc<str>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let limit = query
        .as_deref()
        .and_then(|query| query.strip_prefix("limit="))
        .and_then(|limit| limit.parse().ok())
        .unwrap_or(10);
    let Some(key) = key_of(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let secret_hash = alphamoon_sandbox::keys::hash(&key);
    match page(&db, &secret_hash, limit, Utc::now().timestamp()) {
        Ok(Some(page)) => {
            let mut body = Vec::with_capacity(4096);
            serde_json::to_writer(&mut body, &page).expect("the page serializes");
            (
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-store"),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                ],
                body,
            )
                .into_response()
        }
        Ok(None) => StatusCode::UNAUTHORIZED.into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (Some(addr), Some(db)) = (args.next(), args.next()) else {
        return Err("usage: bench_floor ADDR DB_FILE".to_owned());
    };
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on http://{local}");
    let app = axum::Router::new()
        .route("/api/v0.4/admin/api-keys", axum::routing::get(list))
        .with_state(Arc::<str>::from(db));
    axum::serve(listener, app).await.map_err(|e| e.to_string())
}
