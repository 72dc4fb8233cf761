//! The image proved as a team in another language would use it: run with
//! podman on 127.0.0.1, waited for through its readiness probe, driven
//! with the Python clients generated from the published specs, and stopped
//! with SIGTERM; on SQLite, then as two containers on one PostgreSQL
//! database. The admin key reaches the containers in a fixtures file
//! mounted read-only, and the control token in a token file, so that
//! neither is in the image, its config, `podman inspect` or the logs,
//! which this checks.

use std::fs;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use super::Image;
use super::podman::{Container, output_of, podman, run};
use crate::conformance::PythonWithClients;
use crate::process::{free_port, must};

/// The user the image runs as; the Containerfile names it too.
const USER: u32 = 65532;

/// Where the containers find the files mounted for them.
const FIXTURES_IN_CONTAINER: &str = "/run/alphamoon/fixtures.yaml";
const TOKEN_IN_CONTAINER: &str = "/run/alphamoon/control-token";
const URL_IN_CONTAINER: &str = "/run/alphamoon/database-url";

/// The committed script that drives the containers.
const SCRIPT: &str = "xtask/image/python_container.py";

/// The secrets of one proof run, and the files that carry them in.
struct Secrets {
    admin_key: String,
    control_token: String,
    fixtures: PathBuf,
    token_file: PathBuf,
}

pub(super) fn run_proof(root: &Path, image: &Image) -> Result<(), String> {
    let dir = crate::target_dir(root).join("image/proof");
    let python = PythonWithClients::install(root)?;
    let secrets = secrets(image, &dir)?;
    image_holds_no_secret(image, &secrets)?;
    on_sqlite(root, image, &python, &secrets)?;
    on_postgres(root, image, &python, &secrets)?;
    println!("the image passed on SQLite and on PostgreSQL");
    Ok(())
}

/// A fresh admin key, made by the image's own `key make` from a random
/// seed, and a fresh control token, written to files the container's
/// user alone may read.
fn secrets(image: &Image, dir: &Path) -> Result<Secrets, String> {
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let admin_key = output_of(
        run()
            .args(["--rm", &image.tag, "key", "make", "--seed"])
            .arg(random_hex()?),
    )?;
    if !admin_key.starts_with("amk_") {
        return Err("`key make` printed no key".to_owned());
    }
    let control_token = format!("amc_{}", random_hex()?);
    // Scopes enough to create, list and delete keys that carry one scope.
    let fixtures = format!(
        "orgs:\n  - name: Container tests\n    keys:\n      - name: test suite\n        \
         scopes: [\"workspace.admin.api_key:manage\", \"workspace.file:upload\"]\n        \
         exp: \"2099-01-01T00:00:00Z\"\n        secret: {admin_key}\n"
    );
    let secrets = Secrets {
        fixtures: dir.join("fixtures.yaml"),
        token_file: dir.join("control-token"),
        admin_key,
        control_token,
    };
    for (path, content) in [
        (&secrets.fixtures, fixtures.as_str()),
        (&secrets.token_file, secrets.control_token.as_str()),
    ] {
        fs::write(path, content).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        private_to_the_container(path)?;
    }
    Ok(secrets)
}

/// Makes `path` readable by the container's user alone: its own when this
/// runs as root, else readable by all, since a rootless container's user
/// maps to some other id.
fn private_to_the_container(path: &Path) -> Result<(), String> {
    let mode = if std::os::unix::fs::chown(path, Some(USER), Some(USER)).is_ok() {
        0o400
    } else {
        0o444
    };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|e| format!("cannot set the mode of {}: {e}", path.display()))
}

