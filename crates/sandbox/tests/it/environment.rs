//! Configuration from the environment: every flag of the serve command can
//! come from an `ALPHAMOON_SANDBOX_*` variable, as a container sets it,
//! `--help` names each one, and a flag beats its variable.

use std::path::Path;
use std::process::Child;

use crate::support::{self, KEYS, basic, try_call};

/// The variable that stands for `--flag`.
fn variable_of(flag: &str) -> String {
    format!(
        "ALPHAMOON_SANDBOX_{}",
        flag.trim_start_matches("--")
            .replace('-', "_")
            .to_ascii_uppercase()
    )
}

#[test]
fn help_names_a_variable_for_every_flag_of_the_serve_command() {
    let output = crate::support::binary()
        .arg("--help")
        .output()
        .expect("--help");
    let help = String::from_utf8(output.stdout).expect("utf8");
    let options = help.split("Options:").nth(1).expect("an Options section");
    // Each option's block starts with its flag; its variable follows in
    // its description.
    let mut flags = Vec::new();
    for block in options.split("\n      --").skip(1) {
        let flag = format!("--{}", block.split([' ', '\n']).next().expect("a flag"));
        if flag == "--help" || flag == "--version" {
            continue;
        }
        let variable = variable_of(&flag);
        assert!(
            block.contains(&format!("[env: {variable}")),
            "{flag} names no variable {variable} in --help:\n{block}"
        );
        flags.push(flag);
    }
    // Not a vacuous pass: the serve command has these, and more.
    for flag in [
        "--listen",
        "--db",
        "--database-url",
        "--shutdown-grace-secs",
    ] {
        assert!(flags.iter().any(|f| f == flag), "{flag} missing: {flags:?}");
    }
    assert!(flags.len() >= 19, "{flags:?}");
}

/// Starts the binary with no flags but `args`, configured by `env`, and
/// returns it with its URL once it listens.
fn start_configured(args: &[&str], env: &[(String, String)], log: &Path) -> (Child, String) {
    support::spawn_listening(
        support::binary()
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v))),
        log,
    )
}

fn var(flag: &str, value: impl AsRef<str>) -> (String, String) {
    (variable_of(flag), value.as_ref().to_owned())
}

