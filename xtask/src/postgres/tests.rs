//! The cluster's pure parts: choosing a version, reading the user id,
//! refusing paths, writing and quoting the script, and the log's tail.
#![allow(clippy::unwrap_used)] // a failed step in a test is a failed test

use super::ctl_script::{SETTINGS, sh_quote};
use super::install::{PROGRAMS, newest_bin_dir};
use super::postgres_user::effective_uid;
use super::*;

/// A fresh directory for one test, outside the workspace.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-postgres-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_newest_complete_version_is_chosen() {
    let versions = scratch("versions");
    for (version, programs) in [
        ("9.6", &PROGRAMS[..]),
        ("15", &PROGRAMS[..]),
        ("16", &PROGRAMS[..3]),
        ("17", &[][..]),
    ] {
        let bin = versions.join(version).join("bin");
        fs::create_dir_all(&bin).unwrap();
        for program in programs {
            fs::write(bin.join(program), "").unwrap();
        }
    }
    fs::create_dir_all(versions.join("common/bin")).unwrap();
    assert_eq!(
        newest_bin_dir(&versions),
        Some(versions.join("15").join("bin"))
    );
    assert_eq!(newest_bin_dir(&versions.join("missing")), None);
    fs::remove_dir_all(&versions).unwrap();
}

#[test]
fn the_effective_uid_is_the_second_one() {
    let status = "Name:\tcargo\nUmask:\t0022\nUid:\t1000\t0\t0\t0\nGid:\t1000\t1000\t1000\t1000\n";
    assert_eq!(effective_uid(status), Some(0));
    assert_eq!(effective_uid("Name:\tcargo\n"), None);
    assert!(running_as_root().is_ok());
}

#[test]
fn paths_the_server_cannot_take_are_refused_up_front() {
    assert!(Layout::new(Path::new("/work/main/target")).is_ok());
    let err = Layout::new(Path::new("/work/$HOME/target")).unwrap_err();
    assert!(err.contains("'$'"), "{err}");
    let err = Layout::new(&Path::new("/").join("x".repeat(80))).unwrap_err();
    assert!(err.contains("longer than the 107 bytes"), "{err}");
}

#[test]
fn the_script_runs_as_postgres_only_for_root() {
    let layout = Layout::new(Path::new("/w")).unwrap();
    let pg_ctl = Path::new("/usr/lib/postgresql/15/bin/pg_ctl");
    let as_root = ctl_script(pg_ctl, &layout, 5433, true);
    assert!(
        as_root.contains("\nexec runuser -u postgres -- '/usr/lib/postgresql/15/bin/pg_ctl' "),
        "{as_root}"
    );
    let as_user = ctl_script(pg_ctl, &layout, 5433, false);
    assert!(
        as_user.contains("\nexec '/usr/lib/postgresql/15/bin/pg_ctl' "),
        "{as_user}"
    );
}

/// The script, run by the shell with a stand-in for `pg_ctl`, passes
/// the settings and its own arguments as the words they should be, a
/// path with spaces included.
#[test]
fn the_script_passes_settings_and_arguments_as_whole_words() {
    let root = scratch("script").join("with space");
    let layout = Layout::new(&root).unwrap();
    fs::create_dir_all(&layout.dir).unwrap();
    let pg_ctl = layout.dir.join("fake pg_ctl");
    fs::write(&pg_ctl, "#!/bin/sh\npwd\nprintf '%s\\n' \"$@\"\n").unwrap();
    fs::set_permissions(&pg_ctl, fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(&layout.ctl, ctl_script(&pg_ctl, &layout, 5433, false)).unwrap();
    fs::set_permissions(&layout.ctl, fs::Permissions::from_mode(0o755)).unwrap();

    let output = Command::new(&layout.ctl)
        .args(["stop", "-m", "fast"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let dir = layout.dir.display();
    let socket = layout.socket.display();
    let expected = format!(
        "{dir}\n-D\n{dir}/data\n-l\n{dir}/server.log\n-w\n-t\n30\n-o\n\
         -p 5433 -k '{socket}' {SETTINGS}\nstop\n-m\nfast\n"
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), expected);
    fs::remove_dir_all(root.parent().unwrap()).unwrap();
}

#[test]
fn quoting_keeps_single_quotes() {
    assert_eq!(sh_quote("it's"), r"'it'\''s'");
}

#[test]
fn a_log_tail_is_its_last_lines() {
    assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
    assert_eq!(last_lines("a\n", 5), "a");
    assert_eq!(last_lines("\n", 5), "(nothing)");
}

#[test]
fn the_url_names_the_database_on_the_port() {
    let cluster = Cluster {
        bin: PathBuf::new(),
        layout: Layout::new(Path::new("/w")).unwrap(),
        port: 5433,
        stopped: true,
    };
    assert_eq!(
        cluster.url("sandbox"),
        "postgres://postgres@127.0.0.1:5433/sandbox"
    );
}
