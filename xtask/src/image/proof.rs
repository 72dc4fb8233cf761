//! The image proved as a team in another language would use it: run with
//! podman on 127.0.0.1, waited for through its readiness probe, driven
//! with the Python clients generated from the published specs, and stopped
//! with SIGTERM; on SQLite, then as two containers on one PostgreSQL
//! database. The admin key reaches the containers in a fixtures file, the
//! control token and the database URL in files of their own, all mounted
//! read-only, so that none is in `podman inspect` or the logs, which this
//! checks, as it checks the image.

use std::fs;
use std::path::Path;

use super::podman::{Container, output_of, podman};
use super::secrets::Secrets;
use super::{Image, USER};
use crate::conformance::PythonWithClients;
use crate::process::{free_port, must};

/// Where the containers find the files mounted for them.
const FIXTURES_IN_CONTAINER: &str = "/run/alphamoon/fixtures.yaml";
const TOKEN_IN_CONTAINER: &str = "/run/alphamoon/control-token";
const URL_IN_CONTAINER: &str = "/run/alphamoon/database-url";

/// The committed script that drives the containers.
const SCRIPT: &str = "xtask/image/python_container.py";

/// What the server logs last when SIGTERM has stopped it cleanly.
const STOPPED_LINE: &str = "alphamoon_sandbox::serve: stopped";

pub(super) fn run_proof(root: &Path, image: &Image) -> Result<(), String> {
    let python = PythonWithClients::install(root)?;
    let cluster = crate::postgres::Cluster::start(root)?;
    let secrets = Secrets::make(
        root,
        image,
        &crate::target_dir(root).join("image/proof"),
        &cluster.url("postgres"),
    )?;
    secrets.absent_from_image(image)?;
    on_sqlite(root, image, &python, &secrets)?;
    on_postgres(root, image, &python, &secrets)?;
    cluster.stop()?;
    println!("the image passed on SQLite and on PostgreSQL");
    Ok(())
}

/// The options that mount the fixtures and the token read-only and point
/// the server at them.
fn mounts(secrets: &Secrets) -> Vec<String> {
    vec![
        format!(
            "--volume={}:{FIXTURES_IN_CONTAINER}:ro",
            secrets.fixtures().display()
        ),
        format!("--env=ALPHAMOON_SANDBOX_FIXTURES={FIXTURES_IN_CONTAINER}"),
        format!(
            "--volume={}:{TOKEN_IN_CONTAINER}:ro",
            secrets.token_file().display()
        ),
        format!("--env=ALPHAMOON_SANDBOX_CONTROL_TOKEN_FILE={TOKEN_IN_CONTAINER}"),
    ]
}

/// A container name of this run: a second checkout proving at the same
/// time must not remove ours.
fn name(role: &str) -> String {
    format!("alphamoon-sandbox-proof-{}-{role}", std::process::id())
}

/// One container on its own volume, published on a free port of
/// 127.0.0.1.
fn on_sqlite(
    root: &Path,
    image: &Image,
    python: &PythonWithClients,
    secrets: &Secrets,
) -> Result<(), String> {
    crate::step("the image on SQLite");
    let mut options = vec!["--publish=127.0.0.1::8080".to_owned()];
    options.extend(mounts(secrets));
    let container = Container::start(&name("sqlite"), &options, &image.id)?;
    let published = output_of(podman().args(["port", &container.name, "8080/tcp"]))?;
    let url = format!("http://{}", published.lines().next().unwrap_or_default());
    if !url.starts_with("http://127.0.0.1:") {
        return Err(format!(
            "the container is published on {url}, not on 127.0.0.1"
        ));
    }
    drive(root, python, secrets, &["single", &url])?;
    checked(&container, secrets)
}

