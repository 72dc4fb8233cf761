//! Build cost: clean debug builds of the client and of a control crate with
//! the same runtime dependencies but no build script or code generation, so
//! that the ratio is what the progenitor build step costs its users.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use toml::{Table, Value};

use crate::process::must;

/// Times both builds and returns the report section.
pub(super) fn run(root: &Path, work: &Path, when: &str) -> Result<String, String> {
    let control = work.join("control");
    write_control_crate(root, &control)?;

    let timed = |dir: &Path, target: &Path, args: &[&str]| -> Result<f64, String> {
        let _ = fs::remove_dir_all(target);
        let started = Instant::now();
        must(
            Command::new("cargo")
                .args(args)
                .env("CARGO_TARGET_DIR", target)
                .current_dir(dir),
        )?;
        Ok(started.elapsed().as_secs_f64())
    };
    let client = timed(
        root,
        &work.join("build-client"),
        &[
            "build",
            "--locked",
            "--package",
            "alphamoon-client",
            "--timings",
        ],
    )?;
    let baseline = timed(&control, &work.join("build-control"), &["build"])?;
    println!(
        "per-crate times of the client build: {}",
        work.join("build-client/cargo-timings/cargo-timing.html")
            .display()
    );
    Ok(format!(
        "### Build cost\n\n\
         Clean debug builds, one after the other; run on {when}.\n\n\
         | crate | seconds |\n|---|---|\n| alphamoon-client | {client:.0} |\n\
         | control (same dependencies, no build script) | {baseline:.0} |\n\n\
         Ratio {:.2}× (target ≤ 1.3×).",
        client / baseline
    ))
}

/// Writes the control crate into `dir`, a workspace of its own, with the
/// workspace's lock file so that both builds compile the same versions.
fn write_control_crate(root: &Path, dir: &Path) -> Result<(), String> {
    let _ = fs::remove_dir_all(dir);
    let src = dir.join("crate/src");
    fs::create_dir_all(&src).map_err(|e| format!("cannot create {}: {e}", src.display()))?;
    let (workspace, package) = control_manifests(
        &read_manifest(&root.join("Cargo.toml"))?,
        &read_manifest(&root.join("crates/client/Cargo.toml"))?,
    )?;
    for (path, manifest) in [
        (dir.join("Cargo.toml"), workspace),
        (dir.join("crate/Cargo.toml"), package),
    ] {
        let text = toml::to_string(&manifest)
            .map_err(|e| format!("cannot render {}: {e}", path.display()))?;
        write(&path, &text)?;
    }
    write(
        &src.join("lib.rs"),
        "//! Links the client's dependencies and nothing else.\n",
    )?;
    let lock = dir.join("Cargo.lock");
    fs::copy(root.join("Cargo.lock"), &lock)
        .map_err(|e| format!("cannot copy Cargo.lock to {}: {e}", lock.display()))?;
    Ok(())
}

fn read_manifest(path: &Path) -> Result<Table, String> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    text.parse()
        .map_err(|e| format!("{} is not valid TOML: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The control workspace's manifest and its one crate's: the same pins and
/// features (the workspace's dependency table less its path dependencies,
/// and its profiles), and the client's runtime dependencies.
fn control_manifests(workspace: &Table, client: &Table) -> Result<(Table, Table), String> {
    let mut pins = workspace
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(Value::as_table)
        .cloned()
        .ok_or("the workspace's Cargo.toml has no [workspace.dependencies]")?;
    pins.retain(|_, pin| pin.get("path").is_none());
    let dependencies = client
        .get("dependencies")
        .and_then(Value::as_table)
        .cloned()
        .ok_or("crates/client/Cargo.toml has no [dependencies]")?;

    let mut control_workspace = Table::from_iter([(
        "workspace".to_owned(),
        Value::Table(Table::from_iter([
            ("members".to_owned(), Value::from(vec!["crate"])),
            ("resolver".to_owned(), Value::from("3")),
            ("dependencies".to_owned(), Value::Table(pins)),
        ])),
    )]);
    if let Some(profile) = workspace.get("profile") {
        control_workspace.insert("profile".to_owned(), profile.clone());
    }
    let package = Table::from_iter([
        (
            "package".to_owned(),
            Value::Table(Table::from_iter([
                ("name".to_owned(), Value::from("control")),
                ("version".to_owned(), Value::from("0.0.0")),
                ("edition".to_owned(), Value::from("2024")),
                ("publish".to_owned(), Value::from(false)),
            ])),
        ),
        ("dependencies".to_owned(), Value::Table(dependencies)),
    ]);
    Ok((control_workspace, package))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed step in a test is a failed test
mod tests {
    use super::*;

    fn table(text: &str) -> Table {
        text.parse().unwrap()
    }

    #[test]
    fn the_control_crate_pins_what_the_workspace_pins_less_path_dependencies() {
        let workspace = table(
            r#"
            [workspace]
            members = ["crates/client"]
            [workspace.dependencies]
            alphamoon-client = { path = "crates/client", version = "0.1.0" }
            serde = { version = "1.0", features = ["derive"] }
            sha2 = "0.10"
            [profile.dev.package."*"]
            debug = false
            "#,
        );
        let client = table(
            r#"
            [package]
            name = "alphamoon-client"
            build = "build.rs"
            [dependencies]
            serde.workspace = true
            [build-dependencies]
            sha2.workspace = true
            "#,
        );
        let (control_workspace, package) = control_manifests(&workspace, &client).unwrap();
        assert_eq!(
            control_workspace,
            table(
                r#"
                [workspace]
                members = ["crate"]
                resolver = "3"
                [workspace.dependencies]
                serde = { version = "1.0", features = ["derive"] }
                sha2 = "0.10"
                [profile.dev.package."*"]
                debug = false
                "#
            )
        );
        assert_eq!(
            package,
            table(
                r#"
                [package]
                name = "control"
                version = "0.0.0"
                edition = "2024"
                publish = false
                [dependencies]
                serde = { workspace = true }
                "#
            )
        );
        // What is written must read back as the same manifest.
        let written = toml::to_string(&control_workspace).unwrap();
        assert_eq!(table(&written), control_workspace);
    }

    #[test]
    fn the_real_manifests_make_a_control_crate() {
        let root = crate::workspace_root();
        let (control_workspace, package) = control_manifests(
            &read_manifest(&root.join("Cargo.toml")).unwrap(),
            &read_manifest(&root.join("crates/client/Cargo.toml")).unwrap(),
        )
        .unwrap();
        let pins = control_workspace["workspace"]["dependencies"]
            .as_table()
            .unwrap();
        assert!(pins.contains_key("reqwest"), "{pins:?}");
        assert!(!pins.contains_key("alphamoon-client"), "{pins:?}");
        for (name, dependency) in package["dependencies"].as_table().unwrap() {
            if dependency.get("workspace").is_some() {
                assert!(pins.contains_key(name), "{name} is not pinned");
            }
        }
    }
}
