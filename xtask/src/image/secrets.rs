//! The secrets a proof run hands its containers, in files only the
//! container's user may read, and the scans that prove none of them, nor
//! anything shaped like a key or a URL's password, leaked.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::podman::{output_of, run};
use super::{Image, USER};
use crate::process::random_hex;

/// One run's secrets and the files that carry them in. The files are
/// deleted when this is dropped, however the run ends.
pub(super) struct Secrets {
    pub(super) admin_key: String,
    pub(super) control_token: String,
    /// The password in the PostgreSQL URL. The throw-away server trusts
    /// every local connection and never asks for it, so it proves only
    /// that a password handed in stays hidden, as one would have to.
    pub(super) database_password: String,
    /// The example keys of the published specs, which the binary carries
    /// to serve its reference pages: public data, not secrets.
    examples: Vec<Vec<u8>>,
    dir: PathBuf,
}

impl Secrets {
    /// A fresh admin key from the image's own `key make` (random: no seed
    /// on a command line), a random control token and password, and the
    /// fixtures file, token file and URL file that carry them, under
    /// `dir`.
    pub(super) fn make(
        root: &Path,
        image: &Image,
        dir: &Path,
        database_url: &str,
    ) -> Result<Self, String> {
        let mut examples = Vec::new();
        for spec in [
            "openapi/alphamoon-workspace.json",
            "openapi/alphamoon-sandbox-control.json",
        ] {
            let text = fs::read(root.join(spec)).map_err(|e| format!("cannot read {spec}: {e}"))?;
            examples.extend(keys_in(&text).map(<[u8]>::to_vec));
        }
        if dir.exists() {
            fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
        }
        fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let secrets = Self {
            admin_key: output_of(run().args(["--rm", &image.id, "key", "make"]))?,
            control_token: format!("amc_{}", random_hex()?),
            database_password: random_hex()?,
            examples,
            dir: dir.to_path_buf(),
        };
        if !secrets.admin_key.starts_with("amk_") {
            return Err("`key make` printed no key".to_owned());
        }
        // Scopes enough to create, list and delete keys.
        let fixtures = format!(
            "orgs:\n  - name: Container tests\n    keys:\n      - name: test suite\n        \
             scopes: [\"workspace.admin.api_key:manage\", \"workspace.file:upload\"]\n        \
             exp: \"2099-01-01T00:00:00Z\"\n        secret: {}\n",
            secrets.admin_key
        );
        let url = with_password(database_url, &secrets.database_password)?;
        for (path, content) in [
            (secrets.fixtures(), fixtures.as_str()),
            (secrets.token_file(), secrets.control_token.as_str()),
            (secrets.url_file(), url.as_str()),
        ] {
            fs::write(&path, content)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            // Readable by the container's user alone. Rootless podman maps
            // that user to another id, so the proof needs root, as the
            // installs before it do.
            std::os::unix::fs::chown(&path, Some(USER), Some(USER))
                .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(0o400)))
                .map_err(|e| {
                    format!(
                        "cannot hand {} to uid {USER} (run as root): {e}",
                        path.display()
                    )
                })?;
        }
        Ok(secrets)
    }

    pub(super) fn fixtures(&self) -> PathBuf {
        self.dir.join("fixtures.yaml")
    }

    pub(super) fn token_file(&self) -> PathBuf {
        self.dir.join("control-token")
    }

    pub(super) fn url_file(&self) -> PathBuf {
        self.dir.join("database-url")
    }

    /// Fails if `text`, found in `what`, holds one of these secrets, a
    /// well-formed key, or a URL with a password.
    pub(super) fn absent_from(&self, what: &str, text: &[u8]) -> Result<(), String> {
        self.absent_but_for_urls(what, text)?;
        if holds_a_url_password(text) {
            return Err(format!("{what} holds a URL with a password"));
        }
        Ok(())
    }

    /// As [`Self::absent_from`], but for a binary, whose help text shows
    /// the URL form `USER[:PASSWORD]@HOST`.
    fn absent_but_for_urls(&self, what: &str, text: &[u8]) -> Result<(), String> {
        for (name, secret) in [
            ("the admin key", &self.admin_key),
            ("the control token", &self.control_token),
            ("the database password", &self.database_password),
        ] {
            if contains(text, secret.as_bytes()) {
                return Err(format!("{what} holds {name}"));
            }
        }
        if keys_in(text).any(|key| !self.examples.iter().any(|example| example == key)) {
            return Err(format!("{what} holds an API key"));
        }
        Ok(())
    }

    /// The saved image holds exactly the files of its build context, none
    /// of them a secret, and its config sets no variable but the listen
    /// address and podman's default `PATH`.
    pub(super) fn absent_from_image(&self, image: &Image) -> Result<(), String> {
        let archive = fs::read(&image.archive)
            .map_err(|e| format!("cannot read {}: {e}", image.archive.display()))?;
        self.absent_but_for_urls(&image.archive.display().to_string(), &archive)?;
        let in_image = image_files(&image.archive)?;
        let in_context = context_files(&image.context)?;
        if in_image != in_context {
            return Err(format!(
                "the image holds other files than its context: {:?} more, {:?} missing",
                in_image.difference(&in_context).collect::<Vec<_>>(),
                in_context.difference(&in_image).collect::<Vec<_>>()
            ));
        }
        let inspected = output_of(super::podman::podman().args(["image", "inspect", &image.id]))?;
        self.absent_from("`podman image inspect`", inspected.as_bytes())?;
        let env = output_of(super::podman::podman().args([
            "image",
            "inspect",
            "--format",
            "{{range .Config.Env}}{{println .}}{{end}}",
            &image.id,
        ]))?;
        let unexpected: Vec<&str> = env
            .lines()
            .filter(|line| !line.is_empty())
            .filter(|line| {
                !line.starts_with("ALPHAMOON_SANDBOX_LISTEN=") && !line.starts_with("PATH=")
            })
            .collect();
        if !unexpected.is_empty() {
            return Err(format!("the image's config sets {unexpected:?}"));
        }
        println!(
            "{}: its {} files are its context's; no key or secret in them or its config",
            image.tag,
            in_image.len()
        );
        Ok(())
    }
}

