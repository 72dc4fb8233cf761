//! The `alphamoon` binary end to end, against a sandbox started in this
//! process on 127.0.0.1.

// Beside this file rather than in `tests/`, where cargo would make it a
// test binary of its own.
#[path = "cli/guide.rs"]
mod guide;

use std::process::{Command, Output};

use alphamoon_client::Scope;
use alphamoon_sandbox::{ADMIN_SCOPE, RateLimit, Sandbox, Settings, issue_key};
use chrono::Utc;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_alphamoon");

/// Runs `alphamoon` with `args`, with no configuration from the
/// environment beyond what `env` sets.
async fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("ALPHAMOON_API_KEY")
        .env_remove("ALPHAMOON_BASE_URL")
        .envs(env.iter().copied());
    // The sandbox runs on this process's runtime; wait off its threads.
    tokio::task::spawn_blocking(move || command.output().expect("alphamoon runs"))
        .await
        .expect("join")
}

struct Env {
    sandbox: Sandbox,
    admin: String,
}

impl Env {
    async fn new() -> Self {
        Self::with(Settings {
            rate_limit: None,
            org_rate_limit: None,
            ..Settings::default()
        })
        .await
    }

    async fn with(settings: Settings) -> Self {
        let sandbox = Sandbox::start_in_memory(settings).await.expect("sandbox");
        let (_, admin) = sandbox.create_org("Acme").await.expect("org");
        Self { sandbox, admin }
    }

    /// Runs `alphamoon --base-url URL args…` authenticated by `key`.
    async fn run_as(&self, key: &str, args: &[&str]) -> Output {
        let url = self.sandbox.url();
        let mut all = vec!["--base-url", url.as_str()];
        all.extend_from_slice(args);
        run(&all, &[("ALPHAMOON_API_KEY", key)]).await
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.run_as(&self.admin, args).await
    }

    async fn json(&self, args: &[&str]) -> Value {
        let output = self.run(args).await;
        assert_success(&output);
        serde_json::from_slice(&output.stdout).expect("stdout is JSON")
    }