/// Creates a key that expires in `days` days with `admin`; the status.
async fn create_for_days(url: &str, admin: &str, days: i64) -> u16 {
    let exp = (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();
    let body = serde_json::json!({
        "name": "lifetime probe",
        "exp": exp,
        "scopes": ["workspace.file:upload"],
    })
    .to_string();
    try_call(
        url,
        "POST",
        KEYS,
        Some(&basic(admin)),
        Some(("application/json", body)),
    )
    .await
    .expect("answers")
    .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_runs_from_variables_alone_and_a_flag_beats_its_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = dir.path().join("admin.key");
    let token_file = dir.path().join("control.token");
    let env = [
        var("--listen", "127.0.0.1:0"),
        var("--db", dir.path().join("sandbox.db").to_string_lossy()),
        var("--bootstrap-key-file", key_file.to_string_lossy()),
        var("--control-token-file", token_file.to_string_lossy()),
        var("--rate-limit", "0"),
        var("--org-rate-limit", "0"),
        var("--max-key-lifetime-days", "7"),
    ];
    let (mut server, url) = start_configured(&[], &env, &dir.path().join("first.log"));
    let admin = std::fs::read_to_string(&key_file).expect("the bootstrap key was written");
    let admin = admin.trim();
    let token = std::fs::read_to_string(&token_file).expect("the token was written");
    let clock = try_call(
        &url,
        "GET",
        "/_sandbox/v1/clock",
        Some(&format!("Bearer {}", token.trim())),
        None,
    )
    .await
    .expect("answers");
    assert_eq!(clock.status, 200, "the control plane is on: {}", clock.body);
    assert_eq!(create_for_days(&url, admin, 3).await, 201);
    assert_eq!(
        create_for_days(&url, admin, 30).await,
        400,
        "7 days at most"
    );
    server.kill().expect("kill");
    server.wait().expect("wait");

    // The same variables, and flags that say otherwise: the flags win,
    // the variable's unusable database path included.
    let mut env = env.to_vec();
    env[1] = var("--db", "/nonexistent/dir/sandbox.db");
    let db = dir.path().join("sandbox.db");
    let (mut server, url) = start_configured(
        &[
            "--db",
            &db.to_string_lossy(),
            "--max-key-lifetime-days",
            "365",
        ],
        &env,
        &dir.path().join("second.log"),
    );
    assert_eq!(create_for_days(&url, admin, 30).await, 201);
    server.kill().expect("kill");
    server.wait().expect("wait");
}

#[test]
fn a_database_url_file_keeps_the_password_out_of_every_message() {
    let secret_url = "postgres://sandbox:hunter2-secret@127.0.0.1:1/sandbox";
    let dir = tempfile::tempdir().expect("tempdir");
    let url_file = dir.path().join("database-url");
    std::fs::write(&url_file, format!("  {secret_url}\n")).expect("write");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let output = crate::support::binary()
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(
            !stderr.contains("hunter2"),
            "the password was shown: {stderr}"
        );
        (output.status.code(), stderr)
    };
    let file = url_file.to_str().expect("utf-8");

    // Read, trimmed, and tried: the server is not there.
    for (args, env) in [
        (vec!["--database-url-file", file], vec![]),
        (vec![], vec![("ALPHAMOON_SANDBOX_DATABASE_URL_FILE", file)]),
    ] {
        let (code, stderr) = run(&args, &env);
        assert_eq!(code, Some(1), "{stderr}");
        assert!(
            stderr.contains("cannot open the PostgreSQL database"),
            "{stderr}"
        );
    }
    // With another database, it is a usage error.
    for args in [
        vec!["--database-url-file", file, "--database-url", secret_url],
        vec!["--database-url-file", file, "--in-memory"],
        vec!["--database-url-file", file, "--db", "other.db"],
    ] {
        let (code, stderr) = run(&args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
    }
    // The pool size goes with either form of the URL, and with no other.
    let (code, stderr) = run(&["--database-pool-size", "4", "--in-memory"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    let (code, stderr) = run(
        &["--database-pool-size", "4", "--database-url-file", file],
        &[],
    );
    assert_eq!(code, Some(1), "accepted, then unreachable: {stderr}");
    // A file that is missing or empty is named, and nothing is created.
    let missing = dir.path().join("missing");
    let (code, stderr) = run(
        &["--database-url-file", missing.to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("cannot read the database URL from"),
        "{stderr}"
    );
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").expect("write");
    let (code, stderr) = run(
        &["--database-url-file", empty.to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(code, Some(1));
    assert!(stderr.contains("holds no database URL"), "{stderr}");
    assert!(
        !dir.path().join("sandbox.db").exists(),
        "no SQLite file appeared"
    );
}

#[test]
fn a_refused_value_names_the_variable_it_came_from() {
    let refused = |args: &[&str], env: &[(&str, &str)]| {
        let output = crate::support::binary()
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("runs");
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let stderr = refused(&[], &[("ALPHAMOON_SANDBOX_JOURNAL_SIZE", "abc")]);
    assert!(stderr.contains("--journal-size"), "{stderr}");
    assert!(
        stderr.contains("came from the variable ALPHAMOON_SANDBOX_JOURNAL_SIZE"),
        "{stderr}"
    );
    // The healthcheck reads the server's variable, and says so too.
    let stderr = refused(&["healthcheck"], &[("ALPHAMOON_SANDBOX_LISTEN", "nope")]);
    assert!(
        stderr.contains("came from the variable ALPHAMOON_SANDBOX_LISTEN"),
        "{stderr}"
    );
    // A flag on the command line is the culprit itself, even with the
    // variable set.
    let stderr = refused(
        &["--journal-size", "abc"],
        &[("ALPHAMOON_SANDBOX_JOURNAL_SIZE", "5")],
    );
    assert!(!stderr.contains("came from the variable"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_flag_beats_a_database_variable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unreachable = "postgres://sandbox:hunter2@127.0.0.1:1/sandbox";
    let db = dir.path().join("chosen.db");
    let db = db.to_str().expect("utf-8");
    // Flags, and the variables set beside them.
    type Case<'a> = (&'a [&'a str], Vec<(String, String)>);
    let cases: [Case; 4] = [
        // A URL left in the environment, and a run in memory.
        (
            &["--in-memory"],
            vec![("ALPHAMOON_SANDBOX_DATABASE_URL".into(), unreachable.into())],
        ),
        // A variable that says "not in memory" chooses nothing.
        (
            &["--db", db],
            vec![("ALPHAMOON_SANDBOX_IN_MEMORY".into(), "false".into())],
        ),
        // Memory chosen by a variable, a file by a flag.
        (
            &["--db", db],
            vec![("ALPHAMOON_SANDBOX_IN_MEMORY".into(), "true".into())],
        ),
        // A pool size left in the environment does not stop SQLite.
        (
            &["--in-memory"],
            vec![("ALPHAMOON_SANDBOX_DATABASE_POOL_SIZE".into(), "4".into())],
        ),
    ];
    for (i, (args, env)) in cases.into_iter().enumerate() {
        let mut args = args.to_vec();
        args.extend(["--listen", "127.0.0.1:0"]);
        let (mut server, url) = start_configured(&args, &env, &dir.path().join(format!("{i}.log")));
        let ready = try_call(&url, "GET", "/_sandbox/readyz", None, None)
            .await
            .expect("answers");
        assert_eq!(ready.status, 200, "{args:?} {env:?}");
        server.kill().expect("kill");
        server.wait().expect("wait");
    }
    assert!(
        Path::new(db).exists(),
        "--db won over the variables where it was given"
    );
}