impl Drop for Secrets {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `url` (`postgres://USER@…`) with `password` added to its user.
fn with_password(url: &str, password: &str) -> Result<String, String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("the PostgreSQL URL has no scheme")?;
    let (user, host) = rest
        .split_once('@')
        .ok_or("the PostgreSQL URL names no user")?;
    Ok(format!("{scheme}://{user}:{password}@{host}"))
}

/// The regular files in the saved image's layers, as paths without a
/// leading `/`. The archive's manifest names the layers.
fn image_files(archive: &Path) -> Result<BTreeSet<String>, String> {
    let manifest = output_of(
        Command::new("tar")
            .arg("-xOf")
            .arg(archive)
            .arg("manifest.json"),
    )?;
    let manifest: serde_json::Value = serde_json::from_str(&manifest)
        .map_err(|e| format!("the saved image's manifest is not JSON: {e}"))?;
    let layers: Vec<&str> = manifest[0]["Layers"]
        .as_array()
        .ok_or("the saved image's manifest lists no layers")?
        .iter()
        .filter_map(serde_json::Value::as_str)
        .collect();
    let mut files = BTreeSet::new();
    for layer in layers {
        let bytes = Command::new("tar")
            .arg("-xOf")
            .arg(archive)
            .arg(layer)
            .output()
            .map_err(|e| format!("cannot read layer {layer}: {e}"))?
            .stdout;
        let listing = tar_listing(&bytes)?;
        files.extend(
            listing
                .lines()
                // `tar -tv` marks regular files with a leading `-`.
                .filter(|line| line.starts_with('-'))
                .filter_map(|line| line.split_whitespace().last())
                .map(|path| {
                    path.trim_start_matches("./")
                        .trim_start_matches('/')
                        .to_owned()
                }),
        );
    }
    Ok(files)
}