    async fn org(&self) -> String {
        self.sandbox
            .store()
            .key_by_secret_hash(&alphamoon_sandbox::keys::hash(&self.admin))
            .await
            .expect("store")
            .expect("admin")
            .org_id
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// Fails unless the command exited with `code`; API and network errors
/// must fit on one stderr line (usage errors are clap's own).
fn assert_failure(output: &Output, code: i32) -> String {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stderr: {}",
        text(&output.stderr)
    );
    let stderr = text(&output.stderr);
    if code == 1 {
        assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    }
    stderr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_rotate_delete_as_json() {
    let env = Env::new().await;
    let created = env
        .json(&[
            "keys",
            "create",
            "--name",
            "CI uploader",
            "--scope",
            "workspace.file:upload",
            "--scope-group",
            "results",
            "--expires-in",
            "30d",
            "--output",
            "json",
        ])
        .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let secret = created["key"].as_str().expect("the key is a field");
    assert!(secret.starts_with("amk_"));
    let scopes: Vec<&str> = created["scopes"]
        .as_array()
        .expect("scopes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        scopes.len(),
        5,
        "one scope plus the four of `results`: {scopes:?}"
    );
    let exp = chrono::DateTime::parse_from_rfc3339(created["exp"].as_str().expect("exp"))
        .expect("rfc3339");
    let days = (exp.with_timezone(&Utc) - Utc::now()).num_hours();
    assert!(
        (29 * 24..=30 * 24).contains(&days),
        "30d lifetime, got {days} h"
    );

    let listed = env.json(&["keys", "list", "--output", "json"]).await;
    assert_eq!(listed["pagination"]["total"], 2);
    assert!(
        listed["apiKeys"]
            .as_array()
            .expect("keys")
            .iter()
            .any(|k| k["id"] == id.as_str())
    );
    assert!(listed["apiKeys"][0].get("key").is_none());

    let rotated = env
        .json(&[
            "keys",
            "rotate",
            &id,
            "--expires-in",
            "7d",
            "--output",
            "json",
        ])
        .await;
    assert_eq!(rotated["deleted"], id.as_str());
    let new_id = rotated["created"]["id"]
        .as_str()
        .expect("new id")
        .to_owned();
    assert_eq!(rotated["created"]["name"], "CI uploader");
    assert_eq!(rotated["created"]["scopes"], created["scopes"]);
    let new_exp =
        chrono::DateTime::parse_from_rfc3339(rotated["created"]["exp"].as_str().expect("exp"))
            .expect("exp");
    assert!(
        new_exp.with_timezone(&Utc) <= Utc::now() + chrono::Duration::days(7),
        "never longer than asked"
    );

    let deleted = env
        .json(&["keys", "delete", &new_id, "--yes", "--output", "json"])
        .await;
    assert_eq!(
        deleted,
        serde_json::json!({ "id": new_id, "deleted": true })
    );
    let listed = env
        .json(&["keys", "list", "--all", "--limit", "1", "--output", "json"])
        .await;
    assert_eq!(
        listed["apiKeys"].as_array().expect("keys").len(),
        1,
        "only the admin key is left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_for_people() {
    let env = Env::new().await;
    let org = env.org().await;
    issue_key(
        env.sandbox.store(),
        &org,
        "old",
        &[Scope::WorkspaceFileUpload],
        Utc::now().timestamp() - 10,
    )
    .await
    .expect("key");
    issue_key(
        env.sandbox.store(),
        &org,
        "soon",
        &[Scope::WorkspaceFileUpload],
        Utc::now().timestamp() + 3 * 86_400 + 60,
    )
    .await
    .expect("key");

    let created = env
        .run(&[
            "keys",
            "create",
            "--name",
            "table key",
            "--scope",
            "workspace.file:download",
        ])
        .await;
    assert_success(&created);
    let stdout = text(&created.stdout);
    assert!(stdout.contains("key:      amk_"), "{stdout}");
    assert!(
        text(&created.stderr).contains("shown once"),
        "notice on stderr"
    );

    let listed = env.run(&["keys", "list"]).await;
    assert_success(&listed);
    let table = text(&listed.stdout);
    let header = table.lines().next().expect("header");
    for column in ["ID", "NAME", "SCOPES", "STATUS", "CREATED", "EXPIRES"] {
        assert!(header.contains(column), "{header}");
    }
    // A key missing from the table fails here, not as an empty row that
    // a negative check would pass.
    let row = |name: &str| {
        table
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no row for `{name}`: {table}"))
            .to_owned()
    };
    assert!(row("old").contains("EXPIRED"), "{table}");
    assert!(row("soon").contains("expires in 3d"), "{table}");
    assert!(row("admin").contains("all 28 scopes"), "{table}");
    assert!(!row("table key").contains("expires in"), "{table}");
    assert!(table.contains("4 of 4 keys"), "{table}");

    let all = env.run(&["keys", "list", "--all", "--limit", "1"]).await;
    assert_success(&all);
    assert!(
        text(&all.stdout).contains("\n4 keys"),
        "{}",
        text(&all.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_come_from_the_client_metadata() {
    let scopes = run(&["scopes", "--output", "json"], &[]).await;
    assert_success(&scopes);
    let items: Vec<Value> = serde_json::from_slice(&scopes.stdout).expect("json");
    assert_eq!(items.len(), 28);
    for (item, scope) in items.iter().zip(Scope::ALL) {
        assert_eq!(item["scope"], scope.as_str());
        assert_eq!(item["description"], scope.description().expect("described"));
    }
    let one = run(&["scopes", "--group", "api-key-admin"], &[]).await;
    assert_success(&one);
    let table = text(&one.stdout);
    assert_eq!(table.lines().count(), 2, "{table}");
    assert!(table.contains("workspace.admin.api_key:manage"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_offer_scope_values() {
    let bash = run(&["completions", "bash"], &[]).await;
    assert_success(&bash);
    assert!(text(&bash.stdout).contains("workspace.collection_editor:override"));
}

/// Every combination of the three places a key can come from. The source
/// that should win holds the admin key and every other source a key the
/// sandbox refuses with 401, so a wrong choice fails the command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_flag_beats_the_environment_and_two_key_flags_are_refused() {
    let env = Env::new().await;
    let url = env.sandbox.url();
    let dir = tempfile::tempdir().expect("dir");
    let wrong_in_flag = "amk_wrongKeyFromTheFlag";
    let wrong_in_file = "amk_wrongKeyFromTheFile";
    let wrong_in_env = "amk_wrongKeyFromTheEnvironment";

    for (flag, file, environment) in [
        (false, false, false),
        (false, false, true),
        (false, true, false),
        (false, true, true),
        (true, false, false),
        (true, false, true),
        (true, true, false),
        (true, true, true),
    ] {
        let case = format!("flag {flag}, file {file}, environment {environment}");
        // A given flag wins; with none, the environment does.
        let a_flag_wins = flag || file;
        let key_unless = |loses: bool, wrong: &str| {
            if loses {
                wrong.to_owned()
            } else {
                env.admin.clone()
            }
        };
        let mut args = vec!["--base-url".to_owned(), url.clone()];
        if flag {
            args.extend([
                "--api-key".to_owned(),
                key_unless(!a_flag_wins, wrong_in_flag),
            ]);
        }
        let path = dir.path().join("key");
        if file {
            std::fs::write(
                &path,
                format!("{}\n", key_unless(!a_flag_wins, wrong_in_file)),
            )
            .expect("write");
            args.extend([
                "--api-key-file".to_owned(),
                path.to_str().expect("utf8").to_owned(),
            ]);
        }
        args.extend(["keys", "list", "--output", "json"].map(str::to_owned));
        let from_env = key_unless(a_flag_wins, wrong_in_env);
        let vars: Vec<(&str, &str)> = if environment {
            vec![("ALPHAMOON_API_KEY", from_env.as_str())]
        } else {
            Vec::new()
        };
        let output = run(&args.iter().map(String::as_str).collect::<Vec<_>>(), &vars).await;

        match (flag, file, environment) {
            (true, true, _) => {
                let message = assert_failure(&output, 2);
                assert!(
                    message.contains("--api-key") && message.contains("--api-key-file"),
                    "{case}: {message}"
                );
            }
            (false, false, false) => {
                let message = assert_failure(&output, 2);
                assert!(message.contains("ALPHAMOON_API_KEY"), "{case}: {message}");
            }
            _ => assert!(
                output.status.success(),
                "{case}: exit {:?}, stderr: {}",
                output.status.code(),
                text(&output.stderr)
            ),
        }
        let printed = format!("{}{}", text(&output.stdout), text(&output.stderr));
        for key in [
            env.admin.as_str(),
            wrong_in_flag,
            wrong_in_file,
            wrong_in_env,
        ] {
            assert!(!printed.contains(key), "{case}: a key was printed");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_exit_1_for_the_api_and_2_for_usage() {
    let env = Env::new().await;
    let org = env.org().await;

    // Missing key: an actionable message, exit 2.
    let missing = run(&["--base-url", &env.sandbox.url(), "keys", "list"], &[]).await;
    let message = assert_failure(&missing, 2);
    assert!(
        message.contains("ALPHAMOON_API_KEY") && message.contains("--api-key-file"),
        "{message}"
    );

    // A scope the client does not know is refused before any request.
    let bad = env
        .run(&[
            "keys",
            "create",
            "--name",
            "n",
            "--scope",
            "workspace.nope:never",
        ])
        .await;
    assert_failure(&bad, 2);

    // Expired key: 401 from the server.
    let (_, expired) = issue_key(
        env.sandbox.store(),
        &org,
        "old",
        &[ADMIN_SCOPE],
        Utc::now().timestamp() - 1,
    )
    .await
    .expect("key");
    let out = env.run_as(&expired, &["keys", "list"]).await;
    let message = assert_failure(&out, 1);
    assert!(
        message.starts_with("error: HTTP 401 Unauthorized: The API key has expired."),
        "{message}"
    );
    assert!(!message.contains(&expired), "the key is never printed");

    // A key without the admin scope: 403.
    let (_, reader) = issue_key(
        env.sandbox.store(),
        &org,
        "reader",
        &[Scope::WorkspaceFileDownload],
        Utc::now().timestamp() + 3600,
    )
    .await
    .expect("key");
    let message = assert_failure(&env.run_as(&reader, &["keys", "list"]).await, 1);
    assert!(message.contains("HTTP 403 Forbidden"), "{message}");

    // An unknown id: 404.
    let message = assert_failure(
        &env.run(&[
            "keys",
            "delete",
            "0123456789abcdef0123456789abcdef",
            "--yes",
        ])
        .await,
        1,
    );
    assert!(message.contains("HTTP 404 Not Found"), "{message}");
    let message = assert_failure(
        &env.run(&["keys", "rotate", "0123456789abcdef0123456789abcdef"])
            .await,
        1,
    );
    assert!(message.contains("no API key with id"), "{message}");

    // Not a key id at all, and delete without --yes off a terminal.
    assert_failure(&env.run(&["keys", "delete", "nope", "--yes"]).await, 2);
    // The client checks a rotated id itself, before it lists or creates.
    let message = assert_failure(&env.run(&["keys", "rotate", "nope"]).await, 2);
    assert!(message.contains("`nope` is not a key id"), "{message}");
    let message = assert_failure(
        &env.run(&["keys", "delete", "0123456789abcdef0123456789abcdef"])
            .await,
        2,
    );
    assert!(message.contains("--yes"), "{message}");

    // Nobody listening: a network error, exit 1.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let out = run(
        &[
            "--base-url",
            &format!("http://127.0.0.1:{port}"),
            "keys",
            "list",
        ],
        &[("ALPHAMOON_API_KEY", "k")],
    )
    .await;
    let message = assert_failure(&out, 1);
    assert!(message.contains("request failed"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_whose_answer_is_lost_is_reported_done_when_its_retry_finds_the_key_gone() {
    let env = Env::new().await;
    use alphamoon_sandbox::control_client::types::{FaultAction, FaultRequest, VendorOperationId};
    let lost_answer = FaultRequest {
        operation_id: Some(VendorOperationId::DeleteApiKey),
        action: Some(FaultAction::CommitThenFail),
        times: std::num::NonZeroU32::new(1),
        ..Default::default()
    };
    let create = [
        "keys",
        "create",
        "--name",
        "lost",
        "--scope",
        "workspace.file:upload",
        "--expires-in",
        "1d",
        "--output",
        "json",
    ];
    let id = env.json(&create).await["id"]
        .as_str()
        .expect("id")
        .to_owned();

    env.sandbox
        .control()
        .add_fault(lost_answer.clone())
        .await
        .expect("fault");
    let rotated = env
        .json(&[
            "keys",
            "rotate",
            &id,
            "--expires-in",
            "1d",
            "--output",
            "json",
        ])
        .await;
    assert_eq!(
        rotated["deleted"],
        id.as_str(),
        "rotate reports the old key deleted"
    );
    let new_id = rotated["created"]["id"]
        .as_str()
        .expect("new id")
        .to_owned();

    env.sandbox
        .control()
        .add_fault(lost_answer)
        .await
        .expect("fault");
    let deleted = env
        .json(&["keys", "delete", &new_id, "--yes", "--output", "json"])
        .await;
    assert_eq!(
        deleted,
        serde_json::json!({ "id": new_id, "deleted": true })
    );

    let deletes: Vec<_> = env
        .sandbox
        .control()
        .requests(&alphamoon_sandbox::JournalQuery {
            operation_id: Some("deleteApiKey".to_owned()),
            ..Default::default()
        })
        .into_iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(
        deletes,
        [Some(404), None, Some(404), None],
        "each delete was dropped after it was done, then found the key gone"
    );
    let listed = env.json(&["keys", "list", "--output", "json"]).await;
    assert_eq!(
        listed["apiKeys"].as_array().map(Vec::len),
        Some(1),
        "only the admin key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_with_a_failing_delete_keeps_the_old_key_and_says_so() {
    // Two requests pass, the third (the delete) is rate limited for long
    // enough that the client does not wait.
    let env = Env::with(Settings {
        rate_limit: Some(RateLimit {
            per_second: 0.001,
            burst: 2,
        }),
        ..Settings::default()
    })
    .await;
    let org = env.org().await;
    let (old, _) = issue_key(
        env.sandbox.store(),
        &org,
        "rotate me",
        &[Scope::WorkspaceFileUpload],
        Utc::now().timestamp() + 3600,
    )
    .await
    .expect("key");

    let output = env
        .run(&["keys", "rotate", &old.id, "--output", "json"])
        .await;
    let message = assert_failure(&output, 1);
    assert!(
        message.contains(&format!("the old key {} still exists", old.id)),
        "{message}"
    );
    assert!(message.contains("429"), "{message}");
    // The new key was printed, since it exists nowhere else.
    let printed: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert!(
        printed["created"]["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("amk_"))
    );
    assert_eq!(printed["deleted"], Value::Null);

    let (keys, total) = env
        .sandbox
        .store()
        .list_keys(&org, 0, 100)
        .await
        .expect("list")
        .expect("the org exists");
    assert_eq!(total, 3, "admin, old and new");
    assert!(keys.iter().any(|k| k.id == old.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_with_a_failing_create_deletes_nothing() {
    let env = Env::new().await;
    let org = env.org().await;
    // The caller may not grant the old key's scope, so the create fails.
    let (old, _) = issue_key(
        env.sandbox.store(),
        &org,
        "wide",
        &[Scope::WorkspaceFileUpload],
        Utc::now().timestamp() + 3600,
    )
    .await
    .expect("key");
    let (_, narrow) = issue_key(
        env.sandbox.store(),
        &org,
        "narrow",
        &[ADMIN_SCOPE],
        Utc::now().timestamp() + 3600,
    )
    .await
    .expect("key");
    let message = assert_failure(&env.run_as(&narrow, &["keys", "rotate", &old.id]).await, 1);
    assert!(
        message.contains("cannot create the new key, old key unchanged"),
        "{message}"
    );
    let (keys, _) = env
        .sandbox
        .store()
        .list_keys(&org, 0, 100)
        .await
        .expect("list")
        .expect("the org exists");
    assert!(keys.iter().any(|k| k.id == old.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_of_every_command_is_pinned() {
    for args in [
        vec!["--help"],
        vec!["keys", "--help"],
        vec!["keys", "create", "--help"],
        vec!["keys", "list", "--help"],
        vec!["keys", "delete", "--help"],
        vec!["keys", "rotate", "--help"],
        vec!["scopes", "--help"],
        vec!["completions", "--help"],
    ] {
        let output = run(&args, &[]).await;
        assert_success(&output);
        let name = args[..args.len() - 1].join("_");
        let name = if name.is_empty() {
            "alphamoon".to_owned()
        } else {
            name
        };
        insta::assert_snapshot!(format!("help_{name}"), text(&output.stdout));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_within_lists_the_active_keys_that_expire_in_the_window() {
    let env = Env::new().await;
    let org = env.org().await;
    let now = Utc::now().timestamp();
    for (name, exp) in [
        ("gone", now - 60),
        ("in a day", now + 86_400),
        ("in four weeks", now + 28 * 86_400),
        ("in ninety days", now + 90 * 86_400),
    ] {
        issue_key(
            env.sandbox.store(),
            &org,
            name,
            &[Scope::WorkspaceFileUpload],
            exp,
        )
        .await
        .expect("key");
    }
    let names = |listed: &Value| -> Vec<String> {
        let mut names: Vec<String> = listed
            .as_array()
            .expect("a JSON array of keys")
            .iter()
            .filter_map(|k| k["name"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        names
    };
    // Paged one key at a time, so that the filter sees every page.
    let month = env
        .json(&[
            "keys",
            "list",
            "--expiring-within",
            "30d",
            "--limit",
            "1",
            "--output",
            "json",
        ])
        .await;
    assert_eq!(names(&month["apiKeys"]), ["in a day", "in four weeks"]);
    let week = env
        .json(&[
            "keys",
            "list",
            "--expiring-within",
            "1w",
            "--output",
            "json",
        ])
        .await;
    assert_eq!(names(&week["apiKeys"]), ["in a day"]);
    // The admin key lives a year.
    let years = env
        .json(&[
            "keys",
            "list",
            "--expiring-within",
            "400d",
            "--output",
            "json",
        ])
        .await;
    assert_eq!(years["apiKeys"].as_array().expect("keys").len(), 4);

    for bad in ["0d", "30", "soon"] {
        assert_failure(
            &env.run(&["keys", "list", "--expiring-within", bad]).await,
            2,
        );
    }
    assert_failure(
        &env.run(&["keys", "list", "--expiring-within", "30d", "--offset", "5"])
            .await,
        2,
    );
}