/// 32 random bytes as hex, from the kernel.
fn random_hex() -> Result<String, String> {
    let mut bytes = [0; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The options that mount the secrets' files read-only and point the
/// server at them.
fn secret_mounts(secrets: &Secrets, with_token: bool) -> Vec<String> {
    let mut options = vec![
        "--volume".to_owned(),
        format!("{}:{FIXTURES_IN_CONTAINER}:ro", secrets.fixtures.display()),
        "--env".to_owned(),
        format!("ALPHAMOON_SANDBOX_FIXTURES={FIXTURES_IN_CONTAINER}"),
    ];
    if with_token {
        options.extend([
            "--volume".to_owned(),
            format!("{}:{TOKEN_IN_CONTAINER}:ro", secrets.token_file.display()),
            "--env".to_owned(),
            format!("ALPHAMOON_SANDBOX_CONTROL_TOKEN_FILE={TOKEN_IN_CONTAINER}"),
        ]);
    }
    options
}

/// One container on its own volume, published on a free port of
/// 127.0.0.1: driven, health-checked, checked for its user and for
/// secrets, and stopped with SIGTERM.
fn on_sqlite(
    root: &Path,
    image: &Image,
    python: &PythonWithClients,
    secrets: &Secrets,
) -> Result<(), String> {
    crate::step("the image on SQLite");
    let mut options = vec!["--publish".to_owned(), "127.0.0.1::8080".to_owned()];
    options.extend(secret_mounts(secrets, true));
    let container = Container::start("alphamoon-sandbox-proof", &options, &image.tag)?;
    let published = output_of(podman().args(["port", &container.name, "8080/tcp"]))?;
    let url = format!("http://{}", published.lines().next().unwrap_or_default());
    if !url.starts_with("http://127.0.0.1:") {
        return Err(format!(
            "the container is published on {url}, not on 127.0.0.1"
        ));
    }
    drive(root, python, secrets, &["single", &url])?;
    healthy(&container)?;
    runs_as_the_image_user(&container)?;
    stops_on_sigterm(&container)?;
    holds_no_secret(&container, secrets)
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
    let cluster = crate::postgres::Cluster::start(root)?;
    let url = cluster.url("postgres");
    // The URL reaches one container in a variable and the other in a
    // mounted file, the form for a URL that holds a password.
    let url_file = secrets.fixtures.with_file_name("database-url");
    fs::write(&url_file, &url).map_err(|e| format!("cannot write {}: {e}", url_file.display()))?;
    private_to_the_container(&url_file)?;
    let database = [
        vec![format!("--env=ALPHAMOON_SANDBOX_DATABASE_URL={url}")],
        vec![
            format!("--volume={}:{URL_IN_CONTAINER}:ro", url_file.display()),
            format!("--env=ALPHAMOON_SANDBOX_DATABASE_URL_FILE={URL_IN_CONTAINER}"),
        ],
    ];
    let mut containers = Vec::new();
    let mut urls = Vec::new();
    for (replica, database) in ["a", "b"].into_iter().zip(database) {
        let listen = format!("127.0.0.1:{}", free_port()?);
        let mut options = vec![
            "--network=host".to_owned(),
            format!("--env=ALPHAMOON_SANDBOX_LISTEN={listen}"),
        ];
        options.extend(database);
        options.extend(secret_mounts(secrets, false));
        let name = format!("alphamoon-sandbox-proof-{replica}");
        containers.push(Container::start(&name, &options, &image.tag)?);
        urls.push(format!("http://{listen}"));
    }
    drive(root, python, secrets, &["replicas", &urls[0], &urls[1]])?;
    for container in &containers {
        healthy(container)?;
        stops_on_sigterm(container)?;
        holds_no_secret(container, secrets)?;
    }
    drop(containers);
    cluster.stop()
}

/// Runs the committed Python script with `args`, the secrets in its
/// environment.
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
/// sees it.
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
    if code != "0" || !logs.contains("stopped") {
        return Err(format!(
            "{} exited with {code} when stopped with SIGTERM; its log:\n{logs}",
            container.name
        ));
    }
    println!("{}: SIGTERM stopped it with exit code 0", container.name);
    Ok(())
}

/// Neither `podman inspect` of the container nor its logs hold a secret.
fn holds_no_secret(container: &Container, secrets: &Secrets) -> Result<(), String> {
    let inspected = output_of(podman().args(["inspect", &container.name]))?;
    free_of_secrets(
        &format!("`podman inspect {}`", container.name),
        inspected.as_bytes(),
        secrets,
    )?;
    let logs = container.logs()?;
    free_of_secrets(
        &format!("the logs of {}", container.name),
        logs.as_bytes(),
        secrets,
    )
}

/// Neither the saved image (its layers and config, as `docker load` gets
/// them) nor `podman image inspect` holds a key or the run's secrets; and
/// the config sets no variable but the listen address.
fn image_holds_no_secret(image: &Image, secrets: &Secrets) -> Result<(), String> {
    let archive = fs::read(&image.archive)
        .map_err(|e| format!("cannot read {}: {e}", image.archive.display()))?;
    free_of_secrets(&image.archive.display().to_string(), &archive, secrets)?;
    let inspected = output_of(podman().args(["image", "inspect", &image.tag]))?;
    free_of_secrets("`podman image inspect`", inspected.as_bytes(), secrets)?;
    let env = output_of(podman().args([
        "image",
        "inspect",
        "--format",
        "{{range .Config.Env}}{{println .}}{{end}}",
        &image.tag,
    ]))?;
    let unexpected: Vec<&str> = env
        .lines()
        .filter(|line| !line.is_empty())
        .filter(|line| !line.starts_with("ALPHAMOON_SANDBOX_LISTEN=") && !line.starts_with("PATH="))
        .collect();
    if !unexpected.is_empty() {
        return Err(format!("the image's config sets {unexpected:?}"));
    }
    println!("{}: no key or secret in its layers or config", image.tag);
    Ok(())
}

/// Fails if `text` holds the run's admin key or control token, or any
/// well-formed key at all.
fn free_of_secrets(what: &str, text: &[u8], secrets: &Secrets) -> Result<(), String> {
    for (name, secret) in [
        ("the admin key", &secrets.admin_key),
        ("the control token", &secrets.control_token),
    ] {
        if contains(text, secret.as_bytes()) {
            return Err(format!("{what} holds {name}"));
        }
    }
    if holds_a_key(text) {
        return Err(format!("{what} holds an API key"));
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Whether `text` holds `amk_` followed by the 49 base62 characters of a
/// key, and no more of them: the prefix alone is in the binary.
fn holds_a_key(text: &[u8]) -> bool {
    const BODY: usize = 49;
    text.windows(4).enumerate().any(|(at, window)| {
        window == b"amk_" && {
            let rest = &text[at + 4..];
            let run = rest
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            run == BODY
        }
    })
}

#[cfg(test)]
mod tests {
    use super::holds_a_key;

    #[test]
    fn a_key_is_found_only_with_its_whole_body() {
        let key = format!("amk_{}", "a1B2".repeat(12) + "z");
        assert!(holds_a_key(format!("log: {key}\n").as_bytes()));
        assert!(holds_a_key(key.as_bytes()));
        assert!(!holds_a_key(b"keys start with amk_ and 49 characters"));
        assert!(!holds_a_key(format!("{key}x").as_bytes()), "50 is no key");
        assert!(!holds_a_key(&key.as_bytes()[..key.len() - 1]));
    }
}