/// Two containers on the host's network, so that they reach the
/// throw-away PostgreSQL server on 127.0.0.1, each listening on a free
/// port of its own: one database, one truth.
fn on_postgres(
    root: &Path,
    image: &Image,
    python: &PythonWithClients,
    secrets: &Secrets,
) -> Result<(), String> {
    crate::step("two containers of the image on one PostgreSQL database");
    let mut containers = Vec::new();
    let mut urls = Vec::new();
    for replica in ["a", "b"] {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let mut options = vec![
            "--network=host".to_owned(),
            format!("--env=ALPHAMOON_SANDBOX_LISTEN={listen}"),
            format!(
                "--volume={}:{URL_IN_CONTAINER}:ro",
                secrets.url_file().display()
            ),
            format!("--env=ALPHAMOON_SANDBOX_DATABASE_URL_FILE={URL_IN_CONTAINER}"),
        ];
        options.extend(mounts(secrets));
        containers.push(Container::start(&name(replica), &options, &image.id)?);
        urls.push(format!("http://{listen}"));
    }
    drive(root, python, secrets, &["replicas", &urls[0], &urls[1]])?;
    for container in &containers {
        checked(container, secrets)?;
    }
    Ok(())
}

/// Runs the committed Python script with `args`, the secrets in its
/// environment, never on its command line.
fn drive(
    root: &Path,
    python: &PythonWithClients,
    secrets: &Secrets,
    args: &[&str],
) -> Result<(), String> {
    must(
        python
            .command()
            .arg(root.join(SCRIPT))
            .args(args)
            .env("ALPHAMOON_ADMIN_KEY", &secrets.admin_key)
            .env("ALPHAMOON_CONTROL_TOKEN", &secrets.control_token),
    )
}

/// What every container must show after it served: a passing
/// HEALTHCHECK, the image's user, a clean exit on SIGTERM, and no secret
/// in `podman inspect` or its logs.
fn checked(container: &Container, secrets: &Secrets) -> Result<(), String> {
    healthy(container)?;
    runs_as_the_image_user(container)?;
    stops_on_sigterm(container)?;
    let inspected = output_of(podman().args(["inspect", &container.name]))?;
    secrets.absent_from(
        &format!("`podman inspect {}`", container.name),
        inspected.as_bytes(),
    )?;
    let logs = container.logs()?;
    secrets.absent_from(&format!("the logs of {}", container.name), logs.as_bytes())?;
    println!(
        "{}: no secret in podman inspect or its logs",
        container.name
    );
    Ok(())
}

/// The image's own HEALTHCHECK, run now, passes.
fn healthy(container: &Container) -> Result<(), String> {
    must(podman().args(["healthcheck", "run", &container.name]))?;
    let status = container.inspect("{{.State.Health.Status}}")?;
    if status != "healthy" {
        return Err(format!("{} is {status:?}, not healthy", container.name));
    }
    println!("{}: HEALTHCHECK passes", container.name);
    Ok(())
}

/// The server's process runs as the image's numeric user, as the kernel
/// sees it (rootful podman maps no ids).
fn runs_as_the_image_user(container: &Container) -> Result<(), String> {
    let pid = container.inspect("{{.State.Pid}}")?;
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read the status of process {pid}: {e}"))?;
    let ids = |field: &str| -> Vec<String> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .map(|ids| ids.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default()
    };
    let expected = vec![USER.to_string(); 4];
    if ids("Uid:") != expected || ids("Gid:") != expected {
        return Err(format!(
            "{} runs as uid {:?} and gid {:?}, not {USER}",
            container.name,
            ids("Uid:"),
            ids("Gid:")
        ));
    }
    println!("{}: runs as uid and gid {USER}", container.name);
    Ok(())
}

/// `podman stop` sends the image's stop signal, SIGTERM; the server
/// drains and exits 0 well before podman would kill it.
fn stops_on_sigterm(container: &Container) -> Result<(), String> {
    must(podman().args(["stop", "--time", "30", &container.name]))?;
    let code = container.inspect("{{.State.ExitCode}}")?;
    let logs = container.logs()?;
    if code != "0" || !logs.contains(STOPPED_LINE) {
        return Err(format!(
            "{} exited with {code} when stopped with SIGTERM; its log:\n{logs}",
            container.name
        ));
    }
    println!("{}: SIGTERM stopped it with exit code 0", container.name);
    Ok(())
}
