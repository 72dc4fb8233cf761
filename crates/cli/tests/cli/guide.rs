//! The CLI guide, `docs/cli.md`, run as the script it says it is, so that
//! no command it shows can drift from the tool. (Its sample output is
//! prose: ids and times differ on every run.)

use std::path::Path;
use std::process::Command;

use alphamoon_sandbox::{Sandbox, Settings};

use super::{BIN, assert_success};

const GUIDE: &str = include_str!("../../../../docs/cli.md");

/// The guide's `sh` blocks joined in order, and the lines of its other
/// blocks that look like commands: a command shown anywhere but in an
/// `sh` block would be one this test never runs.
fn script_of(guide: &str) -> (String, Vec<String>) {
    let mut script = String::new();
    let mut stray = Vec::new();
    let mut block: Option<&str> = None;
    for line in guide.lines() {
        match (block, line.strip_prefix("```")) {
            (None, Some(info)) => block = Some(info.trim()),
            (Some(_), Some("")) => block = None,
            (Some("sh"), _) => {
                script.push_str(line);
                script.push('\n');
            }
            (Some(_), _) if line.starts_with("$ ") || line.starts_with("alphamoon ") => {
                stray.push(line.to_owned());
            }
            _ => {}
        }
    }
    (script, stray)
}

#[test]
fn only_sh_blocks_hold_commands() {
    let (script, stray) = script_of(
        "text\n```sh\nalphamoon scopes\n```\n```text\n$ alphamoon keys list\nID  NAME\n```\n",
    );
    assert_eq!(script, "alphamoon scopes\n");
    assert_eq!(stray, ["$ alphamoon keys list"]);
}

/// Every command in the guide succeeds, in order, in one `bash -euo
/// pipefail`, against a fresh sandbox whose admin key is in `admin.key`,
/// as the guide's introduction promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_in_the_cli_guide_runs() {
    let (script, stray) = script_of(GUIDE);
    assert!(
        stray.is_empty(),
        "docs/cli.md shows commands outside its sh blocks, which no test runs: {stray:?}"
    );
    assert!(
        script.lines().filter(|l| l.contains("alphamoon ")).count() >= 20,
        "the guide's commands were found:\n{script}"
    );

    let sandbox = Sandbox::start_in_memory(Settings {
        rate_limit: None,
        org_rate_limit: None,
        ..Settings::default()
    })
    .await
    .expect("sandbox");
    let (_, admin) = sandbox.create_org("Acme").await.expect("org");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("admin.key"), format!("{admin}\n")).expect("admin.key");

    let bin_dir = Path::new(BIN).parent().expect("the binary's directory");
    let path = std::env::join_paths(std::iter::once(bin_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let mut command = Command::new("bash");
    command
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env("ALPHAMOON_BASE_URL", sandbox.url())
        .env_remove("ALPHAMOON_API_KEY");
    let output = tokio::task::spawn_blocking(move || command.output().expect("bash runs"))
        .await
        .expect("join");
    assert_success(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("CI uploader"),
        "the guide's keys were made: {stdout}"
    );
    assert!(!stdout.contains(&admin), "the admin key is never printed");
}