/// `tar -tv` of a tar held in memory.
fn tar_listing(tar: &[u8]) -> Result<String, String> {
    use std::io::Write as _;
    use std::process::Stdio;
    let mut child = Command::new("tar")
        .args(["-tvf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("tar has no stdin")?;
    let tar = tar.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&tar));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("cannot read tar's listing: {e}"))?;
    let _ = writer.join();
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The regular files of the build context as the image places them:
/// `rootfs/` at the root, `data/` at `/data`.
fn context_files(context: &Path) -> Result<BTreeSet<String>, String> {
    let mut files = BTreeSet::new();
    for (dir, inside) in [("rootfs", ""), ("data", "data/")] {
        let base = context.join(dir);
        let mut pending = vec![base.clone()];
        while let Some(at) = pending.pop() {
            let entries =
                fs::read_dir(&at).map_err(|e| format!("cannot list {}: {e}", at.display()))?;
            for entry in entries {
                let path = entry.map_err(|e| e.to_string())?.path();
                if path.is_dir() {
                    pending.push(path);
                } else if let Ok(relative) = path.strip_prefix(&base) {
                    files.insert(format!("{inside}{}", relative.display()));
                }
            }
        }
    }
    Ok(files)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// Every key in `text`: `amk_` followed by the 49 base62 characters of a
/// key, and no more of them (the prefix alone is in the binary).
fn keys_in(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    const BODY: usize = 49;
    text.windows(4).enumerate().filter_map(move |(at, window)| {
        if window != b"amk_" {
            return None;
        }
        let body = text[at + 4..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        (body == BODY).then(|| &text[at..at + 4 + BODY])
    })
}

/// Whether `text` holds a key.
#[cfg(test)]
fn holds_a_key(text: &[u8]) -> bool {
    keys_in(text).next().is_some()
}

/// Whether `text` holds a URL whose user part carries a password:
/// `scheme://user:password@host`.
fn holds_a_url_password(text: &[u8]) -> bool {
    text.windows(3).enumerate().any(|(at, window)| {
        window == b"://" && {
            let authority: Vec<u8> = text[at + 3..]
                .iter()
                .copied()
                .take_while(|b| !b"/?#\"' \n\t\\".contains(b))
                .collect();
            authority
                .iter()
                .rposition(|b| *b == b'@')
                .is_some_and(|user_end| authority[..user_end].contains(&b':'))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{holds_a_key, holds_a_url_password, with_password};

    #[test]
    fn a_key_is_found_only_with_its_whole_body() {
        let key = format!("amk_{}", "a1B2".repeat(12) + "z");
        assert!(holds_a_key(format!("log: {key}\n").as_bytes()));
        assert!(holds_a_key(key.as_bytes()));
        assert!(!holds_a_key(b"keys start with amk_ and 49 characters"));
        assert!(!holds_a_key(format!("{key}x").as_bytes()), "50 is no key");
        assert!(!holds_a_key(&key.as_bytes()[..key.len() - 1]));
    }

    #[test]
    fn a_url_password_is_found_and_a_plain_url_is_not() {
        assert!(holds_a_url_password(
            br#"{"Env":["URL=postgres://sandbox:s3cret@db:5432/x"]}"#
        ));
        assert!(holds_a_url_password(
            b"https://x-access-token:abc@github.com/o/r"
        ));
        assert!(!holds_a_url_password(
            b"postgres://sandbox@127.0.0.1:5432/x"
        ));
        assert!(!holds_a_url_password(
            b"http://127.0.0.1:8080/_sandbox/readyz"
        ));
        assert!(!holds_a_url_password(b"see https://example.com and a:b@c"));
    }

    #[test]
    fn a_password_joins_the_user() {
        assert_eq!(
            with_password("postgres://postgres@127.0.0.1:5/postgres", "pw").expect("url"),
            "postgres://postgres:pw@127.0.0.1:5/postgres"
        );
    }
}
