//! `cargo xtask image`: the sandbox as a container image, built with
//! podman `FROM scratch` (no registry is reachable, so no base image can be
//! pulled), and with `--prove`, run and driven as CI does.
//!
//! The build context is assembled under `image/` in the target directory
//! from the release binary, the shared libraries `ldd` lists for it, the
//! loader and the CA bundle, with `xtask/image/Containerfile`.

mod context;
mod podman;
mod proof;
mod secrets;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::must;
use podman::{ensure_installed, output_of, podman};

/// The most the image may weigh, in bytes (30 MB).
const MAX_SIZE: u64 = 30_000_000;

/// The numeric user and group the image runs as; a scratch image has no
/// passwd file to name one.
const USER: u32 = 65532;

/// The image's name; its tag is the sandbox's version.
const NAME: &str = "localhost/alphamoon-sandbox";

/// The image's `org.opencontainers.image.title` label, as the Containerfile
/// sets it.
const TITLE: &str = "alphamoon-sandbox";

/// What `cargo xtask image` does beyond the build.
#[derive(clap::Args, Debug)]
pub(crate) struct Options {
    /// Also run the image and drive it with the Python clients generated
    /// from the published specs: on SQLite, then as two containers on one
    /// PostgreSQL database; and check that no secret reaches its layers,
    /// its config, `podman inspect` or its logs
    #[arg(long)]
    pub(crate) prove: bool,
}

/// A built image.
pub(super) struct Image {
    /// `NAME:VERSION`.
    pub(super) tag: String,
    /// Its id, which the proof runs: a build elsewhere may move the tag.
    pub(super) id: String,
    /// Where `podman save` wrote it, for `docker load`.
    pub(super) archive: PathBuf,
    /// The build context it was made from.
    pub(super) context: PathBuf,
}

pub(crate) fn run(root: &Path, options: &Options) -> Result<(), String> {
    let image = build(root)?;
    if options.prove {
        proof::run_proof(root, &image)?;
    }
    Ok(())
}

/// Builds the image from the release sandbox, checks its size, and saves
/// it as an archive that `docker load` reads.
fn build(root: &Path) -> Result<Image, String> {
    ensure_installed()?;
    crate::bench::build_release(root)?;
    let target = crate::target_dir(root);
    let binary = target.join("release/alphamoon-sandbox");
    let dir = target.join("image");
    let context = context::assemble(&binary, &dir.join("context"))?;

    let version = output_of(Command::new(&binary).arg("--version"))?
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    let tag = format!("{NAME}:{version}");
    let git = |args: &[&str]| {
        output_of(Command::new("git").args(args).current_dir(root))
            .unwrap_or_else(|_| "unknown".to_owned())
    };
    let id_file = dir.join("id");
    must(
        podman()
            .args(["build", "--quiet", "--pull=never", "--layers=false"])
            // The docker format, because the OCI image format has no place
            // for a HEALTHCHECK and podman would drop it.
            .args(["--format", "docker", "--tag", &tag, "--iidfile"])
            .arg(&id_file)
            .arg("--file")
            .arg(root.join("xtask/image/Containerfile"))
            .arg(format!("--build-arg=VERSION={version}"))
            .arg(format!("--build-arg=USER_ID={USER}"))
            .arg(format!(
                "--build-arg=REVISION={}",
                git(&["rev-parse", "HEAD"])
            ))
            .arg(format!(
                "--build-arg=SOURCE={}",
                without_userinfo(&git(&["remote", "get-url", "origin"]))
            ))
            .arg(&context),
    )?;
    let id = std::fs::read_to_string(&id_file)
        .map_err(|e| format!("cannot read the image id from {}: {e}", id_file.display()))?
        .trim()
        .to_owned();

    // Each build leaves the image it replaced behind, untagged.
    let _ = podman()
        .args(["image", "prune", "--force", "--filter"])
        .arg(format!("label=org.opencontainers.image.title={}", TITLE))
        .output();

    let size: u64 = output_of(podman().args(["image", "inspect", "--format", "{{.Size}}", &id]))?
        .parse()
        .map_err(|e| format!("podman reported no size for {tag}: {e}"))?;
    println!(
        "image {tag}: {:.1} MB (at most {:.0} MB)",
        megabytes(size),
        megabytes(MAX_SIZE)
    );
    if size > MAX_SIZE {
        return Err(format!(
            "{tag} weighs {:.1} MB, over the {:.0} MB limit",
            megabytes(size),
            megabytes(MAX_SIZE)
        ));
    }

    let archive = dir.join(format!("alphamoon-sandbox-{version}.tar"));
    let _ = std::fs::remove_file(&archive);
    must(
        podman()
            .args(["save", "--quiet", "--format", "docker-archive", "--output"])
            .arg(&archive)
            .arg(&tag),
    )?;
    println!(
        "saved {} (`docker load --input` reads it)",
        archive.display()
    );
    Ok(Image {
        tag,
        id,
        archive,
        context,
    })
}

/// A repository URL without the credentials a CI checkout may carry in
/// it (`https://user:token@host/...`), which a label would publish.
fn without_userinfo(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let host_start = rest[..authority_end].rfind('@').map_or(0, |at| at + 1);
            format!("{scheme}://{}", &rest[host_start..])
        }
        None => url.to_owned(),
    }
}

fn megabytes(bytes: u64) -> f64 {
    // Sizes are small enough to be exact as f64.
    #[allow(clippy::cast_precision_loss)]
    let bytes = bytes as f64;
    bytes / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::without_userinfo;

    #[test]
    fn a_source_label_carries_no_credentials() {
        assert_eq!(
            without_userinfo("https://x-access-token:ghs_abc@github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(
            without_userinfo("https://github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
        assert_eq!(without_userinfo("/work/main"), "/work/main");
        assert_eq!(without_userinfo("unknown"), "unknown");
    }
}
